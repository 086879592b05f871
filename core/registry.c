#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define REGISTRY_BUSY_TIMEOUT_MS 5000
#define REGISTRY_WAL_KEEP_BYTES "67108864" /* a WAL file restarts at most this large */

struct registry {
    sqlite3 *db;
    char *path;
};

/*
 * Numbered migrations: entry i brings the schema from version i to i + 1.
 * Never edit one that has shipped; append a new one.
 */
static const char *const migrations[] = {
    /* 1: connections, their captured tables and columns, jobs, API keys. */
    "CREATE TABLE connections ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  database_type TEXT NOT NULL,"
    "  url_masked TEXT NOT NULL,"
    "  url_sealed BLOB NOT NULL," /* the full URL, encrypted */
    "  agent_id TEXT,"
    "  company_id TEXT,"
    "  user_id TEXT,"
    "  connection_params TEXT NOT NULL DEFAULT '{}'," /* secrets masked */
    "  params_sealed BLOB,"                           /* the secret params, encrypted JSON */
    "  schemas TEXT,"                                 /* JSON array, or NULL for the default */
    "  metadata TEXT,"                                /* JSON object given by the client */
    "  status TEXT NOT NULL DEFAULT 'untested',"
    "  message TEXT,"
    "  latency_ms REAL,"
    "  server_version TEXT,"
    "  tested_at TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  deleted_at TEXT"
    ");"
    "CREATE UNIQUE INDEX connections_agent_name ON connections(ifnull(agent_id, ''), name)"
    "  WHERE deleted_at IS NULL;"
    "CREATE INDEX connections_created ON connections(created_at);"
    "CREATE TABLE db_tables ("
    "  id TEXT PRIMARY KEY,"
    "  connection_id TEXT NOT NULL REFERENCES connections(id),"
    "  schema_name TEXT NOT NULL DEFAULT '',"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL DEFAULT 'table',"
    "  row_count INTEGER,"
    "  comment TEXT,"
    "  description TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  deleted_at TEXT,"
    "  UNIQUE (connection_id, schema_name, name)"
    ");"
    "CREATE TABLE db_columns ("
    "  id TEXT PRIMARY KEY,"
    "  table_id TEXT NOT NULL REFERENCES db_tables(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  ordinal INTEGER NOT NULL,"
    "  data_type TEXT,"
    "  nullable INTEGER,"
    "  default_value TEXT,"
    "  pk_position INTEGER NOT NULL DEFAULT 0,"
    "  comment TEXT,"
    "  description TEXT,"
    "  UNIQUE (table_id, name)"
    ");"
    "CREATE TABLE jobs ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  connection_id TEXT,"
    "  agent_id TEXT,"
    "  status TEXT NOT NULL DEFAULT 'queued',"
    "  progress REAL NOT NULL DEFAULT 0,"
    "  step TEXT,"
    "  payload TEXT,"
    "  result TEXT,"
    "  error_code TEXT,"
    "  error_message TEXT,"
    "  created_at TEXT NOT NULL,"
    "  started_at TEXT,"
    "  finished_at TEXT"
    ");"
    "CREATE INDEX jobs_status ON jobs(status, created_at);"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT,"
    "  secret_hash TEXT NOT NULL,"
    "  scope TEXT NOT NULL,"
    "  agent_id TEXT,"
    "  created_at TEXT NOT NULL,"
    "  expires_at INTEGER,"
    "  revoked_at TEXT,"
    "  last_used_at TEXT"
    ");",
    /* 2: analysis results: table roles and profiles, snapshots with graph and samples. */
    "ALTER TABLE db_tables ADD COLUMN role TEXT;"
    "ALTER TABLE db_tables ADD COLUMN generated_description TEXT;"
    "ALTER TABLE db_tables ADD COLUMN profile TEXT;" /* JSON: keys, FKs in and out, statistics */
    "ALTER TABLE db_tables ADD COLUMN gone_at TEXT;" /* no longer in the database */
    "ALTER TABLE db_tables ADD COLUMN analyzed_at TEXT;"
    "ALTER TABLE db_columns ADD COLUMN semantic_type TEXT;"
    "ALTER TABLE db_columns ADD COLUMN pii INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE db_columns ADD COLUMN generated_description TEXT;"
    "ALTER TABLE db_columns ADD COLUMN profile TEXT;"
    "ALTER TABLE db_columns ADD COLUMN gone_at TEXT;"
    "CREATE INDEX db_tables_connection ON db_tables(connection_id, deleted_at);"
    "CREATE TABLE snapshots ("
    "  connection_id TEXT NOT NULL REFERENCES connections(id),"
    "  version INTEGER NOT NULL,"
    "  schema_hash TEXT NOT NULL,"
    "  snapshot TEXT NOT NULL,"
    "  graph TEXT NOT NULL,"
    "  samples TEXT NOT NULL,"
    "  job_id TEXT,"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (connection_id, version)"
    ");",
    /*
     * 3: exported documents and the search index. An export stages its
     * documents (state 'staged'), then one transaction makes them 'live' and
     * the previous ones 'retired' (deleted afterwards). search_fts indexes
     * documents (their text, once `indexed` is set) and the table and column
     * entries of search_meta (names too) through the search_content view,
     * kept in step by triggers.
     */
    "CREATE TABLE documents ("
    "  seq INTEGER PRIMARY KEY," /* the search index's rowid (> 0) */
    "  id TEXT NOT NULL UNIQUE,"
    "  connection_id TEXT NOT NULL REFERENCES connections(id),"
    "  schema_name TEXT NOT NULL DEFAULT '',"
    "  table_name TEXT NOT NULL,"
    "  kind TEXT NOT NULL," /* 'overview' | 'rows' */
    "  part INTEGER NOT NULL,"
    "  format TEXT NOT NULL," /* 'markdown' | 'jsonl' */
    "  title TEXT NOT NULL,"
    "  content_hash TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  metadata TEXT NOT NULL," /* JSON object */
    "  state TEXT NOT NULL,"    /* 'staged' | 'live' | 'retired' */
    "  export_id TEXT NOT NULL,"
    "  indexed INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    /* Last: reading a column after it would walk its overflow pages. */
    "  content TEXT NOT NULL"
    ");"
    "CREATE INDEX documents_key ON documents(connection_id, state, schema_name, table_name, kind,"
    "  part, content_hash);"
    "CREATE INDEX documents_export ON documents(export_id, state);"
    "CREATE TABLE document_keep (" /* live documents an export found unchanged */
    "  export_id TEXT NOT NULL,"
    "  document_id TEXT NOT NULL,"
    "  metadata TEXT NOT NULL,"
    "  PRIMARY KEY (export_id, document_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX document_keep_document ON document_keep(document_id);"
    "CREATE TABLE document_exports (" /* the tables an export replaces */
    "  export_id TEXT NOT NULL,"
    "  schema_name TEXT NOT NULL,"
    "  table_name TEXT NOT NULL,"
    "  PRIMARY KEY (export_id, schema_name, table_name)"
    ") WITHOUT ROWID;"
    "CREATE TABLE search_meta ("
    "  rid INTEGER PRIMARY KEY," /* the search index's rowid (< 0) */
    "  connection_id TEXT NOT NULL REFERENCES connections(id),"
    "  kind TEXT NOT NULL," /* 'table' | 'column' */
    "  schema_name TEXT NOT NULL DEFAULT '',"
    "  table_name TEXT NOT NULL,"
    "  column_name TEXT,"
    "  name TEXT NOT NULL,"
    "  words TEXT NOT NULL,"
    "  body TEXT NOT NULL"
    ");"
    "CREATE INDEX search_meta_connection ON search_meta(connection_id);"
    "CREATE TABLE search_state ("
    "  connection_id TEXT PRIMARY KEY REFERENCES connections(id),"
    "  snapshot_version INTEGER NOT NULL," /* what search_meta was built from; 0: an export */
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE VIEW search_content AS"
    "  SELECT seq AS rid, '' AS name, '' AS words, content AS body FROM documents"
    "  UNION ALL SELECT rid, name, words, body FROM search_meta;"
    "CREATE VIRTUAL TABLE search_fts USING fts5(name, words, body, content='search_content',"
    "  content_rowid='rid', tokenize='unicode61 remove_diacritics 2', detail=column);"
    "CREATE TRIGGER documents_index AFTER INSERT ON documents WHEN new.indexed = 1 BEGIN"
    "  INSERT INTO search_fts(rowid, name, words, body) VALUES (new.seq, '', '', new.content);"
    "END;"
    "CREATE TRIGGER documents_index_later AFTER UPDATE OF indexed ON documents"
    "  WHEN new.indexed = 1 AND old.indexed = 0 BEGIN"
    "  INSERT INTO search_fts(rowid, name, words, body) VALUES (new.seq, '', '', new.content);"
    "END;"
    "CREATE TRIGGER documents_unindex AFTER DELETE ON documents WHEN old.indexed = 1 BEGIN"
    "  INSERT INTO search_fts(search_fts, rowid, name, words, body)"
    "    VALUES ('delete', old.seq, '', '', old.content);"
    "END;"
    "CREATE TRIGGER documents_reindex AFTER UPDATE OF content ON documents"
    "  WHEN old.indexed = 1 BEGIN"
    "  INSERT INTO search_fts(search_fts, rowid, name, words, body)"
    "    VALUES ('delete', old.seq, '', '', old.content);"
    "  INSERT INTO search_fts(rowid, name, words, body) VALUES (new.seq, '', '', new.content);"
    "END;"
    "CREATE TRIGGER search_meta_index AFTER INSERT ON search_meta BEGIN"
    "  INSERT INTO search_fts(rowid, name, words, body)"
    "    VALUES (new.rid, new.name, new.words, new.body);"
    "END;"
    "CREATE TRIGGER search_meta_unindex AFTER DELETE ON search_meta BEGIN"
    "  INSERT INTO search_fts(search_fts, rowid, name, words, body)"
    "    VALUES ('delete', old.rid, old.name, old.words, old.body);"
    "END;",
    /*
     * 4: a document's content in a table of its own, under the document's
     * seq. Updating a row rewrites all of it, overflow pages included: with
     * the content inline, the swap that makes an export live ('staged' to
     * 'live') wrote every page of every document into the WAL a second time,
     * and marking them indexed read them all again. Content is written once,
     * before its document, and never updated; deleting a document deletes
     * its content (after taking it out of the search index).
     */
    "DROP TRIGGER documents_index;"
    "DROP TRIGGER documents_index_later;"
    "DROP TRIGGER documents_unindex;"
    "DROP TRIGGER documents_reindex;"
    "DROP VIEW search_content;"
    "CREATE TABLE document_content ("
    "  seq INTEGER PRIMARY KEY," /* documents.seq */
    "  content TEXT NOT NULL"
    ");"
    "INSERT INTO document_content (seq, content) SELECT seq, content FROM documents;"
    "ALTER TABLE documents DROP COLUMN content;"
    "CREATE VIEW search_content AS"
    "  SELECT seq AS rid, '' AS name, '' AS words, content AS body FROM document_content"
    "  UNION ALL SELECT rid, name, words, body FROM search_meta;"
    "CREATE TRIGGER documents_index AFTER INSERT ON documents WHEN new.indexed = 1 BEGIN"
    "  INSERT INTO search_fts(rowid, name, words, body)"
    "    SELECT seq, '', '', content FROM document_content WHERE seq = new.seq;"
    "END;"
    "CREATE TRIGGER documents_index_later AFTER UPDATE OF indexed ON documents"
    "  WHEN new.indexed = 1 AND old.indexed = 0 BEGIN"
    "  INSERT INTO search_fts(rowid, name, words, body)"
    "    SELECT seq, '', '', content FROM document_content WHERE seq = new.seq;"
    "END;"
    "CREATE TRIGGER documents_drop AFTER DELETE ON documents BEGIN"
    "  INSERT INTO search_fts(search_fts, rowid, name, words, body)"
    "    SELECT 'delete', seq, '', '', content FROM document_content"
    "    WHERE seq = old.seq AND old.indexed = 1;"
    "  DELETE FROM document_content WHERE seq = old.seq;"
    "END;",
};

