/*
 * Analysis across time and databases: drift after a schema change, user
 * descriptions that survive, an undeclared join inferred, batches, a queued
 * job finished after a restart, and the real PostgreSQL, MariaDB and MongoDB
 * fixtures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "api_testlib.h"
#include "harness.h"

#define AGENT "88888888-8888-4888-8888-888888888888"

static struct harness_server *server;

static int suite_init(void)
{
    server = harness_start(NULL, NULL);
    return server ? 0 : -1;
}

static int suite_cleanup(void)
{
    return harness_stop(server) == 0 ? 0 : -1;
}

static int exec_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sqlite: %s\n", err);
    sqlite3_free(err);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* A shop whose orders point at customers without a declared foreign key. */
static char *make_shop(void)
{
    char *path = harness_tmppath("shop", ".db");
    int rc = exec_sql(
        path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, full_name TEXT, "
              "  contact_mail TEXT, country TEXT);"
              "CREATE TABLE orders (order_no INTEGER PRIMARY KEY, customer_ref INTEGER, "
              "  placed_on TEXT, amount NUMERIC, batch INTEGER);"
              "CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT);"
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60) "
              "INSERT INTO customers SELECT i, 'Person ' || i, 'p' || i || '@example.com', "
              "  CASE i % 3 WHEN 0 THEN 'Norway' WHEN 1 THEN 'Brazil' ELSE 'Japan' END FROM n;"
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
              "INSERT INTO orders SELECT i, 1 + (i * 7) % 60, date('2023-01-01', '+' || i || "
              "  ' days'), (i % 97) + 0.5, 1000 + i FROM n;"
              "INSERT INTO audit VALUES (1, 'created');");
    if (rc != 0) {
        free(path);
        return NULL;
    }
    return path;
}

static json_t *find_by(json_t *array, const char *key, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        const char *v = json_string_value(json_object_get(item, key));
        if (v && strcmp(v, value) == 0)
            return item;
    }
    return NULL;
}

static int has_inferred(json_t *graph, const char *from_table, const char *to_table)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(graph, "edges"), i, e)
    {
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *from = json_string_value(json_object_get(e, "from_table"));
        const char *to = json_string_value(json_object_get(e, "to_table"));
        if (type && from && to && strcmp(type, "inferred_join") == 0 && strstr(from, from_table) &&
            strstr(to, to_table))
            return 1;
    }
    return 0;
}

static void test_inferred_join_and_drift(void)
{
    char *shop = make_shop();
    CU_ASSERT_PTR_NOT_NULL_FATAL(shop);
    char *id = api_create(server, "shop", "sqlite", shop, AGENT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *done = api_analyze(server, id, 120);
    CU_ASSERT_STRING_EQUAL_FATAL(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);

    char path[256];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/knowledge-graph", id);
    json_t *body = api_get(server, path, 200);
    json_t *graph = json_object_get(body, "graph");
    CU_ASSERT_TRUE(has_inferred(graph, "orders", "customers"));
    json_decref(body);

    /* A person's description of a table, to survive the next analysis. */
    snprintf(path, sizeof(path), "/v1/database-connection/%s/table?search=orders", id);
    json_t *list = api_get(server, path, 200);
    const char *found = json_string_value(
        json_object_get(json_array_get(json_object_get(list, "tables"), 0), "id"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(found);
    char *orders_id = strdup(found);
    json_decref(list);
    char table[256];
    snprintf(table, sizeof(table), "/v1/database-connection/table/%s", orders_id);
    json_decref(api_call(server, "PATCH", table,
                         "{\"description\": \"Every order a customer placed\", \"columns\": "
                         "{\"amount\": \"Order total in EUR\"}}",
                         200));
    json_decref(api_call(server, "PATCH", table, "{\"columns\": {\"nope\": \"x\"}}", 422));
    json_decref(api_call(server, "PATCH", table, "{\"description\": 5}", 422));

    /* The schema changes: a column added, a table dropped, a column's type changed. */
    CU_ASSERT_EQUAL(exec_sql(shop,
                             "ALTER TABLE customers ADD COLUMN phone TEXT;"
                             "DROP TABLE audit;"
                             "CREATE TABLE orders2 (order_no INTEGER PRIMARY KEY, "
                             "  customer_ref INTEGER, placed_on TEXT, amount TEXT, batch INTEGER);"
                             "INSERT INTO orders2 SELECT * FROM orders; DROP TABLE orders;"
                             "ALTER TABLE orders2 RENAME TO orders;"),
                    0);
    done = api_analyze(server, id, 120);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);

    snprintf(path, sizeof(path), "/v1/database-connection/%s/semantic-snapshot", id);
    body = api_get(server, path, 200);
    json_t *drift = json_object_get(json_object_get(body, "snapshot"), "drift");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(body, "version")), 2);
    char *text = json_dumps(drift, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "audit"));  /* removed */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "phone"));  /* added */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "amount")); /* changed */
    free(text);
    json_decref(body);

    /* Same id for the table, the person's words kept, the dropped table marked gone. */
    json_t *t = api_get(server, table, 200);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(t, "table"), "description")),
        "Every order a customer placed");
    json_t *amount =
        find_by(json_object_get(json_object_get(t, "table"), "columns"), "name", "amount");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(amount, "description")),
                           "Order total in EUR");
    json_decref(t);
    snprintf(path, sizeof(path), "/v1/database-connection/%s/table?search=audit", id);
    list = api_get(server, path, 200);
    json_t *audit = json_array_get(json_object_get(list, "tables"), 0);
    CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(audit, "gone_at")));
    json_decref(list);
    free(orders_id);
    free(id);
    free(shop);
}

