/*
 * Exporting tables as documents, over HTTP against a real quarryd: the
 * Chinook and a 200,000-row sqlite table (every row exactly once across its
 * pages, bounded memory), the real PostgreSQL server, re-exports that keep
 * unchanged documents, a failing export that leaves the previous documents
 * alone, and bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sodium.h>
#include <sqlite3.h>

#include "api_testlib.h"
#include "harness.h"
#include "suites.h"

#define AGENT_A "11111111-1111-4111-8111-111111111111"
#define AGENT_B "22222222-2222-4222-8222-222222222222"
#define TASK_TIMEOUT_S 600

/* The large table: rows, and the bound on quarryd's peak RSS while it exports them. */
#define BIG_ROWS 200000
#define BIG_PAYLOAD 600 /* bytes of text per row: the table is ~135 MB as JSONL */
#if defined(__SANITIZE_ADDRESS__)
/* ASan's shadow memory, redzones and quarantine (limited to 16 MB below) come on top. */
#define BIG_RSS_BOUND_KB (128L * 1024)
#else
#define BIG_RSS_BOUND_KB (48L * 1024)
#endif

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

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static char *chinook_copy_connection(const char *name, char **path_out)
{
    char *path = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    char *id = path ? api_create(server, name, "sqlite", path, AGENT_A) : NULL;
    if (path_out)
        *path_out = path;
    else
        free(path);
    return id;
}

/* Queues an export with `options` (a JSON object's members, or "") and waits for it. */
static json_t *export_wait(struct harness_server *srv, const char *connection_id,
                           const char *options)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"connection_id\": \"%s\"%s%s}", connection_id,
             options && *options ? ", " : "", options ? options : "");
    json_t *ack = api_call(srv, "POST", "/v1/database-connection/export", body, 202);
    CU_ASSERT_STRING_EQUAL(str(ack, "status"), "accepted");
    json_t *done = api_wait_task(srv, str(ack, "task_id"), TASK_TIMEOUT_S);
    json_decref(ack);
    if (done && strcmp(str(done, "status"), "succeeded") != 0) {
        char *text = json_dumps(done, 0);
        fprintf(stderr, "\n  export of %s: %s\n", connection_id, text);
        free(text);
    }
    return done;
}

static int succeeded(const json_t *status)
{
    return status && str(status, "status") && strcmp(str(status, "status"), "succeeded") == 0;
}

/* Every document matching the filters (all pages), as a new array. */
static json_t *list_all(struct harness_server *srv, const char *connection_id, const char *table,
                        const char *kind)
{
    json_t *all = json_array();
    for (int page = 1; page < 1000; page++) {
        char path[512];
        snprintf(path, sizeof(path), "/v1/documents?connection_id=%s&per_page=200&page=%d%s%s%s%s",
                 connection_id, page, table ? "&table=" : "", table ? table : "",
                 kind ? "&kind=" : "", kind ? kind : "");
        json_t *reply = api_get(srv, path, 200);
        json_t *docs = json_object_get(reply, "documents");
        json_array_extend(all, docs);
        size_t n = json_array_size(docs);
        json_decref(reply);
        if (n < 200)
            break;
    }
    return all;
}

static json_t *get_document(struct harness_server *srv, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/documents/%s", id);
    json_t *reply = api_get(srv, path, 200);
    json_t *doc = json_incref(json_object_get(reply, "document"));
    json_decref(reply);
    return doc;
}

static void blake2b_hex(const char *data, size_t len, char out[65])
{
    unsigned char hash[32];
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)data, len, NULL, 0);
    sodium_bin2hex(out, 65, hash, sizeof(hash));
}

static int by_part(const void *a, const void *b)
{
    json_int_t pa = json_integer_value(json_object_get(*(json_t *const *)a, "part"));
    json_int_t pb = json_integer_value(json_object_get(*(json_t *const *)b, "part"));
    return (pa > pb) - (pa < pb);
}

/* The row documents of a table, ordered by part (a new array of borrowed-then-kept items). */
static json_t *row_pages(struct harness_server *srv, const char *connection_id, const char *table)
{
    json_t *docs = list_all(srv, connection_id, table, "rows");
    size_t n = json_array_size(docs);
    json_t **items = calloc(n ? n : 1, sizeof(json_t *));
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(docs, i);
    qsort(items, n, sizeof(json_t *), by_part);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, items[i]);
    free(items);
    json_decref(docs);
    return sorted;
}

/*
 * Checks what every document says of itself: id, hash of its content,
 * connection, table, contiguous row ranges. Calls `on_row(arg, line)` with
 * each JSONL row. Returns the rows seen.
 */
