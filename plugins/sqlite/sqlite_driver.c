/*
 * The sqlite driver: its description for the host, and connections (open,
 * ping, close, cancel) with the guards every call runs under.
 *
 * Read-only is enforced four times over, from the outside in: the file is
 * opened SQLITE_OPEN_READONLY (its descriptor cannot write), PRAGMA
 * query_only is on, an authorizer refuses every action but reading at
 * prepare time (ATTACH, transaction control and PRAGMA assignments
 * included, which sqlite3_stmt_readonly lets through), and execute refuses
 * any statement sqlite3_stmt_readonly reports as writing.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "sqlite_internal.h"

#ifndef QUARRY_SQLITE_DRIVER_VERSION
#define QUARRY_SQLITE_DRIVER_VERSION "0.0.0"
#endif

/* VM instructions between two deadline checks: about a few microseconds of work. */
#define PROGRESS_OPS 1000
#define BUSY_SLEEP_MS 10
#define BUSY_DEFAULT_MS 5000

const struct quarry_host *sqlite_host_;

/* ------------------------------------------------------------------------ */
/* Call guards                                                              */
/* ------------------------------------------------------------------------ */

void sqlite_call_begin_(struct quarry_conn *conn, const struct quarry_ctx *ctx)
{
    conn->ctx = ctx;
    conn->stop_status = 0;
    conn->denied[0] = '\0';
    atomic_store(&conn->cancel_requested, 0);
}

void sqlite_call_end_(struct quarry_conn *conn)
{
    conn->ctx = NULL;
}

int sqlite_call_stopped_(struct quarry_conn *conn)
{
    if (conn->stop_status)
        return 1;
    if (atomic_load(&conn->cancel_requested))
        conn->stop_status = QUARRY_ERR_CANCELLED;
    else if (conn->ctx && sqlite_host_->ctx_expired(conn->ctx))
        /* Expired with time left means the host cancelled the call. */
        conn->stop_status = sqlite_host_->ctx_remaining_ms(conn->ctx) > 0 ? QUARRY_ERR_CANCELLED
                                                                          : QUARRY_ERR_TIMEOUT;
    return conn->stop_status != 0;
}

int sqlite_stopped_status_(struct quarry_conn *conn, const char *what, struct quarry_error *err)
{
    if (!sqlite_call_stopped_(conn))
        conn->stop_status = QUARRY_ERR_CANCELLED; /* an interrupt nobody here asked for */
    if (conn->stop_status == QUARRY_ERR_TIMEOUT)
        return sqlite_host_->error_set(err, QUARRY_ERR_TIMEOUT, "", SQLITE_INTERRUPT,
                                       "%s stopped: the deadline passed", what);
    return sqlite_host_->error_set(err, QUARRY_ERR_CANCELLED, "", SQLITE_INTERRUPT, "%s cancelled",
                                   what);
}

int sqlite_fail_(struct quarry_conn *conn, int rc, const char *what, struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    /* The authorizer refused something (sqlite reports a refused function as SQLITE_ERROR). */
    if (conn->denied[0])
        return h->error_set(err, QUARRY_ERR_READONLY, "", rc,
                            "%s refused: %s is not allowed, the sqlite driver runs "
                            "read-only statements only",
                            what, conn->denied);
    switch (rc & 0xff) {
    case SQLITE_INTERRUPT:
        return sqlite_stopped_status_(conn, what, err);
    case SQLITE_READONLY:
        return h->error_set(err, QUARRY_ERR_READONLY, "", rc, "%s refused: %s", what,
                            sqlite3_errmsg(conn->db));
    case SQLITE_NOMEM:
        return h->error_set(err, QUARRY_ERR_NOMEM, "", rc, "%s: out of memory", what);
    }
    return h->error_set(err, QUARRY_ERR_QUERY, "", rc, "%s failed: %s", what,
                        sqlite3_errmsg(conn->db));
}

/* Stops a running statement once the call's deadline passed or it was cancelled. */
static int on_progress(void *arg)
{
    return sqlite_call_stopped_(arg);
}

/* Waits out a writer's lock, within both the busy limit and the call's deadline. */
static int on_busy(void *arg, int count)
{
    struct quarry_conn *conn = arg;
    if ((int64_t)count * BUSY_SLEEP_MS >= BUSY_DEFAULT_MS || sqlite_call_stopped_(conn))
        return 0;
    sqlite3_sleep(BUSY_SLEEP_MS);
    return 1;
}

/* Pragmas that take an argument and only read (names of tables, indexes, counts). */
static int pragma_reads(const char *name)
{
    static const char *const reading[] = {
        "table_info",  "table_xinfo",      "table_list",        "index_list",      "index_info",
        "index_xinfo", "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
        NULL};
    for (size_t i = 0; name && reading[i]; i++)
        if (strcasecmp(name, reading[i]) == 0)
            return 1;
    return 0;
}

