/*
 * The knowledge graph (core/graph.c), built from real catalogs: Chinook and
 * Northwind introspected through the real sqlite driver, and a small schema
 * of our own with an undeclared join (values all present in the referenced
 * key) beside a misleading same-named column (values nowhere to be found),
 * profiled with the real profiler. Declared keys are checked against what
 * SQLite itself reports (pragma_foreign_key_list), not a list written here.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "catalog.h"
#include "graph.h"
#include "harness.h"
#include "host.h"
#include "loader.h"
#include "profile.h"

static const struct quarry_driver *drv;
static char *chinook, *northwind, *own;

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * customers.id 1001..1040; orders.customer_ref always one of them (a real
 * join nobody declared); orders.region_code shares its name with the key of
 * regions but holds codes regions does not have; payments.order_id points
 * at orders.id.
 */
static const char own_schema[] =
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT);"
    "CREATE TABLE regions (region_code TEXT PRIMARY KEY, label TEXT);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_ref INTEGER, region_code TEXT,"
    "  amount REAL, placed_at TEXT);"
    "CREATE TABLE payments (id INTEGER PRIMARY KEY, order_id INTEGER, paid REAL);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
    "  INSERT INTO customers SELECT 1000 + i, 'Customer ' || i,"
    "  CASE i % 3 WHEN 0 THEN 'PT' WHEN 1 THEN 'DE' ELSE 'FR' END FROM n;"
    "INSERT INTO regions VALUES ('EU', 'Europe'), ('NA', 'North America'),"
    "  ('SA', 'South America'), ('AF', 'Africa'), ('AS', 'Asia');"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
    "  INSERT INTO orders SELECT i, 1001 + (i * 7) % 40, 'R' || (i % 9), i * 1.5,"
    "  printf('2023-%02d-%02d', 1 + i % 12, 1 + i % 28) FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)"
    "  INSERT INTO payments SELECT i, 1 + (i * 13) % 200, i * 2.0 FROM n;";

static char *make_own_db(void)
{
    char *path = harness_tmppath("graph-own", ".sqlite");
    sqlite3 *db = NULL;
    char *msg = NULL;
    if (!path || sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, own_schema, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "own schema: %s\n", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        free(path);
        return NULL;
    }
    sqlite3_close(db);
    return path;
}

static int suite_init(void)
{
    if (!loader_find("sqlite"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, (const char *[]){"sqlite"}, 1);
    drv = loader_find("sqlite");
    if (!chinook)
        chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    if (!northwind)
        northwind = harness_copy_fixture("northwind/northwind.sqlite");
    if (!own)
        own = make_own_db();
    return drv && chinook && northwind && own ? 0 : -1;
}

static struct quarry_conn *open_db(const char *path)
{
    struct quarry_open_params p;
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    char *url = NULL;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    if (asprintf(&url, "sqlite:///%s", path) < 0)
        return NULL;
    p.url = url;
    host_error_init(&err);
    if (drv->open(&p, &conn, &err) != QUARRY_OK)
        fprintf(stderr, "open %s: %s\n", path, err.message);
    free(url);
    return conn;
}

/* The catalog of a sqlite file, profiled (every row of these small tables) when asked. */
static struct catalog *load_catalog(const char *path, int profiled)
{
    struct quarry_conn *conn = open_db(path);
    struct catalog *c = catalog_new(drv);
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    struct host_call call;
    struct quarry_error err;
    if (!conn || !c)
        goto fail;
    catalog_sink_init(&sink, c);
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    host_call_init(&call, 20000, 0);
    host_error_init(&err);
    if (drv->introspect(conn, &call.ctx, &opts, &sink, &err) != QUARRY_OK) {
        fprintf(stderr, "introspect: %s\n", err.message);
        goto fail;
    }
    for (size_t i = 0; profiled && i < c->ntables; i++) {
        host_error_init(&err);
        if (profile_table(drv, conn, &c->tables[i], 20000, 20000, &err) != QUARRY_OK) {
            fprintf(stderr, "profile %s: %s\n", c->tables[i].name, err.message);
            goto fail;
        }
    }
    drv->close(conn);
    return c;
fail:
    if (conn)
        drv->close(conn);
    catalog_free(c);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Reading graphs                                                           */
/* ------------------------------------------------------------------------ */

static size_t count_type(const json_t *list, const char *type)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        n += strcmp(json_string_value(json_object_get(v, "type")), type) == 0;
    }
    return n;
}