static long check_pages(struct harness_server *srv, const char *connection_id, const char *table,
                        long per_page, void (*on_row)(void *arg, json_t *row), void *arg)
{
    json_t *pages = row_pages(srv, connection_id, table), *meta;
    long rows = 0;
    size_t i;
    json_t *item;
    json_array_foreach(pages, i, item)
    {
        json_t *doc = get_document(srv, str(item, "id"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        const char *content = str(doc, "content");
        CU_ASSERT_PTR_NOT_NULL_FATAL(content);
        meta = json_object_get(doc, "metadata");
        char hash[65];
        blake2b_hex(content, strlen(content), hash);
        CU_ASSERT_STRING_EQUAL(hash, str(doc, "content_hash"));
        CU_ASSERT_STRING_EQUAL(hash, str(meta, "content_hash"));
        CU_ASSERT_STRING_EQUAL(str(meta, "document_id"), str(doc, "id"));
        CU_ASSERT_STRING_EQUAL(str(meta, "connection_id"), connection_id);
        CU_ASSERT_STRING_EQUAL(str(meta, "table"), table);
        CU_ASSERT_STRING_EQUAL(str(meta, "format"), "jsonl");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "part")), (json_int_t)i + 1);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "row_start")), rows + 1);
        long lines = 0;
        for (const char *line = content; *line;) {
            const char *end = strchr(line, '\n');
            CU_ASSERT_PTR_NOT_NULL_FATAL(end);
            json_error_t err;
            json_t *row = json_loadb(line, (size_t)(end - line), 0, &err);
            CU_ASSERT_TRUE(json_is_object(row));
            if (row)
                on_row(arg, row);
            json_decref(row);
            lines++;
            line = end + 1;
        }
        CU_ASSERT_TRUE(lines >= 1 && lines <= per_page);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "row_count")), lines);
        rows += lines;
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "row_end")), rows);
        json_decref(doc);
    }
    json_decref(pages);
    return rows;
}

static int sqlite_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    int rc = sqlite3_open(path, &db) == SQLITE_OK ? sqlite3_exec(db, sql, NULL, NULL, &msg) : -1;
    if (rc != SQLITE_OK)
        fprintf(stderr, "\n  sqlite %s: %s\n", path, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Every row exactly once                                                   */
/* ------------------------------------------------------------------------ */

/* The primary key of a JSONL row as text, "a|b" for composite keys. */
struct key_set {
    const char *columns[4];
    size_t ncolumns;
    char **keys;
    size_t n, cap;
};

static void collect_key(void *arg, json_t *row)
{
    struct key_set *ks = arg;
    char key[256] = "";
    for (size_t i = 0; i < ks->ncolumns; i++) {
        json_t *v = json_object_get(row, ks->columns[i]);
        CU_ASSERT_TRUE(json_is_integer(v));
        snprintf(key + strlen(key), sizeof(key) - strlen(key), "%s%lld", i ? "|" : "",
                 (long long)json_integer_value(v));
    }
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 256;
        ks->keys = realloc(ks->keys, ks->cap * sizeof(char *));
    }
    ks->keys[ks->n++] = strdup(key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void key_set_free(struct key_set *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->keys[i]);
    free(ks->keys);
}

/* The keys a table holds in the sqlite file, sorted: what the pages must hold, once each. */
static void expected_keys(const char *path, const char *sql, struct key_set *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    memset(out, 0, sizeof(*out));
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 256;
            out->keys = realloc(out->keys, out->cap * sizeof(char *));
        }
        out->keys[out->n++] = strdup((const char *)sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    qsort(out->keys, out->n, sizeof(char *), cmp_str);
}

static const struct {
    const char *table;
    const char *columns[2];
    const char *key_sql;
} chinook_keys[] = {
    {"Album", {"AlbumId"}, "SELECT AlbumId FROM Album"},
    {"Artist", {"ArtistId"}, "SELECT ArtistId FROM Artist"},
    {"Customer", {"CustomerId"}, "SELECT CustomerId FROM Customer"},
    {"Employee", {"EmployeeId"}, "SELECT EmployeeId FROM Employee"},
    {"Genre", {"GenreId"}, "SELECT GenreId FROM Genre"},
    {"Invoice", {"InvoiceId"}, "SELECT InvoiceId FROM Invoice"},
    {"InvoiceLine", {"InvoiceLineId"}, "SELECT InvoiceLineId FROM InvoiceLine"},
    {"MediaType", {"MediaTypeId"}, "SELECT MediaTypeId FROM MediaType"},
    {"Playlist", {"PlaylistId"}, "SELECT PlaylistId FROM Playlist"},
    {"PlaylistTrack",
     {"PlaylistId", "TrackId"},
     "SELECT PlaylistId || '|' || TrackId FROM PlaylistTrack"},
    {"Track", {"TrackId"}, "SELECT TrackId FROM Track"},
};

static void test_chinook_jsonl_every_row_once(void)
{
    char *path = NULL;
    char *id = chinook_copy_connection("export-jsonl", &path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *done = export_wait(server, id, "\"format\": \"jsonl\", \"rows_per_document\": 100");
    CU_ASSERT_TRUE_FATAL(succeeded(done));
    json_t *result = json_object_get(done, "result");
    long total_rows = 0;
    for (size_t t = 0; t < sizeof(chinook_keys) / sizeof(chinook_keys[0]); t++) {
        struct key_set want, got = {.ncolumns = chinook_keys[t].columns[1] ? 2 : 1};
        got.columns[0] = chinook_keys[t].columns[0];
        got.columns[1] = chinook_keys[t].columns[1];
        expected_keys(path, chinook_keys[t].key_sql, &want);
        long rows = check_pages(server, id, chinook_keys[t].table, 100, collect_key, &got);
        qsort(got.keys, got.n, sizeof(char *), cmp_str);
        CU_ASSERT_EQUAL(rows, (long)want.n);
        CU_ASSERT_EQUAL(got.n, want.n);
        int same = got.n == want.n;
        for (size_t i = 0; same && i < got.n; i++)
            same = strcmp(got.keys[i], want.keys[i]) == 0;
        if (!same)
            fprintf(stderr, "\n  %s: the pages do not hold each row once\n", chinook_keys[t].table);
        CU_ASSERT_TRUE(same);
        total_rows += rows;
        key_set_free(&want);
        key_set_free(&got);
    }
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(result, "rows")), total_rows);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(result, "tables_exported")), 11);
    CU_ASSERT_TRUE(json_is_null(json_object_get(result, "snapshot_version")));
    CU_ASSERT_TRUE(json_is_true(json_object_get(result, "search_indexed")));
    /* One overview per table, markdown, naming its columns and keys. */
    json_t *overviews = list_all(server, id, NULL, "overview");
    CU_ASSERT_EQUAL(json_array_size(overviews), 11);
    json_t *invoice = list_all(server, id, "Invoice", "overview");
    CU_ASSERT_EQUAL_FATAL(json_array_size(invoice), 1);
    json_t *doc = get_document(server, str(json_array_get(invoice, 0), "id"));
    const char *content = str(doc, "content");
    CU_ASSERT_PTR_NOT_NULL_FATAL(content);
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "# Invoice"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "| BillingCountry | NVARCHAR(40) |"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "Primary key: InvoiceId"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "References Customer (CustomerId)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "Referenced by InvoiceLine"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "Rows exported: 412"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "## Sample rows"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "Theodor-Heuss-Straße 34"));
    CU_ASSERT_STRING_EQUAL(str(doc, "format"), "markdown");
    json_t *meta = json_object_get(doc, "metadata");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "row_count")), 412);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(meta, "row_documents")), 5);
    json_decref(doc);
    json_decref(invoice);
    json_decref(overviews);
    json_decref(done);
    free(id);
    free(path);
}

