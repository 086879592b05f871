/*
 * Semantic analysis on real catalogs: Chinook and Northwind (copies of the
 * fixtures, through the sqlite driver loaded by the loader, profiled), and a
 * schema written here with names neither fixture uses, to show the rules
 * generalise. Then the snapshot JSON, the schema hash and drift.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <sqlite3.h>

#include "catalog.h"
#include "harness.h"
#include "host.h"
#include "ids.h"
#include "loader.h"
#include "profile.h"
#include "semantic.h"

static const struct quarry_driver *drv;
static char *chinook_path, *northwind_path, *own_path;
static struct catalog *chinook, *northwind, *own;

/*
 * A shop nobody has seen: a customer dimension with unusual names, a product
 * dimension, a lookup, a junction, a fact of sale events, and a log that
 * references its events only by name (no declared key).
 */
static const char OWN_SQL[] =
    "CREATE TABLE acct_holder (holder_key INTEGER PRIMARY KEY, givenName TEXT, familyName TEXT,"
    "  contact_mail TEXT, c7 TEXT, WebSite TEXT, lat REAL, lng REAL, is_active INTEGER,"
    "  email_verified INTEGER, signup_ts TEXT, notes TEXT, payload TEXT, tier TEXT,"
    "  mobile_no TEXT, TaxId TEXT, zip TEXT);"
    "CREATE TABLE merchandise (item_ref INTEGER PRIMARY KEY, title TEXT, list_price NUMERIC,"
    "  colour TEXT);"
    "CREATE TABLE badge (badge_code TEXT PRIMARY KEY, label TEXT);"
    "CREATE TABLE holder_badge (holder_key INTEGER REFERENCES acct_holder (holder_key),"
    "  badge_code TEXT REFERENCES badge (badge_code), PRIMARY KEY (holder_key, badge_code));"
    "CREATE TABLE sale_event (event_key INTEGER PRIMARY KEY,"
    "  holder_key INTEGER REFERENCES acct_holder (holder_key),"
    "  item_ref INTEGER REFERENCES merchandise (item_ref), happened TEXT, gross_amt NUMERIC,"
    "  discount_pct REAL, qty INTEGER);"
    "CREATE TABLE audit_log (entry INTEGER PRIMARY KEY, sale_event_id INTEGER, remark TEXT);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
    " INSERT INTO acct_holder SELECT i, 'Given' || (i % 37), 'Family' || (i % 53),"
    "  'user' || i || '@mail.example.org', 'x' || i || '@corp.example.com',"
    "  'https://shop' || i || '.example.net/', (i % 170) - 85 + 0.5, (i % 350) - 175 + 0.25,"
    "  i % 2, i % 3 = 0,"
    "  printf('2023-%02d-%02dT%02d:%02d:00Z', i % 12 + 1, i % 28 + 1, i % 24, i % 60),"
    "  'Customer ' || i || ' asked about the delivery window and wants a call back soon.',"
    "  json_object('n', i, 'tags', json_array('a', 'b')),"
    "  CASE i % 3 WHEN 0 THEN 'gold' WHEN 1 THEN 'silver' ELSE 'bronze' END,"
    "  printf('+44 7700 %06d', i), printf('TX-%08d', i), printf('%05d', i * 7 % 99999) FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)"
    " INSERT INTO merchandise SELECT i, 'Item ' || i, i * 1.25 + 0.99,"
    "  CASE i % 5 WHEN 0 THEN 'red' WHEN 1 THEN 'green' WHEN 2 THEN 'blue' WHEN 3 THEN 'black'"
    "  ELSE 'white' END FROM n;"
    "INSERT INTO badge VALUES ('B1', 'Early bird'), ('B2', 'Big spender'), ('B3', 'Reviewer'),"
    "  ('B4', 'Referrer'), ('B5', 'Collector'), ('B6', 'Veteran');"
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)"
    " INSERT OR IGNORE INTO holder_badge SELECT i % 200 + 1, 'B' || (i % 6 + 1) FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
    " INSERT INTO sale_event SELECT i, i % 200 + 1, i % 50 + 1,"
    "  printf('2024-%02d-%02d %02d:%02d:%02d', i % 12 + 1, i % 28 + 1, i % 24, i % 60, i % 59),"
    "  round((i % 500) * 1.37 + 5, 2), (i % 5) * 0.05, i % 9 + 1 FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)"
    " INSERT INTO audit_log SELECT i, i * 13 % 2000 + 1, 'checked' FROM n;";

