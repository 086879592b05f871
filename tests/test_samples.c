/*
 * Verified sample queries (core/samples.c) on real databases: Chinook and
 * Northwind through the sqlite driver, Chinook on the PostgreSQL and MariaDB
 * test servers and the shop database of the MongoDB peer, each introspected,
 * profiled and semantically analysed by the real modules, with its graph.
 * Every candidate must run; each kept sample is run again here (for SQLite
 * straight through libsqlite3) and must give the row count it claims.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "catalog.h"
#include "graph.h"
#include "harness.h"
#include "host.h"
#include "loader.h"
#include "profile.h"
#include "samples.h"
#include "semantic.h"

static char *chinook, *northwind;

static int suite_init(void)
{
    static const char *const names[] = {"sqlite", "postgres", "mysql", "mongodb"};
    for (size_t i = 0; i < 4; i++)
        if (!loader_find(names[i]))
            loader_load(QUARRY_TEST_PLUGIN_DIR, &names[i], 1);
    if (!chinook)
        chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    if (!northwind)
        northwind = harness_copy_fixture("northwind/northwind.sqlite");
    return loader_find("sqlite") && chinook && northwind ? 0 : -1;
}

/* A database as analysis sees it: its driver, a connection, the catalog and its graph. */
struct db {
    const struct quarry_driver *drv;
    struct quarry_conn *conn;
    struct catalog *catalog;
    json_t *graph;
};

enum { PLAIN = 0, PROFILED = 1, ANALYSED = 2 };

static void db_close(struct db *db)
{
    if (db->conn)
        db->drv->close(db->conn);
    catalog_free(db->catalog);
    json_decref(db->graph);
    memset(db, 0, sizeof(*db));
}

static int db_open(struct db *db, const char *driver, const char *url, int depth)
{
    struct quarry_open_params p;
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    struct host_call call;
    struct quarry_error err;
    memset(db, 0, sizeof(*db));
    if (!(db->drv = loader_find(driver)) || !url)
        return -1;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    p.connect_timeout_ms = 5000;
    host_error_init(&err);
    if (db->drv->open(&p, &db->conn, &err) != QUARRY_OK)
        goto fail;
    db->catalog = catalog_new(db->drv);
    catalog_sink_init(&sink, db->catalog);
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    opts.sample_documents = 200;
    host_call_init(&call, 30000, 0);
    if (db->drv->introspect(db->conn, &call.ctx, &opts, &sink, &err) != QUARRY_OK)
        goto fail;
    for (size_t i = 0; depth >= PROFILED && i < db->catalog->ntables; i++) {
        host_error_init(&err);
        if (profile_table(db->drv, db->conn, &db->catalog->tables[i], 5000, 10000, &err) !=
            QUARRY_OK)
            goto fail;
    }
    if (depth >= ANALYSED)
        semantic_analyze(db->catalog);
    db->graph = graph_build(db->catalog);
    return db->graph ? 0 : -1;
fail:
    fprintf(stderr, "\n  %s: %s\n", driver, err.message);
    db_close(db);
    return -1;
}

