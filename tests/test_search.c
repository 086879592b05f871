/*
 * Database search over HTTP against a real quarryd: tables and columns found
 * by name however it is written, by description and by value (from a
 * semantic snapshot), documents by their text; a sensible ranking; agent
 * scoping; deleted connections leaving the results; bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "api_testlib.h"
#include "harness.h"
#include "suites.h"

#define AGENT_A "11111111-1111-4111-8111-111111111111"
#define AGENT_B "22222222-2222-4222-8222-222222222222"

static struct harness_server *server;
static char *chinook_id;   /* agent A: Chinook, exported as markdown, then analysed */
static char *manual_id;    /* agent A: Chinook, exported, with a hand-written snapshot */
static char *northwind_id; /* agent B: Northwind, exported */
static struct harness_key key_b;

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int export_and_wait(const char *connection_id)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"connection_id\": \"%s\"}", connection_id);
    json_t *ack = api_call(server, "POST", "/v1/database-connection/export", body, 202);
    json_t *done = api_wait_task(server, str(ack, "task_id"), 300);
    int ok = done && strcmp(str(done, "status"), "succeeded") == 0;
    json_decref(ack);
    json_decref(done);
    return ok ? 0 : -1;
}

/*
 * A semantic snapshot of three tables as the analysis stores it (version 1),
 * written straight into the registry: descriptions and category values whose
 * words the tests choose.
 */
static const char chinook_snapshot[] =
    "{\"version\": 1, \"tables\": ["
    "{\"schema\": null, \"name\": \"Invoice\", \"kind\": \"table\", \"role\": \"fact\", "
    "\"description\": \"Purchases billed to customers, one per order\", \"columns\": ["
    "{\"name\": \"InvoiceId\", \"type\": \"INTEGER\", \"semantic_type\": \"identifier\"}, "
    "{\"name\": \"CustomerId\", \"type\": \"INTEGER\", \"semantic_type\": \"foreign_key\", "
    "\"foreign_key\": {\"table\": \"Customer\", \"column\": \"CustomerId\"}}, "
    "{\"name\": \"BillingCountry\", \"type\": \"NVARCHAR(40)\", \"semantic_type\": \"geo\", "
    "\"top_values\": [{\"value\": \"USA\", \"count\": 91}, {\"value\": \"Canada\", \"count\": "
    "56}]}, "
    "{\"name\": \"Total\", \"type\": \"NUMERIC(10,2)\", \"semantic_type\": \"currency\", "
    "\"description\": \"Amount charged, taxes included\"}]}, "
    "{\"schema\": null, \"name\": \"Genre\", \"kind\": \"table\", \"role\": \"lookup\", "
    "\"description\": \"Musical styles\", \"columns\": ["
    "{\"name\": \"GenreId\", \"type\": \"INTEGER\", \"semantic_type\": \"identifier\"}, "
    "{\"name\": \"Name\", \"type\": \"NVARCHAR(120)\", \"semantic_type\": \"category\", "
    "\"top_values\": [{\"value\": \"Rock\", \"count\": 1297}, {\"value\": \"Bossa Nova\", "
    "\"count\": 15}]}]}, "
    "{\"schema\": null, \"name\": \"Customer\", \"kind\": \"table\", \"role\": \"dimension\", "
    "\"description\": \"People who buy music\", \"columns\": ["
    "{\"name\": \"CustomerId\", \"type\": \"INTEGER\", \"semantic_type\": \"identifier\"}, "
    "{\"name\": \"Email\", \"type\": \"NVARCHAR(60)\", \"semantic_type\": \"email\"}]}]}";

