/*
 * The built-in text-to-SQL engine (core/t2s_*.c) on an analysed Chinook
 * (sqlite): bad input, a catalog rebuilt from its snapshot, the subquery
 * condition added to sqlgen, and relevant tables. The per-construct
 * execution checks live in test_t2s_accuracy.c.
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
#include "semantic.h"
#include "sqlgen.h"
#include "t2s.h"

static char *chinook;
static struct catalog *cat;
static json_t *graph;

static int suite_init(void)
{
    static const char *const names[] = {"sqlite"};
    if (!loader_find("sqlite"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, names, 1);
    const struct quarry_driver *drv = loader_find("sqlite");
    chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    if (!drv || !chinook)
        return -1;
    struct quarry_open_params p;
    struct quarry_conn *conn = NULL;
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    struct host_call call;
    struct quarry_error err;
    char *url = NULL;
    if (asprintf(&url, "sqlite:///%s", chinook) < 0)
        return -1;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    host_error_init(&err);
    int rc = drv->open(&p, &conn, &err) == QUARRY_OK ? 0 : -1;
    free(url);
    if (rc < 0)
        return -1;
    cat = catalog_new(drv);
    catalog_sink_init(&sink, cat);
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    host_call_init(&call, 30000, 0);
    rc = drv->introspect(conn, &call.ctx, &opts, &sink, &err) == QUARRY_OK ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < cat->ntables; i++)
        rc = profile_table(drv, conn, &cat->tables[i], 5000, 10000, &err) == QUARRY_OK ? 0 : -1;
    drv->close(conn);
    semantic_analyze(cat);
    graph = graph_build(cat);
    return rc == 0 && graph ? 0 : -1;
}

static int suite_cleanup(void)
{
    catalog_free(cat);
    json_decref(graph);
    free(chinook);
    return 0;
}

static long scalar(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long v = -1;
    if (sqlite3_open_v2(chinook, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static void test_bad_input(void)
{
    struct t2s_answer a;
    CU_ASSERT_EQUAL(t2s_translate(cat, graph, "", 10, &a), -1);
    CU_ASSERT_PTR_NULL(a.query);
    CU_ASSERT_EQUAL(a.confidence, 0);
    CU_ASSERT_PTR_NOT_NULL(a.explanation);
    t2s_answer_clear(&a);
    CU_ASSERT_EQUAL(t2s_translate(cat, graph, "?!  ...", 10, &a), -1);
    t2s_answer_clear(&a);
    char *long_q = malloc(T2S_MAX_QUESTION + 10);
    memset(long_q, 'a', T2S_MAX_QUESTION + 9);
    long_q[T2S_MAX_QUESTION + 9] = '\0';
    CU_ASSERT_EQUAL(t2s_translate(cat, graph, long_q, 10, &a), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.explanation, "too long"));
    t2s_answer_clear(&a);
    free(long_q);
    /* Nonsense: nothing named, or a low confidence. */
    int rc = t2s_translate(cat, graph, "purple elephants dream of quantum bananas", 10, &a);
    CU_ASSERT(rc == -1 || a.confidence < 0.5);
    t2s_answer_clear(&a);
    CU_ASSERT_EQUAL(t2s_translate(cat, graph, NULL, 10, &a), -1);
    t2s_answer_clear(&a);
}

static void test_answer_shape(void)
{
    struct t2s_answer a;
    CU_ASSERT_EQUAL_FATAL(
        t2s_translate(cat, graph, "How many tracks are in the Rock genre?", 10, &a), 0);
    CU_ASSERT(a.confidence >= 0.8);
    CU_ASSERT_EQUAL(scalar(a.query), scalar("SELECT COUNT(*) FROM Track t JOIN Genre g ON "
                                            "t.GenreId = g.GenreId WHERE g.Name = 'Rock'"));
    CU_ASSERT_EQUAL(json_array_size(a.tables), 2);
    CU_ASSERT(json_array_size(a.columns) >= 1);
    CU_ASSERT_PTR_NOT_NULL(a.explanation);
    t2s_answer_clear(&a);
    /* The limit lands in the query; the same question, the same answer. */
    struct t2s_answer b, c;
    CU_ASSERT_EQUAL_FATAL(t2s_translate(cat, graph, "List the customers from Brazil", 3, &b), 0);
    CU_ASSERT_EQUAL_FATAL(t2s_translate(cat, graph, "List the customers from Brazil", 3, &c), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.query, "LIMIT 3"));
    CU_ASSERT_STRING_EQUAL(b.query, c.query);
    t2s_answer_clear(&b);
    t2s_answer_clear(&c);
}

