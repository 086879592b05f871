/* The native connections API over HTTP against a real quarryd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "harness.h"

#define AGENT_A "11111111-1111-4111-8111-111111111111"
#define AGENT_B "22222222-2222-4222-8222-222222222222"

static struct harness_server *server;
static char *chinook;

static int suite_init(void)
{
    chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    server = harness_start(NULL, NULL);
    return server && chinook ? 0 : -1;
}

static int suite_cleanup(void)
{
    int rc = harness_stop(server);
    free(chinook);
    return rc == 0 ? 0 : -1;
}

/* One request with the write key; the caller frees the response. */
static struct harness_response call(const char *method, const char *path, const char *body)
{
    struct harness_response r;
    if (harness_request(server, method, path, body, harness_auth(server), &r) != 0)
        memset(&r, 0, sizeof(r));
    return r;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static json_t *conn_of(struct harness_response *r)
{
    return json_object_get(r->json, "connection");
}

/* Creates a sqlite connection to the Chinook copy; returns its id (caller frees) or NULL. */
static char *create_sqlite(const char *name, const char *agent)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"name\": \"%s\", \"url\": \"sqlite:///%s\", \"database_type\": \"sqlite\", "
             "\"agent_id\": \"%s\", \"connection_params\": {\"note\": \"demo\"}}",
             name, chinook, agent);
    struct harness_response r = call("POST", "/v1/database-connection", body);
    char *id = NULL;
    CU_ASSERT_EQUAL(r.status, 201);
    if (r.status == 201)
        id = strdup(str(conn_of(&r), "id"));
    harness_response_free(&r);
    return id;
}

static void assert_error(struct harness_response *r, long status, const char *code)
{
    CU_ASSERT_EQUAL(r->status, status);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->json);
    if (code && str(r->json, "error_code"))
        CU_ASSERT_STRING_EQUAL(str(r->json, "error_code"), code);
    CU_ASSERT_PTR_NOT_NULL(str(r->json, "message"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(json_object_get(r->json, "error"), "request_id"));
}

static void test_create_and_get(void)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"name\": \"chinook\", \"url\": \"sqlite:///%s\", \"database_type\": \"sqlite\", "
             "\"agent_id\": \"" AGENT_A "\", \"company_id\": \"" AGENT_B "\"}",
             chinook);
    struct harness_response r = call("POST", "/v1/database-connection", body);
    CU_ASSERT_EQUAL_FATAL(r.status, 201);
    json_t *c = conn_of(&r);
    CU_ASSERT_EQUAL(strlen(str(c, "id")), 36);
    CU_ASSERT_STRING_EQUAL(str(c, "name"), "chinook");
    CU_ASSERT_STRING_EQUAL(str(c, "database_type"), "sqlite");
    CU_ASSERT_STRING_EQUAL(str(c, "agent_id"), AGENT_A);
    CU_ASSERT_STRING_EQUAL(str(c, "status"), "success");
    CU_ASSERT_PTR_NOT_NULL(strstr(str(c, "server_version"), "SQLite"));
    CU_ASSERT_PTR_NOT_NULL(str(c, "created_at"));
    CU_ASSERT_TRUE(json_is_null(json_object_get(c, "deleted_at")));
    CU_ASSERT_TRUE(json_is_true(json_object_get(r.json, "is_active")));
    CU_ASSERT_PTR_NULL(json_object_get(r.json, "task_id"));
    char path[128];
    snprintf(path, sizeof(path), "/v1/database-connection/%s", str(c, "id"));
    struct harness_response g = call("GET", path, NULL);
    CU_ASSERT_EQUAL(g.status, 200);
    CU_ASSERT_STRING_EQUAL(str(conn_of(&g), "id"), str(c, "id"));
    harness_response_free(&g);
    /* The /api/v1 family serves the same resource. */
    snprintf(path, sizeof(path), "/api/v1/database-connection/%s", str(c, "id"));
    g = call("GET", path, NULL);
    CU_ASSERT_EQUAL(g.status, 200);
    harness_response_free(&g);
    harness_response_free(&r);
}

static void test_sdk_alias_and_aliases_of_types(void)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"name\": \"sdk-made\", \"url\": \"%s\", \"database_type\": \"sqlite\", "
             "\"agent_id\": \"" AGENT_A "\"}",
             chinook);
    struct harness_response r = call("POST", "/v1/sdk/database", body);
    CU_ASSERT_EQUAL(r.status, 201);
    const char *id = str(conn_of(&r), "id");
    char path[128];
    snprintf(path, sizeof(path), "/v1/sdk/database/%s", id ? id : "x");
    struct harness_response u = call("PUT", path, "{\"name\": \"sdk-renamed\"}");
    CU_ASSERT_EQUAL(u.status, 200);
    CU_ASSERT_STRING_EQUAL(str(conn_of(&u), "name"), "sdk-renamed");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(u.json, "updated_fields")), 1);
    harness_response_free(&u);
    struct harness_response d = call("DELETE", path, NULL);
    CU_ASSERT_EQUAL(d.status, 200);
    CU_ASSERT_STRING_EQUAL(str(d.json, "connection_id"), id);
    harness_response_free(&d);
    harness_response_free(&r);
}

