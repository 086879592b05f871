/*
 * The postgres driver, loaded through the real loader and driven through its
 * vtable against a real PostgreSQL server: the private cluster that
 * `.ci/services/postgres.sh start` runs on loopback, with Chinook and the
 * extra objects that script creates (schemas ref and "Sales": a view, a
 * materialized view, a two-column foreign key across schemas, comments, a
 * 100000-row table for sampling, a never-analyzed table; roles quarry,
 * quarry_ro and quarry_enc). The script prints the QUARRY_TEST_PG_* variables
 * these tests read; without them every test fails and says how to start it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "catalog_rec.h"
#include "driver_testlib.h"
#include "host.h"
#include "loader.h"

static const struct quarry_driver *drv;

#define START_HINT "run: eval \"$(bash .ci/services/postgres.sh start)\""

/* ------------------------------------------------------------------------ */
/* Environment and connections                                              */
/* ------------------------------------------------------------------------ */

/* A QUARRY_TEST_PG_* variable, or NULL after saying how to get it. */
static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "\n  %s is not set; the postgres tests need the test server: %s\n", name,
                START_HINT);
        return NULL;
    }
    return v;
}

/* Fails the running test (never skips it) when the server's variables are missing. */
#define NEED(var, name)                                                                            \
    const char *var = env_or_null(name);                                                           \
    if (!var || !drv) {                                                                            \
        CU_FAIL_FATAL("postgres test server or driver missing: " START_HINT);                      \
        return;                                                                                    \
    }

/* `s` with the first `from` replaced by `to`; caller frees. */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    char *out = NULL;
    if (!at)
        return strdup(s);
    if (asprintf(&out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from)) < 0)
        return NULL;
    return out;
}

/* The port of the test server, from its URL ("...@127.0.0.1:55432/..."). */
static int server_port(const char *url)
{
    const char *at = strrchr(url, '@');
    const char *colon = at ? strchr(at, ':') : NULL;
    return colon ? atoi(colon + 1) : 0;
}

static int open_full(const char *url, const struct quarry_kv *params, size_t nparams,
                     int32_t timeout_ms, struct quarry_conn **conn, struct quarry_error *err)
{
    struct quarry_open_params p;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    p.params = params;
    p.nparams = nparams;
    p.connect_timeout_ms = timeout_ms;
    host_error_init(err);
    *conn = NULL;
    int status = drv->open(&p, conn, err);
    CU_ASSERT_EQUAL(err->status, status);
    CU_ASSERT((status == QUARRY_OK) == (*conn != NULL));
    return status;
}

static int open_url(const char *url, struct quarry_conn **conn, struct quarry_error *err)
{
    return open_full(url, NULL, 0, 5000, conn, err);
}

static struct quarry_conn *open_main(void)
{
    const char *url = getenv("QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    if (url && open_url(url, &conn, &err) != QUARRY_OK)
        fprintf(stderr, "\n  open: %s\n", err.message);
    return conn;
}

/* ------------------------------------------------------------------------ */
/* A row sink that records what it gets                                     */
/* ------------------------------------------------------------------------ */

/* Runs one statement in a fresh call (timeout_ms 0 = none) into a fresh recorder. */
static int run(struct quarry_conn *conn, const char *sql, int32_t timeout_ms, uint64_t row_limit,
               struct row_rec **out, struct quarry_error *err)
{
    int status = dt_run(drv, conn, sql, timeout_ms, row_limit, out, err);
    CU_ASSERT_EQUAL(err->status, status);
    return status;
}

/* The first value of a one-row, one-column result as text ("" on any failure); caller frees. */
static char *scalar_text(struct quarry_conn *conn, const char *sql)
{
    struct row_rec *r = NULL;
    struct quarry_error err;
    char *out = NULL;
    if (conn && run(conn, sql, 5000, 0, &r, &err) == QUARRY_OK && r->nrows == 1 &&
        r->rows[0][0].str)
        out = strdup(r->rows[0][0].str);
    else if (conn)
        fprintf(stderr, "\n  %s: %s\n", sql, err.message);
    rec_free(r);
    return out ? out : strdup("");
}

/* The first value of a one-row, one-column integer result, or -2 on any failure. */
static int64_t scalar_int(struct quarry_conn *conn, const char *sql)
{
    struct row_rec *r = NULL;
    struct quarry_error err;
    int64_t out = -2;
    if (conn && run(conn, sql, 5000, 0, &r, &err) == QUARRY_OK && r->nrows == 1 &&
        r->rows[0][0].type == QUARRY_VALUE_INT)
        out = r->rows[0][0].i;
    else if (conn)
        fprintf(stderr, "\n  %s: %s\n", sql, err.message);
    rec_free(r);
    return out;
}

/* Introspects the chinook database over a fresh connection; the recorder is the caller's. */
static struct cat_rec *introspect(const char *const *schemas, size_t nschemas,
                                  size_t stop_after_tables, int32_t timeout_ms, int *status,
                                  struct quarry_error *err)
{
    struct quarry_conn *conn = open_main();
    struct cat_rec *r =
        dt_introspect(drv, conn, schemas, nschemas, stop_after_tables, timeout_ms, status, err);
    drv->close(conn);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Suite setup                                                              */
/* ------------------------------------------------------------------------ */

/* Loads the driver once for every postgres suite (a second load is refused as a duplicate). */
static int suite_init(void)
{
    if (!loader_find("postgres"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, (const char *[]){"postgres"}, 1);
    drv = loader_find("postgres");
    if (!drv)
        fprintf(stderr, "\n  postgres driver not loaded: %s\n",
                loader_refusal("postgres") ? loader_refusal("postgres") : "no reason given");
    /* Tests fail (not the suite) when something is missing, so the run counts them. */
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Driver description                                                       */
/* ------------------------------------------------------------------------ */

static void test_description(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    (void)url;
    CU_ASSERT_STRING_EQUAL(drv->name, "postgres");
    CU_ASSERT_STRING_EQUAL(drv->dialect, "postgresql");
    CU_ASSERT_EQUAL(drv->identifier_quote, '"');
    CU_ASSERT_EQUAL(drv->limit_style, QUARRY_LIMIT_LIMIT);
    uint32_t want = QUARRY_CAP_SQL | QUARRY_CAP_READONLY_TX | QUARRY_CAP_CANCEL |
                    QUARRY_CAP_SAMPLE | QUARRY_CAP_SCHEMAS | QUARRY_CAP_STATEMENT_TIMEOUT;
    CU_ASSERT_EQUAL(drv->capabilities, want);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("postgres"), drv);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("postgresql"), drv);
    CU_ASSERT(drv->open && drv->close && drv->ping && drv->introspect && drv->execute &&
              drv->sample && drv->cancel);
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */
/* ------------------------------------------------------------------------ */

/* Opens `url` and checks the session is the expected user on chinook. */
static void expect_opens_as(const char *url, const char *user)
{
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    int status = open_url(url, &conn, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    if (status != QUARRY_OK) {
        fprintf(stderr, "\n  open failed: %s\n", err.message);
        return;
    }
    char *who = scalar_text(conn, "SELECT current_user || '@' || current_database()");
    char *want = NULL;
    CU_ASSERT(asprintf(&want, "%s@chinook", user) > 0);
    CU_ASSERT_STRING_EQUAL(who, want);
    free(who);
    free(want);
    drv->close(conn);
}

static void test_url_forms(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    expect_opens_as(url, "quarry");
    const char *variants[][2] = {
        {"postgresql://", "postgres://"},
        {"postgresql://", "postgresql+psycopg2://"},
        {"postgresql://", "postgres+asyncpg://"},
        {"postgresql://", "PostgreSQL://"},
        {"/chinook", "/chinook?sslmode=disable&connect_timeout=3"},
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        char *u = replace(url, variants[i][0], variants[i][1]);
        expect_opens_as(u, "quarry");
        free(u);
    }
}

static void test_url_encoded_password(void)
{
    NEED(url, "QUARRY_TEST_PG_ENC_URL");
    /* The script's password has @ : / ? # % & space and a non-ASCII letter, all encoded. */
    CU_ASSERT_PTR_NOT_NULL(strstr(url, "%40"));
    CU_ASSERT_PTR_NOT_NULL(strstr(url, "%C3%A9"));
    expect_opens_as(url, "quarry_enc");
}

static void test_url_query_options(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    char *u = replace(url, "/chinook", "/chinook?options=-c%20search_path%3Dref");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(open_url(u, &conn, &err), QUARRY_OK);
    char *schema = scalar_text(conn, "SELECT current_schema()");
    CU_ASSERT_STRING_EQUAL(schema, "ref");
    free(schema);
    drv->close(conn);
    free(u);
}

static void test_application_name(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    /* The driver's name wins over one in the URL. */
    char *u = replace(url, "/chinook", "/chinook?application_name=other");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(open_url(u, &conn, &err), QUARRY_OK);
    char *name = scalar_text(conn, "SELECT current_setting('application_name')");
    CU_ASSERT_STRING_EQUAL(name, "quarry");
    free(name);
    drv->close(conn);
    free(u);
}

static void test_wrong_password(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    char *u = replace(url, ":secret@", ":WrongPass123@");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(open_url(u, &conn, &err), QUARRY_ERR_AUTH);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "28P01");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "password authentication failed"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "WrongPass123"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "LOCATION"));
    free(u);
}

/* No password in the URL: AUTH, and PGPASSWORD of this process must not fill it in. */
static void test_no_password_ignores_environment(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    char *u = replace(url, ":secret@", "@");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(open_url(u, &conn, &err), QUARRY_ERR_AUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no password"));
    setenv("PGPASSWORD", "secret", 1);
    int status = open_url(u, &conn, &err);
    unsetenv("PGPASSWORD");
    CU_ASSERT_EQUAL(status, QUARRY_ERR_AUTH);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "28P01");
    drv->close(conn);
    free(u);
}

static void test_closed_port(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    char *from = NULL, *to = NULL;
    CU_ASSERT(asprintf(&from, ":%d/", server_port(url)) > 0);
    CU_ASSERT(asprintf(&to, ":%d/", closed_port()) > 0);
    char *u = replace(url, from, to);
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(open_full(u, NULL, 0, 2000, &conn, &err), QUARRY_ERR_CONNECT);
    CU_ASSERT(host_now_ms() - t0 < 1500);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "refused"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "secret"));
    free(u);
    free(from);
    free(to);
}

