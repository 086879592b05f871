/*
 * Introspection: tables and views of the "main" database with their
 * columns, foreign keys, indexes and exact row counts, read through the
 * pragma table-valued functions with bound names (no quoting needed there).
 *
 * The table list statement stays open while the per-table statements run,
 * so the whole walk reads one snapshot of the file.
 */
#include <string.h>
#include <strings.h>

#include "sqlite_internal.h"

/* How a walk step ends: on to the next, the sink said stop, or `err` is set. */
enum walk { WALK_ERROR = -1, WALK_CONTINUE = 0, WALK_STOP = 1 };

static const char TABLES_SQL[] = "SELECT name, type FROM pragma_table_list"
                                 " WHERE schema = 'main' AND type IN ('table', 'view', 'virtual')"
                                 "   AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                                 " ORDER BY name";
/* The last column counts the primary key's columns, to spot a rowid alias. */
static const char COLUMNS_SQL[] =
    "SELECT name, type, \"notnull\", dflt_value, pk, hidden,"
    "       (SELECT count(*) FROM pragma_table_info(?1, 'main') WHERE pk > 0)"
    " FROM pragma_table_xinfo(?1, 'main') ORDER BY cid";
static const char FKS_SQL[] = "SELECT id, \"table\", \"from\", \"to\""
                              " FROM pragma_foreign_key_list(?1, 'main') ORDER BY id, seq";
static const char PK_SQL[] =
    "SELECT name FROM pragma_table_info(?1, 'main') WHERE pk > 0 ORDER BY pk";
static const char INDEXES_SQL[] = "SELECT name, \"unique\", origin"
                                  " FROM pragma_index_list(?1, 'main') ORDER BY name";
static const char INDEX_COLUMNS_SQL[] =
    "SELECT name FROM pragma_index_info(?1, 'main') ORDER BY seqno";

/* A growing list of owned strings (entries may be NULL). */
struct strvec {
    char **items;
    size_t n, cap;
};

struct catalog {
    struct quarry_conn *conn;
    const struct quarry_catalog_sink *sink;
    struct quarry_error *err;
    sqlite3_stmt *tables, *columns, *fks, *pk, *indexes, *index_columns;
    struct strvec from, to, scratch;
    char *ref_table;
    int status; /* the quarry status set in `err` once a step ends in WALK_ERROR */
};

static char *dup_text(const unsigned char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen((const char *)s);
    char *copy = sqlite_host_->alloc(len + 1);
    if (copy)
        memcpy(copy, s, len + 1);
    return copy;
}

/* Appends a copy of `s` (NULL stays NULL); -1 when out of memory. */
static int strvec_push(struct strvec *v, const unsigned char *s)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        char **items = sqlite_host_->realloc(v->items, cap * sizeof(*items));
        if (!items)
            return -1;
        v->items = items;
        v->cap = cap;
    }
    char *copy = dup_text(s);
    if (s && !copy)
        return -1;
    v->items[v->n++] = copy;
    return 0;
}

static void strvec_clear(struct strvec *v)
{
    for (size_t i = 0; i < v->n; i++)
        sqlite_host_->free(v->items[i]);
    v->n = 0;
}

static void strvec_free(struct strvec *v)
{
    strvec_clear(v);
    sqlite_host_->free(v->items);
    v->items = NULL;
    v->cap = 0;
}