static void test_snapshot_catalog(void)
{
    json_t *snap = semantic_snapshot(cat, 1, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    struct catalog *from = t2s_catalog_from_snapshot(snap, "sqlite", '"', QUARRY_LIMIT_LIMIT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(from);
    CU_ASSERT_EQUAL(from->ntables, cat->ntables);
    json_t *g = graph_build(from);
    struct t2s_answer a;
    CU_ASSERT_EQUAL_FATAL(t2s_translate(from, g, "How many customers are from Brazil?", 0, &a), 0);
    CU_ASSERT_EQUAL(scalar(a.query),
                    scalar("SELECT COUNT(*) FROM Customer WHERE Country = 'Brazil'"));
    t2s_answer_clear(&a);
    CU_ASSERT_EQUAL_FATAL(t2s_translate(from, g, "Which artist has the most albums?", 0, &a), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.query, "JOIN"));
    t2s_answer_clear(&a);
    json_decref(g);
    catalog_free(from);
    CU_ASSERT_PTR_NULL(t2s_catalog_from_snapshot(json_object_get(snap, "nope"), "sqlite", '"', 0));
    json_decref(snap);
}

static void test_subquery_render(void)
{
    struct sqlgen_query *q = sqlgen_new(NULL, "Track", NULL);
    struct sqlgen_query *sub = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(sub, &(struct sqlgen_term){NULL, "Milliseconds", SQLGEN_AVG, 0}, NULL);
    sqlgen_select(q, &(struct sqlgen_term){NULL, NULL, SQLGEN_COUNT, 0}, "n");
    CU_ASSERT_EQUAL(
        sqlgen_where_subquery(q, &(struct sqlgen_term){NULL, "Milliseconds", 0, 0}, SQLGEN_GT, sub),
        0);
    struct quarry_error err;
    host_error_init(&err);
    char *sql = sqlgen_render(q, cat, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
    CU_ASSERT_STRING_EQUAL(sql, "SELECT COUNT(*) AS \"n\" FROM \"Track\" WHERE \"Milliseconds\" > "
                                "(SELECT AVG(\"Milliseconds\") FROM \"Track\")");
    CU_ASSERT_EQUAL(scalar(sql), scalar("SELECT COUNT(*) FROM Track WHERE Milliseconds > (SELECT "
                                        "AVG(Milliseconds) FROM Track)"));
    free(sql);
    /* Two levels, a bad operator: refused. */
    struct sqlgen_query *inner = sqlgen_new(NULL, "Track", NULL),
                        *outer = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(inner, &(struct sqlgen_term){NULL, "Milliseconds", SQLGEN_AVG, 0}, NULL);
    sqlgen_select(outer, &(struct sqlgen_term){NULL, "Milliseconds", 0, 0}, NULL);
    sqlgen_where_subquery(outer, &(struct sqlgen_term){NULL, "Milliseconds", 0, 0}, SQLGEN_GT,
                          inner);
    CU_ASSERT_EQUAL(
        sqlgen_where_subquery(q, &(struct sqlgen_term){NULL, "TrackId", 0, 0}, SQLGEN_IN, outer),
        -1);
    CU_ASSERT_PTR_NULL(sqlgen_render(q, cat, &err));
    sqlgen_free(q);
    q = sqlgen_new(NULL, "Track", NULL);
    sub = sqlgen_new(NULL, "Track", NULL);
    CU_ASSERT_EQUAL(
        sqlgen_where_subquery(q, &(struct sqlgen_term){NULL, "x", 0, 0}, SQLGEN_CONTAINS, sub), -1);
    sqlgen_free(q);
}

static void test_relevant_tables(void)
{
    json_t *t = t2s_relevant_tables(cat, graph, "Which artists have Rock tracks?", 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(t, 0)), "Artist");
    int album = 0;
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v) album |= strcmp(json_string_value(v), "Album") == 0;
    CU_ASSERT(album); /* on the path from Artist to Track */
    CU_ASSERT(json_array_size(t) <= 5);
    json_decref(t);
}

void register_t2s_tests(void)
{
    CU_pSuite s = CU_add_suite("t2s", suite_init, suite_cleanup);
    CU_add_test(s, "bad input", test_bad_input);
    CU_add_test(s, "answer shape, limit, determinism", test_answer_shape);
    CU_add_test(s, "catalog from a snapshot", test_snapshot_catalog);
    CU_add_test(s, "sqlgen subquery condition", test_subquery_render);
    CU_add_test(s, "relevant tables", test_relevant_tables);
}
