/*
 * introspect, from information_schema. MySQL's schemas are databases.
 *
 * Each schema is read with one condition `TABLE_SCHEMA = '<name>'`, which
 * MariaDB turns into a lookup of that one database (an IN list would make it
 * open every table of the server); with no schema asked for and no database
 * in the URL, one pass covers every database but the system ones. Per pass,
 * four queries:
 *
 *   TABLES       -> table (kind, TABLE_ROWS as the estimate, comment), streamed
 *   STATISTICS   -> kept: primary key positions for the columns, then indexes
 *   COLUMNS      -> column (COLUMN_TYPE, nullability, default, comment), streamed
 *   KEY_COLUMN_USAGE with REFERENCED_* -> foreign_key, grouped per constraint
 *                   in ORDINAL_POSITION order, across databases as declared
 *
 * Names keep their case. Grouping compares names byte for byte, so the
 * queries sort with CAST(... AS BINARY): information_schema collates without
 * case, and tables "a" and "A" may both exist.
 */
#include <stdlib.h>
#include <string.h>

#include "my_internal.h"

#define KEY_COLUMNS_MAX 64 /* MySQL allows 16 key parts, MariaDB 32 */

static const char *const system_schemas =
    "('mysql','information_schema','performance_schema','sys')";

struct catalog_run {
    struct quarry_conn *conn;
    const struct quarry_ctx *ctx;
    const struct quarry_catalog_sink *sink;
    struct quarry_error *err;
    const char *cond;      /* " = 'db'" or " NOT IN (...)", after TABLE_SCHEMA */
    int stopped;           /* the sink answered STOP */
    struct my_sql scratch; /* a MySQL default value rewritten as SQL */
    /* STATISTICS rows, kept for the whole pass */
    MYSQL_RES *stats;
    MYSQL_ROW *pk_rows; /* the PRIMARY rows, sorted by schema, table, column */
    size_t npk;
};

typedef int (*row_fn)(struct catalog_run *run, MYSQL_ROW row, void *state);

/* Streams the rows of `sql` into `fn`; OK also when the sink stopped. */
static int query_each(struct catalog_run *run, const char *sql, row_fn fn, void *state)
{
    MYSQL *m = run->conn->mysql;
    if (mysql_real_query(m, sql, (unsigned long)strlen(sql)) != 0)
        return my_conn_error(run->conn, run->ctx, MY_CTX_QUERY, run->err);
    MYSQL_RES *res = mysql_use_result(m);
    if (!res)
        return my_conn_error(run->conn, run->ctx, MY_CTX_QUERY, run->err);
    for (;;) {
        if (run->ctx && my_host.ctx_expired(run->ctx)) {
            my_result_abandon(run->conn, res);
            return my_ctx_stopped(run->conn, run->ctx, run->err);
        }
        MYSQL_ROW row = mysql_fetch_row(res);
        if (!row)
            break;
        int rc = fn(run, row, state);
        if (rc != QUARRY_OK || run->stopped) {
            my_result_abandon(run->conn, res);
            return rc;
        }
    }
    int failed = mysql_errno(m) != 0;
    mysql_free_result(res);
    return failed ? my_conn_error(run->conn, run->ctx, MY_CTX_QUERY, run->err) : QUARRY_OK;
}

static void answer(struct catalog_run *run, int sink_answer)
{
    if (sink_answer == QUARRY_SINK_STOP)
        run->stopped = 1;
}

/* ------------------------------------------------------------------------ */

static int on_table(struct catalog_run *run, MYSQL_ROW row, void *state)
{
    (void)state;
    struct quarry_table_info t;
    memset(&t, 0, sizeof(t));
    QUARRY_STRUCT_INIT(&t);
    int is_view = row[2] && strstr(row[2], "VIEW") != NULL; /* VIEW, SYSTEM VIEW */
    t.schema = row[0];
    t.name = row[1];
    t.kind = is_view ? QUARRY_VIEW : QUARRY_TABLE;
    t.row_estimate = row[3] ? strtoll(row[3], NULL, 10) : -1;
    /* Views carry the placeholder comment "VIEW". */
    t.comment = row[4] && *row[4] && !(is_view && strcmp(row[4], "VIEW") == 0) ? row[4] : NULL;
    if (run->sink->table)
        answer(run, run->sink->table(run->sink->userdata, &t));
    return QUARRY_OK;
}

static int read_tables(struct catalog_run *run, struct my_sql *sql)
{
    my_sql_addf(sql,
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS, TABLE_COMMENT "
                "FROM information_schema.TABLES WHERE TABLE_SCHEMA%s "
                "ORDER BY TABLE_SCHEMA, TABLE_NAME",
                run->cond);
    return sql->failed ? my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory")
                       : query_each(run, sql->text, on_table, NULL);
}

