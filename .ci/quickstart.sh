#!/usr/bin/env bash
# Quarry's one entry point for a fresh Debian 12 machine (run as root):
#   bash .ci/quickstart.sh run    install, build, start quarryd with a demo database
#   bash .ci/quickstart.sh test   install, build, start test servers, run every test
# Both are idempotent: run them again and they reuse what is there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

build_packages=(build-essential cmake pkg-config clang clang-format libclang-rt-14-dev curl ca-certificates openssl
    libevent-dev libjansson-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev libcunit1-dev
    libsodium-dev libjwt-dev libssl-dev libpq-dev libmariadb-dev libmongoc-dev libbson-dev)

log() { printf '==> %s\n' "$*" >&2; }

install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [cmake args...]
build() {
    local dir=$1
    shift
    cmake -S "$repo" -B "$repo/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$repo/$dir" -j"$(nproc)" >/dev/null
}

start_services() {
    local s
    for s in "$repo"/.ci/services/*.sh; do
        [ -e "$s" ] || continue
        log "starting $(basename "$s" .sh)"
        eval "$(bash "$s" start)"
    done
}

# run_suite DIR LABEL: runs the CUnit runner, keeps its counts in $passed/$failed.
passed=0
failed=0
run_suite() {
    local dir=$1 label=$2 out rc=0
    log "tests: $label"
    out=$(mktemp)
    "$repo/$dir/tests/quarry_tests" 2>&1 | tee "$out" || rc=$?
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
    rm -f "$out"
    if [ -z "$line" ]; then
        log "$label: the runner ended without a summary (exit $rc)"
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + ${line%% passed*}))
    local f=${line#*, }
    failed=$((failed + ${f%% failed}))
    [ "$rc" -eq 0 ] || [ "${f%% failed}" -gt 0 ] || failed=$((failed + 1))
}

# run_fuzzers: every libFuzzer target for a bounded time from its seed corpus; each is a test.
run_fuzzers() {
    local f name corpus
    log "fuzzing the parsers of untrusted input (${QUARRY_FUZZ_SECONDS:-15} s each)"
    for f in "$repo"/build-fuzz/tests/fuzz/fuzz_*; do
        name=${f##*/fuzz_}
        corpus=$(mktemp -d)
        cp "$repo/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
        if "$f" -max_total_time="${QUARRY_FUZZ_SECONDS:-15}" -max_len=4096 "$corpus" >"$corpus.log" 2>&1; then
            echo "fuzz $name: passed ($(grep -o 'Done [0-9]* runs' "$corpus.log"))"
            passed=$((passed + 1))
        else
            echo "fuzz $name: FAILED"
            tail -n 30 "$corpus.log"
            failed=$((failed + 1))
        fi
        rm -rf "$corpus" "$corpus.log"
    done
}

cmd_test() {
    install_packages "${build_packages[@]}"
    start_services
    log "building (release and ASan+UBSan)"
    build build
    build build-asan -DQUARRY_SANITIZE=ON
    CC=clang cmake -S "$repo" -B "$repo/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUARRY_FUZZ=ON >/dev/null
    cmake --build "$repo/build-fuzz" -j"$(nproc)" --target fuzz_router fuzz_dburl fuzz_sqlsafety \
        fuzz_conn_input fuzz_pg_copy >/dev/null
    run_suite build "release build"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        LSAN_OPTIONS=suppressions="$repo/.ci/lsan.supp":print_suppressions=0 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite build-asan "ASan+UBSan build"
    run_fuzzers
    # The SDK's example driver, built out of tree with its own Makefile as a third party would.
    if (cd "$repo/build" && ctest -R sdk_example_make --output-on-failure >/dev/null 2>&1); then
        echo "sdk example (out-of-tree make): passed"
        passed=$((passed + 1))
    else
        echo "sdk example (out-of-tree make): FAILED"
        failed=$((failed + 1))
    fi
    echo
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

demo_agent=00000000-0000-4000-8000-00000000d3e0

cmd_run() {
    install_packages "${build_packages[@]}"
    build build
    local data="$repo/.demo"
    mkdir -p "$data"
    chmod 700 "$data"
    [ -f "$data/chinook.sqlite" ] || cp "$repo/tests/fixtures/chinook/Chinook_Sqlite.sqlite" "$data/chinook.sqlite"
    local quarryd="$repo/build/core/quarryd" registry="$data/registry.db"
    if [ ! -s "$data/credentials" ]; then
        (umask 077 && "$quarryd" keys create --scope write --name demo --registry "$registry" >"$data/credentials")
    fi
    # shellcheck disable=SC1091
    . "$data/credentials"

    local listen=${QUARRY_LISTEN:-127.0.0.1:8080}
    if [ -f "$data/quarryd.pid" ] && kill -0 "$(cat "$data/quarryd.pid")" 2>/dev/null; then
        log "quarryd already running (pid $(cat "$data/quarryd.pid"))"
    else
        rm -f "$data/port"
        nohup "$quarryd" --listen "$listen" --registry "$registry" --port-file "$data/port" \
            --sqlite-dirs "$data" >>"$data/quarryd.log" 2>&1 &
        echo $! >"$data/quarryd.pid"
        for _ in $(seq 100); do [ -s "$data/port" ] && break; sleep 0.1; done
        [ -s "$data/port" ] || { tail -n 20 "$data/quarryd.log"; exit 1; }
    fi
    local base="http://${listen%:*}:$(cat "$data/port")"
    local auth=(-H "X-API-Key: $QUARRY_API_KEY" -H "X-API-Secret: $QUARRY_API_SECRET")
    if ! curl -sf "${auth[@]}" "$base/v1/database-connection?search=chinook-demo" | grep -q '"name":"chinook-demo"'; then
        log "registering the demo database"
        curl -sf "${auth[@]}" -X POST "$base/v1/database-connection" -H 'Content-Type: application/json' \
            -d "{\"name\": \"chinook-demo\", \"url\": \"sqlite:///$data/chinook.sqlite\", \"database_type\": \"sqlite\", \"agent_id\": \"$demo_agent\"}" >/dev/null
    fi
    cat <<TXT

quarryd is running at $base with the Chinook demo database registered.
  log:  $data/quarryd.log        stop: kill \$(cat $data/quarryd.pid)
  key:  $data/credentials (QUARRY_API_KEY / QUARRY_API_SECRET, write scope)

Try:
  . $data/credentials
  curl -s -H "X-API-Key: \$QUARRY_API_KEY" -H "X-API-Secret: \$QUARRY_API_SECRET" $base/v1/database-connection
TXT
}

case "${1:-}" in
    run) cmd_run ;;
    test) cmd_test ;;
    *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