/* Counts the data rows of markdown pages (lines after the two header lines of each table). */
static void test_chinook_markdown_pages(void)
{
    char *id = chinook_copy_connection("export-markdown", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *done = export_wait(server, id, "");
    CU_ASSERT_TRUE_FATAL(succeeded(done));
    CU_ASSERT_STRING_EQUAL(str(json_object_get(done, "result"), "format"), "markdown");
    json_t *pages = row_pages(server, id, "Track");
    CU_ASSERT_EQUAL(json_array_size(pages), 8); /* 3503 rows, 500 to a page */
    long rows = 0;
    size_t i;
    json_t *item;
    json_array_foreach(pages, i, item)
    {
        json_t *doc = get_document(server, str(item, "id"));
        const char *content = str(doc, "content");
        CU_ASSERT_PTR_NOT_NULL_FATAL(content);
        CU_ASSERT_EQUAL(strncmp(content, "## Track: rows ", 15), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(content, "| TrackId | Name | AlbumId |"));
        long lines = -2;
        for (const char *p = content; (p = strstr(p, "\n|")); p++)
            lines++;
        CU_ASSERT_EQUAL(
            json_integer_value(json_object_get(json_object_get(doc, "metadata"), "row_count")),
            lines);
        CU_ASSERT_STRING_EQUAL(str(json_object_get(doc, "metadata"), "mime_type"), "text/markdown");
        rows += lines;
        json_decref(doc);
    }
    CU_ASSERT_EQUAL(rows, 3503);
    json_decref(pages);
    json_decref(done);
    free(id);
}

/* ------------------------------------------------------------------------ */
/* Re-export                                                                */
/* ------------------------------------------------------------------------ */

/* {"<table>/<kind>/<part>": {"id", "hash"}} of a connection's documents. */
static json_t *document_map(const char *connection_id)
{
    json_t *docs = list_all(server, connection_id, NULL, NULL), *map = json_object(), *d;
    size_t i;
    json_array_foreach(docs, i, d)
    {
        char key[256];
        snprintf(key, sizeof(key), "%s/%s/%lld", str(d, "table"), str(d, "kind"),
                 (long long)json_integer_value(json_object_get(d, "part")));
        CU_ASSERT_PTR_NULL(json_object_get(map, key)); /* one document per key */
        json_object_set_new(
            map, key, json_pack("{s:s, s:s}", "id", str(d, "id"), "hash", str(d, "content_hash")));
    }
    json_decref(docs);
    return map;
}

static long count_changed(json_t *before, json_t *after, const char *changed_prefix)
{
    const char *key;
    json_t *value;
    long changed = 0;
    CU_ASSERT_EQUAL(json_object_size(before), json_object_size(after));
    json_object_foreach(after, key, value)
    {
        json_t *old = json_object_get(before, key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(old);
        int same = strcmp(str(old, "id"), str(value, "id")) == 0;
        CU_ASSERT_EQUAL(same, strcmp(str(old, "hash"), str(value, "hash")) == 0);
        if (!same) {
            changed++;
            if (changed_prefix)
                CU_ASSERT_EQUAL(strncmp(key, changed_prefix, strlen(changed_prefix)), 0);
        }
    }
    return changed;
}

static void test_reexport_keeps_unchanged(void)
{
    char *path = NULL;
    char *id = chinook_copy_connection("export-again", &path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    const char *options = "\"format\": \"jsonl\", \"rows_per_document\": 100";
    json_t *first = export_wait(server, id, options);
    CU_ASSERT_TRUE_FATAL(succeeded(first));
    json_t *before = document_map(id);
    long total = (long)json_object_size(before);
    CU_ASSERT_EQUAL(
        json_integer_value(json_object_get(json_object_get(first, "result"), "documents_new")),
        total);

    /* Unchanged: every document keeps its id and hash. */
    json_t *second = export_wait(server, id, options);
    CU_ASSERT_TRUE_FATAL(succeeded(second));
    json_t *result = json_object_get(second, "result");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(result, "documents_new")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(result, "documents_kept")), total);
    json_t *after = document_map(id);
    CU_ASSERT_EQUAL(count_changed(before, after, NULL), 0);

    /* One row changes: its page and the overview (its sample rows show it) get new ids. */
    CU_ASSERT_EQUAL_FATAL(
        sqlite_exec(path, "UPDATE Genre SET Name = 'Jazz, Modal' WHERE GenreId = 2"), 0);
    json_t *third = export_wait(server, id, options);
    CU_ASSERT_TRUE_FATAL(succeeded(third));
    result = json_object_get(third, "result");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(result, "documents_new")), 2);
    json_t *changed = document_map(id);
    CU_ASSERT_EQUAL(count_changed(after, changed, "Genre/"), 2);
    /* The replaced documents are gone. */
    char doc_path[128];
    snprintf(doc_path, sizeof(doc_path), "/v1/documents/%s",
             str(json_object_get(after, "Genre/rows/1"), "id"));
    json_decref(api_get(server, doc_path, 404));

    /* A partial export replaces only the tables it names: the rest stay as they are. */
    json_t *partial = export_wait(server, id, "\"tables\": [\"Genre\"], \"format\": \"markdown\"");
    CU_ASSERT_TRUE_FATAL(succeeded(partial));
    json_t *mixed = document_map(id);
    CU_ASSERT_EQUAL(json_object_size(mixed), json_object_size(changed));
    CU_ASSERT_STRING_EQUAL(str(json_object_get(mixed, "Track/rows/1"), "id"),
                           str(json_object_get(changed, "Track/rows/1"), "id"));
    CU_ASSERT_STRING_NOT_EQUAL(str(json_object_get(mixed, "Genre/rows/1"), "id"),
                               str(json_object_get(changed, "Genre/rows/1"), "id"));

    json_decref(mixed);
    json_decref(partial);
    json_decref(changed);
    json_decref(third);
    json_decref(after);
    json_decref(second);
    json_decref(before);
    json_decref(first);
    free(id);
    free(path);
}

