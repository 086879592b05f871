#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for Quarry's tests, on loopback only.
#
#   bash .ci/services/postgres.sh start   # prints `export QUARRY_TEST_PG_...=...` lines
#   bash .ci/services/postgres.sh stop
#   bash .ci/services/postgres.sh status
#
# Use it as: eval "$(bash .ci/services/postgres.sh start)"
#
# It never touches the system's clusters: Debian's binaries run a cluster of
# our own in $QUARRY_SERVICES_DIR/postgres (default /tmp/quarry-services/postgres),
# owned by the `postgres` user, listening on 127.0.0.1:$QUARRY_PG_PORT (default
# 55432) with SCRAM passwords over TCP (TLS offered) and trust only on a unix
# socket inside that private directory. `start` is idempotent: a running
# cluster is reused, Chinook is loaded once, and the test objects are rebuilt
# only when this script's setup SQL changes. Everything but the export lines
# goes to the log file ($BASE/setup.log) or, on failure, to stderr.
#
# The cluster is for throw-away test data: fsync and autovacuum are off
# (autovacuum off also keeps row estimates exactly where the tests put them).
set -euo pipefail

SERVICES_DIR=${QUARRY_SERVICES_DIR:-/tmp/quarry-services}
BASE=$SERVICES_DIR/postgres
PORT=${QUARRY_PG_PORT:-55432}
PGBIN=/usr/lib/postgresql/15/bin
DATADIR=$BASE/data
RUNDIR=$BASE/run
TLSDIR=$BASE/tls
SERVER_LOG=$BASE/server.log
SETUP_LOG=$BASE/setup.log
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHINOOK_SQL=$REPO/tests/fixtures/chinook/Chinook_PostgreSql.sql

# Test roles. The passwords only guard a loopback server holding sample data.
MAIN_USER=quarry MAIN_PASS=secret
RO_USER=quarry_ro RO_PASS=readonly
ENC_USER=quarry_enc ENC_PASS='p@ss:w/rd?#%& é'
# ENC_PASS percent-encoded, as a user pastes it into a URL.
ENC_PASS_URL='p%40ss%3Aw%2Frd%3F%23%25%26%20%C3%A9'

log() { printf '%s %s\n' "$(date +%T)" "$*" >>"$SETUP_LOG"; }
die() {
    echo "postgres.sh: $*" >&2
    [ -f "$SETUP_LOG" ] && tail -n 20 "$SETUP_LOG" >&2
    [ -f "$SERVER_LOG" ] && tail -n 20 "$SERVER_LOG" >&2
    exit 1
}

# The account the cluster runs as: postgres when we are root, else ourselves.
run_user() {
    if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi
}

# Runs a command as the cluster's owner (initdb and postgres refuse root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_packages() {
    local missing=()
    [ -x $PGBIN/initdb ] && [ -x $PGBIN/pg_ctl ] || missing+=(postgresql)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); install them as root"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # On a machine without postgresql-common yet, skip Debian's "main" cluster:
    # we run our own, and creating and starting that one costs seconds.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
    fi
    apt-get update >>"$SETUP_LOG" 2>&1 || die "apt-get update failed"
    apt-get install -y --no-install-recommends "${missing[@]}" >>"$SETUP_LOG" 2>&1 ||
        die "apt-get install ${missing[*]} failed"
}

# The admin client: the superuser over our private socket.
sql() { psql -X -q -v ON_ERROR_STOP=1 -h "$RUNDIR" -p "$PORT" -U postgres "$@"; }

is_running() {
    [ -f "$DATADIR/postmaster.pid" ] || return 1
    as_owner $PGBIN/pg_ctl -D "$DATADIR" status >/dev/null 2>&1 || return 1
    $PGBIN/pg_isready -q -h "$RUNDIR" -p "$PORT" -U postgres
}

