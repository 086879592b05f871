#include "search.h"

#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "registry.h"
#include "snapshots.h"

#define SEARCH_NAME_MAX 256       /* bytes of a name that are split into words */
#define SEARCH_TERMS_MAX 16       /* query words looked at */
#define SEARCH_TERM_MAX 128       /* bytes of one query word */
#define SEARCH_JOIN_TERMS_MAX 4   /* "customer id" also tried as "customerid" up to this many */
#define SEARCH_ENTRIES_MAX 200000 /* table and column entries per connection */
#define SEARCH_TOP_VALUES_MAX 20
#define SEARCH_VALUE_MAX 100
#define SEARCH_DESCRIPTION_MAX 2000
/* bm25 weights of the indexed columns: the whole name, its words, the text. */
#define SEARCH_WEIGHT_NAME "20.0"
#define SEARCH_WEIGHT_WORDS "5.0"
#define SEARCH_WEIGHT_BODY "1.0"

static int exec(struct registry *registry, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(registry_db(registry), sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    log_error("registry: search: %s", msg ? msg : "?");
    sqlite3_free(msg);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Words of a name                                                          */
/* ------------------------------------------------------------------------ */

/* Bytes of UTF-8 beyond ASCII count as lower-case letters: no case boundary inside them. */
static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}
static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static int is_lower(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || c >= 0x80;
}
static int is_word(unsigned char c)
{
    return is_upper(c) || is_lower(c) || is_digit(c);
}

/* 1 when a new part starts at name[i] (name[i - 1] and name[i] both word bytes). */
static int part_starts(const unsigned char *s, size_t i, size_t len)
{
    unsigned char prev = s[i - 1], cur = s[i];
    if (is_upper(cur) && (is_lower(prev) || is_digit(prev)))
        return 1; /* customerId, line2Total */
    if (is_upper(cur) && is_upper(prev) && i + 1 < len && is_lower(s[i + 1]))
        return 1;                           /* XMLParser: XML | Parser */
    return is_digit(cur) != is_digit(prev); /* address2, 2fa */
}

/* Calls `fn` with each part of `name` (not lower-cased). Returns the number of parts. */
static int split_parts(const char *name, size_t len,
                       void (*fn)(void *arg, const char *part, size_t n), void *arg)
{
    const unsigned char *s = (const unsigned char *)name;
    int parts = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && !is_word(s[i]))
            i++;
        if (i == len)
            break;
        size_t start = i++;
        while (i < len && is_word(s[i]) && !part_starts(s, i, len))
            i++;
        fn(arg, name + start, i - start);
        parts++;
    }
    return parts;
}

struct words_out {
    FILE *out;
    int n;
    char joined[SEARCH_NAME_MAX + 1];
    size_t jlen;
};

static char lower(char c)
{
    return is_upper((unsigned char)c) ? (char)(c - 'A' + 'a') : c;
}

static void write_part(void *arg, const char *part, size_t n)
{
    struct words_out *w = arg;
    if (w->n++ > 0)
        fputc(' ', w->out);
    for (size_t i = 0; i < n; i++) {
        fputc(lower(part[i]), w->out);
        if (w->jlen < SEARCH_NAME_MAX)
            w->joined[w->jlen++] = lower(part[i]);
    }
}

void search_words_write(FILE *out, const char *name)
{
    struct words_out w = {.out = out};
    if (!name)
        return;
    if (split_parts(name, strnlen(name, SEARCH_NAME_MAX), write_part, &w) > 1)
        fprintf(out, " %.*s", (int)w.jlen, w.joined);
}

char *search_words(const char *name)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    search_words_write(out, name);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

