#include "documents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"

#define DOCS_HASH_ALGORITHM "blake2b-256"

/* Steps a statement that returns no rows and finalizes it; 0 or -1. */
static int run(struct registry *registry, sqlite3_stmt *stmt)
{
    if (!stmt)
        return -1;
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        log_error("registry: documents: %s", sqlite3_errmsg(registry_db(registry)));
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int exec(struct registry *registry, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(registry_db(registry), sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    log_error("registry: documents: %s", msg ? msg : "?");
    sqlite3_free(msg);
    return -1;
}

static const char *schema_or_empty(const char *schema)
{
    return schema ? schema : "";
}

/* ------------------------------------------------------------------------ */
/* Staging                                                                  */
/* ------------------------------------------------------------------------ */

/* The id of the live document with `doc`'s key and hash, into `id_out`; 1 found, 0 not, -1. */
static int find_unchanged(struct registry *registry, const struct document_in *doc, char *id_out)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT id FROM documents WHERE connection_id = ?1 AND "
                                   "state = 'live' AND schema_name = ?2 AND table_name = "
                                   "?3 AND kind = ?4 AND part = ?5 AND content_hash = ?6 "
                                   "LIMIT 1");
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, doc->connection_id);
    registry_bind_text(stmt, 2, schema_or_empty(doc->schema));
    registry_bind_text(stmt, 3, doc->table);
    registry_bind_text(stmt, 4, doc->kind);
    sqlite3_bind_int(stmt, 5, doc->part);
    registry_bind_text(stmt, 6, doc->content_hash);
    int rc = sqlite3_step(stmt);
    int found = rc == SQLITE_ROW;
    if (found)
        snprintf(id_out, ID_UUID_LEN + 1, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return found ? 1 : (rc == SQLITE_DONE ? 0 : -1);
}

static int keep(struct registry *registry, const char *export_id, const char *id,
                const char *metadata)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "INSERT OR REPLACE INTO document_keep (export_id, "
                                   "document_id, metadata) VALUES (?, ?, ?)");
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, export_id);
    registry_bind_text(stmt, 2, id);
    registry_bind_text(stmt, 3, metadata);
    return run(registry, stmt);
}

/* The content first: its seq is the document's (and the search index's rowid). */
static int insert_content(struct registry *registry, const struct document_in *doc,
                          sqlite3_int64 *seq)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "INSERT INTO document_content (content) VALUES (?)");
    if (!stmt)
        return -1;
    /* Borrowed until the step: no copy of a page that may be megabytes. */
    sqlite3_bind_text(stmt, 1, doc->content, (int)doc->content_len, SQLITE_STATIC);
    if (run(registry, stmt) != 0)
        return -1;
    *seq = sqlite3_last_insert_rowid(registry_db(registry));
    return 0;
}

static int insert_document(struct registry *registry, const char *export_id,
                           const struct document_in *doc, sqlite3_int64 seq, char *id_out)
{
    sqlite3_stmt *stmt = registry_prepare(
        registry,
        "INSERT INTO documents (seq, id, connection_id, schema_name, table_name, kind, part, "
        "format, title, content_hash, size, metadata, state, export_id, indexed, created_at, "
        "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'staged', ?13, "
        "?14, ?15, ?15)");
    if (!stmt)
        return -1;
    char now[ID_TIME_LEN + 1];
    id_uuid4(id_out);
    id_time_now(now);
    sqlite3_bind_int64(stmt, 1, seq);
    registry_bind_text(stmt, 2, id_out);
    registry_bind_text(stmt, 3, doc->connection_id);
    registry_bind_text(stmt, 4, schema_or_empty(doc->schema));
    registry_bind_text(stmt, 5, doc->table);
    registry_bind_text(stmt, 6, doc->kind);
    sqlite3_bind_int(stmt, 7, doc->part);
    registry_bind_text(stmt, 8, doc->format);
    registry_bind_text(stmt, 9, doc->title);
    registry_bind_text(stmt, 10, doc->content_hash);
    sqlite3_bind_int64(stmt, 11, (sqlite3_int64)doc->content_len);
    registry_bind_text(stmt, 12, doc->metadata);
    registry_bind_text(stmt, 13, export_id);
    sqlite3_bind_int(stmt, 14, doc->index_now ? 1 : 0);
    registry_bind_text(stmt, 15, now);
    return run(registry, stmt);
}

/* The content and its document together or neither, inside a caller's transaction or not. */
static int insert_staged(struct registry *registry, const char *export_id,
                         const struct document_in *doc, char *id_out)
{
    sqlite3_int64 seq;
    if (exec(registry, "SAVEPOINT stage") != 0)
        return -1;
    if (insert_content(registry, doc, &seq) == 0 &&
        insert_document(registry, export_id, doc, seq, id_out) == 0)
        return exec(registry, "RELEASE stage");
    exec(registry, "ROLLBACK TO stage");
    exec(registry, "RELEASE stage");
    return -1;
}

