/*
 * The mysql driver, loaded through the real loader and driven through its
 * vtable against a real MariaDB server on loopback. The server, Chinook and
 * the extra test objects (database quarry_extra) come from
 *
 *     eval "$(bash .ci/services/mariadb.sh start)"
 *
 * which exports the QUARRY_TEST_MYSQL_* variables read here. Without them
 * every test fails and says so: nothing is skipped silently.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "driver_testlib.h"
#include "harness.h"
#include "host.h"
#include "loader.h"

static const struct quarry_driver *drv;
static const char *main_url, *ro_url, *enc_url, *ca_path, *other_ca_path, *socket_path;

/* Endless enough: 3503^2 rows, streamed as fast as the server makes them. */
#define HUGE_SQL "SELECT a.TrackId, b.TrackId, a.Name FROM Track a CROSS JOIN Track b"

/* Every test begins here: no server, no driver -> a failure that says why. */
#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (!main_url || !ro_url || !enc_url || !ca_path || !other_ca_path || !socket_path) {      \
            CU_FAIL_FATAL("QUARRY_TEST_MYSQL_URL is not set: run "                                 \
                          "eval \"$(bash .ci/services/mariadb.sh start)\" first");                 \
        }                                                                                          \
        CU_ASSERT_PTR_NOT_NULL_FATAL(drv);                                                         \
    } while (0)

/* ------------------------------------------------------------------------ */
/* URLs                                                                     */
/* ------------------------------------------------------------------------ */

/* The parts of a URL the setup script printed (well formed by construction). */
struct url_parts {
    char scheme[32], user[64], password[128], hostport[128], database[80], query[256];
};

static void url_split(const char *url, struct url_parts *p)
{
    memset(p, 0, sizeof(*p));
    const char *s = strstr(url, "://"), *at = strchr(url, '@');
    snprintf(p->scheme, sizeof(p->scheme), "%.*s", (int)(s - url), url);
    s += 3;
    const char *colon = strchr(s, ':');
    snprintf(p->user, sizeof(p->user), "%.*s", (int)(colon - s), s);
    snprintf(p->password, sizeof(p->password), "%.*s", (int)(at - colon - 1), colon + 1);
    const char *slash = strchr(at, '/'), *q = strchr(at, '?');
    snprintf(p->hostport, sizeof(p->hostport), "%.*s", (int)(slash - at - 1), at + 1);
    snprintf(p->database, sizeof(p->database), "%.*s",
             (int)(q ? (size_t)(q - slash - 1) : strlen(slash + 1)), slash + 1);
    snprintf(p->query, sizeof(p->query), "%s", q ? q + 1 : "");
}

static char *url_join(const struct url_parts *p)
{
    char *url = NULL;
    if (asprintf(&url, "%s://%s%s%s@%s/%s%s%s", p->scheme, p->user, p->password[0] ? ":" : "",
                 p->password, p->hostport, p->database, p->query[0] ? "?" : "", p->query) < 0)
        return NULL;
    return url;
}

/* The main URL with one part replaced (NULL keeps it). Caller frees. */
static char *url_with(const char *scheme, const char *password, const char *hostport,
                      const char *database, const char *query)
{
    struct url_parts p;
    url_split(main_url, &p);
    if (scheme)
        snprintf(p.scheme, sizeof(p.scheme), "%.*s", (int)sizeof(p.scheme) - 1, scheme);
    if (password)
        snprintf(p.password, sizeof(p.password), "%.*s", (int)sizeof(p.password) - 1, password);
    if (hostport)
        snprintf(p.hostport, sizeof(p.hostport), "%.*s", (int)sizeof(p.hostport) - 1, hostport);
    if (database)
        snprintf(p.database, sizeof(p.database), "%.*s", (int)sizeof(p.database) - 1, database);
    if (query)
        snprintf(p.query, sizeof(p.query), "%.*s", (int)sizeof(p.query) - 1, query);
    return url_join(&p);
}

static int open_with(const char *url, const struct quarry_kv *params, size_t nparams,
                     struct quarry_conn **conn, struct quarry_error *err)
{
    struct quarry_open_params p;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    p.params = params;
    p.nparams = nparams;
    p.connect_timeout_ms = 5000;
    host_error_init(err);
    *conn = NULL;
    return drv->open(&p, conn, err);
}

static struct quarry_conn *open_url(const char *url)
{
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    if (open_with(url, NULL, 0, &conn, &err) != QUARRY_OK)
        fprintf(stderr, "\n  open: %s\n", err.message);
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

/* The one integer a query returns, or -1. */
static int64_t query_int(struct quarry_conn *conn, const char *sql)
{
    struct quarry_error err;
    struct row_rec *r = NULL;
    int64_t v = -1;
    if (run(conn, sql, 10000, 0, &r, &err) == QUARRY_OK && r->nrows == 1 &&
        r->rows[0][0].type == QUARRY_VALUE_INT)
        v = r->rows[0][0].i;
    rec_free(r);
    return v;
}

/* The one text a query returns (caller frees), or NULL. */
static char *query_text(struct quarry_conn *conn, const char *sql)
{
    struct quarry_error err;
    struct row_rec *r = NULL;
    char *v = NULL;
    if (run(conn, sql, 10000, 0, &r, &err) == QUARRY_OK && r->nrows == 1 && r->rows[0][0].str)
        v = strdup(r->rows[0][0].str);
    rec_free(r);
    return v;
}

/* ------------------------------------------------------------------------ */
/* A catalog sink that records what it gets                                 */
/* ------------------------------------------------------------------------ */

#define CAT_MAX 512

struct cat_table {
    char *schema, *name, *comment;
    int kind;
    int64_t rows;
};
struct cat_column {
    char *schema, *table, *name, *type, *dflt, *comment;
    int ordinal, nullable, pk;
};
struct cat_fk {
    char *schema, *table, *name, *cols, *ref_schema, *ref_table, *ref_cols;
};
struct cat_index {
    char *schema, *table, *name, *cols;
    int unique, primary;
};

struct cat_rec {
    size_t stop_after_tables;
    int stopped, after_stop, unknown_table;
    size_t ntables, ncolumns, nfks, nindexes;
    struct cat_table tables[CAT_MAX];
    struct cat_column columns[CAT_MAX];
    struct cat_fk fks[CAT_MAX];
    struct cat_index indexes[CAT_MAX];
};

/* An entry must follow its table's report, and nothing may follow a STOP. */
static void cat_check(struct cat_rec *r, const char *schema, const char *table)
{
    int known = 0;
    if (r->stopped)
        r->after_stop++;
    for (size_t i = 0; i < r->ntables && i < CAT_MAX; i++)
        known |= strcmp(r->tables[i].schema, schema) == 0 && strcmp(r->tables[i].name, table) == 0;
    r->unknown_table += !known;
}

static int cat_table_cb(void *ud, const struct quarry_table_info *t)
{
    struct cat_rec *r = ud;
    if (r->stopped)
        r->after_stop++;
    if (r->ntables < CAT_MAX) {
        struct cat_table *e = &r->tables[r->ntables];
        e->schema = dup_or_null(t->schema);
        e->name = strdup(t->name);
        e->comment = dup_or_null(t->comment);
        e->kind = t->kind;
        e->rows = t->row_estimate;
    }
    r->ntables++;
    if (r->stop_after_tables && r->ntables >= r->stop_after_tables) {
        r->stopped = 1;
        return QUARRY_SINK_STOP;
    }
    return QUARRY_SINK_CONTINUE;
}

static int cat_column_cb(void *ud, const struct quarry_column_info *c)
{
    struct cat_rec *r = ud;
    cat_check(r, c->schema, c->table);
    if (r->ncolumns < CAT_MAX) {
        struct cat_column *e = &r->columns[r->ncolumns];
        e->schema = strdup(c->schema);
        e->table = strdup(c->table);
        e->name = strdup(c->name);
        e->type = dup_or_null(c->type);
        e->dflt = dup_or_null(c->default_value);
        e->comment = dup_or_null(c->comment);
        e->ordinal = c->ordinal;
        e->nullable = c->nullable;
        e->pk = c->pk_position;
    }
    r->ncolumns++;
    return QUARRY_SINK_CONTINUE;
}

static int cat_fk_cb(void *ud, const struct quarry_foreign_key_info *fk)
{
    struct cat_rec *r = ud;
    cat_check(r, fk->schema, fk->table);
    if (r->nfks < CAT_MAX) {
        struct cat_fk *e = &r->fks[r->nfks];
        e->schema = strdup(fk->schema);
        e->table = strdup(fk->table);
        e->name = dup_or_null(fk->name);
        e->cols = join(fk->columns, fk->ncolumns);
        e->ref_schema = dup_or_null(fk->ref_schema);
        e->ref_table = strdup(fk->ref_table);
        e->ref_cols = join(fk->ref_columns, fk->ncolumns);
    }
    r->nfks++;
    return QUARRY_SINK_CONTINUE;
}

static int cat_index_cb(void *ud, const struct quarry_index_info *ix)
{
    struct cat_rec *r = ud;
    cat_check(r, ix->schema, ix->table);
    if (r->nindexes < CAT_MAX) {
        struct cat_index *e = &r->indexes[r->nindexes];
        e->schema = strdup(ix->schema);
        e->table = strdup(ix->table);
        e->name = strdup(ix->name);
        e->cols = join(ix->columns, ix->ncolumns);
        e->unique = ix->unique;
        e->primary = ix->primary;
    }
    r->nindexes++;
    return QUARRY_SINK_CONTINUE;
}

static void cat_free(struct cat_rec *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < CAT_MAX; i++) {
        struct cat_table *t = &r->tables[i];
        struct cat_column *c = &r->columns[i];
        struct cat_fk *f = &r->fks[i];
        struct cat_index *x = &r->indexes[i];
        char *all[] = {t->schema,   t->name,   t->comment, c->schema,     c->table,
                       c->name,     c->type,   c->dflt,    c->comment,    f->schema,
                       f->table,    f->name,   f->cols,    f->ref_schema, f->ref_table,
                       f->ref_cols, x->schema, x->table,   x->name,       x->cols};
        for (size_t j = 0; j < sizeof(all) / sizeof(all[0]); j++)
            free(all[j]);
    }
    free(r);
}

