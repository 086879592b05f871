/*
 * Introspection time of the Chinook fixture per driver, against each
 * database's own schema dump measured in the same run:
 *   sqlite    vs  sqlite3 FILE .schema
 *   postgres  vs  pg_dump --schema-only
 *   mysql     vs  mariadb-dump --no-data
 *   mongodb   vs  a ping round trip (no schema tool exists for the peer)
 * Usage: introspect_bench PLUGIN_DIR SQLITE_FILE [runs]
 * with QUARRY_TEST_PG_URL, QUARRY_TEST_MYSQL_URL, QUARRY_TEST_MONGO_URL set
 * (the test services export them). Prints the median of each and the ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/thread.h>
#include <sodium.h>

#include "catalog.h"
#include "host.h"
#include "loader.h"
#include "probe.h"

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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median ms of introspecting through the driver on one open connection; -1 on failure. */
static double time_introspect(const char *name, const char *url, int runs, size_t *tables)
{
    const struct quarry_driver *driver = loader_find(name);
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    host_error_init(&err);
    if (!driver || probe_open(driver, url, NULL, 5000, &conn, &err) != QUARRY_OK) {
        fprintf(stderr, "%s: cannot open: %s\n", name, err.message);
        return -1;
    }
    double *t = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < runs; i++) {
        struct catalog *catalog = catalog_new(driver);
        struct quarry_catalog_sink sink;
        catalog_sink_init(&sink, catalog);
        struct quarry_introspect_opts opts;
        memset(&opts, 0, sizeof(opts));
        QUARRY_STRUCT_INIT(&opts);
        struct host_call call;
        host_call_init(&call, 60000, 0);
        double start = now_ms();
        driver->introspect(conn, &call.ctx, &opts, &sink, &err);
        t[i] = now_ms() - start;
        *tables = catalog->ntables;
        catalog_free(catalog);
    }
    driver->close(conn);
    double m = median(t, runs);
    free(t);
    return m;
}

/* Median ms of running a shell command, output discarded; -1 on failure. */
static double time_command(const char *cmd, int runs)
{
    double *t = calloc((size_t)runs, sizeof(double));
    char full[4096];
    snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
    for (int i = 0; i < runs; i++) {
        double start = now_ms();
        if (system(full) != 0) {
            free(t);
            return -1;
        }
        t[i] = now_ms() - start;
    }
    double m = median(t, runs);
    free(t);
    return m;
}

static double time_ping(const char *name, const char *url, int runs)
{
    const struct quarry_driver *driver = loader_find(name);
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    host_error_init(&err);
    if (!driver || probe_open(driver, url, NULL, 5000, &conn, &err) != QUARRY_OK)
        return -1;
    double *t = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < runs; i++) {
        struct quarry_server_info info;
        memset(&info, 0, sizeof(info));
        QUARRY_STRUCT_INIT(&info);
        struct host_call call;
        host_call_init(&call, 5000, 0);
        double start = now_ms();
        driver->ping(conn, &call.ctx, &info, &err);
        t[i] = now_ms() - start;
    }
    driver->close(conn);
    double m = median(t, runs);
    free(t);
    return m;
}

static void row(const char *name, size_t tables, double ours, const char *ref_name, double ref)
{
    if (ours < 0 || ref <= 0) {
        printf("| %s | - | failed | %s | - | - |\n", name, ref_name);
        return;
    }
    printf("| %s | %zu | %.2f | %s | %.2f | %.2f |\n", name, tables, ours, ref_name, ref,
           ours / ref);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PLUGIN_DIR SQLITE_FILE [runs]\n", argv[0]);
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 15;
    if (sodium_init() < 0 || evthread_use_pthreads() != 0)
        return 1;
    const char *names[] = {"sqlite", "postgres", "mysql", "mongodb"};
    loader_load(argv[1], names, 4);
    loader_thread_start();

    printf(
        "| driver | tables | introspect median ms | reference | reference median ms | ratio |\n");
    printf("| --- | --- | --- | --- | --- | --- |\n");
    size_t tables = 0;
    char cmd[2048];
    double ours = time_introspect("sqlite", argv[2], runs, &tables);
    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' .schema", argv[2]);
    row("sqlite", tables, ours, "`sqlite3 .schema`", time_command(cmd, runs));

    const char *pg = getenv("QUARRY_TEST_PG_URL");
    if (pg) {
        ours = time_introspect("postgres", pg, runs, &tables);
        snprintf(cmd, sizeof(cmd), "pg_dump --schema-only '%s'", pg);
        row("postgres", tables, ours, "`pg_dump --schema-only`", time_command(cmd, runs));
    }
    const char *my = getenv("QUARRY_TEST_MYSQL_URL");
    if (my) {
        ours = time_introspect("mysql", my, runs, &tables);
        snprintf(cmd, sizeof(cmd),
                 "mariadb-dump --no-data -h 127.0.0.1 -P 53306 -u quarry -psecret Chinook");
        row("mysql", tables, ours, "`mariadb-dump --no-data`", time_command(cmd, runs));
    }
    const char *mongo = getenv("QUARRY_TEST_MONGO_URL");
    if (mongo) {
        ours = time_introspect("mongodb", mongo, runs, &tables);
        row("mongodb", tables, ours, "one `ping`", time_ping("mongodb", mongo, runs));
    }
    loader_thread_stop();
    return 0;
}
