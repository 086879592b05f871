/*
 * Private to the sqlite driver: the connection, the host's services table,
 * and the functions its files share. Nothing here is exported (the plugin is
 * built with hidden visibility; only quarry_driver_entry is visible).
 */
#ifndef QUARRY_SQLITE_INTERNAL_H
#define QUARRY_SQLITE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <sqlite3.h>

#include "quarry/driver.h"

#define SQLITE_DRIVER_NAME "sqlite"

/* Longest URL or path accepted from a user. */
#define SQLITE_URL_MAX 4096
/* Longest statement accepted (also set as SQLITE_LIMIT_SQL_LENGTH). */
#define SQLITE_STATEMENT_MAX (1024 * 1024)
/* Largest string or blob a row may carry (SQLITE_LIMIT_LENGTH): bounds memory per value. */
#define SQLITE_VALUE_MAX (64 * 1024 * 1024)

/* The services table from quarry_driver_entry; valid for the process. */
extern const struct quarry_host *sqlite_host_;

struct quarry_conn {
    sqlite3 *db;
    /* The call in progress (NULL between calls), read by the progress and busy handlers. */
    const struct quarry_ctx *ctx;
    /* Set by cancel() from another thread; cleared when a call starts. */
    atomic_int cancel_requested;
    /* Why the progress handler stopped a statement: QUARRY_ERR_TIMEOUT / _CANCELLED, or 0. */
    int stop_status;
    /* What the authorizer refused last, for the error message ("" when nothing). */
    char denied[96];
};

/* Marks the start and end of a driver call on `conn` (deadline, cancel, refusals). */
void sqlite_call_begin_(struct quarry_conn *conn, const struct quarry_ctx *ctx);
void sqlite_call_end_(struct quarry_conn *conn);

/* Nonzero when the call's deadline passed or it was cancelled; records why in stop_status. */
int sqlite_call_stopped_(struct quarry_conn *conn);

/*
 * Turns a failed sqlite call (`rc`) into a quarry status in `err`: interrupts
 * become TIMEOUT or CANCELLED, authorizer refusals READONLY, the rest QUERY
 * with sqlite's message and extended code. `what` names the step for the message.
 */
int sqlite_fail_(struct quarry_conn *conn, int rc, const char *what, struct quarry_error *err);

/* The status for a call that stopped because sqlite_call_stopped_() said so. */
int sqlite_stopped_status_(struct quarry_conn *conn, const char *what, struct quarry_error *err);

/*
 * A user's URL or path as an absolute filesystem path, percent-decoded.
 * On success `*out` is the caller's, freed with sqlite_host_->free.
 */
int sqlite_url_path_(const char *url, char **out, struct quarry_error *err);

/*
 * Steps a prepared statement into `sink`: begin, rows (at most `limit` when
 * nonzero), end. Does not finalize `stmt`.
 */
int sqlite_stream_(struct quarry_conn *conn, sqlite3_stmt *stmt, uint64_t limit,
                   const struct quarry_row_sink *sink, struct quarry_error *err);

int sqlite_execute_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                    const struct quarry_row_sink *sink, struct quarry_error *err);
int sqlite_sample_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                   const char *table, uint32_t n, const struct quarry_row_sink *sink,
                   struct quarry_error *err);
int sqlite_introspect_(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                       const struct quarry_introspect_opts *opts,
                       const struct quarry_catalog_sink *sink, struct quarry_error *err);

#endif