/* Introspects through `conn` (schemas NULL: the driver's default). */
static struct cat_rec *introspect_within(struct quarry_conn *conn, const char *const *schemas,
                                         size_t nschemas, size_t stop_after_tables,
                                         int32_t timeout_ms, int *status, struct quarry_error *err)
{
    struct cat_rec *r = calloc(1, sizeof(*r));
    struct host_call call;
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = r;
    sink.table = cat_table_cb;
    sink.column = cat_column_cb;
    sink.foreign_key = cat_fk_cb;
    sink.index = cat_index_cb;
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    opts.schemas = schemas;
    opts.nschemas = nschemas;
    r->stop_after_tables = stop_after_tables;
    host_call_init(&call, timeout_ms, 0);
    host_error_init(err);
    *status = drv->introspect(conn, &call.ctx, &opts, &sink, err);
    if (*status != QUARRY_OK && getenv("QUARRY_TEST_VERBOSE"))
        fprintf(stderr, "\n  introspect: %s\n", err->message);
    return r;
}

static struct cat_rec *introspect(struct quarry_conn *conn, const char *const *schemas,
                                  size_t nschemas, size_t stop_after_tables, int *status,
                                  struct quarry_error *err)
{
    return introspect_within(conn, schemas, nschemas, stop_after_tables, 20000, status, err);
}

static const struct cat_table *find_table(const struct cat_rec *r, const char *schema,
                                          const char *name)
{
    for (size_t i = 0; i < r->ntables && i < CAT_MAX; i++)
        if (strcmp(r->tables[i].schema, schema) == 0 && strcmp(r->tables[i].name, name) == 0)
            return &r->tables[i];
    return NULL;
}

static const struct cat_column *find_column(const struct cat_rec *r, const char *table,
                                            const char *name)
{
    for (size_t i = 0; i < r->ncolumns && i < CAT_MAX; i++)
        if (strcmp(r->columns[i].table, table) == 0 && strcmp(r->columns[i].name, name) == 0)
            return &r->columns[i];
    return NULL;
}

static size_t count_columns(const struct cat_rec *r, const char *table)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ncolumns && i < CAT_MAX; i++)
        n += strcmp(r->columns[i].table, table) == 0;
    return n;
}

static const struct cat_fk *find_fk(const struct cat_rec *r, const char *name)
{
    for (size_t i = 0; i < r->nfks && i < CAT_MAX; i++)
        if (r->fks[i].name && strcmp(r->fks[i].name, name) == 0)
            return &r->fks[i];
    return NULL;
}

