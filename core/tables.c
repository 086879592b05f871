#include "tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "ids.h"
#include "log.h"
#include "profile.h"
#include "registry.h"

static void bind_json(sqlite3_stmt *stmt, int idx, json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    if (text)
        sqlite3_bind_text(stmt, idx, text, -1, free);
    else
        sqlite3_bind_null(stmt, idx);
    json_decref(json);
}

static int exec(struct registry *registry, const char *sql)
{
    return sqlite3_exec(registry_db(registry), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Storing a catalog                                                        */
/* ------------------------------------------------------------------------ */

static json_t *strings_json(char **items, size_t n)
{
    json_t *array = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(array, items[i] ? json_string(items[i]) : json_null());
    return array;
}

static json_t *primary_key_json(const struct catalog_table *t)
{
    json_t *pk = json_array();
    for (int pos = 1; pos <= (int)t->ncolumns; pos++)
        for (size_t i = 0; i < t->ncolumns; i++)
            if (t->columns[i].pk_position == pos)
                json_array_append_new(pk, json_string(t->columns[i].name));
    return pk;
}

/* A foreign key of the catalog, filed under the table it points at. */
struct incoming {
    const struct catalog_table *from;
    const struct catalog_fk *fk;
};

/* Every foreign key of a catalog by the table it references: "referenced_by" of each table. */
struct referenced_by {
    struct incoming *refs; /* sorted by referenced (schema, name), then catalog order */
    size_t n;
};

/* Orders (schema, name) pairs; a NULL schema is the empty one, as the registry stores it. */
static int compare_name(const char *schema_a, const char *name_a, const char *schema_b,
                        const char *name_b)
{
    int d = strcmp(schema_a ? schema_a : "", schema_b ? schema_b : "");
    return d ? d : strcmp(name_a, name_b);
}

static int compare_incoming(const void *pa, const void *pb)
{
    const struct incoming *a = pa, *b = pb;
    int d = compare_name(a->fk->ref_schema, a->fk->ref_table, b->fk->ref_schema, b->fk->ref_table);
    if (d)
        return d;
    /* Then catalog order (tables and their fks are arrays), as a scan of the catalog lists them. */
    if (a->from != b->from)
        return a->from < b->from ? -1 : 1;
    return a->fk < b->fk ? -1 : a->fk > b->fk;
}

static int referenced_by_build(const struct catalog *c, struct referenced_by *index)
{
    size_t n = 0;
    for (size_t k = 0; k < c->ntables; k++)
        n += c->tables[k].nfks;
    index->refs = malloc((n ? n : 1) * sizeof(*index->refs));
    index->n = 0;
    if (!index->refs)
        return -1;
    for (size_t k = 0; k < c->ntables; k++)
        for (size_t i = 0; i < c->tables[k].nfks; i++)
            index->refs[index->n++] = (struct incoming){&c->tables[k], &c->tables[k].fks[i]};
    qsort(index->refs, index->n, sizeof(*index->refs), compare_incoming);
    return 0;
}

/* Where `ref` points relative to table `t`: <0, 0 (at `t`), >0. */
static int compare_target(const struct incoming *ref, const struct catalog_table *t)
{
    return compare_name(ref->fk->ref_schema, ref->fk->ref_table, t->schema, t->name);
}

/* The first foreign key referencing `t`, if any: a lower bound in the sorted refs. */
static size_t referenced_by_first(const struct referenced_by *index, const struct catalog_table *t)
{
    size_t lo = 0, hi = index->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (compare_target(&index->refs[mid], t) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static json_t *referenced_by_json(const struct referenced_by *index, const struct catalog_table *t)
{
    json_t *in = json_array();
    for (size_t i = referenced_by_first(index, t);
         i < index->n && compare_target(&index->refs[i], t) == 0; i++) {
        const struct catalog_table *other = index->refs[i].from;
        const struct catalog_fk *fk = index->refs[i].fk;
        json_array_append_new(in,
                              json_pack("{s:s?, s:s?, s:s, s:o, s:o}", "name", fk->name,
                                        "from_schema", other->schema, "from_table", other->name,
                                        "from_columns", strings_json(fk->columns, fk->ncolumns),
                                        "columns", strings_json(fk->ref_columns, fk->ncolumns)));
    }
    return in;
}

/* Keys, relations both ways, and indexes: what GET /table/<id> shows besides columns. */
static json_t *table_profile_json(const struct referenced_by *index, const struct catalog_table *t)
{
    json_t *out = json_array(), *indexes = json_array();
    for (size_t i = 0; i < t->nfks; i++) {
        const struct catalog_fk *fk = &t->fks[i];
        json_array_append_new(out,
                              json_pack("{s:s?, s:o, s:s?, s:s, s:o}", "name", fk->name, "columns",
                                        strings_json(fk->columns, fk->ncolumns), "ref_schema",
                                        fk->ref_schema, "ref_table", fk->ref_table, "ref_columns",
                                        strings_json(fk->ref_columns, fk->ncolumns)));
    }
    for (size_t i = 0; i < t->nindexes; i++) {
        const struct catalog_index *ix = &t->indexes[i];
        json_array_append_new(indexes,
                              json_pack("{s:s?, s:b, s:b, s:o}", "name", ix->name, "unique",
                                        ix->unique, "primary", ix->primary, "columns",
                                        strings_json(ix->columns, ix->ncolumns)));
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:I}", "primary_key", primary_key_json(t),
                     "foreign_keys", out, "referenced_by", referenced_by_json(index, t), "indexes",
                     indexes, "sampled_rows", (json_int_t)t->sampled_rows);
}

static json_t *column_profile_json(const struct catalog_column *col)
{
    const struct column_profile *p = col->profile;
    if (!p || p->sampled == 0)
        return NULL;
    json_t *top = json_array();
    for (size_t i = 0; i < p->ntop; i++)
        json_array_append_new(top, json_pack("{s:s, s:I}", "value", p->top[i].value, "count",
                                             (json_int_t)p->top[i].count));
    return json_pack("{s:I, s:f, s:I, s:f, s:s?, s:s?, s:o}", "sampled", (json_int_t)p->sampled,
                     "null_fraction", (double)p->nulls / (double)p->sampled, "distinct",
                     (json_int_t)p->distinct, "distinct_estimate", p->distinct_estimate, "min",
                     p->min, "max", p->max, "top_values", top);
}

/* What storing a catalog needs for each of its tables, prepared once per catalog. */
struct store {
    struct registry *registry;
    const char *connection_id, *now;
    struct referenced_by referenced_by;
    sqlite3_stmt *find_table, *upsert_table, *upsert_column, *gone_columns;
};

static int store_open(struct store *s)
{
    s->find_table = registry_prepare(s->registry, "SELECT id FROM db_tables WHERE connection_id = "
                                                  "? AND schema_name = ? AND name = ?");
    /* A user's description and soft delete survive; what the database says is refreshed. */
    s->upsert_table = registry_prepare(
        s->registry,
        "INSERT INTO db_tables (id, connection_id, schema_name, name, kind, row_count, comment, "
        "role, generated_description, profile, created_at, updated_at, analyzed_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?11) "
        "ON CONFLICT(id) DO UPDATE SET kind = ?5, row_count = ?6, comment = ?7, role = ?8, "
        "generated_description = ?9, profile = ?10, updated_at = ?11, analyzed_at = ?11, "
        "gone_at = NULL");
    s->upsert_column = registry_prepare(
        s->registry,
        "INSERT INTO db_columns (id, table_id, name, ordinal, data_type, nullable, default_value, "
        "pk_position, comment, semantic_type, pii, generated_description, profile) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
        "ON CONFLICT(table_id, name) DO UPDATE SET ordinal = ?4, data_type = ?5, nullable = ?6, "
        "default_value = ?7, pk_position = ?8, comment = ?9, semantic_type = ?10, pii = ?11, "
        "generated_description = ?12, profile = ?13, gone_at = NULL");
    s->gone_columns =
        registry_prepare(s->registry, "UPDATE db_columns SET gone_at = ?2 WHERE table_id = ?1 "
                                      "AND gone_at IS NULL AND name NOT IN "
                                      "(SELECT value FROM json_each(?3))");
    return s->find_table && s->upsert_table && s->upsert_column && s->gone_columns ? 0 : -1;
}

static void store_close(struct store *s)
{
    sqlite3_finalize(s->find_table);
    sqlite3_finalize(s->upsert_table);
    sqlite3_finalize(s->upsert_column);
    sqlite3_finalize(s->gone_columns);
    free(s->referenced_by.refs);
}

/* `stmt` ready for another use: no bound value of the last one may leak into this one. */
static sqlite3_stmt *reuse(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

/* The id of the stored table (schema, name) of the connection, or "" when new. */
static void existing_table_id(struct store *s, const struct catalog_table *t, char *id)
{
    sqlite3_stmt *stmt = reuse(s->find_table);
    id[0] = '\0';
    registry_bind_text(stmt, 1, s->connection_id);
    registry_bind_text(stmt, 2, t->schema ? t->schema : "");
    registry_bind_text(stmt, 3, t->name);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        snprintf(id, ID_UUID_LEN + 1, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_reset(stmt); /* no read left open while the table is written */
}

static int store_table(struct store *s, const struct catalog_table *t, char *id)
{
    existing_table_id(s, t, id);
    if (id[0] == '\0')
        id_uuid4(id);
    sqlite3_stmt *stmt = reuse(s->upsert_table);
    registry_bind_text(stmt, 1, id);
    registry_bind_text(stmt, 2, s->connection_id);
    registry_bind_text(stmt, 3, t->schema ? t->schema : "");
    registry_bind_text(stmt, 4, t->name);
    registry_bind_text(stmt, 5, catalog_kind_name(t->kind));
    if (t->row_estimate >= 0)
        sqlite3_bind_int64(stmt, 6, t->row_estimate);
    registry_bind_text(stmt, 7, t->comment);
    registry_bind_text(stmt, 8, t->role);
    registry_bind_text(stmt, 9, t->description);
    bind_json(stmt, 10, table_profile_json(&s->referenced_by, t));
    registry_bind_text(stmt, 11, s->now);
    return sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
}

static int store_column(struct store *s, const char *table_id, const struct catalog_column *col)
{
    char id[ID_UUID_LEN + 1];
    id_uuid4(id);
    sqlite3_stmt *stmt = reuse(s->upsert_column);
    registry_bind_text(stmt, 1, id);
    registry_bind_text(stmt, 2, table_id);
    registry_bind_text(stmt, 3, col->name);
    sqlite3_bind_int(stmt, 4, col->ordinal);
    registry_bind_text(stmt, 5, col->type);
    if (col->nullable >= 0)
        sqlite3_bind_int(stmt, 6, col->nullable);
    registry_bind_text(stmt, 7, col->default_value);
    sqlite3_bind_int(stmt, 8, col->pk_position);
    registry_bind_text(stmt, 9, col->comment);
    registry_bind_text(stmt, 10, col->semantic_type);
    sqlite3_bind_int(stmt, 11, col->pii);
    registry_bind_text(stmt, 12, col->description);
    bind_json(stmt, 13, column_profile_json(col));
    return sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
}

static int store_columns(struct store *s, const char *table_id, const struct catalog_table *t)
{
    int rc = 0;
    json_t *names = json_array();
    for (size_t i = 0; rc == 0 && i < t->ncolumns; i++) {
        rc = store_column(s, table_id, &t->columns[i]);
        json_array_append_new(names, json_string(t->columns[i].name));
    }
    if (rc == 0) {
        sqlite3_stmt *gone = reuse(s->gone_columns);
        registry_bind_text(gone, 1, table_id);
        registry_bind_text(gone, 2, s->now);
        bind_json(gone, 3, json_incref(names));
        rc = sqlite3_step(gone) == SQLITE_DONE ? 0 : -1;
    }
    json_decref(names);
    return rc;
}

/* Tables of the connection that the catalog no longer has are gone, not lost. */
static long mark_gone_tables(struct registry *registry, const char *connection_id, json_t *kept,
                             const char *now)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "UPDATE db_tables SET gone_at = ?2, updated_at = ?2 "
                                   "WHERE connection_id = ?1 AND gone_at IS NULL AND id "
                                   "NOT IN (SELECT value FROM json_each(?3))");
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, connection_id);
    registry_bind_text(stmt, 2, now);
    bind_json(stmt, 3, json_incref(kept));
    long n = sqlite3_step(stmt) == SQLITE_DONE ? sqlite3_changes(registry_db(registry)) : -1;
    sqlite3_finalize(stmt);
    return n;
}

/* Every table and column of `c`, and what is gone since; the ids of the stored tables in `kept`. */
static long store_all(struct store *s, const struct catalog *c, json_t *kept)
{
    if (store_open(s) != 0 || referenced_by_build(c, &s->referenced_by) != 0)
        return -1;
    for (size_t i = 0; i < c->ntables; i++) {
        char id[ID_UUID_LEN + 1];
        if (store_table(s, &c->tables[i], id) != 0 || store_columns(s, id, &c->tables[i]) != 0)
            return -1;
        json_array_append_new(kept, json_string(id));
    }
    return mark_gone_tables(s->registry, s->connection_id, kept, s->now);
}

int tables_store_catalog(struct registry *registry, const char *connection_id,
                         const struct catalog *c, long *stored, long *gone)
{
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    /* A savepoint: the caller may hold a transaction that also stores the snapshot. */
    if (exec(registry, "SAVEPOINT store_catalog") != 0)
        return TABLES_ERROR;
    struct store s = {.registry = registry, .connection_id = connection_id, .now = now};
    json_t *kept = json_array();
    long vanished = store_all(&s, c, kept);
    json_decref(kept);
    if (vanished < 0)
        log_error("registry: storing tables of %s: %s", connection_id,
                  sqlite3_errmsg(registry_db(registry)));
    store_close(&s);
    if (vanished < 0) {
        exec(registry, "ROLLBACK TO store_catalog; RELEASE store_catalog");
        return TABLES_ERROR;
    }
    if (stored)
        *stored = (long)c->ntables;
    if (gone)
        *gone = vanished;
    return exec(registry, "RELEASE store_catalog") == 0 ? TABLES_OK : TABLES_ERROR;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

#define TABLE_COLUMNS                                                                              \
    "t.id, t.connection_id, t.schema_name, t.name, t.kind, t.row_count, t.role, "                  \
    "t.description, t.generated_description, t.comment, t.created_at, t.updated_at, "              \
    "t.analyzed_at, t.gone_at, t.deleted_at, t.profile"

static json_t *text_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text ? json_string(text) : json_null();
}

static json_t *row_to_table(sqlite3_stmt *stmt)
{
    const char *schema = (const char *)sqlite3_column_text(stmt, 2);
    const char *user = (const char *)sqlite3_column_text(stmt, 7);
    json_t *row_count = sqlite3_column_type(stmt, 5) == SQLITE_NULL
                            ? json_null()
                            : json_integer(sqlite3_column_int64(stmt, 5));
    /* The description a reader wants: the user's when written, else the generated one. */
    json_t *description = user ? json_string(user) : text_or_null(stmt, 8);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "id", text_or_null(stmt, 0), "connection_id", text_or_null(stmt, 1), "schema",
                     schema && *schema ? json_string(schema) : json_null(), "name",
                     text_or_null(stmt, 3), "kind", text_or_null(stmt, 4), "row_count", row_count,
                     "role", text_or_null(stmt, 6), "description", description,
                     "generated_description", text_or_null(stmt, 8), "comment",
                     text_or_null(stmt, 9), "created_at", text_or_null(stmt, 10), "updated_at",
                     text_or_null(stmt, 11), "analyzed_at", text_or_null(stmt, 12), "gone_at",
                     text_or_null(stmt, 13), "deleted_at", text_or_null(stmt, 14));
}

static const char *visibility_clause(enum conn_visibility vis)
{
    switch (vis) {
    case CONN_LIVE:
        return " AND t.deleted_at IS NULL";
    case CONN_DELETED:
        return " AND t.deleted_at IS NOT NULL";
    default:
        return "";
    }
}

static int bind_filter(sqlite3_stmt *stmt, const struct tables_filter *f)
{
    int idx = 1;
    const char *values[] = {f->connection_id, f->agent_id, f->schema, f->search};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (values[i])
            registry_bind_text(stmt, idx++, values[i]);
    return idx;
}

json_t *tables_list(struct registry *registry, const struct tables_filter *f)
{
    char where[768], sql[1536];
    /* A table is listed only while its connection is live: deleting one takes its tables along. */
    snprintf(where, sizeof(where),
             "FROM db_tables t JOIN connections c ON c.id = t.connection_id "
             "WHERE c.deleted_at IS NULL%s%s%s%s%s",
             visibility_clause(f->visibility), f->connection_id ? " AND t.connection_id = ?" : "",
             f->agent_id ? " AND c.agent_id = ?" : "", f->schema ? " AND t.schema_name = ?" : "",
             f->search ? " AND instr(lower(t.name), lower(?)) > 0" : "");
    snprintf(sql, sizeof(sql), "SELECT count(*) %s", where);
    sqlite3_stmt *count = registry_prepare(registry, sql);
    if (!count)
        return NULL;
    bind_filter(count, f);
    long total = sqlite3_step(count) == SQLITE_ROW ? sqlite3_column_int64(count, 0) : -1;
    sqlite3_finalize(count);
    if (total < 0)
        return NULL;
    snprintf(sql, sizeof(sql),
             "SELECT " TABLE_COLUMNS " %s ORDER BY t.schema_name, t.name LIMIT ? OFFSET ?", where);
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    if (!stmt)
        return NULL;
    int idx = bind_filter(stmt, f);
    sqlite3_bind_int64(stmt, idx, f->per_page);
    sqlite3_bind_int64(stmt, idx + 1, (f->page - 1) * f->per_page);
    json_t *items = json_array();
    while (sqlite3_step(stmt) == SQLITE_ROW)
        json_array_append_new(items, row_to_table(stmt));
    sqlite3_finalize(stmt);
    return json_pack("{s:o, s:I, s:I, s:I, s:I}", "tables", items, "total", (json_int_t)total,
                     "page", (json_int_t)f->page, "per_page", (json_int_t)f->per_page,
                     "total_pages", (json_int_t)((total + f->per_page - 1) / f->per_page));
}

static json_t *table_columns(struct registry *registry, const char *table_id)
{
    sqlite3_stmt *stmt = registry_prepare(
        registry,
        "SELECT id, name, ordinal, data_type, nullable, default_value, pk_position, "
        "comment, semantic_type, pii, description, generated_description, profile, "
        "gone_at FROM db_columns WHERE table_id = ? ORDER BY gone_at IS NOT NULL, ordinal");
    if (!stmt)
        return NULL;
    registry_bind_text(stmt, 1, table_id);
    json_t *columns = json_array();
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *profile = (const char *)sqlite3_column_text(stmt, 12);
        const char *user = (const char *)sqlite3_column_text(stmt, 10);
        json_t *stats = profile ? json_loads(profile, 0, NULL) : NULL;
        json_t *nullable = sqlite3_column_type(stmt, 4) == SQLITE_NULL
                               ? json_null()
                               : json_boolean(sqlite3_column_int(stmt, 4));
        json_array_append_new(
            columns,
            json_pack("{s:o, s:o, s:i, s:o, s:o, s:o, s:b, s:i, s:o, s:o, s:b, s:o, s:o, s:o, s:o}",
                      "id", text_or_null(stmt, 0), "name", text_or_null(stmt, 1), "ordinal",
                      sqlite3_column_int(stmt, 2), "data_type", text_or_null(stmt, 3), "nullable",
                      nullable, "default", text_or_null(stmt, 5), "primary_key",
                      sqlite3_column_int(stmt, 6) > 0, "pk_position", sqlite3_column_int(stmt, 6),
                      "comment", text_or_null(stmt, 7), "semantic_type", text_or_null(stmt, 8),
                      "pii", sqlite3_column_int(stmt, 9), "description",
                      user ? json_string(user) : text_or_null(stmt, 11), "generated_description",
                      text_or_null(stmt, 11), "statistics", stats ? stats : json_null(), "gone_at",
                      text_or_null(stmt, 13)));
    }
    sqlite3_finalize(stmt);
    return columns;
}

