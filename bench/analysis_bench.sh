#!/usr/bin/env bash
# Analysis time for a 2,000-table PostgreSQL schema (issue 5's benchmark),
# against `pg_dump --schema-only` and the npm @directus/schema inspector on
# the same database, all measured in one run:
#
#   bash bench/analysis_bench.sh [BUILD_DIR]      # default: build
#
# BUILD_DIR holds core/quarryd, core/libquarry_core.a and plugins/postgres.so
# (any build type; RelWithDebInfo for figures worth recording); a CMake build
# directory is first brought up to date (QUARRY_BENCH_NO_BUILD=1 skips that).
# The script
#   1. starts the private PostgreSQL of the tests (.ci/services/postgres.sh)
#      and creates, once, database quarry_bench: 40 schemas x 50 tables with
#      4-12 columns of mixed types, primary keys, foreign keys to earlier
#      tables, indexes, comments and 20 rows each (a marker in the database's
#      comment says which generator made it; a changed generator rebuilds it);
#   2. installs @directus/schema, knex and pg into $QUARRY_BENCH_NPM
#      (default /tmp/quarry-bench-npm) unless they are there already;
#   3. times Quarry's first analysis of a new connection, then RUNS rounds
#      (default 5, QUARRY_BENCH_RUNS) that each run every tool once in turn,
#      so that load from elsewhere stretches them alike; medians are kept:
#      - pg_dump --schema-only (process start and connection included);
#      - the directus inspector in a node process, on a warm knex pool, two
#        ways: overview() + foreignKeys() (what Directus loads its schema
#        with) and tableInfo() + columnInfo() + foreignKeys() (every detail
#        it has);
#      - Quarry's schema capture (bench/capture_bench.c capture): the
#        postgres driver's introspect as the analysis calls it, on an open
#        connection, and with the connect;
#      - Quarry's full analysis through quarryd's API (introspect, profiling,
#        semantics, graph, verified sample queries, registry writes): POST
#        .../analyze, then poll the task until it succeeds; wall clock (POST
#        to finished_at) and the task's own started_at..finished_at. The
#        first analysis of a connection inserts 2,000 tables; the rounds'
#        re-analyses update them in place;
#   4. breaks analyses down into their phases (bench/capture_bench.c phases:
#      the calls core/analysis.c makes, in one process), with the wall clock,
#      quarry's CPU and the CPU of the PostgreSQL backend serving it (CPU
#      says where the time goes even when other work stretches the wall
#      clock), and times what profiling costs at the least and what reading
#      pg_stats instead would cost;
#   5. prints a Markdown table with the medians and the ratios.
# Everything it starts (quarryd) it stops; the database stays for next time.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
RUNS=${QUARRY_BENCH_RUNS:-5}
NPM_DIR=${QUARRY_BENCH_NPM:-/tmp/quarry-bench-npm}
PORT=${QUARRY_BENCH_PORT:-18473}
SCHEMAS=40 TABLES_PER_SCHEMA=50 ROWS=20
WORK=$(mktemp -d /tmp/quarry-analysis-bench.XXXXXX)
QUARRYD_PID=

cleanup() {
    if [ -n "$QUARRYD_PID" ]; then
        kill "$QUARRYD_PID" 2>/dev/null || true
        wait "$QUARRYD_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() {
    say "analysis_bench: $*"
    exit 1
}

# A CMake build directory is brought up to date first, so the figures are the tree's.
if [ -f "$BUILD/CMakeCache.txt" ] && [ -z "${QUARRY_BENCH_NO_BUILD:-}" ]; then
    targets=(quarryd postgres)
    # Once bench/CMakeLists.txt builds it, capture_bench comes from the build too.
    grep -qs 'capture_bench' "$REPO/bench/CMakeLists.txt" && targets+=(capture_bench)
    say "building ${targets[*]} in $BUILD"
    cmake --build "$BUILD" --target "${targets[@]}" >"$WORK/build.log" 2>&1 ||
        { tail -n 30 "$WORK/build.log" >&2; die "the build failed (QUARRY_BENCH_NO_BUILD=1 skips it)"; }