static int store_snapshot(const char *connection_id, const char *snapshot)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    char *sql = sqlite3_mprintf(
        "INSERT INTO snapshots (connection_id, version, schema_hash, snapshot, graph, samples, "
        "created_at) VALUES (%Q, 1, 'test', %Q, '{}', '[]', '2026-01-01T00:00:00.000Z')",
        connection_id, snapshot);
    int rc = sqlite3_open(harness_registry_path(server), &db) == SQLITE_OK
                 ? sqlite3_exec(db, sql, NULL, NULL, &msg)
                 : -1;
    if (rc != SQLITE_OK)
        fprintf(stderr, "storing a snapshot: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_free(sql);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int analyse(const char *connection_id)
{
    json_t *done = api_analyze(server, connection_id, 120);
    int ok = done && strcmp(str(done, "status"), "succeeded") == 0;
    json_decref(done);
    return ok ? 0 : -1;
}

static int suite_init(void)
{
    char *chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    char *manual = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    char *northwind = harness_copy_fixture("northwind/northwind.sqlite");
    server = harness_start(NULL, NULL);
    int rc = -1;
    if (!server || !chinook || !manual || !northwind ||
        harness_key(server, "write", AGENT_B, &key_b) != 0)
        goto out;
    chinook_id = api_create(server, "search-chinook", "sqlite", chinook, AGENT_A);
    manual_id = api_create(server, "search-manual", "sqlite", manual, AGENT_A);
    northwind_id = api_create(server, "search-northwind", "sqlite", northwind, AGENT_B);
    if (!chinook_id || !manual_id || !northwind_id || export_and_wait(chinook_id) != 0 ||
        analyse(chinook_id) != 0 || export_and_wait(manual_id) != 0 ||
        store_snapshot(manual_id, chinook_snapshot) != 0 || export_and_wait(northwind_id) != 0)
        goto out;
    rc = 0;
out:
    free(chinook);
    free(manual);
    free(northwind);
    return rc;
}

static int suite_cleanup(void)
{
    free(chinook_id);
    free(manual_id);
    free(northwind_id);
    return harness_stop(server) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* GET /v1/search/database?<query> with `headers` (NULL: the write key); the body on 200. */
static json_t *search_as(const char *const *headers, const char *query, long expected)
{
    char path[1024];
    snprintf(path, sizeof(path), "/v1/search/database?%s", query);
    struct harness_response r;
    if (harness_request(server, "GET", path, NULL, headers ? headers : harness_auth(server), &r) !=
        0) {
        CU_FAIL("no response");
        return NULL;
    }
    if (r.status != expected)
        fprintf(stderr, "\n  GET %s: expected %ld, got %ld: %.300s\n", path, expected, r.status,
                r.body);
    CU_ASSERT_EQUAL(r.status, expected);
    json_t *json = json_incref(r.json);
    harness_response_free(&r);
    return json;
}

static json_t *search(const char *query)
{
    return search_as(NULL, query, 200);
}

static json_t *first_result(json_t *reply)
{
    return json_array_get(json_object_get(reply, "results"), 0);
}

/* 1 when some result of `reply` is of `type` in `table` (and `column`, when given). */
static int has_result(json_t *reply, const char *type, const char *table, const char *column)
{
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(reply, "results"), i, r)
    {
        if (strcmp(str(r, "type"), type) == 0 && strcmp(str(r, "table"), table) == 0 &&
            (!column || (str(r, "column") && strcmp(str(r, "column"), column) == 0)))
            return 1;
    }
    return 0;
}

static int only_connection(json_t *reply, const char *connection_id)
{
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(reply, "results"), i, r)
    {
        if (strcmp(str(r, "connection_id"), connection_id) != 0)
            return 0;
    }
    return 1;
}

static int any_of_connection(json_t *reply, const char *connection_id)
{
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(reply, "results"), i, r)
    {
        if (strcmp(str(r, "connection_id"), connection_id) == 0)
            return 1;
    }
    return 0;
}

static void assert_first_column(const char *query, const char *table, const char *column)
{
    json_t *reply = search(query);
    json_t *first = first_result(reply);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    if (strcmp(str(first, "type"), "column") != 0 || strcmp(str(first, "table"), table) != 0 ||
        !str(first, "column") || strcmp(str(first, "column"), column) != 0) {
        char *text = json_dumps(first, 0);
        fprintf(stderr, "\n  %s: first result %s\n", query, text);
        free(text);
    }
    CU_ASSERT_STRING_EQUAL(str(first, "type"), "column");
    CU_ASSERT_STRING_EQUAL(str(first, "table"), table);
    CU_ASSERT_STRING_EQUAL(str(first, "column") ? str(first, "column") : "", column);
    json_decref(reply);
}

/* ------------------------------------------------------------------------ */
/* Finding things                                                           */
/* ------------------------------------------------------------------------ */