char *search_name(const char *name)
{
    size_t len = name ? strnlen(name, SEARCH_NAME_MAX) : 0, n = 0;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (is_word((unsigned char)name[i]))
            out[n++] = lower(name[i]);
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------------------ */
/* Table and column entries                                                 */
/* ------------------------------------------------------------------------ */

struct meta_writer {
    struct registry *registry;
    const char *connection_id;
    sqlite3_stmt *insert;
    sqlite3_stmt *user_table; /* the user's own descriptions (tables_describe) */
    sqlite3_stmt *user_column;
    sqlite3_int64 next_rid; /* entries take rowids below every document's */
    long entries;
};

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Runs `fn(arg, out)` into a fresh string; NULL out of memory. */
static char *compose(void (*fn)(const void *arg, FILE *out), const void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    fn(arg, out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void write_bounded(FILE *out, const char *prefix, const char *text, int max)
{
    if (text && *text)
        fprintf(out, "%s%.*s", prefix, max, text);
}

static int insert_entry(struct meta_writer *w, const char *kind, const char *schema,
                        const char *table, const char *column, const char *words, const char *body)
{
    if (w->entries >= SEARCH_ENTRIES_MAX)
        return 0;
    char *name = search_name(column ? column : table);
    if (!name)
        return -1;
    sqlite3_stmt *stmt = w->insert;
    sqlite3_reset(stmt);
    sqlite3_bind_int64(stmt, 1, w->next_rid--);
    registry_bind_text(stmt, 2, w->connection_id);
    registry_bind_text(stmt, 3, kind);
    registry_bind_text(stmt, 4, schema ? schema : "");
    registry_bind_text(stmt, 5, table);
    registry_bind_text(stmt, 6, column);
    registry_bind_text(stmt, 7, words ? words : "");
    registry_bind_text(stmt, 8, body ? body : "");
    registry_bind_text(stmt, 9, name);
    free(name);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        log_error("registry: search entry: %s", sqlite3_errmsg(registry_db(w->registry)));
        return -1;
    }
    w->entries++;
    return 0;
}

/* The user's description of a table (or of its column when `column`), or NULL. Caller frees. */
static char *user_description(struct meta_writer *w, const char *schema, const char *table,
                              const char *column)
{
    sqlite3_stmt *stmt = column ? w->user_column : w->user_table;
    if (!stmt)
        return NULL;
    sqlite3_reset(stmt);
    registry_bind_text(stmt, 1, w->connection_id);
    registry_bind_text(stmt, 2, schema ? schema : "");
    registry_bind_text(stmt, 3, table);
    if (column)
        registry_bind_text(stmt, 4, column);
    char *text = NULL;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        text = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_reset(stmt);
    return text;
}

struct table_text {
    const json_t *table;
    const char *label;
    const char *user;
};

static void table_words(const void *arg, FILE *out)
{
    const json_t *t = ((const struct table_text *)arg)->table;
    const char *schema = str(t, "schema");
    if (schema && *schema) {
        search_words_write(out, schema);
        fputc(' ', out);
    }
    search_words_write(out, str(t, "name"));
}

static void table_body(const void *arg, FILE *out)
{
    const struct table_text *tt = arg;
    const json_t *t = tt->table;
    fprintf(out, "%s (%s).", tt->label, str(t, "kind") ? str(t, "kind") : "table");
    write_bounded(out, " ", tt->user, SEARCH_DESCRIPTION_MAX);
    write_bounded(out, " ", str(t, "description"), SEARCH_DESCRIPTION_MAX);
    write_bounded(out, " Role: ", str(t, "role"), 40);
    json_t *columns = json_object_get(t, "columns"), *col;
    size_t i;
    fputs(" Columns:", out);
    json_array_foreach(columns, i, col) fprintf(out, "%s %.*s", i ? "," : "", SEARCH_NAME_MAX,
                                                str(col, "name") ? str(col, "name") : "");
    fputc('.', out);
}

struct column_text {
    const json_t *column;
    const char *label;
    const char *user;
};

static void write_value(FILE *out, const json_t *value)
{
    if (json_is_string(value)) {
        fprintf(out, "%.*s", SEARCH_VALUE_MAX, json_string_value(value));
    } else if (json_is_number(value) || json_is_boolean(value)) {
        char *text = json_dumps(value, JSON_ENCODE_ANY);
        if (text)
            fputs(text, out);
        free(text);
    }
}

static void column_body(const void *arg, FILE *out)
{
    const struct column_text *ct = arg;
    const json_t *c = ct->column;
    fprintf(out, "%.*s column of %s.", SEARCH_NAME_MAX, str(c, "name"), ct->label);
    write_bounded(out, " Type: ", str(c, "type"), 64);
    write_bounded(out, ". Semantic type: ", str(c, "semantic_type"), 40);
    fputc('.', out);
    write_bounded(out, " ", ct->user, SEARCH_DESCRIPTION_MAX);
    write_bounded(out, " ", str(c, "description"), SEARCH_DESCRIPTION_MAX);
    json_t *top = json_object_get(c, "top_values"), *item;
    size_t i;
    if (json_array_size(top)) {
        fputs(" Values:", out);
        json_array_foreach(top, i, item)
        {
            if (i == SEARCH_TOP_VALUES_MAX)
                break;
            fputs(i ? ", " : " ", out);
            write_value(out, json_object_get(item, "value"));
        }
        fputc('.', out);
    }
    json_t *fk = json_object_get(c, "foreign_key");
    if (str(fk, "table"))
        fprintf(out, " References %.*s.%.*s.", SEARCH_NAME_MAX, str(fk, "table"), SEARCH_NAME_MAX,
                str(fk, "column") ? str(fk, "column") : "");
}

static int index_columns(struct meta_writer *w, const json_t *t, const char *label)
{
    json_t *columns = json_object_get(t, "columns"), *col;
    size_t i;
    json_array_foreach(columns, i, col)
    {
        const char *name = str(col, "name");
        if (!name)
            continue;
        struct column_text ct = {col, label,
                                 user_description(w, str(t, "schema"), str(t, "name"), name)};
        char *words = search_words(name);
        char *body = compose(column_body, &ct);
        int rc = words && body ? insert_entry(w, "column", str(t, "schema"), str(t, "name"), name,
                                              words, body)
                               : -1;
        free((char *)ct.user);
        free(words);
        free(body);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int index_table(struct meta_writer *w, const json_t *t)
{
    const char *schema = str(t, "schema"), *name = str(t, "name");
    if (!name)
        return 0;
    char *label = NULL;
    if (schema && *schema ? asprintf(&label, "%s.%s", schema, name) < 0 : !(label = strdup(name)))
        return -1;
    struct table_text tt = {t, label, user_description(w, schema, name, NULL)};
    char *words = compose(table_words, &tt);
    char *body = compose(table_body, &tt);
    int rc = words && body ? insert_entry(w, "table", schema, name, NULL, words, body) : -1;
    if (rc == 0)
        rc = index_columns(w, t, label);
    free((char *)tt.user);
    free(words);
    free(body);
    free(label);
    return rc;
}

static int first_free_rid(struct registry *registry, sqlite3_int64 *out)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT min(ifnull(min(rid), 0), 0) - 1 FROM search_meta");
    if (!stmt)
        return -1;
    int ok = sqlite3_step(stmt) == SQLITE_ROW;
    if (ok)
        *out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return ok ? 0 : -1;
}

static int delete_entries(struct registry *registry, const char *connection_id)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "DELETE FROM search_meta WHERE connection_id = ?");
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, connection_id);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(stmt);
    return rc;
}

