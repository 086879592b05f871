/*
 * The MySQL/MariaDB driver: entry point, driver table, process and thread
 * lifecycle, and the connection calls (open, close, ping, cancel). It speaks
 * to MySQL and MariaDB servers through libmariadb (MariaDB Connector/C).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mysqld_error.h>

#include "my_internal.h"

#define CANCEL_CONNECT_TIMEOUT_S 5

struct quarry_host my_host;

/* ------------------------------------------------------------------------ */
/* Host services, with stand-ins for what an older host lacks               */
/* ------------------------------------------------------------------------ */

static void fallback_log(int level, const char *driver, const char *fmt, ...)
{
    (void)level, (void)driver, (void)fmt;
}

static int fallback_error_set(struct quarry_error *err, int status, const char *sqlstate,
                              int native_code, const char *fmt, ...)
{
    if (!err || err->status != QUARRY_OK)
        return status;
    err->status = status;
    err->native_code = native_code;
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate ? sqlstate : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int32_t fallback_remaining_ms(const struct quarry_ctx *ctx)
{
    if (!ctx || !ctx->deadline_ms)
        return INT32_MAX;
    int64_t left = ctx->deadline_ms - monotonic_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int32_t)left;
}

static int fallback_expired(const struct quarry_ctx *ctx)
{
    return ctx && ctx->deadline_ms && fallback_remaining_ms(ctx) == 0;
}

/* Copies the host's table into a zeroed one of our size: never read past its end. */
static int host_adopt(const struct quarry_host *host)
{
    if (!host || QUARRY_ABI_MAJOR_OF(host->abi_version) != QUARRY_ABI_MAJOR)
        return -1;
    size_t n = host->struct_size < sizeof(my_host) ? host->struct_size : sizeof(my_host);
    memset(&my_host, 0, sizeof(my_host));
    memcpy(&my_host, host, n);
    if (!my_host.log)
        my_host.log = fallback_log;
    if (!my_host.alloc || !my_host.realloc || !my_host.free) {
        my_host.alloc = malloc;
        my_host.realloc = realloc;
        my_host.free = free;
    }
    if (!my_host.error_set)
        my_host.error_set = fallback_error_set;
    if (!my_host.ctx_expired)
        my_host.ctx_expired = fallback_expired;
    if (!my_host.ctx_remaining_ms)
        my_host.ctx_remaining_ms = fallback_remaining_ms;
    return 0;
}

void *my_alloc(size_t size)
{
    return my_host.alloc(size ? size : 1);
}

void *my_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = my_alloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void my_free(void *ptr)
{
    if (ptr)
        my_host.free(ptr);
}