static void test_unreachable_is_stored_failed(void)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"name\": \"gone\", \"url\": \"sqlite:///%s/does-not-exist.db\", "
             "\"database_type\": \"sqlite\", \"agent_id\": \"" AGENT_A "\"}",
             harness_tmpdir());
    struct harness_response r = call("POST", "/v1/database-connection", body);
    CU_ASSERT_EQUAL(r.status, 201);
    CU_ASSERT_STRING_EQUAL(str(conn_of(&r), "status"), "failed");
    CU_ASSERT_TRUE(json_is_false(json_object_get(r.json, "is_active")));
    const char *message = str(conn_of(&r), "message");
    CU_ASSERT_PTR_NOT_NULL(message);
    CU_ASSERT(message && strlen(message) > 10);
    harness_response_free(&r);
}

static void test_bad_creates(void)
{
    char sqlite_url[1024];
    snprintf(sqlite_url, sizeof(sqlite_url), "sqlite:///%s", chinook);
    char long_name[300];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    struct {
        const char *body;
        long status;
        const char *code;
    } cases[] = {
        {"{", 400, "malformed_json"},
        {"[]", 422, "invalid_body"},
        {"{}", 422, "missing_field"},
        {"{\"name\": \"x\", \"database_type\": \"sqlite\"}", 422, "missing_field"},
        {"{\"name\": 5, \"url\": \"%s\", \"database_type\": \"sqlite\", \"agent_id\": \"" AGENT_A
         "\"}",
         422, "invalid_field"},
        {"{\"name\": \"%s\", \"url\": \"%s\", \"database_type\": \"sqlite\", \"agent_id\": "
         "\"" AGENT_A "\"}",
         422, "invalid_field"},
        {"{\"name\": \"x\", \"url\": \"%s\", \"database_type\": \"oracle\", \"agent_id\": "
         "\"" AGENT_A "\"}",
         422, "unsupported_database_type"},
        {"{\"name\": \"x\", \"url\": \"%s\", \"database_type\": \"postgres\", \"agent_id\": "
         "\"" AGENT_A "\"}",
         422, "invalid_url"},
        {"{\"name\": \"x\", \"url\": \"%s\", \"database_type\": \"sqlite\", \"agent_id\": "
         "\"not-a-uuid\"}",
         422, "invalid_field"},
        {"{\"name\": \"x\", \"url\": \"%s\", \"database_type\": \"sqlite\"}", 422, "missing_field"},
        {"{\"name\": \"x\", \"url\": \"%s\", \"database_type\": \"sqlite\", \"agent_id\": "
         "\"" AGENT_A "\", \"connection_params\": [1]}",
         422, "invalid_field"},
        {"{\"name\": \"x\", \"url\": \"%s\", \"database_type\": \"sqlite\", \"agent_id\": "
         "\"" AGENT_A "\", \"company_id\": \"acme\"}",
         422, "invalid_field"},
        {"{\"name\": \"x\", \"url\": \"postgresql://u:p@169.254.169.254/db\", \"database_type\": "
         "\"postgres\", \"agent_id\": \"" AGENT_A "\"}",
         422, "target_denied"},
        {"{\"name\": \"x\", \"url\": \"not a url\", \"database_type\": \"postgres\", \"agent_id\": "
         "\"" AGENT_A "\"}",
         422, "invalid_url"},
        /* Host overrides the guard would not see. */
        {"{\"name\": \"x\", \"url\": \"postgresql://u:p@db.example/d?hostaddr=169.254.169.254\", "
         "\"database_type\": \"postgres\", \"agent_id\": \"" AGENT_A "\"}",
         422, "invalid_url"},
        {"{\"name\": \"x\", \"url\": \"postgresql://u:p@db.example/d\", \"database_type\": "
         "\"postgres\", \"agent_id\": \"" AGENT_A
         "\", \"connection_params\": {\"host\": \"10.0.0.1\"}}",
         422, "invalid_field"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[4096];
        if (strstr(cases[i].body, "\"name\": \"%s\""))
            snprintf(body, sizeof(body), cases[i].body, long_name, sqlite_url);
        else
            snprintf(body, sizeof(body), cases[i].body, sqlite_url);
        struct harness_response r = call("POST", "/v1/database-connection", body);
        if (r.status != cases[i].status)
            fprintf(stderr, "case %zu: %ld %s\n", i, r.status, r.body);
        assert_error(&r, cases[i].status, cases[i].code);
        harness_response_free(&r);
    }
    /* Nothing was stored by any of them. */
    struct harness_response l = call("GET", "/v1/database-connection?search=x&per_page=100", NULL);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(l.json, "total")), 0);
    harness_response_free(&l);
}