/* An ORM-style schema with no declared foreign keys: references by name only. */
static const char UNKEYED_SQL[] =
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, created_at TEXT, first_name TEXT,"
    "  is_admin INTEGER, country_code TEXT, ip_address TEXT, ssn TEXT, birth_year INTEGER);"
    "CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT, parent_id INTEGER);"
    "CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT, name TEXT, price NUMERIC,"
    "  category_id INTEGER);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, status TEXT,"
    "  total_cents INTEGER, created_at TEXT);"
    "CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER, product_id INTEGER,"
    "  quantity INTEGER, unit_price NUMERIC);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, event_type TEXT,"
    "  occurred_at INTEGER);"
    "CREATE TABLE addresses (id INTEGER PRIMARY KEY, user_id INTEGER, line1 TEXT, city TEXT,"
    "  postal_code TEXT);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)"
    " INSERT INTO users SELECT i, 'u' || i || '@example.com', '2023-01-0' || (i % 9 + 1),"
    "  'Ann' || (i % 40), i % 10 = 0, CASE i % 3 WHEN 0 THEN 'US' WHEN 1 THEN 'DE' ELSE 'FR' END,"
    "  '10.0.' || (i % 250) || '.' || (i % 200), printf('%03d-%02d-%04d', i, i % 99, i),"
    "  1950 + i % 50 FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12)"
    " INSERT INTO categories SELECT i, 'Cat ' || i, CASE WHEN i > 4 THEN i % 4 + 1 END FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80)"
    " INSERT INTO products SELECT i, printf('SKU-%05d', i), 'Thing ' || i, i * 1.5 + 0.49,"
    "  i % 12 + 1 FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)"
    " INSERT INTO orders SELECT i, i % 100 + 1, CASE i % 3 WHEN 0 THEN 'pending' WHEN 1"
    "  THEN 'paid' ELSE 'shipped' END, i * 37 % 10000, '2024-0' || (i % 9 + 1) || '-1' || (i % 9)"
    "  FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)"
    " INSERT INTO order_items SELECT i, i % 600 + 1, i % 80 + 1, i % 4 + 1, (i % 80) * 1.5 + 0.49"
    "  FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 900)"
    " INSERT INTO events SELECT i, i % 100 + 1, CASE i % 3 WHEN 0 THEN 'login' WHEN 1 THEN 'view'"
    "  ELSE 'click' END, 1700000000 + i * 60 FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)"
    " INSERT INTO addresses SELECT i, i, i || ' Long Road', 'City' || (i % 30),"
    "  printf('%05d', i * 13) FROM n;";

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static int make_db(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    int ok = sqlite3_open(path, &db) == SQLITE_OK &&
             sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "make_db %s: %s\n", path, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return ok ? 0 : -1;
}

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

/* Introspects `path`; with `profile`, samples every table; with `analyze`, classifies. */
static struct catalog *load_catalog(const char *path, int profile, int analyze)
{
    struct quarry_conn *conn = open_path(path);
    struct catalog *c = conn ? catalog_new(drv) : NULL;
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    struct quarry_error err;
    struct host_call call;
    if (!c)
        goto out;
    catalog_sink_init(&sink, c);
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    host_error_init(&err);
    host_call_init(&call, 10000, 0);
    if (drv->introspect(conn, &call.ctx, &opts, &sink, &err) != QUARRY_OK) {
        fprintf(stderr, "introspect %s: %s\n", path, err.message);
        catalog_free(c);
        c = NULL;
        goto out;
    }
    for (size_t i = 0; profile && i < c->ntables; i++) {
        host_error_init(&err);
        if (profile_table(drv, conn, &c->tables[i], 1000, 10000, &err) != QUARRY_OK)
            fprintf(stderr, "profile %s: %s\n", c->tables[i].name, err.message);
    }
    if (analyze)
        semantic_analyze(c);
out:
    if (conn)
        drv->close(conn);
    return c;
}

static struct catalog *scratch_catalog(const char *sql)
{
    char *path = harness_tmppath("semantic", ".sqlite");
    struct catalog *c = path && make_db(path, sql) == 0 ? load_catalog(path, 1, 1) : NULL;
    free(path);
    return c;
}

static struct catalog_column *column_of(struct catalog *c, const char *table, const char *column)
{
    struct catalog_table *t = c ? catalog_find_table(c, NULL, table) : NULL;
    struct catalog_column *col = t ? catalog_find_column(t, column) : NULL;
    if (!col)
        fprintf(stderr, "no column %s.%s\n", table, column);
    return col;
}

