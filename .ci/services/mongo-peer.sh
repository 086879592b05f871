#!/usr/bin/env bash
# The MongoDB wire-protocol test peer (tests/peers/mongo_peer.py): no MongoDB
# server is packaged for our machines, so the mongodb driver's tests run the
# real mongo-c-driver against this peer on loopback.
#
#   bash .ci/services/mongo-peer.sh start   # installs what it needs, starts (or reuses) it
#   bash .ci/services/mongo-peer.sh stop
#
# `start` prints only lines for eval on stdout:
#   export QUARRY_TEST_MONGO_URL='mongodb://127.0.0.1:57017/shop'
# Everything else goes to stderr. QUARRY_MONGO_PORT overrides the port,
# QUARRY_SERVICES_DIR the state directory (pid file and log under .../mongo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE_DIR=${QUARRY_SERVICES_DIR:-/tmp/quarry-services}/mongo
PORT=${QUARRY_MONGO_PORT:-57017}
# Debian's interpreter, never a pyenv shim on PATH: python3-pymongo lives there.
PYTHON=/usr/bin/python3
PEER=$ROOT/tests/peers/mongo_peer.py
PIDFILE=$STATE_DIR/peer.pid
LOGFILE=$STATE_DIR/peer.log

say() { echo "mongo-peer: $*" >&2; }

ensure_packages() {
    local missing=()
    if [ ! -x "$PYTHON" ]; then
        missing+=(python3 python3-pymongo)
    elif ! "$PYTHON" -c 'import bson, bson.json_util' 2>/dev/null; then
        missing+=(python3-pymongo)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

peer_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

print_env() { echo "export QUARRY_TEST_MONGO_URL='mongodb://127.0.0.1:$PORT/shop'"; }

start() {
    ensure_packages
    mkdir -p "$STATE_DIR"
    if peer_pid >/dev/null && accepts; then
        say "reusing the peer on 127.0.0.1:$PORT (pid $(peer_pid))"
        print_env
        return 0
    fi
    if accepts; then
        say "127.0.0.1:$PORT is taken by another process; set QUARRY_MONGO_PORT"
        return 1
    fi
    rm -f "$PIDFILE"
    QUARRY_MONGO_PORT=$PORT setsid "$PYTHON" "$PEER" --port "$PORT" \
        </dev/null >"$LOGFILE" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
        if accepts; then
            say "started on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"), log $LOGFILE)"
            print_env
            return 0
        fi
        if ! peer_pid >/dev/null; then
            break
        fi
        sleep 0.1
    done
    say "the peer did not come up; its log:"
    tail -n 20 "$LOGFILE" >&2 || true
    stop >/dev/null 2>&1 || true
    return 1
}

stop() {
    local pid
    if pid=$(peer_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped (pid $pid)"
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) print_env ;;
*)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
