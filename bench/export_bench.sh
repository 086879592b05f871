#!/usr/bin/env bash
# Export throughput: quarryd exporting a 1,000,000-row PostgreSQL table as
# documents, against `psql -c "\copy TABLE to stdout"` on the same table in
# the same run. Not a test: it prints figures for docs/BENCHMARKS.md.
#
#   bash bench/export_bench.sh [BUILD_DIR] [RUNS]
#
# BUILD_DIR (default: build) holds core/quarryd, built Release or
# RelWithDebInfo. Each run of each format starts quarryd on a fresh registry,
# so every document is new (the first export of a database); one more export
# on the last registry measures a re-export that finds every page unchanged.
# For each it reports:
#   export  the job's own time from start until the documents are live
#           (streamed, formatted, hashed, stored, swapped in) - `export_seconds`
#   task    POST to the task's `succeeded`, as a client sees it, which adds
#           the full-text indexing of every page for search
#   peak    quarryd's peak RSS (VmHWM) at the end of the run
# COPY runs once before every export, so that each export has a reference
# measured moments before it: a ratio is the median over the runs of the
# export's rows/s over its own COPY's (load on a shared machine drifts).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
runs=${2:-3}
[[ $build = /* ]] || build=$repo/$build
quarryd=$build/core/quarryd
[ -x "$quarryd" ] || { echo "no $quarryd: build first (cmake -DCMAKE_BUILD_TYPE=Release)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed to read JSON" >&2; exit 1; }

eval "$(bash "$repo/.ci/services/postgres.sh" start)"
url=$QUARRY_TEST_PG_RW_URL
rows=1000000
table=bench_export

psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }

if [ "$(psqlq -Atc "SELECT count(*) FROM $table" 2>/dev/null || echo 0)" != "$rows" ]; then
    echo "creating $table ($rows rows)..." >&2
    psqlq <<SQL
DROP TABLE IF EXISTS $table;
CREATE TABLE $table (
    id bigint PRIMARY KEY,
    customer_id int NOT NULL,
    name text NOT NULL,
    category text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    note text
);
INSERT INTO $table
SELECT g, g % 5000, 'customer ' || (g % 5000),
       (ARRAY['books','music','games','garden','tools','toys','food','sports','beauty','office'])[1 + g % 10],
       (g % 100000) / 100.0, timestamptz '2024-01-01' + g * interval '1 minute',
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END
FROM generate_series(1, $rows) g;
ANALYZE $table;
SQL
fi

now() { date +%s.%N; }
median() { python3 -c 'import sys, statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

# The reference: COPY out, through psql, to nowhere. Prints its seconds.
copy_once() {
    local t0 t1
    t0=$(now)
    psql -X -q "$url" -c "\\copy $table to stdout" >/dev/null
    t1=$(now)
    python3 -c "print('%.3f' % ($t1 - $t0))"
}

work=$(mktemp -d /tmp/quarry-export-bench-XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

start_quarryd() {
    local dir=$1
    mkdir -p "$dir"
    eval "$("$quarryd" keys create --scope write --registry "$dir/registry.db" 2>/dev/null)"
    auth=(-H "X-API-Key: $QUARRY_API_KEY" -H "X-API-Secret: $QUARRY_API_SECRET")
    "$quarryd" --listen 127.0.0.1:0 --port-file "$dir/port" --registry "$dir/registry.db" \
        --log-level warn >"$dir/quarryd.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do [ -s "$dir/port" ] && break; sleep 0.05; done
    base=http://127.0.0.1:$(cat "$dir/port")
    conn=$(curl -sf "${auth[@]}" -X POST "$base/v1/database-connection" -H 'Content-Type: application/json' \
        -d "{\"name\": \"bench\", \"database_type\": \"postgres\", \"url\": \"$url\", \"agent_id\": \"00000000-0000-4000-8000-00000000be0c\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["connection"]["id"])')
}

stop_quarryd() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
}

peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }

# One export: prints "<export_seconds> <task_seconds>".
export_once() {
    local format=$1 t0 t1 task status
    t0=$(now)
    task=$(curl -sf "${auth[@]}" -X POST "$base/v1/database-connection/export" -H 'Content-Type: application/json' \
        -d "{\"connection_id\": \"$conn\", \"tables\": [\"$table\"], \"format\": \"$format\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["task_id"])')
    while :; do
        status=$(curl -sf "${auth[@]}" "$base/v1/tasks/$task/status")
        case $status in *'"status":"succeeded"'* | *'"status": "succeeded"'*) break ;; esac
        case $status in *'"status":"failed"'* | *'"status": "failed"'*) echo "export failed: $status" >&2; exit 1 ;; esac
        sleep 0.02
    done
    t1=$(now)
    python3 -c 'import json, sys; r = json.loads(sys.argv[1])["result"]; assert r["rows"] == int(sys.argv[4]); print(r["export_seconds"], "%.3f" % (float(sys.argv[3]) - float(sys.argv[2])))' \
        "$status" "$t0" "$t1" "$rows"
}

rate() { python3 -c "print('%.0f' % ($rows / $1))"; }
# The median of export_i / copy_i as rates: copy_i / export_i.
ratio() {
    python3 -c 'import sys, statistics; c, e = sys.argv[1].split(), sys.argv[2].split(); print("%.2f" % statistics.median(float(a) / float(b) for a, b in zip(c, e)))' "$1" "$2"
}

echo "table $table: $rows rows; $runs runs each; quarryd $quarryd"
echo
printf '%-24s %9s %11s %6s %9s %11s %6s %8s\n' case "export s" "rows/s" ratio "task s" "rows/s" ratio "peak MB"
copies=()
for format in jsonl markdown; do
    exports=() tasks=() ref=() peak=0
    for r in $(seq "$runs"); do
        c=$(copy_once)
        copies+=("$c")
        ref+=("$c")
        start_quarryd "$work/$format-$r"
        out=$(export_once "$format") || exit 1
        read -r e t <<<"$out"
        exports+=("$e")
        tasks+=("$t")
        p=$(peak_kb)
        [ "$p" -gt "$peak" ] && peak=$p
        [ "$r" -lt "$runs" ] && stop_quarryd
    done
    e=$(median "${exports[@]}")
    t=$(median "${tasks[@]}")
    printf '%-24s %9s %11s %6s %9s %11s %6s %8s\n' "$format, first export" "$e" "$(rate "$e")" \
        "$(ratio "${ref[*]}" "${exports[*]}")" "$t" "$(rate "$t")" "$(ratio "${ref[*]}" "${tasks[*]}")" \
        "$((peak / 1024))"
    c=$(copy_once)
    copies+=("$c")
    out=$(export_once "$format") || exit 1
    read -r e t <<<"$out"
    p=$(peak_kb)
    printf '%-24s %9s %11s %6s %9s %11s %6s %8s\n' "$format, unchanged again" "$e" "$(rate "$e")" \
        "$(ratio "$c" "$e")" "$t" "$(rate "$t")" "$(ratio "$c" "$t")" "$((p / 1024))"
    stop_quarryd
done
c=$(median "${copies[@]}")
printf '%-24s %9s %11s %6s   (median of %d, one before each export)\n' "psql \\copy to stdout" "$c" "$(rate "$c")" 1.00 "${#copies[@]}"
