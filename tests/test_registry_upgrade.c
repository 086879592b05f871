/*
 * Upgrading a registry: quarryd opens a registry an older build wrote and
 * migrates it in place, and what that build stored is served unchanged.
 *
 * tests/fixtures/registry/registry-v3.db was written by the build before
 * migration 4 (document content in a table of its own): a sqlite Chinook
 * connection with Genre and MediaType exported as markdown, 10 rows per
 * document, and indexed for search (its API keys removed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <sqlite3.h>

#include "api_testlib.h"
#include "harness.h"
#include "registry.h"
#include "suites.h"

#define V3_CONNECTION "19d33bad-c569-43e7-8932-20a85359ba4b"
#define V3_DOCUMENTS 6

struct stored_doc {
    char id[64];
    char *content;
};

/* The documents as the old build stored them, read before quarryd touches the file. */
static int read_v3_documents(const char *path, struct stored_doc *docs, int max)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int n = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT id, content FROM documents ORDER BY id", -1, &stmt, NULL) ==
            SQLITE_OK) {
        while (n < max && sqlite3_step(stmt) == SQLITE_ROW) {
            snprintf(docs[n].id, sizeof(docs[n].id), "%s", sqlite3_column_text(stmt, 0));
            docs[n].content = strdup((const char *)sqlite3_column_text(stmt, 1));
            n++;
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

/* How many search results for `q` are the document `id`. */
static int search_hits(struct harness_server *server, const char *q, const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/search/database?q=%s&limit=50", q);
    json_t *found = api_get(server, path, 200);
    json_t *results = json_object_get(found, "results");
    size_t i;
    json_t *r;
    int hits = 0;
    json_array_foreach(results, i, r)
    {
        const char *doc = json_string_value(json_object_get(r, "document_id"));
        hits += doc && strcmp(doc, id) == 0;
    }
    json_decref(found);
    return hits;
}

static void test_v3_documents_survive(void)
{
    char *registry = harness_copy_fixture("registry/registry-v3.db");
    CU_ASSERT_PTR_NOT_NULL_FATAL(registry);
    struct stored_doc docs[V3_DOCUMENTS + 1];
    int n = read_v3_documents(registry, docs, V3_DOCUMENTS + 1);
    CU_ASSERT_EQUAL_FATAL(n, V3_DOCUMENTS);

    struct harness_server *server = harness_start_at(registry, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(server);
    json_t *list = api_get(server, "/v1/documents?connection_id=" V3_CONNECTION, 200);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(list, "total")), V3_DOCUMENTS);
    json_decref(list);

    /* Every document keeps its id and its exact content. */
    int genre_rows = -1;
    for (int i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/documents/%.63s", docs[i].id);
        json_t *doc = api_get(server, path, 200);
        json_t *document = json_object_get(doc, "document");
        const char *content = json_string_value(json_object_get(document, "content"));
        CU_ASSERT_PTR_NOT_NULL(content);
        CU_ASSERT(content && strcmp(content, docs[i].content) == 0);
        if (content && strstr(content, "## Genre: rows 1-10"))
            genre_rows = i;
        json_decref(doc);
    }
    CU_ASSERT_FATAL(genre_rows >= 0);

    /* The search index still holds the old documents, and deleting one takes it out. */
    CU_ASSERT_EQUAL(search_hits(server, "jazz", docs[genre_rows].id), 1);
    char path[128];
    snprintf(path, sizeof(path), "/v1/documents/%.63s", docs[genre_rows].id);
    json_decref(api_call(server, "DELETE", path, NULL, 200));
    CU_ASSERT_EQUAL(search_hits(server, "jazz", docs[genre_rows].id), 0);
    CU_ASSERT_EQUAL(harness_stop(server), 0);

    CU_ASSERT_EQUAL(harness_sqlite_count(registry, "PRAGMA user_version"),
                    registry_migrations_known());
    CU_ASSERT_EQUAL(harness_sqlite_count(registry, "SELECT count(*) FROM document_content"),
                    V3_DOCUMENTS - 1);
    /* Content and documents pair up one to one. */
    CU_ASSERT_EQUAL(harness_sqlite_count(registry,
                                         "SELECT count(*) FROM documents d LEFT JOIN "
                                         "document_content t ON t.seq = d.seq WHERE t.seq IS NULL"),
                    0);
    for (int i = 0; i < n; i++)
        free(docs[i].content);
    free(registry);
}

void register_registry_upgrade_tests(void)
{
    CU_pSuite s = CU_add_suite("registry upgrade", NULL, NULL);
    CU_add_test(s, "documents of a version 3 registry survive migration",
                test_v3_documents_survive);
}
