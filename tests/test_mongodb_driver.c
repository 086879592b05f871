/*
 * The mongodb driver, loaded through the real loader and driven through its
 * vtable. It talks, through the real mongo-c-driver, to the MongoDB
 * wire-protocol test peer (tests/peers/mongo_peer.py) serving
 * tests/peers/mongo_fixture.json; start it with
 *     eval "$(bash .ci/services/mongo-peer.sh start)"
 * which exports QUARRY_TEST_MONGO_URL. Without it every test fails, saying so.
 *
 * Expected numbers come from the fixture: shop.customers 12, shop.products
 * 20, shop.orders 250 (status: 100 shipped, 50 each pending, cancelled,
 * delivered), view shop.big_orders = orders with total > 300.
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

#include "driver_testlib.h"
#include "host.h"
#include "loader.h"

#define PEER_USER "quarry"
#define PEER_PASSWORD "quarry-peer-secret" /* tests/peers/mongo_fixture.json */

static const struct quarry_driver *drv;

/* ------------------------------------------------------------------------ */
/* Preconditions                                                            */
/* ------------------------------------------------------------------------ */

static const char *peer_url(void)
{
    const char *url = getenv("QUARRY_TEST_MONGO_URL");
    return url && *url ? url : NULL;
}

/* Every test starts here: a missing driver or peer is a failure, never a skip. */
#define REQUIRE_PEER()                                                                             \
    do {                                                                                           \
        if (!drv) {                                                                                \
            CU_FAIL_FATAL("the mongodb driver did not load (see the loader's refusal above)");     \
        }                                                                                          \
        if (!peer_url()) {                                                                         \
            CU_FAIL_FATAL("QUARRY_TEST_MONGO_URL is not set: run "                                 \
                          "eval \"$(bash .ci/services/mongo-peer.sh start)\"");                    \
        }                                                                                          \
    } while (0)

/* "127.0.0.1:57017" out of the peer's URL, for URLs the tests build. */
static void peer_hostport(char *out, size_t size)
{
    const char *url = peer_url();
    const char *start = strstr(url, "://");
    start = start ? start + 3 : url;
    size_t n = strcspn(start, "/?");
    snprintf(out, size, "%.*s", (int)n, start);
}

static int open_with(const char *url, const struct quarry_kv *params, size_t nparams,
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
    return drv->open(&p, conn, err);
}

static struct quarry_conn *open_peer(void)
{
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    int rc = open_with(peer_url(), NULL, 0, 5000, &conn, &err);
    if (rc != QUARRY_OK)
        fprintf(stderr, "open %s: %d %s\n", peer_url(), rc, err.message);
    return conn;
}

/* ------------------------------------------------------------------------ */
/* A row sink that records everything                                       */
/* ------------------------------------------------------------------------ */

static int col_of(const struct row_rec *r, const char *name)
{
    for (size_t i = 0; i < r->ncols && i < REC_COLS; i++)
        if (str_eq(r->names[i], name))
            return (int)i;
    return -1;
}

/* The cell of row `row`, column `name`; a NULL cell when there is no such column. */
static const struct rec_value *cell(const struct row_rec *r, size_t row, const char *name)
{
    static const struct rec_value none = {QUARRY_VALUE_NULL, 0, 0, NULL, 0};
    int c = col_of(r, name);
    if (c < 0 || (size_t)c >= REC_COLS || row >= r->nrows || row >= r->cap)
        return &none;
    return &r->rows[row][c];
}

static const char *text_of(const struct row_rec *r, size_t row, const char *name)
{
    const struct rec_value *c = cell(r, row, name);
    return c->str ? c->str : "";
}

/* Runs `statement` with a fresh ctx (timeout ms, row limit); returns the status. */
static int run(struct quarry_conn *conn, const char *statement, int32_t timeout_ms,
               uint64_t row_limit, struct row_rec *r, struct quarry_error *err)
{
    r->check_width = 1;
    return dt_execute(drv, conn, statement, timeout_ms, row_limit, r, err);
}

/* ------------------------------------------------------------------------ */
/* A catalog sink that records everything                                   */
/* ------------------------------------------------------------------------ */

#define CAT_MAX 128

struct cat_table {
    char name[64];
    int kind;
    int64_t estimate;
    char comment[64];
};

struct cat_column {
    char table[64], name[128], type[64];
    int ordinal, nullable, pk, is_array;
};

struct cat_index {
    char table[64], name[64], columns[128];
    int unique, primary;
};

struct catalog {
    struct cat_table tables[CAT_MAX];
    size_t ntables;
    struct cat_column columns[CAT_MAX * 4];
    size_t ncolumns;
    struct cat_index indexes[CAT_MAX];
    size_t nindexes;
    size_t stop_after_tables;
};

static int cat_table(void *ud, const struct quarry_table_info *t)
{
    struct catalog *c = ud;
    if (c->ntables < CAT_MAX) {
        struct cat_table *e = &c->tables[c->ntables];
        snprintf(e->name, sizeof(e->name), "%s", t->name);
        e->kind = t->kind;
        e->estimate = t->row_estimate;
        snprintf(e->comment, sizeof(e->comment), "%s", t->comment ? t->comment : "");
    }
    c->ntables++;
    return c->stop_after_tables && c->ntables >= c->stop_after_tables ? QUARRY_SINK_STOP
                                                                      : QUARRY_SINK_CONTINUE;
}

static int cat_column(void *ud, const struct quarry_column_info *col)
{
    struct catalog *c = ud;
    if (c->ncolumns < CAT_MAX * 4) {
        struct cat_column *e = &c->columns[c->ncolumns];
        snprintf(e->table, sizeof(e->table), "%s", col->table);
        snprintf(e->name, sizeof(e->name), "%s", col->name);
        snprintf(e->type, sizeof(e->type), "%s", col->type ? col->type : "");
        e->ordinal = col->ordinal;
        e->nullable = col->nullable;
        e->pk = col->pk_position;
        e->is_array = col->is_array;
    }
    c->ncolumns++;
    return QUARRY_SINK_CONTINUE;
}