static void test_name_unique_per_agent(void)
{
    char *a = create_sqlite("twin", AGENT_A);
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"name\": \"twin\", \"url\": \"%s\", \"database_type\": \"sqlite\", "
             "\"agent_id\": \"" AGENT_A "\"}",
             chinook);
    struct harness_response r = call("POST", "/v1/database-connection", body);
    assert_error(&r, 409, "conflict");
    harness_response_free(&r);
    char *b = create_sqlite("twin", AGENT_B);
    CU_ASSERT_PTR_NOT_NULL(b);
    free(a);
    free(b);
}

static void test_list_pagination_and_filters(void)
{
    const char *agent = "33333333-3333-4333-8333-333333333333";
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "paged-%d", i);
        free(create_sqlite(name, agent));
    }
    char path[256];
    snprintf(path, sizeof(path), "/v1/database-connection?agent_id=%s&per_page=2&page=3", agent);
    struct harness_response r = call("GET", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "total")), 5);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "total_pages")), 3);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "page")), 3);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "connections")), 1);
    harness_response_free(&r);

    snprintf(path, sizeof(path), "/v1/database-connection?agent_id=%s&page=99", agent);
    r = call("GET", path, NULL);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "connections")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "total")), 5);
    harness_response_free(&r);

    r = call("GET", "/v1/database-connection?per_page=5000", NULL);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "per_page")), 100);
    harness_response_free(&r);

    snprintf(path, sizeof(path), "/v1/database-connection/agent/%s?search=PAGED-3", agent);
    r = call("GET", path, NULL);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "total")), 1);
    harness_response_free(&r);

    r = call("GET", "/v1/database-connection?database_type=sqlite&status=failed", NULL);
    json_t *item;
    size_t i;
    json_array_foreach(json_object_get(r.json, "connections"), i, item)
        CU_ASSERT_STRING_EQUAL(str(item, "status"), "failed");
    harness_response_free(&r);

    const char *bad[] = {
        "/v1/database-connection?per_page=0",    "/v1/database-connection?page=-1",
        "/v1/database-connection?page=abc",      "/v1/database-connection?status=odd",
        "/v1/database-connection?agent_id=nope", "/v1/database-connection/agent/nope"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        r = call("GET", bad[k], NULL);
        assert_error(&r, 422, NULL);
        harness_response_free(&r);
    }
}

static void test_put_and_patch(void)
{
    char *id = create_sqlite("editable", AGENT_A);
    char path[128];
    snprintf(path, sizeof(path), "/v1/database-connection/%s", id);
    struct harness_response r =
        call("PATCH", path, "{\"connection_params\": {\"extra\": 1, \"note\": null}}");
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *params = json_object_get(conn_of(&r), "connection_params");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(params, "extra")), 1);
    CU_ASSERT_PTR_NULL(json_object_get(params, "note"));
    harness_response_free(&r);

    r = call("PUT", path, "{\"connection_params\": {\"only\": \"this\"}}");
    CU_ASSERT_EQUAL(r.status, 200);
    params = json_object_get(conn_of(&r), "connection_params");
    CU_ASSERT_EQUAL(json_object_size(params), 1);
    harness_response_free(&r);

    /* No body: nothing changes, and it is not an error. */
    r = call("PUT", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(r.json, "updated_fields")), 0);
    harness_response_free(&r);

    r = call("PUT", path, "{\"database_type\": \"postgres\"}");
    assert_error(&r, 422, "invalid_url");
    harness_response_free(&r);
    r = call("PATCH", path, "{\"name\": \"\"}");
    assert_error(&r, 422, "invalid_field");
    harness_response_free(&r);
    r = call("PATCH", "/v1/database-connection/00000000-0000-4000-8000-000000000000", "{}");
    assert_error(&r, 404, "not_found");
    harness_response_free(&r);
    r = call("POST", path, "{}");
    assert_error(&r, 405, "method_not_allowed");
    harness_response_free(&r);
    free(id);
}