/* Argument-less pragmas that act rather than report. */
static int pragma_acts(const char *name)
{
    static const char *const acting[] = {"optimize", "wal_checkpoint", "incremental_vacuum", NULL};
    for (size_t i = 0; name && acting[i]; i++)
        if (strcasecmp(name, acting[i]) == 0)
            return 1;
    return 0;
}

static const char *action_name(int action)
{
    switch (action) {
    case SQLITE_INSERT:
        return "INSERT";
    case SQLITE_UPDATE:
        return "UPDATE";
    case SQLITE_DELETE:
        return "DELETE";
    case SQLITE_ATTACH:
        return "ATTACH";
    case SQLITE_DETACH:
        return "DETACH";
    case SQLITE_TRANSACTION:
        return "transaction control";
    case SQLITE_SAVEPOINT:
        return "SAVEPOINT";
    case SQLITE_ALTER_TABLE:
        return "ALTER TABLE";
    case SQLITE_REINDEX:
        return "REINDEX";
    case SQLITE_ANALYZE:
        return "ANALYZE";
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_VTABLE:
        return "DROP";
    default:
        return "CREATE"; /* the remaining codes create schema objects */
    }
}

/* Names the first refused action of a statement, for the error message. */
static void deny(struct quarry_conn *conn, int action, const char *table)
{
    int dml = action == SQLITE_INSERT || action == SQLITE_UPDATE || action == SQLITE_DELETE;
    if (conn->denied[0])
        return;
    /* CREATE and DROP first ask to change the schema table itself. */
    if (dml && table && strstr(table, "sqlite_") == table && strstr(table, "master"))
        snprintf(conn->denied, sizeof(conn->denied), "changing the schema");
    else if (dml && table)
        snprintf(conn->denied, sizeof(conn->denied), "%s on \"%.40s\"", action_name(action), table);
    else
        snprintf(conn->denied, sizeof(conn->denied), "%s", action_name(action));
}

/* Allows reading only; records what it refused for the error message. */
static int on_authorize(void *arg, int action, const char *a1, const char *a2, const char *dbname,
                        const char *trigger)
{
    struct quarry_conn *conn = arg;
    (void)dbname;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        /* Disabled by configuration too; fts3_tokenizer hands out pointers. */
        if (a2 &&
            (strcasecmp(a2, "load_extension") == 0 || strcasecmp(a2, "fts3_tokenizer") == 0)) {
            if (!conn->denied[0])
                snprintf(conn->denied, sizeof(conn->denied), "the function %.40s()", a2);
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_UPDATE:
        /*
         * sqlite asks this when an eponymous virtual table (pragma_table_info,
         * json_each) declares its columns; nothing is written. A user's UPDATE
         * of the schema table fails before the authorizer runs.
         */
        if (a1 && strcmp(a1, "sqlite_master") == 0 && !trigger)
            return SQLITE_IGNORE;
        break;
    case SQLITE_PRAGMA:
        if (a2 ? pragma_reads(a1) : !pragma_acts(a1))
            return SQLITE_OK;
        if (!conn->denied[0])
            snprintf(conn->denied, sizeof(conn->denied), "PRAGMA %.40s%s", a1 ? a1 : "",
                     a2 ? " with an argument" : "");
        return SQLITE_DENY;
    }
    deny(conn, action, a1);
    return SQLITE_DENY;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/* A clear refusal before sqlite's generic "unable to open database file". */
static int check_file(const char *path, struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return h->error_set(err, QUARRY_ERR_NOT_FOUND, "", errno,
                                "no sqlite database file at %s", path);
        return h->error_set(err, QUARRY_ERR_CONNECT, "", errno, "cannot access %s: %s", path,
                            strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                            "%s is not a regular file, so not a sqlite database", path);
    return QUARRY_OK;
}

/* Session settings: limits, hardening, handlers, query_only, then the authorizer. */
static int configure(struct quarry_conn *conn, struct quarry_error *err)
{
    sqlite3 *db = conn->db;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, SQLITE_VALUE_MAX);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, SQLITE_STATEMENT_MAX);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL);
    sqlite3_busy_handler(db, on_busy, conn);
    sqlite3_progress_handler(db, PROGRESS_OPS, on_progress, conn);
    int rc = sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail_(conn, rc, "setting query_only", err);
    sqlite3_set_authorizer(db, on_authorize, conn);
    return QUARRY_OK;
}

