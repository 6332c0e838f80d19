# Shared by the service scripts (sourced after they set STATE): messages, a one-line failure with the tail of
# every log under $STATE/logs, and polling until a service answers.
log() { echo "$(basename "$0"): $*" >&2; }
die() { log "error: $*"; for f in "$STATE"/logs/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
    local seconds=$1 what=$2; shift 2
    for _ in $(seq "$((seconds * 2))"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    die "$what did not come up within ${seconds}s"
}