int documents_stage(struct registry *registry, const char *export_id, const struct document_in *doc,
                    char *id_out, int *kept)
{
    *kept = 0;
    if (!doc->metadata)
        return DOCS_ERROR;
    int rc = find_unchanged(registry, doc, id_out);
    if (rc == 1) {
        *kept = 1;
        rc = keep(registry, export_id, id_out, doc->metadata);
    } else if (rc == 0) {
        rc = insert_staged(registry, export_id, doc, id_out);
    }
    return rc == 0 ? DOCS_OK : DOCS_ERROR;
}

int documents_stage_table(struct registry *registry, const char *export_id, const char *schema,
                          const char *table)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "INSERT OR IGNORE INTO document_exports (export_id, "
                                   "schema_name, table_name) VALUES (?, ?, ?)");
    if (!stmt)
        return DOCS_ERROR;
    registry_bind_text(stmt, 1, export_id);
    registry_bind_text(stmt, 2, schema_or_empty(schema));
    registry_bind_text(stmt, 3, table);
    return run(registry, stmt) == 0 ? DOCS_OK : DOCS_ERROR;
}

/* ------------------------------------------------------------------------ */
/* The swap                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Runs `sql` with ?1 = export, ?2 = connection, ?3 = now, ?4 = all tables (a statement may
 * use fewer: binding an unused index is harmless); the rows changed, or -1.
 */
static long swap_step(struct registry *registry, const char *sql, const char *export_id,
                      const char *connection_id, const char *now, int all_tables)
{
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, export_id);
    registry_bind_text(stmt, 2, connection_id);
    registry_bind_text(stmt, 3, now);
    sqlite3_bind_int(stmt, 4, all_tables);
    if (run(registry, stmt) != 0)
        return -1;
    return (long)sqlite3_changes(registry_db(registry));
}

static long count_live(struct registry *registry, const char *connection_id)
{
    sqlite3_stmt *stmt = registry_prepare(
        registry, "SELECT count(*) FROM documents WHERE connection_id = ? AND state = 'live'");
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, connection_id);
    long n = sqlite3_step(stmt) == SQLITE_ROW ? (long)sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return n;
}

int documents_commit_export(struct registry *registry, const char *export_id,
                            const char *connection_id, int all_tables, long *live, long *retired)
{
    static const char *const retire =
        "UPDATE documents SET state = 'retired', updated_at = ?3 WHERE connection_id = ?2 AND "
        "state = 'live' AND (?4 OR EXISTS (SELECT 1 FROM document_exports e WHERE e.export_id = "
        "?1 AND e.schema_name = documents.schema_name AND e.table_name = documents.table_name)) "
        "AND id NOT IN (SELECT document_id FROM document_keep WHERE export_id = ?1)";
    /* A kept document another export retired meanwhile comes back. */
    static const char *const revive =
        "UPDATE documents SET state = 'live', updated_at = ?3, metadata = (SELECT k.metadata "
        "FROM document_keep k WHERE k.export_id = ?1 AND k.document_id = documents.id) WHERE "
        "connection_id = ?2 AND state IN ('live', 'retired') AND id IN (SELECT document_id FROM "
        "document_keep WHERE export_id = ?1)";
    static const char *const promote = "UPDATE documents SET state = 'live', updated_at = ?3 "
                                       "WHERE export_id = ?1 AND state = 'staged'";
    static const char *const forget = "DELETE FROM document_keep WHERE export_id = ?1";
    static const char *const forget_tables = "DELETE FROM document_exports WHERE export_id = ?1";
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    if (exec(registry, "BEGIN IMMEDIATE") != 0)
        return DOCS_ERROR;
    long gone = swap_step(registry, retire, export_id, connection_id, now, all_tables);
    if (gone < 0 || swap_step(registry, revive, export_id, connection_id, now, all_tables) < 0 ||
        swap_step(registry, promote, export_id, connection_id, now, all_tables) < 0 ||
        swap_step(registry, forget, export_id, connection_id, now, all_tables) < 0 ||
        swap_step(registry, forget_tables, export_id, connection_id, now, all_tables) < 0) {
        exec(registry, "ROLLBACK");
        return DOCS_ERROR;
    }
    long n = count_live(registry, connection_id);
    if (n < 0 || exec(registry, "COMMIT") != 0) {
        exec(registry, "ROLLBACK");
        return DOCS_ERROR;
    }
    if (live)
        *live = n;
    if (retired)
        *retired = gone;
    return DOCS_OK;
}