json_t *tables_get(struct registry *registry, const char *table_id, enum conn_visibility vis,
                   int *rc)
{
    char sql[768];
    snprintf(sql, sizeof(sql),
             "SELECT " TABLE_COLUMNS " FROM db_tables t JOIN connections c ON c.id = "
             "t.connection_id WHERE t.id = ? AND c.deleted_at IS NULL%s",
             visibility_clause(vis));
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    *rc = TABLES_ERROR;
    if (!stmt)
        return NULL;
    registry_bind_text(stmt, 1, table_id);
    json_t *table = NULL;
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        table = row_to_table(stmt);
        const char *profile = (const char *)sqlite3_column_text(stmt, 15);
        json_t *keys = profile ? json_loads(profile, 0, NULL) : NULL;
        if (keys)
            json_object_update(table, keys);
        json_decref(keys);
        json_object_set_new(table, "columns", table_columns(registry, table_id));
        *rc = TABLES_OK;
    } else if (step == SQLITE_DONE) {
        *rc = TABLES_NOT_FOUND;
    }
    sqlite3_finalize(stmt);
    return table;
}

int tables_connection(struct registry *registry, const char *table_id, char *out)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT connection_id FROM db_tables WHERE id = ?");
    if (!stmt)
        return TABLES_ERROR;
    registry_bind_text(stmt, 1, table_id);
    int rc = TABLES_NOT_FOUND;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        snprintf(out, ID_UUID_LEN + 1, "%s", (const char *)sqlite3_column_text(stmt, 0));
        rc = TABLES_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Soft delete, restore, descriptions                                       */