static int cat_index(void *ud, const struct quarry_index_info *ix)
{
    struct catalog *c = ud;
    if (c->nindexes < CAT_MAX) {
        struct cat_index *e = &c->indexes[c->nindexes];
        snprintf(e->table, sizeof(e->table), "%s", ix->table);
        snprintf(e->name, sizeof(e->name), "%s", ix->name ? ix->name : "");
        e->unique = ix->unique;
        e->primary = ix->primary;
        for (size_t i = 0; i < ix->ncolumns; i++) {
            size_t used = strlen(e->columns);
            snprintf(e->columns + used, sizeof(e->columns) - used, "%s%s", i ? "," : "",
                     ix->columns[i] ? ix->columns[i] : "?");
        }
    }
    c->nindexes++;
    return QUARRY_SINK_CONTINUE;
}

static int introspect(struct quarry_conn *conn, uint32_t sample, struct catalog *c,
                      struct quarry_error *err)
{
    struct host_call call;
    struct quarry_introspect_opts opts;
    struct quarry_catalog_sink sink;
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    opts.sample_documents = sample;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = c;
    sink.table = cat_table;
    sink.column = cat_column;
    sink.index = cat_index;
    host_call_init(&call, 20000, 0);
    host_error_init(err);
    return drv->introspect(conn, &call.ctx, &opts, &sink, err);
}

static const struct cat_table *find_table(const struct catalog *c, const char *name)
{
    for (size_t i = 0; i < c->ntables && i < CAT_MAX; i++)
        if (strcmp(c->tables[i].name, name) == 0)
            return &c->tables[i];
    return NULL;
}

static const struct cat_column *find_column(const struct catalog *c, const char *table,
                                            const char *name)
{
    for (size_t i = 0; i < c->ncolumns && i < CAT_MAX * 4; i++)
        if (strcmp(c->columns[i].table, table) == 0 && strcmp(c->columns[i].name, name) == 0)
            return &c->columns[i];
    return NULL;
}

static const struct cat_index *find_index(const struct catalog *c, const char *table,
                                          const char *name)
{
    for (size_t i = 0; i < c->nindexes && i < CAT_MAX; i++)
        if (strcmp(c->indexes[i].table, table) == 0 && strcmp(c->indexes[i].name, name) == 0)
            return &c->indexes[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Suite setup                                                              */
/* ------------------------------------------------------------------------ */

/* Loads the driver once for every mongodb suite; a failure shows in each test. */
static int suite_init(void)
{
    if (!loader_find("mongodb"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, (const char *[]){"mongodb"}, 1);
    drv = loader_find("mongodb");
    if (!drv)
        fprintf(stderr, "mongodb driver not loaded: %s\n",
                loader_refusal("mongodb") ? loader_refusal("mongodb") : "?");
    return 0;
}

static int suite_cleanup(void)
{
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Driver table, open, ping                                                 */
/* ------------------------------------------------------------------------ */

static void test_driver_table(void)
{
    REQUIRE_PEER();
    CU_ASSERT_STRING_EQUAL(drv->name, "mongodb");
    CU_ASSERT_STRING_EQUAL(drv->dialect, "mongodb");
    CU_ASSERT_STRING_EQUAL(drv->url_schemes[0], "mongodb");
    CU_ASSERT_STRING_EQUAL(drv->url_schemes[1], "mongodb+srv");
    CU_ASSERT_PTR_NULL(drv->url_schemes[2]);
    CU_ASSERT_EQUAL(drv->identifier_quote, 0);
    CU_ASSERT_EQUAL(drv->limit_style, QUARRY_LIMIT_NONE);
    CU_ASSERT(drv->capabilities & QUARRY_CAP_DOCUMENT);
    CU_ASSERT(drv->capabilities & QUARRY_CAP_SAMPLE);
    CU_ASSERT(drv->capabilities & QUARRY_CAP_STATEMENT_TIMEOUT);
    CU_ASSERT_FALSE(drv->capabilities & (QUARRY_CAP_SQL | QUARRY_CAP_CANCEL));
    CU_ASSERT_PTR_NULL(drv->cancel);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("mongodb+srv"), drv);
}

static void test_exports_only_entry(void)
{
    REQUIRE_PEER();
    char cmd[1024], line[256];
    snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s/mongodb.so", QUARRY_TEST_PLUGIN_DIR);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int symbols = 0, entry = 0;
    while (fgets(line, sizeof(line), p)) {
        symbols++;
        if (strstr(line, " quarry_driver_entry"))
            entry++;
    }
    CU_ASSERT_EQUAL(pclose(p), 0);
    CU_ASSERT_EQUAL(entry, 1);
    CU_ASSERT_EQUAL(symbols, 1);
}

static void test_open_ping_version(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct host_call call;
    struct quarry_server_info info;
    struct quarry_error err;
    memset(&info, 0, sizeof(info));
    QUARRY_STRUCT_INIT(&info);
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, &info, &err), QUARRY_OK);
    CU_ASSERT_STRING_EQUAL(info.version, "MongoDB 6.0.0-quarry-peer");
    /* No info wanted: a plain ping. */
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, NULL, &err), QUARRY_OK);
    drv->close(conn);
    drv->close(NULL);
}

static void test_ping_expired_ctx(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct host_call call;
    struct quarry_error err;
    host_call_init(&call, -1, 0); /* already past */
    host_error_init(&err);
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, NULL, &err), QUARRY_ERR_TIMEOUT);
    host_call_init(&call, 5000, 0);
    host_call_cancel(&call);
    host_error_init(&err);
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, NULL, &err), QUARRY_ERR_CANCELLED);
    drv->close(conn);
}

static void test_open_bad_urls(void)
{
    REQUIRE_PEER();
    char hp[128], no_db[192], bad_db[192];
    peer_hostport(hp, sizeof(hp));
    snprintf(no_db, sizeof(no_db), "mongodb://%s", hp);
    snprintf(bad_db, sizeof(bad_db), "mongodb://%s/bad.name", hp);
    const char *const urls[] = {
        "",
        "postgres://127.0.0.1/shop",
        "mongodb://",
        "mongodb://127.0.0.1:notaport/shop",
        "mongodb://user:s3cr3t-pw@[::1/shop", /* the password must not show in the message */
        "mongodb://127.0.0.1/shop?unknownBoolOption=maybe&w=-9",
        no_db,
        bad_db,
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct quarry_conn *conn = (struct quarry_conn *)&conn;
        struct quarry_error err;
        int rc = open_with(urls[i], NULL, 0, 2000, &conn, &err);
        if (getenv("MONGO_DEBUG") || rc != QUARRY_ERR_INVALID)
            fprintf(stderr, "url %s: %d %s\n", urls[i], rc, err.message);
        CU_ASSERT_EQUAL(rc, QUARRY_ERR_INVALID);
        CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);
        CU_ASSERT_PTR_NULL(conn);
        CU_ASSERT(strlen(err.message) > 0);
        CU_ASSERT_PTR_NULL(strstr(err.message, "s3cr3t-pw"));
    }
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(open_with(NULL, NULL, 0, 0, &conn, &err), QUARRY_ERR_INVALID);
}