static const struct cat_index *find_index(const struct cat_rec *r, const char *table,
                                          const char *name)
{
    for (size_t i = 0; i < r->nindexes && i < CAT_MAX; i++)
        if (strcmp(r->indexes[i].table, table) == 0 && strcmp(r->indexes[i].name, name) == 0)
            return &r->indexes[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Suite setup                                                              */
/* ------------------------------------------------------------------------ */

/* Loads the driver once for every mysql suite (a second load is refused as a duplicate). */
static int suite_init(void)
{
    if (!loader_find("mysql"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, (const char *[]){"mysql"}, 1);
    drv = loader_find("mysql");
    if (!drv)
        fprintf(stderr, "mysql driver not loaded: %s\n",
                loader_refusal("mysql") ? loader_refusal("mysql") : "?");
    main_url = getenv("QUARRY_TEST_MYSQL_URL");
    ro_url = getenv("QUARRY_TEST_MYSQL_RO_URL");
    enc_url = getenv("QUARRY_TEST_MYSQL_ENC_URL");
    ca_path = getenv("QUARRY_TEST_MYSQL_CA");
    other_ca_path = getenv("QUARRY_TEST_MYSQL_OTHER_CA");
    socket_path = getenv("QUARRY_TEST_MYSQL_SOCKET");
    return 0; /* each test fails on its own when something is missing */
}

static int suite_cleanup(void)
{
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Driver description, open, ping                                           */
/* ------------------------------------------------------------------------ */

static void test_description(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(drv);
    CU_ASSERT_STRING_EQUAL(drv->name, "mysql");
    CU_ASSERT_STRING_EQUAL(drv->dialect, "mysql");
    CU_ASSERT_EQUAL(drv->identifier_quote, '`');
    CU_ASSERT_EQUAL(drv->limit_style, QUARRY_LIMIT_LIMIT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(drv->url_schemes);
    CU_ASSERT_STRING_EQUAL(drv->url_schemes[0], "mysql");
    CU_ASSERT_STRING_EQUAL(drv->url_schemes[1], "mariadb");
    CU_ASSERT_PTR_NULL(drv->url_schemes[2]);
    uint32_t want = QUARRY_CAP_SQL | QUARRY_CAP_READONLY_TX | QUARRY_CAP_CANCEL |
                    QUARRY_CAP_SAMPLE | QUARRY_CAP_SCHEMAS | QUARRY_CAP_STATEMENT_TIMEOUT;
    CU_ASSERT_EQUAL(drv->capabilities, want);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("MariaDB"), drv);
    CU_ASSERT_PTR_NOT_NULL(drv->global_init);
    CU_ASSERT_PTR_NOT_NULL(drv->thread_start);
    CU_ASSERT_PTR_NOT_NULL(drv->cancel);
}

static void test_exports_and_deps(void)
{
    char cmd[1024], line[512];
    int lines = 0, entry = 0, needs_mariadb = 0, needs_jansson = 0;
    snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s/mysql.so'", QUARRY_TEST_PLUGIN_DIR);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    while (fgets(line, sizeof(line), p)) {
        lines++;
        entry += strstr(line, " T quarry_driver_entry") != NULL;
    }
    CU_ASSERT_EQUAL(pclose(p), 0);
    CU_ASSERT_EQUAL(lines, 1);
    CU_ASSERT_EQUAL(entry, 1);
    snprintf(cmd, sizeof(cmd), "readelf -d '%s/mysql.so'", QUARRY_TEST_PLUGIN_DIR);
    p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    while (fgets(line, sizeof(line), p)) {
        needs_mariadb += strstr(line, "NEEDED") && strstr(line, "libmariadb");
        needs_jansson += strstr(line, "NEEDED") && strstr(line, "jansson");
    }
    CU_ASSERT_EQUAL(pclose(p), 0);
    CU_ASSERT_EQUAL(needs_mariadb, 1);
    CU_ASSERT_EQUAL(needs_jansson, 0);
}

/* Opens `url`, expects `want`; on success also runs SELECT 1. */
static void expect_open(const char *url, int want)
{
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    int status = open_with(url, NULL, 0, &conn, &err);
    if (status != want)
        fprintf(stderr, "\n  open(%s): got %d (%s), want %d\n", url ? url : "NULL", status,
                err.message, want);
    CU_ASSERT_EQUAL(status, want);
    CU_ASSERT_EQUAL(err.status, want);
    if (want == QUARRY_OK) {
        CU_ASSERT_PTR_NOT_NULL(conn);
        if (conn)
            CU_ASSERT_EQUAL(query_int(conn, "SELECT 1"), 1);
    } else {
        CU_ASSERT_PTR_NULL(conn);
        CU_ASSERT(strlen(err.message) > 10);
    }
    drv->close(conn);
}

static void test_open_url_forms(void)
{
    NEED_SERVER();
    struct url_parts p;
    url_split(main_url, &p);
    const char *schemes[] = {"mysql",
                             "mariadb",
                             "mysql+pymysql",
                             "mysql+mysqldb",
                             "MySQL+mysqlconnector",
                             "mariadb+mariadbconnector"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        char *url = url_with(schemes[i], NULL, NULL, NULL, NULL);
        expect_open(url, QUARRY_OK);
        free(url);
    }
    /* Query options SQLAlchemy URLs carry; unknown ones are ignored. */
    char *url = url_with("mysql+pymysql", NULL, NULL, NULL,
                         "charset=utf8mb4&ssl_mode=DISABLED&connect_timeout=5&autocommit=true");
    expect_open(url, QUARRY_OK);
    free(url);
    /* "localhost" is TCP to the URL's port, as in the Python libraries. */
    char hostport[64];
    snprintf(hostport, sizeof(hostport), "localhost:%s", strchr(p.hostport, ':') + 1);
    url = url_with(NULL, NULL, hostport, NULL, NULL);
    expect_open(url, QUARRY_OK);
    free(url);
    /* No database: still connects. */
    url = url_with(NULL, NULL, NULL, "", NULL);
    expect_open(url, QUARRY_OK);
    free(url);
    /* The password percent-encoded (p@ss:w/rd?#%& é) */
    expect_open(enc_url, QUARRY_OK);
    /* The server's socket file: as an option, and as a percent-encoded host. */
    char query[300], encoded[300];
    snprintf(query, sizeof(query), "unix_socket=%s", socket_path);
    url = url_with(NULL, NULL, "localhost", NULL, query);
    expect_open(url, QUARRY_OK);
    free(url);
    size_t n = 0;
    for (const char *c = socket_path; *c && n + 4 < sizeof(encoded); c++)
        n += (size_t)(*c == '/' ? snprintf(encoded + n, 4, "%%2F")
                                : snprintf(encoded + n, 2, "%c", *c));
    url = url_with(NULL, NULL, encoded, NULL, "");
    expect_open(url, QUARRY_OK);
    free(url);
}

static void test_open_password_from_params(void)
{
    NEED_SERVER();
    struct url_parts p;
    url_split(main_url, &p);
    char *url = url_with(NULL, "", NULL, NULL, NULL); /* no password in the URL */
    struct quarry_kv kv[] = {{"password", p.password}, {"ssl_mode", "REQUIRED"}};
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    CU_ASSERT_EQUAL(open_with(url, kv, 2, &conn, &err), QUARRY_OK);
    CU_ASSERT_PTR_NOT_NULL(conn);
    drv->close(conn);
    free(url);
}

static void test_open_wrong_password(void)
{
    NEED_SERVER();
    char *url = url_with(NULL, "not-the-password", NULL, NULL, NULL);
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    CU_ASSERT_EQUAL(open_with(url, NULL, 0, &conn, &err), QUARRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(conn);
    CU_ASSERT_EQUAL(err.native_code, 1045);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "28000");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "Access denied"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "not-the-password"));
    free(url);
    /* The encoded-password account with one character of it wrong. */
    struct url_parts p;
    url_split(enc_url, &p);
    p.password[1] = 'X';
    url = url_join(&p);
    CU_ASSERT_EQUAL(open_with(url, NULL, 0, &conn, &err), QUARRY_ERR_AUTH);
    free(url);
}

static void test_open_unreachable(void)
{
    NEED_SERVER();
    char hostport[64];
    snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", closed_port());
    char *url = url_with(NULL, NULL, hostport, NULL, NULL);
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    int64_t start = host_now_ms();
    CU_ASSERT_EQUAL(open_with(url, NULL, 0, &conn, &err), QUARRY_ERR_CONNECT);
    CU_ASSERT(host_now_ms() - start < 3000);
    CU_ASSERT(err.native_code == 2002 || err.native_code == 2003);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "127.0.0.1"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "secret"));
    free(url);
    /* An IPv6 literal reaches the client as the bare address. */
    snprintf(hostport, sizeof(hostport), "[::1]:%d", closed_port());
    url = url_with(NULL, NULL, hostport, NULL, NULL);
    CU_ASSERT_EQUAL(open_with(url, NULL, 0, &conn, &err), QUARRY_ERR_CONNECT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "::1"));
    free(url);
}