/* Counts documents in the registry itself that are not live (staged or retired leftovers). */
static long registry_leftovers(struct harness_server *srv)
{
    return harness_sqlite_count(harness_registry_path(srv),
                                "SELECT count(*) FROM documents WHERE state <> 'live'");
}

static void test_failed_export_keeps_previous(void)
{
    char *path = harness_tmppath("boom", ".sqlite");
    /* The view fails at its 250th row ("integer overflow"), after pages of it were staged. */
    CU_ASSERT_EQUAL_FATAL(
        sqlite_exec(path, "CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT);"
                          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                          "WHERE i < 300) INSERT INTO t SELECT i, 'row ' || i FROM n;"
                          "CREATE VIEW boom AS SELECT id, label || abs(-9223372036854775807 - "
                          "(id = 250)) AS label FROM t;"),
        0);
    char *id = api_create(server, "export-boom", "sqlite", path, AGENT_A);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    const char *options = "\"format\": \"jsonl\", \"rows_per_document\": 50";
    char first_options[256];
    snprintf(first_options, sizeof(first_options), "%s, \"tables\": [\"t\"]", options);
    json_t *first = export_wait(server, id, first_options);
    CU_ASSERT_TRUE_FATAL(succeeded(first));
    json_t *before = document_map(id);
    CU_ASSERT_EQUAL(json_object_size(before), 7); /* 6 pages and an overview */

    json_t *failed = export_wait(server, id, options);
    CU_ASSERT_STRING_EQUAL(str(failed, "status"), "failed");
    json_t *error = json_object_get(failed, "error");
    CU_ASSERT_STRING_EQUAL(str(error, "code"), "target_error");
    CU_ASSERT_PTR_NOT_NULL(strstr(str(error, "message"), "boom"));
    json_t *after = document_map(id);
    CU_ASSERT_EQUAL(count_changed(before, after, NULL), 0);
    CU_ASSERT_PTR_NULL(json_object_get(after, "boom/overview/0"));
    CU_ASSERT_EQUAL(registry_leftovers(server), 0);

    json_decref(after);
    json_decref(failed);
    json_decref(before);
    json_decref(first);
    free(id);
    free(path);
}

