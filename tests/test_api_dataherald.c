/* The Dataherald-compatible API over HTTP: spec 001's examples on both path families. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "harness.h"

static struct harness_server *server;
static char *chinook;
static const char *const families[] = {"/api/v1/database-connections", "/api/database-connections"};

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

/* Every field of a DatabaseConnectionResponse, with its type. */
static void assert_shape(json_t *c)
{
    CU_ASSERT_TRUE_FATAL(json_is_object(c));
    CU_ASSERT_TRUE(json_is_string(json_object_get(c, "id")));
    CU_ASSERT_TRUE(json_is_string(json_object_get(c, "alias")));
    CU_ASSERT_TRUE(json_is_string(json_object_get(c, "connection_uri")));
    CU_ASSERT_TRUE(json_is_string(json_object_get(c, "created_at")));
    CU_ASSERT_TRUE(json_is_string(json_object_get(c, "dialect")));
    CU_ASSERT_TRUE(json_is_false(json_object_get(c, "use_ssh")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(c, "ssh_settings")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(c, "path_to_credentials_file")));
    json_t *metadata = json_object_get(c, "metadata");
    CU_ASSERT_TRUE(json_is_object(metadata) || json_is_null(metadata));
    json_t *schemas = json_object_get(c, "schemas");
    CU_ASSERT_TRUE(json_is_array(schemas) || json_is_null(schemas));
    /* ISO 8601 date-time. */
    const char *created = str(c, "created_at");
    CU_ASSERT(created && strlen(created) >= 20 && created[10] == 'T');
}

static void test_spec_examples(void)
{
    for (size_t f = 0; f < 2; f++) {
        char alias[64], body[1024], path[256];
        snprintf(alias, sizeof(alias), "my_database_%zu", f);
        snprintf(body, sizeof(body),
                 "{\"alias\": \"%s\", \"connection_uri\": "
                 "\"postgresql://user:password@localhost/dbname\", \"schemas\": [\"public\"], "
                 "\"metadata\": {\"type\": \"postgres\"}}",
                 alias);
        struct harness_response r = call("POST", families[f], body);
        CU_ASSERT_EQUAL_FATAL(r.status, 201);
        CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
        assert_shape(r.json);
        CU_ASSERT_STRING_EQUAL(str(r.json, "alias"), alias);
        CU_ASSERT_STRING_EQUAL(str(r.json, "connection_uri"),
                               "postgresql://user:***@localhost/dbname");
        CU_ASSERT_STRING_EQUAL(str(r.json, "dialect"), "postgresql");
        CU_ASSERT_STRING_EQUAL(
            json_string_value(json_array_get(json_object_get(r.json, "schemas"), 0)), "public");
        CU_ASSERT_STRING_EQUAL(str(json_object_get(r.json, "metadata"), "type"), "postgres");
        CU_ASSERT_PTR_NULL(strstr(r.body, "password@"));
        char *id = strdup(str(r.json, "id"));
        harness_response_free(&r);

        r = call("GET", families[f], NULL);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_TRUE_FATAL(json_is_array(r.json));
        int found = 0;
        size_t i;
        json_t *item;
        json_array_foreach(r.json, i, item)
        {
            assert_shape(item);
            if (strcmp(str(item, "id"), id) == 0)
                found = 1;
        }
        CU_ASSERT_TRUE(found);
        harness_response_free(&r);

        snprintf(path, sizeof(path), "%s/%s", families[f], id);
        snprintf(body, sizeof(body),
                 "{\"alias\": \"updated_%s\", \"connection_uri\": "
                 "\"postgresql://user:password@localhost/updated_dbname\", \"schemas\": "
                 "[\"public\"], \"metadata\": {\"type\": \"postgres\", \"version\": \"12\"}}",
                 alias);
        r = call("PUT", path, body);
        CU_ASSERT_EQUAL(r.status, 200);
        assert_shape(r.json);
        CU_ASSERT_STRING_EQUAL(str(r.json, "id"), id);
        CU_ASSERT_STRING_EQUAL(str(r.json, "connection_uri"),
                               "postgresql://user:***@localhost/updated_dbname");
        CU_ASSERT_STRING_EQUAL(str(json_object_get(r.json, "metadata"), "version"), "12");
        harness_response_free(&r);

        /* A full replacement: omitted metadata and schemas become null. */
        snprintf(body, sizeof(body),
                 "{\"alias\": \"updated_%s\", \"connection_uri\": "
                 "\"postgresql://user:***@localhost/updated_dbname\"}",
                 alias);
        r = call("PUT", path, body);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_TRUE(json_is_null(json_object_get(r.json, "metadata")));
        CU_ASSERT_TRUE(json_is_null(json_object_get(r.json, "schemas")));
        harness_response_free(&r);

        r = call("GET", path, NULL);
        CU_ASSERT_EQUAL(r.status, 200);
        assert_shape(r.json);
        harness_response_free(&r);
        free(id);
    }
}