static int record_state(struct registry *registry, const char *connection_id, int version)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "INSERT OR REPLACE INTO search_state (connection_id, "
                                   "snapshot_version, updated_at) VALUES (?, ?, ?)");
    if (!stmt)
        return -1;
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    registry_bind_text(stmt, 1, connection_id);
    sqlite3_bind_int(stmt, 2, version);
    registry_bind_text(stmt, 3, now);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(stmt);
    return rc;
}

int search_index_tables(struct registry *registry, const char *connection_id, int version,
                        const json_t *tables)
{
    struct meta_writer w = {.registry = registry, .connection_id = connection_id};
    int rc = -1;
    if (exec(registry, "BEGIN IMMEDIATE") != 0)
        return SEARCH_ERROR;
    w.insert = registry_prepare(registry,
                                "INSERT INTO search_meta (rid, connection_id, kind, schema_name, "
                                "table_name, column_name, words, body, name) VALUES (?, ?, ?, ?, "
                                "?, ?, ?, ?, ?)");
    w.user_table =
        registry_prepare(registry, "SELECT description FROM db_tables WHERE connection_id = ? "
                                   "AND schema_name = ? AND name = ? AND deleted_at IS NULL");
    w.user_column =
        registry_prepare(registry, "SELECT c.description FROM db_columns c JOIN db_tables t ON "
                                   "t.id = c.table_id WHERE t.connection_id = ? AND "
                                   "t.schema_name = ? AND t.name = ? AND c.name = ?");
    if (!w.insert || delete_entries(registry, connection_id) != 0 ||
        first_free_rid(registry, &w.next_rid) != 0)
        goto out;
    json_t *t;
    size_t i;
    rc = 0;
    json_array_foreach(tables, i, t) if (rc == 0) rc = index_table(&w, t);
    if (rc == 0)
        rc = record_state(registry, connection_id, version);
    if (w.entries >= SEARCH_ENTRIES_MAX)
        log_warn("search: connection %s has more than %d tables and columns; the rest are not "
                 "indexed",
                 connection_id, SEARCH_ENTRIES_MAX);
out:
    sqlite3_finalize(w.insert);
    sqlite3_finalize(w.user_table);
    sqlite3_finalize(w.user_column);
    if (rc == 0 && exec(registry, "COMMIT") == 0)
        return SEARCH_OK;
    exec(registry, "ROLLBACK");
    return SEARCH_ERROR;
}