static int walk_nomem(struct catalog *c)
{
    c->status = sqlite_host_->error_set(c->err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    return WALK_ERROR;
}

static int walk_fail(struct catalog *c, int rc, const char *what)
{
    c->status = sqlite_fail_(c->conn, rc, what, c->err);
    return WALK_ERROR;
}

static int walk_answer(int answer)
{
    return answer == QUARRY_SINK_CONTINUE ? WALK_CONTINUE : WALK_STOP;
}

/* Readies a per-table statement for `name`. */
static int rebind(struct catalog *c, sqlite3_stmt *stmt, const char *name)
{
    sqlite3_reset(stmt);
    int rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    return rc == SQLITE_OK ? WALK_CONTINUE : walk_fail(c, rc, "introspection");
}

/* ------------------------------------------------------------------------ */

/* Exact count(*); the progress handler stops it at the deadline. */
static int count_rows(struct catalog *c, const char *table, int64_t *out)
{
    char *sql = sqlite3_mprintf("SELECT count(*) FROM \"main\".\"%w\"", table);
    sqlite3_stmt *stmt = NULL;
    if (!sql)
        return walk_nomem(c);
    int rc = sqlite3_prepare_v3(c->conn->db, sql, -1, 0, &stmt, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? WALK_CONTINUE : walk_fail(c, rc, "counting rows");
}

/* A view's or virtual table's columns may fail to resolve (a dropped table, a missing module). */
static int tolerate(struct catalog *c, int rc, const char *table, int strict)
{
    int primary = rc & 0xff;
    if (strict || primary == SQLITE_INTERRUPT || primary == SQLITE_NOMEM)
        return walk_fail(c, rc, "reading columns");
    if (sqlite_host_->log)
        sqlite_host_->log(QUARRY_LOG_WARN, SQLITE_DRIVER_NAME, "columns of \"%s\" skipped: %s",
                          table, sqlite3_errmsg(c->conn->db));
    return WALK_CONTINUE;
}

static int walk_columns(struct catalog *c, const char *table, int strict)
{
    if (!c->sink->column)
        return WALK_CONTINUE;
    int status = rebind(c, c->columns, table), rc = SQLITE_DONE, ordinal = 0;
    while (status == WALK_CONTINUE && (rc = sqlite3_step(c->columns)) == SQLITE_ROW) {
        sqlite3_stmt *s = c->columns;
        if (sqlite3_column_int(s, 5) == 1)
            continue; /* a virtual table's hidden column */
        struct quarry_column_info col;
        memset(&col, 0, sizeof(col));
        QUARRY_STRUCT_INIT(&col);
        col.table = table;
        col.name = (const char *)sqlite3_column_text(s, 0);
        col.type = (const char *)sqlite3_column_text(s, 1);
        if (col.type && !*col.type)
            col.type = NULL;
        col.ordinal = ++ordinal;
        col.pk_position = sqlite3_column_int(s, 4);
        /* A lone INTEGER PRIMARY KEY is the rowid: never NULL, declared or not. */
        int rowid_alias = col.pk_position == 1 && sqlite3_column_int(s, 6) == 1 && col.type &&
                          strcasecmp(col.type, "INTEGER") == 0;
        col.nullable = sqlite3_column_int(s, 2) || rowid_alias ? 0 : 1;
        col.default_value = (const char *)sqlite3_column_text(s, 3);
        if (!col.name)
            return walk_nomem(c);
        status = walk_answer(c->sink->column(c->sink->userdata, &col));
    }
    if (status == WALK_CONTINUE && rc != SQLITE_DONE)
        status = tolerate(c, rc, table, strict);
    sqlite3_reset(c->columns);
    return status;
}

/* ------------------------------------------------------------------------ */

/* `REFERENCES t` without columns means t's primary key. */
static int resolve_parent_key(struct catalog *c)
{
    int status = rebind(c, c->pk, c->ref_table), rc = SQLITE_DONE;
    strvec_clear(&c->scratch);
    while (status == WALK_CONTINUE && (rc = sqlite3_step(c->pk)) == SQLITE_ROW)
        if (strvec_push(&c->scratch, sqlite3_column_text(c->pk, 0)) != 0)
            status = walk_nomem(c);
    if (status == WALK_CONTINUE && rc != SQLITE_DONE)
        status = walk_fail(c, rc, "reading a primary key");
    sqlite3_reset(c->pk);
    if (status != WALK_CONTINUE || c->scratch.n != c->to.n)
        return status;
    /* Swap in the resolved names; the scratch list takes the NULLs. */
    struct strvec tmp = c->to;
    c->to = c->scratch;
    c->scratch = tmp;
    return WALK_CONTINUE;
}

static int emit_fk(struct catalog *c, const char *table)
{
    int status = WALK_CONTINUE;
    int unresolved = 0;
    for (size_t i = 0; i < c->to.n; i++)
        unresolved |= c->to.items[i] == NULL;
    if (unresolved && (status = resolve_parent_key(c)) != WALK_CONTINUE)
        goto out;
    for (size_t i = 0; i < c->to.n; i++)
        if (!c->to.items[i])
            goto out; /* the parent has no such key: nothing sound to report */
    struct quarry_foreign_key_info fk;
    memset(&fk, 0, sizeof(fk));
    QUARRY_STRUCT_INIT(&fk);
    fk.table = table;
    fk.ncolumns = c->from.n;
    fk.columns = (const char *const *)c->from.items;
    fk.ref_table = c->ref_table;
    fk.ref_columns = (const char *const *)c->to.items;
    status = walk_answer(c->sink->foreign_key(c->sink->userdata, &fk));
out:
    strvec_clear(&c->from);
    strvec_clear(&c->to);
    sqlite_host_->free(c->ref_table);
    c->ref_table = NULL;
    return status;
}

/* Rows of one multi-column key share an id; a key is reported once its rows are read. */
static int walk_fks(struct catalog *c, const char *table)
{
    if (!c->sink->foreign_key)
        return WALK_CONTINUE;
    int status = rebind(c, c->fks, table), rc = SQLITE_DONE;
    int64_t current = -1;
    while (status == WALK_CONTINUE && (rc = sqlite3_step(c->fks)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(c->fks, 0);
        if (id != current && c->from.n && (status = emit_fk(c, table)) != WALK_CONTINUE)
            break;
        if (id != current) {
            current = id;
            c->ref_table = dup_text(sqlite3_column_text(c->fks, 1));
            if (!c->ref_table)
                status = walk_nomem(c);
        }
        if (status == WALK_CONTINUE && (strvec_push(&c->from, sqlite3_column_text(c->fks, 2)) ||
                                        strvec_push(&c->to, sqlite3_column_text(c->fks, 3))))
            status = walk_nomem(c);
    }
    if (status == WALK_CONTINUE && rc != SQLITE_DONE)
        status = walk_fail(c, rc, "reading foreign keys");
    if (status == WALK_CONTINUE && c->from.n)
        status = emit_fk(c, table);
    strvec_clear(&c->from);
    strvec_clear(&c->to);
    sqlite_host_->free(c->ref_table);
    c->ref_table = NULL;
    sqlite3_reset(c->fks);
    return status;
}

/* ------------------------------------------------------------------------ */

static int emit_index(struct catalog *c, const char *table, const char *name, int unique,
                      int primary)
{
    int status = rebind(c, c->index_columns, name), rc = SQLITE_DONE;
    strvec_clear(&c->scratch);
    while (status == WALK_CONTINUE && (rc = sqlite3_step(c->index_columns)) == SQLITE_ROW)
        if (strvec_push(&c->scratch, sqlite3_column_text(c->index_columns, 0)) != 0)
            status = walk_nomem(c);
    if (status == WALK_CONTINUE && rc != SQLITE_DONE)
        status = walk_fail(c, rc, "reading index columns");
    sqlite3_reset(c->index_columns);
    if (status != WALK_CONTINUE)
        return status;
    struct quarry_index_info ix;
    memset(&ix, 0, sizeof(ix));
    QUARRY_STRUCT_INIT(&ix);
    ix.table = table;
    ix.name = name;
    ix.unique = unique;
    ix.primary = primary;
    ix.ncolumns = c->scratch.n;
    ix.columns = (const char *const *)c->scratch.items;
    status = walk_answer(c->sink->index(c->sink->userdata, &ix));
    strvec_clear(&c->scratch);
    return status;
}

static int walk_indexes(struct catalog *c, const char *table)
{
    if (!c->sink->index)
        return WALK_CONTINUE;
    int status = rebind(c, c->indexes, table), rc = SQLITE_DONE;
    while (status == WALK_CONTINUE && (rc = sqlite3_step(c->indexes)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(c->indexes, 0);
        const char *origin = (const char *)sqlite3_column_text(c->indexes, 2);
        if (!name)
            return walk_nomem(c);
        status = emit_index(c, table, name, sqlite3_column_int(c->indexes, 1) != 0,
                            origin && strcmp(origin, "pk") == 0);
    }
    if (status == WALK_CONTINUE && rc != SQLITE_DONE)
        status = walk_fail(c, rc, "reading indexes");
    sqlite3_reset(c->indexes);
    return status;
}

/* ------------------------------------------------------------------------ */

/* One table or view: itself first, then its columns, foreign keys and indexes. */
static int walk_table(struct catalog *c, const char *name, const char *type)
{
    int is_table = strcmp(type, "table") == 0;
    int is_view = strcmp(type, "view") == 0;
    int64_t rows = -1; /* views and virtual tables: counting could be arbitrarily costly */
    int status = WALK_CONTINUE;

    if (is_table && (status = count_rows(c, name, &rows)) != WALK_CONTINUE)
        return status;
    if (c->sink->table) {
        struct quarry_table_info t;
        memset(&t, 0, sizeof(t));
        QUARRY_STRUCT_INIT(&t);
        t.name = name;
        t.kind = is_view ? QUARRY_VIEW : QUARRY_TABLE;
        t.row_estimate = rows;
        if ((status = walk_answer(c->sink->table(c->sink->userdata, &t))) != WALK_CONTINUE)
            return status;
    }
    if ((status = walk_columns(c, name, is_table)) != WALK_CONTINUE)
        return status;
    if (is_view)
        return WALK_CONTINUE; /* views have neither keys nor indexes */
    if ((status = walk_fks(c, name)) != WALK_CONTINUE)
        return status;
    return walk_indexes(c, name);
}

static int walk_tables(struct catalog *c)
{
    int status = WALK_CONTINUE, rc = SQLITE_DONE;
    while (status == WALK_CONTINUE && (rc = sqlite3_step(c->tables)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(c->tables, 0);
        const char *type = (const char *)sqlite3_column_text(c->tables, 1);
        if (!name || !type)
            return walk_nomem(c);
        if (sqlite_call_stopped_(c->conn)) {
            c->status = sqlite_stopped_status_(c->conn, "introspection", c->err);
            return WALK_ERROR;
        }
        status = walk_table(c, name, type);
    }
    if (status == WALK_CONTINUE && rc != SQLITE_DONE)
        status = walk_fail(c, rc, "listing tables");
    return status;
}

static int prepare_all(struct catalog *c)
{
    struct {
        const char *sql;
        sqlite3_stmt **stmt;
    } list[] = {{TABLES_SQL, &c->tables},   {COLUMNS_SQL, &c->columns},
                {FKS_SQL, &c->fks},         {PK_SQL, &c->pk},
                {INDEXES_SQL, &c->indexes}, {INDEX_COLUMNS_SQL, &c->index_columns}};
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        int rc = sqlite3_prepare_v3(c->conn->db, list[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    list[i].stmt, NULL);
        if (rc != SQLITE_OK)
            return walk_fail(c, rc, "preparing introspection");
    }
    return WALK_CONTINUE;
}

/* sqlite has one schema, "main": a filter that names neither it nor "" matches nothing. */
static int wants_main(const struct quarry_introspect_opts *opts)
{
    if (!opts || !opts->schemas || opts->nschemas == 0)
        return 1;
    for (size_t i = 0; i < opts->nschemas; i++) {
        const char *s = opts->schemas[i];
        if (!s || !*s || strcasecmp(s, "main") == 0)
            return 1;
    }
    return 0;
}

int sqlite_introspect_(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                       const struct quarry_introspect_opts *opts,
                       const struct quarry_catalog_sink *sink, struct quarry_error *err)
{
    struct catalog c;
    memset(&c, 0, sizeof(c));
    c.conn = conn;
    c.sink = sink;
    c.err = err;
    if (!sink)
        return sqlite_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "no catalog sink");
    if (!wants_main(opts))
        return QUARRY_OK;

    sqlite_call_begin_(conn, ctx);
    int status = prepare_all(&c);
    if (status == WALK_CONTINUE)
        status = walk_tables(&c);
    sqlite3_finalize(c.tables);
    sqlite3_finalize(c.columns);
    sqlite3_finalize(c.fks);
    sqlite3_finalize(c.pk);
    sqlite3_finalize(c.indexes);
    sqlite3_finalize(c.index_columns);
    strvec_free(&c.from);
    strvec_free(&c.to);
    strvec_free(&c.scratch);
    sqlite_host_->free(c.ref_table);
    sqlite_call_end_(conn);
    return status == WALK_ERROR ? c.status : QUARRY_OK;
}
