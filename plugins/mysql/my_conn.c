/*
 * Connecting, reconnecting, the per-statement session settings, and the
 * mapping of client/server errors to quarry statuses.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <errmsg.h>
#include <mysqld_error.h>

#include "my_internal.h"

#define CONNECT_TIMEOUT_DEFAULT_S 10
/* A safety net against a peer that went silent; deadlines are enforced by the server. */
#define READ_TIMEOUT_DEFAULT_S 600
#define WRITE_TIMEOUT_DEFAULT_S 60

/* MySQL's code for a SELECT over max_execution_time; MariaDB leaves 3024 unused. */
#ifndef ER_QUERY_TIMEOUT
#define ER_QUERY_TIMEOUT 3024
#endif

int my_status_of(unsigned errnum, int context)
{
    /* A table the user may not read is, for sampling, a table that is not there. */
    if (context == MY_CTX_SAMPLE &&
        (errnum == ER_TABLEACCESS_DENIED_ERROR || errnum == ER_DBACCESS_DENIED_ERROR))
        return QUARRY_ERR_NOT_FOUND;
    switch (errnum) {
    case ER_ACCESS_DENIED_ERROR:             /* 1045 */
    case ER_DBACCESS_DENIED_ERROR:           /* 1044 */
    case ER_HOST_NOT_PRIVILEGED:             /* 1130 */
    case ER_HOST_IS_BLOCKED:                 /* 1129 */
    case ER_ACCESS_DENIED_NO_PASSWORD_ERROR: /* 1698 */
        return QUARRY_ERR_AUTH;
    case CR_CONNECTION_ERROR:     /* 2002 */
    case CR_CONN_HOST_ERROR:      /* 2003 */
    case CR_UNKNOWN_HOST:         /* 2005 */
    case CR_SERVER_GONE_ERROR:    /* 2006 */
    case CR_SERVER_LOST:          /* 2013 */
    case CR_SSL_CONNECTION_ERROR: /* 2026 */
    case CR_SERVER_LOST_EXTENDED: /* 2055 */
    case ER_CON_COUNT_ERROR:      /* 1040 */
    case ER_TOO_MANY_USER_CONNECTIONS:
        return QUARRY_ERR_CONNECT;
    case CR_OUT_OF_MEMORY:
        return QUARRY_ERR_NOMEM;
    case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: /* 1792 */
    case ER_OPTION_PREVENTS_STATEMENT:             /* 1290: the server runs --read-only */
    case ER_READ_ONLY_MODE:                        /* 1836 */
        return QUARRY_ERR_READONLY;
    case ER_STATEMENT_TIMEOUT: /* 1969, MariaDB max_statement_time */
    case ER_QUERY_TIMEOUT:     /* 3024, MySQL max_execution_time */
        return QUARRY_ERR_TIMEOUT;
    case ER_QUERY_INTERRUPTED: /* 1317: KILL QUERY */
        return QUARRY_ERR_CANCELLED;
    case ER_BAD_DB_ERROR:     /* 1049 */
    case ER_NO_SUCH_TABLE:    /* 1146 */
    case ER_BAD_TABLE_ERROR:  /* 1051 */
    case ER_WRONG_TABLE_NAME: /* 1103: a name no table can have */
    case ER_WRONG_DB_NAME:    /* 1102 */
        return context == MY_CTX_QUERY ? QUARRY_ERR_QUERY : QUARRY_ERR_NOT_FOUND;
    default:
        if (context == MY_CTX_CONNECT)
            return errnum >= 2000 && errnum < 3000 ? QUARRY_ERR_CONNECT : QUARRY_ERR_AUTH;
        return QUARRY_ERR_QUERY;
    }
}

/*
 * Client-side errors (2000-2999: server gone, lost, TLS failure, out of
 * sync ...) on an established link leave it unusable; so does the server
 * ending the session.
 */
static int lost_link(unsigned errnum)
{
    return (errnum >= 2000 && errnum < 3000) || errnum == ER_CONNECTION_KILLED ||
           errnum == ER_SERVER_SHUTDOWN;
}

int my_ctx_stopped(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct quarry_error *err)
{
    (void)conn;
    if (ctx && ctx->deadline_ms && my_host.ctx_remaining_ms(ctx) <= 0)
        return my_fail(err, QUARRY_ERR_TIMEOUT, NULL, 0, "mysql: deadline passed");
    return my_fail(err, QUARRY_ERR_CANCELLED, NULL, 0, "mysql: call cancelled");
}

int my_conn_error(struct quarry_conn *conn, const struct quarry_ctx *ctx, int context,
                  struct quarry_error *err)
{
    MYSQL *m = conn->mysql;
    unsigned errnum = m ? mysql_errno(m) : CR_SERVER_GONE_ERROR;
    /* Copied: dropping a lost link below frees the handle they live in. */
    char sqlstate[8], message[QUARRY_ERROR_MESSAGE_MAX];
    snprintf(sqlstate, sizeof(sqlstate), "%.5s", m ? mysql_sqlstate(m) : "HY000");
    snprintf(message, sizeof(message), "%s", m ? mysql_error(m) : "not connected");
    int status = my_status_of(errnum, context);

