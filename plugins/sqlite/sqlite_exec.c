/*
 * Statements: execute (one read-only statement) and sample, both streamed
 * row by row into the host's sink with sqlite's own value types.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "sqlite_internal.h"

#define TABLE_NAME_MAX 1024

/*
 * The value type a declared column type implies, by SQLite's affinity rules
 * (datatype3.html, section 3.1); -1 for NUMERIC affinity or no declaration,
 * whose values may be of any type.
 */
static int type_of_decl(const char *decl)
{
    if (!decl || !*decl)
        return -1;
    if (strcasestr(decl, "INT"))
        return QUARRY_VALUE_INT;
    if (strcasestr(decl, "CHAR") || strcasestr(decl, "CLOB") || strcasestr(decl, "TEXT"))
        return QUARRY_VALUE_TEXT;
    if (strcasestr(decl, "BLOB"))
        return QUARRY_VALUE_BLOB;
    if (strcasestr(decl, "REAL") || strcasestr(decl, "FLOA") || strcasestr(decl, "DOUB"))
        return QUARRY_VALUE_DOUBLE;
    return -1;
}

static int type_of_value(int sqlite_type)
{
    switch (sqlite_type) {
    case SQLITE_INTEGER:
        return QUARRY_VALUE_INT;
    case SQLITE_FLOAT:
        return QUARRY_VALUE_DOUBLE;
    case SQLITE_BLOB:
        return QUARRY_VALUE_BLOB;
    case SQLITE_NULL:
        return QUARRY_VALUE_NULL;
    default:
        return QUARRY_VALUE_TEXT;
    }
}

/* Names and types for begin(); undeclared types come from the first row when there is one. */
static void describe_columns(sqlite3_stmt *stmt, struct quarry_column *cols, size_t n, int has_row)
{
    for (size_t i = 0; i < n; i++) {
        int col = (int)i;
        QUARRY_STRUCT_INIT(&cols[i]);
        cols[i].name = sqlite3_column_name(stmt, col);
        cols[i].decl_type = sqlite3_column_decltype(stmt, col);
        int type = type_of_decl(cols[i].decl_type);
        if (type < 0 && has_row)
            type = type_of_value(sqlite3_column_type(stmt, col));
        /* Unknown reads as text, the conservative choice the ABI asks for. */
        cols[i].type = type < 0 || type == QUARRY_VALUE_NULL ? QUARRY_VALUE_TEXT : type;
        if (!cols[i].name)
            cols[i].name = "";
    }
}

/* The current row as borrowed values; -1 when sqlite ran out of memory converting text. */
static int read_row(sqlite3_stmt *stmt, struct quarry_value *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int col = (int)i;
        struct quarry_value *v = &vals[i];
        memset(v, 0, sizeof(*v));
        v->type = type_of_value(sqlite3_column_type(stmt, col));
        switch (v->type) {
        case QUARRY_VALUE_INT:
            v->i = sqlite3_column_int64(stmt, col);
            break;
        case QUARRY_VALUE_DOUBLE:
            v->d = sqlite3_column_double(stmt, col);
            break;
        case QUARRY_VALUE_TEXT:
            /* Pointer first, then the length: the documented order. */
            v->str = (const char *)sqlite3_column_text(stmt, col);
            v->len = (size_t)sqlite3_column_bytes(stmt, col);
            if (!v->str)
                return -1;
            break;
        case QUARRY_VALUE_BLOB:
            v->str = sqlite3_column_blob(stmt, col);
            v->len = (size_t)sqlite3_column_bytes(stmt, col);
            if (!v->str)
                v->str = ""; /* a zero-length blob */
            break;
        }
    }
    return 0;
}

int sqlite_stream_(struct quarry_conn *conn, sqlite3_stmt *stmt, uint64_t limit,
                   const struct quarry_row_sink *sink, struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    size_t n = (size_t)sqlite3_column_count(stmt);
    size_t room = n ? n : 1;
    struct quarry_column *cols = h->alloc(room * sizeof(*cols));
    struct quarry_value *vals = h->alloc(room * sizeof(*vals));
    int status = QUARRY_OK;

    if (!cols || !vals) {
        status = h->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        goto out;
    }
    memset(cols, 0, room * sizeof(*cols));
    /* Step first so columns without a declared type can take the first row's type. */
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = sqlite_fail_(conn, rc, "query", err);
        goto out;
    }
    describe_columns(stmt, cols, n, rc == SQLITE_ROW);
    int answer = sink->begin ? sink->begin(sink->userdata, cols, n) : QUARRY_SINK_CONTINUE;
    uint64_t sent = 0;
    while (answer == QUARRY_SINK_CONTINUE && rc == SQLITE_ROW && (!limit || sent < limit)) {
        if (read_row(stmt, vals, n) != 0) {
            status = h->error_set(err, QUARRY_ERR_NOMEM, "", SQLITE_NOMEM, "out of memory");
            goto out;
        }
        answer = sink->row ? sink->row(sink->userdata, vals, n) : QUARRY_SINK_CONTINUE;
        sent++;
        if (answer == QUARRY_SINK_CONTINUE && (!limit || sent < limit))
            rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = sqlite_fail_(conn, rc, "query", err);
        goto out;
    }
    if (sink->end)
        sink->end(sink->userdata);
