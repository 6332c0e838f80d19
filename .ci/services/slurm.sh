#!/usr/bin/env bash
# A one-node SLURM cluster on loopback for the integration test of `snakemake --executor slurm`.
#
# Usage: .ci/services/slurm.sh start    install (Debian's slurm-wlm 22.05, slurmdbd, munge, MariaDB) if missing,
#                                       write the configs, start munged, mariadbd, slurmdbd, slurmctld and slurmd,
#                                       register the cluster, wait for the node to be idle; print SLURM_CONF=...
#        .ci/services/slurm.sh stop     stop the daemons this script started (by their pid files)
#        .ci/services/slurm.sh status   sinfo and the daemons' pids
#        .ci/services/slurm.sh install  only install the Debian packages (CI does it while the tests run)
# Idempotent: `start` on a running cluster only checks it. State (spool, database, logs) lives in $SWA_SLURM_DIR
# (default /tmp/swa-study-slurm). The configuration goes where every SLURM command looks for it, /etc/slurm (the
# plugin's job steps drop SLURM_* variables, SLURM_CONF included, before they call srun); a slurm.conf there that
# this script did not write is never overwritten.
#
# Why these settings: the sandbox has no systemd and no writable cgroup hierarchy of its own, so processes are
# tracked through /proc (proctrack/linuxproc) and tasks are not confined (task/none). Every SLURM daemon binds to
# the address its host name resolves to (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny; slurmdbd takes the
# same option in its own file), the node's address is 127.0.0.1 and MariaDB binds to 127.0.0.1; `start` then
# checks (loopback_only.py) that no daemon listens anywhere but on loopback. The executor plugin polls job states with `sacct`, so accounting
# (slurmdbd on MariaDB) is part of the cluster, and `sacct` lists every job afterwards.
set -euo pipefail

STATE=${SWA_SLURM_DIR:-/tmp/swa-study-slurm}
CLUSTER=swa
HOST=$(hostname -s)
CONF_DIR=/etc/slurm
MARK="# Written by .ci/services/slurm.sh"

. "$(dirname "$0")/common.sh"  # log, die, wait_for

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    for tool in slurmctld:slurmctld slurmd:slurmd slurmdbd:slurmdbd munged:munge mariadbd:mariadb-server \
                sbatch:slurm-client; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server >/dev/null
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

write_configs() {  # once per state dir: ports and the database password are kept across restarts
    mkdir -p "$STATE"/{logs,run,ctld,spool,mysql}
    if [ ! -f "$STATE/ports" ]; then
        printf 'DB_PORT=%s\nDBD_PORT=%s\nCTLD_PORT=%s\nSLURMD_PORT=%s\n' \
            "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" >"$STATE/ports"
        (umask 077; python3 -c 'import secrets; print(secrets.token_hex(16))' >"$STATE/db_password")
    fi
    # shellcheck disable=SC1091
    . "$STATE/ports"
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    if [ -f "$CONF_DIR/slurm.conf" ] && ! grep -q "^$MARK" "$CONF_DIR/slurm.conf"; then
        die "$CONF_DIR/slurm.conf exists and is not this script's: this machine has a SLURM of its own"
    fi
    mkdir -p "$CONF_DIR"
    cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK: a one-node test cluster on loopback (state in $STATE).
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/logs/slurmctld.log
SlurmdLogFile=$STATE/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
GresTypes=gpu
AccountingStorageTRES=gres/gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    # Two fake GPUs (empty files where device nodes would be; slurmd counts a GPU only by its file): jobs can ask
    # for --gres=gpu:2 and be scheduled, so the test of a GPU training job (one task that starts torchrun itself)
    # runs here; the job itself trains on the CPU.
    mkdir -p "$STATE/dev" && touch "$STATE/dev/fakegpu0" "$STATE/dev/fakegpu1"
    echo "NodeName=$HOST Name=gpu File=$STATE/dev/fakegpu[0-1]" >"$CONF_DIR/gres.conf"
    (umask 077; cat >"$CONF_DIR/slurmdbd.conf" <<EOF
$MARK: accounting for the test cluster, stored in a private MariaDB on 127.0.0.1.
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
CommunicationParameters=NoInAddrAny
SlurmUser=root
LogFile=$STATE/logs/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$STATE/db_password")
StorageLoc=slurm_acct_db
EOF
    )
}