/* ------------------------------------------------------------------------ */
/* A large table, with bounded memory                                       */
/* ------------------------------------------------------------------------ */

struct big_check {
    unsigned char *seen; /* per id: how many times */
    long bad;
};

static void see_big_row(void *arg, json_t *row)
{
    struct big_check *c = arg;
    json_int_t id = json_integer_value(json_object_get(row, "id"));
    if (id < 1 || id > BIG_ROWS || !json_is_string(json_object_get(row, "payload")) ||
        !json_is_string(json_object_get(row, "bin"))) {
        c->bad++;
        return;
    }
    if (c->seen[id] < 255)
        c->seen[id]++;
}

static void test_large_table_bounded_memory(void)
{
    char *path = harness_tmppath("big", ".sqlite");
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount REAL, "
             "payload TEXT, bin BLOB);"
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
             "INSERT INTO big SELECT i, 'name ' || i, i / 4.0, "
             "substr(replace(hex(zeroblob(%d)), '00', 'quarry export payload '), 1, %d), "
             "CAST(printf('%%08d', i) AS BLOB) FROM n;",
             BIG_ROWS, BIG_PAYLOAD, BIG_PAYLOAD);
    CU_ASSERT_EQUAL_FATAL(sqlite_exec(path, sql), 0);
    CU_ASSERT_EQUAL(harness_sqlite_count(path, "SELECT count(*) FROM big"), BIG_ROWS);

    /* A server of its own, so that its peak RSS is this export's. */
    char asan[512];
    const char *given = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%squarantine_size_mb=16", given ? given : "",
             given && *given ? ":" : "");
    const char *env[] = {asan, NULL};
    struct harness_server *srv = harness_start(NULL, env);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    long before_kb = harness_peak_rss_kb(srv);
    char *id = api_create(srv, "big", "sqlite", path, AGENT_A);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *done = export_wait(srv, id, "\"format\": \"jsonl\", \"rows_per_document\": 2000");
    CU_ASSERT_TRUE_FATAL(succeeded(done));
    long peak_kb = harness_peak_rss_kb(srv);
    fprintf(stderr,
            "\n  quarryd peak RSS: %ld kB at start, %ld kB after exporting %d rows "
            "(bound %ld kB)\n",
            before_kb, peak_kb, BIG_ROWS, BIG_RSS_BOUND_KB);
    CU_ASSERT_TRUE(peak_kb > 0 && peak_kb < BIG_RSS_BOUND_KB);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(done, "result"), "rows")),
                    BIG_ROWS);

    struct big_check check = {calloc(BIG_ROWS + 1, 1), 0};
    long rows = check_pages(srv, id, "big", 2000, see_big_row, &check);
    CU_ASSERT_EQUAL(rows, BIG_ROWS);
    CU_ASSERT_EQUAL(check.bad, 0);
    long once = 0;
    for (long i = 1; i <= BIG_ROWS; i++)
        once += check.seen[i] == 1;
    CU_ASSERT_EQUAL(once, BIG_ROWS);

    /* A BLOB comes out as base64 of its bytes: row 42's are "00000042". */
    json_t *pages = row_pages(srv, id, "big");
    json_t *doc = get_document(srv, str(json_array_get(pages, 0), "id"));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(doc, "content"), "\"id\":42,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(doc, "content"), "\"bin\":\"MDAwMDAwNDI=\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(doc, "content"), "\"amount\":10.5,"));
    json_decref(doc);
    json_decref(pages);

    free(check.seen);
    json_decref(done);
    free(id);
    CU_ASSERT_EQUAL(harness_stop(srv), 0);
    free(path);
}