static int open_sqlite(struct db *db, const char *path, int depth)
{
    char *url = NULL;
    if (asprintf(&url, "sqlite:///%s", path) < 0)
        return -1;
    int rc = db_open(db, "sqlite", url, depth);
    free(url);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

static int count_rows(void *userdata, int ncols, char **values, char **names)
{
    (void)ncols;
    (void)values;
    (void)names;
    (*(long *)userdata)++;
    return 0;
}

/* Rows of `sql` run straight through libsqlite3; -1 when it fails. */
static long sqlite_count(const char *path, const char *sql)
{
    sqlite3 *db;
    long rows = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_exec(db, sql, count_rows, &rows, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? rows : -1;
}

static size_t distinct_kinds(const json_t *samples)
{
    json_t *kinds = json_object();
    size_t i, n;
    json_t *s;
    json_array_foreach(samples, i, s)
    {
        json_object_set_new(kinds, json_string_value(json_object_get(s, "kind")), json_true());
    }
    n = json_object_size(kinds);
    json_decref(kinds);
    return n;
}

/*
 * Every candidate verified, at least `min_kinds` kinds, each sample well formed
 * and naming tables of the catalog. `path`: re-run SQL through libsqlite3.
 */
static void check_samples(const struct db *db, const json_t *samples, size_t min_kinds,
                          const char *path)
{
    const char *key = strcmp(db->catalog->dialect, "mongodb") == 0 ? "pipeline" : "sql";
    json_t *candidates = samples_candidates(db->catalog, db->graph);
    CU_ASSERT_PTR_NOT_NULL_FATAL(samples);
    CU_ASSERT_PTR_NOT_NULL_FATAL(candidates);
    if (json_array_size(samples) != json_array_size(candidates)) {
        char *c = json_dumps(candidates, JSON_INDENT(1));
        fprintf(stderr, "\n  %zu of %zu candidates verified:\n%s\n", json_array_size(samples),
                json_array_size(candidates), c);
        free(c);
    }
    CU_ASSERT_EQUAL(json_array_size(samples), json_array_size(candidates));
    CU_ASSERT(json_array_size(samples) >= min_kinds);
    CU_ASSERT(json_array_size(samples) <= SAMPLES_MAX);
    CU_ASSERT(distinct_kinds(samples) >= min_kinds);
    size_t i;
    json_t *s;
    json_array_foreach(samples, i, s)
    {
        const char *question = json_string_value(json_object_get(s, "question"));
        const char *statement = json_string_value(json_object_get(s, key));
        json_int_t rows = json_integer_value(json_object_get(s, "row_count"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(question);
        CU_ASSERT_PTR_NOT_NULL_FATAL(statement);
        CU_ASSERT(strlen(question) > 10 && strchr("?.", question[strlen(question) - 1]));
        CU_ASSERT(json_is_true(json_object_get(s, "verified")));
        CU_ASSERT(rows >= 1 && rows <= SAMPLES_ROW_LIMIT);
        CU_ASSERT(json_equal(json_object_get(s, key),
                             json_object_get(json_array_get(candidates, i), key)));
        size_t t;
        json_t *label;
        json_array_foreach(json_object_get(s, "tables"), t, label)
        {
            int found = 0;
            for (size_t k = 0; k < db->catalog->ntables && !found; k++) {
                char *l = catalog_table_label(&db->catalog->tables[k]);
                found = strcmp(l, json_string_value(label)) == 0;
                free(l);
            }
            CU_ASSERT(found);
        }
        if (path) {
            long again = sqlite_count(path, statement);
            CU_ASSERT_EQUAL(again < SAMPLES_ROW_LIMIT ? again : SAMPLES_ROW_LIMIT, rows);
        }
    }
    json_decref(candidates);
}

static json_t *generate(const struct db *db)
{
    return samples_generate(db->catalog, db->graph, db->drv, db->conn, 30000);
}

/* ------------------------------------------------------------------------ */
/* SQLite                                                                   */
/* ------------------------------------------------------------------------ */

static int has_kind(const json_t *samples, const char *kind)
{
    size_t i;
    json_t *s;
    json_array_foreach(samples, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "kind")), kind) == 0)
            return 1;
    }
    return 0;
}