/* The `database` parameter stands in for a URL without a path. */
static void test_open_database_param(void)
{
    REQUIRE_PEER();
    char hp[128], url[192];
    peer_hostport(hp, sizeof(hp));
    snprintf(url, sizeof(url), "mongodb://%s", hp);
    struct quarry_kv params[] = {{"database", "shop"}, {"sslmode", "ignored-by-mongodb"}};
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(open_with(url, params, 2, 5000, &conn, &err), QUARRY_OK);
    struct row_rec r = {0};
    CU_ASSERT_EQUAL(run(conn, "{\"aggregate\": \"customers\", \"pipeline\": [{\"$count\": \"n\"}]}",
                        5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 1);
    CU_ASSERT_EQUAL(cell(&r, 0, "n")->i, 12);
    rec_clear(&r);
    drv->close(conn);
}

static void test_open_closed_port(void)
{
    REQUIRE_PEER();
    int port = closed_port();
    CU_ASSERT_FATAL(port > 0);
    char url[128];
    snprintf(url, sizeof(url), "mongodb://127.0.0.1:%d/shop", port);
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(open_with(url, NULL, 0, 1500, &conn, &err), QUARRY_ERR_CONNECT);
    CU_ASSERT(host_now_ms() - t0 < 5000);
    CU_ASSERT_PTR_NULL(conn);
    CU_ASSERT(strlen(err.message) > 0);
}

static void test_open_auth(void)
{
    REQUIRE_PEER();
    char hp[128], good[256], bad[256];
    peer_hostport(hp, sizeof(hp));
    snprintf(good, sizeof(good), "mongodb://%s:%s@%s/shop?authSource=admin", PEER_USER,
             PEER_PASSWORD, hp);
    snprintf(bad, sizeof(bad), "mongodb://%s:wrong-Pa55word@%s/shop?authSource=admin", PEER_USER,
             hp);
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(open_with(good, NULL, 0, 5000, &conn, &err), QUARRY_OK);
    CU_ASSERT_PTR_NOT_NULL(conn);
    drv->close(conn);
    conn = NULL;
    CU_ASSERT_EQUAL(open_with(bad, NULL, 0, 5000, &conn, &err), QUARRY_ERR_AUTH);
    CU_ASSERT_PTR_NULL(conn);
    CU_ASSERT_PTR_NULL(strstr(err.message, "wrong-Pa55word"));
}

/* Sends `len` bytes on a fresh loopback connection to the peer and hangs up. */
static void send_raw(const void *data, size_t len)
{
    char hp[128];
    peer_hostport(hp, sizeof(hp));
    const char *colon = strrchr(hp, ':');
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon ? colon + 1 : "27017")),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(fd >= 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && len)
        CU_ASSERT(write(fd, data, len) >= 0);
    close(fd);
}

/* The peer shrugs off garbage: the driver still gets answers afterwards. */
static void test_peer_survives_garbage(void)
{
    REQUIRE_PEER();
    /* length, requestID, responseTo, opCode (little-endian int32s) */
    static const unsigned char huge[] = {0xff, 0xff, 0xff, 0x7f, 1,    0,    0, 0,
                                         0,    0,    0,    0,    0xdd, 0x07, 0, 0};
    static const unsigned char negative[] = {0xfb, 0xff, 0xff, 0xff, 1,    0,    0, 0,
                                             0,    0,    0,    0,    0xdd, 0x07, 0, 0};
    static const unsigned char bad_section[] = {26,   0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd,
                                                0x07, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5};
    static const unsigned char bad_bson[] = {30, 0,    0,    0,    1, 0, 0,   0, 0,    0,
                                             0,  0,    0xdd, 0x07, 0, 0, 0,   0, 0,    0,
                                             0,  0x09, 0,    0,    0, 2, 'a', 0, 0xff, 0};
    static const unsigned char bad_opcode[] = {16, 0, 0, 0, 1,    0,    0, 0,
                                               0,  0, 0, 0, 0x39, 0x30, 0, 0};
    send_raw("", 0);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send_raw(http, strlen(http));
    send_raw(huge, sizeof(huge));
    send_raw(negative, sizeof(negative));
    send_raw(bad_section, sizeof(bad_section));
    send_raw(bad_bson, sizeof(bad_bson));
    send_raw(bad_opcode, sizeof(bad_opcode));

    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct host_call call;
    struct quarry_error err;
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(drv->ping(conn, &call.ctx, NULL, &err), QUARRY_OK);
    drv->close(conn);
}

/* TLS (Debian's mongoc has it) against the plain-text peer: the handshake fails: CONNECT. */
static void test_open_tls_param(void)
{
    REQUIRE_PEER();
    struct quarry_kv params[] = {{"tls", "true"}, {"tlsAllowInvalidCertificates", "true"}};
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    CU_ASSERT_EQUAL(open_with(peer_url(), params, 2, 1500, &conn, &err), QUARRY_ERR_CONNECT);
    CU_ASSERT_PTR_NULL(conn);
}

/* ------------------------------------------------------------------------ */
/* Introspection                                                            */
/* ------------------------------------------------------------------------ */