/* ------------------------------------------------------------------------ */
/* PostgreSQL                                                               */
/* ------------------------------------------------------------------------ */

struct id_check {
    unsigned char *seen;
    long max;
    long bad;
};

static void see_id(void *arg, json_t *row)
{
    struct id_check *c = arg;
    json_int_t id = json_integer_value(json_object_get(row, "id"));
    if (id < 1 || id > c->max)
        c->bad++;
    else if (c->seen[id] < 255)
        c->seen[id]++;
}

static void keep_rows(void *arg, json_t *row)
{
    json_array_append(arg, row);
}

static void test_postgres_export(void)
{
    const char *url = getenv("QUARRY_TEST_PG_URL");
    if (!url) {
        CU_FAIL(
            "QUARRY_TEST_PG_URL is not set: run eval \"$(bash .ci/services/postgres.sh start)\"");
        return;
    }
    char *id = api_create(server, "export-pg", "postgres", url, AGENT_A);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *done = export_wait(server, id,
                               "\"format\": \"jsonl\", \"rows_per_document\": 5000, \"tables\": "
                               "[\"ref.big_sample\", \"public.customer\", \"Sales.Order\"]");
    CU_ASSERT_TRUE_FATAL(succeeded(done));

    struct id_check check = {calloc(100001, 1), 100000, 0};
    CU_ASSERT_EQUAL(check_pages(server, id, "ref.big_sample", 5000, see_id, &check), 100000);
    long once = 0;
    for (long i = 1; i <= 100000; i++)
        once += check.seen[i] == 1;
    CU_ASSERT_EQUAL(once, 100000);
    CU_ASSERT_EQUAL(check.bad, 0);
    free(check.seen);

    json_t *customers = json_array();
    CU_ASSERT_EQUAL(check_pages(server, id, "public.customer", 5000, keep_rows, customers), 59);
    json_decref(customers);

    /* Exact decimals as text, timestamps in UTC, NULL as null. */
    json_t *orders = json_array();
    CU_ASSERT_EQUAL_FATAL(check_pages(server, id, "Sales.Order", 5000, keep_rows, orders), 3);
    json_t *a1 = NULL, *a2 = NULL, *row;
    size_t i;
    json_array_foreach(orders, i, row)
    {
        if (strcmp(str(row, "OrderRef"), "A-1") == 0)
            a1 = row;
        if (strcmp(str(row, "OrderRef"), "A-2") == 0)
            a2 = row;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a2);
    CU_ASSERT_STRING_EQUAL(str(a1, "Amount"), "10.50");
    CU_ASSERT_STRING_EQUAL(str(a1, "note"), "first");
    CU_ASSERT_TRUE(json_is_null(json_object_get(a2, "note")));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(a1, "placed_at"), "2024-02-29"));
    json_decref(orders);

    /* Every table, view and materialized view of the database, in markdown. */
    json_t *all = export_wait(server, id, "");
    CU_ASSERT_TRUE_FATAL(succeeded(all));
    json_int_t tables =
        json_integer_value(json_object_get(json_object_get(all, "result"), "tables_exported"));
    CU_ASSERT_TRUE(tables >= 11 + 6);
    json_t *overviews = list_all(server, id, NULL, "overview");
    CU_ASSERT_EQUAL((json_int_t)json_array_size(overviews), tables);
    json_t *region = list_all(server, id, "ref.region", "overview");
    CU_ASSERT_EQUAL_FATAL(json_array_size(region), 1);
    json_t *doc = get_document(server, str(json_array_get(region, 0), "id"));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(doc, "content"), "Sales regions, keyed by country"));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(doc, "content"), "Primary key: country_code, region_code"));
    CU_ASSERT_PTR_NOT_NULL(strstr(str(doc, "content"), "Île-de-France"));
    json_decref(doc);
    json_decref(region);
    json_decref(overviews);
    json_decref(all);
    json_decref(done);
    free(id);
}

/* ------------------------------------------------------------------------ */
/* Bad input, isolation, deleted connections                                */
/* ------------------------------------------------------------------------ */

static void expect_status(struct harness_server *srv, const char *method, const char *path,
                          const char *body, const char *const *headers, long status,
                          const char *code)
{
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request(srv, method, path, body, headers, &r), 0);
    if (r.status != status)
        fprintf(stderr, "\n  %s %s %s: expected %ld, got %ld: %.300s\n", method, path,
                body ? body : "", status, r.status, r.body);
    CU_ASSERT_EQUAL(r.status, status);
    CU_ASSERT_PTR_NOT_NULL(r.json);
    if (code)
        CU_ASSERT_STRING_EQUAL(str(r.json, "error_code") ? str(r.json, "error_code") : "", code);
    harness_response_free(&r);
}