make_tls() {
    [ -f "$TLSDIR/server.crt" ] && return 0
    log "creating a test CA and server certificate"
    mkdir -p "$TLSDIR"
    (
        cd "$TLSDIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=quarry-test-ca \
            -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
            -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 3650 -extfile san.ext -out server.crt
        rm -f server.csr san.ext
    ) >>"$SETUP_LOG" 2>&1 || die "openssl failed"
    chmod 644 "$TLSDIR"/*.pem "$TLSDIR/server.crt"
    chmod 600 "$TLSDIR/server.key" "$TLSDIR/ca.key"
    chown "$(run_user)" "$TLSDIR/server.key"
}

init_cluster() {
    [ -f "$DATADIR/PG_VERSION" ] && return 0
    log "initialising $DATADIR"
    rm -rf "$DATADIR" "$BASE"/*.done
    mkdir -p "$DATADIR"
    chown "$(run_user)" "$DATADIR"
    chmod 700 "$DATADIR"
    as_owner $PGBIN/initdb -D "$DATADIR" -U postgres -E UTF8 --no-locale --no-sync \
        --auth-local=trust --auth-host=scram-sha-256 >>"$SETUP_LOG" 2>&1 ||
        die "initdb failed"
}

# Written on every start, so a changed port or directory takes effect.
write_config() {
    cat >"$DATADIR/quarry.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$RUNDIR'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$TLSDIR/server.crt'
ssl_key_file = '$TLSDIR/server.key'
max_connections = 100
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
lc_messages = 'C'
log_min_messages = warning
CONF
    grep -q "^include_if_exists = 'quarry.conf'" "$DATADIR/postgresql.conf" ||
        echo "include_if_exists = 'quarry.conf'" >>"$DATADIR/postgresql.conf"
    # Only loopback TCP with passwords; the socket lives in a 0700 directory.
    cat >"$DATADIR/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 scram-sha-256
HBA
    chown "$(run_user)" "$DATADIR/quarry.conf" "$DATADIR/pg_hba.conf"
}

start_server() {
    mkdir -p "$RUNDIR"
    chown "$(run_user)" "$BASE" "$RUNDIR"
    chmod 755 "$SERVICES_DIR"
    chmod 700 "$BASE" "$RUNDIR"
    touch "$SERVER_LOG" && chown "$(run_user)" "$SERVER_LOG"
    write_config
    # Running but not answering on $PORT: the port or directory changed.
    local action=start
    as_owner $PGBIN/pg_ctl -D "$DATADIR" status >/dev/null 2>&1 && action=restart
    log "${action}ing postgres on 127.0.0.1:$PORT"
    as_owner $PGBIN/pg_ctl -D "$DATADIR" -l "$SERVER_LOG" -w -t 30 $action >>"$SETUP_LOG" 2>&1 ||
        die "pg_ctl $action failed (port $PORT in use?)"
}

roles_sql() {
    cat <<SQL
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY['$MAIN_USER', '$RO_USER', '$ENC_USER']) r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE $MAIN_USER WITH LOGIN CREATEDB PASSWORD '$MAIN_PASS';
ALTER ROLE $RO_USER WITH LOGIN PASSWORD '$RO_PASS';
ALTER ROLE $ENC_USER WITH LOGIN PASSWORD '$ENC_PASS';
SELECT 'CREATE DATABASE quarry_test OWNER $MAIN_USER'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'quarry_test') \gexec
SQL
}

# The fixture creates database chinook itself (DROP/CREATE, then \c chinook);
# run as quarry, so quarry owns it and only the session's read-only mode can
# stop the driver's tests from writing.
load_chinook() {
    if [ -f "$BASE/chinook.done" ] &&
        [ "$(sql -d chinook -Atc "SELECT to_regclass('public.track') IS NOT NULL" 2>/dev/null)" = t ]; then
        return 0
    fi
    [ -f "$CHINOOK_SQL" ] || die "missing $CHINOOK_SQL"
    log "loading Chinook"
    rm -f "$BASE/extra.done"
    psql -X -q -v ON_ERROR_STOP=1 -h "$RUNDIR" -p "$PORT" -U "$MAIN_USER" -d postgres \
        -f "$CHINOOK_SQL" >>"$SETUP_LOG" 2>&1 || die "loading Chinook failed"
    sql -d chinook -c "ANALYZE" >>"$SETUP_LOG" 2>&1 || die "ANALYZE failed"
    touch "$BASE/chinook.done"
}

# The objects the driver's tests need beyond Chinook, in their own schemas so
# chinook's public schema keeps exactly its 11 tables. Run as quarry in chinook.
setup_sql() {
    cat <<'SQL'
DROP SCHEMA IF EXISTS ref, "Sales" CASCADE;
CREATE SCHEMA ref;
CREATE SCHEMA "Sales";

-- Primary key declared (country_code, region_code); the FK below names the
-- columns in the other order, across schemas.
CREATE TABLE ref.region (
    country_code char(2) NOT NULL,
    region_code varchar(8) NOT NULL,
    name text NOT NULL,
    CONSTRAINT region_pkey PRIMARY KEY (country_code, region_code)
);
COMMENT ON TABLE ref.region IS 'Sales regions, keyed by country and region code';
COMMENT ON COLUMN ref.region.name IS 'Human-readable region name';
INSERT INTO ref.region VALUES
    ('US', 'CA', 'California'), ('US', 'NY', 'New York'), ('DE', 'BE', 'Berlin'),
    ('FR', 'IDF', 'Île-de-France');

CREATE TABLE "Sales"."Order" (
    "OrderId" bigserial PRIMARY KEY,
    "OrderRef" text NOT NULL,
    region_code varchar(8) NOT NULL,
    country_code char(2) NOT NULL,
    customer_id int REFERENCES public.customer (customer_id),
    "Amount" numeric(12, 2) NOT NULL DEFAULT 0,
    placed_at timestamptz NOT NULL DEFAULT now(),
    note text,
    CONSTRAINT order_ref_key UNIQUE ("OrderRef"),
    CONSTRAINT order_region_fkey FOREIGN KEY (region_code, country_code)
        REFERENCES ref.region (region_code, country_code)
);
CREATE UNIQUE INDEX order_note_lower_idx ON "Sales"."Order" (lower(note), "OrderRef")
    WHERE note IS NOT NULL;
COMMENT ON TABLE "Sales"."Order" IS 'Orders placed per region';
COMMENT ON COLUMN "Sales"."Order"."Amount" IS 'Order total in EUR';
INSERT INTO "Sales"."Order" ("OrderRef", region_code, country_code, customer_id, "Amount",
                             placed_at, note) VALUES
    ('A-1', 'CA', 'US', 1, 10.50, '2024-02-29 13:45:01.25+01', 'first'),
    ('A-2', 'BE', 'DE', 2, 0.99, '2024-03-01 00:00:00+00', NULL),
    ('A-3', 'IDF', 'FR', NULL, 1234567890.12, '1999-12-31 23:59:59+00', 'big');

CREATE VIEW "Sales".order_totals AS
    SELECT r.name AS region, sum(o."Amount") AS total
    FROM "Sales"."Order" o JOIN ref.region r USING (region_code, country_code)
    GROUP BY r.name;
COMMENT ON VIEW "Sales".order_totals IS 'Order totals per region';

CREATE MATERIALIZED VIEW ref.genre_tracks AS
    SELECT g.name, count(*) AS tracks FROM public.track t JOIN public.genre g USING (genre_id)
    GROUP BY g.name;

-- Large enough (~900 pages) for TABLESAMPLE to be the sampling path.
CREATE TABLE ref.big_sample (id int PRIMARY KEY, grp int NOT NULL, payload text NOT NULL);
INSERT INTO ref.big_sample SELECT g, g % 97, md5(g::text) FROM generate_series(1, 100000) g;

ANALYZE ref.region, "Sales"."Order", ref.genre_tracks, ref.big_sample;

-- Created after ANALYZE, without indexes, and autovacuum is off: its
-- reltuples stays -1 ("never analyzed").
CREATE TABLE ref.never_analyzed (id int, label text);

GRANT USAGE ON SCHEMA public, ref, "Sales" TO quarry_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA public, ref, "Sales" TO quarry_ro;
REVOKE TEMPORARY ON DATABASE chinook FROM PUBLIC;
COMMENT ON DATABASE chinook IS 'Quarry test fixture: Chinook plus schemas ref and "Sales"';
SQL
}

setup_objects() {
    local want have=""
    want=$( (roles_sql; setup_sql) | sha256sum | cut -c1-16)
    [ -f "$BASE/extra.done" ] && have=$(cat "$BASE/extra.done")
    [ "$want" = "$have" ] && return 0
    log "creating the test objects ($want)"
    psql -X -q -v ON_ERROR_STOP=1 -h "$RUNDIR" -p "$PORT" -U "$MAIN_USER" -d chinook \
        -c "SET client_min_messages = warning" -f <(setup_sql) >>"$SETUP_LOG" 2>&1 ||
        die "creating the test objects failed"
    echo "$want" >"$BASE/extra.done"
}

print_exports() {
    local hostport=127.0.0.1:$PORT
    echo "export QUARRY_TEST_PG_URL='postgresql://$MAIN_USER:$MAIN_PASS@$hostport/chinook'"
    echo "export QUARRY_TEST_PG_RO_URL='postgresql://$RO_USER:$RO_PASS@$hostport/chinook'"
    echo "export QUARRY_TEST_PG_ENC_URL='postgresql://$ENC_USER:$ENC_PASS_URL@$hostport/chinook'"
    echo "export QUARRY_TEST_PG_RW_URL='postgresql://$MAIN_USER:$MAIN_PASS@$hostport/quarry_test'"
    echo "export QUARRY_TEST_PG_CA='$TLSDIR/ca.pem'"
}

cmd_start() {
    mkdir -p "$BASE"
    log "start (port $PORT, base $BASE)"
    ensure_packages
    if is_running; then
        log "reusing the running cluster"
    else
        make_tls
        init_cluster
        start_server
    fi
    sql -d postgres -f <(roles_sql) >>"$SETUP_LOG" 2>&1 || die "creating roles failed"
    load_chinook
    setup_objects
    log "ready"
    print_exports
}

cmd_stop() {
    if [ ! -f "$DATADIR/postmaster.pid" ]; then
        echo "postgres.sh: not running" >&2
        return 0
    fi
    as_owner $PGBIN/pg_ctl -D "$DATADIR" -m fast -w -t 30 stop >>"$SETUP_LOG" 2>&1 ||
        die "pg_ctl stop failed"
    echo "postgres.sh: stopped" >&2
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status)
    if is_running; then echo "running (port $PORT, data $DATADIR)" >&2; else
        echo "not running" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