    /* An interruption is ours: say why it happened rather than how. */
    int ours = errnum == ER_QUERY_INTERRUPTED || lost_link(errnum) || status == QUARRY_ERR_TIMEOUT;
    if (ours && ctx && ctx->deadline_ms && my_host.ctx_remaining_ms(ctx) <= 0)
        status = QUARRY_ERR_TIMEOUT;
    else if (ours && (atomic_load(&conn->cancel_requested) || (ctx && my_host.ctx_expired(ctx))))
        status = QUARRY_ERR_CANCELLED;
    if (lost_link(errnum))
        my_conn_drop(conn);
    int no_state = strcmp(sqlstate, "00000") == 0;
    return my_fail(err, status, no_state ? NULL : sqlstate, (int)errnum, "%s", message);
}

static int set_tls(MYSQL *m, const struct my_params *p, struct quarry_error *err)
{
    int mode = my_params_ssl_mode(p);
    my_bool on = 1, verify = mode >= MY_SSL_VERIFY_CA;
    if (mode == MY_SSL_DISABLED)
        return 0; /* no TLS option set: libmariadb 3.3 then speaks plain text */
    int rc = 0;
    if (p->ssl_ca)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CA, p->ssl_ca);
    if (p->ssl_capath)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CAPATH, p->ssl_capath);
    if (p->ssl_cert)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CERT, p->ssl_cert);
    if (p->ssl_key)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_KEY, p->ssl_key);
    if (p->ssl_cipher)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CIPHER, p->ssl_cipher);
    if (p->ssl_crl)
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CRL, p->ssl_crl);
    if (p->tls_version)
        rc |= mysql_optionsv(m, MARIADB_OPT_TLS_VERSION, p->tls_version);
    if (p->tls_peer_fp)
        rc |= mysql_optionsv(m, MARIADB_OPT_TLS_PEER_FP, p->tls_peer_fp);
    /*
     * ENFORCE only asks for TLS: libmariadb 3.3 still falls back to plain text
     * when the server has none, so REQUIRED and up are checked after connect.
     * VERIFY_SERVER_CERT checks the chain and the host name; VERIFY_CA is
     * therefore as strict as VERIFY_IDENTITY with this library.
     */
    rc |= mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
    rc |= mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    if (rc)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: TLS options refused: %s",
                       mysql_error(m));
    return 0;
}

static int set_options(MYSQL *m, const struct my_params *p, unsigned timeout_s,
                       struct quarry_error *err)
{
    unsigned read_s = p->read_timeout_s ? p->read_timeout_s : READ_TIMEOUT_DEFAULT_S;
    unsigned write_s = p->write_timeout_s ? p->write_timeout_s : WRITE_TIMEOUT_DEFAULT_S;
    unsigned protocol = p->unix_socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    my_bool off = 0;
    int rc = 0;
    rc |= mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    rc |= mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &read_s);
    rc |= mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &write_s);
    rc |= mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* "localhost" means TCP, as in the Python libraries whose URLs users paste. */
    rc |= mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &protocol);
    rc |= mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &off);
    rc |= mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
    rc |= mysql_optionsv(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "quarry");
    if (rc)
        return my_fail(err, QUARRY_ERR_INTERNAL, NULL, 0, "mysql: client options refused: %s",
                       mysql_error(m));
    return set_tls(m, p, err);
}

MYSQL *my_connect_raw(const struct my_params *p, unsigned timeout_s, int with_database,
                      struct quarry_error *err)
{
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        my_fail(err, QUARRY_ERR_NOMEM, NULL, 0, "mysql_init failed");
        return NULL;
    }
    if (set_options(m, p, timeout_s ? timeout_s : CONNECT_TIMEOUT_DEFAULT_S, err) != 0)
        goto fail;
    /* No CLIENT_MULTI_STATEMENTS: the server itself refuses "a; b". */
    if (!mysql_real_connect(m, p->host ? p->host : "localhost", p->user, p->password,
                            with_database ? p->database : NULL, p->port, p->unix_socket, 0)) {
        unsigned errnum = mysql_errno(m);
        my_fail(err, my_status_of(errnum, MY_CTX_CONNECT), mysql_sqlstate(m), (int)errnum, "%s",
                mysql_error(m));
        goto fail;
    }
    if (my_params_ssl_mode(p) >= MY_SSL_REQUIRED && !mysql_get_ssl_cipher(m)) {
        my_fail(err, QUARRY_ERR_CONNECT, NULL, 0,
                "mysql: TLS is required but the server does not offer it");
        goto fail;
    }
    return m;
fail:
    mysql_close(m);
    return NULL;
}

/* The first call of a session: flavour, fixed settings. */
static int session_init(struct quarry_conn *conn, struct quarry_error *err)
{
    const char *info = mysql_get_server_info(conn->mysql);
    snprintf(conn->server_info, sizeof(conn->server_info), "%s", info ? info : "");
    conn->is_mariadb = mariadb_connection(conn->mysql) || strstr(conn->server_info, "MariaDB");
    /* Every session is read-only from the start; each statement asserts it again. */
    return my_conn_command(conn, "SET SESSION TRANSACTION READ ONLY", err);
}