/* A server that accepts TCP and never answers: the connect timeout must cut it short. */
static void test_connect_timeout(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                    listen(fd, 8) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    char *from = NULL, *to = NULL;
    CU_ASSERT(asprintf(&from, ":%d/", server_port(url)) > 0);
    CU_ASSERT(asprintf(&to, ":%d/", ntohs(a.sin_port)) > 0);
    char *u = replace(url, from, to);
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(open_full(u, NULL, 0, 400, &conn, &err), QUARRY_ERR_CONNECT);
    int64_t took = host_now_ms() - t0;
    CU_ASSERT(took >= 350 && took < 1500);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "timed out"));
    close(fd);
    free(u);
    free(from);
    free(to);
}

/* [::1] parses as a host (the server listens on 127.0.0.1 only, so it cannot connect). */
static void test_ipv6_host(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    char *u = replace(url, "@127.0.0.1:", "@[::1]:");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(open_full(u, NULL, 0, 2000, &conn, &err), QUARRY_ERR_CONNECT);
    CU_ASSERT(host_now_ms() - t0 < 2500);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "::1"));
    free(u);
}

/* URLs and params refused before any connection attempt. */
static void test_invalid_urls(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    int port = server_port(url);
    char *cases[16] = {0};
    int n = 0;
    cases[n++] = strdup("mysql://quarry:secret@127.0.0.1/chinook");
    cases[n++] = strdup("quarry:secret@127.0.0.1/chinook");
    cases[n++] = strdup("postgresql:///chinook"); /* a unix socket */
    CU_ASSERT(asprintf(&cases[n++], "postgresql://quarry:secret@%%2Ftmp:%d/chinook", port) > 0);
    CU_ASSERT(asprintf(&cases[n++], "postgresql://quarry:secret@127.0.0.1:%d/chinook?host=/tmp",
                       port) > 0);
    CU_ASSERT(asprintf(&cases[n++], "postgresql://quarry:secret@127.0.0.1:%d/chinook?service=x",
                       port) > 0);
    CU_ASSERT(asprintf(&cases[n++],
                       "postgresql://quarry:secret@127.0.0.1:%d/chinook?passfile=/etc/passwd",
                       port) > 0);
    CU_ASSERT(asprintf(&cases[n++], "postgresql://quarry:secret@127.0.0.1:%d/chinook?nosuch=1",
                       port) > 0);
    CU_ASSERT(asprintf(&cases[n++], "postgresql://quarry:secret@127.0.0.1:%d/chinook?sslmode=bad",
                       port) > 0);
    cases[n++] = strdup("postgresql://quarry:secret@127.0.0.1:99999/chinook");
    for (int i = 0; i < n; i++) {
        struct quarry_conn *conn = NULL;
        struct quarry_error err;
        int status = open_url(cases[i], &conn, &err);
        if (status != QUARRY_ERR_INVALID)
            fprintf(stderr, "\n  %s: status %d (%s)\n", cases[i], status, err.message);
        CU_ASSERT_EQUAL(status, QUARRY_ERR_INVALID);
        CU_ASSERT_PTR_NULL(strstr(err.message, "secret"));
        drv->close(conn);
        free(cases[i]);
    }
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(open_url(NULL, &conn, &err), QUARRY_ERR_INVALID);
}

/* A URL libpq cannot parse: the message must not echo the credentials. */
static void test_malformed_url_hides_password(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    const char *cases[] = {
        "postgresql://quarry:Top%zzSecret9@127.0.0.1:5432/chinook",
        "postgresql://quarry:TopSecret9@[::1:5432/chinook",
        "postgresql://quarry@127.0.0.1:5432/chinook?password=TopSecret9&bad%zz=1",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct quarry_conn *conn = NULL;
        struct quarry_error err;
        CU_ASSERT_EQUAL(open_url(cases[i], &conn, &err), QUARRY_ERR_INVALID);
        CU_ASSERT(strlen(err.message) > 0);
        CU_ASSERT_PTR_NULL(strstr(err.message, "Secret9"));
    }
}

static void test_params(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    /* A misspelt TLS option is refused, not ignored. */
    struct quarry_kv typo[] = {{"sslmod", "require"}};
    CU_ASSERT_EQUAL(open_full(url, typo, 1, 3000, &conn, &err), QUARRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "sslmod"));
    struct quarry_kv bad_value[] = {{"sslmode", "sometimes"}};
    CU_ASSERT_EQUAL(open_full(url, bad_value, 1, 3000, &conn, &err), QUARRY_ERR_INVALID);
    struct quarry_kv service[] = {{"service", "prod"}};
    CU_ASSERT_EQUAL(open_full(url, service, 1, 3000, &conn, &err), QUARRY_ERR_INVALID);
    /* A param overrides the URL's part. */
    char *nopass = replace(url, ":secret@", "@");
    struct quarry_kv password[] = {{"password", "secret"}};
    CU_ASSERT_EQUAL(open_full(nopass, password, 1, 3000, &conn, &err), QUARRY_OK);
    drv->close(conn);
    free(nopass);
}

static void test_tls(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    NEED(ca, "QUARRY_TEST_PG_CA");
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    const char *ssl_sql = "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    struct quarry_kv verify[] = {{"sslmode", "verify-full"}, {"sslrootcert", ca}};
    CU_ASSERT_EQUAL(open_full(url, verify, 2, 3000, &conn, &err), QUARRY_OK);
    char *ssl = scalar_text(conn, ssl_sql);
    CU_ASSERT_STRING_EQUAL(ssl, "true");
    free(ssl);
    drv->close(conn);

    struct quarry_kv plain[] = {{"sslmode", "disable"}};
    CU_ASSERT_EQUAL(open_full(url, plain, 1, 3000, &conn, &err), QUARRY_OK);
    ssl = scalar_text(conn, ssl_sql);
    CU_ASSERT_STRING_EQUAL(ssl, "false");
    free(ssl);
    drv->close(conn);

    /* Verification against a CA that did not sign the server's certificate fails. */
    struct quarry_kv wrong_ca[] = {{"sslmode", "verify-full"}, {"sslrootcert", "/etc/hostname"}};
    CU_ASSERT_EQUAL(open_full(url, wrong_ca, 2, 3000, &conn, &err), QUARRY_ERR_CONNECT);
}

static void test_ping(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct host_call call;
    struct quarry_server_info info;
    struct quarry_error err;
    memset(&info, 0, sizeof(info));
    QUARRY_STRUCT_INIT(&info);
    host_call_init(&call, 2000, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, &info, &err), QUARRY_OK);
    CU_ASSERT_NSTRING_EQUAL(info.version, "PostgreSQL ", 11);
    char *version = scalar_text(conn, "SELECT current_setting('server_version')");
    CU_ASSERT_PTR_NOT_NULL(strstr(info.version, version));
    free(version);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */
/* Introspect                                                               */
/* ------------------------------------------------------------------------ */

static const char *const chinook_tables[] = {
    "public.album",    "public.artist",         "public.customer",     "public.employee",
    "public.genre",    "public.invoice",        "public.invoice_line", "public.media_type",
    "public.playlist", "public.playlist_track", "public.track"};

static void test_introspect_chinook(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    const char *schemas[] = {"public"};
    int status;
    struct quarry_error err;
    struct cat_rec *r = introspect(schemas, 1, 0, 10000, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 11);
    for (size_t i = 0; i < 11; i++) {
        const struct cat_table *t = find_table(r, chinook_tables[i]);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (t)
            CU_ASSERT_EQUAL(t->kind, QUARRY_TABLE);
    }
    CU_ASSERT_EQUAL(r->misordered, 0);
    CU_ASSERT_EQUAL(count_columns(r, "public.track"), 9);
    CU_ASSERT_EQUAL(count_columns(r, "public.employee"), 15);

    const struct cat_column *c = find_column(r, "public.track", "track_id");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(c->ordinal, 1);
    CU_ASSERT_EQUAL(c->pk, 1);
    CU_ASSERT_EQUAL(c->nullable, 0);
    CU_ASSERT_STRING_EQUAL(c->type, "integer");
    c = find_column(r, "public.track", "name");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(c->ordinal, 2);
    CU_ASSERT_STRING_EQUAL(c->type, "character varying(200)");
    CU_ASSERT_EQUAL(c->pk, 0);
    c = find_column(r, "public.track", "unit_price");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(c->type, "numeric(10,2)");
    CU_ASSERT_EQUAL(c->ordinal, 9);
    c = find_column(r, "public.track", "composer");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_EQUAL(c->nullable, 1);
    CU_ASSERT_PTR_NULL(c->dflt);
    c = find_column(r, "public.employee", "birth_date");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT_STRING_EQUAL(c->type, "timestamp without time zone");

    /* The two-column primary key, positions in key order. */
    c = find_column(r, "public.playlist_track", "playlist_id");
    CU_ASSERT(c && c->pk == 1);
    c = find_column(r, "public.playlist_track", "track_id");
    CU_ASSERT(c && c->pk == 2);
    const struct cat_index *pk = find_index(r, "playlist_track_pkey");
    CU_ASSERT_FATAL(pk != NULL);
    CU_ASSERT(pk->primary && pk->unique);
    CU_ASSERT_STRING_EQUAL(pk->cols, "playlist_id,track_id");
    const struct cat_index *ix = find_index(r, "track_album_id_idx");
    CU_ASSERT(ix && !ix->unique && !ix->primary && str_eq(ix->cols, "album_id"));

    /* Chinook's 11 foreign keys, the self reference included. */
    CU_ASSERT_EQUAL(r->nfks, 11);
    const struct cat_fk *fk = find_fk(r, "public.employee", "reports_to");
    CU_ASSERT_FATAL(fk != NULL);
    CU_ASSERT_STRING_EQUAL(fk->ref_table, "public.employee");
    CU_ASSERT_STRING_EQUAL(fk->ref_cols, "employee_id");
    CU_ASSERT_STRING_EQUAL(fk->name, "employee_reports_to_fkey");
    fk = find_fk(r, "public.invoice_line", "track_id");
    CU_ASSERT(fk && str_eq(fk->ref_table, "public.track") && str_eq(fk->ref_cols, "track_id"));
    cat_free(r);
}

/* Row estimates come from pg_class after ANALYZE (the script ran it): equal to count(*). */
static void test_introspect_row_estimates(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    const char *schemas[] = {"public", "ref"};
    int status;
    struct quarry_error err;
    struct cat_rec *r = introspect(schemas, 2, 0, 10000, &status, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    struct quarry_conn *conn = open_main();
    const char *counted[] = {"public.track", "public.invoice_line", "public.genre",
                             "ref.big_sample"};
    for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
        char *sql = NULL;
        CU_ASSERT(asprintf(&sql, "SELECT count(*) FROM %s", counted[i]) > 0);
        int64_t n = scalar_int(conn, sql);
        const struct cat_table *t = find_table(r, counted[i]);
        CU_ASSERT(n > 0 && t && t->rows == n);
        free(sql);
    }
    const struct cat_table *never = find_table(r, "ref.never_analyzed");
    CU_ASSERT(never && never->rows == -1);
    drv->close(conn);
    cat_free(r);
}

static void test_introspect_schema_scope(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    int status;
    struct quarry_error err;
    const char *ref[] = {"ref"};
    struct cat_rec *r = introspect(ref, 1, 0, 10000, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 4); /* region, genre_tracks, big_sample, never_analyzed */
    for (size_t i = 0; i < r->ntables && i < CAT_MAX; i++)
        CU_ASSERT_NSTRING_EQUAL(r->tables[i].name, "ref.", 4);
    for (size_t i = 0; i < r->nfks && i < CAT_MAX; i++)
        CU_ASSERT_NSTRING_EQUAL(r->fks[i].table, "ref.", 4);
    cat_free(r);

    /* Default scope: every user schema, no system schema. */
    r = introspect(NULL, 0, 0, 10000, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 11 + 4 + 2);
    CU_ASSERT_PTR_NOT_NULL(find_table(r, "Sales.Order"));
    for (size_t i = 0; i < r->ntables && i < CAT_MAX; i++) {
        CU_ASSERT(strncmp(r->tables[i].name, "pg_", 3) != 0);
        CU_ASSERT(strncmp(r->tables[i].name, "information_schema.", 19) != 0);
    }
    CU_ASSERT_EQUAL(r->misordered, 0);
    cat_free(r);

    /* A schema that does not exist is an empty catalog, not an error. */
    const char *none[] = {"no_such_schema", "we\"ird\\"};
    r = introspect(none, 2, 0, 10000, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 0);
    cat_free(r);
}

static void test_introspect_extras(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    const char *schemas[] = {"Sales", "ref"};
    int status;
    struct quarry_error err;
    struct cat_rec *r = introspect(schemas, 2, 0, 10000, &status, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->misordered, 0);

    /* Case kept; comments on tables, views and columns. */
    const struct cat_table *order = find_table(r, "Sales.Order");
    CU_ASSERT_FATAL(order != NULL);
    CU_ASSERT_EQUAL(order->kind, QUARRY_TABLE);
    CU_ASSERT(str_eq(order->comment, "Orders placed per region"));
    CU_ASSERT_EQUAL(order->rows, 3);
    const struct cat_table *view = find_table(r, "Sales.order_totals");
    CU_ASSERT_FATAL(view != NULL);
    CU_ASSERT_EQUAL(view->kind, QUARRY_VIEW);
    CU_ASSERT_EQUAL(view->rows, -1);
    CU_ASSERT(str_eq(view->comment, "Order totals per region"));
    CU_ASSERT_EQUAL(count_columns(r, "Sales.order_totals"), 2);
    const struct cat_table *mv = find_table(r, "ref.genre_tracks");
    CU_ASSERT(mv && mv->kind == QUARRY_MATERIALIZED_VIEW);
    const struct cat_table *region = find_table(r, "ref.region");
    CU_ASSERT(region && str_eq(region->comment, "Sales regions, keyed by country and region code"));

    const struct cat_column *c = find_column(r, "Sales.Order", "Amount");
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(str_eq(c->comment, "Order total in EUR"));
    CU_ASSERT(str_eq(c->type, "numeric(12,2)"));
    CU_ASSERT(str_eq(c->dflt, "0"));
    CU_ASSERT_EQUAL(c->nullable, 0);
    c = find_column(r, "Sales.Order", "OrderId");
    CU_ASSERT(c && c->pk == 1 && c->dflt && strstr(c->dflt, "nextval("));
    c = find_column(r, "ref.region", "region_code");
    CU_ASSERT(c && c->pk == 2);

    /* The two-column FK across schemas, columns paired in declaration order. */
    const struct cat_fk *fk = find_fk(r, "Sales.Order", "region_code,country_code");
    CU_ASSERT_FATAL(fk != NULL);
    CU_ASSERT_STRING_EQUAL(fk->ref_table, "ref.region");
    CU_ASSERT_STRING_EQUAL(fk->ref_cols, "region_code,country_code");
    CU_ASSERT_STRING_EQUAL(fk->name, "order_region_fkey");
    fk = find_fk(r, "Sales.Order", "customer_id");
    CU_ASSERT(fk && str_eq(fk->ref_table, "public.customer"));

    const struct cat_index *ix = find_index(r, "order_ref_key");
    CU_ASSERT(ix && ix->unique && !ix->primary && str_eq(ix->cols, "OrderRef"));
    ix = find_index(r, "order_note_lower_idx");
    CU_ASSERT(ix && ix->unique && str_eq(ix->cols, "<expr>,OrderRef"));
    ix = find_index(r, "region_pkey");
    CU_ASSERT(ix && ix->primary && str_eq(ix->cols, "country_code,region_code"));
    cat_free(r);
}

