/*
 * A minimal valid driver for the loader's tests. Each test plugin fills one
 * with testdrv_fill() and then breaks it in exactly one way, so each file
 * reads as the defect it tests (the model is Redis' tests/modules/).
 *
 * Besides answering the ABI, the driver counts its lifecycle calls and
 * reports the counts in ping's server version, so a test can see that the
 * host ran global_init once and the thread hooks per thread.
 */
#ifndef QUARRY_TESTDRV_H
#define QUARRY_TESTDRV_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "quarry/driver.h"

static const struct quarry_host *testdrv_host;
static atomic_int testdrv_inits, testdrv_cleanups, testdrv_thread_starts, testdrv_thread_stops;

struct quarry_conn {
    int open;
};

static inline int testdrv_global_init(struct quarry_error *err)
{
    (void)err;
    atomic_fetch_add(&testdrv_inits, 1);
    return QUARRY_OK;
}

static inline void testdrv_global_cleanup(void)
{
    atomic_fetch_add(&testdrv_cleanups, 1);
}

static inline int testdrv_thread_start(struct quarry_error *err)
{
    (void)err;
    atomic_fetch_add(&testdrv_thread_starts, 1);
    return QUARRY_OK;
}

static inline void testdrv_thread_stop(void)
{
    atomic_fetch_add(&testdrv_thread_stops, 1);
}

static inline int testdrv_open(const struct quarry_open_params *params, struct quarry_conn **out,
                               struct quarry_error *err)
{
    (void)params;
    struct quarry_conn *conn = testdrv_host->alloc(sizeof(*conn));
    if (!conn)
        return testdrv_host->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    conn->open = 1;
    *out = conn;
    return QUARRY_OK;
}

static inline void testdrv_close(struct quarry_conn *conn)
{
    testdrv_host->free(conn);
}

static inline int testdrv_ping(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                               struct quarry_server_info *info, struct quarry_error *err)
{
    (void)conn, (void)ctx, (void)err;
    snprintf(info->version, sizeof(info->version),
             "init=%d cleanup=%d thread_start=%d thread_stop=%d", atomic_load(&testdrv_inits),
             atomic_load(&testdrv_cleanups), atomic_load(&testdrv_thread_starts),
             atomic_load(&testdrv_thread_stops));
    return QUARRY_OK;
}

/* One row, one column: the statement echoed back. */
static inline int testdrv_execute(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                                  const char *statement, const struct quarry_row_sink *sink,
                                  struct quarry_error *err)
{
    (void)conn;
    if (testdrv_host->ctx_expired(ctx))
        return testdrv_host->error_set(err, QUARRY_ERR_TIMEOUT, "57014", 0, "expired");
    struct quarry_column col = {QUARRY_ABI_VERSION, sizeof(col), "statement", QUARRY_VALUE_TEXT,
                                "TEXT"};
    struct quarry_value val = {
        .type = QUARRY_VALUE_TEXT, .str = statement, .len = strlen(statement)};
    if (sink->begin(sink->userdata, &col, 1) == QUARRY_SINK_CONTINUE)
        sink->row(sink->userdata, &val, 1);
    sink->end(sink->userdata);
    return QUARRY_OK;
}

static inline int testdrv_sample(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                                 const char *schema, const char *table, uint32_t n,
                                 const struct quarry_row_sink *sink, struct quarry_error *err)
{
    (void)schema, (void)n;
    return testdrv_execute(conn, ctx, table, sink, err);
}

static inline int testdrv_cancel(struct quarry_conn *conn)
{
    (void)conn;
    return QUARRY_OK;
}

/* A driver named `name` whose only URL scheme is `name`, unless the caller changes it. */
static inline void testdrv_fill(struct quarry_driver *d, const struct quarry_host *host,
                                const char *name)
{
    static const char *schemes[2];
    schemes[0] = name;
    testdrv_host = host;
    memset(d, 0, sizeof(*d));
    QUARRY_STRUCT_INIT(d);
    d->name = name;
    d->version = "1.2.3";
    d->description = "loader test plugin";
    d->url_schemes = schemes;
    d->capabilities =
        QUARRY_CAP_SQL | QUARRY_CAP_READONLY_TX | QUARRY_CAP_CANCEL | QUARRY_CAP_SAMPLE;
    d->dialect = "testsql";
    d->identifier_quote = '"';
    d->limit_style = QUARRY_LIMIT_LIMIT;
    d->global_init = testdrv_global_init;
    d->global_cleanup = testdrv_global_cleanup;
    d->thread_start = testdrv_thread_start;
    d->thread_stop = testdrv_thread_stop;
    d->open = testdrv_open;
    d->close = testdrv_close;
    d->ping = testdrv_ping;
    d->execute = testdrv_execute;
    d->sample = testdrv_sample;
    d->cancel = testdrv_cancel;
}

#endif
