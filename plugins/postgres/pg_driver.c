/*
 * The postgres driver: its description for the host, connections (open,
 * ping, close, cancel), and the plumbing every call runs on: waiting for the
 * server within the call's deadline, cancel requests, the read-only
 * transaction, and turning libpq's errors into quarry statuses.
 *
 * The connection is non-blocking and the driver never blocks inside libpq
 * waiting for the server: sends are flushed, and results read once PQisBusy
 * says they are complete, by poll() loops that wake every PG_TICK_MS to look
 * at the deadline and at cancellation. (PQcancel itself blocks while it
 * connects: libpq 15 has no timeout for it.)
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_internal.h"

#ifndef QUARRY_PG_DRIVER_VERSION
#define QUARRY_PG_DRIVER_VERSION "0.0.0"
#endif

/* Longest sleep between two looks at the deadline and at cancel requests. */
#define PG_TICK_MS 50

const struct quarry_host *pg_host_;
locale_t pg_c_locale_;

int64_t pg_now_ms_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/* ------------------------------------------------------------------------ */

static int is_sqlstate_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

/*
 * libpq's error text as one line: LOCATION lines dropped, newlines folded.
 * With verbose errors (set while connecting, the only way to learn the
 * SQLSTATE of a refused connection) a line reads "FATAL:  28P01: message";
 * the code moves to `sqlstate` (when not NULL) and leaves the text.
 */
static void clean_message(const char *in, char *out, size_t outsz, char *sqlstate)
{
    size_t o = 0;
    if (sqlstate)
        sqlstate[0] = '\0';
    for (const char *line = in ? in : ""; *line && o + 1 < outsz;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (strncmp(line, "LOCATION:", 9) != 0 && len > 0) {
            if (o > 0 && o + 1 < outsz)
                out[o++] = ' ';
            for (size_t i = 0; i < len && o + 1 < outsz; i++) {
                /* ":  XXXXX: " after the severity word: take the code out. */
                if (sqlstate && !sqlstate[0] && i + 10 <= len && line[i] == ':' &&
                    line[i + 1] == ' ' && line[i + 2] == ' ' && line[i + 8] == ':' &&
                    line[i + 9] == ' ' && is_sqlstate_char(line[i + 3]) &&
                    is_sqlstate_char(line[i + 4]) && is_sqlstate_char(line[i + 5]) &&
                    is_sqlstate_char(line[i + 6]) && is_sqlstate_char(line[i + 7])) {
                    memcpy(sqlstate, line + i + 3, 5);
                    sqlstate[5] = '\0';
                    out[o++] = ':';
                    if (o + 1 < outsz)
                        out[o++] = ' ';
                    i += 9;
                    continue;
                }
                out[o++] = line[i] == '\t' ? ' ' : line[i];
            }
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

int pg_conn_error_(struct quarry_conn *conn, const char *what, struct quarry_error *err)
{
    char msg[QUARRY_ERROR_MESSAGE_MAX];
    clean_message(PQerrorMessage(conn->pg), msg, sizeof(msg), NULL);
    if (PQstatus(conn->pg) == CONNECTION_BAD) {
        conn->broken = 1;
        return pg_host_->error_set(err, QUARRY_ERR_CONNECT, "", 0, "%s: connection lost: %s", what,
                                   msg[0] ? msg : "no details");
    }
    return pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0, "%s: %s", what,
                               msg[0] ? msg : "libpq failed without a message");
}

int pg_stopped_status_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *what,
                       struct quarry_error *err)
{
    int status = QUARRY_ERR_TIMEOUT;
    if (conn->cancel_reason == PG_CANCEL_CANCELLED || atomic_load(&conn->cancel_requested))
        status = QUARRY_ERR_CANCELLED;
    else if (conn->cancel_reason != PG_CANCEL_TIMEOUT && ctx && pg_host_->ctx_expired(ctx) &&
             pg_host_->ctx_remaining_ms(ctx) > 0)
        status = QUARRY_ERR_CANCELLED; /* expired with time left: the host cancelled */
    if (status == QUARRY_ERR_TIMEOUT)
        return pg_host_->error_set(err, status, "57014", 0, "%s stopped: the deadline passed",
                                   what);
    return pg_host_->error_set(err, status, "57014", 0, "%s cancelled", what);
}

/* The quarry status for a SQLSTATE the server sent. */
static int status_of_sqlstate(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                              const char *state)
{
    if (strcmp(state, "25006") == 0)
        return QUARRY_ERR_READONLY;
    if (strcmp(state, "57014") == 0) {
        /* Ours (deadline, cancel), the server's statement_timeout, or a DBA's cancel. */
        if (conn->cancel_reason == PG_CANCEL_CANCELLED || atomic_load(&conn->cancel_requested))
            return QUARRY_ERR_CANCELLED;
        if (conn->cancel_reason == PG_CANCEL_TIMEOUT)
            return QUARRY_ERR_TIMEOUT;
        if (ctx && pg_host_->ctx_expired(ctx) && pg_host_->ctx_remaining_ms(ctx) > 0)
            return QUARRY_ERR_CANCELLED;
        return ctx && ctx->deadline_ms ? QUARRY_ERR_TIMEOUT : QUARRY_ERR_CANCELLED;
    }
    if (strncmp(state, "28", 2) == 0)
        return QUARRY_ERR_AUTH;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return QUARRY_ERR_CONNECT;
    if (strcmp(state, "53200") == 0)
        return QUARRY_ERR_NOMEM;
    return QUARRY_ERR_QUERY;
}

int pg_result_error_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const PGresult *res,
                     struct quarry_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    char msg[QUARRY_ERROR_MESSAGE_MAX];
    if (!state || !primary) {
        /* Made by libpq itself (connection lost, out of memory): no fields. */
        clean_message(PQresultErrorMessage(res), msg, sizeof(msg), NULL);
        if (PQstatus(conn->pg) == CONNECTION_BAD) {
            conn->broken = 1;
            return pg_host_->error_set(err, QUARRY_ERR_CONNECT, "", 0, "connection lost: %s", msg);
        }
        return pg_host_->error_set(err, QUARRY_ERR_QUERY, state ? state : "", 0, "%s", msg);
    }
    snprintf(msg, sizeof(msg), "%s%s%s%s%s%s", primary, detail ? " (" : "", detail ? detail : "",
             detail ? ")" : "", hint ? "; hint: " : "", hint ? hint : "");
    int status = status_of_sqlstate(conn, ctx, state);
    if (status == QUARRY_ERR_CONNECT)
        conn->broken = 1;
    return pg_host_->error_set(err, status, state, 0, "%s", msg);
}

