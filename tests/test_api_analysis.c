/*
 * Analysis over HTTP: queue, poll the task, then read tables, the semantic
 * snapshot, the knowledge graph and sample queries; drift on re-analysis;
 * a queued job surviving a restart. Real sqlite files here; the server
 * databases in test_api_analysis_servers.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "api_testlib.h"
#include "harness.h"

#define AGENT "77777777-7777-4777-8777-777777777777"

static struct harness_server *server;
static char *chinook_id;

static int suite_init(void)
{
    server = harness_start(NULL, NULL);
    if (!server)
        return -1;
    char *chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    chinook_id = api_create(server, "chinook", "sqlite", chinook, AGENT);
    free(chinook);
    return chinook_id ? 0 : -1;
}

static int suite_cleanup(void)
{
    free(chinook_id);
    return harness_stop(server) == 0 ? 0 : -1;
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

static void test_ack_and_task(void)
{
    struct harness_response r;
    char path[160];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/analyze", chinook_id);
    CU_ASSERT_EQUAL_FATAL(harness_request(server, "POST", path, NULL, harness_auth(server), &r), 0);
    CU_ASSERT_EQUAL(r.status, 202);
    const char *task = json_string_value(json_object_get(r.json, "task_id"));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "status")), "accepted");
    char expected[96];
    snprintf(expected, sizeof(expected), "/v1/tasks/%s/status", task ? task : "");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "status_url")), expected);
    json_t *done = api_wait_task(server, task, 120);
    CU_ASSERT_PTR_NOT_NULL_FATAL(done);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(done, "status")), "succeeded");
    CU_ASSERT_TRUE(json_is_null(json_object_get(done, "error")));
    json_t *result = json_object_get(done, "result");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(result, "tables")), 11);
    CU_ASSERT(json_integer_value(json_object_get(result, "snapshot_version")) >= 1);
    json_decref(done);
    harness_response_free(&r);
}

static void test_tables_captured(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/table", chinook_id);
    json_t *list = api_get(server, path, 200);
    CU_ASSERT_EQUAL_FATAL(json_integer_value(json_object_get(list, "total")), 11);
    json_t *track = find_by(json_object_get(list, "tables"), "name", "Track");
    CU_ASSERT_PTR_NOT_NULL_FATAL(track);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(track, "row_count")), 3503);
    snprintf(path, sizeof(path), "/v1/database-connection/table/%s",
             json_string_value(json_object_get(track, "id")));
    json_t *body = api_get(server, path, 200);
    json_t *t = json_object_get(body, "table");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(t, "columns")), 9);
    json_t *fks = json_object_get(t, "foreign_keys");
    CU_ASSERT_EQUAL(json_array_size(fks), 3); /* AlbumId, GenreId, MediaTypeId */
    CU_ASSERT_PTR_NOT_NULL(find_by(fks, "ref_table", "Album"));
    CU_ASSERT_PTR_NOT_NULL(
        find_by(json_object_get(t, "referenced_by"), "from_table", "InvoiceLine"));
    json_t *pk = json_object_get(t, "primary_key");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(pk, 0)), "TrackId");
    json_t *name = find_by(json_object_get(t, "columns"), "name", "Name");
    CU_ASSERT_PTR_NOT_NULL(json_object_get(name, "statistics"));
    json_decref(body);
    json_decref(list);
}

static json_t *snapshot_column(json_t *snapshot, const char *table, const char *column)
{
    json_t *t = find_by(json_object_get(snapshot, "tables"), "name", table);
    return t ? find_by(json_object_get(t, "columns"), "name", column) : NULL;
}

static const char *semantic_of(json_t *snapshot, const char *table, const char *column)
{
    return json_string_value(
        json_object_get(snapshot_column(snapshot, table, column), "semantic_type"));
}

static void test_semantic_snapshot(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/semantic-snapshot", chinook_id);
    json_t *body = api_get(server, path, 200);
    json_t *s = json_object_get(body, "snapshot");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(json_string_length(json_object_get(s, "schema_hash")), 64);
    CU_ASSERT_STRING_EQUAL(semantic_of(s, "Customer", "Email"), "email");
    CU_ASSERT_TRUE(json_is_true(json_object_get(snapshot_column(s, "Customer", "Email"), "pii")));
    CU_ASSERT_STRING_EQUAL(semantic_of(s, "Customer", "Phone"), "phone");
    CU_ASSERT_STRING_EQUAL(semantic_of(s, "Customer", "FirstName"), "person_name");
    CU_ASSERT_STRING_EQUAL(semantic_of(s, "Invoice", "InvoiceDate"), "datetime");
    CU_ASSERT_STRING_EQUAL(semantic_of(s, "InvoiceLine", "UnitPrice"), "currency");
    CU_ASSERT_STRING_EQUAL(semantic_of(s, "Genre", "Name"), "category");
    CU_ASSERT_STRING_EQUAL(semantic_of(s, "Track", "AlbumId"), "foreign_key");
    json_t *pt = find_by(json_object_get(s, "tables"), "name", "PlaylistTrack");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pt, "role")), "junction");
    /* An older version by number, and errors. */
    snprintf(path, sizeof(path), "/v1/database-connection/%s/semantic-snapshot?version=1",
             chinook_id);
    json_t *v1 = api_get(server, path, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(v1, "version")), 1);
    json_decref(v1);
    snprintf(path, sizeof(path), "/v1/database-connection/%s/semantic-snapshot?version=999",
             chinook_id);
    json_decref(api_get(server, path, 404));
    snprintf(path, sizeof(path), "/v1/database-connection/%s/semantic-snapshot?version=abc",
             chinook_id);
    json_decref(api_get(server, path, 422));
    json_decref(body);
}

