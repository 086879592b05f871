/*
 * Schema capture and analysis phases of one PostgreSQL database, in process,
 * for bench/analysis_bench.sh (issue 5's 2,000-table benchmark).
 *
 *   capture_bench capture PLUGIN_DIR URL RUNS
 *     Times the postgres driver's introspect as the analysis calls it: on an
 *     open connection (median of RUNS, the first run apart), and with the
 *     connect included (median of RUNS).
 *
 *   capture_bench phases PLUGIN_DIR URL REGISTRY RUNS
 *     Runs the analysis RUNS times on one open connection, making the calls
 *     core/analysis.c makes in the order it makes them, and times each
 *     phase in wall clock, in this process's CPU and in the CPU of the
 *     server backend serving the connection (read from /proc: the server
 *     must run on this machine, else those figures are 0). REGISTRY is a
 *     new file: the first run inserts the catalog into
 *     it, later runs update it in place, as a re-analysis does. Also times
 *     what profiling costs at the least (the driver's sample of every table
 *     into a sink that drops the rows: over one new connection, again over
 *     it once warm, and over two new connections at once), what reading
 *     pg_stats for the whole schema instead costs, a round trip, and one
 *     progress write.
 *
 * Both print one JSON object on stdout; the figures are milliseconds.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "catalog.h"
#include "graph.h"
#include "host.h"
#include "ids.h"
#include "jobs.h"
#include "loader.h"
#include "probe.h"
#include "profile.h"
#include "registry.h"
#include "samples.h"
#include "semantic.h"
#include "snapshots.h"
#include "tables.h"

/* The constants of core/analysis.c, so the phases do what an analysis does. */
#define INTROSPECT_MS 120000
#define PROFILE_ROWS 1000
#define PROFILE_BUDGET_MS 2000
#define SAMPLES_BUDGET_MS 30000
#define MAX_RUNS 50

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts `v` in place. */
static double median(double *v, size_t n)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int open_conn(const struct quarry_driver *driver, const char *url, struct quarry_conn **conn)
{
    struct quarry_error err;
    host_error_init(&err);
    if (probe_open(driver, url, NULL, 5000, conn, &err) != QUARRY_OK) {
        fprintf(stderr, "capture_bench: cannot connect: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* A new catalog introspected as core/analysis.c does (every user schema), or NULL. */
static struct catalog *introspect(const struct quarry_driver *driver, struct quarry_conn *conn)
{
    struct catalog *catalog = catalog_new(driver);
    if (!catalog)
        return NULL;
    struct quarry_introspect_opts opts;
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    opts.sample_documents = 100;
    struct quarry_catalog_sink sink;
    catalog_sink_init(&sink, catalog);
    struct host_call call;
    host_call_init(&call, INTROSPECT_MS, 0);
    struct quarry_error err;
    host_error_init(&err);
    if (driver->introspect(conn, &call.ctx, &opts, &sink, &err) != QUARRY_OK) {
        fprintf(stderr, "capture_bench: introspect: %s\n", err.message);
        catalog_free(catalog);
        return NULL;
    }
    return catalog;
}

static json_t *catalog_counts(const struct catalog *c)
{
    size_t columns = 0, fks = 0, indexes = 0, comments = 0;
    for (size_t i = 0; i < c->ntables; i++) {
        const struct catalog_table *t = &c->tables[i];
        columns += t->ncolumns;
        fks += t->nfks;
        indexes += t->nindexes;
        comments += t->comment != NULL;
        for (size_t j = 0; j < t->ncolumns; j++)
            comments += t->columns[j].comment != NULL;
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "tables", (json_int_t)c->ntables, "columns",
                     (json_int_t)columns, "fks", (json_int_t)fks, "indexes", (json_int_t)indexes,
                     "comments", (json_int_t)comments);
}

/* ------------------------------------------------------------------------ */
/* capture                                                                  */
/* ------------------------------------------------------------------------ */

static int run_capture(const struct quarry_driver *driver, const char *url, int runs)
{
    double open[MAX_RUNS], connect[MAX_RUNS], first = 0;
    json_t *counts = NULL;
    struct quarry_conn *conn = NULL;
    if (open_conn(driver, url, &conn) != 0)
        return 1;
    for (int i = 0; i <= runs; i++) {
        double start = now_ms();
        struct catalog *c = introspect(driver, conn);
        double ms = now_ms() - start;
        if (!c) {
            driver->close(conn);
            return 1;
        }
        if (i == 0) {
            first = ms;
            counts = catalog_counts(c);
        } else {
            open[i - 1] = ms;
        }
        catalog_free(c);
    }
    driver->close(conn);
    for (int i = 0; i < runs; i++) {
        double start = now_ms();
        struct catalog *c = open_conn(driver, url, &conn) == 0 ? introspect(driver, conn) : NULL;
        connect[i] = now_ms() - start;
        if (conn)
            driver->close(conn);
        conn = NULL;
        if (!c) {
            json_decref(counts);
            return 1;
        }
        catalog_free(c);
    }
    json_object_set_new(counts, "first_ms", json_real(first));
    json_object_set_new(counts, "open_ms", json_real(median(open, (size_t)runs)));
    json_object_set_new(counts, "connect_ms", json_real(median(connect, (size_t)runs)));
    json_dumpf(counts, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(counts);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* phases                                                                   */
/* ------------------------------------------------------------------------ */

/* A connection row for the catalog's tables to belong to (the registry checks the reference). */
static int add_connection(struct registry *registry, char *id)
{
    char now[ID_TIME_LEN + 1];
    id_uuid4(id);
    id_time_now(now);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(registry_db(registry),
                           "INSERT INTO connections (id, name, database_type, url_masked, "
                           "url_sealed, created_at, updated_at) "
                           "VALUES (?1, 'bench', 'postgres', '-', x'00', ?2, ?2)",
                           -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, now, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(stmt);
    return rc;
}

enum phase {
    P_INTROSPECT,
    P_PROFILE,
    P_SEMANTIC,
    P_GRAPH,
    P_SAMPLES,
    P_SNAPSHOT, /* BEGIN, previous version read, snapshot with drift, schema hash */
    P_STORE_TABLES,
    P_STORE_SNAPSHOT, /* the snapshot row, and the COMMIT of it all */
    P_TOTAL,
    NPHASES
};

static const char *const phase_names[NPHASES] = {"introspect",   "profile",        "semantic",
                                                 "graph",        "samples",        "snapshot",
                                                 "store_tables", "store_snapshot", "total"};

struct run {
    double ms[NPHASES], client_ms[NPHASES], server_ms[NPHASES]; /* wall, CPU here, CPU there */
    double table_p50, table_p95, table_max;                     /* profile_table per table */
    long unprofiled, samples;
};

/* As core/analysis.c's profile_all, less its throttled progress writes (timed apart). */
static void profile_all(const struct quarry_driver *driver, struct quarry_conn *conn,
                        struct catalog *catalog, struct run *r)
{
    double *per = calloc(catalog->ntables ? catalog->ntables : 1, sizeof(double));
    for (size_t i = 0; i < catalog->ntables; i++) {
        struct quarry_error err;
        host_error_init(&err);
        double start = now_ms();
        if (profile_table(driver, conn, &catalog->tables[i], PROFILE_ROWS, PROFILE_BUDGET_MS,
                          &err) != QUARRY_OK)
            r->unprofiled++;
        if (per)
            per[i] = now_ms() - start;
    }
    if (per && catalog->ntables) {
        qsort(per, catalog->ntables, sizeof(double), cmp_double);
        r->table_p50 = per[catalog->ntables / 2];
        r->table_p95 = per[catalog->ntables * 95 / 100];
        r->table_max = per[catalog->ntables - 1];
    }
    free(per);
}

/*
 * Time spent: wall clock, this process's CPU, and the CPU of the server
 * backend serving the connection (from /proc: the server runs on this
 * machine). CPU figures say where the time goes even when other work on the
 * machine stretches the wall clock; /proc counts in ticks (10 ms).
 */
struct clocks {
    double wall, client, server;
};

static long backend_pid;

static int pid_row(void *userdata, const struct quarry_value *values, size_t nvalues)
{
    if (nvalues > 0 && values[0].type == QUARRY_VALUE_INT)
        *(long *)userdata = (long)values[0].i;
    else if (nvalues > 0 && values[0].str)
        *(long *)userdata = strtol(values[0].str, NULL, 10);
    return QUARRY_SINK_CONTINUE;
}

static void find_backend(const struct quarry_driver *driver, struct quarry_conn *conn)
{
    struct quarry_row_sink sink;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = &backend_pid;
    sink.row = pid_row;
    struct host_call call;
    host_call_init(&call, 5000, 0);
    struct quarry_error err;
    host_error_init(&err);
    driver->execute(conn, &call.ctx, "SELECT pg_backend_pid()", &sink, &err);
}

static double server_cpu_ms(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", backend_pid);
    FILE *f = backend_pid > 0 ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime) come after the command name's closing parenthesis. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return 0;
    return (double)(utime + stime) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static struct clocks clocks_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    struct clocks c = {now_ms(), (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6,
                       server_cpu_ms()};
    return c;
}

/* The time since `*mark` goes to phase `p`; `*mark` moves to now. */
static void lap(struct run *r, enum phase p, struct clocks *mark)
{
    struct clocks now = clocks_now();
    r->ms[p] = now.wall - mark->wall;
    r->client_ms[p] = now.client - mark->client;
    r->server_ms[p] = now.server - mark->server;
    *mark = now;
}

/* One analysis as analyse_connection() and finish() run it; 0 or -1. */
static int analyse_once(struct registry *registry, const char *connection_id,
                        const struct quarry_driver *driver, struct quarry_conn *conn, struct run *r)
{
    struct clocks start = clocks_now(), mark = start;
    struct catalog *catalog = introspect(driver, conn);
    if (!catalog)
        return -1;
    lap(r, P_INTROSPECT, &mark);
    profile_all(driver, conn, catalog, r);
    lap(r, P_PROFILE, &mark);
    semantic_analyze(catalog);
    lap(r, P_SEMANTIC, &mark);
    json_t *graph = graph_build(catalog);
    lap(r, P_GRAPH, &mark);
    json_t *samples = samples_generate(catalog, graph, driver, conn, SAMPLES_BUDGET_MS);
    lap(r, P_SAMPLES, &mark);
    r->samples = (long)json_array_size(samples);
    /* As finish() does: the version is read and everything stored in one transaction. */
    sqlite3 *db = registry_db(registry);
    int in_tx = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    int version = in_tx ? snapshots_latest_version(registry, connection_id) : -1;
    json_t *previous =
        version > 0 ? snapshots_get(registry, connection_id, version, SNAPSHOT_SEMANTIC) : NULL;
    json_t *snapshot = version >= 0 ? semantic_snapshot(catalog, version + 1, previous) : NULL;
    char hash[65];
    semantic_schema_hash(catalog, hash);
    lap(r, P_SNAPSHOT, &mark);
    int rc = -1;
    long stored = 0, gone = 0;
    if (version >= 0 && graph && samples && snapshot) {
        rc = tables_store_catalog(registry, connection_id, catalog, &stored, &gone) == TABLES_OK
                 ? 0
                 : -1;
        lap(r, P_STORE_TABLES, &mark);
        if (rc == 0 && (snapshots_insert(registry, connection_id, version + 1, hash, snapshot,
                                         graph, samples, NULL) < 0 ||
                        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK))
            rc = -1;
        else if (rc == 0)
            in_tx = 0;
        lap(r, P_STORE_SNAPSHOT, &mark);
    }
    if (in_tx)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    lap(r, P_TOTAL, &start);
    json_decref(previous);
    json_decref(snapshot);
    json_decref(graph);
    json_decref(samples);
    catalog_free(catalog);
    if (rc != 0)
        fprintf(stderr, "capture_bench: the analysis could not build or store its results\n");
    return rc;
}

static int drop_rows(void *userdata, const struct quarry_value *values, size_t nvalues)
{
    (void)values;
    (void)nvalues;
    ++*(long *)userdata;
    return QUARRY_SINK_CONTINUE;
}

/* The floor of profiling: the driver's sample of tables [from, to) into a sink that drops rows. */
struct raw_pass {
    const struct quarry_driver *driver;
    struct quarry_conn *conn;
    const struct catalog *catalog;
    size_t from, to;
    long rows, failed;
    double ms;
};

static void *raw_samples(void *arg)
{
    struct raw_pass *r = arg;
    struct quarry_row_sink sink;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = &r->rows;
    sink.row = drop_rows;
    double start = now_ms();
    for (size_t i = r->from; i < r->to; i++) {
        const struct catalog_table *t = &r->catalog->tables[i];
        struct host_call call;
        host_call_init(&call, PROFILE_BUDGET_MS, PROFILE_ROWS);
        struct quarry_error err;
        host_error_init(&err);
        if (r->driver->sample(r->conn, &call.ctx, t->schema, t->name, PROFILE_ROWS, &sink, &err) !=
            QUARRY_OK)
            r->failed++;
    }
    r->ms = now_ms() - start;
    return NULL;
}

/*
 * Raw samples of every table over `nconns` new connections at once (a
 * backend's first touch of a table is dearer: these are cold), then again
 * over the first of them (warm). ms of each into `cold` and `warm`; -1 on failure.
 */
static int raw_passes(const struct quarry_driver *driver, const char *url,
                      const struct catalog *catalog, int nconns, double *cold, double *warm,
                      long *rows, long *failed)
{
    struct raw_pass pass[4];
    pthread_t threads[4];
    int rc = -1, opened = 0;
    memset(pass, 0, sizeof(pass));
    for (; opened < nconns; opened++)
        if (open_conn(driver, url, &pass[opened].conn) != 0)
            goto out;
    for (int i = 0; i < nconns; i++) {
        pass[i].driver = driver;
        pass[i].catalog = catalog;
        pass[i].from = catalog->ntables * (size_t)i / (size_t)nconns;
        pass[i].to = catalog->ntables * (size_t)(i + 1) / (size_t)nconns;
    }
    double start = now_ms();
    for (int i = 0; i < nconns; i++)
        if (pthread_create(&threads[i], NULL, raw_samples, &pass[i]) != 0)
            abort(); /* a benchmark without threads has nothing to say */
    for (int i = 0; i < nconns; i++)
        pthread_join(threads[i], NULL);
    *cold = now_ms() - start;
    *rows = *failed = 0;
    for (int i = 0; i < nconns; i++) {
        *rows += pass[i].rows;
        *failed += pass[i].failed;
    }
    pass[0].from = 0;
    pass[0].to = catalog->ntables;
    raw_samples(&pass[0]);
    *warm = pass[0].ms;
    rc = 0;
out:
    for (int i = 0; i < opened; i++)
        driver->close(pass[i].conn);
    return rc;
}

/* Catalog statistics instead of samples: pg_stats of every user schema in one query. */
static double pg_stats_query(const struct quarry_driver *driver, struct quarry_conn *conn,
                             long *rows)
{
    struct quarry_row_sink sink;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = rows;
    sink.row = drop_rows;
    struct host_call call;
    host_call_init(&call, 60000, 0);
    struct quarry_error err;
    host_error_init(&err);
    double start = now_ms();
    if (driver->execute(conn, &call.ctx,
                        "SELECT schemaname, tablename, attname, null_frac, n_distinct, "
                        "most_common_vals::text, most_common_freqs::text, histogram_bounds::text "
                        "FROM pg_catalog.pg_stats WHERE schemaname NOT IN "
                        "('pg_catalog', 'information_schema', 'pg_toast')",
                        &sink, &err) != QUARRY_OK) {
        fprintf(stderr, "capture_bench: pg_stats: %s\n", err.message);
        return -1;
    }
    return now_ms() - start;
}

static double median_ping(const struct quarry_driver *driver, struct quarry_conn *conn)
{
    double t[51];
    for (int i = 0; i < 51; i++) {
        struct quarry_server_info info;
        memset(&info, 0, sizeof(info));
        QUARRY_STRUCT_INIT(&info);
        struct host_call call;
        host_call_init(&call, 5000, 0);
        struct quarry_error err;
        host_error_init(&err);
        double start = now_ms();
        driver->ping(conn, &call.ctx, &info, &err);
        t[i] = now_ms() - start;
    }
    return median(t, 51);
}

static double median_progress_write(struct registry *registry, const char *connection_id)
{
    char job[ID_UUID_LEN + 1];
    double t[21];
    if (jobs_create(registry, "analysis", connection_id, NULL, NULL, job) != JOBS_OK)
        return -1;
    for (int i = 0; i < 21; i++) {
        double start = now_ms();
        jobs_set_progress(registry, job, i / 21.0, "profiling a table (1 of 2000)");
        t[i] = now_ms() - start;
    }
    return median(t, 21);
}

static json_t *run_json(const struct run *r)
{
    json_t *o = json_object();
    for (int p = 0; p < NPHASES; p++) {
        char key[64];
        json_object_set_new(o, phase_names[p], json_real(r->ms[p]));
        snprintf(key, sizeof(key), "%s_client_cpu", phase_names[p]);
        json_object_set_new(o, key, json_real(r->client_ms[p]));
        snprintf(key, sizeof(key), "%s_server_cpu", phase_names[p]);
        json_object_set_new(o, key, json_real(r->server_ms[p]));
    }
    json_object_set_new(o, "profile_table_p50", json_real(r->table_p50));
    json_object_set_new(o, "profile_table_p95", json_real(r->table_p95));
    json_object_set_new(o, "profile_table_max", json_real(r->table_max));
    json_object_set_new(o, "unprofiled", json_integer(r->unprofiled));
    json_object_set_new(o, "sample_queries", json_integer(r->samples));
    return o;
}

static int run_phases(const struct quarry_driver *driver, const char *url, const char *path,
                      int runs)
{
    char why[512], connection_id[ID_UUID_LEN + 1];
    struct registry *registry = registry_open(path, why, sizeof(why));
    if (!registry) {
        fprintf(stderr, "capture_bench: %s\n", why);
        return 1;
    }
    struct quarry_conn *conn = NULL;
    int rc = 1;
    struct run r[MAX_RUNS];
    memset(r, 0, sizeof(r));
    if (add_connection(registry, connection_id) != 0 || open_conn(driver, url, &conn) != 0)
        goto out;
    find_backend(driver, conn);
    for (int i = 0; i < runs; i++)
        if (analyse_once(registry, connection_id, driver, conn, &r[i]) != 0)
            goto out;
    json_t *out = json_object(), *later = json_object();
    json_object_set_new(out, "first", run_json(&r[0]));
    /* Later runs: the median of each figure on its own. */
    for (int p = 0; p < NPHASES && runs > 1; p++) {
        static const char *const suffix[3] = {"", "_client_cpu", "_server_cpu"};
        for (int f = 0; f < 3; f++) {
            double v[MAX_RUNS];
            char key[64];
            for (int i = 1; i < runs; i++)
                v[i - 1] = f == 0 ? r[i].ms[p] : f == 1 ? r[i].client_ms[p] : r[i].server_ms[p];
            snprintf(key, sizeof(key), "%s%s", phase_names[p], suffix[f]);
            json_object_set_new(later, key, json_real(median(v, (size_t)runs - 1)));
        }
    }
    json_object_set_new(out, "later", later);
    struct catalog *catalog = introspect(driver, conn);
    if (catalog) {
        /* What profiling costs at the least, and what would make it cheaper. */
        for (int n = 1; n <= 2; n++) {
            double cold, warm;
            long rows = 0, failed = 0;
            if (raw_passes(driver, url, catalog, n, &cold, &warm, &rows, &failed) != 0)
                break;
            char key[64];
            snprintf(key, sizeof(key), "raw_sample_%dconn_cold_ms", n);
            json_object_set_new(out, key, json_real(cold));
            snprintf(key, sizeof(key), "raw_sample_%dconn_rows", n);
            json_object_set_new(out, key, json_integer(rows));
            snprintf(key, sizeof(key), "raw_sample_%dconn_failed", n);
            json_object_set_new(out, key, json_integer(failed));
            if (n == 1)
                json_object_set_new(out, "raw_sample_warm_ms", json_real(warm));
        }
        long rows = 0;
        json_object_set_new(out, "pg_stats_ms", json_real(pg_stats_query(driver, conn, &rows)));
        json_object_set_new(out, "pg_stats_rows", json_integer(rows));
        json_object_set_new(out, "counts", catalog_counts(catalog));
        catalog_free(catalog);
    }
    json_object_set_new(out, "ping_ms", json_real(median_ping(driver, conn)));
    json_object_set_new(out, "progress_write_ms",
                        json_real(median_progress_write(registry, connection_id)));
    json_dumpf(out, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(out);
    rc = 0;
out:
    if (conn)
        driver->close(conn);
    registry_close(registry);
    return rc;
}

int main(int argc, char **argv)
{
    int phases = argc == 6 && strcmp(argv[1], "phases") == 0;
    if (!phases && !(argc == 5 && strcmp(argv[1], "capture") == 0)) {
        fprintf(stderr,
                "usage: %s capture PLUGIN_DIR URL RUNS\n"
                "       %s phases PLUGIN_DIR URL REGISTRY RUNS\n",
                argv[0], argv[0]);
        return 2;
    }
    int runs = atoi(argv[argc - 1]);
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "capture_bench: RUNS must be 1 to %d\n", MAX_RUNS);
        return 2;
    }
    if (sodium_init() < 0 || evthread_use_pthreads() != 0)
        return 1;
    const char *names[] = {"postgres"};
    loader_load(argv[2], names, 1);
    loader_thread_start();
    const struct quarry_driver *driver = loader_find("postgres");
    int rc = 1;
    if (!driver)
        fprintf(stderr, "capture_bench: no postgres driver in %s\n", argv[2]);
    else if (phases)
        rc = run_phases(driver, argv[3], argv[4], runs);
    else
        rc = run_capture(driver, argv[3], runs);
    loader_thread_stop();
    return rc;
}
