#!/usr/bin/env bash
# A private MariaDB server for Quarry's tests, on loopback only.
#
#   bash .ci/services/mariadb.sh start   # prints `export QUARRY_TEST_MYSQL_...=...` lines
#   bash .ci/services/mariadb.sh stop
#   bash .ci/services/mariadb.sh status
#
# Use it as: eval "$(bash .ci/services/mariadb.sh start)"
#
# It never touches the system's MariaDB service: the server runs from its own
# data directory ($QUARRY_SERVICES_DIR/mariadb, default /tmp/quarry-services/mariadb)
# with its own socket, pid file and log, on 127.0.0.1:$QUARRY_MYSQL_PORT
# (default 53306). `start` is idempotent: a server already running there is
# reused, Chinook is loaded once, and the test objects are rebuilt only when
# this script's setup SQL changes. Everything but the export lines goes to
# the log file ($BASE/setup.log) or, on failure, to stderr.
set -euo pipefail

SERVICES_DIR=${QUARRY_SERVICES_DIR:-/tmp/quarry-services}
BASE=$SERVICES_DIR/mariadb
PORT=${QUARRY_MYSQL_PORT:-53306}
DATADIR=$BASE/data
RUNDIR=$BASE/run
TLSDIR=$BASE/tls
SOCKET=$RUNDIR/mariadbd.sock
PIDFILE=$RUNDIR/mariadbd.pid
SERVER_LOG=$RUNDIR/mariadbd.log
SETUP_LOG=$BASE/setup.log
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHINOOK_SQL=$REPO/tests/fixtures/chinook/Chinook_MySql.sql

# Test accounts. The passwords only guard a loopback server holding sample data.
MAIN_USER=quarry MAIN_PASS=secret
RO_USER=quarry_ro RO_PASS=readonly
ENC_USER=quarry_enc ENC_PASS='p@ss:w/rd?#%& é'
# ENC_PASS percent-encoded, as a user pastes it into a URL.
ENC_PASS_URL='p%40ss%3Aw%2Frd%3F%23%25%26%20%C3%A9'

log() { printf '%s %s\n' "$(date +%T)" "$*" >>"$SETUP_LOG"; }
die() {
    echo "mariadb.sh: $*" >&2
    [ -f "$SETUP_LOG" ] && tail -n 20 "$SETUP_LOG" >&2
    [ -f "$SERVER_LOG" ] && tail -n 20 "$SERVER_LOG" >&2
    exit 1
}

# The account mariadbd runs as: mysql when we are root, else ourselves.
run_user() {
    if [ "$(id -u)" = 0 ]; then
        if id mysql >/dev/null 2>&1; then echo mysql; else echo root; fi
    else
        id -un
    fi
}

ensure_packages() {
    local missing=()
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
    command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
    [ -f /usr/include/mariadb/mysql.h ] || missing+=(libmariadb-dev)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); install them as root"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >>"$SETUP_LOG" 2>&1 || die "apt-get update failed"
    # policy-rc.d keeps the package from starting the system service.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && created_policy=1
    fi
    apt-get install -y --no-install-recommends "${missing[@]}" >>"$SETUP_LOG" 2>&1 ||
        { [ $created_policy = 1 ] && rm -f $policy; die "apt-get install ${missing[*]} failed"; }
    [ $created_policy = 1 ] && rm -f $policy
    return 0
}

mariadbd_bin() {
    if command -v mariadbd >/dev/null 2>&1; then command -v mariadbd; else echo /usr/sbin/mariadbd; fi
}

# The admin client, as root over our socket (unix_socket authentication).
sql() { mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot --batch --skip-column-names "$@"; }

is_running() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    mariadb-admin --no-defaults --protocol=socket --socket="$SOCKET" -uroot ping >/dev/null 2>&1
}