/* Server notices (a ROLLBACK with nothing to roll back, RAISE NOTICE) go to the debug log. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    char msg[256];
    clean_message(message, msg, sizeof(msg), NULL);
    pg_host_->log(QUARRY_LOG_DEBUG, PG_DRIVER_NAME, "server notice: %s", msg);
}

/* ------------------------------------------------------------------------ */
/* Waiting and cancelling                                                   */
/* ------------------------------------------------------------------------ */

void pg_cancel_send_(struct quarry_conn *conn, int reason)
{
    if (conn->cancel_reason != PG_CANCEL_NONE)
        return;
    char buf[256];
    conn->cancel_reason = reason;
    conn->cancel_sent_ms = pg_now_ms_();
    /* A failed request only means the statement runs on; the grace period covers it. */
    if (!PQcancel(conn->cancel, buf, (int)sizeof(buf)))
        pg_host_->log(QUARRY_LOG_WARN, PG_DRIVER_NAME, "cancel request failed: %s", buf);
}

/* Why the running statement should be cancelled now, or PG_CANCEL_NONE. */
int pg_cancel_reason_now_(struct quarry_conn *conn, const struct quarry_ctx *ctx, int stopping)
{
    if (atomic_load(&conn->cancel_requested))
        return PG_CANCEL_CANCELLED;
    if (ctx && pg_host_->ctx_expired(ctx))
        return pg_host_->ctx_remaining_ms(ctx) > 0 ? PG_CANCEL_CANCELLED : PG_CANCEL_TIMEOUT;
    return stopping ? PG_CANCEL_STOP : PG_CANCEL_NONE;
}