int search_sync(struct registry *registry, int max_connections)
{
    sqlite3_stmt *stmt = registry_prepare(
        registry, "SELECT c.id, s.version FROM connections c JOIN (SELECT connection_id, "
                  "max(version) AS version FROM snapshots GROUP BY connection_id) s ON "
                  "s.connection_id = c.id LEFT JOIN search_state st ON st.connection_id = c.id "
                  "WHERE c.deleted_at IS NULL AND s.version > ifnull(st.snapshot_version, 0) "
                  "LIMIT ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int(stmt, 1, max_connections);
    struct {
        char id[ID_UUID_LEN + 1];
        int version;
    } due[16];
    int n = 0;
    while (n < (int)(sizeof(due) / sizeof(due[0])) && n < max_connections &&
           sqlite3_step(stmt) == SQLITE_ROW) {
        snprintf(due[n].id, sizeof(due[n].id), "%s", (const char *)sqlite3_column_text(stmt, 0));
        due[n++].version = sqlite3_column_int(stmt, 1);
    }
    sqlite3_finalize(stmt);
    int rebuilt = 0;
    for (int i = 0; i < n; i++) {
        json_t *snapshot = snapshots_get(registry, due[i].id, due[i].version, SNAPSHOT_SEMANTIC);
        json_t *tables = json_object_get(snapshot, "tables");
        if (json_is_array(tables) &&
            search_index_tables(registry, due[i].id, due[i].version, tables) == SEARCH_OK)
            rebuilt++;
        else
            log_warn("search: cannot index snapshot %d of %s", due[i].version, due[i].id);
        json_decref(snapshot);
    }
    return rebuilt;
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */
/* ------------------------------------------------------------------------ */

struct term {
    char folded[SEARCH_TERM_MAX + 1];   /* as the index holds it */
    char original[SEARCH_TERM_MAX + 1]; /* as typed */
};

struct query_terms {
    const char *text;
    struct term terms[SEARCH_TERMS_MAX];
    int n;
};

static int on_token(void *arg, int flags, const char *token, int ntoken, int start, int end)
{
    struct query_terms *q = arg;
    if ((flags & FTS5_TOKEN_COLOCATED) || q->n == SEARCH_TERMS_MAX || ntoken > SEARCH_TERM_MAX ||
        end - start > SEARCH_TERM_MAX)
        return SQLITE_OK;
    struct term *t = &q->terms[q->n++];
    snprintf(t->folded, sizeof(t->folded), "%.*s", ntoken, token);
    snprintf(t->original, sizeof(t->original), "%.*s", end - start, q->text + start);
    return SQLITE_OK;
}

static fts5_api *fts5_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_pointer(stmt, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return api;
}

/* Splits `text` into words exactly as the index's tokenizer does. 0, or -1. */
static int tokenize(struct registry *registry, const char *text, struct query_terms *q)
{
    fts5_api *api = fts5_of(registry_db(registry));
    void *user = NULL;
    fts5_tokenizer tokenizer;
    Fts5Tokenizer *instance = NULL;
    const char *args[] = {"remove_diacritics", "2"};
    if (!api || api->xFindTokenizer(api, "unicode61", &user, &tokenizer) != SQLITE_OK ||
        tokenizer.xCreate(user, args, 2, &instance) != SQLITE_OK)
        return -1;
    q->text = text;
    int rc =
        tokenizer.xTokenize(instance, q, FTS5_TOKENIZE_QUERY, text, (int)strlen(text), on_token);
    tokenizer.xDelete(instance);
    return rc == SQLITE_OK ? 0 : -1;
}

static int ascii_only(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

struct part_list {
    char parts[SEARCH_TERMS_MAX][SEARCH_TERM_MAX + 1];
    int n;
};

static void collect_part(void *arg, const char *part, size_t n)
{
    struct part_list *p = arg;
    if (p->n == SEARCH_TERMS_MAX)
        return;
    for (size_t i = 0; i < n && i < SEARCH_TERM_MAX; i++)
        p->parts[p->n][i] = lower(part[i]);
    p->parts[p->n][n < SEARCH_TERM_MAX ? n : SEARCH_TERM_MAX] = '\0';
    p->n++;
}

/* An FTS5 string: each piece is one unicode61 token (letters and digits), so never a phrase. */
static void write_string(FILE *out, const char *token)
{
    fputc('"', out);
    for (; *token; token++) {
        if (*token == '"')
            fputc('"', out);
        fputc(*token, out);
    }
    fputc('"', out);
}

/* One query word, matched as the index holds names and text: (("customer" AND "id") OR
 * "customerid"). */
static void write_term(FILE *out, const struct term *t)
{
    struct part_list p = {.n = 0};
    /* Case boundaries are only read from ASCII; other words are taken as the tokenizer folds them.
     */
    if (ascii_only(t->original))
        split_parts(t->original, strlen(t->original), collect_part, &p);
    if (p.n <= 1) {
        write_string(out, t->folded);
        return;
    }
    fputs("((", out);
    for (int i = 0; i < p.n; i++) {
        if (i)
            fputs(" AND ", out);
        write_string(out, p.parts[i]);
    }
    fputs(") OR ", out);
    write_string(out, t->folded);
    fputc(')', out);
}

/* The MATCH expression: every word (`op` "AND") or any (`op` "OR"). Caller frees. */
static char *build_match(const struct query_terms *q, const char *op)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    fputc('(', out);
    for (int i = 0; i < q->n; i++) {
        if (i)
            fprintf(out, " %s ", op);
        write_term(out, &q->terms[i]);
    }
    fputc(')', out);
    /* "customer id" also finds CustomerId written as one word in documents. */
    if (q->n > 1 && q->n <= SEARCH_JOIN_TERMS_MAX) {
        char joined[SEARCH_TERM_MAX * SEARCH_JOIN_TERMS_MAX + 1] = "";
        for (int i = 0; i < q->n; i++)
            strcat(joined, q->terms[i].folded);
        fputs(" OR ", out);
        write_string(out, joined);
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/*
 * bm25() only works in the FTS5 query itself, so the ranking and filtering
 * happen in a subquery and the count of every hit (count() OVER) outside it.
 */
static const char *const search_sql =
    "WITH hits AS (SELECT f.rowid AS rid, "
    "-bm25(search_fts, " SEARCH_WEIGHT_NAME ", " SEARCH_WEIGHT_WORDS ", " SEARCH_WEIGHT_BODY
    ") AS score, "
    "CASE WHEN f.rowid > 0 THEN 'document' ELSE m.kind END AS type, c.id AS cid, "
    "c.name AS cname, coalesce(d.schema_name, m.schema_name) AS schema_name, "
    "coalesce(d.table_name, m.table_name) AS table_name, m.column_name AS column_name, "
    "d.id AS document_id, d.kind AS document_kind, d.title AS title "
    "FROM search_fts f "
    "LEFT JOIN documents d ON f.rowid > 0 AND d.seq = f.rowid "
    "LEFT JOIN search_meta m ON f.rowid < 0 AND m.rid = f.rowid "
    "JOIN connections c ON c.id = coalesce(d.connection_id, m.connection_id) "
    "WHERE search_fts MATCH ?1 AND c.deleted_at IS NULL "
    "AND (d.seq IS NULL OR d.state = 'live') "
    /* A table whose metadata was deleted leaves the results with its columns. */
    "AND (m.rid IS NULL OR NOT EXISTS (SELECT 1 FROM db_tables t WHERE t.connection_id = "
    "m.connection_id AND t.schema_name = m.schema_name AND t.name = m.table_name AND "
    "t.deleted_at IS NOT NULL)) "
    "AND (?2 IS NULL OR c.id = ?2) AND (?3 IS NULL OR c.agent_id = ?3)) "
    "SELECT rid, score, type, cid, cname, schema_name, table_name, column_name, document_id, "
    "document_kind, title, count(*) OVER () FROM hits ORDER BY score DESC, rid LIMIT ?4";

static json_t *column_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text && *text ? json_string(text) : json_null();
}

/* The snippet of one result: the best stretch of its text, matched words in ** **. */
static json_t *snippet(struct registry *registry, const char *match, sqlite3_int64 rowid)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT snippet(search_fts, 2, '**', '**', '…', 24) "
                                   "FROM search_fts WHERE search_fts MATCH ?1 AND rowid = "
                                   "?2");
    json_t *text = NULL;
    if (stmt) {
        registry_bind_text(stmt, 1, match);
        sqlite3_bind_int64(stmt, 2, rowid);
        if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
            text = json_string((const char *)sqlite3_column_text(stmt, 0));
        sqlite3_finalize(stmt);
    }
    return text ? text : json_string("");
}

static json_t *result_json(struct registry *registry, sqlite3_stmt *stmt, const char *match)
{
    const char *type = (const char *)sqlite3_column_text(stmt, 2);
    const char *schema = (const char *)sqlite3_column_text(stmt, 5);
    const char *table = (const char *)sqlite3_column_text(stmt, 6);
    char *label = NULL;
    if (schema && *schema ? asprintf(&label, "%s.%s", schema, table) < 0 : !(label = strdup(table)))
        return NULL;
    json_t *r = json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:f}", "type", type, "connection_id",
                          column_or_null(stmt, 3), "connection_name", column_or_null(stmt, 4),
                          "schema", column_or_null(stmt, 5), "table", label, "snippet",
                          snippet(registry, match, sqlite3_column_int64(stmt, 0)), "score",
                          sqlite3_column_double(stmt, 1));
    free(label);
    if (r && strcmp(type, "column") == 0)
        json_object_set_new(r, "column", column_or_null(stmt, 7));
    if (r && strcmp(type, "document") == 0) {
        json_object_set_new(r, "document_id", column_or_null(stmt, 8));
        json_object_set_new(r, "document_kind", column_or_null(stmt, 9));
        json_object_set_new(r, "title", column_or_null(stmt, 10));
    }
    return r;
}

