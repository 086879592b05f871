/*
 * Statements: streaming a result in single-row mode (memory stays one row,
 * whatever the result's size), rows into a sink, execute, finding a relation
 * by name, and sample.
 *
 * Read-only is the session's doing, not string inspection: every statement
 * runs inside BEGIN READ ONLY ... ROLLBACK, with a statement_timeout from
 * the ctx's remaining time, and is sent with the extended protocol, which
 * refuses a string holding more than one statement (so "SELECT 1; DELETE
 * ..." never runs at all). A write fails with SQLSTATE 25006, reported as
 * QUARRY_ERR_READONLY.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* ------------------------------------------------------------------------ */
/* Streaming                                                                */
/* ------------------------------------------------------------------------ */

int pg_result_is_our_stop_(const struct quarry_conn *conn, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return conn->cancel_reason == PG_CANCEL_STOP && state && strcmp(state, "57014") == 0;
}

/* One result of the statement; returns the new status. */
static int stream_result(struct quarry_conn *conn, const struct quarry_ctx *ctx, PGresult *res,
                         pg_result_fn fn, void *userdata, int status, int *stopping,
                         struct quarry_error *err)
{
    ExecStatusType st = PQresultStatus(res);
    switch (st) {
    case PGRES_SINGLE_TUPLE:
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        if (!*stopping) {
            int answer = fn(userdata, res, err);
            if (answer < 0) {
                *stopping = 1;
                return err->status != QUARRY_OK ? err->status : QUARRY_ERR_INTERNAL;
            }
            if (answer == QUARRY_SINK_STOP)
                *stopping = 1;
        }
        return status;
    case PGRES_FATAL_ERROR:
        /* The cancel that ended a statement we stopped reading is no error. */
        if (status != QUARRY_OK || (*stopping && pg_result_is_our_stop_(conn, res)))
            return status;
        return pg_result_error_(conn, ctx, res, err);
    case PGRES_EMPTY_QUERY:
        return status != QUARRY_OK
                   ? status
                   : pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "empty statement");
    case PGRES_COPY_OUT:
    case PGRES_COPY_IN:
    case PGRES_COPY_BOTH:
        pg_copy_abandon_(conn, st);
        return status != QUARRY_OK ? status
                                   : pg_host_->error_set(err, QUARRY_ERR_UNSUPPORTED, "", 0,
                                                         "COPY is not supported; use SELECT");
    default:
        return status != QUARRY_OK ? status
                                   : pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0,
                                                         "unexpected result: %s", PQresStatus(st));
    }
}