int pg_wait_step_(struct quarry_conn *conn, const struct quarry_ctx *ctx, int stopping,
                  int64_t hard_deadline_ms, struct quarry_error *err)
{
    int reason = pg_cancel_reason_now_(conn, ctx, stopping);
    if (reason != PG_CANCEL_NONE)
        pg_cancel_send_(conn, reason);
    int64_t now = pg_now_ms_();
    int64_t limit = hard_deadline_ms;
    if (conn->cancel_reason != PG_CANCEL_NONE &&
        (limit == 0 || conn->cancel_sent_ms + PG_CANCEL_GRACE_MS < limit))
        limit = conn->cancel_sent_ms + PG_CANCEL_GRACE_MS;
    if (limit != 0 && now >= limit) {
        /* The server did not answer: its protocol state is unknown from here on. */
        conn->broken = 1;
        if (conn->cancel_reason == PG_CANCEL_NONE || conn->cancel_reason == PG_CANCEL_STOP)
            return pg_host_->error_set(err, QUARRY_ERR_TIMEOUT, "", 0,
                                       "the server did not answer in time; connection "
                                       "abandoned");
        return pg_stopped_status_(conn, ctx, "statement (server unresponsive)", err);
    }
    int wait = PG_TICK_MS;
    if (limit != 0 && limit - now < wait)
        wait = (int)(limit - now);
    struct pollfd pfd = {.fd = PQsocket(conn->pg), .events = POLLIN};
    if (pfd.fd < 0)
        return pg_conn_error_(conn, "waiting for the server", err);
    if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
        return pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", errno, "poll: %s",
                                   strerror(errno));
    if (!PQconsumeInput(conn->pg))
        return pg_conn_error_(conn, "reading from the server", err);
    return QUARRY_OK;
}

int pg_wait_(struct quarry_conn *conn, const struct quarry_ctx *ctx, int stopping,
             int64_t hard_deadline_ms, struct quarry_error *err)
{
    while (PQisBusy(conn->pg)) {
        int rc = pg_wait_step_(conn, ctx, stopping, hard_deadline_ms, err);
        if (rc != QUARRY_OK)
            return rc;
    }
    return QUARRY_OK;
}

int pg_send_flush_(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct quarry_error *err)
{
    for (;;) {
        int rc = PQflush(conn->pg);
        if (rc == 0)
            return QUARRY_OK;
        if (rc < 0)
            return pg_conn_error_(conn, "sending to the server", err);
        /* Half a message is on the wire: no cancel can help, only leaving the connection. */
        if (pg_cancel_reason_now_(conn, ctx, 0) != PG_CANCEL_NONE) {
            conn->broken = 1;
            return pg_stopped_status_(conn, ctx, "sending the statement", err);
        }
        struct pollfd pfd = {.fd = PQsocket(conn->pg), .events = POLLIN | POLLOUT};
        if (pfd.fd < 0)
            return pg_conn_error_(conn, "sending to the server", err);
        if (poll(&pfd, 1, PG_TICK_MS) < 0 && errno != EINTR)
            return pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", errno, "poll: %s",
                                       strerror(errno));
        /* libpq's rule for non-blocking sends: read what the server says meanwhile. */
        if ((pfd.revents & POLLIN) && !PQconsumeInput(conn->pg))
            return pg_conn_error_(conn, "reading from the server", err);
    }
}

/* Reads a COPY the statement started to its end: the driver does not speak COPY. */
void pg_copy_abandon_(struct quarry_conn *conn, ExecStatusType status)
{
    if (status == PGRES_COPY_IN || status == PGRES_COPY_BOTH) {
        PQputCopyEnd(conn->pg, "COPY is not supported by the quarry driver");
        return;
    }
    int64_t deadline = pg_now_ms_() + PG_CANCEL_GRACE_MS;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(conn->pg, &buf, 1);
        if (buf)
            PQfreemem(buf);
        if (n > 0)
            continue;
        if (n < 0)
            return;
        if (pg_now_ms_() >= deadline) {
            conn->broken = 1;
            return;
        }
        struct pollfd pfd = {.fd = PQsocket(conn->pg), .events = POLLIN};
        if (pfd.fd < 0 || (poll(&pfd, 1, PG_TICK_MS) < 0 && errno != EINTR) ||
            !PQconsumeInput(conn->pg)) {
            conn->broken = 1;
            return;
        }
    }
}