make_tls() {
    [ -f "$TLSDIR/server-cert.pem" ] && [ -f "$TLSDIR/other-ca.pem" ] && return 0
    log "creating a test CA and server certificate"
    mkdir -p "$TLSDIR"
    (
        cd "$TLSDIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=quarry-test-ca \
            -keyout ca-key.pem -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
            -keyout server-key.pem -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -days 3650 -extfile san.ext -out server-cert.pem
        # A CA that signed nothing here: verification against it must fail.
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=quarry-other-ca \
            -keyout other-ca-key.pem -out other-ca.pem
        rm -f server.csr san.ext other-ca-key.pem
    ) >>"$SETUP_LOG" 2>&1 || die "openssl failed"
    chmod 644 "$TLSDIR"/*.pem
}

init_datadir() {
    [ -d "$DATADIR/mysql" ] && return 0
    log "initialising $DATADIR"
    rm -rf "$DATADIR" "$BASE"/*.done
    mkdir -p "$DATADIR"
    chown "$(run_user)" "$DATADIR"
    mariadb-install-db --no-defaults --datadir="$DATADIR" --user="$(run_user)" \
        --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
        >>"$SETUP_LOG" 2>&1 || die "mariadb-install-db failed"
}

start_server() {
    local user
    user=$(run_user)
    mkdir -p "$RUNDIR" "$BASE/files"
    chown "$user" "$RUNDIR" "$BASE/files"
    chmod 755 "$SERVICES_DIR" "$BASE"
    rm -f "$SOCKET" "$PIDFILE"
    log "starting mariadbd on 127.0.0.1:$PORT"
    # --skip-networking=0 explicitly: a packaged default may turn TCP off. Tests
    # fail TLS handshakes on purpose; max-connect-errors keeps loopback from
    # being blocked after a hundred of them.
    "$(mariadbd_bin)" --no-defaults --user="$user" --datadir="$DATADIR" \
        --socket="$SOCKET" --pid-file="$PIDFILE" --log-error="$SERVER_LOG" \
        --bind-address=127.0.0.1 --port="$PORT" --skip-networking=0 --skip-name-resolve \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --ssl-ca="$TLSDIR/ca.pem" --ssl-cert="$TLSDIR/server-cert.pem" \
        --ssl-key="$TLSDIR/server-key.pem" \
        --secure-file-priv="$BASE/files" --local-infile=0 --performance-schema=OFF \
        --innodb-buffer-pool-size=128M --innodb-log-file-size=64M \
        --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --innodb-use-native-aio=0 \
        --max-connections=200 --max-connect-errors=1000000 >>"$SETUP_LOG" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 1 300); do
        if mariadb-admin --no-defaults --protocol=socket --socket="$SOCKET" -uroot ping \
            >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "mariadbd exited during start (port $PORT in use?)"
        sleep 0.1
    done
    die "mariadbd did not answer within 30 s"
}

load_chinook() {
    [ -f "$BASE/chinook.done" ] && return 0
    [ -f "$CHINOOK_SQL" ] || die "missing $CHINOOK_SQL"
    log "loading Chinook"
    # One transaction for the inserts keeps the load fast; ANALYZE makes
    # TABLE_ROWS (the row estimates) settle at once.
    {
        echo "SET autocommit=0;"
        cat "$CHINOOK_SQL"
        echo "COMMIT;"
        echo "ANALYZE TABLE Album, Artist, Customer, Employee, Genre, Invoice, InvoiceLine,"
        echo "  MediaType, Playlist, PlaylistTrack, Track;"
    } | sql --default-character-set=utf8mb4 >>"$SETUP_LOG" 2>&1 || die "loading Chinook failed"
    touch "$BASE/chinook.done"
}

# The objects the driver's tests need beyond Chinook, in their own database so
# Chinook keeps exactly its 11 tables. Rebuilt when this text changes.
setup_sql() {
    cat <<SQL
DROP DATABASE IF EXISTS quarry_extra;
CREATE DATABASE quarry_extra CHARACTER SET utf8mb4;
USE quarry_extra;

CREATE TABLE Warehouse (
    Region VARCHAR(16) NOT NULL COMMENT 'Sales region code',
    Code INT NOT NULL COMMENT 'Warehouse number within its region',
    Name VARCHAR(80) NOT NULL,
    PRIMARY KEY (Region, Code),
    UNIQUE KEY UQ_Warehouse_CodeRegion (Code, Region),
    UNIQUE KEY UQ_Warehouse_Name (Name)
) ENGINE=InnoDB COMMENT='Where stock is kept';

-- A two-column FK declared in an order unlike the table's, and a reference
-- into another database.
CREATE TABLE Shipment (
    ShipmentId INT NOT NULL PRIMARY KEY,
    Region VARCHAR(16) NOT NULL,
    WarehouseCode INT NOT NULL,
    ArtistId INT NULL COMMENT 'Artist on the label',
    ShippedOn DATE NOT NULL DEFAULT '2024-01-01',
    Note VARCHAR(40) NULL,
    CONSTRAINT FK_ShipmentWarehouse FOREIGN KEY (WarehouseCode, Region)
        REFERENCES Warehouse (Code, Region),
    CONSTRAINT FK_ShipmentArtist FOREIGN KEY (ArtistId) REFERENCES Chinook.Artist (ArtistId)
) ENGINE=InnoDB COMMENT='Goods leaving a warehouse';

CREATE TABLE TypedValues (
    Id INT NOT NULL PRIMARY KEY,
    TinyFlag TINYINT(1),
    BitFlag BIT(1),
    Bits BIT(12),
    Big BIGINT UNSIGNED,
    Small SMALLINT,
    Price DECIMAL(10,2),
    Ratio DOUBLE,
    Day DATE,
    Moment DATETIME(3),
    Stamp TIMESTAMP NULL,
    Payload BLOB,
    Doc JSON,
    Label VARCHAR(40),
    Nothing VARCHAR(10) NULL
) ENGINE=InnoDB;
INSERT INTO TypedValues VALUES
    (1, 1, b'1', b'101000000101', 18446744073709551615, -32768, 0.99, 2.5, '2024-02-29',
     '2024-02-29 13:45:01.250', '2024-02-29 13:45:01', X'00FF10', '{"a": [1, 2]}',
     'héllo', NULL),
    (2, 0, b'0', b'0', 42, 7, -12.50, -0.125, '1999-12-31', '1999-12-31 23:59:59.000', NULL,
     X'', '[]', '', NULL);

-- Written to (and checked unchanged) by the tests that prove writes are refused.
CREATE TABLE Scratch (Id INT NOT NULL PRIMARY KEY, Word VARCHAR(20) NOT NULL) ENGINE=InnoDB;
INSERT INTO Scratch VALUES (1, 'one'), (2, 'two'), (3, 'three');

CREATE VIEW ArtistAlbumCount AS
    SELECT ar.ArtistId, ar.Name, COUNT(al.AlbumId) AS Albums
    FROM Chinook.Artist ar LEFT JOIN Chinook.Album al ON al.ArtistId = ar.ArtistId
    GROUP BY ar.ArtistId, ar.Name;

ANALYZE TABLE Warehouse, Shipment, TypedValues, Scratch;

CREATE OR REPLACE USER '$MAIN_USER'@'127.0.0.1' IDENTIFIED BY '$MAIN_PASS';
CREATE OR REPLACE USER '$MAIN_USER'@'localhost' IDENTIFIED BY '$MAIN_PASS';
CREATE OR REPLACE USER '$MAIN_USER'@'::1' IDENTIFIED BY '$MAIN_PASS';
GRANT ALL PRIVILEGES ON Chinook.* TO '$MAIN_USER'@'127.0.0.1', '$MAIN_USER'@'localhost', '$MAIN_USER'@'::1';
GRANT ALL PRIVILEGES ON quarry_extra.* TO '$MAIN_USER'@'127.0.0.1', '$MAIN_USER'@'localhost', '$MAIN_USER'@'::1';

CREATE OR REPLACE USER '$RO_USER'@'127.0.0.1' IDENTIFIED BY '$RO_PASS';
CREATE OR REPLACE USER '$RO_USER'@'localhost' IDENTIFIED BY '$RO_PASS';
GRANT SELECT ON Chinook.* TO '$RO_USER'@'127.0.0.1', '$RO_USER'@'localhost';
GRANT SELECT ON quarry_extra.* TO '$RO_USER'@'127.0.0.1', '$RO_USER'@'localhost';

CREATE OR REPLACE USER '$ENC_USER'@'127.0.0.1' IDENTIFIED BY '$ENC_PASS';
GRANT SELECT ON Chinook.* TO '$ENC_USER'@'127.0.0.1';
SQL
}

setup_objects() {
    local want have=""
    want=$(setup_sql | sha256sum | cut -c1-16)
    [ -f "$BASE/extra.done" ] && have=$(cat "$BASE/extra.done")
    [ "$want" = "$have" ] && return 0
    log "creating the test objects ($want)"
    setup_sql | sql --default-character-set=utf8mb4 >>"$SETUP_LOG" 2>&1 ||
        die "creating the test objects failed"
    echo "$want" >"$BASE/extra.done"
}

print_exports() {
    local hostport=127.0.0.1:$PORT
    echo "export QUARRY_TEST_MYSQL_URL='mysql://$MAIN_USER:$MAIN_PASS@$hostport/Chinook'"
    echo "export QUARRY_TEST_MYSQL_RO_URL='mysql://$RO_USER:$RO_PASS@$hostport/Chinook'"
    echo "export QUARRY_TEST_MYSQL_ENC_URL='mysql://$ENC_USER:$ENC_PASS_URL@$hostport/Chinook'"
    echo "export QUARRY_TEST_MYSQL_CA='$TLSDIR/ca.pem'"
    echo "export QUARRY_TEST_MYSQL_OTHER_CA='$TLSDIR/other-ca.pem'"
    echo "export QUARRY_TEST_MYSQL_SOCKET='$SOCKET'"
}

cmd_start() {
    mkdir -p "$BASE"
    log "start (port $PORT, base $BASE)"
    ensure_packages
    if is_running; then
        local port
        port=$(sql -e 'SELECT @@port' 2>>"$SETUP_LOG") || die "the running server does not answer"
        [ "$port" = "$PORT" ] || die "a server from $BASE already runs on port $port; stop it first"
        log "reusing the running server (pid $(cat "$PIDFILE"))"
    else
        make_tls
        init_datadir
        start_server
    fi
    load_chinook
    setup_objects
    log "ready"
    print_exports
}

cmd_stop() {
    [ -f "$PIDFILE" ] || { echo "mariadb.sh: not running" >&2; return 0; }
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && die "mariadbd (pid $pid) did not stop within 30 s"
    fi
    rm -f "$PIDFILE"
    echo "mariadb.sh: stopped" >&2
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) if is_running; then echo "running (pid $(cat "$PIDFILE"), port $PORT)" >&2; else
    echo "not running" >&2
    exit 1
fi ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