int pg_stream_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *sql, int nparams,
               const char *const *params, pg_result_fn fn, void *userdata, struct quarry_error *err)
{
    if (!PQsendQueryParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0))
        return pg_conn_error_(conn, "sending the statement", err);
    /* Single-row mode must come before anything else touches the connection. */
    int stopping = 0;
    int status = QUARRY_OK;
    if (!PQsetSingleRowMode(conn->pg)) {
        status =
            pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0, "libpq refused single-row mode");
        stopping = 1;
    }
    int rc = pg_send_flush_(conn, ctx, err);
    if (rc != QUARRY_OK)
        return status != QUARRY_OK ? status : rc;
    for (unsigned long n = 1;; n++) {
        /* Rows that arrive without waiting never reach pg_wait_'s checks. */
        if (!stopping && n % PG_CHECK_EVERY == 0) {
            int reason = pg_cancel_reason_now_(conn, ctx, 0);
            if (reason != PG_CANCEL_NONE) {
                pg_cancel_send_(conn, reason);
                status = pg_stopped_status_(conn, ctx, "statement", err);
                stopping = 1;
            }
        }
        rc = pg_wait_(conn, ctx, stopping, 0, err);
        if (rc != QUARRY_OK)
            return status != QUARRY_OK ? status : rc;
        PGresult *res = PQgetResult(conn->pg);
        if (!res)
            break;
        status = stream_result(conn, ctx, res, fn, userdata, status, &stopping, err);
        PQclear(res);
        if (conn->broken)
            return status != QUARRY_OK ? status : pg_conn_error_(conn, "reading the result", err);
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* Rows into a quarry_row_sink                                              */
/* ------------------------------------------------------------------------ */

void pg_rows_free_(struct pg_rows *rs)
{
    for (int i = 0; rs->cells && i < rs->ncols; i++)
        pg_cell_clear_(&rs->cells[i]);
    pg_host_->free(rs->cols);
    pg_host_->free(rs->types);
    pg_host_->free(rs->vals);
    pg_host_->free(rs->cells);
    rs->cols = NULL;
    rs->types = NULL;
    rs->vals = NULL;
    rs->cells = NULL;
}

int pg_rows_begin_(struct pg_rows *rs, const PGresult *res, struct quarry_error *err)
{
    int n = PQnfields(res);
    size_t slots = n > 0 ? (size_t)n : 1;
    rs->begun = 1;
    rs->cols = pg_host_->alloc(slots * sizeof(*rs->cols));
    rs->types = pg_host_->alloc(slots * sizeof(*rs->types));
    rs->vals = pg_host_->alloc(slots * sizeof(*rs->vals));
    rs->cells = pg_host_->alloc(slots * sizeof(*rs->cells));
    if (!rs->cols || !rs->types || !rs->vals || !rs->cells) {
        pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        return -1;
    }
    memset(rs->cols, 0, slots * sizeof(*rs->cols));
    memset(rs->cells, 0, slots * sizeof(*rs->cells));
    rs->ncols = n;
    for (int i = 0; i < n; i++) {
        rs->types[i] = PQftype(res, i);
        QUARRY_STRUCT_INIT(&rs->cols[i]);
        rs->cols[i].name = PQfname(res, i);
        rs->cols[i].type = pg_value_type_(rs->types[i]);
        rs->cols[i].decl_type = pg_type_name_(rs->types[i]);
    }
    int answer = rs->sink->begin ? rs->sink->begin(rs->sink->userdata, rs->cols, (size_t)n)
                                 : QUARRY_SINK_CONTINUE;
    if (answer == QUARRY_SINK_STOP)
        rs->stopped = 1;
    return answer;
}

int pg_rows_deliver_(struct pg_rows *rs)
{
    int answer = rs->sink->row ? rs->sink->row(rs->sink->userdata, rs->vals, (size_t)rs->ncols)
                               : QUARRY_SINK_CONTINUE;
    rs->rows++;
    if (answer == QUARRY_SINK_STOP || (rs->limit && rs->rows >= rs->limit)) {
        rs->stopped = 1;
        return QUARRY_SINK_STOP;
    }
    return QUARRY_SINK_CONTINUE;
}

int pg_rows_result_(void *userdata, const PGresult *res, struct quarry_error *err)
{
    struct pg_rows *rs = userdata;
    if (!rs->begun) {
        int answer = pg_rows_begin_(rs, res, err);
        if (answer != QUARRY_SINK_CONTINUE)
            return answer;
    }
    if (PQntuples(res) == 0)
        return QUARRY_SINK_CONTINUE;
    if (rs->limit && rs->rows >= rs->limit) {
        rs->stopped = 1;
        return QUARRY_SINK_STOP;
    }
    for (int i = 0; i < rs->ncols && i < PQnfields(res); i++) {
        if (PQgetisnull(res, 0, i)) {
            memset(&rs->vals[i], 0, sizeof(rs->vals[i]));
            rs->vals[i].type = QUARRY_VALUE_NULL;
            continue;
        }
        if (pg_value_convert_(rs->types[i], PQgetvalue(res, 0, i), (size_t)PQgetlength(res, 0, i),
                              &rs->cells[i], &rs->vals[i]) != QUARRY_OK) {
            pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory decoding bytea");
            return -1;
        }
    }
    return pg_rows_deliver_(rs);
}

/*
 * One statement inside the call's read-only transaction, rows into `sink`.
 * The sink's end() comes once the result is complete, before the ROLLBACK.
 */
static int run_rows(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *sql,
                    int nparams, const char *const *params, uint64_t limit,
                    const struct quarry_row_sink *sink, struct quarry_error *err)
{
    struct pg_rows rs = {.sink = sink, .limit = limit};
    int rc = pg_stream_(conn, ctx, sql, nparams, params, pg_rows_result_, &rs, err);
    if (rc == QUARRY_OK && rs.begun && sink->end)
        sink->end(sink->userdata);
    pg_rows_free_(&rs);
    return rc;
}

static uint64_t ctx_row_limit(const struct quarry_ctx *ctx)
{
    return ctx ? ctx->row_limit : 0;
}

int pg_execute_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                const struct quarry_row_sink *sink, struct quarry_error *err)
{
    if (!statement || !sink)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "no statement or sink");
    if (strlen(statement) > PG_STATEMENT_MAX)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "statement longer than %d bytes",
                                   PG_STATEMENT_MAX);
    int rc = pg_call_begin_(conn, err);
    if (rc != QUARRY_OK)
        return rc;
    rc = pg_tx_begin_(conn, ctx, err);
    if (rc == QUARRY_OK)
        rc = run_rows(conn, ctx, statement, 0, NULL, ctx_row_limit(ctx), sink, err);
    pg_tx_end_(conn);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Relations by name                                                        */