/* The join edge (of `type`, or any join when NULL) from table.column to table.column. */
static const json_t *find_edge(const json_t *graph, const char *type, const char *from_table,
                               const char *from_column, const char *to_table, const char *to_column)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(graph, "edges"), i, e)
    {
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *ft = json_string_value(json_object_get(e, "from_table"));
        const char *tt = json_string_value(json_object_get(e, "to_table"));
        if (strcmp(t, "has_column") == 0 || (type && strcmp(t, type) != 0) ||
            strcmp(ft, from_table) != 0 || (to_table && strcmp(tt, to_table) != 0))
            continue;
        const char *fc = json_string_value(json_array_get(json_object_get(e, "from_columns"), 0));
        const char *tc = json_string_value(json_array_get(json_object_get(e, "to_columns"), 0));
        if (strcmp(fc, from_column) == 0 && (!to_column || strcmp(tc, to_column) == 0))
            return e;
    }
    return NULL;
}

static int has_evidence(const json_t *edge, const char *what)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(edge, "evidence"), i, v)
    {
        if (strcmp(json_string_value(v), what) == 0)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Declared keys                                                            */
/* ------------------------------------------------------------------------ */

struct fk_check {
    const json_t *graph;
    int rows, found;
};

static int check_declared_row(void *userdata, int ncols, char **values, char **names)
{
    struct fk_check *check = userdata;
    (void)ncols;
    (void)names;
    check->rows++;
    const json_t *e =
        find_edge(check->graph, "foreign_key", values[0], values[1], values[2], values[3]);
    if (e && json_number_value(json_object_get(e, "confidence")) == 1.0 &&
        has_evidence(e, "declared"))
        check->found++;
    else
        fprintf(stderr, "\n  missing declared edge %s.%s -> %s.%s\n", values[0], values[1],
                values[2], values[3]);
    return 0;
}

static void test_declared_chinook(void)
{
    struct catalog *c = load_catalog(chinook, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    json_t *g = graph_build(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);

    /* What SQLite says is declared, every one of them an edge. */
    sqlite3 *db;
    struct fk_check check = {g, 0, 0};
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(chinook, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db,
                                 "SELECT m.name, p.\"from\", p.\"table\", p.\"to\" FROM "
                                 "sqlite_master m JOIN pragma_foreign_key_list(m.name) p "
                                 "WHERE m.type = 'table' ORDER BY 1, 2",
                                 check_declared_row, &check, NULL),
                    SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(check.rows, 11);
    CU_ASSERT_EQUAL(check.found, check.rows);
    CU_ASSERT_EQUAL(count_type(json_object_get(g, "edges"), "foreign_key"), 11);

    /* The self reference, and one edge's full shape. */
    const json_t *self = find_edge(g, "foreign_key", "Employee", "ReportsTo", "Employee", NULL);
    CU_ASSERT_PTR_NOT_NULL(self);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_array_get(json_object_get(self, "to_columns"), 0)), "EmployeeId");
    const json_t *track = find_edge(g, "foreign_key", "Track", "AlbumId", "Album", "AlbumId");
    CU_ASSERT_PTR_NOT_NULL_FATAL(track);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(track, "from")),
                           "column:Track.AlbumId");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(track, "to")), "column:Album.AlbumId");

    /* Nodes: one per table and per column, each column tied to its table. */
    size_t columns = 0;
    for (size_t i = 0; i < c->ntables; i++)
        columns += c->tables[i].ncolumns;
    json_t *nodes = json_object_get(g, "nodes");
    CU_ASSERT_EQUAL(count_type(nodes, "table"), c->ntables);
    CU_ASSERT_EQUAL(count_type(nodes, "column"), columns);
    CU_ASSERT_EQUAL(count_type(json_object_get(g, "edges"), "has_column"), columns);
    size_t i;
    json_t *n;
    int album_pk = 0;
    json_array_foreach(nodes, i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "id")), "column:Album.AlbumId") == 0)
            album_pk = json_is_true(json_object_get(n, "primary_key")) &&
                       strcmp(json_string_value(json_object_get(n, "data_type")), "INTEGER") == 0;
    }
    CU_ASSERT(album_pk);
    json_decref(g);
    catalog_free(c);
}

/* With profiles: whatever is inferred never repeats a declared key, nor joins a column to itself.
 */