static unsigned connect_budget_s(const struct quarry_conn *conn, const struct quarry_ctx *ctx)
{
    unsigned s =
        conn->params.connect_timeout_s ? conn->params.connect_timeout_s : CONNECT_TIMEOUT_DEFAULT_S;
    if (ctx && ctx->deadline_ms) {
        int32_t left = my_host.ctx_remaining_ms(ctx);
        unsigned left_s = (unsigned)(left / 1000 + 1);
        if (left_s < s)
            s = left_s;
    }
    return s;
}

int my_conn_ready(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct quarry_error *err)
{
    if (conn->mysql)
        return QUARRY_OK;
    if (ctx && my_host.ctx_expired(ctx))
        return my_ctx_stopped(conn, ctx, err);
    MYSQL *m = my_connect_raw(&conn->params, connect_budget_s(conn, ctx), 1, err);
    if (!m)
        return err->status;
    pthread_mutex_lock(&conn->lock);
    conn->mysql = m;
    conn->fd = (int)mysql_get_socket(m);
    pthread_mutex_unlock(&conn->lock);
    atomic_store(&conn->thread_id, mysql_thread_id(m));
    int rc = session_init(conn, err);
    if (rc != QUARRY_OK)
        my_conn_drop(conn);
    return rc;
}

void my_conn_drop(struct quarry_conn *conn)
{
    atomic_store(&conn->thread_id, 0);
    pthread_mutex_lock(&conn->lock);
    MYSQL *m = conn->mysql;
    conn->mysql = NULL;
    conn->fd = -1;
    pthread_mutex_unlock(&conn->lock);
    if (m)
        mysql_close(m);
}

int my_conn_command(struct quarry_conn *conn, const char *sql, struct quarry_error *err)
{
    if (mysql_real_query(conn->mysql, sql, (unsigned long)strlen(sql)) != 0)
        return my_conn_error(conn, NULL, MY_CTX_QUERY, err);
    /* A command that unexpectedly returned rows leaves nothing pending. */
    MYSQL_RES *res = mysql_store_result(conn->mysql);
    if (res)
        mysql_free_result(res);
    return QUARRY_OK;
}

int my_conn_prepare(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                    struct quarry_error *err)
{
    char sql[160];
    int32_t left = ctx ? my_host.ctx_remaining_ms(ctx) : INT32_MAX;
    if (ctx && my_host.ctx_expired(ctx))
        return my_ctx_stopped(conn, ctx, err);
    /*
     * The limit is the time left now; 0 turns it off. A statement also sees
     * what a previous one may have changed (SET tx_read_only=0 ...), so the
     * settings the driver depends on are asserted before each. MySQL's
     * max_execution_time covers SELECT only; other statements there rely on
     * cancel (KILL QUERY) and the checks between rows.
     */
    if (conn->is_mariadb) {
        double s =
            (ctx && ctx->deadline_ms && left != INT32_MAX) ? (left > 0 ? left : 1) / 1000.0 : 0;
        snprintf(sql, sizeof(sql),
                 "SET SESSION tx_read_only=1, time_zone='+00:00', max_statement_time=%.3f", s);
    } else {
        long ms = (ctx && ctx->deadline_ms && left != INT32_MAX) ? (left > 0 ? left : 1) : 0;
        snprintf(sql, sizeof(sql),
                 "SET SESSION transaction_read_only=1, time_zone='+00:00', "
                 "max_execution_time=%ld",
                 ms);
    }
    return my_conn_command(conn, sql, err);
}

/* Copies `from` into `err` (first error wins). */
static int pass_error(const struct quarry_error *from, struct quarry_error *err)
{
    return my_fail(err, from->status, from->sqlstate[0] ? from->sqlstate : NULL, from->native_code,
                   "%s", from->message);
}

int my_conn_start(struct quarry_conn *conn, const struct quarry_ctx *ctx, int readonly_tx,
                  struct quarry_error *err)
{
    atomic_store(&conn->cancel_requested, 0);
    for (int attempt = 0;; attempt++) {
        struct quarry_error local;
        memset(&local, 0, sizeof(local));
        QUARRY_STRUCT_INIT(&local);
        int was_up = conn->mysql != NULL;
        int rc = my_conn_ready(conn, ctx, &local);
        if (rc == QUARRY_OK)
            rc = my_conn_prepare(conn, ctx, &local);
        if (rc == QUARRY_OK && readonly_tx)
            rc = my_conn_command(conn, "START TRANSACTION READ ONLY", &local);
        if (rc == QUARRY_OK)
            return QUARRY_OK;
        /* A pooled link the server closed meanwhile (restart, wait_timeout): retry once. */
        if (attempt == 0 && was_up && !conn->mysql && rc == QUARRY_ERR_CONNECT) {
            my_log(QUARRY_LOG_INFO, "link lost while idle; reconnecting");
            continue;
        }
        return pass_error(&local, err);
    }
}