/* ------------------------------------------------------------------------ */

static long update(struct registry *registry, const char *sql, const char *id)
{
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, id);
    registry_bind_text(stmt, 2, now);
    long n = sqlite3_step(stmt) == SQLITE_DONE ? sqlite3_changes(registry_db(registry)) : -1;
    sqlite3_finalize(stmt);
    return n;
}

int tables_soft_delete_all(struct registry *registry, const char *connection_id, long *count)
{
    *count = update(registry,
                    "UPDATE db_tables SET deleted_at = ?2, updated_at = ?2 "
                    "WHERE connection_id = ?1 AND deleted_at IS NULL",
                    connection_id);
    return *count < 0 ? TABLES_ERROR : TABLES_OK;
}

int tables_soft_delete(struct registry *registry, const char *table_id)
{
    long n = update(registry,
                    "UPDATE db_tables SET deleted_at = ?2, updated_at = ?2 "
                    "WHERE id = ?1 AND deleted_at IS NULL",
                    table_id);
    return n < 0 ? TABLES_ERROR : n == 0 ? TABLES_NOT_FOUND : TABLES_OK;
}

int tables_restore(struct registry *registry, const char *table_id)
{
    long n = update(registry,
                    "UPDATE db_tables SET deleted_at = NULL, updated_at = ?2 "
                    "WHERE id = ?1 AND deleted_at IS NOT NULL",
                    table_id);
    return n < 0 ? TABLES_ERROR : n == 0 ? TABLES_NOT_FOUND : TABLES_OK;
}