/* Runs one MATCH; appends to `results` and sets `*total`. 0, or -1. */
static int run_match(struct registry *registry, const struct search_request *req, const char *match,
                     json_t *results, long *total)
{
    sqlite3_stmt *stmt = registry_prepare(registry, search_sql);
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, match);
    registry_bind_text(stmt, 2, req->connection_id);
    registry_bind_text(stmt, 3, req->agent_id);
    sqlite3_bind_int(stmt, 4, req->limit);
    int rc;
    *total = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        *total = (long)sqlite3_column_int64(stmt, 11);
        json_t *r = result_json(registry, stmt, match);
        if (r)
            json_array_append_new(results, r);
    }
    if (rc != SQLITE_DONE)
        log_error("search: %s (MATCH %s)", sqlite3_errmsg(registry_db(registry)), match);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

json_t *search_run(struct registry *registry, const struct search_request *req, int *rc)
{
    struct query_terms q = {.n = 0};
    *rc = SEARCH_ERROR;
    if (tokenize(registry, req->query, &q) != 0)
        return NULL;
    if (q.n == 0) {
        *rc = SEARCH_NO_WORDS;
        return NULL;
    }
    json_t *results = json_array();
    char *all = build_match(&q, "AND");
    char *any = q.n > 1 ? build_match(&q, "OR") : NULL;
    long total = 0;
    const char *mode = "all";
    int failed = !results || !all || (q.n > 1 && !any) ||
                 run_match(registry, req, all, results, &total) != 0;
    if (!failed && total == 0 && any) {
        mode = "any";
        failed = run_match(registry, req, any, results, &total) != 0;
    }
    free(all);
    free(any);
    if (failed) {
        json_decref(results);
        return NULL;
    }
    *rc = SEARCH_OK;
    return json_pack("{s:o, s:I, s:s}", "results", results, "total", (json_int_t)total, "matched",
                     mode);
}