static void test_inferred_never_repeats_declared(void)
{
    struct catalog *c = load_catalog(chinook, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    json_t *g = graph_build(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(count_type(json_object_get(g, "edges"), "foreign_key"), 11);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(g, "edges"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")), "inferred_join") != 0)
            continue;
        const char *from = json_string_value(json_object_get(e, "from"));
        const char *to = json_string_value(json_object_get(e, "to"));
        const char *ft = json_string_value(json_object_get(e, "from_table"));
        const char *fc = json_string_value(json_array_get(json_object_get(e, "from_columns"), 0));
        CU_ASSERT(strcmp(from, to) != 0);
        CU_ASSERT_PTR_NULL(find_edge(g, "foreign_key", ft, fc, NULL, NULL));
        double conf = json_number_value(json_object_get(e, "confidence"));
        CU_ASSERT(conf >= GRAPH_MIN_CONFIDENCE && conf <= 1.0);
    }
    /* Deterministic: the same catalog, the same graph. */
    json_t *again = graph_build(c);
    CU_ASSERT(json_equal(g, again));
    json_decref(again);
    json_decref(g);
    catalog_free(c);
}

/* ------------------------------------------------------------------------ */
/* Inference                                                                */
/* ------------------------------------------------------------------------ */

static void test_inferred_by_values(void)
{
    struct catalog *c = load_catalog(own, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(
        catalog_find_column(catalog_find_table(c, NULL, "orders"), "customer_ref")->profile);
    json_t *g = graph_build(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(count_type(json_object_get(g, "edges"), "foreign_key"), 0);

    const json_t *real = find_edge(g, "inferred_join", "orders", "customer_ref", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(real);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(real, "to_table")), "customers");
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_array_get(json_object_get(real, "to_columns"), 0)), "id");
    CU_ASSERT(json_number_value(json_object_get(real, "confidence")) >= 0.8);
    CU_ASSERT(has_evidence(real, "naming"));
    CU_ASSERT(has_evidence(real, "value_overlap"));
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(real, "value_overlap")), 1.0, 1e-9);

    const json_t *pay = find_edge(g, "inferred_join", "payments", "order_id", "orders", "id");
    CU_ASSERT_PTR_NOT_NULL(pay);
    CU_ASSERT(pay && json_number_value(json_object_get(pay, "confidence")) >= 0.8);

    /* Same name as the key of regions, but none of its values: no join. */
    CU_ASSERT_PTR_NULL(find_edge(g, NULL, "orders", "region_code", NULL, NULL));
    /* Nothing points at a table's own key from that key. */
    CU_ASSERT_PTR_NULL(find_edge(g, NULL, "orders", "id", NULL, NULL));
    json_decref(g);
    catalog_free(c);
}

/* Names alone (no profiles): both look alike, and weaker than with matching values. */
static void test_inferred_by_names_only(void)
{
    struct catalog *plain = load_catalog(own, 0), *profiled = load_catalog(own, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    CU_ASSERT_PTR_NOT_NULL_FATAL(profiled);
    json_t *g = graph_build(plain), *gp = graph_build(profiled);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gp);
    const json_t *real = find_edge(g, "inferred_join", "orders", "customer_ref", "customers", "id");
    const json_t *misleading =
        find_edge(g, "inferred_join", "orders", "region_code", "regions", "region_code");
    const json_t *real_profiled =
        find_edge(gp, "inferred_join", "orders", "customer_ref", "customers", "id");
    CU_ASSERT_PTR_NOT_NULL_FATAL(real);
    CU_ASSERT_PTR_NOT_NULL_FATAL(misleading);
    CU_ASSERT_PTR_NOT_NULL_FATAL(real_profiled);
    CU_ASSERT(json_is_null(json_object_get(real, "value_overlap")));
    CU_ASSERT(!has_evidence(real, "value_overlap"));
    CU_ASSERT(json_number_value(json_object_get(real, "confidence")) <
              json_number_value(json_object_get(real_profiled, "confidence")));
    json_decref(g);
    json_decref(gp);
    catalog_free(plain);
    catalog_free(profiled);
}

/* ------------------------------------------------------------------------ */
/* Mermaid and DOT                                                          */
/* ------------------------------------------------------------------------ */

