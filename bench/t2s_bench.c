/*
 * Speed of the built-in text-to-SQL engine: the median time of
 * t2s_translate per question (execution excluded) on a generated 100-table
 * schema, against a reference measured in the same run on the same
 * machine: sqlite3_prepare_v2 of the SQL the engine produced (parsing and
 * planning the statement, which any execution must pay anyway).
 * Usage: t2s_bench PLUGIN_DIR [runs]   (runs per question, default 200)
 * Prints the medians, the ratio, and whether the 2 ms goal is met.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>
#include <sodium.h>
#include <sqlite3.h>

#include "catalog.h"
#include "graph.h"
#include "host.h"
#include "loader.h"
#include "profile.h"
#include "semantic.h"
#include "t2s.h"

#define NTABLES 100
#define ROWS 60

static const char *const nouns[10] = {"customer", "order",   "product",   "supplier", "employee",
                                      "invoice",  "payment", "warehouse", "shipment", "account"};
static const char *const prefixes[10] = {"",         "retail_",  "wholesale_", "online_",
                                         "partner_", "legacy_",  "euro_",      "asia_",
                                         "america_", "internal_"};

static const char *const questions[] = {
    "How many customers are there?",
    "How many orders are there per status?",
    "What is the average amount of invoices?",
    "Which product has the highest amount?",
    "How many employees were created in 2021?",
    "Top 5 suppliers by amount",
    "How many payments have an amount greater than 500?",
    "List the warehouses sorted by name.",
    "How many shipments are not active?",
    "Which accounts have an amount above the average?",
    "Number of orders for each customer",
    "How many different statuses do products have?",
};

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

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return n ? v[n / 2] : 0;
}

/* 100 tables (10 nouns x 10 prefixes), each referencing the previous noun of its prefix. */
static int make_schema(sqlite3 *db)
{
    char sql[2048];
    for (int p = 0; p < 10; p++)
        for (int n = 0; n < 10; n++) {
            char fk[256] = "";
            if (n > 0)
                snprintf(fk, sizeof(fk), ", %s%s_id INTEGER REFERENCES %s%ss(id)", prefixes[p],
                         nouns[n - 1], prefixes[p], nouns[n - 1]);
            snprintf(sql, sizeof(sql),
                     "CREATE TABLE %s%ss (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "status TEXT NOT NULL, created_at DATE NOT NULL, amount NUMERIC NOT NULL%s);"
                     "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) "
                     "INSERT INTO %s%ss SELECT i, '%s ' || i, "
                     "CASE i %% 3 WHEN 0 THEN 'active' WHEN 1 THEN 'closed' ELSE 'pending' END, "
                     "date('2019-01-01', '+' || (i * 29) || ' days'), (i * 37) %% 1000%s FROM s;",
                     prefixes[p], nouns[n], fk, ROWS, prefixes[p], nouns[n], nouns[n],
                     n > 0 ? ", 1 + (i % 50)" : "");
            if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
                fprintf(stderr, "schema: %s\n", sqlite3_errmsg(db));
                return -1;
            }
        }
    return 0;
}

/* The analysed catalog of the file, as the analysis job builds it. */
static struct catalog *analyse(const char *path, json_t **graph)
{
    const struct quarry_driver *drv = loader_find("sqlite");
    struct quarry_open_params op;
    struct quarry_conn *conn = NULL;
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    struct host_call call;
    struct quarry_error err;
    char url[512];
    if (!drv)
        return NULL;
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    memset(&op, 0, sizeof(op));
    QUARRY_STRUCT_INIT(&op);
    op.url = url;
    host_error_init(&err);
    if (drv->open(&op, &conn, &err) != QUARRY_OK)
        return NULL;
    struct catalog *c = catalog_new(drv);
    catalog_sink_init(&sink, c);
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    host_call_init(&call, 60000, 0);
    int ok = drv->introspect(conn, &call.ctx, &opts, &sink, &err) == QUARRY_OK;
    for (size_t i = 0; ok && i < c->ntables; i++)
        ok = profile_table(drv, conn, &c->tables[i], 5000, 10000, &err) == QUARRY_OK;
    drv->close(conn);
    if (!ok) {
        catalog_free(c);
        return NULL;
    }
    semantic_analyze(c);
    *graph = graph_build(c);
    return c;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN_DIR [runs]\n", argv[0]);
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 200;
    if (runs < 1 || runs > 100000 || sodium_init() < 0 || evthread_use_pthreads() != 0)
        return 2;
    static const char *const names[] = {"sqlite"};
    loader_load(argv[1], names, 1);
    char path[] = "/tmp/t2s_bench_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    sqlite3 *db;
    json_t *graph = NULL;
    struct catalog *c = NULL;
    int rc = 1;
    if (sqlite3_open(path, &db) != SQLITE_OK || make_schema(db) < 0 ||
        !(c = analyse(path, &graph))) {
        fprintf(stderr, "could not build the schema\n");
        goto out;
    }
    size_t nq = sizeof(questions) / sizeof(questions[0]);
    double *t2s = calloc(nq, sizeof(double)), *ref = calloc(nq, sizeof(double));
    double *samples = calloc((size_t)runs, sizeof(double));
    size_t answered = 0;
    for (size_t q = 0; t2s && ref && samples && q < nq; q++) {
        struct t2s_answer a;
        char *sql = NULL;
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms();
            int ok = t2s_translate(c, graph, questions[q], 100, &a) == 0;
            samples[r] = now_ms() - t0;
            if (ok && !sql)
                sql = strdup(a.query);
            t2s_answer_clear(&a);
        }
        t2s[q] = median(samples, (size_t)runs);
        ref[q] = 0;
        if (sql) {
            answered++;
            for (int r = 0; r < runs; r++) {
                sqlite3_stmt *st = NULL;
                double t0 = now_ms();
                sqlite3_prepare_v2(db, sql, -1, &st, NULL);
                samples[r] = now_ms() - t0;
                sqlite3_finalize(st);
            }
            ref[q] = median(samples, (size_t)runs);
        }
        printf("%-52s %8.3f ms  prepare %8.3f ms  %s\n", questions[q], t2s[q], ref[q],
               sql ? sql : "(no query)");
        free(sql);
    }
    double mt = median(t2s, nq), mr = median(ref, nq);
    printf("\ntables %zu, questions %zu (answered %zu), runs %d\n", c->ntables, nq, answered, runs);
    printf("median t2s_translate %.3f ms; median sqlite3_prepare_v2 of its SQL %.3f ms; ratio "
           "%.1fx; goal < 2 ms: %s\n",
           mt, mr, mr > 0 ? mt / mr : 0, mt < 2.0 ? "met" : "NOT met");
    rc = mt < 2.0 ? 0 : 1;
    free(t2s);
    free(ref);
    free(samples);
out:
    sqlite3_close(db);
    json_decref(graph);
    catalog_free(c);
    unlink(path);
    return rc;
}