static void test_export_bad_input(void)
{
    char *id = chinook_copy_connection("export-bad", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    const char *const *auth = harness_auth(server);
    const char *export = "/v1/database-connection/export";
    expect_status(server, "POST", export, NULL, auth, 422, NULL);
    expect_status(server, "POST", export, "{\"connection_id\": ", auth, 400, NULL);
    expect_status(server, "POST", export, "[]", auth, 422, NULL);
    expect_status(server, "POST", export, "{}", auth, 422, "invalid_field");
    expect_status(server, "POST", export, "{\"connection_id\": 5}", auth, 422, "invalid_field");
    expect_status(server, "POST", export, "{\"connection_id\": \"nope\"}", auth, 404, "not_found");
    expect_status(server, "POST", export,
                  "{\"connection_id\": \"9b2e4c1a-0000-4000-8000-000000000000\"}", auth, 404,
                  "not_found");
    static const char *const bad_options[] = {
        "\"rows_per_document\": 0",
        "\"rows_per_document\": 10001",
        "\"rows_per_document\": \"5\"",
        "\"rows_per_document\": 1.5",
        "\"format\": \"pdf\"",
        "\"format\": 3",
        "\"tables\": []",
        "\"tables\": \"Genre\"",
        "\"tables\": [1]",
        "\"tables\": [\"\"]",
    };
    for (size_t i = 0; i < sizeof(bad_options) / sizeof(bad_options[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"connection_id\": \"%s\", %s}", id, bad_options[i]);
        expect_status(server, "POST", export, body, auth, 422, "invalid_field");
    }
    /* A table the database lacks fails the task, by name. */
    json_t *missing = export_wait(server, id, "\"tables\": [\"Genre\", \"NoSuchTable\"]");
    CU_ASSERT_STRING_EQUAL(str(missing, "status"), "failed");
    CU_ASSERT_STRING_EQUAL(str(json_object_get(missing, "error"), "code"), "table_not_found");
    CU_ASSERT_PTR_NOT_NULL(
        strstr(str(json_object_get(missing, "error"), "message"), "NoSuchTable"));
    json_decref(missing);

    /* Another agent's caller sees none of it. */
    struct harness_key b;
    CU_ASSERT_EQUAL_FATAL(harness_key(server, "write", AGENT_B, &b), 0);
    char body[256], path[256];
    snprintf(body, sizeof(body), "{\"connection_id\": \"%s\"}", id);
    expect_status(server, "POST", export, body, b.headers, 403, "forbidden");
    json_t *done = export_wait(server, id, "\"tables\": [\"Genre\"]");
    CU_ASSERT_TRUE_FATAL(succeeded(done));
    json_t *docs = list_all(server, id, NULL, NULL);
    CU_ASSERT_EQUAL_FATAL(json_array_size(docs), 2);
    const char *doc_id = str(json_array_get(docs, 0), "id");
    snprintf(path, sizeof(path), "/v1/documents/%s", doc_id);
    expect_status(server, "GET", path, NULL, b.headers, 403, "forbidden");
    expect_status(server, "DELETE", path, NULL, b.headers, 403, "forbidden");
    snprintf(path, sizeof(path), "/v1/documents?connection_id=%s", id);
    expect_status(server, "GET", path, NULL, b.headers, 403, "forbidden");
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request(server, "GET", "/v1/documents", NULL, b.headers, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "total")), 0);
    harness_response_free(&r);

    expect_status(server, "GET", "/v1/documents/not-a-uuid", NULL, auth, 404, "not_found");
    expect_status(server, "GET", "/v1/documents/9b2e4c1a-0000-4000-8000-000000000000", NULL, auth,
                  404, "not_found");
    expect_status(server, "GET", "/v1/documents?kind=pdf", NULL, auth, 422, NULL);
    expect_status(server, "GET", "/v1/documents?per_page=0", NULL, auth, 422, NULL);
    expect_status(server, "GET", "/v1/documents?connection_id=9b2e4c1a-0000-4000-8000-000000000000",
                  NULL, auth, 404, "not_found");

    /* Delete one document: it is gone, the other stays. */
    snprintf(path, sizeof(path), "/v1/documents/%s", doc_id);
    json_t *deleted = api_call(server, "DELETE", path, NULL, 200);
    CU_ASSERT_TRUE(json_is_true(json_object_get(deleted, "deleted")));
    json_decref(deleted);
    expect_status(server, "GET", path, NULL, auth, 404, "not_found");
    expect_status(server, "DELETE", path, NULL, auth, 404, "not_found");
    json_t *left = list_all(server, id, NULL, NULL);
    CU_ASSERT_EQUAL(json_array_size(left), 1);
    json_decref(left);
    /* The /api alias serves the same. */
    json_t *alias = api_get(server, "/api/v1/documents?per_page=1", 200);
    CU_ASSERT_TRUE(json_integer_value(json_object_get(alias, "total")) >= 1);
    json_decref(alias);

    json_decref(docs);
    json_decref(done);
    free(id);
}