static void test_drivers_route(void)
{
    for (size_t f = 0; f < 2; f++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/drivers", families[f]);
        struct harness_response r = call("GET", path, NULL);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_TRUE_FATAL(json_is_array(r.json));
        int sqlite = 0;
        size_t i;
        json_t *item;
        json_array_foreach(r.json, i, item)
        {
            CU_ASSERT_TRUE(json_is_string(json_object_get(item, "driver")));
            if (strcmp(str(item, "driver"), "sqlite") == 0)
                sqlite = 1;
        }
        CU_ASSERT_TRUE(sqlite);
        harness_response_free(&r);
    }
}

static void test_sqlite_file_path_and_llm_key(void)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"alias\": \"chinook-dh\", \"connection_uri\": \"sqlite://\", \"sqlite_file_path\": "
             "\"%s\", \"llm_api_key\": \"sk-very-secret-key\", \"use_ssh\": false, "
             "\"ssh_settings\": {\"host\": null}, \"file_storage\": null}",
             chinook);
    struct harness_response r = call("POST", "/api/database-connections", body);
    CU_ASSERT_EQUAL(r.status, 201);
    CU_ASSERT_STRING_EQUAL(str(r.json, "dialect"), "sqlite");
    CU_ASSERT_STRING_EQUAL(str(r.json, "llm_api_key"), "***");
    CU_ASSERT_PTR_NULL(strstr(r.body, "sk-very-secret-key"));
    /* The SDK re-sends a POST it lost the answer to: the same one comes back. */
    struct harness_response again = call("POST", "/api/database-connections", body);
    CU_ASSERT_EQUAL(again.status, 201);
    CU_ASSERT_STRING_EQUAL(str(again.json, "id"), str(r.json, "id"));
    harness_response_free(&again);
    /* The same alias for another database is a client error, not a 409. */
    snprintf(body, sizeof(body),
             "{\"alias\": \"chinook-dh\", \"connection_uri\": \"sqlite:///%s\"}", chinook);
    again = call("POST", "/api/database-connections", body);
    CU_ASSERT_EQUAL(again.status, 400);
    harness_response_free(&again);
    harness_response_free(&r);
}

static void test_cross_api_visibility(void)
{
    char body[2048], path[256];
    snprintf(
        body, sizeof(body),
        "{\"name\": \"native-made\", \"url\": \"sqlite:///%s\", \"database_type\": \"sqlite\", "
        "\"agent_id\": \"66666666-6666-4666-8666-666666666666\"}",
        chinook);
    struct harness_response r = call("POST", "/v1/database-connection", body);
    CU_ASSERT_EQUAL_FATAL(r.status, 201);
    char *id = strdup(str(json_object_get(r.json, "connection"), "id"));
    harness_response_free(&r);

    snprintf(path, sizeof(path), "/api/database-connections/%s", id);
    r = call("GET", path, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(str(r.json, "alias"), "native-made");
    harness_response_free(&r);

    snprintf(body, sizeof(body),
             "{\"alias\": \"renamed-by-dh\", \"connection_uri\": \"sqlite:///%s\", \"metadata\": "
             "{\"k\": 1}}",
             chinook);
    r = call("PUT", path, body);
    CU_ASSERT_EQUAL(r.status, 200);
    harness_response_free(&r);

    char native[256];
    snprintf(native, sizeof(native), "/v1/database-connection/%s", id);
    r = call("GET", native, NULL);
    json_t *c = json_object_get(r.json, "connection");
    CU_ASSERT_STRING_EQUAL(str(c, "name"), "renamed-by-dh");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(c, "metadata"), "k")), 1);
    CU_ASSERT_STRING_EQUAL(str(c, "agent_id"), "66666666-6666-4666-8666-666666666666");
    harness_response_free(&r);

    r = call("DELETE", native, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    harness_response_free(&r);
    r = call("GET", path, NULL);
    CU_ASSERT_EQUAL(r.status, 404);
    harness_response_free(&r);
    r = call("GET", "/api/v1/database-connections", NULL);
    size_t i;
    json_t *item;
    json_array_foreach(r.json, i, item) CU_ASSERT_STRING_NOT_EQUAL(str(item, "id"), id);
    harness_response_free(&r);
    free(id);
}

