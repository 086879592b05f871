/*
 * Private to the postgres driver: the connection, the host's services table,
 * and the functions its files share. Nothing here is exported (the plugin is
 * built with hidden visibility; only quarry_driver_entry is visible).
 */
#ifndef QUARRY_PG_INTERNAL_H
#define QUARRY_PG_INTERNAL_H

#include <locale.h>
#include <stdatomic.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "quarry/driver.h"

#define PG_DRIVER_NAME "postgres"

/* Longest URL and connection_params value accepted from a user. */
#define PG_URL_MAX 8192
#define PG_PARAM_VALUE_MAX 4096
/* Longest statement accepted by execute. */
#define PG_STATEMENT_MAX (1024 * 1024)
/* Connect timeout when the host gives none. */
#define PG_CONNECT_TIMEOUT_DEFAULT_MS 10000
/* How long to wait for the server to end a statement after a cancel request. */
#define PG_CANCEL_GRACE_MS 3000
/* Budget for the ROLLBACK that ends every call, deadline or not. */
#define PG_ROLLBACK_BUDGET_MS 3000
/* Oldest server the catalog queries support (relispartition, WITH ORDINALITY). */
#define PG_MIN_SERVER_VERSION 100000
/* Longest schema or table name accepted by sample and scan (PostgreSQL's own limit is 63 bytes). */
#define PG_NAME_MAX 1024
/* Rows between two looks at the deadline while rows arrive without waiting. */
#define PG_CHECK_EVERY 256

/* The services table from quarry_driver_entry; valid for the process. */
extern const struct quarry_host *pg_host_;
/* The "C" locale, for parsing the server's numbers; made once by the entry. */
extern locale_t pg_c_locale_;

/* Why the calling thread asked the server to cancel the running statement. */
enum pg_cancel_reason {
    PG_CANCEL_NONE = 0,
    PG_CANCEL_STOP,     /* row cap or a sink's STOP: not an error */
    PG_CANCEL_TIMEOUT,  /* the ctx deadline passed */
    PG_CANCEL_CANCELLED /* the host cancelled the ctx, or cancel() was called */
};

struct quarry_conn {
    PGconn *pg;
    /* Made at open; PQcancel on it is safe from another thread. */
    PGcancel *cancel;
    /* Set by cancel() from another thread; cleared when a call starts. */
    atomic_int cancel_requested;
    /* The calling thread's own cancel request for the running statement. */
    int cancel_reason;
    int64_t cancel_sent_ms;
    /* The connection is in an unknown protocol state: every call refuses. */
    int broken;
};

/* CLOCK_MONOTONIC milliseconds. */
int64_t pg_now_ms_(void);

/* ---- pg_url.c ---- */

/* Connection keywords for PQconnectStartParams, NULL-terminated pairs. */
struct pg_conninfo {
    PQconninfoOption *parsed; /* owns the URL's values */
    const char **keys;
    const char **values;
    size_t n, cap;
    char timeout[16];
};

/*
 * Builds the keywords for a user's URL and connection_params: normalizes the
 * scheme (postgres://, postgresql://, postgresql+driver://), refuses what the
 * driver does not allow (unix sockets, service files, unknown params), and
 * adds the driver's own settings. Free with pg_conninfo_free_ (also after a
 * failure). Messages never contain the password.
 */
int pg_conninfo_build_(const struct quarry_open_params *params, struct pg_conninfo *ci,
                       struct quarry_error *err);
void pg_conninfo_free_(struct pg_conninfo *ci);

/* ---- pg_driver.c ---- */

/* Starts a driver call on `conn`: refuses a broken connection, clears cancel state. */
int pg_call_begin_(struct quarry_conn *conn, struct quarry_error *err);

/*
 * Waits until a result can be read without blocking. Sends a cancel request
 * once when `stopping` is set, when the ctx expires or when cancel() was
 * called; gives up (and marks the connection broken) if the server does not
 * answer within PG_CANCEL_GRACE_MS of that, or by `hard_deadline_ms` (0 none).
 */
int pg_wait_(struct quarry_conn *conn, const struct quarry_ctx *ctx, int stopping,
             int64_t hard_deadline_ms, struct quarry_error *err);