int registry_migrations_known(void)
{
    return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

int registry_schema_version(struct registry *registry)
{
    sqlite3_stmt *stmt;
    int version = -1;
    if (sqlite3_prepare_v2(registry->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return version;
}

/* Each migration and its version bump commit together, or not at all. */
static int migrate(struct registry *registry, char *err, size_t errlen)
{
    int version = registry_schema_version(registry);
    int known = registry_migrations_known();
    if (version < 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(registry->db));
        return -1;
    }
    if (version > known) {
        snprintf(err, errlen, "registry schema version %d is newer than this build knows (%d)",
                 version, known);
        return -1;
    }
    for (int v = version; v < known; v++) {
        char bump[64], msg[512];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d;", v + 1);
        if (exec_sql(registry->db, "BEGIN IMMEDIATE;", msg, sizeof(msg)) != 0 ||
            exec_sql(registry->db, migrations[v], msg, sizeof(msg)) != 0 ||
            exec_sql(registry->db, bump, msg, sizeof(msg)) != 0 ||
            exec_sql(registry->db, "COMMIT;", msg, sizeof(msg)) != 0) {
            sqlite3_exec(registry->db, "ROLLBACK;", NULL, NULL, NULL);
            snprintf(err, errlen, "migration %d failed: %s", v + 1, msg);
            return -1;
        }
        log_info("registry: applied migration %d", v + 1);
    }
    return 0;
}

static __thread struct registry *thread_registry;

int registry_thread_attach(const char *path)
{
    char err[512];
    if (thread_registry)
        return 0;
    thread_registry = registry_open(path, err, sizeof(err));
    if (!thread_registry) {
        log_error("worker registry: %s", err);
        return -1;
    }
    return 0;
}

void registry_thread_detach(void)
{
    registry_close(thread_registry);
    thread_registry = NULL;
}

struct registry *registry_thread(void)
{
    return thread_registry;
}

struct registry *registry_open(const char *path, char *err, size_t errlen)
{
    struct registry *registry = calloc(1, sizeof(*registry));
    if (!registry || !(registry->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    /* The registry holds sealed credentials: no other user reads the file we create. */
    mode_t old_mask = umask(077);
    int rc = sqlite3_open_v2(path, &registry->db, flags, NULL);
    umask(old_mask);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open registry %s: %s", path,
                 registry->db ? sqlite3_errmsg(registry->db) : sqlite3_errstr(rc));
        goto err;
    }
    sqlite3_busy_timeout(registry->db, REGISTRY_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(registry->db, 1);
    char msg[512];
    /*
     * WAL with synchronous=FULL: a commit is on disk before we acknowledge
     * it. An export can grow the WAL by hundreds of megabytes before it is
     * checkpointed; the size limit gives that space back once it restarts.
     */
    if (exec_sql(registry->db,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                 "PRAGMA journal_size_limit = " REGISTRY_WAL_KEEP_BYTES ";",
                 msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "cannot configure registry %s: %s", path, msg);
        goto err;
    }
    if (migrate(registry, err, errlen) != 0)
        goto err;
    return registry;
err:
    registry_close(registry);
    return NULL;
}

void registry_close(struct registry *registry)
{
    if (!registry)
        return;
    sqlite3_close_v2(registry->db);
    free(registry->path);
    free(registry);
}

sqlite3 *registry_db(struct registry *registry)
{
    return registry->db;
}

const char *registry_path(const struct registry *registry)
{
    return registry->path;
}

sqlite3_stmt *registry_prepare(struct registry *registry, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(registry->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        log_error("registry: %s", sqlite3_errmsg(registry->db));
    return stmt;
}

void registry_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text)
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, index);
}

int registry_ping(struct registry *registry)
{
    return sqlite3_exec(registry->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}