static void test_open_refused_forms(void)
{
    NEED_SERVER();
    static const char *const bad[] = {
        "",
        "postgres://quarry:secret@127.0.0.1/Chinook",
        "mysql:/quarry@127.0.0.1/Chinook",
        "mysql+py-mysql://quarry:secret@127.0.0.1/Chinook",
        "mysql://quarry:secret@127.0.0.1:99999/Chinook",
        "mysql://quarry:secret@127.0.0.1:33a/Chinook",
        "mysql://quarry:secret@[::1/Chinook",
        "mysql://quarry:secret@127.0.0.1/Chinook/extra",
        "mysql://quarry:secret@127.0.0.1/Chinook?ssl_mode=sometimes",
        "mysql://quarry:secret@127.0.0.1/Chinook?connect_timeout=0",
        "mysql://quarry:secret@127.0.0.1/Chinook?ssl=maybe",
        "mysql://quarry:se%00cret@127.0.0.1/Chinook",
        "mysql://quarry:secret@127.0.0.1/"
        "a_database_name_longer_than_sixty_four_bytes_is_not_a_mysql_database",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct quarry_error err;
        struct quarry_conn *conn = NULL;
        int status = open_with(bad[i], NULL, 0, &conn, &err);
        if (status != QUARRY_ERR_INVALID)
            fprintf(stderr, "\n  open(%s): got %d (%s)\n", bad[i], status, err.message);
        CU_ASSERT_EQUAL(status, QUARRY_ERR_INVALID);
        CU_ASSERT_PTR_NULL(conn);
        CU_ASSERT_PTR_NULL(strstr(err.message, "secret"));
    }
    /* NULL URL, and an over-long one. */
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    CU_ASSERT_EQUAL(open_with(NULL, NULL, 0, &conn, &err), QUARRY_ERR_INVALID);
    char *huge = calloc(1, 8200);
    memcpy(huge, "mysql://u:p@h/db?x=", 19);
    memset(huge + 19, 'a', 8100);
    CU_ASSERT_EQUAL(open_with(huge, NULL, 0, &conn, &err), QUARRY_ERR_INVALID);
    free(huge);
    /* An unknown database: missing (1049), or denied (1044) to a user without rights there. */
    char *url = url_with(NULL, NULL, NULL, "no_such_db", NULL);
    int status = open_with(url, NULL, 0, &conn, &err);
    CU_ASSERT((status == QUARRY_ERR_NOT_FOUND && err.native_code == 1049) ||
              (status == QUARRY_ERR_AUTH && err.native_code == 1044));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no_such_db"));
    free(url);
}

static void test_ping_version(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_server_info info;
    struct quarry_error err;
    struct host_call call;
    memset(&info, 0, sizeof(info));
    QUARRY_STRUCT_INIT(&info);
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, &info, &err), QUARRY_OK);
    /* "MariaDB 10.11.6", the version the server itself reports, without the suffix. */
    char *version = query_text(conn, "SELECT VERSION()");
    CU_ASSERT_PTR_NOT_NULL_FATAL(version);
    if (strstr(version, "MariaDB")) {
        char want[128];
        snprintf(want, sizeof(want), "MariaDB %.*s", (int)strcspn(version, "-"), version);
        CU_ASSERT_STRING_EQUAL(info.version, want);
    } else {
        CU_ASSERT(strncmp(info.version, "MySQL ", 6) == 0);
    }
    free(version);
    drv->close(conn);
}

/* Whether the session talks TLS: the cipher, or "" (caller frees). */
static char *session_cipher(struct quarry_conn *conn)
{
    struct quarry_error err;
    struct row_rec *r = NULL;
    char *cipher = NULL;
    if (run(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", 5000, 0, &r, &err) == QUARRY_OK &&
        r->nrows == 1)
        cipher = strdup(r->rows[0][1].str ? r->rows[0][1].str : "");
    rec_free(r);
    return cipher;
}

static void expect_tls(const char *query, int want_status, int want_tls)
{
    char *url = url_with(NULL, NULL, NULL, NULL, query);
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    int status = open_with(url, NULL, 0, &conn, &err);
    if (status != want_status)
        fprintf(stderr, "\n  open(?%s): %d %s\n", query, status, err.message);
    CU_ASSERT_EQUAL(status, want_status);
    if (conn) {
        char *cipher = session_cipher(conn);
        CU_ASSERT_PTR_NOT_NULL(cipher);
        if (cipher)
            CU_ASSERT_EQUAL(cipher[0] != '\0', want_tls);
        free(cipher);
    }
    drv->close(conn);
    free(url);
}

/* The SHA-1 fingerprint of the server's certificate (beside the CA), as bare hex. */
static int server_fingerprint(char *out, size_t size)
{
    char cmd[1024], line[256];
    const char *slash = strrchr(ca_path, '/');
    snprintf(cmd, sizeof(cmd), "openssl x509 -in '%.*s/server-cert.pem' -noout -fingerprint -sha1",
             (int)(slash - ca_path), ca_path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fgets(line, sizeof(line), p) != NULL;
    ok &= pclose(p) == 0;
    const char *eq = strchr(line, '=');
    if (!ok || !eq)
        return -1;
    size_t n = 0;
    for (const char *c = eq + 1; *c && *c != '\n' && n + 1 < size; c++)
        if (*c != ':')
            out[n++] = *c;
    out[n] = '\0';
    return n == 40 ? 0 : -1;
}

static void test_open_tls(void)
{
    NEED_SERVER();
    char q[512];
    expect_tls("ssl_mode=DISABLED", QUARRY_OK, 0);
    expect_tls("ssl_mode=REQUIRED", QUARRY_OK, 1);
    expect_tls("ssl=true", QUARRY_OK, 1);
    expect_tls("", QUARRY_OK, 1); /* PREFERRED by default, and the server has TLS */
    snprintf(q, sizeof(q), "ssl_mode=VERIFY_IDENTITY&ssl_ca=%s", ca_path);
    expect_tls(q, QUARRY_OK, 1);
    snprintf(q, sizeof(q), "ssl_ca=%s", ca_path); /* a CA alone means: verify */
    expect_tls(q, QUARRY_OK, 1);
    /* A CA that did not sign the server's certificate. */
    snprintf(q, sizeof(q), "ssl_mode=VERIFY_CA&ssl_ca=%s", other_ca_path);
    expect_tls(q, QUARRY_ERR_CONNECT, 0);

    /* A pinned certificate fingerprint (SHA-1 hex, what libmariadb 3.3 compares). */
    char fp[128];
    CU_ASSERT_EQUAL_FATAL(server_fingerprint(fp, sizeof(fp)), 0);
    snprintf(q, sizeof(q), "tls_peer_fp=%s", fp);
    expect_tls(q, QUARRY_OK, 1);
    fp[0] = fp[0] == '0' ? '1' : '0';
    snprintf(q, sizeof(q), "tls_peer_fp=%s", fp);
    expect_tls(q, QUARRY_ERR_CONNECT, 0);
}

/* ------------------------------------------------------------------------ */
/* Introspection                                                            */
/* ------------------------------------------------------------------------ */

static const char *const chinook_tables[] = {
    "Album",       "Artist",    "Customer", "Employee",      "Genre", "Invoice",
    "InvoiceLine", "MediaType", "Playlist", "PlaylistTrack", "Track"};
#define NCHINOOK (sizeof(chinook_tables) / sizeof(chinook_tables[0]))

static void test_introspect_chinook(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    int status;
    struct cat_rec *r = introspect(conn, NULL, 0, 0, &status, &err); /* the URL's database */
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, NCHINOOK);
    CU_ASSERT_EQUAL(r->unknown_table, 0);
    for (size_t i = 0; i < NCHINOOK; i++) {
        const struct cat_table *t = find_table(r, "Chinook", chinook_tables[i]);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (!t)
            continue;
        CU_ASSERT_EQUAL(t->kind, QUARRY_TABLE);
        /* InnoDB's estimate, against the true count. */
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM `%s`", chinook_tables[i]);
        int64_t count = query_int(conn, sql);
        CU_ASSERT(count > 0);
        CU_ASSERT(t->rows >= count / 2 && t->rows <= count * 2);
    }
    /* Columns: types as declared, nullability, order, primary key positions. */
    CU_ASSERT_EQUAL(count_columns(r, "Track"), 9);
    const struct cat_column *c = find_column(r, "Invoice", "Total");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->type, "decimal(10,2)");
    CU_ASSERT_EQUAL(c->nullable, 0);
    CU_ASSERT_EQUAL(c->ordinal, 9);
    CU_ASSERT_EQUAL(c->pk, 0);
    CU_ASSERT_PTR_NULL(c->dflt);
    c = find_column(r, "Customer", "Company");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->nullable, 1);
    CU_ASSERT_STRING_EQUAL(c->type, "varchar(80)");
    c = find_column(r, "Album", "AlbumId");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(c->pk, 1);
    CU_ASSERT_EQUAL(c->ordinal, 1);
    c = find_column(r, "PlaylistTrack", "PlaylistId");
    CU_ASSERT(c && c->pk == 1);
    c = find_column(r, "PlaylistTrack", "TrackId");
    CU_ASSERT(c && c->pk == 2);
    /* Keys. */
    const struct cat_index *ix = find_index(r, "PlaylistTrack", "PRIMARY");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ix);
    CU_ASSERT_STRING_EQUAL(ix->cols, "PlaylistId,TrackId");
    CU_ASSERT(ix->primary && ix->unique);
    ix = find_index(r, "Track", "IFK_TrackAlbumId");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ix);
    CU_ASSERT(!ix->unique && !ix->primary);
    CU_ASSERT_EQUAL(r->nfks, 11);
    const struct cat_fk *fk = find_fk(r, "FK_EmployeeReportsTo");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fk);
    CU_ASSERT_STRING_EQUAL(fk->table, "Employee");
    CU_ASSERT_STRING_EQUAL(fk->cols, "ReportsTo");
    CU_ASSERT_STRING_EQUAL(fk->ref_schema, "Chinook");
    CU_ASSERT_STRING_EQUAL(fk->ref_table, "Employee");
    CU_ASSERT_STRING_EQUAL(fk->ref_cols, "EmployeeId");
    fk = find_fk(r, "FK_TrackAlbumId");
    CU_ASSERT(fk && strcmp(fk->cols, "AlbumId") == 0 && strcmp(fk->ref_table, "Album") == 0);
    cat_free(r);
    drv->close(conn);
}