fi
for f in core/quarryd core/libquarry_core.a plugins/postgres.so; do
    [ -e "$BUILD/$f" ] || die "missing $BUILD/$f (build quarryd, quarry_core and postgres first)"
done
for tool in node npm psql pg_dump curl jq gcc pkg-config; do
    command -v $tool >/dev/null 2>&1 || die "$tool is needed"
done

# ---------------------------------------------------------------------------
# The database
# ---------------------------------------------------------------------------

if [ -z "${QUARRY_TEST_PG_URL:-}" ]; then
    eval "$(bash "$REPO/.ci/services/postgres.sh" start)"
fi
# postgresql://user:pass@host:port/chinook -> .../quarry_bench and .../postgres
BENCH_URL=${QUARRY_TEST_PG_URL%/*}/quarry_bench
ADMIN_URL=${QUARRY_TEST_PG_URL%/*}/postgres

# Deterministic (a seeded PRNG): the same generator always makes the same schema.
cat >"$WORK/gen-schema.js" <<'JS'
'use strict';
const [nschemas, ntables, nrows] = process.argv.slice(2).map(Number);
let seed = 20261129;
function rand() { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const domains = ['sales', 'billing', 'hr', 'inventory', 'shipping', 'support', 'marketing',
    'finance', 'payroll', 'crm', 'catalog', 'web', 'mobile', 'analytics', 'audit', 'legal',
    'procurement', 'warehouse', 'fleet', 'clinic', 'school', 'library', 'events', 'travel',
    'hotel', 'insurance', 'banking', 'energy', 'telecom', 'media', 'games', 'forum', 'recruit',
    'realty', 'farm', 'factory', 'retail', 'lab', 'charity', 'sports'];
const entities = ['customer', 'account', 'contact', 'address', 'product', 'category', 'supplier',
    'order', 'order_line', 'invoice', 'invoice_line', 'payment', 'refund', 'shipment', 'carrier',
    'employee', 'department', 'position', 'salary', 'timesheet', 'project', 'task', 'ticket',
    'comment', 'attachment', 'campaign', 'lead', 'opportunity', 'quote', 'contract', 'asset',
    'location', 'region', 'currency', 'price_list', 'discount', 'coupon', 'review', 'rating',
    'subscription', 'plan', 'usage', 'event', 'session', 'device', 'vendor', 'budget', 'expense',
    'note', 'audit_log'];
// name, type, value expression over g (1..nrows), semantic flavour
const pool = [
    ['full_name', 'text', "(ARRAY['Ada Lovelace','Alan Turing','Grace Hopper','Edsger Dijkstra','Barbara Liskov','Donald Knuth','Frances Allen','Ken Thompson'])[1 + g % 8]"],
    ['email', 'varchar(255)', "'user' || g || '@example.com'"],
    ['phone', 'varchar(32)', "'+1-555-' || lpad(g::text, 4, '0')"],
    ['amount', 'numeric(12,2)', "round((g * 17.35)::numeric % 1000, 2)"],
    ['quantity', 'integer', "(g * 7) % 50"],
    ['created_at', 'timestamptz NOT NULL DEFAULT now()', "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 day 3 hours'"],
    ['updated_at', 'timestamp', "timestamp '2024-06-01' + g * interval '5 hours'"],
    ['is_active', 'boolean NOT NULL DEFAULT true', "g % 3 <> 0"],
    ['status', 'varchar(16) NOT NULL', "(ARRAY['new','open','pending','closed'])[1 + g % 4]"],
    ['description', 'text', "CASE WHEN g % 5 = 0 THEN NULL ELSE 'Note ' || md5(g::text) END"],
    ['birth_date', 'date', "date '1960-01-01' + g * 397"],
    ['score', 'double precision', "g * 1.5"],
    ['metadata', 'jsonb', "jsonb_build_object('k', g, 'tag', 't' || (g % 3))"],
    ['external_ref', 'uuid', "md5(g::text)::uuid"],
    ['country_code', 'char(2)', "(ARRAY['US','DE','FR','GB','JP'])[1 + g % 5]"],
    ['website', 'text', "'https://example.com/p/' || g"],
    ['discount_pct', 'numeric(5,2)', "(g % 30)::numeric"],
    ['code', 'varchar(20) NOT NULL', "'C' || lpad(g::text, 6, '0')"],
    ['weight_kg', 'real', "(g % 17) * 0.25"],
    ['priority', 'smallint', "(g % 5)::smallint"],
];
const out = [];
out.push('SET client_min_messages = warning;');
const created = []; // [schema, table] in creation order
for (let s = 0; s < nschemas; s++) {
    const schema = domains[s % domains.length];
    // A transaction per schema: one for all would need more locks than the server has.
    out.push('BEGIN;');
    out.push(`CREATE SCHEMA ${schema};`);
    if (s % 4 === 0)
        out.push(`COMMENT ON SCHEMA ${schema} IS 'The ${schema} department''s data';`);
    const mine = [];
    for (let t = 0; t < ntables; t++) {
        const entity = entities[t % entities.length];
        const table = `${schema}_${entity}`;
        const cols = ['id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'];
        const vals = ['g'];
        const names = ['id'];
        const fks = [];
        // Most tables refer to one or two earlier tables of their schema; some to another schema's.
        if (mine.length && rand() < 0.85) fks.push([schema, pick(mine)]);
        if (mine.length > 3 && rand() < 0.3) fks.push([schema, pick(mine)]);
        if (created.length > ntables && rand() < 0.1) fks.push(pick(created.slice(0, s * ntables)));
        const seen = new Set();
        for (const [fs, ft] of fks) {
            const col = `${ft.slice(fs.length + 1)}_id`;
            if (seen.has(col)) continue;
            seen.add(col);
            cols.push(`${col} bigint${rand() < 0.7 ? ' NOT NULL' : ''} REFERENCES ${fs}.${ft} (id)`);
            vals.push(`1 + (g * 7) % ${nrows}`);
            names.push(col);
        }
        const want = 4 + Math.floor(rand() * 9); // 4..12 columns in all
        const start = Math.floor(rand() * pool.length);
        for (let i = 0; names.length < want && i < pool.length; i++) {
            const [n, ty, v] = pool[(start + i * 7) % pool.length];
            if (seen.has(n)) continue;
            seen.add(n);
            cols.push(`${n} ${ty}`);
            vals.push(v);
            names.push(n);
        }
        out.push(`CREATE TABLE ${schema}.${table} (\n    ${cols.join(',\n    ')}\n);`);
        for (const n of names)
            if (n.endsWith('_id'))
                out.push(`CREATE INDEX ON ${schema}.${table} (${n});`);
        if (names.includes('email') && rand() < 0.5)
            out.push(`CREATE UNIQUE INDEX ON ${schema}.${table} (email);`);
        if (names.includes('created_at') && rand() < 0.4)
            out.push(`CREATE INDEX ON ${schema}.${table} (created_at DESC);`);
        if (names.includes('status') && names.includes('created_at') && rand() < 0.2)
            out.push(`CREATE INDEX ON ${schema}.${table} (status, created_at);`);
        if (rand() < 0.25)
            out.push(`COMMENT ON TABLE ${schema}.${table} IS 'One row per ${entity.replace('_', ' ')} of ${schema}';`);
        for (const n of names.slice(1))
            if (rand() < 0.1)
                out.push(`COMMENT ON COLUMN ${schema}.${table}.${n} IS 'The ${n.replace(/_/g, ' ')}';`);
        out.push(`INSERT INTO ${schema}.${table} (${names.join(', ')}) ` +
                 `SELECT ${vals.join(', ')} FROM generate_series(1, ${nrows}) g;`);
        mine.push(table);
        created.push([schema, table]);
    }
    out.push('COMMIT;');
}
out.push('ANALYZE;');
process.stdout.write(out.join('\n') + '\n');
JS

# The generator's text and sizes name the schema it makes.
MARKER="quarry analysis bench $( (cat "$WORK/gen-schema.js"; echo "$SCHEMAS $TABLES_PER_SCHEMA $ROWS") |
    sha256sum | cut -c1-16)"

ensure_database() {
    local have
    have=$(psql -X -Atq "$ADMIN_URL" -c "SELECT shobj_description(oid, 'pg_database')
        FROM pg_database WHERE datname = 'quarry_bench'") || die "cannot reach $ADMIN_URL"
    [ "$have" = "$MARKER" ] && return 0
    say "creating database quarry_bench ($SCHEMAS x $TABLES_PER_SCHEMA tables)"
    local start=$SECONDS
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" \
        -c "DROP DATABASE IF EXISTS quarry_bench" \
        -c "CREATE DATABASE quarry_bench" >/dev/null || die "cannot create quarry_bench"
    node "$WORK/gen-schema.js" $SCHEMAS $TABLES_PER_SCHEMA $ROWS >"$WORK/schema.sql"
    psql -X -q -v ON_ERROR_STOP=1 "$BENCH_URL" -f "$WORK/schema.sql" >"$WORK/load.log" 2>&1 ||
        { tail -n 20 "$WORK/load.log" >&2; die "loading the schema failed"; }
    # Last, so a load that failed half-way is redone next time.
    psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "COMMENT ON DATABASE quarry_bench IS '$MARKER'" ||
        die "cannot mark quarry_bench"
    say "quarry_bench ready in $((SECONDS - start)) s"
}
ensure_database

# ---------------------------------------------------------------------------
# The references
# ---------------------------------------------------------------------------

ensure_directus() {
    [ -f "$NPM_DIR/node_modules/@directus/schema/package.json" ] &&
        [ -f "$NPM_DIR/node_modules/pg/package.json" ] && return 0
    say "installing @directus/schema, knex and pg into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund @directus/schema knex pg \
        >"$WORK/npm.log" 2>&1 || { tail -n 20 "$WORK/npm.log" >&2; die "npm install failed"; }
}
ensure_directus

# Beside its node_modules, so that its imports resolve there.
cat >"$NPM_DIR/quarry-directus-bench.mjs" <<'JS'
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { createInspector } from '@directus/schema';
const require = createRequire(import.meta.url);
const knexFactory = require('knex');

const [url, runsArg] = process.argv.slice(2);
const runs = Number(runsArg);
const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
// The inspector reads the schemas of knex's searchPath: give it every user schema.
const probe = knexFactory({ client: 'pg', connection: url });
const schemas = (await probe.raw(`SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_'
    AND nspname <> 'information_schema' ORDER BY 1`)).rows.map((r) => r.nspname);
await probe.destroy();
const knex = knexFactory({ client: 'pg', connection: url, searchPath: schemas,
                           pool: { min: 2, max: 4 } });
const inspector = createInspector(knex);

const variants = {
    // What Directus itself loads its schema with.
    overview: async () => {
        const [overview, fks] = await Promise.all([inspector.overview(), inspector.foreignKeys()]);
        return { tables: Object.keys(overview).length, fks: fks.length };
    },
    // Every detail the inspector has: tables with comments, columns, keys, FKs.
    full: async () => {
        const [tables, columns, fks] = await Promise.all([inspector.tableInfo(),
            inspector.columnInfo(), inspector.foreignKeys()]);
        return { tables: tables.length, columns: columns.length, fks: fks.length };
    },
};
await knex.raw('SELECT 1'); // connect outside the timings, as Quarry's open connection is
const result = {};
for (const [name, fn] of Object.entries(variants)) {
    let t0 = performance.now();
    const counts = await fn(); // the first run, with cold caches, is reported apart
    const first = performance.now() - t0;
    const times = [];
    for (let i = 0; i < runs; i++) {
        t0 = performance.now();
        await fn();
        times.push(performance.now() - t0);
    }
    result[name] = { first_ms: first, median_ms: median(times), ...counts };
}
await knex.destroy();
process.stdout.write(JSON.stringify(result) + '\n');
JS

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
now_ms() { date +%s%3N; }

DIRECTUS_VERSION=$(jq -r .version "$NPM_DIR/node_modules/@directus/schema/package.json")

# ---------------------------------------------------------------------------
# Quarry
# ---------------------------------------------------------------------------

CAPTURE=$BUILD/bench/capture_bench
if [ ! -x "$CAPTURE" ]; then
    CAPTURE=$WORK/capture_bench
    say "compiling bench/capture_bench.c against $BUILD/core/libquarry_core.a"
    # shellcheck disable=SC2046 # pkg-config's words are meant to split
    gcc -O2 -D_GNU_SOURCE -I"$REPO/core" -I"$REPO/sdk" "$REPO/bench/capture_bench.c" \
        "$BUILD/core/libquarry_core.a" $(pkg-config --cflags --libs jansson libevent \
        libevent_pthreads sqlite3 libcurl libsodium libjwt) -lpthread -ldl -lm -o "$CAPTURE" ||
        die "cannot compile capture_bench"
fi

QUARRYD=$BUILD/core/quarryd
REG=$WORK/registry.db
"$QUARRYD" keys create --scope write --registry "$REG" >"$WORK/credentials" 2>>"$WORK/quarryd.log" ||
    die "quarryd keys create failed"
# shellcheck disable=SC1091
. "$WORK/credentials"
"$QUARRYD" --registry "$REG" --listen "127.0.0.1:$PORT" --plugin-dir "$BUILD/plugins" \
    --drivers postgres --log-level warn >>"$WORK/quarryd.log" 2>&1 &
QUARRYD_PID=$!
Q=http://127.0.0.1:$PORT
H=(-H "X-API-Key: $QUARRY_API_KEY" -H "X-API-Secret: $QUARRY_API_SECRET")
for _ in $(seq 100); do
    curl -sf "$Q/readyz" >/dev/null 2>&1 && break
    kill -0 "$QUARRYD_PID" 2>/dev/null || { cat "$WORK/quarryd.log" >&2; die "quarryd exited"; }
    sleep 0.1
done
curl -sf "$Q/readyz" >/dev/null || die "quarryd is not ready on port $PORT (QUARRY_BENCH_PORT)"

CONN=$(curl -sf "${H[@]}" -X POST "$Q/v1/database-connection" -d "$(jq -n --arg url "$BENCH_URL" \
    '{name: "bench-2000", database_type: "postgres", url: $url,
      agent_id: "00000000-0000-4000-8000-00000000be01"}')" | jq -r .connection.id) ||
    die "creating the connection failed"

iso_ms() { date -d "$1" +%s%3N; }

# One analysis: wall clock from just before the POST to the task's finished_at
# (the server's clock is this machine's), and the task's own
# started_at..finished_at. Prints "wall task". Polls every 100 ms, one curl
# each and no other process: polling must not take CPU from the analysis.
analyse() {
    local start task body
    start=$(now_ms)
    task=$(curl -sf "${H[@]}" -X POST "$Q/v1/database-connection/$CONN/analyze" | jq -r .task_id) ||
        die "POST analyze failed"
    while :; do
        sleep 0.1
        body=$(curl -sf "${H[@]}" "$Q/v1/tasks/$task/status") || die "polling $task failed"
        [[ $body == *'"status":"succeeded"'* ]] && break
        [[ $body == *'"status":"failed"'* ]] && die "analysis failed: $(jq -c .error <<<"$body")"
    done
    local started finished
    started=$(iso_ms "$(jq -r .started_at <<<"$body")")
    finished=$(iso_ms "$(jq -r .finished_at <<<"$body")")
    echo "$((finished - start)) $((finished - started))"
    jq -c .result <<<"$body" >"$WORK/last-result.json"
}

# ---------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
pg_dump --schema-only "$BENCH_URL" >"$WORK/dump.sql" # warm-up; its size is reported
DUMP_BYTES=$(wc -c <"$WORK/dump.sql")

say "Quarry's first analysis of the connection (through quarryd's API)"
analyse >"$WORK/first"
read -r FIRST_WALL FIRST_TASK <"$WORK/first"
STORED=$(jq -r .tables "$WORK/last-result.json")

# Round-robin: load from elsewhere on the machine stretches every tool alike,
# so the ratios hold even when the absolute figures drift.
: >"$WORK/pg_dump.ms"
: >"$WORK/directus.jsonl"
: >"$WORK/capture.jsonl"
: >"$WORK/analyses"
for round in $(seq "$RUNS"); do
    say "round $round of $RUNS: pg_dump, directus inspector, Quarry capture, Quarry re-analysis"
    start=$(now_ms)
    pg_dump --schema-only "$BENCH_URL" >/dev/null || die "pg_dump failed"
    echo $(($(now_ms) - start)) >>"$WORK/pg_dump.ms"
    node "$NPM_DIR/quarry-directus-bench.mjs" "$BENCH_URL" 1 >>"$WORK/directus.jsonl" ||
        die "the directus inspector failed"
    "$CAPTURE" capture "$BUILD/plugins" "$BENCH_URL" 1 >>"$WORK/capture.jsonl" \
        2>"$WORK/capture.log" || { cat "$WORK/capture.log" >&2; die "capture_bench capture failed"; }
    analyse >>"$WORK/analyses"
done
SAMPLES=$(jq -r .sample_queries "$WORK/last-result.json")
kill "$QUARRYD_PID"
wait "$QUARRYD_PID" 2>/dev/null || true
QUARRYD_PID=

say "Quarry analysis phases in one process: a first analysis, then $RUNS re-analyses"
"$CAPTURE" phases "$BUILD/plugins" "$BENCH_URL" "$WORK/phases.db" $((RUNS + 1)) \
    >"$WORK/phases.json" 2>"$WORK/phases.log" ||
    { cat "$WORK/phases.log" >&2; die "capture_bench phases failed"; }

# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

# The median of a jq expression over the rounds' JSON lines.
cj() { jq -r "$1" "$WORK/capture.jsonl" | median; }
dj() { jq -r "$1" "$WORK/directus.jsonl" | median; }
pj() { jq -r "$1" "$WORK/phases.json"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
ms() { awk -v a="$1" 'BEGIN {printf "%.0f", a}'; }

PG_DUMP_MS=$(median <"$WORK/pg_dump.ms")
AGAIN_WALL=$(awk '{print $1}' "$WORK/analyses" | median)
AGAIN_TASK=$(awk '{print $2}' "$WORK/analyses" | median)
CAP_OPEN=$(cj .open_ms) CAP_CONNECT=$(cj .connect_ms)
DIR_OVERVIEW=$(dj .overview.median_ms) DIR_FULL=$(dj .full.median_ms)
FASTEST_REF=$(printf '%s\n' "$PG_DUMP_MS" "$DIR_OVERVIEW" "$DIR_FULL" | sort -g | head -n 1)

cat <<REPORT

Quarry at $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- core plugins sdk 2>/dev/null || echo " with uncommitted changes in core/, plugins/ or sdk/"), built in $BUILD.
Database quarry_bench: $(cj .tables) tables in $SCHEMAS schemas, $(cj .columns) columns, $(cj .fks) foreign keys, $(cj .indexes) indexes, $(cj .comments) comments, $ROWS rows a table; \`pg_dump --schema-only\` writes $DUMP_BYTES bytes.
Medians of $RUNS rounds (ms), each round running every tool once in turn; ratios are Quarry's time over the reference's.

| measurement | median ms | / pg_dump --schema-only | / directus overview()+foreignKeys() | / directus tableInfo()+columnInfo()+foreignKeys() |
| --- | ---: | ---: | ---: | ---: |
| \`pg_dump --schema-only\` (process and connect included) | $(ms "$PG_DUMP_MS") | 1.00 | | |
| @directus/schema $DIRECTUS_VERSION overview() + foreignKeys() (warm pool; first read of the process $(ms "$(dj .overview.first_ms)")) | $(ms "$DIR_OVERVIEW") | | 1.00 | |
| @directus/schema $DIRECTUS_VERSION tableInfo() + columnInfo() + foreignKeys() (warm pool; first read of the process $(ms "$(dj .full.first_ms)")) | $(ms "$DIR_FULL") | | | 1.00 |
| Quarry schema capture, open connection (first of the connection $(ms "$(cj .first_ms)")) | $(ms "$CAP_OPEN") | $(ratio "$CAP_OPEN" "$PG_DUMP_MS") | $(ratio "$CAP_OPEN" "$DIR_OVERVIEW") | $(ratio "$CAP_OPEN" "$DIR_FULL") |
| Quarry schema capture, connect included | $(ms "$CAP_CONNECT") | $(ratio "$CAP_CONNECT" "$PG_DUMP_MS") | $(ratio "$CAP_CONNECT" "$DIR_OVERVIEW") | $(ratio "$CAP_CONNECT" "$DIR_FULL") |
| Quarry full analysis via API, first (inserts $STORED tables; one run), wall | $(ms "$FIRST_WALL") | $(ratio "$FIRST_WALL" "$PG_DUMP_MS") | | |
| Quarry full analysis via API, first, task started..finished | $(ms "$FIRST_TASK") | $(ratio "$FIRST_TASK" "$PG_DUMP_MS") | | |
| Quarry full analysis via API, re-analysis (updates in place), wall | $(ms "$AGAIN_WALL") | $(ratio "$AGAIN_WALL" "$PG_DUMP_MS") | | |
| Quarry full analysis via API, re-analysis, task started..finished | $(ms "$AGAIN_TASK") | $(ratio "$AGAIN_TASK" "$PG_DUMP_MS") | | |

Goal "schema capture faster than both": open connection $(ratio "$CAP_OPEN" "$FASTEST_REF")x, connect included $(ratio "$CAP_CONNECT" "$FASTEST_REF")x the fastest reference ($(ms "$FASTEST_REF") ms).
Goal "full analysis within 3x pg_dump --schema-only": first $(ratio "$FIRST_WALL" "$PG_DUMP_MS")x, re-analysis $(ratio "$AGAIN_WALL" "$PG_DUMP_MS")x (wall clock through the API; $SAMPLES verified sample queries).

Where an analysis spends its time (bench/capture_bench.c phases: the calls of core/analysis.c in one process; ms of wall clock, of quarry's CPU, and of the CPU of the PostgreSQL backend serving it):

| phase | first: wall | first: quarry CPU | first: server CPU | re-analysis: wall | re-analysis: quarry CPU | re-analysis: server CPU |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
REPORT
for p in introspect profile semantic graph samples snapshot store_tables store_snapshot total; do
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$(ms "$(pj ".first.$p")")" \
        "$(ms "$(pj ".first.${p}_client_cpu")")" "$(ms "$(pj ".first.${p}_server_cpu")")" \
        "$(ms "$(pj ".later.$p")")" "$(ms "$(pj ".later.${p}_client_cpu")")" \
        "$(ms "$(pj ".later.${p}_server_cpu")")"
done
cat <<REPORT

Profiling, first analysis: profile_table per table p50 $(pj '.first.profile_table_p50 * 100 | round / 100') ms, p95 $(pj '.first.profile_table_p95 * 100 | round / 100') ms, max $(ms "$(pj .first.profile_table_max)") ms; $(pj .first.unprofiled) tables not profiled.
The driver's sample alone, every table into a sink that drops the rows ($(pj .raw_sample_1conn_rows) rows, $(pj .raw_sample_1conn_failed) failures): $(ms "$(pj .raw_sample_1conn_cold_ms)") ms on a new connection, $(ms "$(pj .raw_sample_warm_ms)") ms again on it warm, $(ms "$(pj .raw_sample_2conn_cold_ms)") ms over two new connections at once ($(pj .raw_sample_2conn_failed) failures).
Reading pg_stats for every user schema instead: $(ms "$(pj .pg_stats_ms)") ms ($(pj .pg_stats_rows) rows, one query).
A ping round trip $(pj '.ping_ms * 1000 | round / 1000') ms; one progress write to the registry $(pj '.progress_write_ms * 1000 | round / 1000') ms.
Load average before and after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs.
REPORT