/*
 * One step of pg_wait_ without its PQisBusy test, for COPY, where libpq is
 * never busy: the cancel and give-up checks, then a poll of at most
 * PG_TICK_MS and PQconsumeInput.
 */
int pg_wait_step_(struct quarry_conn *conn, const struct quarry_ctx *ctx, int stopping,
                  int64_t hard_deadline_ms, struct quarry_error *err);

/*
 * Flushes what a PQsend* call left buffered (the connection is non-blocking),
 * within the ctx; a deadline mid-send abandons the connection.
 */
int pg_send_flush_(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                   struct quarry_error *err);

/* Sends a cancel request for the running statement, recording why. */
void pg_cancel_send_(struct quarry_conn *conn, int reason);

/* Why the running statement should stop now (enum pg_cancel_reason), given `stopping`. */
int pg_cancel_reason_now_(struct quarry_conn *conn, const struct quarry_ctx *ctx, int stopping);

/* Reads (or refuses) a COPY a statement started, so the protocol moves on. */
void pg_copy_abandon_(struct quarry_conn *conn, ExecStatusType status);

/*
 * The status of a call that stopped on the ctx or a cancel request:
 * TIMEOUT or CANCELLED, with a message naming `what`.
 */
int pg_stopped_status_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *what,
                       struct quarry_error *err);

/* Fills `err` from a failed result (SQLSTATE mapped to a quarry status). */
int pg_result_error_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const PGresult *res,
                     struct quarry_error *err);

/* Fills `err` from the connection's last error (sending failed, connection lost). */
int pg_conn_error_(struct quarry_conn *conn, const char *what, struct quarry_error *err);

/*
 * Runs a simple-protocol command (may be several statements, no rows) and
 * reads every result; the first error wins.
 */
int pg_command_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *sql,
                int64_t hard_deadline_ms, struct quarry_error *err);

/*
 * Opens the call's transaction: READ ONLY, the session settings the value
 * conversion relies on, and a statement_timeout from the ctx's remaining time.
 */
int pg_tx_begin_(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct quarry_error *err);
/*
 * Rolls the call's transaction back (within PG_ROLLBACK_BUDGET_MS, deadline
 * or not). A failure is logged and marks the connection broken (the next
 * call reports it); the call's own outcome stands.
 */
void pg_tx_end_(struct quarry_conn *conn);

/* ---- pg_values.c ---- */

/* The quarry value type a column of PostgreSQL type `oid` carries, and the type's name. */
int pg_value_type_(Oid oid);
const char *pg_type_name_(Oid oid);

/* Room one converted cell needs beside the result (rewritten text, decoded bytes). */
struct pg_cell {
    char text[48];
    unsigned char *bytes; /* from PQunescapeBytea; PQfreemem */
};

/*
 * Converts one text-format field of type `oid` into `out`, which borrows
 * from `text` or `cell` until the next conversion of that cell. A value the
 * type cannot represent exactly (NaN, infinity, BC dates) stays TEXT.
 */
int pg_value_convert_(Oid oid, const char *text, size_t len, struct pg_cell *cell,
                      struct quarry_value *out);
void pg_cell_clear_(struct pg_cell *cell);

/* ---- pg_copy_text.c ---- */

/* Receives field i of a row: NUL-terminated `text` of `len` bytes, or NULL for SQL NULL. 0 or -1.
 */
typedef int (*pg_copy_field_fn)(void *userdata, int i, char *text, size_t len);

#define PG_COPY_NO_NEWLINE (-1)   /* the row does not end in a newline */
#define PG_COPY_FIELD_FAILED (-2) /* `fn` answered -1 */

/*
 * Splits one row of COPY's text format (`len` bytes ending in '\n', as one
 * CopyData message holds it) in place: each field is unescaped and
 * NUL-terminated where its separator was, and the first `ncols` go to `fn`
 * in order. Returns the row's number of fields (more or fewer than `ncols`
 * when the row does not match the columns), or PG_COPY_NO_NEWLINE or
 * PG_COPY_FIELD_FAILED.
 */