static void test_introspect_stop_and_deadline(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    int status;
    struct quarry_error err;
    struct cat_rec *r = introspect(NULL, 0, 3, 10000, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->ntables, 3);
    CU_ASSERT_EQUAL(r->after_stop, 0);
    cat_free(r);

    /* A deadline already spent: TIMEOUT, nothing reported. */
    r = introspect(NULL, 0, 0, -1, &status, &err);
    CU_ASSERT_EQUAL(status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(r->ntables, 0);
    cat_free(r);
}

/* ------------------------------------------------------------------------ */
/* Execute                                                                  */
/* ------------------------------------------------------------------------ */

static void test_execute_typed_values(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    int status = run(conn,
                     "SELECT 42::int2 AS i2, 9223372036854775807::int8 AS i8, "
                     "0.99::numeric AS num, 12345678901234567890.123456789::numeric AS big, "
                     "'NaN'::numeric AS nan, 2.5::float8 AS f8, 0.1::float4 AS f4, "
                     "true AS yes, false AS no, '\\x00ff10'::bytea AS blob, "
                     "'2024-02-29 13:45:01.25+01'::timestamptz AS tstz, "
                     "'2024-02-29 13:45:01'::timestamp AS ts, '2024-02-29'::date AS d, "
                     "'{\"a\": [1, 2]}'::jsonb AS jb, '{\"b\":1}'::json AS j, "
                     "NULL::text AS nothing, 'h\xc3\xa9llo'::text AS txt, "
                     "'infinity'::timestamptz AS inf, '12:34'::time AS t, "
                     "'-infinity'::float8 AS ninf",
                     5000, 0, &r, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL(r->begun, 1);
    CU_ASSERT_EQUAL(r->ended, 1);
    CU_ASSERT_EQUAL_FATAL(r->nrows, 1);
    CU_ASSERT_EQUAL_FATAL(r->ncols, 20);
    struct rec_value *v = r->rows[0];

    CU_ASSERT_STRING_EQUAL(r->names[0], "i2");
    CU_ASSERT_EQUAL(r->types[0], QUARRY_VALUE_INT);
    CU_ASSERT(str_eq(r->decls[0], "smallint"));
    CU_ASSERT(v[0].type == QUARRY_VALUE_INT && v[0].i == 42);
    CU_ASSERT(v[1].type == QUARRY_VALUE_INT && v[1].i == INT64_MAX);
    /* numeric stays exact text, never a double. */
    CU_ASSERT_EQUAL(r->types[2], QUARRY_VALUE_DECIMAL);
    CU_ASSERT(v[2].type == QUARRY_VALUE_DECIMAL && str_eq(v[2].str, "0.99"));
    CU_ASSERT(v[3].type == QUARRY_VALUE_DECIMAL &&
              str_eq(v[3].str, "12345678901234567890.123456789"));
    CU_ASSERT(v[4].type == QUARRY_VALUE_TEXT && str_eq(v[4].str, "NaN"));
    CU_ASSERT(v[5].type == QUARRY_VALUE_DOUBLE && v[5].d == 2.5);
    CU_ASSERT(v[6].type == QUARRY_VALUE_DOUBLE && (float)v[6].d == 0.1f);
    CU_ASSERT(v[7].type == QUARRY_VALUE_BOOL && v[7].i == 1);
    CU_ASSERT(v[8].type == QUARRY_VALUE_BOOL && v[8].i == 0);
    CU_ASSERT(v[9].type == QUARRY_VALUE_BLOB && v[9].len == 3 && v[9].str &&
              memcmp(v[9].str, "\x00\xff\x10", 3) == 0);
    CU_ASSERT(v[10].type == QUARRY_VALUE_TIMESTAMP && str_eq(v[10].str, "2024-02-29T12:45:01.25Z"));
    CU_ASSERT(v[11].type == QUARRY_VALUE_TIMESTAMP && str_eq(v[11].str, "2024-02-29T13:45:01"));
    CU_ASSERT(v[12].type == QUARRY_VALUE_DATE && str_eq(v[12].str, "2024-02-29"));
    CU_ASSERT(v[13].type == QUARRY_VALUE_JSON && str_eq(v[13].str, "{\"a\": [1, 2]}"));
    CU_ASSERT(v[14].type == QUARRY_VALUE_JSON && str_eq(v[14].str, "{\"b\":1}"));
    CU_ASSERT_EQUAL(v[15].type, QUARRY_VALUE_NULL);
    CU_ASSERT(v[16].type == QUARRY_VALUE_TEXT && str_eq(v[16].str, "h\xc3\xa9llo"));
    CU_ASSERT(v[17].type == QUARRY_VALUE_TEXT && str_eq(v[17].str, "infinity"));
    CU_ASSERT(v[18].type == QUARRY_VALUE_TEXT && str_eq(v[18].str, "12:34:00"));
    CU_ASSERT(v[19].type == QUARRY_VALUE_TEXT && str_eq(v[19].str, "-Infinity"));
    rec_free(r);

    /* Chinook's own data: prices stay "0.99", timestamps without zone have no offset. */
    status = run(conn,
                 "SELECT t.unit_price, e.birth_date, t.name FROM track t, employee e "
                 "WHERE t.track_id = 1 AND e.employee_id = 1",
                 5000, 0, &r, &err);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r->nrows, 1);
    CU_ASSERT(r->rows[0][0].type == QUARRY_VALUE_DECIMAL && str_eq(r->rows[0][0].str, "0.99"));
    CU_ASSERT(r->rows[0][1].type == QUARRY_VALUE_TIMESTAMP &&
              str_eq(r->rows[0][1].str, "1962-02-18T00:00:00"));
    CU_ASSERT(r->rows[0][2].type == QUARRY_VALUE_TEXT);
    rec_free(r);
    drv->close(conn);
}

static void expect_refused_write(struct quarry_conn *conn, const char *sql)
{
    struct row_rec *r = NULL;
    struct quarry_error err;
    int status = run(conn, sql, 5000, 0, &r, &err);
    if (status != QUARRY_ERR_READONLY)
        fprintf(stderr, "\n  %s: status %d (%s)\n", sql, status, err.message);
    CU_ASSERT_EQUAL(status, QUARRY_ERR_READONLY);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "25006");
    CU_ASSERT_EQUAL(r->ended, 0);
    rec_free(r);
}