static void test_column_name_forms(void)
{
    /* However the name is written, the column comes first. */
    const char *forms[] = {"q=BillingCountry", "q=billing_country", "q=billing%20country",
                           "q=BILLING_COUNTRY", "q=billingcountry"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        assert_first_column(forms[i], "Invoice", "BillingCountry");
    const char *ids[] = {"q=customer_id", "q=CustomerId", "q=customer%20id"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        json_t *reply = search(ids[i]);
        json_t *first = first_result(reply);
        CU_ASSERT_STRING_EQUAL(str(first, "type"), "column");
        CU_ASSERT_STRING_EQUAL(str(first, "column") ? str(first, "column") : "", "CustomerId");
        CU_ASSERT_TRUE(has_result(reply, "column", "Invoice", "CustomerId"));
        CU_ASSERT_TRUE(has_result(reply, "column", "Customer", "CustomerId"));
        json_decref(reply);
    }
}

static void test_table_name_ranking(void)
{
    /* The table named so before its columns and before the tables merely containing the word. */
    json_t *reply = search("q=invoice&limit=10");
    json_t *first = first_result(reply);
    CU_ASSERT_STRING_EQUAL(str(first, "table"), "Invoice");
    CU_ASSERT_TRUE(strcmp(str(first, "type"), "table") == 0 ||
                   strcmp(str(first, "type"), "document") == 0);
    CU_ASSERT_TRUE(has_result(reply, "table", "Invoice", NULL));
    /* Scores never increase down the list. */
    double last = 1e300;
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(reply, "results"), i, r)
    {
        double score = json_real_value(json_object_get(r, "score"));
        CU_ASSERT_TRUE(score <= last);
        last = score;
    }
    json_decref(reply);
    reply = search("q=invoice%20line");
    first = first_result(reply);
    CU_ASSERT_STRING_EQUAL(str(first, "table"), "InvoiceLine");
    CU_ASSERT_STRING_EQUAL(str(first, "type"), "table");
    json_decref(reply);
}

/* The first `n` words of `text`, joined by %20 for a query string. */
static void query_words(const char *text, int n, char *out, size_t size)
{
    size_t len = 0;
    int words = 0;
    out[0] = '\0';
    for (const char *p = text; *p && words < n; p++) {
        if (*p == ' ') {
            words++;
            if (words < n && len + 4 < size)
                len += (size_t)snprintf(out + len, size - len, "%%20");
        } else if (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9')) &&
                   len + 2 < size) {
            out[len++] = *p;
            out[len] = '\0';
        }
    }
}

static json_t *snapshot_table(json_t *snapshot, const char *name)
{
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(snapshot, "tables"), i, t)
    {
        if (strcmp(str(t, "name"), name) == 0)
            return t;
    }
    return NULL;
}

static void test_description_and_values(void)
{
    /* The analysis's own words: a table's description, a category's values, a semantic type. */
    char path[256], query[512];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/semantic-snapshot", chinook_id);
    json_t *reply = api_get(server, path, 200);
    json_t *snapshot =
        json_object_get(reply, "snapshot") ? json_object_get(reply, "snapshot") : reply;
    const char *description = str(snapshot_table(snapshot, "Invoice"), "description");
    CU_ASSERT_PTR_NOT_NULL_FATAL(description);
    char words[256];
    query_words(description, 8, words, sizeof(words));
    snprintf(query, sizeof(query), "q=%s&connection_id=%s", words, chinook_id);
    json_t *found = search(query);
    json_t *first = first_result(found);
    CU_ASSERT_STRING_EQUAL(str(first, "type"), "table");
    CU_ASSERT_STRING_EQUAL(str(first, "table"), "Invoice");
    json_decref(found);
    json_t *genre = snapshot_table(snapshot, "Genre"), *col, *name = NULL;
    size_t i;
    json_array_foreach(json_object_get(genre, "columns"), i,
                       col) if (strcmp(str(col, "name"), "Name") == 0) name = col;
    json_t *top = json_object_get(name, "top_values");
    CU_ASSERT_TRUE_FATAL(json_array_size(top) > 3);
    query_words(str(json_array_get(top, 3), "value"), 4, words, sizeof(words));
    snprintf(query, sizeof(query), "q=%s&connection_id=%s", words, chinook_id);
    found = search(query);
    CU_ASSERT_TRUE(has_result(found, "column", "Genre", "Name"));
    CU_ASSERT_TRUE(has_result(found, "document", "Genre", NULL));
    json_decref(found);
    snprintf(query, sizeof(query), "q=email&connection_id=%s", chinook_id);
    found = search(query);
    first = first_result(found);
    CU_ASSERT_STRING_EQUAL(str(first, "type"), "column");
    CU_ASSERT_STRING_EQUAL(str(first, "column") ? str(first, "column") : "", "Email");
    json_decref(found);
    json_decref(reply);
}