static void test_introspect_collections(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct catalog *c = calloc(1, sizeof(*c));
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(introspect(conn, 1000, c, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(c->ntables, 4);
    const char *order[] = {"big_orders", "customers", "orders", "products"};
    for (size_t i = 0; i < 4 && i < c->ntables; i++)
        CU_ASSERT_STRING_EQUAL(c->tables[i].name, order[i]);
    const struct cat_table *t = find_table(c, "customers");
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT_EQUAL(t->kind, QUARRY_COLLECTION);
    CU_ASSERT_EQUAL(t->estimate, 12);
    CU_ASSERT_EQUAL(find_table(c, "orders")->estimate, 250);
    CU_ASSERT_EQUAL(find_table(c, "products")->estimate, 20);
    t = find_table(c, "big_orders");
    CU_ASSERT_EQUAL(t->kind, QUARRY_VIEW);
    CU_ASSERT_EQUAL(t->estimate, -1);
    CU_ASSERT_STRING_EQUAL(t->comment, "view on orders");
    free(c);
    drv->close(conn);
}

struct want_field {
    const char *table, *name, *type;
    int nullable, pk, is_array;
};

static void test_introspect_fields(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct catalog *c = calloc(1, sizeof(*c));
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(introspect(conn, 1000, c, &err), QUARRY_OK);
    const struct want_field want[] = {
        {"customers", "_id", "objectId", 0, 1, 0},
        {"customers", "name", "string", 0, 0, 0},
        {"customers", "address", "object", 0, 0, 0},
        {"customers", "address.city", "string", 0, 0, 0},
        {"customers", "address.zip", "string", 1, 0, 0}, /* missing in a third of them */
        {"customers", "tags", "string", 0, 0, 1},        /* some are empty arrays */
        {"customers", "created_at", "date", 0, 0, 0},
        {"customers", "balance", "decimal", 0, 0, 0},
        {"customers", "vip", "bool", 0, 0, 0},
        {"customers", "loyalty_points", "int|null", 1, 0, 0},
        {"customers", "phone", "string", 1, 0, 0},
        {"orders", "_id", "int", 0, 1, 0},
        {"orders", "customer_id", "objectId", 0, 0, 0},
        {"orders", "total", "double", 0, 0, 0},
        {"orders", "total_cents", "long", 0, 0, 0},
        {"orders", "items", "object", 0, 0, 1},
        {"orders", "items.sku", "string", 0, 0, 0},
        {"orders", "items.qty", "int", 0, 0, 0},
        {"orders", "items.price", "decimal", 0, 0, 0},
        {"orders", "coupon", "string|null", 1, 0, 0},
        {"products", "dimensions.w", "double", 0, 0, 0},
        {"products", "discontinued", "bool", 1, 0, 0},
        {"big_orders", "total", "double", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct cat_column *col = find_column(c, want[i].table, want[i].name);
        if (!col) {
            fprintf(stderr, "missing field %s.%s\n", want[i].table, want[i].name);
            CU_FAIL("an expected field is missing");
            continue;
        }
        if (strcmp(col->type, want[i].type) || col->nullable != want[i].nullable ||
            col->pk != want[i].pk || col->is_array != want[i].is_array)
            fprintf(stderr, "field %s.%s: type %s nullable %d pk %d array %d\n", want[i].table,
                    want[i].name, col->type, col->nullable, col->pk, col->is_array);
        CU_ASSERT_STRING_EQUAL(col->type, want[i].type);
        CU_ASSERT_EQUAL(col->nullable, want[i].nullable);
        CU_ASSERT_EQUAL(col->pk, want[i].pk);
        CU_ASSERT_EQUAL(col->is_array, want[i].is_array);
    }
    /* _id first; ordinals 1..n per collection. */
    CU_ASSERT_EQUAL(find_column(c, "customers", "_id")->ordinal, 1);
    int max_ordinal = 0, count = 0;
    for (size_t i = 0; i < c->ncolumns; i++)
        if (strcmp(c->columns[i].table, "customers") == 0) {
            count++;
            if (c->columns[i].ordinal > max_ordinal)
                max_ordinal = c->columns[i].ordinal;
        }
    CU_ASSERT_EQUAL(max_ordinal, count);
    CU_ASSERT_EQUAL(count, 14); /* 10 top-level fields + address.{street,city,country,zip} */
    free(c);
    drv->close(conn);
}

static void test_introspect_indexes(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct catalog *c = calloc(1, sizeof(*c));
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(introspect(conn, 10, c, &err), QUARRY_OK);
    const struct cat_index *ix = find_index(c, "customers", "_id_");
    CU_ASSERT_FATAL(ix != NULL);
    CU_ASSERT_EQUAL(ix->primary, 1);
    CU_ASSERT_EQUAL(ix->unique, 1);
    CU_ASSERT_STRING_EQUAL(ix->columns, "_id");
    ix = find_index(c, "customers", "email_1");
    CU_ASSERT_FATAL(ix != NULL);
    CU_ASSERT_EQUAL(ix->unique, 1);
    CU_ASSERT_EQUAL(ix->primary, 0);
    CU_ASSERT_STRING_EQUAL(ix->columns, "email");
    ix = find_index(c, "customers", "address.city_1");
    CU_ASSERT_FATAL(ix != NULL);
    CU_ASSERT_EQUAL(ix->unique, 0);
    CU_ASSERT_STRING_EQUAL(ix->columns, "address.city");
    ix = find_index(c, "orders", "customer_id_1_created_at_-1");
    CU_ASSERT_FATAL(ix != NULL);
    CU_ASSERT_STRING_EQUAL(ix->columns, "customer_id,created_at");
    for (size_t i = 0; i < c->nindexes; i++)
        CU_ASSERT_STRING_NOT_EQUAL(c->indexes[i].table, "big_orders"); /* views have none */
    CU_ASSERT_EQUAL(c->nindexes, 3 + 2 + 2);
    free(c);
    drv->close(conn);
}

/* A tiny sample still gives every field all documents share, and stays bounded. */
static void test_introspect_small_sample(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct catalog *c = calloc(1, sizeof(*c));
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(introspect(conn, 1, c, &err), QUARRY_OK);
    const char *always[] = {"_id", "customer_id", "status", "total", "items", "items.sku"};
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
        const struct cat_column *col = find_column(c, "orders", always[i]);
        CU_ASSERT(col != NULL && col->nullable == 0);
    }
    CU_ASSERT_PTR_NOT_NULL(find_table(c, "orders"));
    free(c);
    drv->close(conn);
}

static void test_introspect_stop(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct catalog *c = calloc(1, sizeof(*c));
    struct quarry_error err;
    c->stop_after_tables = 1;
    CU_ASSERT_EQUAL(introspect(conn, 10, c, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(c->ntables, 1);
    CU_ASSERT_EQUAL(c->ncolumns, 0);
    free(c);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */
/* execute                                                                  */
/* ------------------------------------------------------------------------ */

static void test_find_typed_values(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(run(conn,
                              "{\"find\": \"customers\", \"filter\": {\"address.city\": \"Porto\"},"
                              " \"sort\": {\"name\": 1}, \"limit\": 10}",
                              5000, 0, &r, &err),
                          QUARRY_OK);
    CU_ASSERT_EQUAL(r.begun, 1);
    CU_ASSERT_EQUAL(r.ended, 1);
    CU_ASSERT_EQUAL_FATAL(r.nrows, 2);
    CU_ASSERT_STRING_EQUAL(r.names[0], "_id");
    CU_ASSERT_EQUAL(col_of(&r, "_extra"), -1); /* the whole result fit the look-ahead */
    CU_ASSERT_STRING_EQUAL(text_of(&r, 0, "name"), "Ana Silva");
    CU_ASSERT_STRING_EQUAL(text_of(&r, 1, "name"), "Gabriel Dubois");

    CU_ASSERT_EQUAL(cell(&r, 0, "_id")->type, QUARRY_VALUE_TEXT);
    CU_ASSERT_STRING_EQUAL(text_of(&r, 0, "_id"), "650100000000000000000001");
    CU_ASSERT_STRING_EQUAL(r.decls[col_of(&r, "_id")], "objectId");
    CU_ASSERT_EQUAL(cell(&r, 0, "created_at")->type, QUARRY_VALUE_TIMESTAMP);
    CU_ASSERT_STRING_EQUAL(text_of(&r, 0, "created_at"), "2022-02-03T09:01:00Z");
    CU_ASSERT_EQUAL(cell(&r, 0, "balance")->type, QUARRY_VALUE_DECIMAL);
    CU_ASSERT_STRING_EQUAL(text_of(&r, 0, "balance"), "37.13");
    CU_ASSERT_EQUAL(cell(&r, 0, "vip")->type, QUARRY_VALUE_BOOL);
    CU_ASSERT_EQUAL(cell(&r, 0, "vip")->i, 0);
    CU_ASSERT_EQUAL(cell(&r, 0, "loyalty_points")->type, QUARRY_VALUE_INT);
    CU_ASSERT_EQUAL(cell(&r, 0, "loyalty_points")->i, 120);
    CU_ASSERT_EQUAL(cell(&r, 0, "address")->type, QUARRY_VALUE_JSON);
    CU_ASSERT_PTR_NOT_NULL(strstr(text_of(&r, 0, "address"), "\"city\" : \"Porto\""));
    CU_ASSERT_EQUAL(cell(&r, 0, "tags")->type, QUARRY_VALUE_JSON);
    CU_ASSERT_STRING_EQUAL(text_of(&r, 0, "tags"), "[ \"newsletter\" ]");
    CU_ASSERT_EQUAL(r.types[col_of(&r, "created_at")], QUARRY_VALUE_TIMESTAMP);
    /* Neither has a phone: no document in the result has the field, so no column. */
    CU_ASSERT_EQUAL(col_of(&r, "phone"), -1);
    rec_clear(&r);
    drv->close(conn);
}

static void test_find_operators_projection(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(
        run(conn,
            "{\"find\": \"orders\", \"filter\": {\"total\": {\"$gt\": 300},"
            " \"status\": {\"$in\": [\"shipped\", \"delivered\"]}},"
            " \"projection\": {\"total\": 1, \"total_cents\": 1}, \"sort\": {\"total\": -1}}",
            5000, 0, &r, &err),
        QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 30);
    CU_ASSERT_EQUAL_FATAL(r.ncols, 3);
    CU_ASSERT_STRING_EQUAL(r.names[0], "_id");
    CU_ASSERT_STRING_EQUAL(r.names[1], "total");
    CU_ASSERT_STRING_EQUAL(r.names[2], "total_cents");
    CU_ASSERT_EQUAL(r.types[1], QUARRY_VALUE_DOUBLE);
    CU_ASSERT_STRING_EQUAL(r.decls[2], "long");
    for (size_t i = 0; i < r.nrows; i++) {
        CU_ASSERT(cell(&r, i, "total")->d > 300);
        CU_ASSERT_EQUAL(cell(&r, i, "_id")->type, QUARRY_VALUE_INT);
        CU_ASSERT_EQUAL(cell(&r, i, "total_cents")->type, QUARRY_VALUE_INT);
        if (i)
            CU_ASSERT(cell(&r, i, "total")->d <= cell(&r, i - 1, "total")->d);
    }
    rec_clear(&r);

    /* $ne with skip/limit: non-cancelled orders (cancelled are 2, 7, 12 ...). */
    CU_ASSERT_EQUAL(run(conn,
                        "{\"find\": \"orders\", \"filter\": {\"status\": {\"$ne\": \"cancelled\"},"
                        " \"_id\": {\"$lte\": 20}}, \"sort\": {\"_id\": 1}, \"skip\": 5,"
                        " \"limit\": 3, \"projection\": {\"status\": 1}}",
                        5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r.nrows, 3);
    CU_ASSERT_EQUAL(cell(&r, 0, "_id")->i, 8);
    CU_ASSERT_EQUAL(cell(&r, 1, "_id")->i, 9);
    CU_ASSERT_EQUAL(cell(&r, 2, "_id")->i, 10);
    rec_clear(&r);

    /* Extended JSON in the filter: an ObjectId and a date. */
    CU_ASSERT_EQUAL(run(conn,
                        "{\"find\": \"customers\", \"filter\": "
                        "{\"_id\": {\"$oid\": \"650100000000000000000003\"}}}",
                        5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r.nrows, 1);
    CU_ASSERT_STRING_EQUAL(text_of(&r, 0, "name"), "Clara Weber");
    rec_clear(&r);
    CU_ASSERT_EQUAL(run(conn,
                        "{\"find\": \"customers\", \"filter\": {\"created_at\": "
                        "{\"$gte\": {\"$date\": \"2022-06-01T00:00:00Z\"}}}}",
                        5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 7);
    rec_clear(&r);
    drv->close(conn);
}

static void test_aggregate_group(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(
        run(conn,
            "{\"aggregate\": \"orders\", \"pipeline\": [{\"$group\": {\"_id\": \"$status\","
            " \"n\": {\"$sum\": 1}, \"revenue\": {\"$sum\": \"$total\"},"
            " \"avg\": {\"$avg\": \"$total\"}, \"low\": {\"$min\": \"$total\"},"
            " \"high\": {\"$max\": \"$total\"}}}, {\"$sort\": {\"_id\": 1}}], \"cursor\": {}}",
            5000, 0, &r, &err),
        QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r.nrows, 4);
    const char *status[] = {"cancelled", "delivered", "pending", "shipped"};
    const int64_t n[] = {50, 50, 50, 100};
    const double high[] = {345.71, 383.35, 335.55, 444.99};
    for (size_t i = 0; i < 4; i++) {
        CU_ASSERT_STRING_EQUAL(text_of(&r, i, "_id"), status[i]);
        CU_ASSERT_EQUAL(cell(&r, i, "n")->type, QUARRY_VALUE_INT);
        CU_ASSERT_EQUAL(cell(&r, i, "n")->i, n[i]);
        CU_ASSERT_DOUBLE_EQUAL(cell(&r, i, "high")->d, high[i], 1e-9);
        CU_ASSERT(cell(&r, i, "low")->d <= cell(&r, i, "avg")->d);
        CU_ASSERT_DOUBLE_EQUAL(cell(&r, i, "avg")->d * (double)n[i], cell(&r, i, "revenue")->d,
                               1e-6);
    }
    rec_clear(&r);

    /* $unwind + $match + $count: order lines of product P-001. */
    CU_ASSERT_EQUAL(run(conn,
                        "{\"aggregate\": \"orders\", \"pipeline\": [{\"$unwind\": \"$items\"},"
                        " {\"$match\": {\"items.sku\": \"P-001\"}}, {\"$count\": \"lines\"}],"
                        " \"cursor\": {\"batchSize\": 5}}",
                        5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r.nrows, 1);
    CU_ASSERT_EQUAL(cell(&r, 0, "lines")->i, 24);
    rec_clear(&r);

    /* Through the view. */
    CU_ASSERT_EQUAL(run(conn,
                        "{\"aggregate\": \"big_orders\", \"pipeline\": [{\"$count\": \"n\"}]}",
                        5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 1);
    CU_ASSERT_EQUAL(cell(&r, 0, "n")->i, 38);
    rec_clear(&r);
    drv->close(conn);
}

/* More documents than one batch: the rows arrive across getMore round trips. */
static void test_streaming_batches(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    const char *statements[] = {
        "{\"find\": \"orders\", \"sort\": {\"_id\": 1}}", /* first batch 101, then getMore */
        "{\"find\": \"orders\", \"sort\": {\"_id\": 1}, \"batchSize\": 7}",
        "{\"aggregate\": \"orders\", \"pipeline\": [{\"$sort\": {\"_id\": 1}}],"
        " \"cursor\": {\"batchSize\": 13}}",
    };
    for (size_t s = 0; s < 3; s++) {
        struct row_rec r = {0};
        struct quarry_error err;
        CU_ASSERT_EQUAL(run(conn, statements[s], 10000, 0, &r, &err), QUARRY_OK);
        CU_ASSERT_EQUAL(r.nrows, 250);
        int in_order = 1;
        for (size_t i = 0; i < r.nrows; i++)
            in_order &= cell(&r, i, "_id")->i == (int64_t)i + 1;
        CU_ASSERT(in_order);
        /* coupon first shows at order 10: inside the look-ahead, so it has a column. */
        CU_ASSERT(col_of(&r, "coupon") >= 0);
        CU_ASSERT(col_of(&r, "_extra") >= 0); /* the stream outlived the look-ahead */
        CU_ASSERT_EQUAL(cell(&r, 0, "_extra")->type, QUARRY_VALUE_NULL);
        rec_clear(&r);
    }
    drv->close(conn);
}

/* A field that first appears after the look-ahead window lands in _extra. */
static void test_streaming_late_fields(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(
        run(conn,
            "{\"aggregate\": \"orders\", \"pipeline\": [{\"$sort\": {\"_id\": 1}},"
            " {\"$replaceRoot\": {\"newRoot\": {\"$cond\": [{\"$gt\": [\"$_id\", 150]},"
            " {\"id\": \"$_id\", \"late\": true}, {\"id\": \"$_id\"}]}}}]}",
            10000, 0, &r, &err),
        QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(r.nrows, 250);
    CU_ASSERT_EQUAL_FATAL(r.ncols, 2);
    CU_ASSERT_STRING_EQUAL(r.names[0], "id");
    CU_ASSERT_STRING_EQUAL(r.names[1], "_extra");
    CU_ASSERT_EQUAL(r.types[1], QUARRY_VALUE_JSON);
    CU_ASSERT_EQUAL(cell(&r, 149, "_extra")->type, QUARRY_VALUE_NULL);
    CU_ASSERT_EQUAL(cell(&r, 150, "id")->i, 151);
    CU_ASSERT_EQUAL(cell(&r, 150, "_extra")->type, QUARRY_VALUE_JSON);
    CU_ASSERT_STRING_EQUAL(text_of(&r, 150, "_extra"), "{ \"late\" : true }");
    rec_clear(&r);
    drv->close(conn);
}

static void test_row_cap(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    /* The host's row limit, on find (becomes its limit) and on aggregate (stops the stream). */
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"orders\", \"sort\": {\"_id\": 1}}", 5000, 5, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 5);
    CU_ASSERT_EQUAL(r.ended, 1);
    CU_ASSERT_EQUAL(col_of(&r, "_extra"), -1);
    rec_clear(&r);
    CU_ASSERT_EQUAL(run(conn,
                        "{\"aggregate\": \"orders\", \"pipeline\": [{\"$match\": {}}],"
                        " \"cursor\": {\"batchSize\": 200}}",
                        5000, 120, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 120);
    CU_ASSERT_EQUAL(r.ended, 1);
    rec_clear(&r);
    /* A limit below the cap wins. */
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"orders\", \"limit\": 3}", 5000, 50, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 3);
    rec_clear(&r);
    /* The sink says stop: no more rows, end still called, no error. */
    r.stop_after = 4;
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"orders\", \"batchSize\": 2}", 5000, 0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 4);
    CU_ASSERT_EQUAL(r.ended, 1);
    rec_clear(&r);
    /* The connection is still good after cursors left open were killed. */
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"products\"}", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 20);
    rec_clear(&r);
    drv->close(conn);
}

struct refusal {
    const char *statement;
    int status;
};

static void test_refused_statements(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    const struct refusal cases[] = {
        {"{\"insert\": \"customers\", \"documents\": [{\"x\": 1}]}", QUARRY_ERR_READONLY},
        {"{\"update\": \"customers\", \"updates\": []}", QUARRY_ERR_READONLY},
        {"{\"delete\": \"customers\", \"deletes\": []}", QUARRY_ERR_READONLY},
        {"{\"findAndModify\": \"customers\", \"remove\": true}", QUARRY_ERR_READONLY},
        {"{\"drop\": \"customers\"}", QUARRY_ERR_READONLY},
        {"{\"dropDatabase\": 1}", QUARRY_ERR_READONLY},
        {"{\"createIndexes\": \"customers\", \"indexes\": []}", QUARRY_ERR_READONLY},
        {"{\"aggregate\": \"orders\", \"pipeline\": [{\"$out\": \"copy\"}], \"cursor\": {}}",
         QUARRY_ERR_READONLY},
        {"{\"aggregate\": \"orders\", \"pipeline\": [{\"$match\": {}}, {\"$merge\": "
         "{\"into\": \"copy\"}}]}",
         QUARRY_ERR_READONLY},
        {"{\"aggregate\": \"orders\", \"pipeline\": [{\"$facet\": {\"a\": [{\"$out\": \"x\"}]}}]}",
         QUARRY_ERR_READONLY},
        {"{\"aggregate\": \"orders\", \"pipeline\": [{\"$lookup\": {\"from\": \"customers\","
         " \"pipeline\": [{\"$merge\": \"x\"}], \"as\": \"c\"}}]}",
         QUARRY_ERR_READONLY},
        {"{\"listCollections\": 1}", QUARRY_ERR_INVALID},
        {"{\"count\": \"orders\"}", QUARRY_ERR_INVALID},
        {"{\"find\": \"orders\", \"writeConcern\": {\"w\": 1}}", QUARRY_ERR_INVALID},
        {"{\"find\": \"orders\", \"explain\": true}", QUARRY_ERR_INVALID},
        {"{\"find\": \"orders\", \"filter\": [1, 2]}", QUARRY_ERR_INVALID},
        {"{\"find\": \"orders\", \"limit\": \"ten\"}", QUARRY_ERR_INVALID},
        {"{\"find\": \"orders\", \"limit\": 2.5}", QUARRY_ERR_INVALID},
        {"{\"find\": 42}", QUARRY_ERR_INVALID},
        {"{\"find\": \"\"}", QUARRY_ERR_INVALID},
        {"{\"aggregate\": \"orders\"}", QUARRY_ERR_INVALID},
        {"{\"aggregate\": \"orders\", \"pipeline\": {\"$match\": {}}}", QUARRY_ERR_INVALID},
        {"{\"aggregate\": \"orders\", \"pipeline\": [1]}", QUARRY_ERR_INVALID},
        {"{\"aggregate\": \"orders\", \"pipeline\": [], \"cursor\": {\"noTimeout\": true}}",
         QUARRY_ERR_INVALID},
        {"{\"aggregate\": 1, \"pipeline\": []}", QUARRY_ERR_INVALID},
        {"{}", QUARRY_ERR_INVALID},
        {"", QUARRY_ERR_INVALID},
        {"not json at all", QUARRY_ERR_INVALID},
        {"{\"find\": \"orders\"", QUARRY_ERR_INVALID},
        {"{\"find\": \"orders\", \"filter\": {\"x\": }}", QUARRY_ERR_INVALID},
        {"SELECT * FROM orders", QUARRY_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct row_rec r = {0};
        struct quarry_error err;
        int rc = run(conn, cases[i].statement, 5000, 0, &r, &err);
        if (rc != cases[i].status)
            fprintf(stderr, "statement %s: %d %s\n", cases[i].statement, rc, err.message);
        CU_ASSERT_EQUAL(rc, cases[i].status);
        CU_ASSERT_EQUAL(err.status, cases[i].status);
        CU_ASSERT(strlen(err.message) > 0);
        CU_ASSERT_EQUAL(r.begun, 0);
        rec_clear(&r);
    }
    /* A statement past the size bound. */
    size_t big = 2 * 1024 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    memcpy(huge, "{\"find\": \"orders\"}", 18);
    struct row_rec r = {0};
    struct quarry_error err;
    CU_ASSERT_EQUAL(run(conn, huge, 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    free(huge);
    CU_ASSERT_EQUAL(run(conn, NULL, 5000, 0, &r, &err), QUARRY_ERR_INVALID);
    drv->close(conn);
}

static void test_query_errors(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    /* The server's own refusal comes back as a query error with its message. */
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"orders\", \"filter\": {\"total\": {\"$foo\": 1}}}",
                        5000, 0, &r, &err),
                    QUARRY_ERR_QUERY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "unknown operator"));
    CU_ASSERT_EQUAL(err.native_code, 2);
    rec_clear(&r);
    CU_ASSERT_EQUAL(run(conn, "{\"aggregate\": \"orders\", \"pipeline\": [{\"$bogus\": {}}]}", 5000,
                        0, &r, &err),
                    QUARRY_ERR_QUERY);
    rec_clear(&r);
    /* An unknown collection is an empty result, as on a real server. */
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"no_such_collection\"}", 5000, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 0);
    CU_ASSERT_EQUAL(r.ncols, 0);
    CU_ASSERT_EQUAL(r.begun, 1);
    CU_ASSERT_EQUAL(r.ended, 1);
    rec_clear(&r);
    drv->close(conn);
}

/*
 * The deadline travels as maxTimeMS: the peer sleeps on request and answers
 * MaxTimeMSExpired once the statement's maxTimeMS has passed.
 */
static void test_deadline(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    const char *slow = "{\"find\": \"orders\", \"comment\": {\"peerSleepMS\": 4000}}";
    int64_t t0 = host_now_ms();
    CU_ASSERT_EQUAL(run(conn, slow, 300, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    CU_ASSERT(host_now_ms() - t0 < 2500);
    CU_ASSERT_EQUAL(err.native_code, 50);
    rec_clear(&r);
    /* The statement's own, shorter maxTimeMS wins over a long deadline. */
    CU_ASSERT_EQUAL(run(conn,
                        "{\"aggregate\": \"orders\", \"pipeline\": [], \"maxTimeMS\": 200,"
                        " \"comment\": {\"peerSleepMS\": 4000}}",
                        30000, 0, &r, &err),
                    QUARRY_ERR_TIMEOUT);
    rec_clear(&r);
    /* A short sleep inside the deadline runs to the end. */
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"products\", \"comment\": {\"peerSleepMS\": 100}}", 5000,
                        0, &r, &err),
                    QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 20);
    rec_clear(&r);
    /* Already expired: nothing is sent. */
    CU_ASSERT_EQUAL(run(conn, "{\"find\": \"products\"}", -1, 0, &r, &err), QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(r.begun, 0);
    rec_clear(&r);
    drv->close(conn);
}

/* Several connections at once, each on its own thread, as the worker pool does. */
static void *concurrent_worker(void *arg)
{
    int *ok = arg;
    struct quarry_conn *conn = open_peer();
    if (!conn)
        return NULL;
    int good = 1;
    for (int i = 0; i < 3; i++) {
        struct row_rec r = {0};
        struct quarry_error err;
        good &= run(conn, "{\"find\": \"orders\", \"batchSize\": 50}", 10000, 0, &r, &err) ==
                    QUARRY_OK &&
                r.nrows == 250;
        rec_clear(&r);
    }
    drv->close(conn);
    *ok = good;
    return NULL;
}

static void test_concurrent_connections(void)
{
    REQUIRE_PEER();
    pthread_t threads[6];
    int ok[6] = {0};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[i], NULL, concurrent_worker, &ok[i]), 0);
    for (int i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
        CU_ASSERT_EQUAL(ok[i], 1);
    }
}

/* ------------------------------------------------------------------------ */
/* sample                                                                   */
/* ------------------------------------------------------------------------ */

static int sample(struct quarry_conn *conn, const char *table, uint32_t n, uint64_t row_limit,
                  struct row_rec *r, struct quarry_error *err)
{
    struct host_call call;
    struct quarry_row_sink sink;
    host_call_init(&call, 5000, row_limit);
    host_error_init(err);
    r->check_width = 1;
    rec_sink_init(&sink, r);
    return drv->sample(conn, &call.ctx, NULL, table, n, &sink, err);
}

static void test_sample(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    CU_ASSERT_EQUAL_FATAL(sample(conn, "customers", 5, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 5);
    CU_ASSERT_EQUAL(r.ended, 1);
    int distinct = 1;
    for (size_t i = 0; i < r.nrows; i++) {
        CU_ASSERT_EQUAL(strlen(text_of(&r, i, "_id")), 24);
        CU_ASSERT(strlen(text_of(&r, i, "email")) > 0);
        for (size_t j = 0; j < i; j++)
            distinct &= strcmp(text_of(&r, i, "_id"), text_of(&r, j, "_id")) != 0;
    }
    CU_ASSERT(distinct);
    rec_clear(&r);

    CU_ASSERT_EQUAL(sample(conn, "products", 50, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 20); /* all there are */
    rec_clear(&r);
    CU_ASSERT_EQUAL(sample(conn, "orders", 10, 3, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 3); /* the host's row limit is lower */
    rec_clear(&r);
    CU_ASSERT_EQUAL(sample(conn, "big_orders", 5, 0, &r, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r.nrows, 5);
    for (size_t i = 0; i < r.nrows; i++)
        CU_ASSERT(cell(&r, i, "total")->d > 300);
    rec_clear(&r);
    drv->close(conn);
}

static void test_sample_unknown(void)
{
    REQUIRE_PEER();
    struct quarry_conn *conn = open_peer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct row_rec r = {0};
    struct quarry_error err;
    CU_ASSERT_EQUAL(sample(conn, "no_such_collection", 5, 0, &r, &err), QUARRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no_such_collection"));
    CU_ASSERT_EQUAL(r.begun, 0);
    CU_ASSERT_EQUAL(sample(conn, "", 5, 0, &r, &err), QUARRY_ERR_INVALID);
    CU_ASSERT_EQUAL(sample(conn, NULL, 5, 0, &r, &err), QUARRY_ERR_INVALID);
    rec_clear(&r);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */

void register_mongodb_driver_tests(void)
{
    CU_pSuite s = CU_add_suite("mongodb_open", suite_init, suite_cleanup);
    CU_add_test(s, "driver table", test_driver_table);
    CU_add_test(s, "exports only the entry", test_exports_only_entry);
    CU_add_test(s, "open and ping report the version", test_open_ping_version);
    CU_add_test(s, "ping honours the ctx", test_ping_expired_ctx);
    CU_add_test(s, "bad URLs are INVALID", test_open_bad_urls);
    CU_add_test(s, "database parameter", test_open_database_param);
    CU_add_test(s, "closed port is CONNECT within the timeout", test_open_closed_port);
    CU_add_test(s, "SCRAM-SHA-256 credentials", test_open_auth);
    CU_add_test(s, "tls parameter", test_open_tls_param);
    CU_add_test(s, "the peer survives garbage", test_peer_survives_garbage);

    s = CU_add_suite("mongodb_introspect", suite_init, suite_cleanup);
    CU_add_test(s, "collections, views, estimates", test_introspect_collections);
    CU_add_test(s, "inferred fields", test_introspect_fields);
    CU_add_test(s, "indexes", test_introspect_indexes);
    CU_add_test(s, "small sample", test_introspect_small_sample);
    CU_add_test(s, "sink stop", test_introspect_stop);

    s = CU_add_suite("mongodb_execute", suite_init, suite_cleanup);
    CU_add_test(s, "find: typed values", test_find_typed_values);
    CU_add_test(s, "find: operators, projection, skip, limit", test_find_operators_projection);
    CU_add_test(s, "aggregate: group, unwind, view", test_aggregate_group);
    CU_add_test(s, "streaming across batches", test_streaming_batches);
    CU_add_test(s, "late fields go to _extra", test_streaming_late_fields);
    CU_add_test(s, "row cap and sink stop", test_row_cap);
    CU_add_test(s, "writes and bad statements refused", test_refused_statements);
    CU_add_test(s, "server errors", test_query_errors);
    CU_add_test(s, "deadline as maxTimeMS", test_deadline);
    CU_add_test(s, "concurrent connections", test_concurrent_connections);

    s = CU_add_suite("mongodb_sample", suite_init, suite_cleanup);
    CU_add_test(s, "sample N", test_sample);
    CU_add_test(s, "unknown collection", test_sample_unknown);
}