struct expect_column {
    const char *table, *column;
    const char *semantic; /* SEM_* */
    int pii;
};

/* Every expectation is checked, and each failure names the column and what it got. */
static void check_columns(struct catalog *c, const struct expect_column *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct catalog_column *col = column_of(c, want[i].table, want[i].column);
        CU_ASSERT_PTR_NOT_NULL(col);
        if (!col)
            continue;
        int ok = col->semantic_type && strcmp(col->semantic_type, want[i].semantic) == 0 &&
                 col->pii == want[i].pii;
        if (!ok)
            fprintf(stderr, "%s.%s: got %s pii=%d, want %s pii=%d (%s)\n", want[i].table,
                    want[i].column, col->semantic_type ? col->semantic_type : "(none)", col->pii,
                    want[i].semantic, want[i].pii, col->description ? col->description : "");
        CU_ASSERT_TRUE(ok);
        CU_ASSERT_PTR_NOT_NULL(col->description);
    }
}

struct expect_role {
    const char *table, *role;
};

static void check_roles(struct catalog *c, const struct expect_role *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct catalog_table *t = catalog_find_table(c, NULL, want[i].table);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (!t)
            continue;
        int ok = t->role && strcmp(t->role, want[i].role) == 0;
        if (!ok)
            fprintf(stderr, "%s: role %s, want %s (%s)\n", want[i].table,
                    t->role ? t->role : "(none)", want[i].role,
                    t->description ? t->description : "");
        CU_ASSERT_TRUE(ok);
        CU_ASSERT_PTR_NOT_NULL(t->description);
    }
}

static int contains(const char *text, const char *part)
{
    return text && strstr(text, part) != NULL;
}

/* The snapshot's object for table `name`, and its column `column` (borrowed). */
static json_t *snap_table(json_t *snap, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(snap, "tables"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
            return t;
    }
    return NULL;
}

static json_t *snap_column(json_t *snap, const char *table, const char *column)
{
    size_t i;
    json_t *col;
    json_array_foreach(json_object_get(snap_table(snap, table), "columns"), i, col)
    {
        if (strcmp(json_string_value(json_object_get(col, "name")), column) == 0)
            return col;
    }
    return NULL;
}

/* A JSON array of strings equals the NULL-terminated list, in order. */
static int strings_are(json_t *array, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    if (!json_is_array(array) || json_array_size(array) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!json_is_string(json_array_get(array, i)) ||
            strcmp(json_string_value(json_array_get(array, i)), want[i]) != 0)
            return 0;
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
    own_path = harness_tmppath("own", ".sqlite");
    if (!chinook_path || !northwind_path || !own_path || make_db(own_path, OWN_SQL) != 0)
        return -1;
    chinook = load_catalog(chinook_path, 1, 1);
    northwind = load_catalog(northwind_path, 1, 1);
    own = load_catalog(own_path, 1, 1);
    return chinook && northwind && own ? 0 : -1;
}

