/*
 * scan: every row of one relation through COPY (SELECT * FROM it) TO STDOUT.
 *
 * Single-row mode makes one PGresult per row (an allocation and a copy of
 * the column descriptors each); COPY hands over one buffer per row, parsed
 * here in place. The columns come first, from SELECT * ... LIMIT 0 in the
 * same read-only transaction: the AccessShareLock it takes holds until the
 * transaction ends, so the COPY that follows returns those very columns, and
 * the values convert exactly as execute's do (COPY's text format is each
 * type's output function, escaped).
 */
#include <stdio.h>
#include <string.h>

#include "pg_internal.h"

/* One COPY being read; once `stopping`, rows are read and dropped until the server ends it. */
struct copy_read {
    struct pg_rows *rows;
    int stopping;
    int status; /* the call's outcome so far */
};

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */
/* ------------------------------------------------------------------------ */

/* One field of a row (NULL text for SQL NULL) into value i. */
static int copy_field(void *userdata, int i, char *text, size_t len)
{
    struct pg_rows *rs = userdata;
    if (!text) {
        memset(&rs->vals[i], 0, sizeof(rs->vals[i]));
        rs->vals[i].type = QUARRY_VALUE_NULL;
        return 0;
    }
    return pg_value_convert_(rs->types[i], text, len, &rs->cells[i], &rs->vals[i]) == QUARRY_OK
               ? 0
               : -1;
}

/*
 * One CopyData message, one row, parsed in libpq's buffer: each field ends
 * up NUL-terminated, as the conversions (strtoll, strtod, PQunescapeBytea)
 * need. Answers enum quarry_sink_answer, or -1 after filling `err`.
 */
static int copy_row(struct pg_rows *rs, char *buf, size_t len, struct quarry_error *err)
{
    if (rs->limit && rs->rows >= rs->limit) {
        rs->stopped = 1;
        return QUARRY_SINK_STOP;
    }
    int nfields = pg_copy_fields_(buf, len, rs->ncols, copy_field, rs);
    if (nfields == PG_COPY_NO_NEWLINE) {
        pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0, "COPY sent a row without its newline");
        return -1;
    }
    if (nfields == PG_COPY_FIELD_FAILED) {
        pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory decoding bytea");
        return -1;
    }
    if (nfields != rs->ncols) {
        pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0,
                            "COPY sent a row of %d fields for %d columns", nfields, rs->ncols);
        return -1;
    }
    return pg_rows_deliver_(rs);
}

/* ------------------------------------------------------------------------ */
/* Reading the COPY                                                         */
/* ------------------------------------------------------------------------ */

/* Stops taking rows: the server is asked to end the statement, the rest is read and dropped. */
static void copy_stop(struct quarry_conn *conn, struct copy_read *cr, int reason)
{
    cr->stopping = 1;
    pg_cancel_send_(conn, reason);
}

/*
 * Every PG_CHECK_EVERY rows: the ctx, and once stopping, a server that goes
 * on streaming past the cancel's grace period. pg_wait_step_ looks at both
 * whenever libpq's buffer runs dry; this covers rows that keep coming
 * without that.
 */
static int copy_check(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct copy_read *cr,
                      struct quarry_error *err)
{
    if (!cr->stopping) {
        int reason = pg_cancel_reason_now_(conn, ctx, 0);
        if (reason != PG_CANCEL_NONE) {
            copy_stop(conn, cr, reason);
            cr->status = pg_stopped_status_(conn, ctx, "COPY", err);
        }
        return QUARRY_OK;
    }
    if (conn->cancel_reason == PG_CANCEL_NONE ||
        pg_now_ms_() < conn->cancel_sent_ms + PG_CANCEL_GRACE_MS)
        return QUARRY_OK;
    conn->broken = 1;
    return pg_host_->error_set(err, QUARRY_ERR_TIMEOUT, "", 0,
                               "the server did not stop the COPY in time; connection abandoned");
}

/* One row of the COPY into the sink, unless stopping. */
static void copy_take(struct quarry_conn *conn, struct copy_read *cr, char *buf, int len,
                      struct quarry_error *err)
{
    if (cr->stopping)
        return;
    int answer = copy_row(cr->rows, buf, (size_t)len, err);
    if (answer < 0) {
        cr->status = err->status != QUARRY_OK ? err->status : QUARRY_ERR_INTERNAL;
        copy_stop(conn, cr, PG_CANCEL_STOP);
    } else if (answer == QUARRY_SINK_STOP) {
        copy_stop(conn, cr, PG_CANCEL_STOP);
    }
}

/*
 * Reads the CopyData messages until the server ends the COPY. Returns
 * QUARRY_OK once it did (the call's outcome is then cr->status), else the
 * error that leaves the connection where it is.
 */
static int copy_data(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct copy_read *cr,
                     struct quarry_error *err)
{
    for (unsigned long n = 1;; n++) {
        char *buf = NULL;
        int len = PQgetCopyData(conn->pg, &buf, 1);
        if (len > 0) {
            copy_take(conn, cr, buf, len, err);
            PQfreemem(buf);
            if (n % PG_CHECK_EVERY == 0) {
                int rc = copy_check(conn, ctx, cr, err);
                if (rc != QUARRY_OK)
                    return rc;
            }
            continue;
        }
        if (buf)
            PQfreemem(buf);
        if (len == -1)
            return QUARRY_OK;
        if (len < -1) {
            /* libpq's protocol state is unknown: nothing more can go over this connection. */
            int rc = pg_conn_error_(conn, "reading the COPY", err);
            conn->broken = 1;
            return rc;
        }
        int rc = pg_wait_step_(conn, ctx, cr->stopping, 0, err);
        if (rc != QUARRY_OK)
            return rc;
        /* The step sent a cancel for the deadline or the host: no more rows go to the sink. */
        if (!cr->stopping && conn->cancel_reason != PG_CANCEL_NONE) {
            cr->stopping = 1;
            cr->status = pg_stopped_status_(conn, ctx, "COPY", err);
        }
    }
}