int pg_copy_fields_(char *buf, size_t len, int ncols, pg_copy_field_fn fn, void *userdata);

/* ---- pg_exec.c ---- */

/*
 * Receives each result of a streamed statement: one per row (PQntuples 1)
 * and a last one without rows, which also carries the columns of an empty
 * result. Answers enum quarry_sink_answer, or -1 after filling `err`.
 */
typedef int (*pg_result_fn)(void *userdata, const PGresult *res, struct quarry_error *err);

/*
 * Sends `sql` (extended protocol, so one statement only; text parameters)
 * in single-row mode and hands every result to `fn`. A STOP answer (or an
 * error from `fn`, or the ctx running out) cancels the rest of the statement
 * and drains it, so the connection stays usable.
 */
int pg_stream_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *sql, int nparams,
               const char *const *params, pg_result_fn fn, void *userdata,
               struct quarry_error *err);

/* The server's answer to the cancel the calling thread sent for a STOP: no error. */
int pg_result_is_our_stop_(const struct quarry_conn *conn, const PGresult *res);

/* Rows into a quarry_row_sink: the columns once, then converted values row by row. */
struct pg_rows {
    const struct quarry_row_sink *sink;
    uint64_t limit; /* 0: none */
    uint64_t rows;
    int begun;
    int stopped; /* the sink answered STOP or the limit was reached */
    int ncols;
    struct quarry_column *cols; /* names borrowed from the first result, for begin only */
    Oid *types;                 /* each column's type */
    struct quarry_value *vals;
    struct pg_cell *cells;
};

/*
 * Takes the columns of `res` (names, types) and calls the sink's begin.
 * Answers enum quarry_sink_answer, or -1 after filling `err`.
 */
int pg_rows_begin_(struct pg_rows *rs, const PGresult *res, struct quarry_error *err);
/*
 * Hands rs->vals (filled for every column) to the sink and counts the row;
 * answers STOP when the sink did or the limit is reached.
 */
int pg_rows_deliver_(struct pg_rows *rs);
/* A pg_result_fn over a struct pg_rows: begins with the first result, one row per result. */
int pg_rows_result_(void *userdata, const PGresult *res, struct quarry_error *err);
/* Frees what pg_rows_begin_ allocated. */
void pg_rows_free_(struct pg_rows *rs);

/* Refuses a missing sink or table and names longer than PG_NAME_MAX. */
int pg_table_args_check_(const char *schema, const char *table, const struct quarry_row_sink *sink,
                         struct quarry_error *err);

/* A table, view or other relation as the catalog knows it. */
struct pg_relation {
    int found;
    char kind;      /* pg_class.relkind */
    int64_t tuples; /* -1: never analyzed */
    int64_t pages;
    char *schema; /* the names as the catalog spells them; pg_host_->free */
    char *name;
};

/*
 * Finds `table` in `schema`, or through search_path when `schema` is NULL
 * or "", the way a query would. No such relation: QUARRY_ERR_NOT_FOUND
 * (SQLSTATE 42P01). Runs inside the call's transaction; free `rel` with
 * pg_relation_clear_ whatever the outcome.
 */
int pg_relation_find_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                      const char *table, struct pg_relation *rel, struct quarry_error *err);
void pg_relation_clear_(struct pg_relation *rel);
/* "schema"."name", quoted for SQL; pg_host_->free. NULL when out of memory. */
char *pg_relation_quoted_(struct quarry_conn *conn, const struct pg_relation *rel);

int pg_execute_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                const struct quarry_row_sink *sink, struct quarry_error *err);
int pg_sample_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
               const char *table, uint32_t n, const struct quarry_row_sink *sink,
               struct quarry_error *err);

/* ---- pg_copy.c ---- */

/* The driver's scan: every row of a relation through COPY ... TO STDOUT. */
int pg_scan_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
             const char *table, const struct quarry_row_sink *sink, struct quarry_error *err);

/* ---- pg_catalog.c ---- */

int pg_introspect_(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                   const struct quarry_introspect_opts *opts,
                   const struct quarry_catalog_sink *sink, struct quarry_error *err);

#endif