int tables_describe(struct registry *registry, const char *table_id, const char *description,
                    const json_t *columns)
{
    if (exec(registry, "BEGIN IMMEDIATE") != 0)
        return TABLES_ERROR;
    int rc = TABLES_OK;
    if (description) {
        sqlite3_stmt *stmt =
            registry_prepare(registry, "UPDATE db_tables SET description = ?2 WHERE id = ?1");
        registry_bind_text(stmt, 1, table_id);
        registry_bind_text(stmt, 2, description);
        rc = stmt && sqlite3_step(stmt) == SQLITE_DONE ? TABLES_OK : TABLES_ERROR;
        sqlite3_finalize(stmt);
    }
    const char *name;
    json_t *text;
    json_object_foreach((json_t *)columns, name, text)
    {
        sqlite3_stmt *stmt = registry_prepare(
            registry, "UPDATE db_columns SET description = ?3 WHERE table_id = ?1 AND name = ?2");
        registry_bind_text(stmt, 1, table_id);
        registry_bind_text(stmt, 2, name);
        registry_bind_text(stmt, 3, json_string_value(text));
        if (!stmt || sqlite3_step(stmt) != SQLITE_DONE ||
            sqlite3_changes(registry_db(registry)) == 0)
            rc = rc == TABLES_OK ? TABLES_NOT_FOUND : rc;
        sqlite3_finalize(stmt);
    }
    exec(registry, rc == TABLES_OK ? "COMMIT" : "ROLLBACK");
    return rc;
}