static void test_introspect_schemas(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    int status;
    const char *extra[] = {"quarry_extra"};
    struct cat_rec *r = introspect(conn, extra, 1, 0, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 5);
    CU_ASSERT_PTR_NULL(find_table(r, "Chinook", "Track"));
    for (size_t i = 0; i < r->ntables && i < CAT_MAX; i++)
        CU_ASSERT_STRING_EQUAL(r->tables[i].schema, "quarry_extra");
    CU_ASSERT_EQUAL(r->unknown_table, 0);
    cat_free(r);

    const char *both[] = {"Chinook", "quarry_extra"};
    r = introspect(conn, both, 2, 0, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, NCHINOOK + 5);
    CU_ASSERT_EQUAL(r->unknown_table, 0);
    cat_free(r);

    const char *none[] = {"no_such_schema"};
    r = introspect(conn, none, 1, 0, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 0);
    cat_free(r);

    const char *bad[] = {"x", ""};
    r = introspect(conn, bad, 2, 0, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_ERR_INVALID);
    cat_free(r);
    drv->close(conn);

    /* Without a database in the URL: every non-system database the user sees. */
    char *url = url_with(NULL, NULL, NULL, "", NULL);
    conn = open_url(url);
    free(url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    r = introspect(conn, NULL, 0, 0, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, NCHINOOK + 5);
    for (size_t i = 0; i < r->ntables && i < CAT_MAX; i++) {
        CU_ASSERT(strcmp(r->tables[i].schema, "mysql") != 0);
        CU_ASSERT(strcmp(r->tables[i].schema, "information_schema") != 0);
    }
    cat_free(r);
    drv->close(conn);
}

static void test_introspect_extra_objects(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    int status;
    const char *extra[] = {"quarry_extra"};
    struct cat_rec *r = introspect(conn, extra, 1, 0, &status, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);

    /* A view: its kind, no estimate, no placeholder comment, its columns. */
    const struct cat_table *v = find_table(r, "quarry_extra", "ArtistAlbumCount");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(v->kind, QUARRY_VIEW);
    CU_ASSERT_EQUAL(v->rows, -1);
    CU_ASSERT_PTR_NULL(v->comment);
    CU_ASSERT_EQUAL(count_columns(r, "ArtistAlbumCount"), 3);

    /* Comments on tables and columns; defaults as SQL. */
    const struct cat_table *t = find_table(r, "quarry_extra", "Warehouse");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->comment, "Where stock is kept");
    const struct cat_column *c = find_column(r, "Warehouse", "Region");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->comment, "Sales region code");
    CU_ASSERT_EQUAL(c->pk, 1);
    c = find_column(r, "Warehouse", "Code");
    CU_ASSERT(c && c->pk == 2);
    c = find_column(r, "Warehouse", "Name");
    CU_ASSERT(c && c->pk == 0 && c->comment == NULL);
    c = find_column(r, "Shipment", "ShippedOn");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->dflt, "'2024-01-01'");
    c = find_column(r, "Shipment", "Note");
    CU_ASSERT(c && c->dflt == NULL && c->nullable == 1);

    /* A two-column FK, in the constraint's order, and one into another database. */
    CU_ASSERT_EQUAL(r->nfks, 2);
    const struct cat_fk *fk = find_fk(r, "FK_ShipmentWarehouse");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fk);
    CU_ASSERT_STRING_EQUAL(fk->table, "Shipment");
    CU_ASSERT_STRING_EQUAL(fk->cols, "WarehouseCode,Region");
    CU_ASSERT_STRING_EQUAL(fk->ref_schema, "quarry_extra");
    CU_ASSERT_STRING_EQUAL(fk->ref_table, "Warehouse");
    CU_ASSERT_STRING_EQUAL(fk->ref_cols, "Code,Region");
    fk = find_fk(r, "FK_ShipmentArtist");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fk);
    CU_ASSERT_STRING_EQUAL(fk->ref_schema, "Chinook");
    CU_ASSERT_STRING_EQUAL(fk->ref_table, "Artist");
    CU_ASSERT_STRING_EQUAL(fk->ref_cols, "ArtistId");

    /* Unique constraints, single and multi-column. */
    const struct cat_index *ix = find_index(r, "Warehouse", "UQ_Warehouse_CodeRegion");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ix);
    CU_ASSERT_STRING_EQUAL(ix->cols, "Code,Region");
    CU_ASSERT(ix->unique && !ix->primary);
    ix = find_index(r, "Warehouse", "UQ_Warehouse_Name");
    CU_ASSERT(ix && ix->unique && strcmp(ix->cols, "Name") == 0);
    ix = find_index(r, "Warehouse", "PRIMARY");
    CU_ASSERT(ix && ix->primary && strcmp(ix->cols, "Region,Code") == 0);
    cat_free(r);
    drv->close(conn);
}

