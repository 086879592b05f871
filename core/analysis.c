#include "analysis.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "catalog.h"
#include "config.h"
#include "connections.h"
#include "graph.h"
#include "host.h"
#include "jobs.h"
#include "loader.h"
#include "log.h"
#include "pool.h"
#include "probe.h"
#include "profile.h"
#include "registry.h"
#include "samples.h"
#include "semantic.h"
#include "snapshots.h"
#include "tables.h"

#define ANALYSIS_INTROSPECT_MS 120000
#define ANALYSIS_PROFILE_ROWS 1000
#define ANALYSIS_PROFILE_BUDGET_MS 2000
#define ANALYSIS_SAMPLES_BUDGET_MS 30000
#define ANALYSIS_PROGRESS_EVERY_MS 250

/* Where progress goes: a job row, scaled into [from, to] of the job's whole. */
struct progress {
    struct registry *registry;
    const char *job_id;
    double from, to;
    int64_t last_ms;
};

static void report(struct progress *p, double fraction, const char *step)
{
    /* Each report is a durable write: a 2,000-table schema must not mean 2,000 fsyncs. */
    int64_t now = host_now_ms();
    if (fraction > 0 && fraction < 1 && now - p->last_ms < ANALYSIS_PROGRESS_EVERY_MS)
        return;
    p->last_ms = now;
    jobs_set_progress(p->registry, p->job_id, p->from + (p->to - p->from) * fraction, step);
}

/* An analysis failure: a code clients can branch on, and a message a person can act on. */
struct failure {
    char code[32];
    char message[512];
};