int documents_discard_stale(struct registry *registry, const char *export_id,
                            const char *connection_id)
{
    static const char *const stale_exports =
        "(export_id = ?1 OR export_id NOT IN (SELECT id FROM jobs WHERE status IN ('queued', "
        "'running')))";
    char sql[3][512];
    snprintf(sql[0], sizeof(sql[0]),
             "DELETE FROM documents WHERE state = 'staged' AND connection_id = ?2 AND %s",
             stale_exports);
    snprintf(sql[1], sizeof(sql[1]), "DELETE FROM document_keep WHERE %s", stale_exports);
    snprintf(sql[2], sizeof(sql[2]), "DELETE FROM document_exports WHERE %s", stale_exports);
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *stmt = registry_prepare(registry, sql[i]);
        if (!stmt)
            return DOCS_ERROR;
        registry_bind_text(stmt, 1, export_id);
        registry_bind_text(stmt, 2, connection_id);
        if (run(registry, stmt) != 0)
            return DOCS_ERROR;
    }
    return DOCS_OK;
}

/* Runs `sql` (?1 = connection or NULL, ?2 = batch) until it changes nothing; the total, or -1. */
static long batched(struct registry *registry, const char *sql, const char *connection_id,
                    int batch, void (*progress)(void *arg, long done), void *arg)
{
    long total = 0;
    for (;;) {
        sqlite3_stmt *stmt = registry_prepare(registry, sql);
        if (!stmt)
            return -1;
        registry_bind_text(stmt, 1, connection_id);
        sqlite3_bind_int(stmt, 2, batch > 0 ? batch : 1);
        if (run(registry, stmt) != 0)
            return -1;
        int changed = sqlite3_changes(registry_db(registry));
        if (changed == 0)
            return total;
        total += changed;
        if (progress)
            progress(arg, total);
    }
}

long documents_collect(struct registry *registry, const char *connection_id, int batch)
{
    /* A retired document an export in flight means to keep stays until it is revived. */
    return batched(registry,
                   "DELETE FROM documents WHERE seq IN (SELECT seq FROM documents WHERE state = "
                   "'retired' AND (?1 IS NULL OR connection_id = ?1) AND id NOT IN (SELECT "
                   "document_id FROM document_keep) LIMIT ?2)",
                   connection_id, batch, NULL, NULL);
}

long documents_index_pending(struct registry *registry, const char *connection_id, int batch,
                             void (*progress)(void *arg, long done), void *arg)
{
    /* The documents_index_later trigger does the indexing. */
    return batched(registry,
                   "UPDATE documents SET indexed = 1 WHERE seq IN (SELECT seq FROM documents WHERE "
                   "connection_id = ?1 AND state = 'live' AND indexed = 0 LIMIT ?2)",
                   connection_id, batch, progress, arg);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

#define DOC_COLUMNS                                                                                \
    "d.id, d.connection_id, d.schema_name, d.table_name, d.kind, d.part, d.format, d.title, "      \
    "d.content_hash, d.size, d.metadata, d.created_at, d.updated_at"

static json_t *text_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text ? json_string(text) : json_null();
}

/* A document from a row of DOC_COLUMNS (content at column 13 when `with_content`). */
static json_t *document_json(sqlite3_stmt *stmt, int with_content)
{
    const char *id = (const char *)sqlite3_column_text(stmt, 0);
    const char *schema = (const char *)sqlite3_column_text(stmt, 2);
    const char *table = (const char *)sqlite3_column_text(stmt, 3);
    const char *hash = (const char *)sqlite3_column_text(stmt, 8);
    json_t *metadata = json_loads((const char *)sqlite3_column_text(stmt, 10), 0, NULL);
    if (!json_is_object(metadata)) {
        json_decref(metadata);
        metadata = json_object();
    }
    /* The id and hash are the row's own: a kept document's metadata is refreshed, they are not. */
    json_object_set_new(metadata, "document_id", json_string(id));
    json_object_set_new(metadata, "content_hash", json_string(hash));
    json_object_set_new(metadata, "hash_algorithm", json_string(DOCS_HASH_ALGORITHM));
    json_t *doc = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:s, s:s, s:I, s:o, s:o, s:o}", "id", id,
        "connection_id", text_or_null(stmt, 1), "schema",
        schema && *schema ? json_string(schema) : json_null(), "table", json_string(table), "kind",
        text_or_null(stmt, 4), "part", sqlite3_column_int(stmt, 5), "format", text_or_null(stmt, 6),
        "title", text_or_null(stmt, 7), "content_hash", hash, "hash_algorithm", DOCS_HASH_ALGORITHM,
        "size", (json_int_t)sqlite3_column_int64(stmt, 9), "created_at", text_or_null(stmt, 11),
        "updated_at", text_or_null(stmt, 12), "metadata", metadata);
    if (doc && with_content) {
        json_t *content = json_stringn((const char *)sqlite3_column_text(stmt, 13),
                                       (size_t)sqlite3_column_bytes(stmt, 13));
        json_object_set_new(doc, "content", content ? content : json_null());
    }
    return doc;
}