static const char *const mermaid_lines[] = {
    "^    [A-Za-z_][A-Za-z0-9_-]* \\{$",                                          /* entity { */
    "^    [A-Za-z_][A-Za-z0-9_-]*$",                                              /* bare entity */
    "^        [A-Za-z_][A-Za-z0-9_]* [A-Za-z_*][A-Za-z0-9_]*( (PK|FK|PK, FK))?$", /* attribute */
    "^    \\}$",
    "^    [A-Za-z_][A-Za-z0-9_-]* \\|\\|(--|\\.\\.)o\\{ [A-Za-z_][A-Za-z0-9_-]* : \"[^\"]*\"$",
};

/* Every line one of the shapes above; returns the number of relationship lines, -1 if bad. */
static int mermaid_shape(const char *text)
{
    regex_t re[5];
    for (int i = 0; i < 5; i++)
        if (regcomp(&re[i], mermaid_lines[i], REG_EXTENDED | REG_NOSUB) != 0)
            return -1;
    int relationships = 0, bad = strncmp(text, "erDiagram\n", 10) != 0, depth = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy + 10, "\n", &save); line && !bad;
         line = strtok_r(NULL, "\n", &save)) {
        int kind = -1;
        for (int i = 0; i < 5 && kind < 0; i++)
            if (regexec(&re[i], line, 0, NULL, 0) == 0)
                kind = i;
        if (kind < 0 || (kind == 2 && depth != 1) || (kind != 2 && kind != 3 && depth != 0))
            bad = 1, fprintf(stderr, "\n  bad mermaid line: %s\n", line);
        depth += kind == 0 ? 1 : kind == 3 ? -1 : 0;
        relationships += kind == 4;
    }
    free(copy);
    for (int i = 0; i < 5; i++)
        regfree(&re[i]);
    return bad || depth ? -1 : relationships;
}

static void test_mermaid(void)
{
    struct catalog *c = load_catalog(northwind, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    json_t *g = graph_build(c);
    char *text = graph_to_mermaid(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t joins = count_type(json_object_get(g, "edges"), "foreign_key") +
                   count_type(json_object_get(g, "edges"), "inferred_join");
    CU_ASSERT(joins >= 10);
    CU_ASSERT_EQUAL(mermaid_shape(text), (int)joins);
    /* Every table an entity; "Order Details" reduced to a valid name. */
    for (size_t i = 0; i < c->ntables; i++) {
        char line[300];
        snprintf(line, sizeof(line), "\n    %s {\n", c->tables[i].name);
        for (char *p = line + 5; p[1] != '{'; p++)
            *p = *p == ' ' ? '_' : *p;
        CU_ASSERT_PTR_NOT_NULL(strstr(text, line));
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    Orders ||--o{ Order_Details : \"OrderID\"\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    Employees ||--o{ Employees : \"ReportsTo\"\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n        INTEGER OrderID PK, FK\n"));
    free(text);
    json_decref(g);
    catalog_free(c);

    /* Inferred joins are dotted, and carry their confidence. */
    c = load_catalog(own, 1);
    g = graph_build(c);
    text = graph_to_mermaid(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT(mermaid_shape(text) >= 2);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(text, "\n    customers ||..o{ orders : \"customer_ref (inferred "));
    free(text);
    json_decref(g);
    catalog_free(c);
}

static void test_mermaid_sanitizes(void)
{
    json_t *g = json_pack(
        "{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s, s:b},"
        "    {s:s, s:s, s:s, s:s, s:n, s:b}],"
        " s:[{s:s, s:s, s:s, s:s, s:[s], s:s, s:[s], s:f}]}",
        "nodes", "id", "table:a.b", "type", "table", "table", "a.b", "id", "table:a_b", "type",
        "table", "table", "a_b", "id", "table:9 lives\"", "type", "table", "table", "9 lives\"",
        "id", "column:a.b.x y", "type", "column", "table", "a.b", "column", "x y", "data_type",
        "NUMERIC(10,2)", "primary_key", 1, "id", "column:a.b.PK", "type", "column", "table", "a.b",
        "column", "PK", "data_type", "primary_key", 0, "edges", "from", "column:a.b.x y", "to",
        "column:9", "type", "foreign_key", "from_table", "a.b", "from_columns", "x\"y", "to_table",
        "9 lives\"", "to_columns", "z", "confidence", 1.0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    char *text = graph_to_mermaid(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(mermaid_shape(text), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    a_b {\n        NUMERIC_10_2 x_y PK\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n        unknown c_PK\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    a_b_2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    t_9_lives\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    t_9_lives ||--o{ a_b : \"x'y\"\n"));
    free(text);

    char *dot = graph_to_dot(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dot);
    CU_ASSERT_PTR_NOT_NULL(strstr(dot, "\"table:9 lives\\\"\" [shape=box"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dot, "\"column:a.b.x y\" -> \"column:9\" [label=\"FK\"]"));
    free(dot);
    json_decref(g);
}

static void test_dot(void)
{
    struct catalog *c = load_catalog(chinook, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    json_t *g = graph_build(c);
    char *dot = graph_to_dot(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dot);
    CU_ASSERT_EQUAL(strncmp(dot, "digraph \"quarry\" {\n", 19), 0);
    CU_ASSERT_STRING_EQUAL(dot + strlen(dot) - 2, "}\n");
    size_t i, nodes = 0, edges = 0;
    json_t *v;
    json_array_foreach(json_object_get(g, "nodes"), i, v)
    {
        char want[400];
        snprintf(want, sizeof(want), "\n  \"%s\" [", json_string_value(json_object_get(v, "id")));
        nodes += strstr(dot, want) != NULL;
    }
    json_array_foreach(json_object_get(g, "edges"), i, v)
    {
        char want[600];
        snprintf(want, sizeof(want), "\n  \"%s\" -> \"%s\" [",
                 json_string_value(json_object_get(v, "from")),
                 json_string_value(json_object_get(v, "to")));
        edges += strstr(dot, want) != NULL;
    }
    CU_ASSERT_EQUAL(nodes, json_array_size(json_object_get(g, "nodes")));
    CU_ASSERT_EQUAL(edges, json_array_size(json_object_get(g, "edges")));
    /* One statement per line: nodes, edges, the header lines and the brace. */
    size_t lines = 0;
    for (const char *p = dot; *p; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, nodes + edges + 3);
    free(dot);
    json_decref(g);
    catalog_free(c);
}

/* ------------------------------------------------------------------------ */
/* Join paths                                                               */
/* ------------------------------------------------------------------------ */

static void assert_step(const json_t *step, const char *from_table, const char *from_column,
                        const char *to_table, const char *to_column)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(step);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(step, "from_table")), from_table);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(step, "to_table")), to_table);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_array_get(json_object_get(step, "from_columns"), 0)), from_column);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_array_get(json_object_get(step, "to_columns"), 0)), to_column);
}