static void test_chinook(void)
{
    struct db db;
    CU_ASSERT_EQUAL_FATAL(open_sqlite(&db, chinook, ANALYSED), 0);
    json_t *samples = generate(&db);
    check_samples(&db, samples, 8, chinook);
    /* What a profiled and analysed Chinook must offer. */
    static const char *const kinds[] = {"count",           "top_n",      "group_count",
                                        "join_list",       "date_range", "group_by_year",
                                        "category_filter", "average",    NULL};
    for (const char *const *k = kinds; *k; k++) {
        if (!has_kind(samples, *k))
            fprintf(stderr, "\n  no %s sample\n", *k);
        CU_ASSERT(has_kind(samples, *k));
    }
    /* The same catalog, the same candidates. */
    json_t *a = samples_candidates(db.catalog, db.graph),
           *b = samples_candidates(db.catalog, db.graph);
    CU_ASSERT(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    json_decref(samples);
    db_close(&db);
}

static void test_northwind(void)
{
    struct db db;
    CU_ASSERT_EQUAL_FATAL(open_sqlite(&db, northwind, ANALYSED), 0);
    json_t *samples = generate(&db);
    check_samples(&db, samples, 8, northwind);
    json_decref(samples);
    db_close(&db);
}

/* Without semantic analysis, or without profiles, what names and types allow. */
static void test_less_analysis(void)
{
    struct db db;
    CU_ASSERT_EQUAL_FATAL(open_sqlite(&db, chinook, PROFILED), 0);
    json_t *samples = generate(&db);
    check_samples(&db, samples, 7, chinook);
    json_decref(samples);
    db_close(&db);

    CU_ASSERT_EQUAL_FATAL(open_sqlite(&db, northwind, PLAIN), 0);
    samples = generate(&db);
    check_samples(&db, samples, 5, northwind);
    CU_ASSERT(!has_kind(samples, "date_range") && !has_kind(samples, "group_count"));
    json_decref(samples);
    db_close(&db);
}

/* A candidate that fails is dropped, the others kept; a spent budget stops the runs. */
static void test_failures_and_budget(void)
{
    struct db db;
    CU_ASSERT_EQUAL_FATAL(open_sqlite(&db, chinook, ANALYSED), 0);
    json_t *all = samples_candidates(db.catalog, db.graph);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    const char *gone =
        json_string_value(json_array_get(json_object_get(json_array_get(all, 0), "tables"), 0));
    struct catalog_table *t = catalog_find_table(db.catalog, NULL, gone);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char *renamed = strdup("NoSuchTable");
    free(t->name);
    t->name = renamed;
    json_t *graph = graph_build(db.catalog);
    json_t *candidates = samples_candidates(db.catalog, graph);
    json_t *kept = samples_generate(db.catalog, graph, db.drv, db.conn, 30000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kept);
    size_t i, naming = 0;
    json_t *s;
    json_array_foreach(candidates, i, s)
    {
        naming += strstr(json_string_value(json_object_get(s, "sql")), "NoSuchTable") != NULL;
    }
    CU_ASSERT(naming >= 1);
    CU_ASSERT_EQUAL(json_array_size(kept), json_array_size(candidates) - naming);
    json_array_foreach(kept, i, s)
    {
        CU_ASSERT_PTR_NULL(strstr(json_string_value(json_object_get(s, "sql")), "NoSuchTable"));
    }
    json_decref(kept);

    int64_t start = host_now_ms();
    kept = samples_generate(db.catalog, graph, db.drv, db.conn, 1);
    CU_ASSERT_PTR_NOT_NULL(kept);
    CU_ASSERT(json_array_size(kept) < json_array_size(candidates));
    CU_ASSERT(host_now_ms() - start < 2000);
    json_decref(kept);
    json_decref(candidates);
    json_decref(graph);
    json_decref(all);
    db_close(&db);

    /* An empty catalog: no samples, no crash. */
    struct catalog *empty = catalog_new(loader_find("sqlite"));
    json_t *g = graph_build(empty);
    json_t *none = samples_candidates(empty, g);
    CU_ASSERT(json_is_array(none) && json_array_size(none) == 0);
    json_decref(none);
    json_decref(g);
    catalog_free(empty);
}

/* ------------------------------------------------------------------------ */
/* The servers                                                              */
/* ------------------------------------------------------------------------ */

static void on_server(const char *driver, const char *env, size_t min_kinds)
{
    const char *url = getenv(env);
    struct db db;
    if (!url || !*url)
        fprintf(stderr,
                "\n  %s is not set: start the test servers: eval \"$(bash "
                ".ci/services/<name>.sh start)\"\n",
                env);
    CU_ASSERT_PTR_NOT_NULL_FATAL(url);
    CU_ASSERT_EQUAL_FATAL(db_open(&db, driver, url, ANALYSED), 0);
    json_t *samples = generate(&db);
    check_samples(&db, samples, min_kinds, NULL);
    json_decref(samples);
    db_close(&db);
}

static void test_postgres(void)
{
    on_server("postgres", "QUARRY_TEST_PG_URL", 8);
}

static void test_mysql(void)
{
    on_server("mysql", "QUARRY_TEST_MYSQL_URL", 8);
}

static void test_mongodb(void)
{
    on_server("mongodb", "QUARRY_TEST_MONGO_URL", 5);
}

void register_samples_tests(void)
{
    CU_pSuite s = CU_add_suite("samples", suite_init, NULL);
    CU_add_test(s, "Chinook (sqlite)", test_chinook);
    CU_add_test(s, "Northwind (sqlite)", test_northwind);
    CU_add_test(s, "with less analysis", test_less_analysis);
    CU_add_test(s, "failures dropped, budget kept", test_failures_and_budget);
    CU_add_test(s, "Chinook on PostgreSQL", test_postgres);
    CU_add_test(s, "Chinook on MariaDB", test_mysql);
    CU_add_test(s, "shop on the MongoDB peer", test_mongodb);
}
