#!/usr/bin/env bash
# The team tracking set-up on loopback, for the integration test: PostgreSQL as MLflow's backend store and an
# `mlflow server` that stores the artifacts it is sent in its --artifacts-destination (proxied artifacts: clients
# upload through the server, so they need no access to the artifact store themselves).
#
# Usage: .ci/services/postgres-mlflow.sh start    install Debian's postgresql if missing, create a private cluster
#                                                 on 127.0.0.1 with an `mlflow` role and database, start the server,
#                                                 wait until /health answers; print MLFLOW_TRACKING_URI=... and the
#                                                 store's and artifacts' locations
#        .ci/services/postgres-mlflow.sh stop     stop the server and PostgreSQL (by their pid files)
#        .ci/services/postgres-mlflow.sh install  only install the Debian package (CI does it while the tests run)
# Idempotent: `start` on running services only checks them. State in $SWA_MLFLOW_DIR (default /tmp/swa-study-mlflow).
# The mlflow executable is $MLFLOW (default .venv/bin/mlflow of this checkout), with psycopg2 installed
# (pip install -r requirements-cluster.txt).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${SWA_MLFLOW_DIR:-/tmp/swa-study-mlflow}
MLFLOW=${MLFLOW:-$HERE/../../.venv/bin/mlflow}
WORKERS=${SWA_MLFLOW_WORKERS:-2}

. "$(dirname "$0")/common.sh"  # log, die, wait_for

alive() { [ -f "$1" ] && kill -0 "$(head -1 "$1")" 2>/dev/null; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

install_debian_packages() {
    ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
    log "installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

install_packages() {
    install_debian_packages
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ -x "$MLFLOW" ] || die "no mlflow at $MLFLOW (set MLFLOW=, or make setup)"
    "$(dirname "$MLFLOW")/python" -c 'import psycopg2' 2>/dev/null \
        || die "psycopg2 missing beside $MLFLOW: pip install -r requirements-cluster.txt"
}

settings() {  # once per state dir: ports and the role's password are kept across restarts
    mkdir -p "$STATE"/{logs,run,artifacts}
    if [ ! -f "$STATE/settings" ]; then
        (umask 077; printf 'PG_PORT=%s\nMLFLOW_PORT=%s\nPG_PASSWORD=%s\n' "$(free_port)" "$(free_port)" \
            "$(python3 -c 'import secrets; print(secrets.token_hex(16))')" >"$STATE/settings")
    fi
    # shellcheck disable=SC1091
    . "$STATE/settings"
    STORE_URI="postgresql+psycopg2://mlflow:$PG_PASSWORD@127.0.0.1:$PG_PORT/mlflow"
    TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT"
}

as_postgres() { runuser -u postgres -- "$@"; }
psql_admin() { as_postgres "$PGBIN/psql" -h "$STATE/pgsocket" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

start_postgres() {
    if [ ! -f "$STATE/pg/PG_VERSION" ]; then
        install -d -o postgres -g postgres -m 0700 "$STATE/pg"
        as_postgres "$PGBIN/initdb" -D "$STATE/pg" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
            >"$STATE/logs/initdb.log" 2>&1
    fi
    install -d -o postgres -g postgres -m 0755 "$STATE/pgsocket"
    touch "$STATE/logs/postgres.log" && chown postgres "$STATE/logs/postgres.log"
    if ! alive "$STATE/pg/postmaster.pid"; then
        as_postgres "$PGBIN/pg_ctl" -D "$STATE/pg" -l "$STATE/logs/postgres.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $STATE/pgsocket" start >/dev/null \
            || die "PostgreSQL did not start"
    fi
    if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'mlflow'")" ]; then
        psql_admin -c "CREATE ROLE mlflow LOGIN PASSWORD '$PG_PASSWORD'"
    fi
    if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'mlflow'")" ]; then
        psql_admin -c "CREATE DATABASE mlflow OWNER mlflow"
    fi
}

healthy() { python3 -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('$TRACKING_URI/health', timeout=5).status != 200)"; }

start_mlflow() {
    if ! alive "$STATE/run/mlflow.pid"; then
        # The first start creates MLflow's tables in PostgreSQL (alembic migrations): allow it a minute or two.
        setsid "$MLFLOW" server --backend-store-uri "$STORE_URI" --artifacts-destination "$STATE/artifacts" \
            --host 127.0.0.1 --port "$MLFLOW_PORT" --workers "$WORKERS" \
            </dev/null >>"$STATE/logs/mlflow.log" 2>&1 &
        echo $! >"$STATE/run/mlflow.pid"
    fi
    for _ in $(seq 360); do
        healthy 2>/dev/null && return 0
        alive "$STATE/run/mlflow.pid" || die "mlflow server exited"
        sleep 0.5
    done
    die "mlflow server did not answer /health within 180s"
}

start() {
    install_packages
    settings
    start_postgres
    start_mlflow
    python3 "$HERE/loopback_only.py" "$(head -1 "$STATE/pg/postmaster.pid")" "$(cat "$STATE/run/mlflow.pid")" \
        || die "a service listens beyond loopback"
    log "MLflow server $TRACKING_URI (store: PostgreSQL on 127.0.0.1:$PG_PORT, artifacts: $STATE/artifacts)"
    echo "MLFLOW_TRACKING_URI=$TRACKING_URI"
    echo "SWA_MLFLOW_STORE=$STORE_URI"
    echo "SWA_MLFLOW_ARTIFACTS=$STATE/artifacts"
}

stop() {  # by pid file: never by name
    if alive "$STATE/run/mlflow.pid"; then
        local group
        group=$(cat "$STATE/run/mlflow.pid")  # the server leads its own process group (setsid): its workers too
        kill -- "-$group" 2>/dev/null || kill "$group"
        for _ in $(seq 120); do alive "$STATE/run/mlflow.pid" || break; sleep 0.25; done
        if alive "$STATE/run/mlflow.pid"; then kill -KILL -- "-$group" 2>/dev/null || true; fi
    fi
    if alive "$STATE/pg/postmaster.pid"; then
        PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
        as_postgres "$PGBIN/pg_ctl" -D "$STATE/pg" -m fast -w stop >/dev/null
    fi
    log "stopped"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    install) install_debian_packages ;;
    *) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