static void test_join_path_chinook(void)
{
    struct catalog *c = load_catalog(chinook, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    json_t *g = graph_build(c);
    json_t *path = graph_join_path(g, "Customer", "Track");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT_EQUAL_FATAL(json_array_size(path), 3);
    assert_step(json_array_get(path, 0), "Customer", "CustomerId", "Invoice", "CustomerId");
    assert_step(json_array_get(path, 1), "Invoice", "InvoiceId", "InvoiceLine", "InvoiceId");
    assert_step(json_array_get(path, 2), "InvoiceLine", "TrackId", "Track", "TrackId");
    json_decref(path);

    path = graph_join_path(g, "Track", "Customer"); /* the other way round */
    CU_ASSERT_EQUAL_FATAL(json_array_size(path), 3);
    assert_step(json_array_get(path, 0), "Track", "TrackId", "InvoiceLine", "TrackId");
    assert_step(json_array_get(path, 2), "Invoice", "CustomerId", "Customer", "CustomerId");
    json_decref(path);

    path = graph_join_path(g, "Artist", "Genre");
    CU_ASSERT_EQUAL(json_array_size(path), 3);
    json_decref(path);
    path = graph_join_path(g, "Album", "Album");
    CU_ASSERT(json_is_array(path) && json_array_size(path) == 0);
    json_decref(path);
    CU_ASSERT_PTR_NULL(graph_join_path(g, "Album", "NoSuchTable"));
    json_decref(g);
    catalog_free(c);
}

/* A hand-made graph of tables `names`, and join edges added one by one. */
static json_t *small_graph(const char *const *labels, size_t n)
{
    json_t *nodes = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(labels[i], '.');
        json_array_append_new(nodes, json_pack("{s:s+, s:s, s:s, s:s}", "id", "table:", labels[i],
                                               "type", "table", "table", labels[i], "name",
                                               dot ? dot + 1 : labels[i]));
    }
    return json_pack("{s:o, s:[]}", "nodes", nodes, "edges");
}

