/*
 * The sqlite driver, loaded through the real loader and driven through its
 * vtable on real files: copies of the Chinook and Northwind fixtures, and a
 * small database built here for the edge cases (composite keys, quoted
 * names, a view, typed values).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "catalog_rec.h"
#include "driver_testlib.h"
#include "harness.h"
#include "host.h"
#include "loader.h"

static const struct quarry_driver *drv;
static char *chinook, *northwind, *edge;

/* An endless query: counts a recursive CTE that never stops producing. */
#define ENDLESS_SQL                                                                                \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

static const char EDGE_SQL[] =
    "CREATE TABLE parent (a INTEGER, b TEXT, label TEXT, PRIMARY KEY (a, b));"
    "CREATE TABLE child (id INTEGER PRIMARY KEY, pa INTEGER, pb TEXT,"
    "  note TEXT DEFAULT 'none', FOREIGN KEY (pa, pb) REFERENCES parent (a, b));"
    "CREATE INDEX child_note_lower ON child (lower(note));"
    "CREATE TABLE \"we\"\"ird tab\" (\"col \"\"q\"\"\" INTEGER NOT NULL, \"sp ace\" TEXT UNIQUE);"
    "CREATE VIEW v_child AS SELECT id, note FROM child;"
    "CREATE TABLE gone (x); CREATE VIEW v_broken AS SELECT x FROM gone; DROP TABLE gone;"
    "CREATE TABLE solo (k TEXT PRIMARY KEY);"
    "CREATE TABLE implicit_ref (x TEXT REFERENCES solo);"
    "CREATE TABLE typed (i INTEGER, r REAL, t TEXT, n TEXT, b BLOB);"
    "INSERT INTO typed VALUES (42, 2.5, 'h\xc3\xa9llo', NULL, x'00ff10');"
    "INSERT INTO parent VALUES (1, 'x', 'one'), (2, 'y', 'two');"
    "INSERT INTO child (pa, pb) VALUES (1, 'x'), (2, 'y'), (1, 'x');"
    "INSERT INTO \"we\"\"ird tab\" VALUES (1, 'a'), (2, 'b'), (3, 'c');";

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static char *make_edge_db(void)
{
    char *path = harness_tmppath("edge", ".sqlite");
    sqlite3 *db = NULL;
    int ok = path && sqlite3_open(path, &db) == SQLITE_OK &&
             sqlite3_exec(db, EDGE_SQL, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    if (!ok) {
        free(path);
        return NULL;
    }
    return path;
}

/* One integer from a query on the test's own (read-write) connection; -1 on failure. */
static int64_t direct_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t value = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0;
    *len = 0;
    if (!f)
        return NULL;
    FILE *mem = open_memstream(&data, &cap);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    fclose(f);
    *len = cap;
    return data;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static char *url_of(const char *path)
{
    char *url = NULL;
    return asprintf(&url, "sqlite:///%s", path) < 0 ? NULL : url; /* four slashes: absolute */
}

static int open_url(const char *url, struct quarry_conn **conn, struct quarry_error *err)
{
    struct quarry_open_params p;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    host_error_init(err);
    *conn = NULL;
    return drv->open(&p, conn, err);
}

static struct quarry_conn *open_path(const char *path)
{
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    char *url = url_of(path);
    int status = open_url(url, &conn, &err);
    free(url);
    if (status != QUARRY_OK)
        fprintf(stderr, "open %s: %s\n", path, err.message);
    return conn;
}

/* ------------------------------------------------------------------------ */
/* A row sink that records what it gets                                     */
/* ------------------------------------------------------------------------ */

/* Runs one statement with a fresh call (timeout_ms 0 = none) into a fresh recorder. */
static int run(struct quarry_conn *conn, const char *sql, int32_t timeout_ms, uint64_t row_limit,
               struct row_rec **out, struct quarry_error *err)
{
    return dt_run(drv, conn, sql, timeout_ms, row_limit, out, err);
}

/* Introspects the file at `path`; the recorder is the caller's. */
static struct cat_rec *introspect(const char *path, size_t stop_after_tables, int32_t timeout_ms,
                                  int *status, struct quarry_error *err)
{
    struct quarry_conn *conn = open_path(path);
    struct cat_rec *r =
        dt_introspect(drv, conn, NULL, 0, stop_after_tables, timeout_ms, status, err);
    drv->close(conn);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Suite setup                                                              */
/* ------------------------------------------------------------------------ */

/* Loads the driver once for every sqlite suite (a second load is refused as a duplicate). */
static int suite_init(void)
{
    if (!loader_find("sqlite"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, (const char *[]){"sqlite"}, 1);
    drv = loader_find("sqlite");
    if (!drv) {
        fprintf(stderr, "sqlite driver not loaded: %s\n",
                loader_refusal("sqlite") ? loader_refusal("sqlite") : "?");
        return -1;
    }
    if (!chinook)
        chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    if (!northwind)
        northwind = harness_copy_fixture("northwind/northwind.sqlite");
    if (!edge)
        edge = make_edge_db();
    return chinook && northwind && edge ? 0 : -1;
}

static int suite_cleanup(void)
{
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Driver description and exports                                           */
/* ------------------------------------------------------------------------ */

static void test_description(void)
{
    CU_ASSERT_STRING_EQUAL(drv->name, "sqlite");
    CU_ASSERT_STRING_EQUAL(drv->dialect, "sqlite");
    CU_ASSERT_EQUAL(drv->identifier_quote, '"');
    CU_ASSERT_EQUAL(drv->limit_style, QUARRY_LIMIT_LIMIT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(drv->url_schemes);
    CU_ASSERT_STRING_EQUAL(drv->url_schemes[0], "sqlite");
    CU_ASSERT_PTR_NULL(drv->url_schemes[1]);
    uint32_t want = QUARRY_CAP_SQL | QUARRY_CAP_READONLY_TX | QUARRY_CAP_SAMPLE |
                    QUARRY_CAP_CANCEL | QUARRY_CAP_STATEMENT_TIMEOUT;
    CU_ASSERT_EQUAL(drv->capabilities, want);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("SQLite"), drv);
    CU_ASSERT_PTR_NOT_NULL(drv->open);
    CU_ASSERT_PTR_NOT_NULL(drv->introspect);
    CU_ASSERT_PTR_NOT_NULL(drv->execute);
    CU_ASSERT_PTR_NOT_NULL(drv->sample);
    CU_ASSERT_PTR_NOT_NULL(drv->cancel);
}

/* Lines of a command's output that do not contain `wanted` (-1 if it could not run). */
static int lines_without(const char *cmd, const char *wanted, int *lines)
{
    FILE *p = popen(cmd, "r");
    char line[512];
    int other = 0;
    *lines = 0;
    if (!p)
        return -1;
    while (fgets(line, sizeof(line), p)) {
        (*lines)++;
        other += strstr(line, wanted) == NULL;
    }
    return pclose(p) == 0 ? other : -1;
}

static void test_exports_and_deps(void)
{
    char cmd[1024];
    int lines = 0;
    snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s/sqlite.so'", QUARRY_TEST_PLUGIN_DIR);
    CU_ASSERT_EQUAL(lines_without(cmd, " quarry_driver_entry", &lines), 0);
    CU_ASSERT_EQUAL(lines, 1);
    snprintf(cmd, sizeof(cmd), "readelf -d '%s/sqlite.so' | grep NEEDED", QUARRY_TEST_PLUGIN_DIR);
    CU_ASSERT_EQUAL(lines_without(cmd, "jansson", &lines), lines);
    CU_ASSERT(lines >= 1); /* libsqlite3 at least: the command really listed something */
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */
/* ------------------------------------------------------------------------ */

static void expect_open(const char *url, int want)
{
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    int status = open_url(url, &conn, &err);
    if (status != want)
        fprintf(stderr, "\n  open(%s): got %d (%s), want %d\n", url ? url : "NULL", status,
                err.message, want);
    CU_ASSERT_EQUAL(status, want);
    CU_ASSERT_EQUAL(err.status, want);
    if (want == QUARRY_OK) {
        CU_ASSERT_PTR_NOT_NULL(conn);
    } else {
        CU_ASSERT_PTR_NULL(conn);
        CU_ASSERT(strlen(err.message) > 10);
    }
    drv->close(conn);
}

/* "sqlite:///" + path with every space written as %20. */
static char *encoded_url_of(const char *path)
{
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    fputs("sqlite:///", mem);
    for (const char *p = path; *p; p++)
        *p == ' ' ? fputs("%20", mem) : fputc(*p, mem);
    fclose(mem);
    return out;
}

static void test_open_accepted_forms(void)
{
    char *url = NULL;
    expect_open(chinook, QUARRY_OK); /* a bare absolute path */
    CU_ASSERT_FATAL(asprintf(&url, "sqlite:///%s", chinook) > 0);
    expect_open(url, QUARRY_OK);
    free(url);
    CU_ASSERT_FATAL(asprintf(&url, "SQLite:///%s?check_same_thread=false", chinook) > 0);
    expect_open(url, QUARRY_OK);
    free(url);

    /* A space in the file name, percent-encoded in the URL. */
    char *copy = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    char *spaced = harness_tmppath("with space", ".sqlite");
    CU_ASSERT_FATAL(copy && spaced && rename(copy, spaced) == 0);
    url = encoded_url_of(spaced);
    CU_ASSERT_PTR_NOT_NULL(strstr(url, "with%20space"));
    expect_open(url, QUARRY_OK);
    free(url);
    free(spaced);
    free(copy);
}

static void test_open_refused_forms(void)
{
    char *missing = harness_tmppath("missing", ".sqlite");
    char *text = harness_tmppath("text", ".txt");
    char buf[2048];
    const char *line = "this is a text file, not a sqlite database\n";
    buf[0] = '\0';
    for (int i = 0; i < 30; i++)
        strcat(buf, line);
    CU_ASSERT_FATAL(write_file(text, buf) == 0);

    char *missing_url = url_of(missing), *text_url = url_of(text), *file_url = NULL,
         *file_abs = NULL, *bad_escape = NULL, *nul_escape = NULL;
    CU_ASSERT_FATAL(asprintf(&file_url, "file://%s", chinook) > 0);
    CU_ASSERT_FATAL(asprintf(&file_abs, "file:%s?mode=rw", chinook) > 0);
    CU_ASSERT_FATAL(asprintf(&bad_escape, "sqlite:///%s%%2", chinook) > 0);
    CU_ASSERT_FATAL(asprintf(&nul_escape, "sqlite:///%s%%00x", chinook) > 0);
    struct {
        const char *url;
        int want;
    } cases[] = {
        {"sqlite:///relative.db", QUARRY_ERR_INVALID},
        {"sqlite:///./chinook.sqlite", QUARRY_ERR_INVALID},
        {"relative.db", QUARRY_ERR_INVALID},
        {"sqlite://", QUARRY_ERR_INVALID},
        {"sqlite:///", QUARRY_ERR_INVALID},
        {"sqlite://:memory:", QUARRY_ERR_INVALID},
        {":memory:", QUARRY_ERR_INVALID},
        {"sqlite://db.example.com/data.db", QUARRY_ERR_INVALID},
        {"postgresql://localhost/chinook", QUARRY_ERR_INVALID},
        {"", QUARRY_ERR_INVALID},
        {NULL, QUARRY_ERR_INVALID},
        {file_url, QUARRY_ERR_INVALID},
        {file_abs, QUARRY_ERR_INVALID},
        {bad_escape, QUARRY_ERR_INVALID},
        {nul_escape, QUARRY_ERR_INVALID},
        {harness_tmpdir(), QUARRY_ERR_INVALID}, /* a directory */
        {missing_url, QUARRY_ERR_NOT_FOUND},
        {missing, QUARRY_ERR_NOT_FOUND},
        {text_url, QUARRY_ERR_CONNECT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_open(cases[i].url, cases[i].want);

    /* Refusing a missing file must not have created it. */
    CU_ASSERT_EQUAL(access(missing, F_OK), -1);
    /* The text file's refusal says what is wrong with it. */
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    CU_ASSERT_EQUAL(open_url(text_url, &conn, &err), QUARRY_ERR_CONNECT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not a database"));
    CU_ASSERT_EQUAL(open_url("sqlite:///relative.db", &conn, &err), QUARRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "relative"));

    free(missing_url);
    free(text_url);
    free(file_url);
    free(file_abs);
    free(bad_escape);
    free(nul_escape);
    free(missing);
    free(text);
}

static void test_ping_version(void)
{
    struct quarry_conn *conn = open_path(chinook);
    struct quarry_server_info info;
    struct quarry_error err;
    struct host_call call;
    char want[128];
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    memset(&info, 0, sizeof(info));
    QUARRY_STRUCT_INIT(&info);
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, &info, &err), QUARRY_OK);
    snprintf(want, sizeof(want), "SQLite %s", sqlite3_libversion());
    CU_ASSERT_STRING_EQUAL(info.version, want);
    CU_ASSERT_EQUAL(strncmp(info.version, "SQLite 3.", 9), 0);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */
/* Introspection                                                            */
/* ------------------------------------------------------------------------ */

static void test_introspect_chinook(void)
{
    static const struct {
        const char *name;
        int64_t rows;
    } expected[] = {{"Album", 347},          {"Artist", 275},  {"Customer", 59},
                    {"Employee", 8},         {"Genre", 25},    {"Invoice", 412},
                    {"InvoiceLine", 2240},   {"MediaType", 5}, {"Playlist", 18},
                    {"PlaylistTrack", 8715}, {"Track", 3503}};
    struct quarry_error err;
    int status;
    struct cat_rec *r = introspect(chinook, 0, 30000, &status, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 11);
    CU_ASSERT_EQUAL(r->misordered, 0);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        const struct cat_table *t = find_table(r, expected[i].name);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (t) {
            CU_ASSERT_EQUAL(t->kind, QUARRY_TABLE);
            CU_ASSERT_EQUAL(t->rows, expected[i].rows);
        }
    }

    /* Track: 9 columns in order, TrackId the primary key. */
    static const char *const track[] = {"TrackId",      "Name",    "AlbumId",
                                        "MediaTypeId",  "GenreId", "Composer",
                                        "Milliseconds", "Bytes",   "UnitPrice"};
    CU_ASSERT_EQUAL(count_columns(r, "Track"), 9);
    for (int i = 0; i < 9; i++) {
        const struct cat_column *c = find_column(r, "Track", track[i]);
        CU_ASSERT_PTR_NOT_NULL(c);
        if (c) {
            CU_ASSERT_EQUAL(c->ordinal, i + 1);
            CU_ASSERT_EQUAL(c->pk, i == 0 ? 1 : 0);
        }
    }
    const struct cat_column *c = find_column(r, "Track", "Name");
    CU_ASSERT(c && c->type && strcmp(c->type, "NVARCHAR(200)") == 0 && c->nullable == 0);
    c = find_column(r, "Track", "Composer");
    CU_ASSERT(c && c->nullable == 1 && c->dflt == NULL);
    c = find_column(r, "Track", "UnitPrice");
    CU_ASSERT(c && c->type && strcmp(c->type, "NUMERIC(10,2)") == 0);

    /* Foreign keys, the self reference included. */
    const struct cat_fk *fk = find_fk(r, "Track", "AlbumId");
    CU_ASSERT(fk && strcmp(fk->ref_table, "Album") == 0 && strcmp(fk->ref_cols, "AlbumId") == 0);
    CU_ASSERT_PTR_NOT_NULL(find_fk(r, "Track", "GenreId"));
    CU_ASSERT_PTR_NOT_NULL(find_fk(r, "Track", "MediaTypeId"));
    fk = find_fk(r, "Employee", "ReportsTo");
    CU_ASSERT(fk && strcmp(fk->ref_table, "Employee") == 0 &&
              strcmp(fk->ref_cols, "EmployeeId") == 0);
    fk = find_fk(r, "PlaylistTrack", "TrackId");
    CU_ASSERT(fk && strcmp(fk->ref_table, "Track") == 0);

    /* Indexes: a plain one, and the composite primary key's own. */
    const struct cat_index *ix = find_index(r, "IFK_TrackAlbumId");
    CU_ASSERT(ix && strcmp(ix->table, "Track") == 0 && strcmp(ix->cols, "AlbumId") == 0 &&
              !ix->unique && !ix->primary);
    ix = find_index(r, "sqlite_autoindex_PlaylistTrack_1");
    CU_ASSERT(ix && strcmp(ix->cols, "PlaylistId,TrackId") == 0 && ix->unique && ix->primary);
    c = find_column(r, "PlaylistTrack", "TrackId");
    CU_ASSERT(c && c->pk == 2);
    /* No sqlite_ internals reported as tables. */
    for (size_t i = 0; i < r->ntables; i++)
        CU_ASSERT(strncmp(r->tables[i].name, "sqlite_", 7) != 0);
    cat_free(r);
}

static void test_introspect_northwind_views(void)
{
    struct quarry_error err;
    int status;
    struct cat_rec *r = introspect(northwind, 0, 30000, &status, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->misordered, 0);
    int64_t views = direct_int(northwind, "SELECT count(*) FROM sqlite_schema WHERE type='view'");
    int64_t tables = direct_int(northwind, "SELECT count(*) FROM sqlite_schema WHERE type='table'"
                                           " AND name NOT LIKE 'sqlite%'");
    CU_ASSERT(views > 0);
    CU_ASSERT_EQUAL((int64_t)r->ntables, views + tables);
    size_t nviews = 0;
    for (size_t i = 0; i < r->ntables; i++)
        if (r->tables[i].kind == QUARRY_VIEW) {
            nviews++;
            CU_ASSERT_EQUAL(r->tables[i].rows, -1);
        }
    CU_ASSERT_EQUAL((int64_t)nviews, views);

    /* A table and a view with spaces in their names. */
    const struct cat_table *t = find_table(r, "Order Details");
    CU_ASSERT(t && t->kind == QUARRY_TABLE &&
              t->rows == direct_int(northwind, "SELECT count(*) FROM \"Order Details\""));
    t = find_table(r, "Order Details Extended");
    CU_ASSERT(t && t->kind == QUARRY_VIEW);
    CU_ASSERT(count_columns(r, "Order Details Extended") > 0);
    cat_free(r);
}

static void test_introspect_edge_cases(void)
{
    struct quarry_error err;
    int status;
    struct cat_rec *r = introspect(edge, 0, 30000, &status, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->misordered, 0);

    /* A two-column foreign key, reported once with its columns in order. */
    const struct cat_fk *fk = find_fk(r, "child", "pa,pb");
    CU_ASSERT(fk && strcmp(fk->ref_table, "parent") == 0 && strcmp(fk->ref_cols, "a,b") == 0);
    CU_ASSERT_PTR_NULL(find_fk(r, "child", "pa"));
    /* REFERENCES without columns: the parent's primary key. */
    fk = find_fk(r, "implicit_ref", "x");
    CU_ASSERT(fk && strcmp(fk->ref_table, "solo") == 0 && strcmp(fk->ref_cols, "k") == 0);

    const struct cat_column *c = find_column(r, "parent", "b");
    CU_ASSERT(c && c->pk == 2);
    c = find_column(r, "child", "id");
    CU_ASSERT(c && c->pk == 1 && c->nullable == 0); /* the rowid alias */
    c = find_column(r, "child", "note");
    CU_ASSERT(c && c->dflt && strcmp(c->dflt, "'none'") == 0 && c->nullable == 1);

    /* Quotes and spaces in names come back verbatim, and counting them works. */
    const struct cat_table *t = find_table(r, "we\"ird tab");
    CU_ASSERT(t && t->kind == QUARRY_TABLE && t->rows == 3);
    c = find_column(r, "we\"ird tab", "col \"q\"");
    CU_ASSERT(c && c->nullable == 0 && c->type && strcmp(c->type, "INTEGER") == 0);
    CU_ASSERT_PTR_NOT_NULL(find_column(r, "we\"ird tab", "sp ace"));
    const struct cat_index *ix = find_index(r, "sqlite_autoindex_we\"ird tab_1");
    CU_ASSERT(ix && ix->unique && !ix->primary && strcmp(ix->cols, "sp ace") == 0);

    /* An expression index has a NULL column entry. */
    ix = find_index(r, "child_note_lower");
    CU_ASSERT(ix && strcmp(ix->cols, "<expr>") == 0 && !ix->unique);
    ix = find_index(r, "sqlite_autoindex_parent_1");
    CU_ASSERT(ix && ix->primary && strcmp(ix->cols, "a,b") == 0);

    t = find_table(r, "v_child");
    CU_ASSERT(t && t->kind == QUARRY_VIEW && t->rows == -1);
    CU_ASSERT_EQUAL(count_columns(r, "v_child"), 2);
    /* A view over a dropped table is still reported; its columns cannot be, and that is no error.
     */
    t = find_table(r, "v_broken");
    CU_ASSERT(t && t->kind == QUARRY_VIEW);
    CU_ASSERT_EQUAL(count_columns(r, "v_broken"), 0);
    cat_free(r);
}

static void test_introspect_stop(void)
{
    struct quarry_error err;
    int status;
    struct cat_rec *r = introspect(chinook, 3, 30000, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 3);
    CU_ASSERT_EQUAL(r->after_stop, 0);
    cat_free(r);
}

static void test_introspect_deadline(void)
{
    struct quarry_error err;
    int status;
    /* A negative budget: the deadline has already passed when the call starts. */
    struct cat_rec *r = introspect(chinook, 0, -1, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT(r->ntables < 11);
    cat_free(r);
}

/* ------------------------------------------------------------------------ */
/* Execute                                                                  */
/* ------------------------------------------------------------------------ */

static void test_execute_typed_values(void)
{
    struct quarry_conn *conn = open_path(edge);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_EQUAL(run(conn, "SELECT i, r, t, n, b FROM typed", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->begun, 1);
    CU_ASSERT_EQUAL(r->ended, 1);
    CU_ASSERT_EQUAL_FATAL(r->ncols, 5);
    CU_ASSERT_EQUAL_FATAL(r->nrows, 1);
    static const char *const names[] = {"i", "r", "t", "n", "b"};
    static const char *const decls[] = {"INTEGER", "REAL", "TEXT", "TEXT", "BLOB"};
    static const int types[] = {QUARRY_VALUE_INT, QUARRY_VALUE_DOUBLE, QUARRY_VALUE_TEXT,
                                QUARRY_VALUE_TEXT, QUARRY_VALUE_BLOB};
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_STRING_EQUAL(r->names[i], names[i]);
        CU_ASSERT(r->decls[i] && strcmp(r->decls[i], decls[i]) == 0);
        CU_ASSERT_EQUAL(r->types[i], types[i]);
    }
    struct rec_value *v = r->rows[0];
    CU_ASSERT(v[0].type == QUARRY_VALUE_INT && v[0].i == 42);
    CU_ASSERT(v[1].type == QUARRY_VALUE_DOUBLE && v[1].d == 2.5);
    CU_ASSERT(v[2].type == QUARRY_VALUE_TEXT && v[2].len == 6 &&
              memcmp(v[2].str, "h\xc3\xa9llo", 6) == 0);
    CU_ASSERT_EQUAL(v[3].type, QUARRY_VALUE_NULL);
    CU_ASSERT(v[4].type == QUARRY_VALUE_BLOB && v[4].len == 3 &&
              memcmp(v[4].str, "\x00\xff\x10", 3) == 0);
    rec_free(r);

    /* Expressions declare no type: the first row's types stand in. */
    CU_ASSERT_EQUAL(run(conn, "SELECT 1 + 1 AS two, 'x' || 'y' AS s, 0.5 AS h", 5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r->ncols, 3);
    CU_ASSERT(r->decls[0] == NULL && r->types[0] == QUARRY_VALUE_INT);
    CU_ASSERT_EQUAL(r->types[1], QUARRY_VALUE_TEXT);
    CU_ASSERT_EQUAL(r->types[2], QUARRY_VALUE_DOUBLE);
    CU_ASSERT(r->rows[0][0].i == 2 && strcmp(r->rows[0][1].str, "xy") == 0);
    rec_free(r);
    drv->close(conn);
}

static void test_execute_chinook_join(void)
{
    struct quarry_conn *conn = open_path(chinook);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    const char *sql = "SELECT g.Name, count(*) AS n FROM Track t JOIN Genre g"
                      " ON g.GenreId = t.GenreId GROUP BY g.Name ORDER BY n DESC LIMIT 1";
    CU_ASSERT_EQUAL(run(conn, sql, 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r->nrows, 1);
    CU_ASSERT_EQUAL(r->rows[0][1].i,
                    direct_int(chinook, "SELECT count(*) FROM Track t JOIN Genre g ON g.GenreId"
                                        " = t.GenreId GROUP BY g.Name ORDER BY 1 DESC LIMIT 1"));
    rec_free(r);

    /* Trailing semicolons and comments are still one statement. */
    const char *one[] = {"SELECT 1;",
                         "SELECT 1; -- done\n",
                         "SELECT 1 /* a */ ; /* b */  ;",
                         "PRAGMA table_info(\"Album\")",
                         "SELECT name FROM pragma_table_info('Album') ORDER BY cid",
                         "SELECT value FROM json_each('[1, 2, 3]')"};
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        CU_ASSERT_EQUAL(run(conn, one[i], 5000, 0, &r, &err), QUARRY_OK);
        CU_ASSERT(r->nrows >= 1 && r->ended == 1);
        rec_free(r);
    }
    drv->close(conn);
}

static void test_execute_query_errors(void)
{
    struct quarry_conn *conn = open_path(chinook);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_EQUAL(run(conn, "SELECT * FROM NoSuchTable", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no such table"));
    CU_ASSERT_EQUAL(err.native_code, SQLITE_ERROR);
    CU_ASSERT_EQUAL(r->begun, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, "SELEC 1", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "syntax error"));
    rec_free(r);
    drv->close(conn);
}

static void test_execute_refuses_writes(void)
{
    char *other = harness_tmppath("attach", ".sqlite");
    char *vacuum_into = harness_tmppath("vacuum", ".sqlite");
    char *attach = NULL, *vacuum = NULL;
    CU_ASSERT_FATAL(write_file(other, "") == 0);
    CU_ASSERT_FATAL(asprintf(&attach, "ATTACH DATABASE '%s' AS other", other) > 0);
    CU_ASSERT_FATAL(asprintf(&vacuum, "VACUUM INTO '%s'", vacuum_into) > 0);
    struct {
        const char *sql;
        int want;
    } cases[] = {
        {"INSERT INTO Genre (Name) VALUES ('Polka')", QUARRY_ERR_READONLY},
        {"REPLACE INTO Genre (GenreId, Name) VALUES (1, 'x')", QUARRY_ERR_READONLY},
        {"UPDATE Track SET Name = 'x'", QUARRY_ERR_READONLY},
        {"DELETE FROM InvoiceLine", QUARRY_ERR_READONLY},
        {"WITH g AS (SELECT 'x') INSERT INTO Genre (Name) SELECT * FROM g", QUARRY_ERR_READONLY},
        {"DROP TABLE Album", QUARRY_ERR_READONLY},
        {"DROP INDEX IFK_TrackAlbumId", QUARRY_ERR_READONLY},
        {"CREATE TABLE t (x)", QUARRY_ERR_READONLY},
        {"CREATE TEMP TABLE t (x)", QUARRY_ERR_READONLY},
        {"CREATE INDEX i ON Album (Title)", QUARRY_ERR_READONLY},
        {"ALTER TABLE Album ADD COLUMN x", QUARRY_ERR_READONLY},
        {attach, QUARRY_ERR_READONLY},
        {"DETACH DATABASE main", QUARRY_ERR_READONLY},
        {"PRAGMA user_version = 7", QUARRY_ERR_READONLY},
        {"PRAGMA query_only = 0", QUARRY_ERR_READONLY},
        {"PRAGMA journal_mode = DELETE", QUARRY_ERR_READONLY},
        {"PRAGMA wal_checkpoint", QUARRY_ERR_READONLY},
        {"BEGIN IMMEDIATE", QUARRY_ERR_READONLY},
        {"SAVEPOINT s", QUARRY_ERR_READONLY},
        {"REINDEX", QUARRY_ERR_READONLY},
        {"ANALYZE", QUARRY_ERR_READONLY},
        {"VACUUM", QUARRY_ERR_READONLY},
        {vacuum, QUARRY_ERR_READONLY},
        {"SELECT load_extension('/lib/x86_64-linux-gnu/libm.so.6')", QUARRY_ERR_READONLY},
        {"SELECT 1; SELECT 2", QUARRY_ERR_INVALID},
        {"SELECT 1; DELETE FROM InvoiceLine", QUARRY_ERR_INVALID},
        {"SELECT 1 -- c\n; x", QUARRY_ERR_INVALID},
        {"", QUARRY_ERR_INVALID},
        {"  -- only a comment", QUARRY_ERR_INVALID},
    };
    size_t before_len = 0, after_len = 0;
    char *before = read_file(chinook, &before_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    struct quarry_conn *conn = open_path(chinook);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct quarry_error err;
        struct row_rec *r = NULL;
        int status = run(conn, cases[i].sql, 5000, 0, &r, &err);
        if (status != cases[i].want)
            fprintf(stderr, "\n  execute(%s): got %d (%s), want %d\n", cases[i].sql, status,
                    err.message, cases[i].want);
        CU_ASSERT_EQUAL(status, cases[i].want);
        CU_ASSERT(strlen(err.message) > 10);
        CU_ASSERT_EQUAL(r->begun, 0);
        rec_free(r);
    }
    /* The connection still reads, and nothing changed on disk. */
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL(run(conn, "SELECT count(*) FROM Genre", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT(r->nrows == 1 && r->rows[0][0].i == 25);
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, "SELECT count(*) FROM InvoiceLine", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT(r->nrows == 1 && r->rows[0][0].i == 2240);
    rec_free(r);
    drv->close(conn);
    char *after = read_file(chinook, &after_len);
    CU_ASSERT(after && after_len == before_len && memcmp(before, after, before_len) == 0);
    CU_ASSERT_EQUAL(access(vacuum_into, F_OK), -1);
    char *journal = NULL;
    CU_ASSERT_FATAL(asprintf(&journal, "%s-journal", chinook) > 0);
    CU_ASSERT_EQUAL(access(journal, F_OK), -1);
    free(journal);
    free(before);
    free(after);
    free(attach);
    free(vacuum);
    free(other);
    free(vacuum_into);
}

static void test_execute_row_cap(void)
{
    struct quarry_conn *conn = open_path(chinook);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_EQUAL(run(conn, "SELECT * FROM Track", 5000, 10, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 10);
    CU_ASSERT_EQUAL(r->ncols, 9);
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);

    /* The sink's STOP ends the result normally too. */
    struct host_call call;
    struct quarry_row_sink sink;
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    r = rec_new(&sink);
    r->stop_after = 3;
    CU_ASSERT_EQUAL(drv->execute(conn, &call.ctx, "SELECT * FROM Track", &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);

    /* An endless generator stops at the cap without waiting for the deadline. */
    int64_t start = host_now_ms();
    CU_ASSERT_EQUAL(run(conn,
                        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
                        " SELECT x FROM c",
                        10000, 25, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 25);
    CU_ASSERT(r->rows[24][0].i == 25);
    CU_ASSERT(host_now_ms() - start < 2000);
    rec_free(r);
    drv->close(conn);
}

static void test_execute_deadline(void)
{
    struct quarry_conn *conn = open_path(chinook);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    int64_t start = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, ENDLESS_SQL, 300, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    int64_t took = host_now_ms() - start;
    CU_ASSERT(took >= 290 && took < 1500);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(r->ended, 0);
    rec_free(r);
    /* The connection recovers for the next call. */
    CU_ASSERT_EQUAL(run(conn, "SELECT 1", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 1);
    rec_free(r);
    drv->close(conn);
}

struct canceller {
    struct quarry_conn *conn;
    struct host_call *call; /* cancel through the host's ctx when set, else driver->cancel */
    atomic_int done;
};

/* Cancels every 50 ms until the call returns, so a cancel before the first step is retried. */
static void *cancel_thread(void *arg)
{
    struct canceller *c = arg;
    usleep(100 * 1000);
    for (int i = 0; i < 100 && !atomic_load(&c->done); i++) {
        if (c->call)
            host_call_cancel(c->call);
        else
            drv->cancel(c->conn);
        usleep(50 * 1000);
    }
    return NULL;
}

static void cancel_case(int through_host)
{
    struct quarry_conn *conn = open_path(chinook);
    struct quarry_error err;
    struct host_call call;
    struct quarry_row_sink sink;
    struct canceller c;
    pthread_t thread;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    host_call_init(&call, 10000, 0);
    host_error_init(&err);
    struct row_rec *r = rec_new(&sink);
    c.conn = conn;
    c.call = through_host ? &call : NULL;
    atomic_init(&c.done, 0);
    int64_t start = host_now_ms();
    CU_ASSERT_FATAL(pthread_create(&thread, NULL, cancel_thread, &c) == 0);
    int status = drv->execute(conn, &call.ctx, ENDLESS_SQL, &sink, &err);
    atomic_store(&c.done, 1);
    pthread_join(thread, NULL);
    CU_ASSERT_EQUAL(status, QUARRY_ERR_CANCELLED);
    CU_ASSERT(host_now_ms() - start < 5000);
    rec_free(r);
    /* The next call on the same connection runs normally. */
    CU_ASSERT_EQUAL(run(conn, "SELECT count(*) FROM Album", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT(r->nrows == 1 && r->rows[0][0].i == 347);
    rec_free(r);
    drv->close(conn);
}

static void test_cancel_from_thread(void)
{
    cancel_case(0);
}

static void test_cancel_through_host_ctx(void)
{
    cancel_case(1);
}

/* ------------------------------------------------------------------------ */
/* Sample                                                                   */
/* ------------------------------------------------------------------------ */

static int sample(struct quarry_conn *conn, const char *schema, const char *table, uint32_t n,
                  uint64_t row_limit, struct row_rec **out, struct quarry_error *err)
{
    struct host_call call;
    struct quarry_row_sink sink;
    host_call_init(&call, 5000, row_limit);
    host_error_init(err);
    *out = rec_new(&sink);
    return drv->sample(conn, &call.ctx, schema, table, n, &sink, err);
}

static void test_sample(void)
{
    struct quarry_conn *conn = open_path(chinook);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_EQUAL(sample(conn, NULL, "Track", 5, 0, &r, &err), QUARRY_OK);
    CU_ASSERT(r->nrows == 5 && r->ncols == 9 && r->ended == 1);
    CU_ASSERT_STRING_EQUAL(r->names[0], "TrackId");
    CU_ASSERT_EQUAL(r->rows[0][0].type, QUARRY_VALUE_INT);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "main", "genre", 100, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 25); /* the whole table, matched case-insensitively */
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "", "Genre", 100, 7, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 7); /* the call's row limit wins */
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, NULL, "NoSuchTable", 5, 0, &r, &err), QUARRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(r->begun, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "other", "Track", 5, 0, &r, &err), QUARRY_ERR_NOT_FOUND);
    rec_free(r);
    /* A name that would break naive quoting is a missing table, not an injection. */
    CU_ASSERT_EQUAL(sample(conn, NULL, "Track\"; DROP TABLE \"Album", 5, 0, &r, &err),
                    QUARRY_ERR_NOT_FOUND);
    rec_free(r);
    drv->close(conn);

    conn = open_path(edge);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_EQUAL(sample(conn, NULL, "we\"ird tab", 2, 0, &r, &err), QUARRY_OK);
    CU_ASSERT(r->nrows == 2 && r->ncols == 2);
    CU_ASSERT_STRING_EQUAL(r->names[0], "col \"q\"");
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, NULL, "v_child", 10, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    rec_free(r);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */

void register_sqlite_driver_tests(void)
{
    CU_pSuite s = CU_add_suite("sqlite_open", suite_init, suite_cleanup);
    CU_add_test(s, "description, schemes and capabilities", test_description);
    CU_add_test(s, "only quarry_driver_entry exported, no jansson", test_exports_and_deps);
    CU_add_test(s, "URL forms accepted", test_open_accepted_forms);
    CU_add_test(s, "URL forms and files refused", test_open_refused_forms);
    CU_add_test(s, "ping reports the SQLite version", test_ping_version);

    s = CU_add_suite("sqlite_introspect", suite_init, suite_cleanup);
    CU_add_test(s, "Chinook tables, columns, keys, indexes, counts", test_introspect_chinook);
    CU_add_test(s, "Northwind views and spaced names", test_introspect_northwind_views);
    CU_add_test(s, "composite and implicit keys, quoted names", test_introspect_edge_cases);
    CU_add_test(s, "STOP from the sink ends the walk", test_introspect_stop);
    CU_add_test(s, "a passed deadline stops the walk", test_introspect_deadline);

    s = CU_add_suite("sqlite_execute", suite_init, suite_cleanup);
    CU_add_test(s, "typed values and column types", test_execute_typed_values);
    CU_add_test(s, "a join on Chinook; one statement with trailers", test_execute_chinook_join);
    CU_add_test(s, "sqlite errors map to QUERY", test_execute_query_errors);
    CU_add_test(s, "writes and multiple statements refused, file unchanged",
                test_execute_refuses_writes);
    CU_add_test(s, "row cap and sink STOP", test_execute_row_cap);
    CU_add_test(s, "an endless query stops at the deadline", test_execute_deadline);
    CU_add_test(s, "cancel from another thread", test_cancel_from_thread);
    CU_add_test(s, "cancel through the host's ctx", test_cancel_through_host_ctx);

    s = CU_add_suite("sqlite_sample", suite_init, suite_cleanup);
    CU_add_test(s, "sample rows, limits, unknown tables", test_sample);
}