static void test_introspect_stop(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    int status;
    struct cat_rec *r = introspect(conn, NULL, 0, 2, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 2);
    CU_ASSERT_EQUAL(r->after_stop, 0);
    CU_ASSERT_EQUAL(r->ncolumns, 0);
    cat_free(r);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT COUNT(*) FROM Genre"), 25);
    /* A deadline already past: TIMEOUT, nothing reported. */
    r = introspect_within(conn, NULL, 0, 0, -1, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(r->ntables, 0);
    cat_free(r);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */
/* Execute                                                                  */
/* ------------------------------------------------------------------------ */

static void test_execute_typed_values(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL_FATAL(
        run(conn, "SELECT * FROM quarry_extra.TypedValues ORDER BY Id", 5000, 0, &r, &err),
        QUARRY_OK);
    CU_ASSERT_EQUAL(r->begun, 1);
    CU_ASSERT_EQUAL(r->ended, 1);
    CU_ASSERT_EQUAL_FATAL(r->ncols, 15);
    CU_ASSERT_EQUAL_FATAL(r->nrows, 2);
    static const struct {
        const char *name, *decl;
        int type;
    } cols[] = {{"Id", "int", QUARRY_VALUE_INT},
                {"TinyFlag", "tinyint", QUARRY_VALUE_INT},
                {"BitFlag", "bit", QUARRY_VALUE_BOOL},
                {"Bits", "bit", QUARRY_VALUE_INT},
                {"Big", "bigint unsigned", QUARRY_VALUE_INT},
                {"Small", "smallint", QUARRY_VALUE_INT},
                {"Price", "decimal", QUARRY_VALUE_DECIMAL},
                {"Ratio", "double", QUARRY_VALUE_DOUBLE},
                {"Day", "date", QUARRY_VALUE_DATE},
                {"Moment", "datetime", QUARRY_VALUE_TIMESTAMP},
                {"Stamp", "timestamp", QUARRY_VALUE_TIMESTAMP},
                {"Payload", "blob", QUARRY_VALUE_BLOB},
                {"Doc", "json", QUARRY_VALUE_JSON},
                {"Label", "varchar", QUARRY_VALUE_TEXT},
                {"Nothing", "varchar", QUARRY_VALUE_TEXT}};
    for (size_t i = 0; i < 15; i++) {
        CU_ASSERT_STRING_EQUAL(r->names[i], cols[i].name);
        CU_ASSERT_STRING_EQUAL(r->decls[i], cols[i].decl);
        CU_ASSERT_EQUAL(r->types[i], cols[i].type);
    }
    struct rec_value *v = r->rows[0];
    CU_ASSERT(v[0].type == QUARRY_VALUE_INT && v[0].i == 1);
    CU_ASSERT(v[1].type == QUARRY_VALUE_INT && v[1].i == 1); /* TINYINT(1) stays INT */
    CU_ASSERT(v[2].type == QUARRY_VALUE_BOOL && v[2].i == 1);
    CU_ASSERT(v[3].type == QUARRY_VALUE_INT && v[3].i == 0xA05);
    /* 2^64-1 does not fit: exact digits as a decimal. */
    CU_ASSERT_EQUAL(v[4].type, QUARRY_VALUE_DECIMAL);
    CU_ASSERT_STRING_EQUAL(v[4].str, "18446744073709551615");
    CU_ASSERT(v[5].type == QUARRY_VALUE_INT && v[5].i == -32768);
    CU_ASSERT_EQUAL(v[6].type, QUARRY_VALUE_DECIMAL);
    CU_ASSERT_STRING_EQUAL(v[6].str, "0.99");
    CU_ASSERT(v[7].type == QUARRY_VALUE_DOUBLE && v[7].d == 2.5);
    CU_ASSERT_EQUAL(v[8].type, QUARRY_VALUE_DATE);
    CU_ASSERT_STRING_EQUAL(v[8].str, "2024-02-29");
    CU_ASSERT_EQUAL(v[9].type, QUARRY_VALUE_TIMESTAMP);
    CU_ASSERT_STRING_EQUAL(v[9].str, "2024-02-29T13:45:01.250Z");
    CU_ASSERT_EQUAL(v[10].type, QUARRY_VALUE_TIMESTAMP);
    CU_ASSERT_STRING_EQUAL(v[10].str, "2024-02-29T13:45:01Z");
    CU_ASSERT_EQUAL(v[11].type, QUARRY_VALUE_BLOB);
    CU_ASSERT(v[11].len == 3 && memcmp(v[11].str, "\x00\xff\x10", 3) == 0);
    CU_ASSERT_EQUAL(v[12].type, QUARRY_VALUE_JSON);
    CU_ASSERT_STRING_EQUAL(v[12].str, "{\"a\": [1, 2]}");
    CU_ASSERT_EQUAL(v[13].type, QUARRY_VALUE_TEXT);
    CU_ASSERT_STRING_EQUAL(v[13].str, "h\xc3\xa9llo");
    CU_ASSERT_EQUAL(v[14].type, QUARRY_VALUE_NULL);
    v = r->rows[1];
    CU_ASSERT(v[2].type == QUARRY_VALUE_BOOL && v[2].i == 0);
    CU_ASSERT(v[4].type == QUARRY_VALUE_INT && v[4].i == 42);
    CU_ASSERT_STRING_EQUAL(v[6].str, "-12.50");
    CU_ASSERT_EQUAL(v[10].type, QUARRY_VALUE_NULL);
    CU_ASSERT(v[11].type == QUARRY_VALUE_BLOB && v[11].len == 0);
    rec_free(r);

    /* Expressions, and a Chinook price. */
    CU_ASSERT_EQUAL_FATAL(run(conn,
                              "SELECT UnitPrice, 7 * 6, 1e0 / 4, CAST('2001-02-03' AS DATE), "
                              "NULL, X'CAFE' FROM Track WHERE TrackId = 1",
                              5000, 0, &r, &err),
                          QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r->nrows, 1);
    v = r->rows[0];
    CU_ASSERT(v[0].type == QUARRY_VALUE_DECIMAL && strcmp(v[0].str, "0.99") == 0);
    CU_ASSERT(v[1].type == QUARRY_VALUE_INT && v[1].i == 42);
    CU_ASSERT(v[2].type == QUARRY_VALUE_DOUBLE && v[2].d == 0.25);
    CU_ASSERT(v[3].type == QUARRY_VALUE_DATE && strcmp(v[3].str, "2001-02-03") == 0);
    CU_ASSERT_EQUAL(v[4].type, QUARRY_VALUE_NULL);
    CU_ASSERT(v[5].type == QUARRY_VALUE_BLOB && v[5].len == 2);
    rec_free(r);
    drv->close(conn);
}

static void test_execute_chinook_join(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL(run(conn,
                        "SELECT ar.Name, COUNT(*) AS n FROM Album al JOIN Artist ar "
                        "ON ar.ArtistId = al.ArtistId GROUP BY ar.Name ORDER BY n DESC, "
                        "ar.Name LIMIT 3;",
                        5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r->nrows, 3);
    CU_ASSERT_STRING_EQUAL(r->rows[0][0].str, "Iron Maiden");
    CU_ASSERT_EQUAL(r->rows[0][1].i, 21);
    CU_ASSERT_STRING_EQUAL(r->names[1], "n");
    rec_free(r);
    drv->close(conn);
}

/* Scratch's content as one string, through a fresh connection. */
static char *scratch_state(void)
{
    struct quarry_conn *conn = open_url(main_url);
    char *state = conn ? query_text(conn, "SELECT GROUP_CONCAT(Id, ':', Word ORDER BY Id) "
                                          "FROM quarry_extra.Scratch")
                       : NULL;
    int64_t tables = conn ? query_int(conn, "SELECT COUNT(*) FROM information_schema.TABLES "
                                            "WHERE TABLE_SCHEMA = 'quarry_extra'")
                          : -1;
    int64_t dbs = conn ? query_int(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA "
                                         "WHERE SCHEMA_NAME LIKE 'quarry%'")
                       : -1;
    char *out = NULL;
    if (asprintf(&out, "%s|tables=%lld|dbs=%lld", state ? state : "?", (long long)tables,
                 (long long)dbs) < 0)
        out = NULL;
    free(state);
    drv->close(conn);
    return out;
}

static void test_execute_refuses_writes(void)
{
    NEED_SERVER();
    static const char *const writes[] = {
        "INSERT INTO quarry_extra.Scratch VALUES (9, 'nine')",
        "UPDATE quarry_extra.Scratch SET Word = 'changed'",
        "DELETE FROM quarry_extra.Scratch",
        "REPLACE INTO quarry_extra.Scratch VALUES (1, 'uno')",
        "CREATE TABLE quarry_extra.Junk (a INT)",
        "CREATE TEMPORARY TABLE Junk (a INT)",
        "DROP TABLE quarry_extra.Scratch",
        "TRUNCATE TABLE quarry_extra.Scratch",
        "ALTER TABLE quarry_extra.Scratch ADD COLUMN b INT",
        "RENAME TABLE quarry_extra.Scratch TO quarry_extra.Scratch2",
        "CREATE DATABASE quarry_junk",
        "CREATE VIEW quarry_extra.Junk AS SELECT 1",
        "LOCK TABLES quarry_extra.Scratch WRITE",
    };
    char *before = scratch_state();
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT_PTR_NOT_NULL(strstr(before, "1:one,2:two,3:three|tables=5"));
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        struct quarry_error err;
        struct row_rec *r = NULL;
        int status = run(conn, writes[i], 5000, 0, &r, &err);
        if (status != QUARRY_ERR_READONLY)
            fprintf(stderr, "\n  %s: %d %s\n", writes[i], status, err.message);
        CU_ASSERT_EQUAL(status, QUARRY_ERR_READONLY);
        CU_ASSERT_EQUAL(err.native_code, 1792);
        CU_ASSERT_STRING_EQUAL(err.sqlstate, "25006");
        rec_free(r);
    }
    /* A statement that turns the session writable only lasts until the next call. */
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL(run(conn, "SET SESSION tx_read_only = 0", 5000, 0, &r, &err), QUARRY_OK);
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, writes[0], 5000, 0, &r, &err), QUARRY_ERR_READONLY);
    rec_free(r);
    drv->close(conn);
    char *after = scratch_state();
    CU_ASSERT_STRING_EQUAL(after, before);
    free(before);
    free(after);
}