static void test_manual_snapshot(void)
{
    /* Words only the hand-written snapshot has: found from it, ranked first. */
    char query[256];
    snprintf(query, sizeof(query), "q=purchases%%20billed&connection_id=%s", manual_id);
    json_t *reply = search(query);
    json_t *first = first_result(reply);
    CU_ASSERT_STRING_EQUAL(str(first, "type"), "table");
    CU_ASSERT_STRING_EQUAL(str(first, "table"), "Invoice");
    CU_ASSERT_PTR_NOT_NULL(strstr(str(first, "snippet"), "**Purchases** **billed**"));
    json_decref(reply);
    snprintf(query, sizeof(query), "q=taxes%%20included&connection_id=%s", manual_id);
    assert_first_column(query, "Invoice", "Total");
    snprintf(query, sizeof(query), "q=Bossa%%20Nova&connection_id=%s", manual_id);
    assert_first_column(query, "Genre", "Name");
    reply = search(query);
    CU_ASSERT_TRUE(has_result(reply, "document", "Genre", NULL));
    json_decref(reply);
    snprintf(query, sizeof(query), "q=people%%20who%%20buy%%20music&connection_id=%s", manual_id);
    reply = search(query);
    CU_ASSERT_STRING_EQUAL(str(first_result(reply), "table"), "Customer");
    json_decref(reply);
}

static void test_document_text(void)
{
    json_t *reply = search("q=Theodor-Heuss-Stra%C3%9Fe&limit=50");
    CU_ASSERT_TRUE(json_array_size(json_object_get(reply, "results")) >= 2);
    CU_ASSERT_TRUE(has_result(reply, "document", "Customer", NULL));
    CU_ASSERT_TRUE(has_result(reply, "document", "Invoice", NULL));
    json_t *first = first_result(reply);
    CU_ASSERT_PTR_NOT_NULL(str(first, "document_id"));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(first, "snippet"), "**Theodor**"));
    /* The document it names is served. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/documents/%s", str(first, "document_id"));
    json_t *doc = api_get(server, path, 200);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(str(json_object_get(doc, "document"), "content"), "Theodor-Heuss-Straße"));
    json_decref(doc);
    json_decref(reply);
    /* Diacritics do not matter. */
    reply = search("q=theodor%20heuss%20strasse");
    json_decref(reply);
    reply = search("q=Gr%C3%A9trystraat");
    json_t *plain = search("q=Gretrystraat");
    CU_ASSERT_TRUE(json_integer_value(json_object_get(reply, "total")) > 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(reply, "total")),
                    json_integer_value(json_object_get(plain, "total")));
    json_decref(plain);
    json_decref(reply);
}

static void test_post_and_limits(void)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"query\": \"customer\", \"connection_id\": \"%s\", \"limit\": 3}", chinook_id);
    json_t *reply = api_call(server, "POST", "/v1/search/database", body, 200);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(reply, "results")), 3);
    CU_ASSERT_TRUE(json_integer_value(json_object_get(reply, "total")) > 3);
    CU_ASSERT_STRING_EQUAL(str(reply, "query"), "customer");
    CU_ASSERT_TRUE(json_is_number(json_object_get(reply, "execution_time")));
    CU_ASSERT_PTR_NULL(json_object_get(reply, "task_id"));
    CU_ASSERT_TRUE(only_connection(reply, chinook_id));
    json_decref(reply);
    /* The SDK's own body: just the query. */
    reply = api_call(server, "POST", "/v1/search/database", "{\"query\": \"suppliers\"}", 200);
    CU_ASSERT_TRUE(has_result(reply, "table", "Suppliers", NULL));
    json_decref(reply);
    reply = api_call(server, "POST", "/api/v1/search/database", "{\"query\": \"suppliers\"}", 200);
    CU_ASSERT_TRUE(json_array_size(json_object_get(reply, "results")) > 0);
    json_decref(reply);
    /* Any word, when all of them find nothing. */
    reply = search("q=BillingCountry%20zzyzxnothing");
    CU_ASSERT_STRING_EQUAL(str(reply, "matched"), "any");
    CU_ASSERT_TRUE(has_result(reply, "column", "Invoice", "BillingCountry"));
    json_decref(reply);
}

