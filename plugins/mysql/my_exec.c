/*
 * execute and sample. Each statement runs as
 *
 *   SET SESSION tx_read_only=1, time_zone='+00:00', max_statement_time=<left>
 *   START TRANSACTION READ ONLY
 *   <the statement>                      streamed with mysql_use_result
 *   ROLLBACK
 *
 * The session-level read-only flag matters: MariaDB ends a transaction
 * implicitly before DDL, so START TRANSACTION READ ONLY alone would let
 * CREATE/DROP through; with tx_read_only set, the implicit transaction that
 * follows is read-only too. Multiple statements are refused by the server,
 * since the connection never enables CLIENT_MULTI_STATEMENTS.
 *
 * When the caller stops early (row cap, STOP, deadline), the rest of the
 * result is read and dropped if it is small (up to DRAIN_MAX_ROWS rows or
 * DRAIN_MAX_MS); otherwise the link is closed, which ends the statement on
 * the server, and the next call reconnects. Either way the handle stays
 * usable.
 */
#include <string.h>
#include <time.h>

#include "my_internal.h"

#define DRAIN_MAX_ROWS 10000
#define DRAIN_MAX_MS 200
#define MORE_RESULTS_MAX 64

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void my_result_abandon(struct quarry_conn *conn, MYSQL_RES *res)
{
    int64_t start = now_ms();
    for (unsigned long n = 0; n < DRAIN_MAX_ROWS; n++) {
        if ((n & 255) == 255 && now_ms() - start > DRAIN_MAX_MS)
            break;
        if (!mysql_fetch_row(res)) {
            /* The end, or an error that ended the statement: the link is fine. */
            unsigned errnum = conn->mysql ? mysql_errno(conn->mysql) : 0;
            mysql_free_result(res);
            if (errnum >= 2000 && errnum < 3000) /* the link itself broke */
                my_conn_drop(conn);
            return;
        }
    }
    /* Too much left: closing the link is faster than reading it all. */
    res->handle = NULL; /* keeps mysql_free_result from reading the rest */
    mysql_free_result(res);
    my_conn_drop(conn);
}

/* Reads and drops any further results (a CALL returns several). */
static void skip_more_results(struct quarry_conn *conn)
{
    for (int i = 0; conn->mysql && mysql_more_results(conn->mysql); i++) {
        if (i >= MORE_RESULTS_MAX || mysql_next_result(conn->mysql) != 0) {
            my_conn_drop(conn);
            return;
        }
        MYSQL_RES *res = mysql_use_result(conn->mysql);
        if (res)
            my_result_abandon(conn, res);
    }
}

/* Ends the transaction and undoes a USE the statement may have run. */
static void end_readonly(struct quarry_conn *conn)
{
    struct quarry_error local;
    memset(&local, 0, sizeof(local));
    QUARRY_STRUCT_INIT(&local);
    skip_more_results(conn);
    if (!conn->mysql)
        return;
    if (my_conn_command(conn, "ROLLBACK", &local) != QUARRY_OK) {
        /* A session in an unknown state is not handed to the next caller. */
        my_conn_drop(conn);
        return;
    }
    const char *want = conn->params.database;
    const char *have = conn->mysql->db; /* kept current by session tracking */
    if (want && (!have || strcmp(want, have) != 0) && mysql_select_db(conn->mysql, want) != 0)
        my_conn_drop(conn);
}

static int empty_result(const struct quarry_row_sink *sink)
{
    if (sink->begin)
        sink->begin(sink->userdata, NULL, 0);
    if (sink->end)
        sink->end(sink->userdata);
    return QUARRY_OK;
}