int pg_command_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *sql,
                int64_t hard_deadline_ms, struct quarry_error *err)
{
    if (!PQsendQuery(conn->pg, sql))
        return pg_conn_error_(conn, "sending a command", err);
    int status = pg_send_flush_(conn, ctx, err);
    if (status != QUARRY_OK)
        return status;
    for (;;) {
        int rc = pg_wait_(conn, ctx, 0, hard_deadline_ms, err);
        if (rc != QUARRY_OK)
            return rc;
        PGresult *res = PQgetResult(conn->pg);
        if (!res)
            break;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_FATAL_ERROR) {
            int rc2 = pg_result_error_(conn, ctx, res, err);
            if (status == QUARRY_OK)
                status = rc2;
        } else if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
            pg_copy_abandon_(conn, st);
        }
        PQclear(res);
        if (conn->broken)
            return status != QUARRY_OK ? status : pg_conn_error_(conn, "running a command", err);
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* Calls and transactions                                                   */
/* ------------------------------------------------------------------------ */

int pg_call_begin_(struct quarry_conn *conn, struct quarry_error *err)
{
    if (!conn || !conn->pg)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "no connection");
    if (conn->broken || PQstatus(conn->pg) != CONNECTION_OK) {
        conn->broken = 1;
        return pg_host_->error_set(err, QUARRY_ERR_CONNECT, "", 0,
                                   "the connection was lost or abandoned earlier; reopen it");
    }
    atomic_store(&conn->cancel_requested, 0);
    conn->cancel_reason = PG_CANCEL_NONE;
    conn->cancel_sent_ms = 0;
    switch (PQtransactionStatus(conn->pg)) {
    case PQTRANS_IDLE:
        return QUARRY_OK;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        /* A previous call ended without its ROLLBACK (its budget ran out). */
        return pg_command_(conn, NULL, "ROLLBACK", pg_now_ms_() + PG_ROLLBACK_BUDGET_MS, err);
    default:
        conn->broken = 1;
        return pg_host_->error_set(err, QUARRY_ERR_CONNECT, "", 0,
                                   "the connection is busy with an abandoned statement; "
                                   "reopen it");
    }
}

int pg_tx_begin_(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct quarry_error *err)
{
    if (ctx && pg_host_->ctx_expired(ctx))
        return pg_stopped_status_(conn, ctx, "the call", err);
    int32_t left = ctx ? pg_host_->ctx_remaining_ms(ctx) : INT32_MAX;
    char timeout[64] = "";
    if (left < INT32_MAX)
        snprintf(timeout, sizeof(timeout), "; SET LOCAL statement_timeout = %d",
                 left > 0 ? (int)left : 1);
    /*
     * One round trip. The settings make the text the value conversion reads
     * predictable whatever the server's defaults are: ISO dates in UTC,
     * floats that round-trip, bytea in hex.
     */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "BEGIN READ ONLY; SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
             "SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3; "
             "SET LOCAL bytea_output = 'hex'%s",
             timeout);
    return pg_command_(conn, ctx, sql, 0, err);
}

void pg_tx_end_(struct quarry_conn *conn)
{
    /* A user's COMMIT may have ended the transaction already. */
    if (conn->broken || PQtransactionStatus(conn->pg) == PQTRANS_IDLE)
        return;
    /* Its own budget and no ctx: it must run after a deadline or a cancel too. */
    conn->cancel_reason = PG_CANCEL_NONE;
    atomic_store(&conn->cancel_requested, 0);
    struct quarry_error err;
    memset(&err, 0, sizeof(err));
    QUARRY_STRUCT_INIT(&err);
    if (pg_command_(conn, NULL, "ROLLBACK", pg_now_ms_() + PG_ROLLBACK_BUDGET_MS, &err) !=
        QUARRY_OK) {
        conn->broken = 1;
        pg_host_->log(QUARRY_LOG_WARN, PG_DRIVER_NAME, "ROLLBACK failed: %s", err.message);
    }
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/* A refused connection: AUTH when the credentials were, else CONNECT. */
static int connect_failed(PGconn *pg, struct quarry_error *err)
{
    char msg[QUARRY_ERROR_MESSAGE_MAX];
    char state[8];
    clean_message(PQerrorMessage(pg), msg, sizeof(msg), state);
    int status = QUARRY_ERR_CONNECT;
    if (strncmp(state, "28", 2) == 0 || PQconnectionNeedsPassword(pg))
        status = QUARRY_ERR_AUTH;
    return pg_host_->error_set(err, status, state, 0, "%s",
                               msg[0] ? msg : "connection failed without a message");
}

/* Drives PQconnectPoll within `timeout_ms` (libpq's own timeout has 1 s granularity). */
static int connect_wait(PGconn *pg, int timeout_ms, struct quarry_error *err)
{
    int64_t deadline = pg_now_ms_() + timeout_ms;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
        if (st == PGRES_POLLING_OK)
            return QUARRY_OK;
        if (st == PGRES_POLLING_FAILED)
            return connect_failed(pg, err);
        int64_t left = deadline - pg_now_ms_();
        if (left <= 0) {
            const char *host = PQhost(pg);
            return pg_host_->error_set(err, QUARRY_ERR_CONNECT, "", ETIMEDOUT,
                                       "connection to server at \"%s\", port %s timed out "
                                       "after %d ms",
                                       host ? host : "?", PQport(pg) ? PQport(pg) : "?",
                                       timeout_ms);
        }
        struct pollfd pfd = {.fd = PQsocket(pg),
                             .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        if (pfd.fd < 0)
            return connect_failed(pg, err);
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR)
            return pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", errno, "poll: %s",
                                       strerror(errno));
        if (n > 0)
            st = PQconnectPoll(pg);
    }
}