static int suite_cleanup(void)
{
    catalog_free(chinook);
    catalog_free(northwind);
    catalog_free(own);
    chinook = northwind = own = NULL;
    free(chinook_path);
    free(northwind_path);
    free(own_path);
    chinook_path = northwind_path = own_path = NULL;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Columns and roles                                                        */
/* ------------------------------------------------------------------------ */

static void test_chinook_columns(void)
{
    static const struct expect_column want[] = {
        {"Customer", "Email", SEM_EMAIL, 1},
        {"Customer", "Phone", SEM_PHONE, 1},
        {"Customer", "Fax", SEM_PHONE, 1},
        {"Customer", "FirstName", SEM_PERSON_NAME, 1},
        {"Customer", "LastName", SEM_PERSON_NAME, 1},
        {"Employee", "FirstName", SEM_PERSON_NAME, 1},
        {"Invoice", "InvoiceDate", SEM_DATETIME, 0},
        {"Employee", "BirthDate", SEM_DATETIME, 1},
        {"Employee", "HireDate", SEM_DATETIME, 0},
        {"InvoiceLine", "UnitPrice", SEM_CURRENCY, 0},
        {"Invoice", "Total", SEM_CURRENCY, 0},
        {"Track", "UnitPrice", SEM_CURRENCY, 0},
        {"Genre", "Name", SEM_CATEGORY, 0},
        {"MediaType", "Name", SEM_CATEGORY, 0},
        {"Customer", "Country", SEM_GEO, 0},
        {"Customer", "City", SEM_GEO, 0},
        {"Customer", "State", SEM_GEO, 0},
        {"Customer", "Address", SEM_GEO, 1},
        {"Customer", "PostalCode", SEM_GEO, 1},
        {"Invoice", "BillingCountry", SEM_GEO, 0},
        {"Customer", "CustomerId", SEM_IDENTIFIER, 0},
        {"Invoice", "CustomerId", SEM_FOREIGN_KEY, 0},
        {"Customer", "SupportRepId", SEM_FOREIGN_KEY, 0},
        {"Track", "GenreId", SEM_FOREIGN_KEY, 0},
        {"PlaylistTrack", "TrackId", SEM_FOREIGN_KEY, 0},
        {"Track", "Milliseconds", SEM_NUMBER, 0},
        {"InvoiceLine", "Quantity", SEM_NUMBER, 0},
        {"Track", "Name", SEM_TEXT, 0},
    };
    check_columns(chinook, want, sizeof(want) / sizeof(want[0]));
    /* A category keeps its values; descriptions say what the evidence was. */
    struct catalog_column *genre = column_of(chinook, "Genre", "Name");
    CU_ASSERT_TRUE(genre && genre->profile && genre->profile->ntop > 0);
    CU_ASSERT_TRUE(genre && contains(genre->description, "Category with 25 values"));
    CU_ASSERT_TRUE(contains(column_of(chinook, "Invoice", "CustomerId")->description,
                            "References Customer.CustomerId"));
}

static void test_chinook_roles(void)
{
    static const struct expect_role want[] = {
        {"PlaylistTrack", "junction"}, {"InvoiceLine", "fact"}, {"Invoice", "fact"},
        {"Genre", "lookup"},           {"MediaType", "lookup"}, {"Customer", "dimension"},
        {"Employee", "dimension"},     {"Artist", "dimension"}, {"Album", "dimension"},
        {"Track", "dimension"},
    };
    check_roles(chinook, want, sizeof(want) / sizeof(want[0]));
    const char *line = catalog_find_table(chinook, NULL, "InvoiceLine")->description;
    CU_ASSERT_TRUE(contains(line, "Fact table of 2240 rows"));
    CU_ASSERT_TRUE(contains(line, "Invoice and Track"));
    CU_ASSERT_TRUE(contains(line, "UnitPrice and Quantity"));
    const char *junction = catalog_find_table(chinook, NULL, "PlaylistTrack")->description;
    CU_ASSERT_TRUE(contains(junction, "linking Playlist and Track"));
    const char *genre = catalog_find_table(chinook, NULL, "Genre")->description;
    CU_ASSERT_TRUE(contains(genre, "referenced by Track"));
    CU_ASSERT_TRUE(
        contains(catalog_find_table(chinook, NULL, "Customer")->description, "Personal data in"));
}

static void test_northwind(void)
{
    static const struct expect_column columns[] = {
        {"Order Details", "Discount", SEM_PERCENTAGE, 0},
        {"Order Details", "UnitPrice", SEM_CURRENCY, 0},
        {"Orders", "Freight", SEM_CURRENCY, 0},
        {"Orders", "OrderDate", SEM_DATETIME, 0},
        {"Orders", "ShipVia", SEM_FOREIGN_KEY, 0},
        {"Orders", "ShipAddress", SEM_GEO, 1},
        {"Suppliers", "HomePage", SEM_URL, 0},
        {"Employees", "PhotoPath", SEM_URL, 0},
        {"Employees", "Notes", SEM_FREE_TEXT, 0},
        {"Employees", "Photo", SEM_BINARY, 0},
        {"Employees", "HomePhone", SEM_PHONE, 1},
        {"Employees", "BirthDate", SEM_DATETIME, 1},
        {"Products", "Discontinued", SEM_BOOLEAN, 0},
        {"Customers", "ContactName", SEM_PERSON_NAME, 1},
        {"Customers", "ContactTitle", SEM_CATEGORY, 0},
        {"Customers", "Region", SEM_GEO, 0},
        {"Customers", "CustomerID", SEM_IDENTIFIER, 0},
        {"Categories", "CategoryName", SEM_CATEGORY, 0},
        {"Categories", "Description", SEM_FREE_TEXT, 0},
    };
    check_columns(northwind, columns, sizeof(columns) / sizeof(columns[0]));
    static const struct expect_role roles[] = {
        {"Orders", "fact"},
        {"Order Details", "fact"},
        {"EmployeeTerritories", "junction"},
        {"CustomerCustomerDemo", "junction"},
        {"Categories", "lookup"},
        {"Regions", "lookup"},
        {"Products", "dimension"},
        {"Customers", "dimension"},
        {"Shippers", "dimension"},
        {"Alphabetical list of products", "dimension"},
    };
    check_roles(northwind, roles, sizeof(roles) / sizeof(roles[0]));
}

/* Names and values neither fixture has. */
static void test_unseen_schema(void)
{
    static const struct expect_column columns[] = {
        {"acct_holder", "holder_key", SEM_IDENTIFIER, 0},
        {"acct_holder", "givenName", SEM_PERSON_NAME, 1},
        {"acct_holder", "familyName", SEM_PERSON_NAME, 1},
        {"acct_holder", "contact_mail", SEM_EMAIL, 1},
        {"acct_holder", "c7", SEM_EMAIL, 1}, /* by its values alone */
        {"acct_holder", "WebSite", SEM_URL, 0},
        {"acct_holder", "lat", SEM_GEO, 0},
        {"acct_holder", "lng", SEM_GEO, 0},
        {"acct_holder", "is_active", SEM_BOOLEAN, 0},
        {"acct_holder", "email_verified", SEM_BOOLEAN, 0}, /* 0/1 values beat the name */
        {"acct_holder", "signup_ts", SEM_DATETIME, 0},
        {"acct_holder", "notes", SEM_FREE_TEXT, 0},
        {"acct_holder", "payload", SEM_JSON, 0},
        {"acct_holder", "tier", SEM_CATEGORY, 0},
        {"acct_holder", "mobile_no", SEM_PHONE, 1},
        {"acct_holder", "TaxId", SEM_IDENTIFIER, 1},
        {"acct_holder", "zip", SEM_GEO, 1},
        {"merchandise", "list_price", SEM_CURRENCY, 0},
        {"merchandise", "colour", SEM_CATEGORY, 0},
        {"merchandise", "title", SEM_TEXT, 0},
        {"badge", "label", SEM_CATEGORY, 0},
        {"sale_event", "holder_key", SEM_FOREIGN_KEY, 0},
        {"sale_event", "happened", SEM_DATETIME, 0}, /* by its values alone */
        {"sale_event", "gross_amt", SEM_CURRENCY, 0},
        {"sale_event", "discount_pct", SEM_PERCENTAGE, 0},
        {"sale_event", "qty", SEM_NUMBER, 0},
        {"audit_log", "sale_event_id", SEM_FOREIGN_KEY, 0}, /* inferred from the name */
    };
    check_columns(own, columns, sizeof(columns) / sizeof(columns[0]));
    static const struct expect_role roles[] = {
        {"sale_event", "fact"},       {"holder_badge", "junction"}, {"badge", "lookup"},
        {"acct_holder", "dimension"}, {"merchandise", "dimension"},
    };
    check_roles(own, roles, sizeof(roles) / sizeof(roles[0]));
    CU_ASSERT_TRUE(contains(column_of(own, "audit_log", "sale_event_id")->description,
                            "Probably references sale_event.event_key"));
}

/* References only by name: inferred, and roles follow from them. */
static void test_unkeyed_schema(void)
{
    struct catalog *c = scratch_catalog(UNKEYED_SQL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    static const struct expect_column columns[] = {
        {"orders", "user_id", SEM_FOREIGN_KEY, 0},
        {"order_items", "order_id", SEM_FOREIGN_KEY, 0},
        {"products", "category_id", SEM_FOREIGN_KEY, 0},
        {"categories", "parent_id", SEM_FOREIGN_KEY, 0}, /* its own table: a tree */
        {"products", "sku", SEM_IDENTIFIER, 0},
        {"users", "ip_address", SEM_TEXT, 1}, /* not a phone, not a street */
        {"users", "ssn", SEM_IDENTIFIER, 1},
        {"users", "birth_year", SEM_NUMBER, 1},
        {"users", "country_code", SEM_GEO, 0},
        {"users", "is_admin", SEM_BOOLEAN, 0},
        {"orders", "status", SEM_CATEGORY, 0},
        {"orders", "total_cents", SEM_CURRENCY, 0},
        {"events", "occurred_at", SEM_DATETIME, 0}, /* epoch seconds */
        {"addresses", "line1", SEM_GEO, 1},
    };
    check_columns(c, columns, sizeof(columns) / sizeof(columns[0]));
    static const struct expect_role roles[] = {
        {"order_items", "fact"},  {"orders", "fact"},     {"events", "fact"},
        {"categories", "lookup"}, {"users", "dimension"}, {"products", "dimension"},
    };
    check_roles(c, roles, sizeof(roles) / sizeof(roles[0]));
    CU_ASSERT_TRUE(
        contains(column_of(c, "categories", "parent_id")->description, "references categories.id"));
    CU_ASSERT_TRUE(contains(catalog_find_table(c, NULL, "users")->description,
                            "referenced by addresses, events and orders"));
    catalog_free(c);
}

/* Without profiles, names, declared types and keys still decide. */
static void test_without_profiles(void)
{
    struct catalog *c = load_catalog(chinook_path, 0, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    static const struct expect_column columns[] = {
        {"Customer", "Email", SEM_EMAIL, 1},         {"Customer", "Phone", SEM_PHONE, 1},
        {"Invoice", "InvoiceDate", SEM_DATETIME, 0}, {"Invoice", "Total", SEM_CURRENCY, 0},
        {"Track", "GenreId", SEM_FOREIGN_KEY, 0},    {"Genre", "Name", SEM_CATEGORY, 0},
    };
    check_columns(c, columns, sizeof(columns) / sizeof(columns[0]));
    static const struct expect_role roles[] = {
        {"PlaylistTrack", "junction"}, {"InvoiceLine", "fact"}, {"Genre", "lookup"}};
    check_roles(c, roles, sizeof(roles) / sizeof(roles[0]));
    /* Analysing again replaces, it does not accumulate. */
    semantic_analyze(c);
    CU_ASSERT_PTR_EQUAL(column_of(c, "Customer", "Email")->semantic_type, SEM_EMAIL);
    catalog_free(c);
}

/* ------------------------------------------------------------------------ */
/* Snapshot                                                                 */
/* ------------------------------------------------------------------------ */

static void test_snapshot_shape(void)
{
    json_t *snap = semantic_snapshot(chinook, 3, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    char hash[65];
    semantic_schema_hash(chinook, hash);
    int version = 0;
    const char *schema_hash = NULL, *generated = NULL, *dialect = NULL;
    json_t *tables = NULL, *drift = NULL;
    CU_ASSERT_EQUAL(json_unpack(snap, "{s:i,s:s,s:s,s:s,s:o,s:o}", "version", &version,
                                "schema_hash", &schema_hash, "generated_at", &generated, "dialect",
                                &dialect, "tables", &tables, "drift", &drift),
                    0);
    CU_ASSERT_EQUAL(version, 3);
    CU_ASSERT_STRING_EQUAL(schema_hash, hash);
    CU_ASSERT_EQUAL(strlen(hash), 64);
    CU_ASSERT_EQUAL(strlen(generated), ID_TIME_LEN);
    CU_ASSERT_EQUAL(generated[strlen(generated) - 1], 'Z');
    CU_ASSERT_STRING_EQUAL(dialect, "sqlite");
    CU_ASSERT_EQUAL(json_array_size(tables), chinook->ntables);

    json_t *customer = snap_table(snap, "Customer");
    CU_ASSERT_PTR_NOT_NULL_FATAL(customer);
    CU_ASSERT_TRUE(json_is_null(json_object_get(customer, "schema")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(customer, "kind")), "table");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(customer, "row_count")), 59);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(customer, "role")), "dimension");
    CU_ASSERT_TRUE(json_is_string(json_object_get(customer, "description")));

    json_t *email = snap_column(snap, "Customer", "Email");
    CU_ASSERT_PTR_NOT_NULL_FATAL(email);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(email, "type")), "NVARCHAR(60)");
    CU_ASSERT_TRUE(json_is_false(json_object_get(email, "nullable")));
    CU_ASSERT_TRUE(json_is_false(json_object_get(email, "primary_key")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(email, "semantic_type")), "email");
    CU_ASSERT_TRUE(json_is_true(json_object_get(email, "pii")));
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(email, "null_fraction")), 0, 1e-12);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(email, "distinct_estimate")), 59);
    CU_ASSERT_TRUE(json_is_string(json_object_get(email, "min")));
    CU_ASSERT_PTR_NULL(json_object_get(email, "top_values"));
    CU_ASSERT_TRUE(json_is_null(json_object_get(email, "foreign_key")));

    CU_ASSERT_TRUE(
        json_is_true(json_object_get(snap_column(snap, "Customer", "CustomerId"), "primary_key")));
    json_t *fk = json_object_get(snap_column(snap, "Customer", "SupportRepId"), "foreign_key");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(fk, "table")), "Employee");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(fk, "column")), "EmployeeId");
    CU_ASSERT_PTR_NULL(json_object_get(fk, "inferred"));

    json_t *company = snap_column(snap, "Customer", "Company");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(company, "null_fraction")), 49.0 / 59,
                           1e-9);

    /* Categories carry their top values; numbers their numeric bounds. */
    json_t *top = json_object_get(snap_column(snap, "Genre", "Name"), "top_values");
    CU_ASSERT_EQUAL(json_array_size(top), PROFILE_TOP_VALUES);
    CU_ASSERT_TRUE(json_is_string(json_object_get(json_array_get(top, 0), "value")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(top, 0), "count")), 1);
    json_t *country_top = json_object_get(snap_column(snap, "Customer", "Country"), "top_values");
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_array_get(country_top, 0), "value")), "USA");
    json_t *ms = snap_column(snap, "Track", "Milliseconds");
    CU_ASSERT_TRUE(json_is_integer(json_object_get(ms, "min")));
    CU_ASSERT_TRUE(json_integer_value(json_object_get(ms, "max")) > 1000000);
    CU_ASSERT_TRUE(json_is_real(json_object_get(snap_column(snap, "Invoice", "Total"), "max")));

    /* No previous version: an empty drift. */
    CU_ASSERT_TRUE(json_is_null(json_object_get(drift, "previous_version")));
    static const char *const none[] = {NULL};
    static const char *const lists[] = {"tables_added", "tables_removed", "columns_added",
                                        "columns_removed", "columns_changed"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        CU_ASSERT_TRUE(strings_are(json_object_get(drift, lists[i]), none));

    /* It serialises (database text that is not UTF-8 was made safe). */
    char *text = json_dumps(snap, JSON_COMPACT);
    CU_ASSERT_PTR_NOT_NULL(text);
    free(text);
    json_decref(snap);

    /* Inferred references say so. */
    snap = semantic_snapshot(own, 1, NULL);
    fk = json_object_get(snap_column(snap, "audit_log", "sale_event_id"), "foreign_key");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(fk, "table")), "sale_event");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(fk, "column")), "event_key");
    CU_ASSERT_TRUE(json_is_true(json_object_get(fk, "inferred")));
    json_decref(snap);
}