static int stream_rows(struct quarry_conn *conn, const struct quarry_ctx *ctx, MYSQL_RES *res,
                       uint64_t limit, const struct quarry_row_sink *sink, int context,
                       struct quarry_error *err)
{
    struct my_shape shape;
    int rc = my_shape_init(&shape, res, err);
    if (rc != QUARRY_OK) {
        my_result_abandon(conn, res);
        return rc;
    }
    int answer = sink->begin ? sink->begin(sink->userdata, shape.columns, shape.ncolumns)
                             : QUARRY_SINK_CONTINUE;
    uint64_t rows = 0;
    int expired = 0, done = 0;
    while (answer == QUARRY_SINK_CONTINUE && !(limit && rows >= limit)) {
        MYSQL_ROW row = mysql_fetch_row(res);
        if (!row) {
            done = 1;
            break;
        }
        /* Checked after the fetch, so a statement the server timed out reports the server's error.
         */
        if (ctx && my_host.ctx_expired(ctx)) {
            expired = 1;
            break;
        }
        my_shape_fill(&shape, row, mysql_fetch_lengths(res));
        rows++;
        if (sink->row)
            answer = sink->row(sink->userdata, shape.values, shape.ncolumns);
    }
    if (done) {
        /* NULL from fetch_row is the end, or an error that ended the statement. */
        int failed = mysql_errno(conn->mysql) != 0;
        mysql_free_result(res);
        if (failed)
            rc = my_conn_error(conn, ctx, context, err);
    } else {
        my_result_abandon(conn, res);
        if (expired)
            rc = my_ctx_stopped(conn, ctx, err);
    }
    my_shape_free(&shape);
    if (rc == QUARRY_OK && sink->end)
        sink->end(sink->userdata);
    return rc;
}

static int run_statement(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *sql,
                         size_t len, uint64_t limit, const struct quarry_row_sink *sink,
                         int context, struct quarry_error *err)
{
    int rc = my_conn_start(conn, ctx, 1, err);
    if (rc != QUARRY_OK)
        return rc;
    if (mysql_real_query(conn->mysql, sql, (unsigned long)len) != 0) {
        rc = my_conn_error(conn, ctx, context, err);
    } else {
        MYSQL_RES *res = mysql_use_result(conn->mysql);
        if (res)
            rc = stream_rows(conn, ctx, res, limit, sink, context, err);
        else if (mysql_field_count(conn->mysql) != 0)
            rc = my_conn_error(conn, ctx, context, err);
        else
            rc = empty_result(sink); /* a statement without a result set */
    }
    if (conn->mysql)
        end_readonly(conn);
    return rc;
}

static int check_sink(const struct quarry_row_sink *sink, struct quarry_error *err)
{
    if (!sink)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no row sink");
    return QUARRY_OK;
}

int my_exec_execute(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                    const struct quarry_row_sink *sink, struct quarry_error *err)
{
    if (check_sink(sink, err) != QUARRY_OK)
        return err->status;
    if (!statement)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no statement");
    size_t len = strnlen(statement, MY_STATEMENT_MAX + 1);
    if (len > MY_STATEMENT_MAX)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: statement longer than %d bytes",
                       MY_STATEMENT_MAX);
    /* Generated SQL often ends in ";": harmless, but the server would call it a syntax error. */
    while (len > 0 && strchr(" \t\r\n;", statement[len - 1]))
        len--;
    return run_statement(conn, ctx, statement, len, ctx ? ctx->row_limit : 0, sink, MY_CTX_QUERY,
                         err);
}

static int check_identifier(const char *what, const char *name, struct quarry_error *err)
{
    size_t n = strnlen(name, MY_IDENTIFIER_MAX + 1);
    if (n == 0 || n > MY_IDENTIFIER_MAX)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: %s name must be 1-%d bytes", what,
                       MY_IDENTIFIER_MAX);
    return QUARRY_OK;
}

/*
 * A plain "SELECT * ... LIMIT n": InnoDB reads the first n rows of the
 * clustered index and stops, so no full scan happens for tables; a view is
 * evaluated as its definition requires.
 */
int my_exec_sample(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                   const char *table, uint32_t n, const struct quarry_row_sink *sink,
                   struct quarry_error *err)
{
    if (check_sink(sink, err) != QUARRY_OK)
        return err->status;
    if (!table || check_identifier("table", table, err) != QUARRY_OK)
        return table ? err->status : my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no table");
    if (schema && *schema && check_identifier("schema", schema, err) != QUARRY_OK)
        return err->status;
    uint64_t limit = n;
    if (ctx && ctx->row_limit && ctx->row_limit < limit)
        limit = ctx->row_limit;

    struct my_sql sql = {0};
    my_sql_add(&sql, "SELECT * FROM ");
    if (schema && *schema) {
        my_sql_ident(&sql, schema);
        my_sql_add(&sql, ".");
    }
    my_sql_ident(&sql, table);
    my_sql_addf(&sql, " LIMIT %llu", (unsigned long long)limit);
    int rc = sql.failed
                 ? my_fail(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory")
                 : run_statement(conn, ctx, sql.text, sql.len, limit, sink, MY_CTX_SAMPLE, err);
    my_sql_free(&sql);
    return rc;
}