char *my_strndup(const char *s, size_t len)
{
    char *copy = my_alloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

char *my_strdup(const char *s)
{
    return my_strndup(s, strlen(s));
}

void my_log(int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    my_host.log(level, MY_DRIVER_NAME, "%s", line);
}

int my_fail(struct quarry_error *err, int status, const char *sqlstate, int native_code,
            const char *fmt, ...)
{
    char message[QUARRY_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (!err)
        return status;
    return my_host.error_set(err, status, sqlstate, native_code, "%s", message);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                */
/* ------------------------------------------------------------------------ */

static int library_ready;

static int my_global_init(struct quarry_error *err)
{
    if (library_ready)
        return QUARRY_OK;
    if (mysql_library_init(0, NULL, NULL) != 0)
        return my_fail(err, QUARRY_ERR_INTERNAL, NULL, 0, "mysql_library_init failed");
    library_ready = 1;
    return QUARRY_OK;
}

static void my_global_cleanup(void)
{
    if (library_ready)
        mysql_library_end();
    library_ready = 0;
}

static int my_thread_start(struct quarry_error *err)
{
    if (mysql_thread_init() != 0)
        return my_fail(err, QUARRY_ERR_INTERNAL, NULL, 0, "mysql_thread_init failed");
    return QUARRY_OK;
}

static void my_thread_stop(void)
{
    mysql_thread_end();
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void conn_free(struct quarry_conn *conn)
{
    if (!conn)
        return;
    my_conn_drop(conn);
    my_params_free(&conn->params);
    pthread_mutex_destroy(&conn->lock);
    my_free(conn);
}

static int apply_open_params(struct quarry_conn *conn, const struct quarry_open_params *op,
                             struct quarry_error *err)
{
    if (op->nparams && !op->params)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: parameters missing");
    for (size_t i = 0; i < op->nparams; i++) {
        int rc = my_params_set(&conn->params, op->params[i].key, op->params[i].value, err);
        if (rc != QUARRY_OK)
            return rc;
    }
    /* The host's timeout applies unless the URL or parameters chose one. */
    if (!conn->params.connect_timeout_s && op->connect_timeout_ms > 0)
        conn->params.connect_timeout_s = (unsigned)((op->connect_timeout_ms + 999) / 1000);
    return QUARRY_OK;
}

static int my_open(const struct quarry_open_params *op, struct quarry_conn **out,
                   struct quarry_error *err)
{
    if (!out)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no output handle");
    *out = NULL;
    if (!op)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no open parameters");
    struct quarry_conn *conn = my_calloc(1, sizeof(*conn));
    if (!conn)
        return my_fail(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    pthread_mutex_init(&conn->lock, NULL);
    conn->fd = -1;
    int rc = my_url_parse(op->url, &conn->params, err);
    if (rc == QUARRY_OK)
        rc = apply_open_params(conn, op, err);
    if (rc == QUARRY_OK)
        rc = my_conn_ready(conn, NULL, err);
    if (rc != QUARRY_OK) {
        conn_free(conn);
        return rc;
    }
    my_log(QUARRY_LOG_DEBUG, "connected to %s:%u (%s, TLS %s)",
           conn->params.unix_socket ? conn->params.unix_socket
           : conn->params.host      ? conn->params.host
                                    : "localhost",
           conn->params.port, conn->server_info,
           mysql_get_ssl_cipher(conn->mysql) ? mysql_get_ssl_cipher(conn->mysql) : "off");
    *out = conn;
    return QUARRY_OK;
}

static void my_close(struct quarry_conn *conn)
{
    conn_free(conn);
}

/* "10.11.6-MariaDB-0+deb12u1" -> "MariaDB 10.11.6"; MySQL keeps its full version. */
static void format_version(const struct quarry_conn *conn, char *out, size_t size)
{
    const char *v = conn->server_info;
    if (!conn->is_mariadb) {
        snprintf(out, size, "MySQL %s", v);
        return;
    }
    if (strncmp(v, "5.5.5-", 6) == 0) /* the replication prefix of old MariaDB servers */
        v += 6;
    snprintf(out, size, "MariaDB %.*s", (int)strcspn(v, "-"), v);
}

static int my_ping(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                   struct quarry_server_info *info, struct quarry_error *err)
{
    if (!conn)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no connection");
    int rc = my_conn_start(conn, ctx, 0, err);
    if (rc != QUARRY_OK)
        return rc;
    if (mysql_ping(conn->mysql) != 0)
        return my_conn_error(conn, ctx, MY_CTX_CONNECT, err);
    if (info)
        format_version(conn, info->version, sizeof(info->version));
    return QUARRY_OK;
}

static int my_introspect(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                         const struct quarry_introspect_opts *opts,
                         const struct quarry_catalog_sink *sink, struct quarry_error *err)
{
    if (!conn)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no connection");
    return my_catalog_introspect(conn, ctx, opts, sink, err);
}

static int my_execute(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                      const struct quarry_row_sink *sink, struct quarry_error *err)
{
    if (!conn)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no connection");
    return my_exec_execute(conn, ctx, statement, sink, err);
}

static int my_sample(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                     const char *table, uint32_t n, const struct quarry_row_sink *sink,
                     struct quarry_error *err)
{
    if (!conn)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no connection");
    return my_exec_sample(conn, ctx, schema, table, n, sink, err);
}

/* Unblocks the working thread by shutting its socket; the next call reconnects. */
static int cut_link(struct quarry_conn *conn)
{
    int done = 0;
    pthread_mutex_lock(&conn->lock);
    if (conn->fd >= 0)
        done = shutdown(conn->fd, SHUT_RDWR) == 0;
    pthread_mutex_unlock(&conn->lock);
    return done ? QUARRY_OK : QUARRY_ERR_CONNECT;
}

/*
 * From another thread: `KILL QUERY <id>` over a short second connection with
 * the same credentials (a user may always kill its own statements). When that
 * connection fails (the server is unreachable), the link's socket is shut
 * down instead, so the blocked call returns at once.
 */
static int my_cancel(struct quarry_conn *conn)
{
    if (!conn)
        return QUARRY_ERR_INVALID;
    atomic_store(&conn->cancel_requested, 1);
    unsigned long id = atomic_load(&conn->thread_id);
    if (id == 0)
        return QUARRY_OK; /* no link: nothing runs */
    struct quarry_error local;
    memset(&local, 0, sizeof(local));
    QUARRY_STRUCT_INIT(&local);
    unsigned timeout = conn->params.connect_timeout_s;
    if (!timeout || timeout > CANCEL_CONNECT_TIMEOUT_S)
        timeout = CANCEL_CONNECT_TIMEOUT_S;
    MYSQL *side = my_connect_raw(&conn->params, timeout, 0, &local);
    if (!side) {
        my_log(QUARRY_LOG_WARN, "cancel: no second connection (%s); closing the link",
               local.message);
        return cut_link(conn);
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "KILL QUERY %lu", id);
    int rc = QUARRY_OK;
    if (mysql_real_query(side, sql, (unsigned long)strlen(sql)) != 0 &&
        mysql_errno(side) != ER_NO_SUCH_THREAD) {
        my_log(QUARRY_LOG_WARN, "cancel: %s; closing the link", mysql_error(side));
        rc = cut_link(conn);
    }
    mysql_close(side);
    return rc;
}

/* ------------------------------------------------------------------------ */

static const char *const url_schemes[] = {"mysql", "mariadb", NULL};

static const struct quarry_driver driver = {
    .abi_version = QUARRY_ABI_VERSION,
    .struct_size = sizeof(struct quarry_driver),
    .name = MY_DRIVER_NAME,
    .version = "1.0.0",
    .description = "MySQL and MariaDB servers, through libmariadb (MariaDB Connector/C)",
    .url_schemes = url_schemes,
    .capabilities = QUARRY_CAP_SQL | QUARRY_CAP_READONLY_TX | QUARRY_CAP_CANCEL |
                    QUARRY_CAP_SAMPLE | QUARRY_CAP_SCHEMAS | QUARRY_CAP_STATEMENT_TIMEOUT,
    .dialect = "mysql",
    .identifier_quote = '`',
    .limit_style = QUARRY_LIMIT_LIMIT,
    .global_init = my_global_init,
    .global_cleanup = my_global_cleanup,
    .thread_start = my_thread_start,
    .thread_stop = my_thread_stop,
    .open = my_open,
    .close = my_close,
    .ping = my_ping,
    .introspect = my_introspect,
    .execute = my_execute,
    .sample = my_sample,
    .cancel = my_cancel,
};

QUARRY_DRIVER_ENTRY
{
    if (host_adopt(host) != 0) {
        if (err && err->status == QUARRY_OK) {
            err->status = QUARRY_ERR_UNSUPPORTED;
            snprintf(err->message, sizeof(err->message),
                     "mysql driver: host ABI %u.%u, driver needs major %u",
                     host ? QUARRY_ABI_MAJOR_OF(host->abi_version) : 0,
                     host ? QUARRY_ABI_MINOR_OF(host->abi_version) : 0, QUARRY_ABI_MAJOR);
        }
        return NULL;
    }
    return &driver;
}