/* ------------------------------------------------------------------------ */

int pg_table_args_check_(const char *schema, const char *table, const struct quarry_row_sink *sink,
                         struct quarry_error *err)
{
    if (!table || !*table || !sink)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "no table or sink");
    if (strlen(table) > PG_NAME_MAX || (schema && strlen(schema) > PG_NAME_MAX))
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "name too long");
    return QUARRY_OK;
}

static char *dup_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = pg_host_->alloc(len);
    if (copy)
        memcpy(copy, s, len);
    return copy;
}

static int relation_result(void *userdata, const PGresult *res, struct quarry_error *err)
{
    struct pg_relation *rel = userdata;
    if (PQntuples(res) == 0 || rel->found)
        return QUARRY_SINK_CONTINUE;
    rel->found = 1;
    rel->schema = dup_string(PQgetvalue(res, 0, 0));
    rel->name = dup_string(PQgetvalue(res, 0, 1));
    rel->kind = PQgetvalue(res, 0, 2)[0];
    rel->tuples = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    rel->pages = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    if (!rel->schema || !rel->name) {
        pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        return -1;
    }
    return QUARRY_SINK_CONTINUE;
}

/* Without a schema, the table is found the way a query would: through search_path. */
static const char relation_sql[] =
    "SELECT n.nspname, c.relname, c.relkind::text, c.reltuples::int8, c.relpages::int8 "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND c.relname = $2::name "
    "AND CASE WHEN $1::text IS NULL THEN c.oid = "
    "pg_catalog.to_regclass(pg_catalog.quote_ident($2)) "
    "ELSE n.nspname = $1::name END";

int pg_relation_find_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                      const char *table, struct pg_relation *rel, struct quarry_error *err)
{
    const char *params[2] = {schema && *schema ? schema : NULL, table};
    memset(rel, 0, sizeof(*rel));
    int rc = pg_stream_(conn, ctx, relation_sql, 2, params, relation_result, rel, err);
    if (rc != QUARRY_OK || rel->found)
        return rc;
    return pg_host_->error_set(err, QUARRY_ERR_NOT_FOUND, "42P01", 0,
                               "no table or view \"%.64s%s%.64s\"", params[0] ? params[0] : "",
                               params[0] ? "\".\"" : "", table);
}

void pg_relation_clear_(struct pg_relation *rel)
{
    pg_host_->free(rel->schema);
    pg_host_->free(rel->name);
    rel->schema = NULL;
    rel->name = NULL;
}