static void test_bad_bodies(void)
{
    const char *cases[] = {
        NULL, /* no body */
        "{\"connection_uri\": \"postgresql://u:hunter22@localhost/db\"}",
        "{\"alias\": \"x\"}",
        "{\"alias\": 5, \"connection_uri\": \"postgresql://u:hunter22@localhost/db\"}",
        "{\"alias\": \"x\", \"connection_uri\": \"oracle://u:hunter22@localhost/db\"}",
        "{\"alias\": \"x\", \"connection_uri\": \"no scheme hunter22\"}",
        "{\"alias\": \"x\", \"connection_uri\": \"postgresql://u:hunter22@localhost/db\", "
        "\"schemas\": \"public\"}",
        "{\"alias\": \"x\", \"connection_uri\": \"postgresql://u:hunter22@localhost/db\", "
        "\"schemas\": [1]}",
        "{\"alias\": \"x\", \"connection_uri\": \"postgresql://u:hunter22@localhost/db\", "
        "\"metadata\": \"hunter22\"}",
        "{\"alias\": \"x\", \"connection_uri\": \"postgresql://u:hunter22@localhost/db\", "
        "\"use_ssh\": true, \"ssh_settings\": {\"host\": \"jump\", \"password\": \"hunter22\"}}",
        "{\"alias\": \"x\", \"connection_uri\": \"postgresql://u:hunter22@localhost/db\", "
        "\"path_to_credentials_file\": \"/tmp/creds.json\"}",
        "{\"alias\": \"x\", \"connection_uri\": \"postgresql://u:hunter22@localhost/db\", "
        "\"bigquery_credential_file_content\": {\"type\": \"service_account\"}}",
        "{\"alias\": \"x\", \"connection_uri\": \"postgresql://u:hunter22@localhost/db\", "
        "\"file_storage\": {\"name\": \"s3\"}}",
        "{\"alias\": \"x\", \"connection_uri\": \"sqlite://\", \"sqlite_file_path\": \"rel.db\"}",
        "[]",
        "{",
    };
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct harness_response r = call("POST", families[f], cases[i]);
            if (r.status != 400)
                fprintf(stderr, "case %zu: %ld %s\n", i, r.status, r.body);
            CU_ASSERT_EQUAL(r.status, 400);
            CU_ASSERT_PTR_NOT_NULL_FATAL(r.json);
            CU_ASSERT_PTR_NOT_NULL(str(r.json, "error_code"));
            CU_ASSERT_PTR_NOT_NULL(str(r.json, "message"));
            CU_ASSERT_PTR_NOT_NULL(str(r.json, "description"));
            CU_ASSERT_PTR_NOT_NULL(json_object_get(r.json, "detail"));
            CU_ASSERT_PTR_NULL(strstr(r.body, "hunter22"));
            harness_response_free(&r);
        }
    }
    /* Nothing of that was stored. */
    struct harness_response r = call("GET", "/api/database-connections", NULL);
    size_t i;
    json_t *item;
    json_array_foreach(r.json, i, item) CU_ASSERT_STRING_NOT_EQUAL(str(item, "alias"), "x");
    harness_response_free(&r);
}

static void test_unknown_ids(void)
{
    const char *ids[] = {"00000000-0000-4000-8000-000000000000", "12345", "not-an-id"};
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < 3; i++) {
            char path[256];
            snprintf(path, sizeof(path), "%s/%s", families[f], ids[i]);
            struct harness_response r = call("GET", path, NULL);
            CU_ASSERT_EQUAL(r.status, 404);
            harness_response_free(&r);
            r = call("PUT", path,
                     "{\"alias\": \"a\", \"connection_uri\": \"postgresql://u:p@localhost/d\"}");
            CU_ASSERT_EQUAL(r.status, 404);
            harness_response_free(&r);
        }
    }
}

static void test_auth_required_by_default(void)
{
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(
        harness_request(server, "GET", "/api/database-connections", NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 401);
    harness_response_free(&r);
}

static void test_auth_off(void)
{
    const char *args[] = {"--dataherald-auth", "off", NULL};
    struct harness_server *open_server = harness_start(args, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(open_server);
    const char *headers[] = {"X-API-Key: anything-at-all", NULL};
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(
        harness_request(open_server, "GET", "/api/database-connections", NULL, headers, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_TRUE(json_is_array(r.json));
    harness_response_free(&r);
    /* The native API still needs credentials. */
    CU_ASSERT_EQUAL_FATAL(
        harness_request(open_server, "GET", "/v1/database-connection", NULL, headers, &r), 0);
    CU_ASSERT_EQUAL(r.status, 401);
    harness_response_free(&r);
    char *log = harness_log(open_server);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "dataherald-auth off"));
    free(log);
    CU_ASSERT_EQUAL(harness_stop(open_server), 0);
}

void register_api_dataherald_tests(void)
{
    CU_pSuite s = CU_add_suite("api_dataherald", suite_init, suite_cleanup);
    CU_add_test(s, "spec 001 examples on both path families", test_spec_examples);
    CU_add_test(s, "drivers list, routed before {id}", test_drivers_route);
    CU_add_test(s, "sqlite_file_path, masked llm_api_key, idempotent re-send",
                test_sqlite_file_path_and_llm_key);
    CU_add_test(s, "one registry: visible, updatable, deletable across APIs",
                test_cross_api_visibility);
    CU_add_test(s, "bad bodies: 400 with Dataherald's fields, no password echoed", test_bad_bodies);
    CU_add_test(s, "unknown ids: 404", test_unknown_ids);
    CU_add_test(s, "credentials required by default", test_auth_required_by_default);
    CU_add_test(s, "--dataherald-auth off ignores X-API-Key and warns", test_auth_off);
}