static void test_execute_writes_refused(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    /* quarry owns these tables: only the read-only session stops the writes. */
    char *before = scalar_text(conn, "SELECT count(*) || '/' || sum(length(name)) FROM genre");
    expect_refused_write(conn, "INSERT INTO genre (genre_id, name) VALUES (999, 'Noise')");
    expect_refused_write(conn, "UPDATE genre SET name = 'X'");
    expect_refused_write(conn, "DELETE FROM genre");
    expect_refused_write(conn, "WITH d AS (DELETE FROM genre RETURNING *) SELECT count(*) FROM d");
    expect_refused_write(conn, "CREATE TABLE quarry_scratch (x int)");
    expect_refused_write(conn, "DROP TABLE playlist_track");
    expect_refused_write(conn, "SELECT nextval('\"Sales\".\"Order_OrderId_seq\"')");
    expect_refused_write(conn, "SELECT * FROM genre FOR UPDATE");
    char *after = scalar_text(conn, "SELECT count(*) || '/' || sum(length(name)) FROM genre");
    CU_ASSERT(strlen(before) > 0);
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT count(*) FROM pg_class WHERE relname = "
                                     "'quarry_scratch'"),
                    0);
    free(before);
    free(after);
    drv->close(conn);

    /* The read-only role: reads work, writes are refused the same way. */
    const char *ro = getenv("QUARRY_TEST_PG_RO_URL");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ro);
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(open_url(ro, &conn, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT count(*) FROM genre"), 25);
    expect_refused_write(conn, "DELETE FROM genre");
    drv->close(conn);
}

static void test_execute_one_statement_only(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(run(conn, "SELECT 1; SELECT 2", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "42601");
    CU_ASSERT_EQUAL(r->nrows, 0);
    rec_free(r);
    /* The write after the harmless statement never runs (nor does COMMIT help it). */
    CU_ASSERT_EQUAL(run(conn, "COMMIT; DELETE FROM genre", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT count(*) FROM genre"), 25);
    CU_ASSERT_EQUAL(run(conn, "   ", 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, "SELEC 1", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "42601");
    rec_free(r);
    CU_ASSERT_EQUAL(run(conn, "SELECT * FROM no_such_table", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "42P01");
    rec_free(r);
    /* A statement near the size limit goes out whole; one past it is refused unsent. */
    size_t big = 1000 * 1000;
    char *sql = malloc(big + 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
    int len = snprintf(sql, 64, "SELECT length('");
    memset(sql + len, 'x', big - 64);
    snprintf(sql + len + big - 64, 64, "')");
    CU_ASSERT_EQUAL(scalar_int(conn, sql), (int64_t)(big - 64));
    free(sql);
    sql = malloc(2 * big);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
    memset(sql, ' ', 2 * big - 1);
    sql[2 * big - 1] = '\0';
    memcpy(sql, "SELECT 1", 8);
    CU_ASSERT_EQUAL(run(conn, sql, 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    free(sql);
    /* COPY would leave the protocol in another mode: refused, connection intact. */
    CU_ASSERT_EQUAL(run(conn, "COPY genre TO STDOUT", 5000, 0, &r, &err), QUARRY_ERR_UNSUPPORTED);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);
    drv->close(conn);
}

/* An error after some rows went out: the sink got them, but no end(). */
static void test_execute_error_mid_stream(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(
        run(conn, "SELECT 10 / (5 - g) FROM generate_series(1, 10) g", 5000, 0, &r, &err),
        QUARRY_ERR_QUERY);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "22012");
    CU_ASSERT_EQUAL(r->ended, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 7"), 7);
    drv->close(conn);
}

static void test_execute_row_cap(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, "SELECT generate_series(1, 50000000)", 20000, 5, &r, &err),
                    QUARRY_OK);
    CU_ASSERT(host_now_ms() - t0 < 3000);
    CU_ASSERT_EQUAL(r->nrows, 5);
    CU_ASSERT_EQUAL(r->ended, 1);
    CU_ASSERT(r->rows[4][0].type == QUARRY_VALUE_INT && r->rows[4][0].i == 5);
    rec_free(r);
    /* The connection carries on. */
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);

    /* A sink's STOP does the same. */
    struct host_call call;
    struct quarry_row_sink sink;
    host_call_init(&call, 20000, 0);
    host_error_init(&err);
    r = rec_new(&sink);
    r->stop_after = 3;
    CU_ASSERT_EQUAL(
        drv->execute(conn, &call.ctx, "SELECT generate_series(1, 50000000)", &sink, &err),
        QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT count(*) FROM track"), 3503);

    /* A small result under the cap, and a cap equal to the result. */
    CU_ASSERT_EQUAL(run(conn, "SELECT genre_id FROM genre ORDER BY 1", 5000, 25, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 25);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 43"), 43);
    drv->close(conn);
}

static void test_execute_deadline(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, "SELECT pg_sleep(10)", 300, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    int64_t took = host_now_ms() - t0;
    CU_ASSERT(took >= 250 && took < 2000);
    CU_ASSERT_EQUAL(r->ended, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);

    /* Rows that keep coming without a wait: the deadline still ends it. */
    t0 = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, "SELECT generate_series(1, 500000000)", 500, 0, &r, &err),
                    QUARRY_ERR_TIMEOUT);
    took = host_now_ms() - t0;
    CU_ASSERT(took >= 400 && took < 3000);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);
    drv->close(conn);
}

struct canceller {
    struct quarry_conn *conn;
    struct host_call *call; /* host cancel when set, else the driver's cancel() */
    int delay_ms;
    int status;
};

static void *cancel_later(void *arg)
{
    struct canceller *c = arg;
    usleep((useconds_t)c->delay_ms * 1000);
    if (c->call) {
        host_call_cancel(c->call);
        c->status = QUARRY_OK;
    } else {
        c->status = drv->cancel(c->conn);
    }
    return NULL;
}

/* A driver call that runs for seconds unless it is stopped. */
typedef int (*slow_call_fn)(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                            const struct quarry_row_sink *sink, struct quarry_error *err);

/*
 * Runs `slow` twice, cancelled after 300 ms through the driver's cancel()
 * and then through the host's ctx: CANCELLED soon after, no end(), and the
 * connection still answers.
 */
static void expect_cancel_stops(struct quarry_conn *conn, slow_call_fn slow)
{
    for (int host_side = 0; host_side < 2; host_side++) {
        struct host_call call;
        struct quarry_row_sink sink;
        struct quarry_error err;
        host_call_init(&call, 20000, 0);
        host_error_init(&err);
        struct row_rec *r = rec_new(&sink);
        struct canceller c = {.conn = conn, .call = host_side ? &call : NULL, .delay_ms = 300};
        pthread_t t;
        int64_t t0 = host_now_ms();
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, cancel_later, &c), 0);
        int status = slow(conn, &call.ctx, &sink, &err);
        pthread_join(t, NULL);
        int64_t took = host_now_ms() - t0;
        CU_ASSERT_EQUAL(status, QUARRY_ERR_CANCELLED);
        CU_ASSERT_EQUAL(c.status, QUARRY_OK);
        CU_ASSERT(took >= 250 && took < 3000);
        CU_ASSERT_EQUAL(r->ended, 0);
        rec_free(r);
        CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);
    }
}

static int sleep_ten_seconds(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                             const struct quarry_row_sink *sink, struct quarry_error *err)
{
    return drv->execute(conn, ctx, "SELECT pg_sleep(10)", sink, err);
}

static void test_execute_cancel(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    expect_cancel_stops(conn, sleep_ten_seconds);
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
    int status = drv->sample(conn, &call.ctx, schema, table, n, &sink, err);
    CU_ASSERT_EQUAL(err->status, status);
    return status;
}

static void test_sample_large_table(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(sample(conn, "ref", "big_sample", 10, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 10);
    CU_ASSERT_EQUAL(r->ncols, 3);
    CU_ASSERT_EQUAL(r->ended, 1);
    /* A plain LIMIT would return the first ids in physical order; a sample spreads out. */
    int first_ten = 1;
    for (size_t i = 0; i < r->nrows && i < REC_ROWS; i++)
        if (r->rows[i][0].i > 10)
            first_ten = 0;
    CU_ASSERT_FALSE(first_ten);
    rec_free(r);
    /* The ctx row limit caps n. */
    CU_ASSERT_EQUAL(sample(conn, "ref", "big_sample", 10, 4, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 4);
    rec_free(r);
    drv->close(conn);
}

static void test_sample_small_and_named(void)
{
    NEED(url, "QUARRY_TEST_PG_URL");
    struct quarry_conn *conn = open_main();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(sample(conn, "public", "genre", 5, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 5);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "public", "genre", 100, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 25);
    rec_free(r);
    /* No schema: found through search_path. */
    CU_ASSERT_EQUAL(sample(conn, NULL, "track", 3, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    CU_ASSERT_EQUAL(r->ncols, 9);
    rec_free(r);
    /* Names that need quoting, and a view. */
    CU_ASSERT_EQUAL(sample(conn, "Sales", "Order", 10, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    CU_ASSERT(str_eq(r->names[0], "OrderId"));
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "Sales", "order_totals", 10, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    rec_free(r);
    /* Case matters, as in the catalog; unknown names are NOT_FOUND. */
    CU_ASSERT_EQUAL(sample(conn, "sales", "order", 10, 0, &r, &err), QUARRY_ERR_NOT_FOUND);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, "public", "nope\"; DROP TABLE genre; --", 10, 0, &r, &err),
                    QUARRY_ERR_NOT_FOUND);
    rec_free(r);
    CU_ASSERT_EQUAL(sample(conn, NULL, "no_such_table", 10, 0, &r, &err), QUARRY_ERR_NOT_FOUND);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT count(*) FROM genre"), 25);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */
/* Scan                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * The scan fixtures, in the quarry_test database (QUARRY_TEST_PG_RW_URL), so
 * that chinook's catalog stays what the other suites expect. Rebuilt from
 * scratch once per run.
 */
static const char scan_fixture_sql[] =
    "SET client_min_messages = warning;\n"
    "DROP SCHEMA IF EXISTS quarry_scan CASCADE;\n"
    "DROP SCHEMA IF EXISTS \"Quarry Scan\" CASCADE;\n"
    "CREATE SCHEMA quarry_scan;\n"
    "CREATE SCHEMA \"Quarry Scan\";\n"
    "CREATE TABLE quarry_scan.types (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, num numeric,\n"
    "  f4 real, f8 float8, flag bool, t text, vc varchar(20), ch char(4), bin bytea, js json,\n"
    "  jb jsonb, ints int[], texts text[], d date, ts timestamp, tstz timestamptz, u uuid,\n"
    "  iv interval);\n"
    "INSERT INTO quarry_scan.types VALUES\n"
    " (1, 32767, 2147483647, 9223372036854775807, 12345678901234567890.123456789, 1.5, 0.1,\n"
    "  true, 'plain', 'vc', 'ab', '\\x00ff00', '{\"a\": \"tab\\there\", \"n\": [1, 2.5, null]}',\n"
    "  '{\"q\": \"say \\\"hi\\\"\\\\n\", \"k\": {\"x\": true}}', '{1,2,NULL,-3}',\n"
    "  ARRAY['a\\b', 'c\"d', NULL, 'e,f', E'tab\\tx', E'nl\\ny'], '2024-02-29',\n"
    "  '2024-02-29 12:45:01.25', '2024-02-29 12:45:01.25+05:30',\n"
    "  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:03:04'),\n"
    " (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,\n"
    "  NULL, NULL, NULL, NULL, NULL, NULL),\n"
    " (3, -32768, -2147483648, -9223372036854775808, 'NaN', 'NaN', 'NaN', false, E'a\\tb',\n"
    "  E'x\\ty', 'c\\d', '\\x', '\"\\u00e9\"', '\"\\u00e9\"', '{}', '{}', 'infinity',\n"
    "  'infinity', '-infinity', '00000000-0000-0000-0000-000000000000', '-1 mons'),\n"
    " (4, 0, 0, 0, '-0.5', 'Infinity', '-Infinity', NULL, E'line1\\nline2\\r\\n', NULL, NULL,\n"
    "  decode('5c4e00', 'hex'), '[]', '[]', NULL, NULL, '0044-03-15 BC', '1999-12-31 23:59:59',\n"
    "  '1970-01-01 00:00:00+00', NULL, NULL),\n"
    " (5, 1, 1, 1, '0', 1e30, -0.0, true, E'back\\\\slash', NULL, NULL, '\\x5c5c', NULL, NULL,\n"
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL),\n"
    " (6, NULL, NULL, NULL, NULL, NULL, 5e-324, NULL, E'\\\\N', E'\\\\N', NULL, NULL, NULL,\n"
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),\n"
    " (7, NULL, NULL, NULL, NULL, NULL, 1.7976931348623157e308, NULL,\n"
    "  'h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f389', NULL, NULL, NULL, NULL, NULL, "
    "NULL,\n"
    "  NULL, NULL, NULL, NULL, NULL, NULL),\n"
    " (8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', '', '', NULL, NULL, NULL, NULL, NULL,\n"
    "  NULL, NULL, NULL, NULL, NULL),\n"
    " (9, NULL, NULL, NULL, NULL, NULL, NULL, NULL, E'\\x01\\x02\\b\\f\\v\\x7f end\\\\', NULL,\n"
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),\n"
    " (10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, repeat(E'x\\t\\\\\\n', 200000), NULL, NULL,\n"
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);\n"
    "CREATE VIEW quarry_scan.types_view AS SELECT id, t, bin FROM quarry_scan.types\n"
    "  WHERE id % 2 = 1;\n"
    "CREATE MATERIALIZED VIEW quarry_scan.types_mv AS SELECT id, num, tstz FROM "
    "quarry_scan.types;\n"
    "CREATE TABLE \"Quarry Scan\".\"Odd \"\"Name\"\"\" (\"A b\" text, \"C\" int);\n"
    "INSERT INTO \"Quarry Scan\".\"Odd \"\"Name\"\"\" VALUES ('x', 1), ('y', 2), (NULL, 3);\n"
    "CREATE TABLE quarry_scan.empty (a int, b text);\n"
    "CREATE TABLE quarry_scan.nocols ();\n"
    "INSERT INTO quarry_scan.nocols DEFAULT VALUES;\n"
    "INSERT INTO quarry_scan.nocols DEFAULT VALUES;\n"
    "CREATE TABLE quarry_scan.large AS SELECT g::int8 AS id, (g % 1000)::int4 AS v,\n"
    "  md5(g::text) AS t, CASE WHEN g % 7 = 0 THEN NULL ELSE g * 0.5 END AS n\n"
    "  FROM generate_series(1, 200000) g;\n"
    "CREATE VIEW quarry_scan.slow AS SELECT g, pg_sleep(0.01) IS NULL AS z\n"
    "  FROM generate_series(1, 100000) g;\n"
    "CREATE VIEW quarry_scan.div AS SELECT g, 10 / (5 - g) AS q FROM generate_series(1, 10) g;\n"
    "ANALYZE quarry_scan.large;\n";

/* Runs `sql` through psql on `url`; 0 when every statement succeeded. */
static int psql_script(const char *url, const char *sql)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "psql -X -q -v ON_ERROR_STOP=1 '%s' >/dev/null", url) < 0)
        return -1;
    FILE *p = popen(cmd, "w");
    free(cmd);
    if (!p)
        return -1;
    int wrote = fputs(sql, p) >= 0;
    int rc = pclose(p);
    return wrote && rc == 0 ? 0 : -1;
}