/* The results after the COPY's data: its command tag, or the error that ended it. */
static int copy_results(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                        struct copy_read *cr, struct quarry_error *err)
{
    for (;;) {
        int rc = pg_wait_(conn, ctx, cr->stopping, 0, err);
        if (rc != QUARRY_OK)
            return rc;
        PGresult *res = PQgetResult(conn->pg);
        if (!res)
            return QUARRY_OK;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_FATAL_ERROR && cr->status == QUARRY_OK &&
            !(cr->stopping && pg_result_is_our_stop_(conn, res)))
            cr->status = pg_result_error_(conn, ctx, res, err);
        else if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
            pg_copy_abandon_(conn, st); /* cannot follow the COPY's end; never leave libpq in one */
        PQclear(res);
        if (conn->broken)
            return cr->status != QUARRY_OK ? cr->status
                                           : pg_conn_error_(conn, "reading the COPY's end", err);
    }
}

/* Sends the COPY and reads it whole into `rows`. */
static int copy_rows(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *sql,
                     struct pg_rows *rows, struct quarry_error *err)
{
    /* Extended protocol: one statement, whatever the names hold. */
    if (!PQsendQueryParams(conn->pg, sql, 0, NULL, NULL, NULL, NULL, 0))
        return pg_conn_error_(conn, "sending the COPY", err);
    int rc = pg_send_flush_(conn, ctx, err);
    if (rc != QUARRY_OK)
        return rc;
    rc = pg_wait_(conn, ctx, 0, 0, err);
    if (rc != QUARRY_OK)
        return rc;
    struct copy_read cr = {.rows = rows, .status = QUARRY_OK};
    PGresult *res = PQgetResult(conn->pg);
    if (!res)
        return pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0, "COPY gave no result");
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COPY_OUT) {
        rc = copy_data(conn, ctx, &cr, err);
    } else if (st == PGRES_FATAL_ERROR) {
        cr.status = pg_result_error_(conn, ctx, res, err);
    } else {
        cr.status = pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0,
                                        "COPY answered %s, not COPY_OUT", PQresStatus(st));
        if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
            pg_copy_abandon_(conn, st);
    }
    PQclear(res);
    if (rc == QUARRY_OK && !conn->broken)
        rc = copy_results(conn, ctx, &cr, err);
    if (cr.status != QUARRY_OK)
        return cr.status;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* scan                                                                     */
/* ------------------------------------------------------------------------ */

/* The two statements scan runs on `name` (quoted): its columns, then its rows. */
static int scan_sql(const char *name, char **columns, char **copy)
{
    size_t cap = strlen(name) + 64;
    *columns = pg_host_->alloc(cap);
    *copy = pg_host_->alloc(cap);
    if (!*columns || !*copy)
        return -1;
    snprintf(*columns, cap, "SELECT * FROM %s LIMIT 0", name);
    snprintf(*copy, cap, "COPY (SELECT * FROM %s) TO STDOUT", name);
    return 0;
}

static int scan_in_tx(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                      const char *table, const struct quarry_row_sink *sink,
                      struct quarry_error *err)
{
    struct pg_relation rel;
    struct pg_rows rows = {.sink = sink, .limit = ctx ? ctx->row_limit : 0};
    char *name = NULL, *columns = NULL, *copy = NULL;
    int rc = pg_relation_find_(conn, ctx, schema, table, &rel, err);
    if (rc != QUARRY_OK)
        goto out;
    name = pg_relation_quoted_(conn, &rel);
    if (!name || scan_sql(name, &columns, &copy) != 0) {
        rc = pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        goto out;
    }
    /* The columns (and the sink's begin) come from the LIMIT 0 result. */
    rc = pg_stream_(conn, ctx, columns, 0, NULL, pg_rows_result_, &rows, err);
    if (rc == QUARRY_OK && !rows.begun)
        rc = pg_host_->error_set(err, QUARRY_ERR_INTERNAL, "", 0, "no columns for the scan");
    if (rc == QUARRY_OK && !rows.stopped)
        rc = copy_rows(conn, ctx, copy, &rows, err);
    if (rc == QUARRY_OK && sink->end)
        sink->end(sink->userdata);
out:
    pg_rows_free_(&rows);
    pg_host_->free(copy);
    pg_host_->free(columns);
    pg_host_->free(name);
    pg_relation_clear_(&rel);
    return rc;
}

int pg_scan_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
             const char *table, const struct quarry_row_sink *sink, struct quarry_error *err)
{
    int rc = pg_table_args_check_(schema, table, sink, err);
    if (rc != QUARRY_OK)
        return rc;
    rc = pg_call_begin_(conn, err);
    if (rc != QUARRY_OK)
        return rc;
    rc = pg_tx_begin_(conn, ctx, err);
    if (rc == QUARRY_OK)
        rc = scan_in_tx(conn, ctx, schema, table, sink, err);
    pg_tx_end_(conn);
    return rc;
}