/* ------------------------------------------------------------------------ */
/* Scoping and deletion                                                     */
/* ------------------------------------------------------------------------ */

static void test_agent_scoping(void)
{
    /* Agent B's key: only Northwind, whatever it asks. */
    json_t *reply = search_as(key_b.headers, "q=customer&limit=100", 200);
    CU_ASSERT_TRUE(json_array_size(json_object_get(reply, "results")) > 0);
    CU_ASSERT_TRUE(only_connection(reply, northwind_id));
    json_decref(reply);
    reply = search_as(key_b.headers, "q=BillingCountry", 200);
    CU_ASSERT_TRUE(only_connection(reply, northwind_id));
    CU_ASSERT_FALSE(has_result(reply, "column", "Invoice", "BillingCountry"));
    json_decref(reply);
    char query[256];
    snprintf(query, sizeof(query), "q=customer&connection_id=%s", chinook_id);
    json_decref(search_as(key_b.headers, query, 403));
    snprintf(query, sizeof(query), "q=customer&agent_id=%s", AGENT_A);
    json_decref(search_as(key_b.headers, query, 403));
    /* An unbound key may narrow to an agent. */
    snprintf(query, sizeof(query), "q=customer&limit=100&agent_id=%s", AGENT_B);
    reply = search(query);
    CU_ASSERT_TRUE(json_array_size(json_object_get(reply, "results")) > 0);
    CU_ASSERT_TRUE(only_connection(reply, northwind_id));
    json_decref(reply);
    snprintf(query, sizeof(query), "q=customer&limit=100&connection_id=%s", chinook_id);
    reply = search(query);
    CU_ASSERT_TRUE(only_connection(reply, chinook_id));
    json_decref(reply);
}

static void test_deleted_connection_leaves(void)
{
    char *path = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    char *id = api_create(server, "search-doomed", "sqlite", path, AGENT_A);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    CU_ASSERT_EQUAL_FATAL(export_and_wait(id), 0);
    char query[256], conn_path[128];
    snprintf(query, sizeof(query), "q=BillingCountry&limit=100&agent_id=%s", AGENT_A);
    json_t *reply = search(query);
    CU_ASSERT_TRUE(any_of_connection(reply, id));
    json_decref(reply);

    snprintf(conn_path, sizeof(conn_path), "/v1/database-connection/%s", id);
    json_decref(api_call(server, "DELETE", conn_path, NULL, 200));
    reply = search(query);
    CU_ASSERT_TRUE(json_array_size(json_object_get(reply, "results")) > 0);
    CU_ASSERT_FALSE(any_of_connection(reply, id));
    json_decref(reply);
    snprintf(query, sizeof(query), "q=invoice&connection_id=%s", id);
    json_decref(search_as(NULL, query, 404));

    /* Restored, it is found again. */
    char restore[160];
    snprintf(restore, sizeof(restore), "/v1/database-connection/%s/restore", id);
    json_decref(api_call(server, "PATCH", restore, NULL, 200));
    snprintf(query, sizeof(query), "q=BillingCountry&connection_id=%s", id);
    reply = search(query);
    CU_ASSERT_TRUE(has_result(reply, "column", "Invoice", "BillingCountry"));
    json_decref(reply);
    /* Deleted for good from the search's point of view again, for the other tests. */
    json_decref(api_call(server, "DELETE", conn_path, NULL, 200));
    free(id);
    free(path);
}