/* ------------------------------------------------------------------------ */
/* STATISTICS: stats rows are schema, table, index, non_unique, column, seq  */

static int cmp_key(const char *s1, const char *t1, const char *c1, const char *s2, const char *t2,
                   const char *c2)
{
    int d = strcmp(s1, s2);
    if (!d)
        d = strcmp(t1, t2);
    if (!d)
        d = strcmp(c1 ? c1 : "", c2 ? c2 : "");
    return d;
}

static int cmp_pk_rows(const void *a, const void *b)
{
    MYSQL_ROW ra = *(MYSQL_ROW const *)a, rb = *(MYSQL_ROW const *)b;
    return cmp_key(ra[0], ra[1], ra[4], rb[0], rb[1], rb[4]);
}

static int read_stats(struct catalog_run *run, struct my_sql *sql)
{
    my_sql_addf(sql,
                "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, "
                "SEQ_IN_INDEX FROM information_schema.STATISTICS WHERE TABLE_SCHEMA%s "
                "ORDER BY CAST(TABLE_SCHEMA AS BINARY), CAST(TABLE_NAME AS BINARY), "
                "CAST(INDEX_NAME AS BINARY), SEQ_IN_INDEX",
                run->cond);
    if (sql->failed)
        return my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    MYSQL *m = run->conn->mysql;
    /* Stored, not streamed: it is small, and read twice (keys now, indexes last). */
    if (mysql_real_query(m, sql->text, (unsigned long)sql->len) != 0 ||
        !(run->stats = mysql_store_result(m)))
        return my_conn_error(run->conn, run->ctx, MY_CTX_QUERY, run->err);
    size_t n = (size_t)mysql_num_rows(run->stats);
    run->pk_rows = my_calloc(n ? n : 1, sizeof(MYSQL_ROW));
    if (!run->pk_rows)
        return my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(run->stats)))
        if (row[0] && row[1] && row[2] && row[4] && strcmp(row[2], "PRIMARY") == 0)
            run->pk_rows[run->npk++] = row;
    qsort(run->pk_rows, run->npk, sizeof(MYSQL_ROW), cmp_pk_rows);
    return QUARRY_OK;
}