/* Adds a captured table row straight into the registry, as analysis will. */
static void add_table_row(const char *connection_id, const char *table_id)
{
    sqlite3 *db;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(harness_registry_path(server), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO db_tables (id, connection_id, name, created_at, updated_at) "
             "VALUES ('%s', '%s', 'Album', 'now', 'now')",
             table_id, connection_id);
    CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_soft_delete_and_restore(void)
{
    char *id = create_sqlite("deletable", AGENT_A);
    add_table_row(id, "44444444-4444-4444-8444-444444444444");
    char path[160];
    snprintf(path, sizeof(path), "/v1/database-connection/%s", id);
    struct harness_response r = call("DELETE", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "deleted_tables_count")), 1);
    harness_response_free(&r);

    r = call("GET", path, NULL);
    assert_error(&r, 404, "not_found");
    harness_response_free(&r);
    r = call("DELETE", path, NULL);
    assert_error(&r, 404, "not_found");
    harness_response_free(&r);

    r = call("GET", "/v1/database-connection/deleted", NULL);
    int seen = 0;
    json_t *item;
    size_t i;
    json_array_foreach(json_object_get(r.json, "connections"), i, item)
    {
        if (strcmp(str(item, "id"), id) == 0) {
            seen = 1;
            CU_ASSERT_PTR_NOT_NULL(str(item, "deleted_at"));
        }
    }
    CU_ASSERT_TRUE(seen);
    harness_response_free(&r);

    /* While deleted, its name is free again; restoring over a new twin is a conflict. */
    char *twin = create_sqlite("deletable", AGENT_A);
    snprintf(path, sizeof(path), "/v1/database-connection/%s/restore", id);
    r = call("PATCH", path, NULL);
    assert_error(&r, 409, "conflict");
    harness_response_free(&r);
    char twin_path[160];
    snprintf(twin_path, sizeof(twin_path), "/v1/database-connection/%s", twin);
    r = call("DELETE", twin_path, NULL);
    harness_response_free(&r);

    r = call("PATCH", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "restored_tables_count")), 1);
    CU_ASSERT_TRUE(json_is_null(json_object_get(conn_of(&r), "deleted_at")));
    harness_response_free(&r);
    r = call("PATCH", path, NULL);
    assert_error(&r, 404, "not_found");
    harness_response_free(&r);
    free(id);
    free(twin);
}

static void test_test_route(void)
{
    char *id = create_sqlite("testable", AGENT_A);
    char path[160];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/test", id);
    struct harness_response r = call("POST", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(str(r.json, "status"), "success");
    CU_ASSERT_PTR_NOT_NULL(str(r.json, "message"));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(r.json, "latency_ms"));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(r.json, "server_version"), "SQLite"));
    harness_response_free(&r);
    r = call("POST", "/v1/database-connection/not-a-uuid/test", NULL);
    assert_error(&r, 404, "not_found");
    harness_response_free(&r);
    free(id);
}

static void test_tasks_route(void)
{
    struct harness_response r =
        call("GET", "/v1/tasks/00000000-0000-4000-8000-000000000000/status", NULL);
    assert_error(&r, 404, "not_found");
    harness_response_free(&r);
    sqlite3 *db;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(harness_registry_path(server), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CU_ASSERT_EQUAL(sqlite3_exec(db,
                                 "INSERT INTO jobs (id, kind, status, error_code, error_message, "
                                 "created_at) VALUES ('55555555-5555-4555-8555-555555555555', "
                                 "'analyze', 'failed', 'target_unreachable', 'no route', 'now')",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    sqlite3_close(db);
    r = call("GET", "/v1/tasks/55555555-5555-4555-8555-555555555555/status", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(str(r.json, "status"), "failed");
    CU_ASSERT_STRING_EQUAL(str(r.json, "state"), "FAILURE");
    CU_ASSERT_STRING_EQUAL(str(json_object_get(r.json, "error"), "code"), "target_unreachable");
    CU_ASSERT_STRING_EQUAL(str(r.json, "message"), "no route");
    CU_ASSERT_TRUE(json_is_null(json_object_get(r.json, "result")));
    harness_response_free(&r);
}

void register_api_connections_tests(void)
{
    CU_pSuite s = CU_add_suite("api_connections", suite_init, suite_cleanup);
    CU_add_test(s, "create, get, /api/v1 alias", test_create_and_get);
    CU_add_test(s, "SDK aliases: POST, PUT, DELETE /v1/sdk/database",
                test_sdk_alias_and_aliases_of_types);
    CU_add_test(s, "an unreachable database is stored as failed",
                test_unreachable_is_stored_failed);
    CU_add_test(s, "bad creates: 400/422 with nothing stored", test_bad_creates);
    CU_add_test(s, "names are unique per agent (409)", test_name_unique_per_agent);
    CU_add_test(s, "pagination edges and filters", test_list_pagination_and_filters);
    CU_add_test(s, "PUT replaces, PATCH merges, errors", test_put_and_patch);
    CU_add_test(s, "soft delete, deleted list, restore with tables", test_soft_delete_and_restore);
    CU_add_test(s, "POST /test reports status, latency, version", test_test_route);
    CU_add_test(s, "task status: 404 and the failed payload", test_tasks_route);
}