/* ------------------------------------------------------------------------ */
/* Bad input                                                                */
/* ------------------------------------------------------------------------ */

static void expect_error(const char *method, const char *path, const char *body, long status,
                         const char *code)
{
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request(server, method, path, body, harness_auth(server), &r), 0);
    if (r.status != status)
        fprintf(stderr, "\n  %s %s %s: expected %ld, got %ld: %.300s\n", method, path,
                body ? body : "", status, r.status, r.body);
    CU_ASSERT_EQUAL(r.status, status);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.json);
    CU_ASSERT_PTR_NOT_NULL(str(r.json, "message"));
    if (code)
        CU_ASSERT_STRING_EQUAL(str(r.json, "error_code") ? str(r.json, "error_code") : "", code);
    harness_response_free(&r);
}

static void test_bad_input(void)
{
    char long_query[700];
    memset(long_query, 'a', sizeof(long_query));
    memcpy(long_query, "/v1/search/database?q=", 22);
    long_query[22 + 501] = '\0';
    static const struct {
        const char *path;
        long status;
        const char *code;
    } gets[] = {
        {"/v1/search/database", 422, "invalid_query"},
        {"/v1/search/database?q=", 422, "invalid_query"},
        {"/v1/search/database?q=%20%20%20", 422, "invalid_query"},
        {"/v1/search/database?q=%21%21%21", 422, "invalid_query"}, /* "!!!": no words */
        {"/v1/search/database?q=x&limit=0", 422, "invalid_query"},
        {"/v1/search/database?q=x&limit=-1", 422, "invalid_query"},
        {"/v1/search/database?q=x&limit=101", 422, "invalid_query"},
        {"/v1/search/database?q=x&limit=99999999999999999999", 422, "invalid_query"},
        {"/v1/search/database?q=x&limit=ten", 422, "invalid_query"},
        {"/v1/search/database?q=x&connection_id=nope", 404, "not_found"},
        {"/v1/search/database?q=x&connection_id=9b2e4c1a-0000-4000-8000-000000000000", 404,
         "not_found"},
        {"/v1/search/database?q=x&agent_id=nope", 422, "invalid_query"},
    };
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++)
        expect_error("GET", gets[i].path, NULL, gets[i].status, gets[i].code);
    expect_error("GET", long_query, NULL, 422, "invalid_query");

    static const struct {
        const char *body;
        long status;
    } posts[] = {
        {NULL, 422},
        {"{\"query\": ", 400},
        {"[\"customer\"]", 422},
        {"{}", 422},
        {"{\"query\": 42}", 422},
        {"{\"query\": \"\"}", 422},
        {"{\"query\": \"customer\", \"limit\": 0}", 422},
        {"{\"query\": \"customer\", \"limit\": 1000000}", 422},
        {"{\"query\": \"customer\", \"limit\": \"5\"}", 422},
        {"{\"query\": \"customer\", \"connection_id\": 7}", 422},
        {"{\"query\": \"customer\", \"connection_id\": \"9b2e4c1a-0000-4000-8000-000000000000\"}",
         404},
    };
    for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++)
        expect_error("POST", "/v1/search/database", posts[i].body, posts[i].status, NULL);
    /* FTS5 syntax in a query is just words. */
    json_t *reply = search("q=%22customer%22%20OR%20NEAR(%2A)%20-col%3A");
    CU_ASSERT_PTR_NOT_NULL(json_object_get(reply, "results"));
    json_decref(reply);
}

void register_search_tests(void)
{
    CU_pSuite s = CU_add_suite("search", suite_init, suite_cleanup);
    CU_add_test(s, "a column by name, however written", test_column_name_forms);
    CU_add_test(s, "tables by name, ranked", test_table_name_ranking);
    CU_add_test(s, "descriptions, values and semantic types", test_description_and_values);
    CU_add_test(s, "a snapshot's descriptions and values", test_manual_snapshot);
    CU_add_test(s, "document text", test_document_text);
    CU_add_test(s, "POST, limits, any word", test_post_and_limits);
    CU_add_test(s, "agent scoping", test_agent_scoping);
    CU_add_test(s, "a deleted connection leaves the results", test_deleted_connection_leaves);
    CU_add_test(s, "bad input", test_bad_input);
}