/* Reads the header and schema now, so "file is not a database" surfaces at open. */
static int verify(struct quarry_conn *conn, const char *path, struct quarry_error *err)
{
    int rc = sqlite3_exec(conn->db, "SELECT 1 FROM main.sqlite_schema LIMIT 1", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return QUARRY_OK;
    return sqlite_host_->error_set(err, QUARRY_ERR_CONNECT, "", rc,
                                   "%s is not a usable sqlite database: %s", path,
                                   sqlite3_errmsg(conn->db));
}

static void sqlite_close(struct quarry_conn *conn)
{
    if (!conn)
        return;
    sqlite3_close_v2(conn->db);
    sqlite_host_->free(conn);
}

static int sqlite_open(const struct quarry_open_params *params, struct quarry_conn **out,
                       struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    struct quarry_conn *conn = NULL;
    char *path = NULL;
    int status;

    *out = NULL;
    if (!params)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0, "no open parameters");
    if ((status = sqlite_url_path_(params->url, &path, err)) != QUARRY_OK)
        goto out;
    if ((status = check_file(path, err)) != QUARRY_OK)
        goto out;
    conn = h->alloc(sizeof(*conn));
    if (!conn) {
        status = h->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        goto out;
    }
    memset(conn, 0, sizeof(*conn));
    atomic_init(&conn->cancel_requested, 0);
    /* No SQLITE_OPEN_URI, and the path is absolute: never read as a file: URI. */
    int rc = sqlite3_open_v2(path, &conn->db,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        status = h->error_set(err, QUARRY_ERR_CONNECT, "", rc, "cannot open %s: %s", path,
                              conn->db ? sqlite3_errmsg(conn->db) : sqlite3_errstr(rc));
        goto out;
    }
    if ((status = configure(conn, err)) != QUARRY_OK)
        goto out;
    if ((status = verify(conn, path, err)) != QUARRY_OK)
        goto out;
    *out = conn;
    conn = NULL;
out:
    sqlite_close(conn);
    h->free(path);
    return status;
}

static int sqlite_ping(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                       struct quarry_server_info *info, struct quarry_error *err)
{
    int status = QUARRY_OK;
    sqlite_call_begin_(conn, ctx);
    int rc = sqlite3_exec(conn->db, "SELECT 1 FROM main.sqlite_schema LIMIT 1", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        status = sqlite_fail_(conn, rc, "ping", err);
    else if (info)
        snprintf(info->version, sizeof(info->version), "SQLite %s", sqlite3_libversion());
    sqlite_call_end_(conn);
    return status;
}

/* From another thread: sqlite3_interrupt is made for that; the flag covers a call not yet stepping.
 */
static int sqlite_cancel(struct quarry_conn *conn)
{
    if (!conn)
        return QUARRY_ERR_INVALID;
    atomic_store(&conn->cancel_requested, 1);
    sqlite3_interrupt(conn->db);
    return QUARRY_OK;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */
/* ------------------------------------------------------------------------ */

static const char *const url_schemes[] = {"sqlite", NULL};

static const struct quarry_driver sqlite_driver = {
    .abi_version = QUARRY_ABI_VERSION,
    .struct_size = sizeof(struct quarry_driver),
    .name = SQLITE_DRIVER_NAME,
    .version = QUARRY_SQLITE_DRIVER_VERSION,
    .description = "SQLite 3 database files, opened read-only",
    .url_schemes = url_schemes,
    .capabilities = QUARRY_CAP_SQL | QUARRY_CAP_READONLY_TX | QUARRY_CAP_SAMPLE |
                    QUARRY_CAP_CANCEL | QUARRY_CAP_STATEMENT_TIMEOUT,
    .dialect = "sqlite",
    .identifier_quote = '"',
    .limit_style = QUARRY_LIMIT_LIMIT,
    .open = sqlite_open,
    .close = sqlite_close,
    .ping = sqlite_ping,
    .introspect = sqlite_introspect_,
    .execute = sqlite_execute_,
    .sample = sqlite_sample_,
    .cancel = sqlite_cancel,
};

/* Without a usable host table there is no error_set: write the message directly. */
static const struct quarry_driver *refuse(struct quarry_error *err, const char *why)
{
    if (err && err->struct_size >= offsetof(struct quarry_error, message) + sizeof(err->message)) {
        err->status = QUARRY_ERR_UNSUPPORTED;
        snprintf(err->message, sizeof(err->message), "sqlite driver: %s", why);
    }
    return NULL;
}

QUARRY_DRIVER_ENTRY
{
    if (!host || QUARRY_ABI_MAJOR_OF(host->abi_version) != QUARRY_ABI_MAJOR)
        return refuse(err, "host ABI major version differs from 1");
    if (host->struct_size <
            offsetof(struct quarry_host, ctx_remaining_ms) + sizeof(host->ctx_remaining_ms) ||
        !host->alloc || !host->free || !host->error_set || !host->ctx_expired ||
        !host->ctx_remaining_ms)
        return refuse(err, "host services table lacks functions the driver needs");
    /* cancel() calls sqlite3_interrupt from another thread. */
    if (!sqlite3_threadsafe())
        return refuse(err, "libsqlite3 was built without thread safety");
    sqlite_host_ = host;
    return &sqlite_driver;
}
