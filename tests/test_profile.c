/*
 * Column profiling through the real sqlite driver (loaded by the loader) on
 * copies of the Chinook and Northwind fixtures, and on small databases made
 * here for truncation, blobs and time budgets. Expected numbers come from
 * the same files, queried directly with sqlite3.
 *
 * Suite "profile_mongodb" profiles collections of the MongoDB wire-protocol
 * test peer (see tests/test_mongodb_driver.c; QUARRY_TEST_MONGO_URL).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "catalog.h"
#include "harness.h"
#include "host.h"
#include "loader.h"
#include "profile.h"

static const struct quarry_driver *drv;
static char *chinook_path, *northwind_path, *scratch_path;
static struct quarry_conn *chinook_conn, *northwind_conn, *scratch_conn;
static struct catalog *chinook, *northwind, *scratch;

/* Rows forever, and a first row that never comes. */
static const char SCRATCH_SQL[] =
    "CREATE TABLE wide (id INTEGER PRIMARY KEY, long_text TEXT, pic BLOB, mixed);"
    "CREATE VIEW endless AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
    "  SELECT x, x % 7 AS m FROM c;"
    "CREATE VIEW stuck AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
    "  SELECT count(*) AS n FROM c;"
    "CREATE TABLE doomed (a INTEGER);"
    "INSERT INTO doomed VALUES (1);";

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static struct quarry_conn *open_path(const char *path)
{
    struct quarry_open_params p;
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    char *url = NULL;
    if (asprintf(&url, "sqlite:///%s", path) < 0)
        return NULL;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    host_error_init(&err);
    if (drv->open(&p, &conn, &err) != QUARRY_OK)
        fprintf(stderr, "open %s: %s\n", path, err.message);
    free(url);
    return conn;
}

static struct catalog *introspect(struct quarry_conn *conn)
{
    struct catalog *c = catalog_new(drv);
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    struct quarry_error err;
    struct host_call call;
    if (!c)
        return NULL;
    catalog_sink_init(&sink, c);
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    host_error_init(&err);
    host_call_init(&call, 10000, 0);
    if (drv->introspect(conn, &call.ctx, &opts, &sink, &err) != QUARRY_OK) {
        fprintf(stderr, "introspect: %s\n", err.message);
        catalog_free(c);
        return NULL;
    }
    return c;
}

/* Runs one SQL statement on the test's own connection; -1 on failure. */
static int direct_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc =
        sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
            ? 0
            : -1;
    sqlite3_close(db);
    return rc;
}