char *pg_relation_quoted_(struct quarry_conn *conn, const struct pg_relation *rel)
{
    char *schema = PQescapeIdentifier(conn->pg, rel->schema, strlen(rel->schema));
    char *table = PQescapeIdentifier(conn->pg, rel->name, strlen(rel->name));
    char *out = NULL;
    if (schema && table) {
        size_t cap = strlen(schema) + strlen(table) + 2;
        out = pg_host_->alloc(cap);
        if (out)
            snprintf(out, cap, "%s.%s", schema, table);
    }
    if (schema)
        PQfreemem(schema);
    if (table)
        PQfreemem(table);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Sample                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * TABLESAMPLE SYSTEM picks whole pages: ask for about 4n + 64 rows and at
 * least 32 pages, so that a short sample is unlikely and the rows spread
 * over many pages, then let random() order that small set. Tables too small
 * for that (or never analyzed, or not plain tables) take a plain LIMIT,
 * which stops after n rows and never scans the whole table either.
 */
static char *sample_sql(struct quarry_conn *conn, const struct pg_relation *rel, uint64_t limit)
{
    char *name = pg_relation_quoted_(conn, rel);
    char *sql = NULL;
    if (!name)
        goto out;
    size_t cap = strlen(name) + 256;
    sql = pg_host_->alloc(cap);
    if (!sql)
        goto out;
    double fraction = 1.0;
    if ((rel->kind == 'r' || rel->kind == 'm') && rel->tuples > 0 && rel->pages > 0) {
        double by_rows = (4.0 * (double)limit + 64.0) / (double)rel->tuples;
        double by_pages = 32.0 / (double)rel->pages;
        fraction = by_rows > by_pages ? by_rows : by_pages;
    }
    if (fraction < 0.5) {
        /* Billionths of a percent, printed as integers: no locale's decimal comma. */
        uint64_t nano = (uint64_t)ceil(fraction * 100.0 * 1e9);
        snprintf(sql, cap,
                 "SELECT * FROM (SELECT * FROM %s TABLESAMPLE SYSTEM (%llu.%09llu)) AS s "
                 "ORDER BY random() LIMIT %llu",
                 name, (unsigned long long)(nano / 1000000000u),
                 (unsigned long long)(nano % 1000000000u), (unsigned long long)limit);
    } else {
        snprintf(sql, cap, "SELECT * FROM %s LIMIT %llu", name, (unsigned long long)limit);
    }
out:
    pg_host_->free(name);
    return sql;
}

static int sample_in_tx(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                        const char *table, uint64_t limit, const struct quarry_row_sink *sink,
                        struct quarry_error *err)
{
    struct pg_relation rel;
    char *sql = NULL;
    int rc = pg_relation_find_(conn, ctx, schema, table, &rel, err);
    if (rc != QUARRY_OK)
        goto out;
    sql = sample_sql(conn, &rel, limit);
    if (!sql) {
        rc = pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        goto out;
    }
    rc = run_rows(conn, ctx, sql, 0, NULL, limit, sink, err);
out:
    pg_host_->free(sql);
    pg_relation_clear_(&rel);
    return rc;
}

int pg_sample_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
               const char *table, uint32_t n, const struct quarry_row_sink *sink,
               struct quarry_error *err)
{
    int rc = pg_table_args_check_(schema, table, sink, err);
    if (rc != QUARRY_OK)
        return rc;
    uint64_t limit = n;
    if (ctx_row_limit(ctx) && ctx_row_limit(ctx) < limit)
        limit = ctx_row_limit(ctx);
    rc = pg_call_begin_(conn, err);
    if (rc != QUARRY_OK)
        return rc;
    rc = pg_tx_begin_(conn, ctx, err);
    if (rc == QUARRY_OK)
        rc = sample_in_tx(conn, ctx, schema, table, limit, sink, err);
    pg_tx_end_(conn);
    return rc;
}