static void test_schema_hash(void)
{
    char a[65], b[65], c[65];
    semantic_schema_hash(chinook, a);
    CU_ASSERT_EQUAL(strlen(a), 64);
    CU_ASSERT_EQUAL(strspn(a, "0123456789abcdef"), 64);

    /* Stable across runs: a fresh, unprofiled introspection hashes the same. */
    struct catalog *again = load_catalog(chinook_path, 0, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    semantic_schema_hash(again, b);
    CU_ASSERT_STRING_EQUAL(a, b);
    catalog_free(again);
    semantic_schema_hash(northwind, c);
    CU_ASSERT_STRING_NOT_EQUAL(a, c);

    /* Table order and data do not matter; a column's type does. */
    struct catalog *one = scratch_catalog("CREATE TABLE p (a INTEGER PRIMARY KEY, b TEXT);"
                                          "CREATE TABLE q (c REAL REFERENCES p (a));");
    struct catalog *two = scratch_catalog("CREATE TABLE q (c REAL REFERENCES p (a));"
                                          "CREATE TABLE p (a INTEGER PRIMARY KEY, b TEXT);"
                                          "INSERT INTO p VALUES (1, 'x'), (2, 'y');");
    struct catalog *retyped =
        scratch_catalog("CREATE TABLE p (a INTEGER PRIMARY KEY, b VARCHAR(9));"
                        "CREATE TABLE q (c REAL REFERENCES p (a));");
    struct catalog *unkeyed = scratch_catalog("CREATE TABLE p (a INTEGER PRIMARY KEY, b TEXT);"
                                              "CREATE TABLE q (c REAL);");
    CU_ASSERT_FATAL(one && two && retyped && unkeyed);
    semantic_schema_hash(one, a);
    semantic_schema_hash(two, b);
    CU_ASSERT_STRING_EQUAL(a, b);
    semantic_schema_hash(retyped, c);
    CU_ASSERT_STRING_NOT_EQUAL(a, c);
    semantic_schema_hash(unkeyed, c);
    CU_ASSERT_STRING_NOT_EQUAL(a, c);
    catalog_free(one);
    catalog_free(two);
    catalog_free(retyped);
    catalog_free(unkeyed);
}

static void test_drift(void)
{
    struct catalog *v1 = scratch_catalog("CREATE TABLE a (x INTEGER, y TEXT, w TEXT);"
                                         "CREATE TABLE b (k INTEGER);"
                                         "CREATE TABLE same (s TEXT);");
    struct catalog *v2 = scratch_catalog("CREATE TABLE a (x INTEGER, y VARCHAR(20), z REAL);"
                                         "CREATE TABLE c (m TEXT);"
                                         "CREATE TABLE same (s TEXT);");
    CU_ASSERT_FATAL(v1 && v2);
    json_t *s1 = semantic_snapshot(v1, 1, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    /* The previous snapshot comes back from storage as text. */
    char *stored = json_dumps(s1, JSON_COMPACT);
    json_t *previous = json_loads(stored, 0, NULL);
    free(stored);
    json_t *s2 = semantic_snapshot(v2, 2, previous);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    json_t *drift = json_object_get(s2, "drift");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(drift, "previous_version")), 1);
    CU_ASSERT_TRUE(
        strings_are(json_object_get(drift, "tables_added"), (const char *[]){"c", NULL}));
    CU_ASSERT_TRUE(
        strings_are(json_object_get(drift, "tables_removed"), (const char *[]){"b", NULL}));
    CU_ASSERT_TRUE(
        strings_are(json_object_get(drift, "columns_added"), (const char *[]){"a.z", NULL}));
    CU_ASSERT_TRUE(
        strings_are(json_object_get(drift, "columns_removed"), (const char *[]){"a.w", NULL}));
    json_t *changed = json_object_get(drift, "columns_changed");
    CU_ASSERT_EQUAL(json_array_size(changed), 1);
    const char *table = NULL, *column = NULL, *from = NULL, *to = NULL;
    CU_ASSERT_EQUAL(json_unpack(json_array_get(changed, 0), "{s:s,s:s,s:s,s:s}", "table", &table,
                                "column", &column, "from", &from, "to", &to),
                    0);
    if (table && column && from && to) {
        CU_ASSERT_STRING_EQUAL(table, "a");
        CU_ASSERT_STRING_EQUAL(column, "y");
        CU_ASSERT_STRING_EQUAL(from, "TEXT");
        CU_ASSERT_STRING_EQUAL(to, "VARCHAR(20)");
    }
    CU_ASSERT_STRING_NOT_EQUAL(json_string_value(json_object_get(s1, "schema_hash")),
                               json_string_value(json_object_get(s2, "schema_hash")));

    /* The same schema again: nothing drifted, the hash holds. */
    json_t *s3 = semantic_snapshot(v2, 3, s2);
    drift = json_object_get(s3, "drift");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(drift, "previous_version")), 2);
    static const char *const none[] = {NULL};
    CU_ASSERT_TRUE(strings_are(json_object_get(drift, "tables_added"), none));
    CU_ASSERT_TRUE(strings_are(json_object_get(drift, "tables_removed"), none));
    CU_ASSERT_TRUE(strings_are(json_object_get(drift, "columns_added"), none));
    CU_ASSERT_TRUE(strings_are(json_object_get(drift, "columns_removed"), none));
    CU_ASSERT_TRUE(strings_are(json_object_get(drift, "columns_changed"), none));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s2, "schema_hash")),
                           json_string_value(json_object_get(s3, "schema_hash")));

    /* A previous snapshot of the wrong shape is no crash: no drift to report. */
    json_t *junk = json_pack("{s:s,s:i}", "tables", "nope", "version", 7);
    json_t *s4 = semantic_snapshot(v2, 8, junk);
    CU_ASSERT_PTR_NOT_NULL(s4);
    CU_ASSERT_EQUAL(
        json_integer_value(json_object_get(json_object_get(s4, "drift"), "previous_version")), 7);
    json_decref(junk);
    json_decref(s4);
    json_decref(s3);
    json_decref(s2);
    json_decref(previous);
    json_decref(s1);
    catalog_free(v1);
    catalog_free(v2);
}

void register_semantic_tests(void)
{
    CU_pSuite s = CU_add_suite("semantic", suite_init, suite_cleanup);
    CU_add_test(s, "Chinook columns", test_chinook_columns);
    CU_add_test(s, "Chinook roles and descriptions", test_chinook_roles);
    CU_add_test(s, "Northwind columns and roles", test_northwind);
    CU_add_test(s, "a schema never seen", test_unseen_schema);
    CU_add_test(s, "a schema without declared keys", test_unkeyed_schema);
    CU_add_test(s, "without profiles", test_without_profiles);
    CU_add_test(s, "snapshot shape", test_snapshot_shape);
    CU_add_test(s, "schema hash", test_schema_hash);
    CU_add_test(s, "drift", test_drift);
}