/* The first column of the first row, as a double (NAN on failure) or as text. */
static double direct_num(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    double v = NAN;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_double(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static char *direct_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *v = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        v = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static struct catalog_table *table_of(struct catalog *c, const char *name)
{
    struct catalog_table *t = c ? catalog_find_table(c, NULL, name) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return t;
}

static const struct column_profile *profile_of(struct catalog_table *t, const char *column)
{
    struct catalog_column *col = catalog_find_column(t, column);
    CU_ASSERT_PTR_NOT_NULL_FATAL(col);
    CU_ASSERT_PTR_NOT_NULL_FATAL(col->profile);
    return col->profile;
}

/* Profiles `name` and expects success. */
static struct catalog_table *profiled(struct quarry_conn *conn, struct catalog *c, const char *name,
                                      uint32_t max_rows)
{
    struct quarry_error err;
    struct catalog_table *t = table_of(c, name);
    host_error_init(&err);
    int status = profile_table(drv, conn, t, max_rows, 10000, &err);
    if (status != QUARRY_OK)
        fprintf(stderr, "profile %s: %s\n", name, err.message);
    CU_ASSERT_EQUAL_FATAL(status, QUARRY_OK);
    return t;
}

/* Values sorted strictly (distinct), each within PROFILE_VALUE_MAX, valid UTF-8 boundaries. */
static int values_well_formed(const struct column_profile *p)
{
    for (long i = 0; i < p->distinct; i++) {
        if (!p->values[i] || strlen(p->values[i]) > PROFILE_VALUE_MAX)
            return 0;
        if (i > 0 && strcmp(p->values[i - 1], p->values[i]) >= 0)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Suite setup                                                              */
/* ------------------------------------------------------------------------ */

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
    chinook_path = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    northwind_path = harness_copy_fixture("northwind/northwind.sqlite");
    scratch_path = harness_tmppath("profile", ".sqlite");
    if (!chinook_path || !northwind_path || !scratch_path ||
        direct_exec(scratch_path, SCRATCH_SQL) != 0)
        return -1;
    chinook_conn = open_path(chinook_path);
    northwind_conn = open_path(northwind_path);
    scratch_conn = open_path(scratch_path);
    if (!chinook_conn || !northwind_conn || !scratch_conn)
        return -1;
    chinook = introspect(chinook_conn);
    northwind = introspect(northwind_conn);
    return chinook && northwind ? 0 : -1;
}

static int suite_cleanup(void)
{
    catalog_free(chinook);
    catalog_free(northwind);
    catalog_free(scratch);
    chinook = northwind = scratch = NULL;
    if (drv) {
        drv->close(chinook_conn);
        drv->close(northwind_conn);
        drv->close(scratch_conn);
    }
    chinook_conn = northwind_conn = scratch_conn = NULL;
    free(chinook_path);
    free(northwind_path);
    free(scratch_path);
    chinook_path = northwind_path = scratch_path = NULL;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Small tables, sampled whole: exact answers                               */
/* ------------------------------------------------------------------------ */

static void test_null_fractions(void)
{
    struct catalog_table *t = profiled(chinook_conn, chinook, "Customer", 1000);
    CU_ASSERT_EQUAL(t->sampled_rows, 59);
    static const char *const columns[] = {"Company", "State", "Fax", "PostalCode", "Email"};
    for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM Customer WHERE \"%s\" IS NULL",
                 columns[i]);
        const struct column_profile *p = profile_of(t, columns[i]);
        CU_ASSERT_EQUAL(p->sampled, 59);
        CU_ASSERT_EQUAL(p->nulls, (long)direct_num(chinook_path, sql));
    }
    CU_ASSERT_EQUAL(profile_of(t, "Company")->nulls, 49); /* 10 customers name a company */
    CU_ASSERT_EQUAL(profile_of(t, "Email")->nulls, 0);
}

static void test_distinct_small_tables(void)
{
    static const struct {
        const char *table, *column;
    } cases[] = {{"Customer", "Country"},       {"Customer", "City"}, {"Genre", "Name"},
                 {"Invoice", "BillingCountry"}, {"Invoice", "Total"}, {"Employee", "Title"},
                 {"Album", "ArtistId"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sql[160];
        struct catalog_table *t = profiled(chinook_conn, chinook, cases[i].table, 1000);
        const struct column_profile *p = profile_of(t, cases[i].column);
        snprintf(sql, sizeof(sql), "SELECT count(DISTINCT \"%s\") FROM \"%s\"", cases[i].column,
                 cases[i].table);
        long real = (long)direct_num(chinook_path, sql);
        CU_ASSERT_TRUE(real > 1);
        CU_ASSERT_EQUAL(p->distinct, real);
        CU_ASSERT_FALSE(p->distinct_capped);
        /* The sample is the table: nothing to extrapolate. */
        CU_ASSERT_DOUBLE_EQUAL(p->distinct_estimate, (double)real, 1e-9);
        CU_ASSERT_TRUE(values_well_formed(p));
    }
}

static void test_numeric_min_max(void)
{
    struct catalog_table *t = profiled(chinook_conn, chinook, "Track", 5000);
    CU_ASSERT_EQUAL(t->sampled_rows, 3503);
    const struct column_profile *p = profile_of(t, "Milliseconds");
    CU_ASSERT_TRUE(p->numeric);
    CU_ASSERT_EQUAL(p->value_type, QUARRY_VALUE_INT);
    CU_ASSERT_DOUBLE_EQUAL(p->num_min,
                           direct_num(chinook_path, "SELECT min(Milliseconds) FROM Track"), 0);
    CU_ASSERT_DOUBLE_EQUAL(p->num_max,
                           direct_num(chinook_path, "SELECT max(Milliseconds) FROM Track"), 0);
    /* Numbers compare as numbers: the text bounds are those of the numeric ones. */
    char *min = direct_text(chinook_path, "SELECT min(Milliseconds) FROM Track");
    CU_ASSERT_STRING_EQUAL(p->min, min);
    free(min);

    p = profile_of(t, "UnitPrice");
    CU_ASSERT_TRUE(p->numeric);
    CU_ASSERT_DOUBLE_EQUAL(p->num_min, 0.99, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(p->num_max, 1.99, 1e-9);

    /* Text bounds by byte order, as sqlite's BINARY collation orders them. */
    p = profile_of(t, "Name");
    CU_ASSERT_FALSE(p->numeric);
    char *tmin = direct_text(chinook_path, "SELECT min(Name) FROM Track");
    char *tmax = direct_text(chinook_path, "SELECT max(Name) FROM Track");
    CU_ASSERT_STRING_EQUAL(p->min, tmin);
    CU_ASSERT_STRING_EQUAL(p->max, tmax);
    free(tmin);
    free(tmax);
    CU_ASSERT_DOUBLE_EQUAL(
        p->avg_length,
        direct_num(chinook_path, "SELECT avg(length(CAST(Name AS BLOB))) FROM Track"), 1e-9);

    /* Composer has NULLs: they count in the fraction, not in the lengths or values. */
    p = profile_of(t, "Composer");
    CU_ASSERT_EQUAL(
        p->nulls,
        (long)direct_num(chinook_path, "SELECT count(*) FROM Track WHERE Composer IS NULL"));
    CU_ASSERT_TRUE(p->nulls > 0);
}

static void test_mixed_numbers_and_dates(void)
{
    /* Freight holds integers and reals: still numeric, mostly double. */
    struct catalog_table *t = profiled(northwind_conn, northwind, "Orders", 1000);
    const struct column_profile *p = profile_of(t, "Freight");
    CU_ASSERT_TRUE(p->numeric);
    CU_ASSERT_EQUAL(p->value_type, QUARRY_VALUE_DOUBLE);
    CU_ASSERT_DOUBLE_EQUAL(p->num_max,
                           direct_num(northwind_path, "SELECT max(Freight) FROM Orders"), 1e-9);
    /* Dates stored as text compare as text. */
    p = profile_of(t, "OrderDate");
    CU_ASSERT_FALSE(p->numeric);
    char *first = direct_text(northwind_path, "SELECT min(OrderDate) FROM Orders");
    CU_ASSERT_STRING_EQUAL(p->min, first);
    free(first);

    t = profiled(northwind_conn, northwind, "Order Details", 5000);
    p = profile_of(t, "Discount");
    CU_ASSERT_TRUE(p->numeric);
    CU_ASSERT_DOUBLE_EQUAL(p->num_min, 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(
        p->num_max, direct_num(northwind_path, "SELECT max(Discount) FROM \"Order Details\""),
        1e-12);
}

static void test_top_values(void)
{
    struct catalog_table *t = profiled(chinook_conn, chinook, "Invoice", 1000);
    const struct column_profile *p = profile_of(t, "BillingCountry");
    CU_ASSERT_EQUAL(p->ntop, PROFILE_TOP_VALUES);
    char *top = direct_text(chinook_path, "SELECT BillingCountry FROM Invoice GROUP BY 1 "
                                          "ORDER BY count(*) DESC, 1 LIMIT 1");
    CU_ASSERT_STRING_EQUAL(p->top[0].value, top);
    CU_ASSERT_EQUAL(p->top[0].count,
                    (long)direct_num(chinook_path, "SELECT count(*) FROM Invoice GROUP BY "
                                                   "BillingCountry ORDER BY 1 DESC LIMIT 1"));
    free(top);
    for (size_t i = 1; i < p->ntop; i++)
        CU_ASSERT_TRUE(p->top[i - 1].count >= p->top[i].count);

    t = profiled(chinook_conn, chinook, "Genre", 1000);
    p = profile_of(t, "Name");
    CU_ASSERT_TRUE(profile_has_value(p, "Rock"));
    CU_ASSERT_TRUE(profile_has_value(p, "Heavy Metal"));
    CU_ASSERT_FALSE(profile_has_value(p, "Polka"));
    CU_ASSERT_FALSE(profile_has_value(NULL, "Rock"));
}

/* ------------------------------------------------------------------------ */
/* Big tables: bounded memory, extrapolation                                */
/* ------------------------------------------------------------------------ */

static void test_bounded_big_table(void)
{
    struct catalog_table *t = profiled(chinook_conn, chinook, "PlaylistTrack", 1000);
    CU_ASSERT_EQUAL(t->row_estimate, 8715);
    CU_ASSERT_EQUAL(t->sampled_rows, 1000);
    const struct column_profile *p = profile_of(t, "TrackId");
    CU_ASSERT_EQUAL(p->sampled, 1000);
    CU_ASSERT_TRUE(p->distinct <= PROFILE_MAX_DISTINCT);
    CU_ASSERT_TRUE(values_well_formed(p));
    /* A sample of nearly distinct keys scales up with the table, never past it. */
    CU_ASSERT_TRUE(p->distinct_estimate > p->distinct);
    CU_ASSERT_TRUE(p->distinct_estimate <= 8715);

    /* Past the cap: the set stops at PROFILE_MAX_DISTINCT, the sketch keeps counting. */
    t = profiled(chinook_conn, chinook, "PlaylistTrack", 6000);
    p = profile_of(t, "TrackId");
    CU_ASSERT_EQUAL(t->sampled_rows, 6000);
    CU_ASSERT_TRUE(p->distinct_capped);
    CU_ASSERT_EQUAL(p->distinct, PROFILE_MAX_DISTINCT);
    CU_ASSERT_TRUE(values_well_formed(p));
    double in_sample = direct_num(chinook_path, "SELECT count(DISTINCT TrackId) FROM "
                                                "(SELECT * FROM PlaylistTrack LIMIT 6000)");
    double in_table = direct_num(chinook_path, "SELECT count(DISTINCT TrackId) FROM PlaylistTrack");
    CU_ASSERT_TRUE(in_sample > PROFILE_MAX_DISTINCT);
    /* GEE is within sqrt(N/n) of the truth; the sketch adds a few percent. */
    double bound = sqrt(8715.0 / 6000.0) * 1.25;
    CU_ASSERT_TRUE(p->distinct_estimate >= in_table / bound);
    CU_ASSERT_TRUE(p->distinct_estimate <= in_table * bound);
    CU_ASSERT_TRUE(p->distinct_estimate >= PROFILE_MAX_DISTINCT);

    /* A category in a big sample keeps its handful of values. */
    p = profile_of(t, "PlaylistId");
    CU_ASSERT_FALSE(p->distinct_capped);
    CU_ASSERT_DOUBLE_EQUAL(p->distinct_estimate, (double)p->distinct, 0.5);
}

static void test_truncation_and_blobs(void)
{
    /* 300 two-byte characters (600 bytes): kept as 256 bytes, cut between characters. */
    CU_ASSERT_EQUAL_FATAL(
        direct_exec(scratch_path, "DELETE FROM wide;"
                                  "INSERT INTO wide (long_text, pic, mixed) VALUES"
                                  " (replace(printf('%300s', ''), ' ', char(233)), x'00ff00ff', 5),"
                                  " ('short', zeroblob(100000), 'five'),"
                                  " (NULL, NULL, 2.5);"),
        0);
    catalog_free(scratch);
    scratch = introspect(scratch_conn);
    CU_ASSERT_PTR_NOT_NULL_FATAL(scratch);
    struct catalog_table *t = profiled(scratch_conn, scratch, "wide", 100);

    const struct column_profile *p = profile_of(t, "long_text");
    CU_ASSERT_EQUAL(p->distinct, 2);
    CU_ASSERT_TRUE(values_well_formed(p));
    CU_ASSERT_DOUBLE_EQUAL(p->avg_length, (600.0 + 5.0) / 2, 1e-9); /* full lengths */
    const char *longest = strcmp(p->values[0], "short") == 0 ? p->values[1] : p->values[0];
    CU_ASSERT_EQUAL(strlen(longest), PROFILE_VALUE_MAX);
    CU_ASSERT_EQUAL((unsigned char)longest[PROFILE_VALUE_MAX - 2], 0xc3); /* a whole "é" */

    /* Blobs count as values, but none is kept. */
    p = profile_of(t, "pic");
    CU_ASSERT_EQUAL(p->nulls, 1);
    CU_ASSERT_EQUAL(p->distinct, 0);
    CU_ASSERT_EQUAL(p->value_type, QUARRY_VALUE_BLOB);
    CU_ASSERT_PTR_NULL(p->min);
    CU_ASSERT_EQUAL(p->ntop, 0);

    /* One text among numbers: not numeric, bounds by bytes. */
    p = profile_of(t, "mixed");
    CU_ASSERT_FALSE(p->numeric);
    CU_ASSERT_STRING_EQUAL(p->min, "2.5");
    CU_ASSERT_STRING_EQUAL(p->max, "five");
}

/* ------------------------------------------------------------------------ */
/* Time, failures                                                           */
/* ------------------------------------------------------------------------ */

static void test_budget_stops_sampling(void)
{
    struct quarry_error err;
    catalog_free(scratch);
    scratch = introspect(scratch_conn);
    CU_ASSERT_PTR_NOT_NULL_FATAL(scratch);
    struct catalog_table *t = table_of(scratch, "endless");

    /* Rows keep coming: the profile covers those seen when the budget ran out. */
    host_error_init(&err);
    int64_t start = host_now_ms();
    int status = profile_table(drv, scratch_conn, t, UINT32_MAX, 300, &err);
    int64_t took = host_now_ms() - start;
    CU_ASSERT_EQUAL(status, QUARRY_OK);
    CU_ASSERT_TRUE(took >= 200);
    CU_ASSERT_TRUE(took < 300 + 700);
    CU_ASSERT_TRUE(t->sampled_rows > 0);
    const struct column_profile *p = profile_of(t, "m");
    CU_ASSERT_EQUAL(p->sampled, (long)t->sampled_rows);
    CU_ASSERT_EQUAL(p->distinct, t->sampled_rows >= 7 ? 7 : (long)t->sampled_rows);

    /* No first row within the budget: the driver's deadline fails the call. */
    t = table_of(scratch, "stuck");
    host_error_init(&err);
    start = host_now_ms();
    status = profile_table(drv, scratch_conn, t, 10, 300, &err);
    took = host_now_ms() - start;
    CU_ASSERT_EQUAL(status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT_TRUE(took < 300 + 700);
    CU_ASSERT_PTR_NULL(t->columns[0].profile);
    CU_ASSERT_EQUAL(t->sampled_rows, 0);
}

static void test_failure_drops_profiles(void)
{
    struct quarry_error err;
    catalog_free(scratch);
    scratch = introspect(scratch_conn);
    CU_ASSERT_PTR_NOT_NULL_FATAL(scratch);
    struct catalog_table *t = profiled(scratch_conn, scratch, "doomed", 10);
    CU_ASSERT_PTR_NOT_NULL(t->columns[0].profile);

    /* The table goes away between introspection and the next profile. */
    CU_ASSERT_EQUAL_FATAL(direct_exec(scratch_path, "DROP TABLE doomed"), 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(profile_table(drv, scratch_conn, t, 10, 5000, &err), QUARRY_ERR_NOT_FOUND);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_NOT_FOUND);
    CU_ASSERT_TRUE(strstr(err.message, "doomed") != NULL);
    CU_ASSERT_PTR_NULL(t->columns[0].profile);
    CU_ASSERT_EQUAL(t->sampled_rows, 0);
    direct_exec(scratch_path, "CREATE TABLE doomed (a INTEGER); INSERT INTO doomed VALUES (1);");

    /* A driver without sample. */
    struct quarry_driver nosample = *drv;
    nosample.sample = NULL;
    host_error_init(&err);
    t = table_of(chinook, "Genre");
    CU_ASSERT_EQUAL(profile_table(&nosample, chinook_conn, t, 10, 1000, &err),
                    QUARRY_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_UNSUPPORTED);

    /* The first error set wins: an error already in `err` stays. */
    host_error_init(&err);
    host_services()->error_set(&err, QUARRY_ERR_INVALID, "", 0, "earlier");
    CU_ASSERT_EQUAL(profile_table(&nosample, chinook_conn, t, 10, 1000, &err),
                    QUARRY_ERR_UNSUPPORTED);
    CU_ASSERT_STRING_EQUAL(err.message, "earlier");
}

static void test_replaces_profiles(void)
{
    struct catalog_table *t = profiled(chinook_conn, chinook, "Artist", 10);
    CU_ASSERT_EQUAL(profile_of(t, "Name")->sampled, 10);
    t = profiled(chinook_conn, chinook, "Artist", 1000);
    CU_ASSERT_EQUAL(profile_of(t, "Name")->sampled, 275);
    CU_ASSERT_EQUAL(t->sampled_rows, 275);
}

/* ------------------------------------------------------------------------ */
/* Document store: the mongodb driver against the wire-protocol test peer   */
/* ------------------------------------------------------------------------ */

static const struct quarry_driver *mongo;

static int mongo_init(void)
{
    if (!loader_find("mongodb"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, (const char *[]){"mongodb"}, 1);
    mongo = loader_find("mongodb");
    return 0;
}

static void test_mongo_documents(void)
{
    const char *url = getenv("QUARRY_TEST_MONGO_URL");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mongo);
    if (!url || !*url)
        CU_FAIL_FATAL("QUARRY_TEST_MONGO_URL is not set: run "
                      "eval \"$(bash .ci/services/mongo-peer.sh start)\"");
    struct quarry_open_params p;
    struct quarry_error err;
    struct quarry_conn *conn = NULL;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    host_error_init(&err);
    CU_ASSERT_EQUAL_FATAL(mongo->open(&p, &conn, &err), QUARRY_OK);

    const struct quarry_driver *saved = drv;
    drv = mongo; /* introspect() goes through `drv` */
    struct catalog *c = introspect(conn);
    drv = saved;
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    struct catalog_table *t = catalog_find_table(c, NULL, "orders");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    host_error_init(&err);
    CU_ASSERT_EQUAL_FATAL(profile_table(mongo, conn, t, 1000, 10000, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(t->sampled_rows, 250);
    const struct column_profile *status = profile_of(t, "status");
    CU_ASSERT_EQUAL(status->distinct, 4);
    CU_ASSERT_STRING_EQUAL(status->top[0].value, "shipped");
    CU_ASSERT_EQUAL(status->top[0].count, 100);
    CU_ASSERT_DOUBLE_EQUAL(status->distinct_estimate, 4, 1e-9);

    /* Nested documents arrive as JSON text; dotted fields have no column of their own. */
    struct catalog_table *customers = catalog_find_table(c, NULL, "customers");
    CU_ASSERT_PTR_NOT_NULL_FATAL(customers);
    host_error_init(&err);
    CU_ASSERT_EQUAL_FATAL(profile_table(mongo, conn, customers, 1000, 10000, &err), QUARRY_OK);
    const struct column_profile *address = profile_of(customers, "address");
    CU_ASSERT_EQUAL(address->value_type, QUARRY_VALUE_JSON);
    CU_ASSERT_EQUAL(address->nulls, 0);
    CU_ASSERT_EQUAL(profile_of(customers, "balance")->value_type, QUARRY_VALUE_DECIMAL);
    CU_ASSERT_TRUE(profile_of(customers, "balance")->numeric);
    struct catalog_column *city = catalog_find_column(customers, "address.city");
    if (city)
        CU_ASSERT_PTR_NULL(city->profile);
    catalog_free(c);
    mongo->close(conn);
}

void register_profile_tests(void)
{
    CU_pSuite s = CU_add_suite("profile", suite_init, suite_cleanup);
    CU_add_test(s, "null fractions", test_null_fractions);
    CU_add_test(s, "distinct counts on small tables", test_distinct_small_tables);
    CU_add_test(s, "numeric and text min/max", test_numeric_min_max);
    CU_add_test(s, "mixed numbers, dates as text", test_mixed_numbers_and_dates);
    CU_add_test(s, "top values and has_value", test_top_values);
    CU_add_test(s, "bounded distinct set on a big table", test_bounded_big_table);
    CU_add_test(s, "truncation and blobs", test_truncation_and_blobs);
    CU_add_test(s, "budget stops sampling", test_budget_stops_sampling);
    CU_add_test(s, "failure drops profiles", test_failure_drops_profiles);
    CU_add_test(s, "profiles are replaced", test_replaces_profiles);

    s = CU_add_suite("profile_mongodb", mongo_init, NULL);
    CU_add_test(s, "documents", test_mongo_documents);
}