/* Builds the fixtures once per run; 0 when they are in place. */
static int scan_fixtures(const char *rw_url)
{
    static int state; /* 0 not tried, 1 ready, -1 failed */
    if (state == 0)
        state = psql_script(rw_url, scan_fixture_sql) == 0 ? 1 : -1;
    if (state < 0)
        fprintf(stderr, "\n  could not create the scan fixtures through psql\n");
    return state > 0 ? 0 : -1;
}

/* The RW database, fixtures in place, and a connection to it (or the test fails). */
#define NEED_SCAN(conn)                                                                            \
    NEED(rw_url, "QUARRY_TEST_PG_RW_URL");                                                         \
    CU_ASSERT_PTR_NOT_NULL_FATAL(drv->scan);                                                       \
    CU_ASSERT_EQUAL_FATAL(scan_fixtures(rw_url), 0);                                               \
    struct quarry_conn *conn = NULL;                                                               \
    struct quarry_error open_err;                                                                  \
    CU_ASSERT_EQUAL_FATAL(open_url(rw_url, &conn, &open_err), QUARRY_OK)

/* Scans into `sink` with a fresh call (timeout_ms 0 = none). */
static int scan_sink(struct quarry_conn *conn, const char *schema, const char *table,
                     int32_t timeout_ms, uint64_t row_limit, const struct quarry_row_sink *sink,
                     struct quarry_error *err)
{
    struct host_call call;
    host_call_init(&call, timeout_ms, row_limit);
    host_error_init(err);
    int status = drv->scan(conn, &call.ctx, schema, table, sink, err);
    CU_ASSERT_EQUAL(err->status, status);
    if (status != QUARRY_OK && getenv("QUARRY_TEST_VERBOSE"))
        fprintf(stderr, "\n  scan(%.64s, %.64s): %d %s\n", schema ? schema : "(null)",
                table ? table : "(null)", status, err->message);
    return status;
}

/* Scans into a fresh recorder, `*out`, which the caller frees with rec_free. */
static int scan(struct quarry_conn *conn, const char *schema, const char *table, int32_t timeout_ms,
                uint64_t row_limit, struct row_rec **out, struct quarry_error *err)
{
    struct quarry_row_sink sink;
    *out = rec_new(&sink);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*out);
    (*out)->check_width = 1;
    return scan_sink(conn, schema, table, timeout_ms, row_limit, &sink, err);
}

static int same_or_both_null(const char *a, const char *b)
{
    return (!a && !b) || str_eq(a, b);
}

static int same_value(const struct rec_value *a, const struct rec_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case QUARRY_VALUE_NULL:
        return 1;
    case QUARRY_VALUE_INT:
    case QUARRY_VALUE_BOOL:
        return a->i == b->i;
    case QUARRY_VALUE_DOUBLE:
        return memcmp(&a->d, &b->d, sizeof(a->d)) == 0; /* -0.0 is not 0.0 */
    default:
        return a->len == b->len &&
               (a->len == 0 || (a->str && b->str && memcmp(a->str, b->str, a->len) == 0));
    }
}