static void test_deleted_connection_hides_documents(void)
{
    char *id = chinook_copy_connection("export-deleted", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *done = export_wait(server, id, "\"tables\": [\"MediaType\"]");
    CU_ASSERT_TRUE_FATAL(succeeded(done));
    json_t *docs = list_all(server, id, NULL, NULL);
    CU_ASSERT_EQUAL_FATAL(json_array_size(docs), 2);
    char doc_path[128], conn_path[128];
    snprintf(doc_path, sizeof(doc_path), "/v1/documents/%s", str(json_array_get(docs, 0), "id"));
    snprintf(conn_path, sizeof(conn_path), "/v1/database-connection/%s", id);
    json_decref(api_call(server, "DELETE", conn_path, NULL, 200));
    expect_status(server, "GET", doc_path, NULL, harness_auth(server), 404, "not_found");
    char restore[160];
    snprintf(restore, sizeof(restore), "/v1/database-connection/%s/restore", id);
    json_decref(api_call(server, "PATCH", restore, NULL, 200));
    json_decref(api_get(server, doc_path, 200));
    json_decref(docs);
    json_decref(done);
    free(id);
}

/* ------------------------------------------------------------------------ */
/* With a semantic snapshot                                                 */
/* ------------------------------------------------------------------------ */

/* Stores a snapshot as the analysis would (version 1), straight into the registry. */
static int store_snapshot(struct harness_server *srv, const char *connection_id,
                          const char *snapshot)
{
    char *sql = sqlite3_mprintf(
        "INSERT INTO snapshots (connection_id, version, schema_hash, snapshot, graph, samples, "
        "created_at) VALUES (%Q, 1, 'test', %Q, '{}', '[]', '2026-01-01T00:00:00.000Z')",
        connection_id, snapshot);
    int rc = sqlite_exec(harness_registry_path(srv), sql);
    sqlite3_free(sql);
    return rc;
}

static void test_export_uses_snapshot(void)
{
    char *id = chinook_copy_connection("export-snapshot", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    CU_ASSERT_EQUAL_FATAL(
        store_snapshot(server, id,
                       "{\"version\": 1, \"tables\": [{\"schema\": null, \"name\": \"Genre\", "
                       "\"kind\": \"table\", \"role\": \"lookup\", \"description\": \"Musical "
                       "styles a track belongs to\", \"columns\": [{\"name\": \"GenreId\", "
                       "\"semantic_type\": \"identifier\"}, {\"name\": \"Name\", "
                       "\"semantic_type\": \"category\", \"null_fraction\": 0, "
                       "\"distinct_estimate\": 25, \"top_values\": [{\"value\": \"Rock\", "
                       "\"count\": 1297}]}]}]}"),
        0);
    json_t *done = export_wait(server, id, "\"tables\": [\"Genre\"]");
    CU_ASSERT_TRUE_FATAL(succeeded(done));
    CU_ASSERT_EQUAL(
        json_integer_value(json_object_get(json_object_get(done, "result"), "snapshot_version")),
        1);
    json_t *overview = list_all(server, id, "Genre", "overview");
    CU_ASSERT_EQUAL_FATAL(json_array_size(overview), 1);
    json_t *doc = get_document(server, str(json_array_get(overview, 0), "id"));
    const char *content = str(doc, "content");
    CU_ASSERT_PTR_NOT_NULL_FATAL(content);
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "Musical styles a track belongs to"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "- Role: lookup"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "| Name | NVARCHAR(120) | category |"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "Rock (1297)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content, "Semantic snapshot: version 1"));
    CU_ASSERT_EQUAL(
        json_integer_value(json_object_get(json_object_get(doc, "metadata"), "snapshot_version")),
        1);
    json_decref(doc);
    json_decref(overview);
    json_decref(done);
    free(id);
}

void register_export_tests(void)
{
    CU_pSuite s = CU_add_suite("export", suite_init, suite_cleanup);
    CU_add_test(s, "chinook as JSONL: every row exactly once", test_chinook_jsonl_every_row_once);
    CU_add_test(s, "chinook as markdown pages", test_chinook_markdown_pages);
    CU_add_test(s, "re-export keeps unchanged documents", test_reexport_keeps_unchanged);
    CU_add_test(s, "a failed export keeps the previous documents",
                test_failed_export_keeps_previous);
    CU_add_test(s, "200,000 rows, every row once, bounded memory", test_large_table_bounded_memory);
    CU_add_test(s, "postgresql", test_postgres_export);
    CU_add_test(s, "bad input and isolation", test_export_bad_input);
    CU_add_test(s, "a deleted connection's documents", test_deleted_connection_hides_documents);
    CU_add_test(s, "the semantic snapshot in overviews", test_export_uses_snapshot);
}