static void test_knowledge_graph(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/knowledge-graph", chinook_id);
    json_t *body = api_get(server, path, 200);
    json_t *edges = json_object_get(json_object_get(body, "graph"), "edges");
    size_t declared = 0, i;
    json_t *e;
    json_array_foreach(edges, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")), "foreign_key") == 0)
            declared++;
    }
    CU_ASSERT_EQUAL(declared, 11); /* every declared FK of Chinook, ReportsTo included */
    json_decref(body);

    struct harness_response r;
    snprintf(path, sizeof(path), "/v1/database-connection/%s/knowledge-graph?format=mermaid",
             chinook_id);
    CU_ASSERT_EQUAL_FATAL(harness_request(server, "GET", path, NULL, harness_auth(server), &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(strncmp(r.body, "erDiagram", 9), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "InvoiceLine"));
    harness_response_free(&r);
    snprintf(path, sizeof(path), "/v1/database-connection/%s/knowledge-graph?format=dot",
             chinook_id);
    CU_ASSERT_EQUAL_FATAL(harness_request(server, "GET", path, NULL, harness_auth(server), &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body, "digraph"));
    harness_response_free(&r);
    snprintf(path, sizeof(path), "/v1/database-connection/%s/knowledge-graph?format=svg",
             chinook_id);
    json_decref(api_get(server, path, 422));
}

static void test_sample_queries(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/sample-queries", chinook_id);
    json_t *body = api_get(server, path, 200);
    json_t *samples = json_object_get(body, "sample_queries");
    CU_ASSERT(json_array_size(samples) >= 5);
    size_t i;
    json_t *s;
    json_array_foreach(samples, i, s)
    {
        CU_ASSERT_TRUE(json_is_true(json_object_get(s, "verified")));
        CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(s, "question")));
        CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(s, "sql")));
    }
    json_decref(body);
}

static void test_table_soft_delete_and_restore(void)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/table?search=genre", chinook_id);
    json_t *list = api_get(server, path, 200);
    const char *id = json_string_value(
        json_object_get(json_array_get(json_object_get(list, "tables"), 0), "id"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    char table[200];
    snprintf(table, sizeof(table), "/v1/database-connection/table/%s", id);
    json_decref(api_call(server, "DELETE", table, NULL, 200));
    json_decref(api_get(server, table, 404));
    json_t *deleted = api_get(server, "/v1/database-connection/table/deleted", 200);
    CU_ASSERT_PTR_NOT_NULL(find_by(json_object_get(deleted, "tables"), "id", id));
    json_decref(deleted);
    snprintf(path, sizeof(path), "%.180s/restore", table);
    json_decref(api_call(server, "PATCH", path, NULL, 200));
    json_decref(api_get(server, table, 200));
    json_decref(api_call(server, "PATCH", path, NULL, 404)); /* not deleted any more */
    json_decref(api_get(server, "/v1/database-connection/table/not-a-uuid", 404));
    json_decref(list);
}

static void test_errors(void)
{
    json_decref(api_call(server, "POST",
                         "/v1/database-connection/00000000-0000-4000-8000-000000000000/analyze",
                         NULL, 404));
    json_decref(api_call(server, "POST", "/v1/database-connection/analyze",
                         "{\"connection_ids\": \"all\"}", 422));
    json_decref(api_call(server, "POST", "/v1/database-connection/analyze",
                         "{\"connection_ids\": [\"nope\"]}", 422));
    char *north = harness_copy_fixture("northwind/northwind.sqlite");
    char *id = api_create(server, "never-analysed", "sqlite", north, AGENT);
    char path[200];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/semantic-snapshot", id);
    json_decref(api_get(server, path, 409));
    snprintf(path, sizeof(path), "/v1/database-connection/%s/knowledge-graph", id);
    json_decref(api_get(server, path, 409));
    free(id);
    free(north);
}

void register_api_analysis_tests(void)
{
    CU_pSuite s = CU_add_suite("api_analysis", suite_init, suite_cleanup);
    CU_add_test(s, "analyze answers 202 and the task succeeds", test_ack_and_task);
    CU_add_test(s, "every table captured with columns, keys, relations", test_tables_captured);
    CU_add_test(s, "semantic snapshot: types, PII, roles, versions", test_semantic_snapshot);
    CU_add_test(s, "knowledge graph: every declared FK; mermaid and dot", test_knowledge_graph);
    CU_add_test(s, "sample queries all verified", test_sample_queries);
    CU_add_test(s, "table soft delete, deleted list, restore", test_table_soft_delete_and_restore);
    CU_add_test(s, "bad input: unknown, malformed, never analysed", test_errors);
}