/* The WHERE clause of a list: ?1 connection, ?2 agent, ?3 table, ?4 kind. */
#define LIST_WHERE                                                                                 \
    " FROM documents d JOIN connections c ON c.id = d.connection_id WHERE d.state = 'live' AND "   \
    "c.deleted_at IS NULL AND (?1 IS NULL OR d.connection_id = ?1) AND (?2 IS NULL OR "            \
    "c.agent_id = ?2) AND (?3 IS NULL OR d.table_name = ?3 OR (d.schema_name <> '' AND "           \
    "d.schema_name || '.' || d.table_name = ?3)) AND (?4 IS NULL OR d.kind = ?4)"

static void bind_filter(sqlite3_stmt *stmt, const struct documents_filter *f)
{
    registry_bind_text(stmt, 1, f->connection_id);
    registry_bind_text(stmt, 2, f->agent_id);
    registry_bind_text(stmt, 3, f->table);
    registry_bind_text(stmt, 4, f->kind);
}

json_t *documents_list(struct registry *registry, const struct documents_filter *f)
{
    sqlite3_stmt *count = registry_prepare(registry, "SELECT count(*)" LIST_WHERE);
    sqlite3_stmt *stmt = registry_prepare(registry, "SELECT " DOC_COLUMNS LIST_WHERE
                                                    " ORDER BY d.connection_id, d.schema_name, "
                                                    "d.table_name, d.part LIMIT ?5 OFFSET ?6");
    json_t *page = NULL, *items = json_array();
    if (!count || !stmt || !items)
        goto out;
    bind_filter(count, f);
    if (sqlite3_step(count) != SQLITE_ROW)
        goto out;
    long total = (long)sqlite3_column_int64(count, 0);
    bind_filter(stmt, f);
    sqlite3_bind_int64(stmt, 5, f->per_page);
    sqlite3_bind_int64(stmt, 6, (f->page - 1) * f->per_page);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        json_array_append_new(items, document_json(stmt, 0));
    if (rc != SQLITE_DONE)
        goto out;
    page = json_pack("{s:O, s:I, s:I, s:I, s:I}", "documents", items, "total", (json_int_t)total,
                     "page", (json_int_t)f->page, "per_page", (json_int_t)f->per_page,
                     "total_pages", (json_int_t)((total + f->per_page - 1) / f->per_page));
out:
    sqlite3_finalize(count);
    sqlite3_finalize(stmt);
    json_decref(items);
    return page;
}

json_t *documents_get(struct registry *registry, const char *id, int *rc)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT " DOC_COLUMNS ", t.content FROM documents d "
                                   "JOIN connections c ON c.id = d.connection_id "
                                   "JOIN document_content t ON t.seq = d.seq WHERE "
                                   "d.id = ? AND d.state = 'live' AND c.deleted_at IS NULL");
    *rc = DOCS_ERROR;
    if (!stmt)
        return NULL;
    registry_bind_text(stmt, 1, id);
    json_t *doc = NULL;
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        doc = document_json(stmt, 1);
        *rc = doc ? DOCS_OK : DOCS_ERROR;
    } else if (step == SQLITE_DONE) {
        *rc = DOCS_NOT_FOUND;
    }
    sqlite3_finalize(stmt);
    return doc;
}

int documents_connection(struct registry *registry, const char *id, char *out)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT d.connection_id FROM documents d JOIN "
                                   "connections c ON c.id = d.connection_id WHERE d.id = "
                                   "? AND d.state = 'live' AND c.deleted_at IS NULL");
    if (!stmt)
        return DOCS_ERROR;
    registry_bind_text(stmt, 1, id);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        snprintf(out, ID_UUID_LEN + 1, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return step == SQLITE_ROW ? DOCS_OK : (step == SQLITE_DONE ? DOCS_NOT_FOUND : DOCS_ERROR);
}

int documents_delete(struct registry *registry, const char *id)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "DELETE FROM documents WHERE id = ? AND state = 'live'");
    if (!stmt)
        return DOCS_ERROR;
    registry_bind_text(stmt, 1, id);
    if (run(registry, stmt) != 0)
        return DOCS_ERROR;
    return sqlite3_changes(registry_db(registry)) ? DOCS_OK : DOCS_NOT_FOUND;
}