static void add_edge(json_t *g, const char *type, const char *from, const char *from_column,
                     const char *to, double confidence)
{
    json_array_append_new(json_object_get(g, "edges"),
                          json_pack("{s:s, s:s, s:[s], s:s, s:[s], s:f}", "type", type,
                                    "from_table", from, "from_columns", from_column, "to_table", to,
                                    "to_columns", "id", "confidence", confidence));
}

static const char *step_column(const json_t *path, size_t i, const char *side)
{
    return json_string_value(json_array_get(json_object_get(json_array_get(path, i), side), 0));
}

/* Fewest hops first, then declared before inferred, then the more confident. */
static void test_join_path_preferences(void)
{
    static const char *const labels[] = {"s.x",  "s.y", "s.m1", "s.m2",
                                         "s.m3", "s.d", "t.d",  "s.lone"};
    json_t *g = small_graph(labels, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    add_edge(g, "inferred_join", "s.m2", "x_weak", "s.x", 0.5);
    add_edge(g, "inferred_join", "s.m2", "y_weak", "s.y", 0.5);
    add_edge(g, "inferred_join", "s.m1", "x_strong", "s.x", 0.9);
    add_edge(g, "inferred_join", "s.m1", "y_strong", "s.y", 0.9);
    json_array_append_new(json_object_get(g, "edges"),
                          json_pack("{s:s, s:s, s:s}", "type", "has_column", "from", "table:s.x",
                                    "to", "column:s.x.id"));
    json_t *path = graph_join_path(g, "s.x", "s.y");
    CU_ASSERT_EQUAL_FATAL(json_array_size(path), 2);
    assert_step(json_array_get(path, 0), "s.x", "id", "s.m1", "x_strong");
    assert_step(json_array_get(path, 1), "s.m1", "y_strong", "s.y", "id");
    json_decref(path);

    /* Declared keys through m3 win over confident inferred ones. */
    add_edge(g, "foreign_key", "s.m3", "x_id", "s.x", 1.0);
    add_edge(g, "foreign_key", "s.m3", "y_id", "s.y", 1.0);
    path = graph_join_path(g, "x", "y"); /* bare names, unambiguous */
    CU_ASSERT_EQUAL_FATAL(json_array_size(path), 2);
    CU_ASSERT_STRING_EQUAL(step_column(path, 0, "to_columns"), "x_id");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(path, 1), "type")),
                           "foreign_key");
    json_decref(path);

    /* One hop, however doubtful, beats two declared ones. */
    add_edge(g, "inferred_join", "s.x", "y_guess", "s.y", 0.31);
    path = graph_join_path(g, "s.y", "s.x");
    CU_ASSERT_EQUAL_FATAL(json_array_size(path), 1);
    assert_step(json_array_get(path, 0), "s.y", "id", "s.x", "y_guess");
    json_decref(path);

    add_edge(g, "foreign_key", "s.d", "x_id", "s.x", 1.0);
    add_edge(g, "foreign_key", "t.d", "x_id", "s.x", 1.0);
    CU_ASSERT_PTR_NULL(graph_join_path(g, "d", "s.x")); /* two tables named d */
    path = graph_join_path(g, "t.d", "s.d");
    CU_ASSERT_EQUAL(json_array_size(path), 2);
    json_decref(path);
    CU_ASSERT_PTR_NULL(graph_join_path(g, "s.x", "lone")); /* no edge reaches it */
    json_decref(g);
}

void register_graph_tests(void)
{
    CU_pSuite s = CU_add_suite("graph", suite_init, NULL);
    CU_add_test(s, "declared foreign keys of Chinook", test_declared_chinook);
    CU_add_test(s, "inferred joins never repeat declared ones",
                test_inferred_never_repeats_declared);
    CU_add_test(s, "joins inferred from names and values", test_inferred_by_values);
    CU_add_test(s, "joins inferred from names alone", test_inferred_by_names_only);
    CU_add_test(s, "mermaid erDiagram", test_mermaid);
    CU_add_test(s, "mermaid and dot sanitize names", test_mermaid_sanitizes);
    CU_add_test(s, "graphviz dot", test_dot);
    CU_add_test(s, "join path Customer to Track", test_join_path_chinook);
    CU_add_test(s, "join path preferences", test_join_path_preferences);
}