static void test_batch(void)
{
    char *a = harness_copy_fixture("northwind/northwind.sqlite");
    char *b = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    char *ida = api_create(server, "north-batch", "sqlite", a, AGENT);
    char *idb = api_create(server, "chinook-batch", "sqlite", b, AGENT);
    char body[256];
    snprintf(body, sizeof(body), "{\"connection_ids\": [\"%s\", \"%s\"]}", ida, idb);
    json_t *ack = api_call(server, "POST", "/v1/database-connection/analyze", body, 202);
    json_t *done = api_wait_task(server, json_string_value(json_object_get(ack, "task_id")), 180);
    json_t *result = json_object_get(done, "result");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(result, "succeeded")), 2);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(result, "results")), 2);
    json_decref(ack);
    json_decref(done);
    /* No body: every eligible connection. */
    ack = api_call(server, "POST", "/v1/database-connection/analyze", NULL, 202);
    done = api_wait_task(server, json_string_value(json_object_get(ack, "task_id")), 300);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(done, "status")), "succeeded");
    CU_ASSERT(json_integer_value(json_object_get(json_object_get(done, "result"), "requested")) >=
              2);
    json_decref(ack);
    json_decref(done);
    free(ida);
    free(idb);
    free(a);
    free(b);
}

static void test_failed_analysis_reports_the_driver(void)
{
    char *gone = harness_tmppath("vanishing", ".db");
    CU_ASSERT_EQUAL(exec_sql(gone, "CREATE TABLE t (x);"), 0);
    char *id = api_create(server, "vanishing", "sqlite", gone, AGENT);
    remove(gone);
    json_t *done = api_analyze(server, id, 60);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(done, "status")), "failed");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(done, "state")), "FAILURE");
    json_t *error = json_object_get(done, "error");
    CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(error, "code")));
    CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(error, "message")));
    json_decref(done);
    free(id);
    free(gone);
}

/* A job queued while quarryd was down runs when it comes back. */
static void test_restart_finishes_queued_job(void)
{
    char *chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    char *registry = harness_tmppath("restart", ".db");
    struct harness_server *first = harness_start_at(registry, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    char *id = api_create(first, "restartable", "sqlite", chinook, AGENT);
    CU_ASSERT_EQUAL(harness_stop(first), 0);

    sqlite3 *db;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(registry, &db), SQLITE_OK);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO jobs (id, kind, connection_id, status, created_at) VALUES "
             "('99999999-9999-4999-8999-999999999999', 'analyze', '%s', 'queued', 'x');"
             "INSERT INTO jobs (id, kind, connection_id, status, started_at, created_at) VALUES "
             "('99999999-9999-4999-8999-999999999998', 'analyze', '%s', 'running', 'x', 'y');",
             id, id);
    CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct harness_server *second = harness_start_at(registry, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(second);
    json_t *a = api_wait_task(second, "99999999-9999-4999-8999-999999999999", 120);
    json_t *b = api_wait_task(second, "99999999-9999-4999-8999-999999999998", 120);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "status")), "succeeded");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "status")), "succeeded");
    json_decref(a);
    json_decref(b);
    CU_ASSERT_EQUAL(harness_stop(second), 0);
    free(id);
    free(registry);
    free(chinook);
}

/* One of the server fixtures: every Chinook table, and every declared FK in the graph. */
static void analyse_server(const char *env, const char *type, size_t tables, size_t fks)
{
    const char *url = getenv(env);
    if (!url) {
        CU_FAIL("test database URL not set: run the README's test command");
        return;
    }
    char name[64];
    snprintf(name, sizeof(name), "%s-fixture", type);
    char *id = api_create(server, name, type, url, AGENT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *done = api_analyze(server, id, 180);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(done, "status")), "succeeded");
    CU_ASSERT(json_integer_value(json_object_get(json_object_get(done, "result"), "tables")) >=
              (json_int_t)tables);
    json_decref(done);
    char path[256];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/knowledge-graph", id);
    json_t *body = api_get(server, path, 200);
    size_t declared = 0, i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(body, "graph"), "edges"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")), "foreign_key") == 0)
            declared++;
    }
    CU_ASSERT(declared >= fks);
    json_decref(body);
    snprintf(path, sizeof(path), "/v1/database-connection/%s/sample-queries", id);
    body = api_get(server, path, 200);
    CU_ASSERT(json_array_size(json_object_get(body, "sample_queries")) >= 3);
    json_decref(body);
    free(id);
}

static void test_postgres(void)
{
    analyse_server("QUARRY_TEST_PG_URL", "postgres", 11, 11);
}

static void test_mariadb(void)
{
    analyse_server("QUARRY_TEST_MYSQL_URL", "mysql", 11, 11);
}

static void test_mongodb(void)
{
    analyse_server("QUARRY_TEST_MONGO_URL", "mongodb", 3, 0);
}

void register_api_analysis_more_tests(void)
{
    CU_pSuite s = CU_add_suite("api_analysis_more", suite_init, suite_cleanup);
    CU_add_test(s, "an undeclared join inferred; drift after a schema change",
                test_inferred_join_and_drift);
    CU_add_test(s, "batch analysis: named and all eligible", test_batch);
    CU_add_test(s, "a failed analysis carries the driver's reason",
                test_failed_analysis_reports_the_driver);
    CU_add_test(s, "a restart finishes queued and interrupted jobs",
                test_restart_finishes_queued_job);
    CU_add_test(s, "PostgreSQL Chinook analysed", test_postgres);
    CU_add_test(s, "MariaDB Chinook analysed", test_mariadb);
    CU_add_test(s, "MongoDB peer analysed", test_mongodb);
}