static void test_execute_refuses_two_statements(void)
{
    NEED_SERVER();
    char *before = scratch_state();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL(run(conn, "SELECT 1; SELECT 2", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_EQUAL(err.native_code, 1064);
    CU_ASSERT_EQUAL(r->nrows, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, "SELECT 1; DELETE FROM quarry_extra.Scratch", 5000, 0, &r, &err),
                    QUARRY_ERR_QUERY);
    rec_free(r);
    /* The link is in step afterwards. */
    CU_ASSERT_EQUAL(query_int(conn, "SELECT 2"), 2);
    drv->close(conn);
    char *after = scratch_state();
    CU_ASSERT_STRING_EQUAL(after, before);
    free(before);
    free(after);
}

static void test_execute_query_errors(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL(run(conn, "SELEC 1", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_EQUAL(err.native_code, 1064);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "42000");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "syntax"));
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, "SELECT * FROM NoSuchTable", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_EQUAL(err.native_code, 1146);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "42S02");
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, "", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    rec_free(r);
    /* No result set: an empty result, not an error. */
    CU_ASSERT_EQUAL(run(conn, "DO 1", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT(r->begun == 1 && r->ended == 1 && r->ncols == 0 && r->nrows == 0);
    rec_free(r);
    /* A USE lasts one call: the next starts in the URL's database again. */
    CU_ASSERT_EQUAL(run(conn, "USE quarry_extra", 5000, 0, &r, &err), QUARRY_OK);
    rec_free(r);
    char *db = query_text(conn, "SELECT DATABASE()");
    CU_ASSERT_STRING_EQUAL(db, "Chinook");
    free(db);
    drv->close(conn);
}

static void test_execute_readonly_user(void)
{
    NEED_SERVER();
    char *before = scratch_state();
    struct quarry_conn *conn = open_url(ro_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT COUNT(*) FROM Album"), 347);
    struct quarry_error err;
    struct row_rec *r = NULL;
    int status = run(conn, "DELETE FROM quarry_extra.Scratch", 5000, 0, &r, &err);
    /* Refused by the session or by the missing privilege, whichever the server checks first. */
    CU_ASSERT(status == QUARRY_ERR_READONLY ||
              (status == QUARRY_ERR_QUERY && err.native_code == 1142));
    rec_free(r);
    /* introspect needs no more than SELECT. */
    int st;
    struct cat_rec *cat = introspect(conn, NULL, 0, 0, &st, &err);
    CU_ASSERT_EQUAL(st, QUARRY_OK);
    CU_ASSERT_EQUAL(cat->ntables, NCHINOOK);
    CU_ASSERT_EQUAL(cat->nfks, 11);
    cat_free(cat);
    drv->close(conn);
    char *after = scratch_state();
    CU_ASSERT_STRING_EQUAL(after, before);
    free(before);
    free(after);
}

/* ------------------------------------------------------------------------ */
/* Limits: row cap, STOP, deadline, cancel, lost links                      */
/* ------------------------------------------------------------------------ */

static void test_row_cap(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    int64_t id = query_int(conn, "SELECT CONNECTION_ID()");
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL(run(conn, "SELECT * FROM Track ORDER BY TrackId", 5000, 10, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 10);
    CU_ASSERT_EQUAL(r->ended, 1);
    CU_ASSERT_EQUAL(r->rows[9][0].i, 10);
    rec_free(r);
    /* A small rest is read and dropped: the same session carries on. */
    CU_ASSERT_EQUAL(query_int(conn, "SELECT COUNT(*) FROM Genre"), 25);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT CONNECTION_ID()"), id);

    /* The sink says STOP. */
    struct host_call call;
    struct quarry_row_sink sink;
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    r = rec_new(&sink);
    r->stop_after = 3;
    CU_ASSERT_EQUAL(drv->execute(conn, &call.ctx, "SELECT * FROM Artist", &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT COUNT(*) FROM Artist"), 275);

    /* Millions of rows left: the link is closed instead, quickly, and replaced. */
    int64_t start = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, HUGE_SQL, 20000, 5, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 5);
    rec_free(r);
    CU_ASSERT(host_now_ms() - start < 2000);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT COUNT(*) FROM Genre"), 25);
    drv->close(conn);
}

static void test_deadline(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    struct row_rec *r = NULL;
    /* The server's own statement timer stops a statement that sends nothing. */
    int64_t start = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, "SELECT SLEEP(10)", 500, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    int64_t took = host_now_ms() - start;
    /* Back long before SLEEP's 10 s: the server interrupted it (the client cannot). */
    CU_ASSERT(took >= 400 && took < 2000);
    CU_ASSERT(err.native_code == 1969 || err.native_code == 3024);
    CU_ASSERT_EQUAL(r->ended, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT 1"), 1);
    /* A statement streaming rows past its deadline. */
    start = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, HUGE_SQL, 300, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    CU_ASSERT(host_now_ms() - start < 2000);
    CU_ASSERT(r->nrows > 0);
    rec_free(r);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT 1"), 1);
    /* A deadline already past: nothing runs. */
    CU_ASSERT_EQUAL(run(conn, "SELECT 1", -1, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(r->begun, 0);
    rec_free(r);
    drv->close(conn);
}

struct canceller {
    struct quarry_conn *conn;
    struct host_call *call; /* cancel through the host's ctx when set, else driver->cancel */
    atomic_int done;
};

/* Cancels every 100 ms until the call returns, so a cancel that came too early is repeated. */
static void *cancel_thread(void *arg)
{
    struct canceller *c = arg;
    loader_thread_start();
    usleep(300 * 1000);
    for (int i = 0; i < 50 && !atomic_load(&c->done); i++) {
        if (c->call)
            host_call_cancel(c->call);
        else
            CU_ASSERT_EQUAL(drv->cancel(c->conn), QUARRY_OK);
        usleep(100 * 1000);
    }
    loader_thread_stop();
    return NULL;
}

static void cancel_case(const char *sql, int through_host)
{
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    struct host_call call;
    struct quarry_row_sink sink;
    struct canceller c;
    pthread_t thread;
    host_call_init(&call, 30000, 0);
    host_error_init(&err);
    struct row_rec *r = rec_new(&sink);
    c.conn = conn;
    c.call = through_host ? &call : NULL;
    atomic_init(&c.done, 0);
    int64_t start = host_now_ms();
    CU_ASSERT_FATAL(pthread_create(&thread, NULL, cancel_thread, &c) == 0);
    int status = drv->execute(conn, &call.ctx, sql, &sink, &err);
    atomic_store(&c.done, 1);
    pthread_join(thread, NULL);
    if (status != QUARRY_ERR_CANCELLED)
        fprintf(stderr, "\n  cancel %s: %d %s\n", sql, status, err.message);
    CU_ASSERT_EQUAL(status, QUARRY_ERR_CANCELLED);
    CU_ASSERT(host_now_ms() - start < 6000); /* SLEEP(10) would take 10 s; valgrind is slow */
    CU_ASSERT_EQUAL(r->ended, 0);
    rec_free(r);
    /* The next call on the same handle runs normally. */
    CU_ASSERT_EQUAL(query_int(conn, "SELECT COUNT(*) FROM Album"), 347);
    drv->close(conn);
}

static void test_cancel_from_thread(void)
{
    NEED_SERVER();
    cancel_case("SELECT SLEEP(10)", 0); /* blocked in the server: KILL QUERY */
    cancel_case(HUGE_SQL, 0);           /* streaming */
}

static void test_cancel_through_host_ctx(void)
{
    NEED_SERVER();
    cancel_case(HUGE_SQL, 1); /* seen between rows */
}

static void test_lost_link_reconnects(void)
{
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url), *other = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    int64_t id = query_int(conn, "SELECT CONNECTION_ID()");
    CU_ASSERT_FATAL(id > 0);
    /* The server ends the idle session (as wait_timeout or a restart would). */
    char sql[64];
    struct quarry_error err;
    struct row_rec *r = NULL;
    snprintf(sql, sizeof(sql), "KILL %lld", (long long)id);
    CU_ASSERT_EQUAL(run(other, sql, 5000, 0, &r, &err), QUARRY_OK);
    rec_free(r);
    usleep(100 * 1000);
    /* The next call finds the link dead and reconnects once, transparently. */
    CU_ASSERT_EQUAL(query_int(conn, "SELECT COUNT(*) FROM Genre"), 25);
    CU_ASSERT(query_int(conn, "SELECT CONNECTION_ID()") != id);
    drv->close(other);
    drv->close(conn);
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
    NEED_SERVER();
    struct quarry_conn *conn = open_url(main_url);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct quarry_error err;
    struct row_rec *r = NULL;
    CU_ASSERT_EQUAL(sample(conn, "Chinook", "Track", 5, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 5);
    CU_ASSERT_EQUAL(r->ncols, 9);
    CU_ASSERT_STRING_EQUAL(r->names[0], "TrackId");
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);
    /* No schema: the URL's database. Another database by name. A view. */
    CU_ASSERT_EQUAL(sample(conn, NULL, "Genre", 100, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 25);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "quarry_extra", "ArtistAlbumCount", 4, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 4);
    rec_free(r);
    /* The call's row cap wins over n. */
    CU_ASSERT_EQUAL(sample(conn, "Chinook", "Track", 50, 2, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 2);
    rec_free(r);
    /* Missing tables and databases. */
    CU_ASSERT_EQUAL(sample(conn, "Chinook", "NoSuchTable", 5, 0, &r, &err), QUARRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(err.native_code, 1146);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "no_such_db", "Track", 5, 0, &r, &err), QUARRY_ERR_NOT_FOUND);
    rec_free(r);
    /* A name is one identifier, never SQL. */
    CU_ASSERT_EQUAL(sample(conn, "Chinook", "Track` WHERE 1=0 UNION SELECT 1 -- ", 5, 0, &r, &err),
                    QUARRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(r->nrows, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "Chinook", "", 5, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "Chinook", NULL, 5, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */

void register_mysql_driver_tests(void)
{
    CU_pSuite s = CU_add_suite("mysql_open", suite_init, suite_cleanup);
    CU_add_test(s, "description", test_description);
    CU_add_test(s, "exports and dependencies", test_exports_and_deps);
    CU_add_test(s, "URL forms", test_open_url_forms);
    CU_add_test(s, "password from parameters", test_open_password_from_params);
    CU_add_test(s, "wrong password is AUTH", test_open_wrong_password);
    CU_add_test(s, "closed port is CONNECT", test_open_unreachable);
    CU_add_test(s, "refused URLs", test_open_refused_forms);
    CU_add_test(s, "ping reports the version", test_ping_version);
    CU_add_test(s, "TLS modes", test_open_tls);

    s = CU_add_suite("mysql_introspect", suite_init, suite_cleanup);
    CU_add_test(s, "Chinook", test_introspect_chinook);
    CU_add_test(s, "schema restriction", test_introspect_schemas);
    CU_add_test(s, "view, comments, multi-column and cross-database keys",
                test_introspect_extra_objects);
    CU_add_test(s, "sink STOP and deadline", test_introspect_stop);

    s = CU_add_suite("mysql_execute", suite_init, suite_cleanup);
    CU_add_test(s, "typed values", test_execute_typed_values);
    CU_add_test(s, "Chinook join", test_execute_chinook_join);
    CU_add_test(s, "writes refused", test_execute_refuses_writes);
    CU_add_test(s, "two statements refused", test_execute_refuses_two_statements);
    CU_add_test(s, "query errors", test_execute_query_errors);
    CU_add_test(s, "SELECT-only user", test_execute_readonly_user);

    s = CU_add_suite("mysql_limits", suite_init, suite_cleanup);
    CU_add_test(s, "row cap and STOP keep the handle usable", test_row_cap);
    CU_add_test(s, "deadline", test_deadline);
    CU_add_test(s, "cancel from another thread", test_cancel_from_thread);
    CU_add_test(s, "cancel through the host ctx", test_cancel_through_host_ctx);
    CU_add_test(s, "lost link reconnects", test_lost_link_reconnects);

    s = CU_add_suite("mysql_sample", suite_init, suite_cleanup);
    CU_add_test(s, "sample", test_sample);
}