/* The row of `r` whose first (INT) column is `key`, or NULL. */
static const struct rec_value *row_by_key(const struct row_rec *r, int64_t key)
{
    for (size_t k = 0; k < r->nrows && k < r->cap; k++)
        if (r->rows[k][0].type == QUARRY_VALUE_INT && r->rows[k][0].i == key)
            return r->rows[k];
    return NULL;
}

/*
 * What scan streamed equals what execute streamed for SELECT * of the same
 * relation: columns, and row by row (matched on the first column) every value.
 */
static void expect_same_as_execute(const struct row_rec *scanned, const struct row_rec *executed)
{
    CU_ASSERT_EQUAL(scanned->begun, 1);
    CU_ASSERT_EQUAL(scanned->ended, 1);
    CU_ASSERT_EQUAL(scanned->ncols, executed->ncols);
    CU_ASSERT_EQUAL(scanned->nrows, executed->nrows);
    for (size_t i = 0; i < scanned->ncols && i < REC_COLS; i++) {
        CU_ASSERT(str_eq(scanned->names[i], executed->names[i]));
        CU_ASSERT(same_or_both_null(scanned->decls[i], executed->decls[i]));
        CU_ASSERT_EQUAL(scanned->types[i], executed->types[i]);
    }
    for (size_t j = 0; j < scanned->nrows && j < scanned->cap; j++) {
        const struct rec_value *s = scanned->rows[j];
        const struct rec_value *e =
            s[0].type == QUARRY_VALUE_INT ? row_by_key(executed, s[0].i) : NULL;
        CU_ASSERT_PTR_NOT_NULL(e);
        for (size_t i = 0; e && i < scanned->ncols && i < REC_COLS; i++) {
            if (same_value(&s[i], &e[i]))
                continue;
            CU_FAIL("scan and execute differ");
            fprintf(stderr,
                    "\n  key %lld column %s: scan type %d '%.40s' (%zu), execute %d "
                    "'%.40s' (%zu)\n",
                    (long long)s[0].i, scanned->names[i], s[i].type, s[i].str ? s[i].str : "",
                    s[i].len, e[i].type, e[i].str ? e[i].str : "", e[i].len);
        }
    }
}