static int pk_position(const struct catalog_run *run, const char *schema, const char *table,
                       const char *column)
{
    size_t lo = 0, hi = run->npk;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        MYSQL_ROW r = run->pk_rows[mid];
        int d = cmp_key(schema, table, column, r[0], r[1], r[4]);
        if (d == 0)
            return r[5] ? atoi(r[5]) : 0;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

static int same_index(MYSQL_ROW a, MYSQL_ROW b)
{
    return a && b && a[0] && b[0] && a[1] && b[1] && a[2] && b[2] && strcmp(a[0], b[0]) == 0 &&
           strcmp(a[1], b[1]) == 0 && strcmp(a[2], b[2]) == 0;
}

static void report_indexes(struct catalog_run *run)
{
    const char *columns[KEY_COLUMNS_MAX];
    if (!run->sink->index || !run->stats)
        return;
    mysql_data_seek(run->stats, 0);
    MYSQL_ROW row = mysql_fetch_row(run->stats);
    while (row && !run->stopped) {
        MYSQL_ROW first = row;
        size_t n = 0;
        for (; row && same_index(first, row); row = mysql_fetch_row(run->stats))
            if (n < KEY_COLUMNS_MAX)
                columns[n++] = row[4]; /* NULL for an expression part (MySQL 8) */
        if (!first[0] || !first[1] || !first[2])
            continue;
        struct quarry_index_info ix;
        memset(&ix, 0, sizeof(ix));
        QUARRY_STRUCT_INIT(&ix);
        ix.schema = first[0];
        ix.table = first[1];
        ix.name = first[2];
        ix.unique = first[3] && strcmp(first[3], "0") == 0;
        ix.primary = strcmp(first[2], "PRIMARY") == 0;
        ix.ncolumns = n;
        ix.columns = columns;
        answer(run, run->sink->index(run->sink->userdata, &ix));
    }
}

/* ------------------------------------------------------------------------ */
/* COLUMNS                                                                   */

static int is_numeric_type(const char *data_type)
{
    static const char *const numeric[] = {
        "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
        "float",   "double",   "real",      "bit", "year",    "bool",   "boolean", NULL};
    for (int i = 0; numeric[i]; i++)
        if (strcasecmp(data_type, numeric[i]) == 0)
            return 1;
    return 0;
}

/*
 * COLUMN_DEFAULT as SQL text. MariaDB (10.2.7+) already writes SQL: quoted
 * literals, expressions, and the word NULL for "no default". MySQL writes a
 * literal bare and marks expressions DEFAULT_GENERATED, so literals of
 * non-numeric columns get quoted here.
 */
static const char *default_sql(struct catalog_run *run, const char *value, const char *extra,
                               const char *data_type)
{
    if (!value)
        return NULL;
    if (run->conn->is_mariadb)
        return strcmp(value, "NULL") == 0 ? NULL : value;
    if ((extra && strstr(extra, "DEFAULT_GENERATED")) ||
        strncasecmp(value, "CURRENT_TIMESTAMP", 17) == 0 ||
        (data_type && is_numeric_type(data_type)))
        return value;
    run->scratch.len = 0;
    my_sql_add(&run->scratch, "'");
    for (const char *p = value; *p; p++) {
        char c[2] = {*p, '\0'};
        my_sql_add(&run->scratch, *p == '\'' ? "''" : c);
    }
    my_sql_add(&run->scratch, "'");
    return run->scratch.failed ? value : run->scratch.text;
}

static int on_column(struct catalog_run *run, MYSQL_ROW row, void *state)
{
    (void)state;
    /* schema, table, column, ordinal, default, is_nullable, column_type, comment, extra, type */
    struct quarry_column_info c;
    memset(&c, 0, sizeof(c));
    QUARRY_STRUCT_INIT(&c);
    if (!row[0] || !row[1] || !row[2])
        return QUARRY_OK;
    c.schema = row[0];
    c.table = row[1];
    c.name = row[2];
    c.ordinal = row[3] ? atoi(row[3]) : 0;
    c.default_value = default_sql(run, row[4], row[8], row[9]);
    c.nullable = !row[5] ? -1 : strcmp(row[5], "YES") == 0 ? 1 : 0;
    c.type = row[6];
    c.comment = row[7] && *row[7] ? row[7] : NULL;
    c.pk_position = pk_position(run, row[0], row[1], row[2]);
    if (run->sink->column)
        answer(run, run->sink->column(run->sink->userdata, &c));
    return QUARRY_OK;
}

static int read_columns(struct catalog_run *run, struct my_sql *sql)
{
    my_sql_addf(sql,
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, "
                "COLUMN_DEFAULT, IS_NULLABLE, COLUMN_TYPE, COLUMN_COMMENT, EXTRA, DATA_TYPE "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA%s "
                "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
                run->cond);
    return sql->failed ? my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory")
                       : query_each(run, sql->text, on_column, NULL);
}

/* ------------------------------------------------------------------------ */
/* Foreign keys: rows are streamed, so a constraint's names are copied.      */

struct fk_group {
    char *schema, *table, *name, *ref_schema, *ref_table;
    char *columns[KEY_COLUMNS_MAX];
    char *ref_columns[KEY_COLUMNS_MAX];
    size_t n;
};

static void fk_clear(struct fk_group *g)
{
    my_free(g->schema);
    my_free(g->table);
    my_free(g->name);
    my_free(g->ref_schema);
    my_free(g->ref_table);
    for (size_t i = 0; i < g->n; i++) {
        my_free(g->columns[i]);
        my_free(g->ref_columns[i]);
    }
    memset(g, 0, sizeof(*g));
}

static void fk_flush(struct catalog_run *run, struct fk_group *g)
{
    if (g->name && g->n && run->sink->foreign_key && !run->stopped) {
        struct quarry_foreign_key_info fk;
        memset(&fk, 0, sizeof(fk));
        QUARRY_STRUCT_INIT(&fk);
        fk.schema = g->schema;
        fk.table = g->table;
        fk.name = g->name;
        fk.ncolumns = g->n;
        fk.columns = (const char *const *)g->columns;
        fk.ref_schema = g->ref_schema;
        fk.ref_table = g->ref_table;
        fk.ref_columns = (const char *const *)g->ref_columns;
        answer(run, run->sink->foreign_key(run->sink->userdata, &fk));
    }
    fk_clear(g);
}

static int on_fk_column(struct catalog_run *run, MYSQL_ROW row, void *state)
{
    /* schema, table, constraint, column, ref_schema, ref_table, ref_column */
    struct fk_group *g = state;
    for (int i = 0; i < 7; i++)
        if (!row[i])
            return QUARRY_OK;
    if (g->name &&
        (strcmp(g->schema, row[0]) || strcmp(g->table, row[1]) || strcmp(g->name, row[2]))) {
        fk_flush(run, g);
        if (run->stopped)
            return QUARRY_OK;
    }
    if (!g->name) {
        g->schema = my_strdup(row[0]);
        g->table = my_strdup(row[1]);
        g->name = my_strdup(row[2]);
        g->ref_schema = my_strdup(row[4]);
        g->ref_table = my_strdup(row[5]);
        if (!g->schema || !g->table || !g->name || !g->ref_schema || !g->ref_table)
            return my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    }
    if (g->n < KEY_COLUMNS_MAX) {
        g->columns[g->n] = my_strdup(row[3]);
        g->ref_columns[g->n] = my_strdup(row[6]);
        g->n++; /* counted first, so fk_clear frees a half-made pair */
        if (!g->columns[g->n - 1] || !g->ref_columns[g->n - 1])
            return my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    }
    return QUARRY_OK;
}

static int read_foreign_keys(struct catalog_run *run, struct my_sql *sql)
{
    struct fk_group g;
    memset(&g, 0, sizeof(g));
    my_sql_addf(sql,
                "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, "
                "REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
                "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA%s "
                "AND REFERENCED_TABLE_NAME IS NOT NULL "
                "ORDER BY CAST(TABLE_SCHEMA AS BINARY), CAST(TABLE_NAME AS BINARY), "
                "CAST(CONSTRAINT_NAME AS BINARY), ORDINAL_POSITION",
                run->cond);
    if (sql->failed)
        return my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    int rc = query_each(run, sql->text, on_fk_column, &g);
    if (rc == QUARRY_OK)
        fk_flush(run, &g);
    fk_clear(&g);
    return rc;
}

/* ------------------------------------------------------------------------ */

static int one_pass(struct catalog_run *run)
{
    struct my_sql sql = {0};
    int rc = read_tables(run, &sql);
    if (rc == QUARRY_OK && !run->stopped && run->conn->mysql) {
        sql.len = 0;
        rc = read_stats(run, &sql);
    }
    if (rc == QUARRY_OK && !run->stopped && run->conn->mysql) {
        sql.len = 0;
        rc = read_columns(run, &sql);
    }
    if (rc == QUARRY_OK && !run->stopped && run->conn->mysql) {
        sql.len = 0;
        rc = read_foreign_keys(run, &sql);
    }
    if (rc == QUARRY_OK && !run->stopped)
        report_indexes(run);
    my_sql_free(&sql);
    if (run->stats)
        mysql_free_result(run->stats);
    my_free(run->pk_rows);
    run->stats = NULL;
    run->pk_rows = NULL;
    run->npk = 0;
    return rc;
}

static int check_schemas(const struct quarry_introspect_opts *opts, struct quarry_error *err)
{
    if (!opts || !opts->schemas || opts->nschemas == 0)
        return QUARRY_OK;
    if (opts->nschemas > MY_SCHEMAS_MAX)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: more than %d schemas",
                       MY_SCHEMAS_MAX);
    for (size_t i = 0; i < opts->nschemas; i++) {
        const char *s = opts->schemas[i];
        size_t n = s ? strnlen(s, MY_IDENTIFIER_MAX + 1) : 0;
        if (n == 0 || n > MY_IDENTIFIER_MAX)
            return my_fail(err, QUARRY_ERR_INVALID, NULL, 0,
                           "mysql: schema names must be 1-%d bytes", MY_IDENTIFIER_MAX);
    }
    return QUARRY_OK;
}