out:
    h->free(cols);
    h->free(vals);
    return status;
}

/* Nothing but whitespace, semicolons and comments may follow the one statement. */
static int tail_is_empty(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ';')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end)
                return 1; /* sqlite reads an unterminated comment to the end */
            p = end + 2;
        } else {
            return *p == '\0';
        }
    }
}

/* Prepares exactly one statement that reads; refuses anything else. */
static int prepare_one(struct quarry_conn *conn, const char *statement, sqlite3_stmt **out,
                       struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    const char *tail = NULL;
    sqlite3_stmt *stmt = NULL;
    int status = QUARRY_OK;

    int rc = sqlite3_prepare_v3(conn->db, statement, -1, 0, &stmt, &tail);
    if (rc != SQLITE_OK) {
        status = sqlite_fail_(conn, rc, "statement", err);
    } else if (!stmt) {
        status = h->error_set(err, QUARRY_ERR_INVALID, "", 0, "empty statement");
    } else if (!tail_is_empty(tail)) {
        status = h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                              "only one statement per call: text follows the first statement");
    } else if (!sqlite3_stmt_readonly(stmt)) {
        status = h->error_set(err, QUARRY_ERR_READONLY, "", 0,
                              "statement refused: it would write, and the sqlite driver runs "
                              "read-only statements only");
    }
    if (status != QUARRY_OK) {
        sqlite3_finalize(stmt);
        return status;
    }
    *out = stmt;
    return QUARRY_OK;
}

int sqlite_execute_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                    const struct quarry_row_sink *sink, struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    sqlite3_stmt *stmt = NULL;
    int status;

    if (!statement || !sink)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0, "no statement or no sink");
    if (strnlen(statement, SQLITE_STATEMENT_MAX + 1) > SQLITE_STATEMENT_MAX)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                            "statement longer than %d bytes refused", SQLITE_STATEMENT_MAX);
    sqlite_call_begin_(conn, ctx);
    if (sqlite_call_stopped_(conn))
        status = sqlite_stopped_status_(conn, "query", err);
    else if ((status = prepare_one(conn, statement, &stmt, err)) == QUARRY_OK)
        status = sqlite_stream_(conn, stmt, ctx ? ctx->row_limit : 0, sink, err);
    sqlite3_finalize(stmt);
    sqlite_call_end_(conn);
    return status;
}

/* The table's name as stored (names match case-insensitively); caller sqlite3_free()s. */
static int find_table(struct quarry_conn *conn, const char *table, char **out,
                      struct quarry_error *err)
{
    static const char sql[] = "SELECT name FROM main.sqlite_schema"
                              " WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE"
                              " LIMIT 1";
    sqlite3_stmt *stmt = NULL;
    int status = QUARRY_OK;
    int rc = sqlite3_prepare_v3(conn->db, sql, -1, 0, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(stmt, 0));
        if (!*out)
            status = sqlite_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    } else if (rc == SQLITE_DONE) {
        status = sqlite_host_->error_set(err, QUARRY_ERR_NOT_FOUND, "", 0,
                                         "no table or view \"%s\" in this database", table);
    } else {
        status = sqlite_fail_(conn, rc, "looking up the table", err);
    }
    sqlite3_finalize(stmt);
    return status;
}

int sqlite_sample_(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                   const char *table, uint32_t n, const struct quarry_row_sink *sink,
                   struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    char *name = NULL, *sql = NULL;
    sqlite3_stmt *stmt = NULL;
    int status;

    if (!table || !*table || !sink)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0, "no table name or no sink");
    if (strnlen(table, TABLE_NAME_MAX + 1) > TABLE_NAME_MAX)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0, "table name too long");
    if (schema && *schema && strcasecmp(schema, "main") != 0)
        return h->error_set(err, QUARRY_ERR_NOT_FOUND, "", 0,
                            "no schema \"%.64s\": a sqlite database has only \"main\"", schema);
    sqlite_call_begin_(conn, ctx);
    if ((status = find_table(conn, table, &name, err)) != QUARRY_OK)
        goto out;
    uint64_t limit = n;
    if (ctx && ctx->row_limit && ctx->row_limit < limit)
        limit = ctx->row_limit;
    /* %w doubles the quotes inside an identifier. */
    sql = sqlite3_mprintf("SELECT * FROM \"main\".\"%w\" LIMIT %llu", name,
                          (unsigned long long)limit);
    if (!sql) {
        status = h->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        goto out;
    }
    int rc = sqlite3_prepare_v3(conn->db, sql, -1, 0, &stmt, NULL);
    if (rc != SQLITE_OK) {
        status = sqlite_fail_(conn, rc, "sample", err);
        goto out;
    }
    status = sqlite_stream_(conn, stmt, limit, sink, err);
out:
    sqlite3_finalize(stmt);
    sqlite3_free(sql);
    sqlite3_free(name);
    sqlite_call_end_(conn);
    return status;
}