static int pg_open(const struct quarry_open_params *params, struct quarry_conn **out,
                   struct quarry_error *err)
{
    if (!out)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "no output handle");
    *out = NULL;
    struct pg_conninfo ci;
    PGconn *pg = NULL;
    struct quarry_conn *conn = NULL;
    int rc = pg_conninfo_build_(params, &ci, err);
    if (rc != QUARRY_OK)
        goto out;
    pg = PQconnectStartParams(ci.keys, ci.values, 0);
    if (!pg) {
        rc = pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "libpq: out of memory");
        goto out;
    }
    /* Verbose only while connecting: it carries the SQLSTATE of an auth failure. */
    PQsetErrorVerbosity(pg, PQERRORS_VERBOSE);
    if (PQstatus(pg) == CONNECTION_BAD) {
        rc = connect_failed(pg, err);
        goto out;
    }
    int timeout_ms =
        params->connect_timeout_ms > 0 ? params->connect_timeout_ms : PG_CONNECT_TIMEOUT_DEFAULT_MS;
    rc = connect_wait(pg, timeout_ms, err);
    if (rc != QUARRY_OK)
        goto out;
    PQsetErrorVerbosity(pg, PQERRORS_DEFAULT);
    if (PQserverVersion(pg) < PG_MIN_SERVER_VERSION) {
        rc = pg_host_->error_set(err, QUARRY_ERR_UNSUPPORTED, "", PQserverVersion(pg),
                                 "PostgreSQL server %s is too old: the driver needs 10 or later",
                                 PQparameterStatus(pg, "server_version"));
        goto out;
    }
    PQsetNoticeProcessor(pg, on_notice, NULL);
    /* Sends never block past the deadline either (pg_send_flush_). */
    if (PQsetnonblocking(pg, 1) != 0) {
        rc = pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0, "libpq: non-blocking refused");
        goto out;
    }
    conn = pg_host_->alloc(sizeof(*conn));
    if (!conn) {
        rc = pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        goto out;
    }
    memset(conn, 0, sizeof(*conn));
    atomic_init(&conn->cancel_requested, 0);
    conn->cancel = PQgetCancel(pg);
    if (!conn->cancel) {
        rc = pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "libpq: no cancel handle");
        goto out;
    }
    conn->pg = pg;
    pg = NULL;
    *out = conn;
    conn = NULL;
    pg_host_->log(QUARRY_LOG_DEBUG, PG_DRIVER_NAME, "connected to %s:%s, server %s",
                  PQhost((*out)->pg), PQport((*out)->pg),
                  PQparameterStatus((*out)->pg, "server_version"));
out:
    if (conn)
        pg_host_->free(conn);
    if (pg)
        PQfinish(pg);
    pg_conninfo_free_(&ci);
    return rc;
}

static void pg_close(struct quarry_conn *conn)
{
    if (!conn)
        return;
    if (conn->cancel)
        PQfreeCancel(conn->cancel);
    if (conn->pg)
        PQfinish(conn->pg);
    pg_host_->free(conn);
}

/* A ping is a real round trip, within the ctx, that also reports the version. */
static void ping_version(void *userdata, const char *version)
{
    struct quarry_server_info *info = userdata;
    if (info && version)
        snprintf(info->version, sizeof(info->version), "PostgreSQL %s", version);
}