/* Runs one pass with TABLE_SCHEMA = `schema`, or over every non-system schema. */
static int pass_for(struct catalog_run *run, const char *schema)
{
    struct my_sql cond = {0};
    if (schema) {
        my_sql_add(&cond, " = ");
        my_sql_literal(&cond, run->conn->mysql, schema);
    } else {
        my_sql_addf(&cond, " NOT IN %s", system_schemas);
    }
    int rc;
    if (cond.failed) {
        rc = my_fail(run->err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    } else {
        run->cond = cond.text;
        rc = one_pass(run);
        run->cond = NULL;
    }
    my_sql_free(&cond);
    return rc;
}

int my_catalog_introspect(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                          const struct quarry_introspect_opts *opts,
                          const struct quarry_catalog_sink *sink, struct quarry_error *err)
{
    if (!sink)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no catalog sink");
    int rc = check_schemas(opts, err);
    if (rc != QUARRY_OK)
        return rc;
    if ((rc = my_conn_start(conn, ctx, 0, err)) != QUARRY_OK)
        return rc;

    struct catalog_run run;
    memset(&run, 0, sizeof(run));
    run.conn = conn;
    run.ctx = ctx;
    run.sink = sink;
    run.err = err;
    if (opts && opts->schemas && opts->nschemas) {
        for (size_t i = 0; i < opts->nschemas && rc == QUARRY_OK && !run.stopped; i++)
            if (conn->mysql)
                rc = pass_for(&run, opts->schemas[i]);
    } else {
        rc = pass_for(&run, conn->params.database);
    }
    my_sql_free(&run.scratch);
    return rc;
}