/* Scans `schema`.`table` and executes `select`; both must agree, with `rows` rows. */
static void expect_scan_matches(struct quarry_conn *conn, const char *schema, const char *table,
                                const char *select, int64_t rows)
{
    struct row_rec *s = NULL, *e = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(scan(conn, schema, table, 10000, 0, &s, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(run(conn, select, 10000, 0, &e, &err), QUARRY_OK);
    CU_ASSERT(rows > 0);
    CU_ASSERT_EQUAL(s->nrows, (size_t)rows);
    expect_same_as_execute(s, e);
    rec_free(s);
    rec_free(e);
}

static void test_scan_types_match_execute(void)
{
    NEED_SCAN(conn);
    int64_t rows = scalar_int(conn, "SELECT count(*) FROM quarry_scan.types");
    expect_scan_matches(conn, "quarry_scan", "types", "SELECT * FROM quarry_scan.types", rows);

    /* The fixture holds what the escapes must survive, and the scan got it. */
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(scan(conn, "quarry_scan", "types", 10000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->ncols, 21);
    const struct rec_value *row = row_by_key(r, 6);
    CU_ASSERT_FATAL(row != NULL);
    CU_ASSERT(row[8].type == QUARRY_VALUE_TEXT && row[8].len == 2 && str_eq(row[8].str, "\\N"));
    CU_ASSERT_EQUAL(row[1].type, QUARRY_VALUE_NULL);
    row = row_by_key(r, 4);
    CU_ASSERT_FATAL(row != NULL);
    CU_ASSERT(str_eq(row[8].str, "line1\nline2\r\n"));
    CU_ASSERT(row[11].type == QUARRY_VALUE_BLOB && row[11].len == 3 &&
              memcmp(row[11].str, "\\N\0", 3) == 0);
    row = row_by_key(r, 3);
    CU_ASSERT_FATAL(row != NULL);
    CU_ASSERT(str_eq(row[8].str, "a\tb"));
    CU_ASSERT(row[5].type == QUARRY_VALUE_TEXT && str_eq(row[5].str, "NaN"));
    row = row_by_key(r, 10);
    CU_ASSERT_FATAL(row != NULL);
    CU_ASSERT_EQUAL(row[8].len, (size_t)scalar_int(conn, "SELECT octet_length(t) FROM "
                                                         "quarry_scan.types WHERE id = 10"));
    rec_free(r);
    drv->close(conn);
}

static void test_scan_views_and_names(void)
{
    NEED_SCAN(conn);
    expect_scan_matches(conn, "quarry_scan", "types_view", "SELECT * FROM quarry_scan.types_view",
                        scalar_int(conn, "SELECT count(*) FROM quarry_scan.types_view"));
    expect_scan_matches(conn, "quarry_scan", "types_mv", "SELECT * FROM quarry_scan.types_mv",
                        scalar_int(conn, "SELECT count(*) FROM quarry_scan.types_mv"));
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(scan(conn, "Quarry Scan", "Odd \"Name\"", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    CU_ASSERT(r->ncols == 2 && str_eq(r->names[0], "A b") && str_eq(r->names[1], "C"));
    CU_ASSERT_EQUAL(r->rows[2][0].type, QUARRY_VALUE_NULL);
    rec_free(r);

    /* Unknown names are NOT_FOUND, and names are never SQL. */
    const char *missing[][2] = {{"quarry_scan", "no_such_table"},
                                {"no_such_schema", "types"},
                                {"Quarry_Scan", "types"},
                                {"quarry_scan", "types\"; DROP TABLE quarry_scan.types; --"},
                                {NULL, "types"},
                                {"", "types"}};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        CU_ASSERT_EQUAL(scan(conn, missing[i][0], missing[i][1], 5000, 0, &r, &err),
                        QUARRY_ERR_NOT_FOUND);
        CU_ASSERT_STRING_EQUAL(err.sqlstate, "42P01");
        CU_ASSERT_EQUAL(r->begun, 0);
        rec_free(r);
    }
    CU_ASSERT(scalar_int(conn, "SELECT count(*) FROM quarry_scan.types") > 0);
    drv->close(conn);

    /* No schema: the session's search_path decides. */
    char *u =
        replace(rw_url, "/quarry_test", "/quarry_test?options=-c%20search_path%3Dquarry_scan");
    CU_ASSERT_EQUAL_FATAL(open_url(u, &conn, &err), QUARRY_OK);
    int64_t rows = scalar_int(conn, "SELECT count(*) FROM quarry_scan.types");
    expect_scan_matches(conn, NULL, "types", "SELECT * FROM types", rows);
    expect_scan_matches(conn, "", "types", "SELECT * FROM types", rows);
    drv->close(conn);
    free(u);
}

static void test_scan_empty_and_invalid(void)
{
    NEED_SCAN(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", "empty", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT(r->begun == 1 && r->ended == 1 && r->nrows == 0 && r->ncols == 2);
    CU_ASSERT(str_eq(r->names[1], "b") && str_eq(r->decls[1], "text"));
    rec_free(r);
    /* A relation without columns: rows of zero values, as execute gives them. */
    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", "nocols", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->ncols, 0);
    CU_ASSERT_EQUAL(r->nrows, (size_t)scalar_int(conn, "SELECT count(*) FROM quarry_scan.nocols"));
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);

    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", NULL, 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", "", 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    char *longname = malloc(5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longname);
    memset(longname, 'a', 4999);
    longname[4999] = '\0';
    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", longname, 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    CU_ASSERT_EQUAL(scan(conn, longname, "types", 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_free(r);
    free(longname);
    CU_ASSERT_EQUAL(scan_sink(conn, "quarry_scan", "types", 5000, 0, NULL, &err),
                    QUARRY_ERR_INVALID);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);
    drv->close(conn);
}

/* Sums what a scan of quarry_scan.large streams (id, v, t, n). */
struct sum_sink {
    int64_t rows, sum_id, sum_v, sum_tlen, null_n, bad;
    int usleep_per_row;
};

static int sum_row(void *ud, const struct quarry_value *vals, size_t n)
{
    struct sum_sink *s = ud;
    s->rows++;
    if (n != 4 || vals[0].type != QUARRY_VALUE_INT || vals[1].type != QUARRY_VALUE_INT ||
        vals[2].type != QUARRY_VALUE_TEXT) {
        s->bad++;
        return QUARRY_SINK_CONTINUE;
    }
    s->sum_id += vals[0].i;
    s->sum_v += vals[1].i;
    s->sum_tlen += (int64_t)vals[2].len;
    if (vals[3].type == QUARRY_VALUE_NULL)
        s->null_n++;
    else if (vals[3].type != QUARRY_VALUE_DECIMAL)
        s->bad++;
    if (s->usleep_per_row)
        usleep((useconds_t)s->usleep_per_row);
    return QUARRY_SINK_CONTINUE;
}

static void sum_sink_init(struct quarry_row_sink *sink, struct sum_sink *s)
{
    memset(sink, 0, sizeof(*sink));
    QUARRY_STRUCT_INIT(sink);
    sink->userdata = s;
    sink->row = sum_row;
}

static void test_scan_large_table(void)
{
    NEED_SCAN(conn);
    struct sum_sink s = {0};
    struct quarry_row_sink sink;
    struct quarry_error err;
    sum_sink_init(&sink, &s);
    CU_ASSERT_EQUAL(scan_sink(conn, "quarry_scan", "large", 60000, 0, &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(s.bad, 0);
    CU_ASSERT_EQUAL(s.rows, scalar_int(conn, "SELECT count(*) FROM quarry_scan.large"));
    CU_ASSERT_EQUAL(s.sum_id, scalar_int(conn, "SELECT sum(id)::int8 FROM quarry_scan.large"));
    CU_ASSERT_EQUAL(s.sum_v, scalar_int(conn, "SELECT sum(v)::int8 FROM quarry_scan.large"));
    CU_ASSERT_EQUAL(s.sum_tlen,
                    scalar_int(conn, "SELECT sum(length(t))::int8 FROM quarry_scan.large"));
    CU_ASSERT_EQUAL(s.null_n,
                    scalar_int(conn, "SELECT count(*) - count(n) FROM quarry_scan.large"));
    CU_ASSERT(s.rows > 100000);
    drv->close(conn);
}

static void test_scan_stop_and_row_limit(void)
{
    NEED_SCAN(conn);
    int64_t total = scalar_int(conn, "SELECT count(*) FROM quarry_scan.large");
    CU_ASSERT_FATAL(total > 1000);
    struct row_rec *r = NULL;
    struct quarry_error err;
    /* The row limit. */
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", "large", 20000, 7, &r, &err), QUARRY_OK);
    CU_ASSERT(host_now_ms() - t0 < 3000);
    CU_ASSERT_EQUAL(r->nrows, 7);
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);

    /* A sink's STOP. */
    struct quarry_row_sink sink;
    r = rec_new(&sink);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    r->stop_after = 3;
    CU_ASSERT_EQUAL(scan_sink(conn, "quarry_scan", "large", 20000, 0, &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r->nrows, 3);
    CU_ASSERT_EQUAL(r->ended, 1);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT count(*) FROM quarry_scan.empty"), 0);

    /* A limit equal to the table, and the next scan on the same connection reads it whole. */
    struct sum_sink s = {0};
    sum_sink_init(&sink, &s);
    CU_ASSERT_EQUAL(scan_sink(conn, "quarry_scan", "large", 20000, (uint64_t)total, &sink, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(s.rows, total);
    memset(&s, 0, sizeof(s));
    CU_ASSERT_EQUAL(scan_sink(conn, "quarry_scan", "large", 20000, 0, &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(s.rows, total);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 43"), 43);
    drv->close(conn);
}

static void test_scan_deadline(void)
{
    NEED_SCAN(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    /* Rows the server makes slowly. */
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", "slow", 500, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    int64_t took = host_now_ms() - t0;
    CU_ASSERT(took >= 400 && took < 2500);
    CU_ASSERT_EQUAL(r->ended, 0);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);

    /* A slow sink: the server is ahead and rows are always on hand; the deadline still ends it. */
    struct sum_sink s = {.usleep_per_row = 200};
    struct quarry_row_sink sink;
    sum_sink_init(&sink, &s);
    t0 = host_now_ms();
    CU_ASSERT_EQUAL(scan_sink(conn, "quarry_scan", "large", 500, 0, &sink, &err),
                    QUARRY_ERR_TIMEOUT);
    took = host_now_ms() - t0;
    CU_ASSERT(took >= 400 && took < 2500);
    CU_ASSERT(s.rows > 0 && s.rows < scalar_int(conn, "SELECT count(*) FROM quarry_scan.large"));
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 42"), 42);
    drv->close(conn);
}

static int scan_slow_view(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                          const struct quarry_row_sink *sink, struct quarry_error *err)
{
    return drv->scan(conn, ctx, "quarry_scan", "slow", sink, err);
}

static void test_scan_cancel(void)
{
    NEED_SCAN(conn);
    expect_cancel_stops(conn, scan_slow_view);
    drv->close(conn);
}

/* An error after some rows went out: the sink got them, but no end(); the connection lives. */
static void test_scan_error_mid_stream(void)
{
    NEED_SCAN(conn);
    struct row_rec *r = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(scan(conn, "quarry_scan", "div", 5000, 0, &r, &err), QUARRY_ERR_QUERY);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "22012");
    CU_ASSERT_EQUAL(r->begun, 1);
    CU_ASSERT_EQUAL(r->ended, 0);
    CU_ASSERT(r->nrows <= 4);
    rec_free(r);
    CU_ASSERT_EQUAL(scalar_int(conn, "SELECT 7"), 7);
    drv->close(conn);
}

void register_postgres_driver_tests(void)
{
    CU_pSuite s = CU_add_suite("postgres_open", suite_init, NULL);
    CU_add_test(s, "driver description and schemes", test_description);
    CU_add_test(s, "postgres://, postgresql+driver://, query options", test_url_forms);
    CU_add_test(s, "percent-encoded password", test_url_encoded_password);
    CU_add_test(s, "URL options reach the session", test_url_query_options);
    CU_add_test(s, "application_name is quarry", test_application_name);
    CU_add_test(s, "wrong password is AUTH without the password", test_wrong_password);
    CU_add_test(s, "no password: PGPASSWORD is not used", test_no_password_ignores_environment);
    CU_add_test(s, "closed port is CONNECT, fast", test_closed_port);
    CU_add_test(s, "silent server: connect timeout", test_connect_timeout);
    CU_add_test(s, "[::1] host", test_ipv6_host);
    CU_add_test(s, "invalid URLs refused", test_invalid_urls);
    CU_add_test(s, "malformed URL hides the password", test_malformed_url_hides_password);
    CU_add_test(s, "connection params", test_params);
    CU_add_test(s, "TLS options", test_tls);
    CU_add_test(s, "ping reports the version", test_ping);

    s = CU_add_suite("postgres_introspect", suite_init, NULL);
    CU_add_test(s, "chinook: tables, columns, keys", test_introspect_chinook);
    CU_add_test(s, "row estimates", test_introspect_row_estimates);
    CU_add_test(s, "schema scope", test_introspect_schema_scope);
    CU_add_test(s, "views, comments, cross-schema FK, indexes", test_introspect_extras);
    CU_add_test(s, "STOP and deadline", test_introspect_stop_and_deadline);

    s = CU_add_suite("postgres_execute", suite_init, NULL);
    CU_add_test(s, "typed values", test_execute_typed_values);
    CU_add_test(s, "writes refused, data unchanged", test_execute_writes_refused);
    CU_add_test(s, "one statement only", test_execute_one_statement_only);
    CU_add_test(s, "error after rows", test_execute_error_mid_stream);
    CU_add_test(s, "row cap and STOP keep the connection", test_execute_row_cap);
    CU_add_test(s, "deadline", test_execute_deadline);
    CU_add_test(s, "cancel from another thread", test_execute_cancel);

    s = CU_add_suite("postgres_sample", suite_init, NULL);
    CU_add_test(s, "large table: TABLESAMPLE", test_sample_large_table);
    CU_add_test(s, "small tables, quoted names, not found", test_sample_small_and_named);

    s = CU_add_suite("postgres_scan", suite_init, NULL);
    CU_add_test(s, "every type: same as execute", test_scan_types_match_execute);
    CU_add_test(s, "views, quoted names, search_path, not found", test_scan_views_and_names);
    CU_add_test(s, "empty, zero columns, invalid arguments", test_scan_empty_and_invalid);
    CU_add_test(s, "large table: count and sums", test_scan_large_table);
    CU_add_test(s, "row limit and STOP keep the connection", test_scan_stop_and_row_limit);
    CU_add_test(s, "deadline: slow server, slow sink", test_scan_deadline);
    CU_add_test(s, "cancel from another thread", test_scan_cancel);
    CU_add_test(s, "error after rows", test_scan_error_mid_stream);
}