static void fail_with(struct failure *f, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_with(struct failure *f, const char *code, const char *fmt, ...)
{
    snprintf(f->code, sizeof(f->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
}

static int introspect(const struct quarry_driver *driver, struct quarry_conn *conn,
                      const json_t *schemas, struct catalog *catalog, struct quarry_error *err)
{
    const char *names[64];
    size_t n = 0, i;
    json_t *item;
    json_array_foreach(schemas, i, item)
    {
        if (n < 64 && json_is_string(item))
            names[n++] = json_string_value(item);
    }
    struct quarry_introspect_opts opts;
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    opts.schemas = n ? names : NULL;
    opts.nschemas = n;
    opts.sample_documents = 100;
    struct quarry_catalog_sink sink;
    catalog_sink_init(&sink, catalog);
    struct host_call call;
    host_call_init(&call, ANALYSIS_INTROSPECT_MS, 0);
    return driver->introspect(conn, &call.ctx, &opts, &sink, err);
}

/*
 * Profiling is one round trip per table, mostly waiting on the database: a
 * second connection from the pool profiles beside the first. Tables are
 * taken from a shared counter; each profile_table writes only its table.
 */
#define ANALYSIS_PROFILE_LANES 2

struct profiling {
    const struct quarry_driver *driver;
    struct catalog *catalog;
    atomic_size_t next;
};

static void profile_lane(struct profiling *pr, struct quarry_conn *conn, struct progress *p)
{
    size_t i;
    while ((i = atomic_fetch_add(&pr->next, 1)) < pr->catalog->ntables) {
        struct catalog_table *t = &pr->catalog->tables[i];
        if (p) {
            char step[300];
            snprintf(step, sizeof(step), "profiling %s (%zu of %zu)", t->name, i + 1,
                     pr->catalog->ntables);
            report(p, 0.1 + 0.6 * (double)i / (double)pr->catalog->ntables, step);
        }
        struct quarry_error err;
        host_error_init(&err);
        /* One table that cannot be sampled costs its profiles, not the analysis. */
        if (profile_table(pr->driver, conn, t, ANALYSIS_PROFILE_ROWS, ANALYSIS_PROFILE_BUDGET_MS,
                          &err) != QUARRY_OK)
            log_debug("analysis: %s not profiled: %s", t->name, err.message);
    }
}

struct helper_lane {
    struct profiling *profiling;
    struct quarry_conn *conn;
};

static void *helper_lane_main(void *arg)
{
    struct helper_lane *lane = arg;
    /* A thread of our own: drivers want their per-thread setup (mysql_thread_init). */
    loader_thread_start();
    profile_lane(lane->profiling, lane->conn, NULL);
    loader_thread_stop();
    return NULL;
}

static void profile_all(const struct app *app, const struct pool_target *target,
                        struct quarry_conn *conn, struct catalog *catalog, struct progress *p)
{
    if (!target->driver->sample)
        return;
    struct profiling pr = {target->driver, catalog, 0};
    struct quarry_error err;
    host_error_init(&err);
    struct pool_lease *second = ANALYSIS_PROFILE_LANES > 1 && catalog->ntables > 8
                                    ? pools_borrow(app->pools, target, &err)
                                    : NULL;
    struct helper_lane lane = {&pr, second ? pool_lease_conn(second) : NULL};
    pthread_t thread;
    int threaded = second && pthread_create(&thread, NULL, helper_lane_main, &lane) == 0;
    profile_lane(&pr, conn, p);
    if (threaded)
        pthread_join(thread, NULL);
    if (second)
        pools_return(app->pools, second, 0);
}

/* Everything after the catalog is in hand: classify, graph, samples, store. */
static json_t *finish(struct registry *registry, const char *connection_id, const char *job_id,
                      const struct quarry_driver *driver, struct quarry_conn *conn,
                      struct catalog *catalog, struct progress *p, struct failure *f)
{
    semantic_analyze(catalog);
    report(p, 0.75, "building the knowledge graph");
    json_t *graph = graph_build(catalog);
    report(p, 0.8, "verifying sample queries");
    json_t *samples = samples_generate(catalog, graph, driver, conn, ANALYSIS_SAMPLES_BUDGET_MS);
    report(p, 0.95, "storing");

    /* The version is read and written in one transaction: two analyses never share one. */
    int in_tx =
        sqlite3_exec(registry_db(registry), "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    int version = in_tx ? snapshots_latest_version(registry, connection_id) : -1;
    json_t *previous =
        version > 0 ? snapshots_get(registry, connection_id, version, SNAPSHOT_SEMANTIC) : NULL;
    json_t *snapshot = version >= 0 ? semantic_snapshot(catalog, version + 1, previous) : NULL;
    char hash[65];
    semantic_schema_hash(catalog, hash);
    long stored = 0, gone = 0;
    json_t *result = NULL;
    if (version < 0 || !graph || !samples || !snapshot) {
        fail_with(f, "internal", "analysis could not build its results");
    } else if (tables_store_catalog(registry, connection_id, catalog, &stored, &gone) !=
                   TABLES_OK ||
               snapshots_insert(registry, connection_id, version + 1, hash, snapshot, graph,
                                samples, job_id) < 0 ||
               sqlite3_exec(registry_db(registry), "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fail_with(f, "internal", "analysis could not store its results");
    } else {
        in_tx = 0;
        result = json_pack("{s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:O}", "connection_id",
                           connection_id, "status", "succeeded", "snapshot_version", version + 1,
                           "schema_hash", hash, "tables", (json_int_t)stored, "tables_gone",
                           (json_int_t)gone, "sample_queries", (json_int_t)json_array_size(samples),
                           "drift", json_object_get(snapshot, "drift"));
    }
    if (in_tx)
        sqlite3_exec(registry_db(registry), "ROLLBACK", NULL, NULL, NULL);
    json_decref(previous);
    json_decref(snapshot);
    json_decref(graph);
    json_decref(samples);
    return result;
}

/* Analyses one connection; returns its result, or NULL with `f` filled. */
static json_t *analyse_connection(struct registry *registry, const struct app *app,
                                  const char *connection_id, const char *job_id, struct progress *p,
                                  struct failure *f)
{
    struct conn_state state;
    if (connections_load_state(registry, app->secrets, connection_id, &state) != CONN_OK) {
        fail_with(f, "not_found", "connection %s not found (deleted?)", connection_id);
        return NULL;
    }
    json_t *result = NULL;
    struct catalog *catalog = NULL;
    struct quarry_conn *conn = NULL;
    struct pool_lease *lease = NULL;
    struct quarry_kv *kv = NULL;
    int broken = 0;
    struct quarry_error err;
    char why[512];
    host_error_init(&err);
    const struct quarry_driver *driver = loader_find(state.database_type);
    if (!driver) {
        fail_with(f, "driver_unavailable", "no loaded driver serves %s", state.database_type);
        goto out;
    }
    report(p, 0.02, "connecting");
    if (probe_check_target(app->guard, driver, state.url, why, sizeof(why)) != 0) {
        fail_with(f, "target_denied", "%s", why);
        goto out;
    }
    size_t nparams;
    /* Kept until the end: a second profiling lane borrows with the same target. */
    kv = probe_flatten_params(state.params, &nparams);
    struct pool_target target = {connection_id, driver,
                                 state.url,     kv,
                                 nparams,       (int)config_long(app->config, CFG_CONNECT_TIMEOUT)};
    lease = kv ? pools_borrow(app->pools, &target, &err) : NULL;
    int rc = lease ? QUARRY_OK : (err.status ? err.status : QUARRY_ERR_NOMEM);
    if (rc == QUARRY_OK) {
        conn = pool_lease_conn(lease);
        report(p, 0.05, "introspecting");
        catalog = catalog_new(driver);
        rc = catalog ? introspect(driver, conn, state.schemas, catalog, &err) : QUARRY_ERR_NOMEM;
    }
    if (rc != QUARRY_OK) {
        /* A connection-level failure means the pooled connection is no good. */
        broken = rc == QUARRY_ERR_CONNECT || rc == QUARRY_ERR_TIMEOUT;
        fail_with(f, host_status_code(rc), "%s",
                  err.message[0] ? err.message : "the driver failed");
        goto out;
    }
    profile_all(app, &target, conn, catalog, p);
    result = finish(registry, connection_id, job_id, driver, conn, catalog, p, f);
out:
    if (lease)
        pools_return(app->pools, lease, broken);
    free(kv);
    catalog_free(catalog);
    conn_state_clear(&state);
    return result;
}

void analysis_job(struct job_context *ctx)
{
    struct progress p = {ctx->registry, ctx->id, 0, 1, 0};
    struct failure f = {"", ""};
    json_t *result =
        analyse_connection(ctx->registry, ctx->app, ctx->connection_id, ctx->id, &p, &f);
    if (result)
        jobs_succeed(ctx->registry, ctx->id, result);
    else
        jobs_fail(ctx->registry, ctx->id, f.code, f.message);
    json_decref(result);
}

void analysis_batch_job(struct job_context *ctx)
{
    json_t *ids = json_object_get(ctx->payload, "connection_ids");
    size_t n = json_array_size(ids), i, succeeded = 0;
    json_t *results = json_array(), *item;
    json_array_foreach(ids, i, item)
    {
        struct progress p = {ctx->registry, ctx->id, (double)i / (double)n,
                             (double)(i + 1) / (double)n, 0};
        struct failure f = {"", ""};
        const char *id = json_string_value(item);
        json_t *result = analyse_connection(ctx->registry, ctx->app, id, ctx->id, &p, &f);
        if (result)
            succeeded++;
        else
            result = json_pack("{s:s, s:s, s:{s:s, s:s}}", "connection_id", id, "status", "failed",
                               "error", "code", f.code, "message", f.message);
        json_array_append_new(results, result);
    }
    json_t *summary =
        json_pack("{s:I, s:I, s:I, s:o}", "requested", (json_int_t)n, "succeeded",
                  (json_int_t)succeeded, "failed", (json_int_t)(n - succeeded), "results", results);
    jobs_succeed(ctx->registry, ctx->id, summary);
    json_decref(summary);
}