static int pg_ping(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                   struct quarry_server_info *info, struct quarry_error *err)
{
    int rc = pg_call_begin_(conn, err);
    if (rc != QUARRY_OK)
        return rc;
    if (ctx && pg_host_->ctx_expired(ctx))
        return pg_stopped_status_(conn, ctx, "ping", err);
    if (!PQsendQueryParams(conn->pg, "SELECT current_setting('server_version')", 0, NULL, NULL,
                           NULL, NULL, 0))
        return pg_conn_error_(conn, "ping", err);
    if ((rc = pg_send_flush_(conn, ctx, err)) != QUARRY_OK)
        return rc;
    for (;;) {
        int wrc = pg_wait_(conn, ctx, 0, 0, err);
        if (wrc != QUARRY_OK)
            return wrc;
        PGresult *res = PQgetResult(conn->pg);
        if (!res)
            break;
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            ping_version(info, PQgetvalue(res, 0, 0));
        else if (PQresultStatus(res) != PGRES_TUPLES_OK && rc == QUARRY_OK)
            rc = pg_result_error_(conn, ctx, res, err);
        PQclear(res);
    }
    return rc;
}

/* From another thread, while a call runs on `conn`. */
static int pg_cancel(struct quarry_conn *conn)
{
    if (!conn || !conn->cancel)
        return QUARRY_ERR_INVALID;
    atomic_store(&conn->cancel_requested, 1);
    char buf[256];
    /* PGcancel is read-only after PQgetCancel: safe beside the calling thread's use. */
    if (!PQcancel(conn->cancel, buf, (int)sizeof(buf))) {
        pg_host_->log(QUARRY_LOG_WARN, PG_DRIVER_NAME, "cancel request failed: %s", buf);
        return QUARRY_ERR_CONNECT;
    }
    return QUARRY_OK;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */
/* ------------------------------------------------------------------------ */

static const char *const url_schemes[] = {"postgres", "postgresql", NULL};

static const struct quarry_driver pg_driver = {
    .abi_version = QUARRY_ABI_VERSION,
    .struct_size = sizeof(struct quarry_driver),
    .name = PG_DRIVER_NAME,
    .version = QUARRY_PG_DRIVER_VERSION,
    .description = "PostgreSQL 10 and later, through libpq; read-only transactions",
    .url_schemes = url_schemes,
    .capabilities = QUARRY_CAP_SQL | QUARRY_CAP_READONLY_TX | QUARRY_CAP_CANCEL |
                    QUARRY_CAP_SAMPLE | QUARRY_CAP_SCHEMAS | QUARRY_CAP_STATEMENT_TIMEOUT,
    .dialect = "postgresql",
    .identifier_quote = '"',
    .limit_style = QUARRY_LIMIT_LIMIT,
    .open = pg_open,
    .close = pg_close,
    .ping = pg_ping,
    .introspect = pg_introspect_,
    .execute = pg_execute_,
    .sample = pg_sample_,
    .cancel = pg_cancel,
    .scan = pg_scan_,
};

static const struct quarry_driver *refuse(struct quarry_error *err, const char *why)
{
    if (err && err->struct_size >= offsetof(struct quarry_error, message) + sizeof(err->message)) {
        err->status = QUARRY_ERR_UNSUPPORTED;
        snprintf(err->message, sizeof(err->message), "postgres driver: %s", why);
    }
    return NULL;
}

QUARRY_DRIVER_ENTRY
{
    if (!host || QUARRY_ABI_MAJOR_OF(host->abi_version) != QUARRY_ABI_MAJOR)
        return refuse(err, "host ABI major version differs from 1");
    if (host->struct_size <
            offsetof(struct quarry_host, ctx_remaining_ms) + sizeof(host->ctx_remaining_ms) ||
        !host->log || !host->alloc || !host->free || !host->error_set || !host->ctx_expired ||
        !host->ctx_remaining_ms)
        return refuse(err, "host services table lacks functions the driver needs");
    /* cancel() runs on another thread than the call it cancels. */
    if (!PQisthreadsafe())
        return refuse(err, "libpq was built without thread safety");
    if (!pg_c_locale_)
        pg_c_locale_ = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!pg_c_locale_)
        return refuse(err, "cannot create the C locale");
    pg_host_ = host;
    /* libpq would merge that service's settings into every user's connection. */
    if (getenv("PGSERVICE"))
        host->log(QUARRY_LOG_WARN, PG_DRIVER_NAME,
                  "PGSERVICE is set in this process's environment: libpq applies that "
                  "service to every connection; unset it");
    return &pg_driver;
}