start_munge() {
    if echo | munge 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi  # a munged already answers
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; }
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$STATE/run/munged.ours"  # so that `stop` ends it, and only if this script started it
    wait_for 20 munged sh -c 'echo | munge | unmunge'
}

mysql_client() { mariadb --no-defaults --socket="$STATE/mysql.sock" -u root "$@"; }

start_mariadb() {
    . "$STATE/ports"
    if ! alive "$STATE/run/mariadb.pid"; then
        if [ ! -d "$STATE/mysql/mysql" ]; then
            mariadb-install-db --no-defaults --datadir="$STATE/mysql" --user=root --skip-test-db \
                --auth-root-authentication-method=socket >"$STATE/logs/mariadb-install.log" 2>&1
        fi
        setsid mariadbd --no-defaults --datadir="$STATE/mysql" --user=root --bind-address=127.0.0.1 \
            --port="$DB_PORT" --socket="$STATE/mysql.sock" --pid-file="$STATE/run/mariadb.pid" \
            --skip-name-resolve --innodb-lock-wait-timeout=900 --log-error="$STATE/logs/mariadb.log" \
            </dev/null >/dev/null 2>&1 &
        wait_for 60 mariadbd mysql_client -e 'SELECT 1'
    fi
    mysql_client -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$(cat "$STATE/db_password")';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

start_slurmdbd() {
    alive "$STATE/run/slurmdbd.pid" || setsid slurmdbd </dev/null >>"$STATE/logs/slurmdbd.out" 2>&1
    wait_for 60 slurmdbd sacctmgr -n list cluster
    if [ -z "$(sacctmgr -n -P list cluster where name=$CLUSTER format=cluster)" ]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
}

start_slurm() {
    alive "$STATE/run/slurmctld.pid" || setsid slurmctld </dev/null >>"$STATE/logs/slurmctld.out" 2>&1
    wait_for 60 slurmctld scontrol ping
    alive "$STATE/run/slurmd.pid" || setsid slurmd </dev/null >>"$STATE/logs/slurmd.out" 2>&1
    wait_for 60 "the node $HOST (idle)" sh -c "sinfo -h -n $HOST -o %t | grep -Eq '^(idle|mix|alloc)'"
}

check_host() {  # the daemons bind to what the host name resolves to: it must be loopback (it is in /etc/hosts here)
    local address
    address=$(getent ahostsv4 "$HOST" | awk 'NR == 1 {print $1}')
    case $address in
        127.*) ;;
        *) die "host name '$HOST' resolves to '${address:-nothing}', not loopback: add '127.0.0.1 $HOST' to /etc/hosts" ;;
    esac
}

start() {
    check_host
    install_packages
    write_configs
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurm
    python3 "$(dirname "$0")/loopback_only.py" $(cat "$STATE"/run/{mariadb,slurmdbd,slurmctld,slurmd}.pid) \
        || die "a daemon listens beyond loopback"
    log "cluster '$CLUSTER' up: $(sinfo -h -o '%P %D %t %c CPUs %m MB' | tr '\n' ' ')"
    echo "SLURM_CONF=$CONF_DIR/slurm.conf"
}

stop() {  # the daemons this script started, by pid file: never by name
    for name in slurmd slurmctld slurmdbd mariadb; do
        if alive "$STATE/run/$name.pid"; then
            kill "$(cat "$STATE/run/$name.pid")"
            for _ in $(seq 40); do alive "$STATE/run/$name.pid" || break; sleep 0.25; done
        fi
    done
    if [ -f "$STATE/run/munged.ours" ] && alive /run/munge/munged.pid; then
        kill "$(cat /run/munge/munged.pid)" && rm -f "$STATE/run/munged.ours"
    fi
    log "stopped"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) sinfo; for f in "$STATE"/run/*.pid; do echo "$f $(cat "$f")"; done ;;
    install) install_packages ;;
    *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
