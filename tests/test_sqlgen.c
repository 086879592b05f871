/*
 * The query builder (core/sqlgen.c): exact renderings per dialect (quoting,
 * limit styles, literals, date parts), refusals of bad input, and generated
 * statements run for real, their results compared with hand-written SQL on
 * the same database: Chinook and Northwind through SQLite, Chinook on the
 * PostgreSQL and MariaDB test servers through their drivers, and MongoDB
 * pipelines on the wire-protocol peer against counts computed here from the
 * peer's fixture file. The servers come from the `.ci/services` scripts; when
 * their variables are missing those tests fail, saying how to start them.
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
#include "sqlgen.h"

static char *chinook, *northwind;

static int suite_init(void)
{
    static const char *const names[] = {"sqlite", "postgres", "mysql", "mongodb"};
    for (size_t i = 0; i < 4; i++)
        if (!loader_find(names[i]))
            loader_load(QUARRY_TEST_PLUGIN_DIR, &names[i], 1);
    if (!chinook)
        chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    if (!northwind)
        northwind = harness_copy_fixture("northwind/northwind.sqlite");
    return chinook && northwind ? 0 : -1;
}

/* A catalog that only carries dialect facts. */
static struct catalog *dialect(const char *name, char quote, int limit_style)
{
    struct catalog *c = catalog_new(NULL);
    snprintf(c->dialect, sizeof(c->dialect), "%s", name);
    c->identifier_quote = quote;
    c->limit_style = limit_style;
    return c;
}

static struct catalog *sqlite_c, *pg_c, *my_c, *top_c, *fetch_c, *mongo_c;

static int render_init(void)
{
    sqlite_c = dialect("sqlite", '"', QUARRY_LIMIT_LIMIT);
    pg_c = dialect("postgresql", '"', QUARRY_LIMIT_LIMIT);
    my_c = dialect("mysql", '`', QUARRY_LIMIT_LIMIT);
    top_c = dialect("mssql", '"', QUARRY_LIMIT_TOP);
    fetch_c = dialect("oracle", '"', QUARRY_LIMIT_FETCH);
    mongo_c = dialect("mongodb", 0, QUARRY_LIMIT_NONE);
    return suite_init();
}

static int render_cleanup(void)
{
    catalog_free(sqlite_c);
    catalog_free(pg_c);
    catalog_free(my_c);
    catalog_free(top_c);
    catalog_free(fetch_c);
    catalog_free(mongo_c);
    return 0;
}

/* Renders and checks against `want`; NULL `want` means "must be refused with `status`". */
static void expect(const struct sqlgen_query *q, const struct catalog *c, const char *want,
                   int status, const char *where)
{
    struct quarry_error err;
    host_error_init(&err);
    char *got = sqlgen_render(q, c, &err);
    if (want) {
        if (!got || strcmp(got, want) != 0)
            fprintf(stderr, "\n  %s (%s)\n  want: %s\n  got:  %s\n  error: %s\n", where, c->dialect,
                    want, got ? got : "(null)", err.message);
        CU_ASSERT_PTR_NOT_NULL(got);
        CU_ASSERT(got && strcmp(got, want) == 0);
        CU_ASSERT_EQUAL(err.status, QUARRY_OK);
    } else {
        if (got || err.status != status)
            fprintf(stderr, "\n  %s (%s): expected refusal %d, got %s (status %d: %s)\n", where,
                    c->dialect, status, got ? got : "(null)", err.status, err.message);
        CU_ASSERT_PTR_NULL(got);
        CU_ASSERT_EQUAL(err.status, status);
        CU_ASSERT(err.message[0] != '\0');
    }
    free(got);
}

#define T(...) (&(struct sqlgen_term){__VA_ARGS__})
#define V(type, text) (&(struct sqlgen_value){type, text})

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */
/* ------------------------------------------------------------------------ */

/* Countries by invoice total, with every clause. */
static struct sqlgen_query *full_query(void)
{
    struct sqlgen_query *q = sqlgen_new(NULL, "Invoice", "i");
    CU_ASSERT_EQUAL(sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "Customer", "c", "i", 1,
                                (const char *[]){"CustomerId"}, (const char *[]){"CustomerId"}),
                    0);
    CU_ASSERT_EQUAL(sqlgen_select(q, T("c", "Country"), NULL), 0);
    CU_ASSERT_EQUAL(sqlgen_select(q, T("i", "Total", SQLGEN_SUM), "total"), 0);
    CU_ASSERT_EQUAL(
        sqlgen_where(q, T("i", "BillingCity"), SQLGEN_NE, V(SQLGEN_TEXT, "O'Brien\\x"), 1), 0);
    CU_ASSERT_EQUAL(sqlgen_group_by(q, T("c", "Country")), 0);
    CU_ASSERT_EQUAL(
        sqlgen_having(q, T(NULL, NULL, SQLGEN_COUNT), SQLGEN_GT, V(SQLGEN_NUMBER, "5"), 1), 0);
    CU_ASSERT_EQUAL(sqlgen_order_by_output(q, "total", 1), 0);
    CU_ASSERT_EQUAL(sqlgen_limit(q, 5), 0);
    return q;
}

static void test_render_dialects(void)
{
    struct sqlgen_query *q = full_query();
    expect(q, sqlite_c,
           "SELECT \"c\".\"Country\", SUM(\"i\".\"Total\") AS \"total\" FROM \"Invoice\" AS \"i\" "
           "INNER JOIN \"Customer\" AS \"c\" ON \"i\".\"CustomerId\" = \"c\".\"CustomerId\" WHERE "
           "\"i\".\"BillingCity\" <> 'O''Brien\\x' GROUP BY \"c\".\"Country\" HAVING COUNT(*) > 5 "
           "ORDER BY \"total\" DESC LIMIT 5",
           0, "full");
    expect(q, pg_c,
           "SELECT \"c\".\"Country\", SUM(\"i\".\"Total\") AS \"total\" FROM \"Invoice\" AS \"i\" "
           "INNER JOIN \"Customer\" AS \"c\" ON \"i\".\"CustomerId\" = \"c\".\"CustomerId\" WHERE "
           "\"i\".\"BillingCity\" <> E'O''Brien\\\\x' GROUP BY \"c\".\"Country\" HAVING COUNT(*) > "
           "5 ORDER BY \"total\" DESC LIMIT 5",
           0, "full");
    expect(q, my_c,
           "SELECT `c`.`Country`, SUM(`i`.`Total`) AS `total` FROM `Invoice` AS `i` INNER JOIN "
           "`Customer` AS `c` ON `i`.`CustomerId` = `c`.`CustomerId` WHERE `i`.`BillingCity` <> "
           "'O''Brien\\\\x' GROUP BY `c`.`Country` HAVING COUNT(*) > 5 ORDER BY `total` DESC "
           "LIMIT 5",
           0, "full");
    expect(q, top_c,
           "SELECT TOP 5 \"c\".\"Country\", SUM(\"i\".\"Total\") AS \"total\" FROM \"Invoice\" AS "
           "\"i\" INNER JOIN \"Customer\" AS \"c\" ON \"i\".\"CustomerId\" = \"c\".\"CustomerId\" "
           "WHERE \"i\".\"BillingCity\" <> 'O''Brien\\x' GROUP BY \"c\".\"Country\" HAVING "
           "COUNT(*) > 5 ORDER BY \"total\" DESC",
           0, "full");
    expect(q, fetch_c,
           "SELECT \"c\".\"Country\", SUM(\"i\".\"Total\") AS \"total\" FROM \"Invoice\" AS \"i\" "
           "INNER JOIN \"Customer\" AS \"c\" ON \"i\".\"CustomerId\" = \"c\".\"CustomerId\" WHERE "
           "\"i\".\"BillingCity\" <> 'O''Brien\\x' GROUP BY \"c\".\"Country\" HAVING COUNT(*) > 5 "
           "ORDER BY \"total\" DESC FETCH FIRST 5 ROWS ONLY",
           0, "full");
    sqlgen_free(q);

    /* Quotes inside names are doubled; schemas qualify; no items is *. */
    q = sqlgen_new("my\"sch`ema", "we\"ird`", NULL);
    expect(q, pg_c, "SELECT * FROM \"my\"\"sch`ema\".\"we\"\"ird`\"", 0, "quoting");
    expect(q, my_c, "SELECT * FROM `my\"sch``ema`.`we\"ird```", 0, "quoting");
    sqlgen_select(q, T("we\"ird`", "co\"l"), "o\"ut");
    sqlgen_distinct(q);
    sqlgen_order_by(q, T(NULL, "x", SQLGEN_MAX), 0);
    sqlgen_limit(q, 1000000000);
    expect(q, pg_c,
           "SELECT DISTINCT \"we\"\"ird`\".\"co\"\"l\" AS \"o\"\"ut\" FROM "
           "\"my\"\"sch`ema\".\"we\"\"ird`\" ORDER BY MAX(\"x\") LIMIT 1000000000",
           0, "quoting");
    sqlgen_free(q);

    /* LEFT and multi-column joins, chained: the second joins on the first. */
    q = sqlgen_new(NULL, "a", NULL);
    sqlgen_join(q, SQLGEN_JOIN_LEFT, NULL, "b", NULL, "a", 2, (const char *[]){"x", "y"},
                (const char *[]){"bx", "by"});
    sqlgen_join(q, SQLGEN_JOIN_INNER, "s", "c", "cc", "b", 1, (const char *[]){"z"},
                (const char *[]){"id"});
    sqlgen_select(q, T("cc", "v", SQLGEN_COUNT_DISTINCT), "n");
    expect(q, sqlite_c,
           "SELECT COUNT(DISTINCT \"cc\".\"v\") AS \"n\" FROM \"a\" LEFT JOIN \"b\" ON \"a\".\"x\" "
           "= \"b\".\"bx\" AND \"a\".\"y\" = \"b\".\"by\" INNER JOIN \"s\".\"c\" AS \"cc\" ON "
           "\"b\".\"z\" = \"cc\".\"id\"",
           0, "joins");
    sqlgen_free(q);
}

struct literal_case {
    struct catalog **catalog;
    int op, type;
    const char *text;
    const char *want; /* the condition as rendered */
};

static void test_render_literals(void)
{
    static const struct literal_case cases[] = {
        {&sqlite_c, SQLGEN_EQ, SQLGEN_TEXT, "it's", "\"c\" = 'it''s'"},
        {&sqlite_c, SQLGEN_EQ, SQLGEN_TEXT, "a\\b", "\"c\" = 'a\\b'"},
        {&sqlite_c, SQLGEN_EQ, SQLGEN_TEXT, "\"; DROP TABLE t; --",
         "\"c\" = '\"; DROP TABLE t; --'"},
        {&my_c, SQLGEN_EQ, SQLGEN_TEXT, "a\\b'", "`c` = 'a\\\\b'''"},
        {&my_c, SQLGEN_EQ, SQLGEN_TEXT, "\\'; DROP TABLE t; -- ",
         "`c` = '\\\\''; DROP TABLE t; -- '"},
        {&pg_c, SQLGEN_EQ, SQLGEN_TEXT, "a\\b'", "\"c\" = E'a\\\\b'''"},
        {&pg_c, SQLGEN_EQ, SQLGEN_TEXT, "plain'", "\"c\" = 'plain'''"},
        {&pg_c, SQLGEN_EQ, SQLGEN_TEXT, "日本", "\"c\" = '日本'"},
        {&sqlite_c, SQLGEN_LE, SQLGEN_NUMBER, "-12.5e3", "\"c\" <= -12.5e3"},
        {&sqlite_c, SQLGEN_EQ, SQLGEN_BOOL, "true", "\"c\" = 1"},
        {&pg_c, SQLGEN_EQ, SQLGEN_BOOL, "0", "\"c\" = FALSE"},
        {&sqlite_c, SQLGEN_GE, SQLGEN_DATE, "2024-02-29", "\"c\" >= '2024-02-29'"},
        {&sqlite_c, SQLGEN_LT, SQLGEN_TIMESTAMP, "2024-02-29T10:11:12.5Z",
         "\"c\" < '2024-02-29 10:11:12.5'"},
        {&my_c, SQLGEN_GT, SQLGEN_TIMESTAMP, "2024-02-29 10:11", "`c` > '2024-02-29 10:11:00'"},
        {&sqlite_c, SQLGEN_CONTAINS, SQLGEN_TEXT, "50%_off\\",
         "\"c\" LIKE '%50\\%\\_off\\\\%' ESCAPE '\\'"},
        {&pg_c, SQLGEN_CONTAINS, SQLGEN_TEXT, "a'b", "\"c\" ILIKE '%a''b%' ESCAPE E'\\\\'"},
        {&pg_c, SQLGEN_STARTS_WITH, SQLGEN_TEXT, "x_", "\"c\" ILIKE E'x\\\\_%' ESCAPE E'\\\\'"},
        {&my_c, SQLGEN_STARTS_WITH, SQLGEN_TEXT, "x_", "`c` LIKE 'x\\\\_%' ESCAPE '\\\\'"},
        {&sqlite_c, SQLGEN_IS_NULL, 0, NULL, "\"c\" IS NULL"},
        {&my_c, SQLGEN_IS_NOT_NULL, 0, NULL, "`c` IS NOT NULL"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct literal_case *lc = &cases[i];
        struct sqlgen_query *q = sqlgen_new(NULL, "t", NULL);
        CU_ASSERT_EQUAL(
            sqlgen_where(q, T(NULL, "c"), lc->op, V(lc->type, lc->text), lc->text ? 1 : 0), 0);
        char want[512], where[32];
        char q1 = (*lc->catalog)->identifier_quote;
        snprintf(want, sizeof(want), "SELECT * FROM %ct%c WHERE %s", q1, q1, lc->want);
        snprintf(where, sizeof(where), "literal case %zu", i);
        expect(q, *lc->catalog, want, 0, where);
        sqlgen_free(q);
    }

    struct sqlgen_query *q = sqlgen_new(NULL, "t", NULL);
    const struct sqlgen_value in[] = {
        {SQLGEN_NUMBER, "1"}, {SQLGEN_NUMBER, "2.5"}, {SQLGEN_TEXT, "three'"}};
    sqlgen_where(q, T(NULL, "c"), SQLGEN_IN, in, 3);
    sqlgen_where(q, T(NULL, "d"), SQLGEN_NE, V(SQLGEN_NUMBER, "0"), 1);
    expect(q, sqlite_c, "SELECT * FROM \"t\" WHERE \"c\" IN (1, 2.5, 'three''') AND \"d\" <> 0", 0,
           "in");
    sqlgen_free(q);
}

static void test_render_date_parts(void)
{
    struct sqlgen_query *q = sqlgen_new(NULL, "t", NULL);
    sqlgen_select(q, T(NULL, "d", 0, SQLGEN_YEAR), "y");
    sqlgen_select(q, T(NULL, "d", SQLGEN_COUNT_DISTINCT, SQLGEN_MONTH), "m");
    sqlgen_group_by(q, T(NULL, "d", 0, SQLGEN_YEAR));
    sqlgen_order_by(q, T(NULL, "d", 0, SQLGEN_DAY), 1);
    expect(q, sqlite_c,
           "SELECT CAST(strftime('%Y', \"d\") AS INTEGER) AS \"y\", COUNT(DISTINCT "
           "CAST(strftime('%m', \"d\") AS INTEGER)) AS \"m\" FROM \"t\" GROUP BY "
           "CAST(strftime('%Y', \"d\") AS INTEGER) ORDER BY CAST(strftime('%d', \"d\") AS INTEGER) "
           "DESC",
           0, "parts");
    expect(q, pg_c,
           "SELECT CAST(EXTRACT(YEAR FROM \"d\") AS INTEGER) AS \"y\", COUNT(DISTINCT "
           "CAST(EXTRACT(MONTH FROM \"d\") AS INTEGER)) AS \"m\" FROM \"t\" GROUP BY "
           "CAST(EXTRACT(YEAR FROM \"d\") AS INTEGER) ORDER BY CAST(EXTRACT(DAY FROM \"d\") AS "
           "INTEGER) DESC",
           0, "parts");
    expect(q, my_c,
           "SELECT YEAR(`d`) AS `y`, COUNT(DISTINCT MONTH(`d`)) AS `m` FROM `t` GROUP BY YEAR(`d`) "
           "ORDER BY DAY(`d`) DESC",
           0, "parts");
    expect(
        q, fetch_c,
        "SELECT EXTRACT(YEAR FROM \"d\") AS \"y\", COUNT(DISTINCT EXTRACT(MONTH FROM \"d\")) AS "
        "\"m\" FROM \"t\" GROUP BY EXTRACT(YEAR FROM \"d\") ORDER BY EXTRACT(DAY FROM \"d\") DESC",
        0, "parts");
    sqlgen_free(q);
}

/* ------------------------------------------------------------------------ */
/* Refusals                                                                 */
/* ------------------------------------------------------------------------ */

struct value_case {
    int type;
    const char *text;
    int ok;
};

static void test_invalid_values(void)
{
    static const struct value_case cases[] = {
        {SQLGEN_NUMBER, "42", 1},
        {SQLGEN_NUMBER, "-0.5", 1},
        {SQLGEN_NUMBER, "1E+10", 1},
        {SQLGEN_NUMBER, "1; DROP TABLE t", 0},
        {SQLGEN_NUMBER, "", 0},
        {SQLGEN_NUMBER, "--1", 0},
        {SQLGEN_NUMBER, "1e", 0},
        {SQLGEN_NUMBER, "1.", 0},
        {SQLGEN_NUMBER, ".5", 0},
        {SQLGEN_NUMBER, "0x10", 0},
        {SQLGEN_NUMBER, " 1", 0},
        {SQLGEN_NUMBER, "1e999", 0},
        {SQLGEN_NUMBER, "NaN", 0},
        {SQLGEN_NUMBER, "12345678901234567890123456789012345678901", 0},
        {SQLGEN_BOOL, "TRUE", 1},
        {SQLGEN_BOOL, "0", 1},
        {SQLGEN_BOOL, "yes", 0},
        {SQLGEN_DATE, "2024-02-29", 1},
        {SQLGEN_DATE, "2024-13-01", 0},
        {SQLGEN_DATE, "2024-1-01", 0},
        {SQLGEN_DATE, "2024-01-01'", 0},
        {SQLGEN_DATE, "20240-01-01", 0},
        {SQLGEN_TIMESTAMP, "2024-01-01T00:00:00Z", 1},
        {SQLGEN_TIMESTAMP, "2024-01-01 23:59", 1},
        {SQLGEN_TIMESTAMP, "2024-01-01t23:59:59.123456789", 1},
        {SQLGEN_TIMESTAMP, "2024-01-01T24:00:00", 0},
        {SQLGEN_TIMESTAMP, "2024-01-01T10:00:00+02:00", 0},
        {SQLGEN_TIMESTAMP, "2024-01-01", 0},
        {SQLGEN_TEXT, "ok", 1},
        {SQLGEN_TEXT, "\xff\xfe not UTF-8", 0},
        {SQLGEN_TEXT, "\xc3", 0},
        {99, "1", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sqlgen_query *q = sqlgen_new(NULL, "t", NULL);
        int rc = sqlgen_where(q, T(NULL, "c"), SQLGEN_EQ, V(cases[i].type, cases[i].text), 1);
        struct quarry_error err;
        host_error_init(&err);
        char *sql = sqlgen_render(q, sqlite_c, &err);
        if ((sql != NULL) != cases[i].ok)
            fprintf(stderr, "\n  value case %zu (%s): %s\n", i, cases[i].text, err.message);
        CU_ASSERT_EQUAL(rc, cases[i].ok ? 0 : -1);
        CU_ASSERT_EQUAL(sql != NULL, cases[i].ok);
        CU_ASSERT_EQUAL(err.status, cases[i].ok ? QUARRY_OK : QUARRY_ERR_INVALID);
        free(sql);
        sqlgen_free(q);
    }
}

static void test_invalid_queries(void)
{
    struct sqlgen_query *q;
#define REFUSED(build, what)                                                                       \
    do {                                                                                           \
        q = sqlgen_new(NULL, "t", "a");                                                            \
        build;                                                                                     \
        expect(q, sqlite_c, NULL, QUARRY_ERR_INVALID, what);                                       \
        sqlgen_free(q);                                                                            \
    } while (0)
    REFUSED(CU_ASSERT_EQUAL(sqlgen_select(q, T(NULL, NULL, SQLGEN_SUM), NULL), -1), "SUM(*)");
    REFUSED(sqlgen_select(q, T(NULL, NULL), NULL), "bare *");
    REFUSED(sqlgen_select(q, T(NULL, "c", 42), NULL), "unknown aggregate");
    REFUSED(sqlgen_select(q, T(NULL, "", 0), NULL), "empty column");
    REFUSED(sqlgen_select(q, T("nobody", "c"), NULL), "unknown alias");
    REFUSED(sqlgen_select(q, T("t", "c"), NULL), "table name hidden by its alias");
    REFUSED(sqlgen_where(q, T(NULL, "c", SQLGEN_COUNT), SQLGEN_GT, V(SQLGEN_NUMBER, "1"), 1),
            "aggregate in WHERE");
    REFUSED(sqlgen_having(q, T(NULL, "c"), SQLGEN_GT, V(SQLGEN_NUMBER, "1"), 1), "HAVING, no agg");
    REFUSED(sqlgen_where(q, T(NULL, "c"), SQLGEN_IS_NULL, V(SQLGEN_NUMBER, "1"), 1), "IS NULL 1");
    REFUSED(sqlgen_where(q, T(NULL, "c"), SQLGEN_IN, NULL, 0), "IN ()");
    REFUSED(sqlgen_where(
                q, T(NULL, "c"), SQLGEN_EQ,
                ((const struct sqlgen_value[]){{SQLGEN_NUMBER, "1"}, {SQLGEN_NUMBER, "2"}}), 2),
            "= two values");
    REFUSED(sqlgen_where(q, T(NULL, "c"), SQLGEN_CONTAINS, V(SQLGEN_NUMBER, "1"), 1),
            "CONTAINS a number");
    REFUSED(sqlgen_where(q, T(NULL, "c"), 99, V(SQLGEN_NUMBER, "1"), 1), "unknown op");
    REFUSED(sqlgen_group_by(q, T(NULL, "c", SQLGEN_SUM)), "GROUP BY SUM");
    REFUSED(sqlgen_order_by_output(q, "nothing", 0), "ORDER BY unknown output");
    REFUSED(sqlgen_limit(q, 0), "LIMIT 0");
    REFUSED(sqlgen_limit(q, (int64_t)SQLGEN_MAX_LIMIT + 1), "LIMIT too big");
    REFUSED(sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "u", "a", "a", 1, (const char *[]){"x"},
                        (const char *[]){"y"}),
            "alias twice");
    REFUSED(sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "u", NULL, "v", 1, (const char *[]){"x"},
                        (const char *[]){"y"}),
            "join to unknown");
    REFUSED(
        sqlgen_join(q, 7, NULL, "u", NULL, "a", 1, (const char *[]){"x"}, (const char *[]){"y"}),
        "join type");
    REFUSED(sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "u", NULL, "a", 0, NULL, NULL), "no columns");
#undef REFUSED

    /* A missing table name; then the first error sticks, later good calls or not. */
    q = sqlgen_new(NULL, NULL, NULL);
    expect(q, sqlite_c, NULL, QUARRY_ERR_INVALID, "no table");
    sqlgen_free(q);
    q = sqlgen_new(NULL, "t", NULL);
    sqlgen_limit(q, -1);
    sqlgen_select(q, T(NULL, "c"), NULL);
    sqlgen_where(q, T(NULL, "c"), SQLGEN_EQ, V(SQLGEN_NUMBER, "x"), 1);
    struct quarry_error err;
    host_error_init(&err);
    CU_ASSERT_PTR_NULL(sqlgen_render(q, sqlite_c, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "limit"));
    sqlgen_free(q);

    /* Bounds. */
    q = sqlgen_new(NULL, "t", NULL);
    for (int i = 0; i < SQLGEN_MAX_ITEMS; i++)
        CU_ASSERT_EQUAL(sqlgen_select(q, T(NULL, "c"), NULL), 0);
    CU_ASSERT_EQUAL(sqlgen_select(q, T(NULL, "c"), NULL), -1);
    expect(q, sqlite_c, NULL, QUARRY_ERR_INVALID, "too many items");
    sqlgen_free(q);
    char *long_text = malloc(SQLGEN_MAX_TEXT + 2);
    memset(long_text, 'x', SQLGEN_MAX_TEXT + 1);
    long_text[SQLGEN_MAX_TEXT + 1] = '\0';
    q = sqlgen_new(NULL, "t", NULL);
    CU_ASSERT_EQUAL(sqlgen_where(q, T(NULL, "c"), SQLGEN_EQ, V(SQLGEN_TEXT, long_text), 1), -1);
    expect(q, sqlite_c, NULL, QUARRY_ERR_INVALID, "long text");
    sqlgen_free(q);
    long_text[SQLGEN_MAX_IDENTIFIER + 1] = '\0';
    q = sqlgen_new(NULL, long_text, NULL);
    expect(q, sqlite_c, NULL, QUARRY_ERR_INVALID, "long name");
    sqlgen_free(q);
    free(long_text);
    CU_ASSERT_EQUAL(sqlgen_select(NULL, T(NULL, "c"), NULL), -1);
    sqlgen_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Running it: SQLite                                                       */
/* ------------------------------------------------------------------------ */

static int append_row(void *userdata, int ncols, char **values, char **names)
{
    (void)names;
    FILE *out = userdata;
    for (int i = 0; i < ncols; i++)
        fprintf(out, "%s%s", i ? "|" : "", values[i] ? values[i] : "NULL");
    fputc('\n', out);
    return 0;
}

/* Every row of `sql` as text, or NULL after printing the error. */
static char *sqlite_rows(const char *path, const char *sql)
{
    sqlite3 *db;
    char *text = NULL, *msg = NULL;
    size_t len;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return NULL;
    FILE *out = open_memstream(&text, &len);
    int rc = sqlite3_exec(db, sql, append_row, out, &msg);
    fclose(out);
    sqlite3_close(db);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "\n  sqlite: %s\n  in: %s\n", msg, sql);
        sqlite3_free(msg);
        free(text);
        return NULL;
    }
    return text;
}

/* Renders `q` (freed) for SQLite and compares its rows with those of `hand`. */
static void same_rows(const char *path, struct sqlgen_query *q, const char *hand, int want_rows)
{
    struct quarry_error err;
    host_error_init(&err);
    char *sql = sqlgen_render(q, sqlite_c, &err);
    sqlgen_free(q);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
    char *got = sqlite_rows(path, sql), *want = sqlite_rows(path, hand);
    CU_ASSERT_PTR_NOT_NULL(got);
    CU_ASSERT_PTR_NOT_NULL(want);
    if (got && want) {
        int rows = 0;
        for (const char *p = want; *p; p++)
            rows += *p == '\n';
        if (strcmp(got, want) != 0 || rows != want_rows)
            fprintf(stderr, "\n  %s\n  got:  %.300s\n  want (%d rows): %.300s\n", sql, got, rows,
                    want);
        CU_ASSERT_STRING_EQUAL(got, want);
        CU_ASSERT_EQUAL(rows, want_rows);
    }
    free(got);
    free(want);
    free(sql);
}

static void test_execute_sqlite_chinook(void)
{
    struct sqlgen_query *q = full_query();
    same_rows(chinook, q,
              "SELECT c.Country, SUM(i.Total) AS total FROM Invoice i JOIN Customer c ON "
              "c.CustomerId = i.CustomerId WHERE i.BillingCity <> 'O''Brien\\x' GROUP BY "
              "c.Country HAVING COUNT(*) > 5 ORDER BY total DESC LIMIT 5",
              5);

    /* Real names holding a backslash, a quote, a double quote. */
    q = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(q, T(NULL, "TrackId"), NULL);
    sqlgen_where(q, T(NULL, "Name"), SQLGEN_EQ,
                 V(SQLGEN_TEXT, "Cavalleria Rusticana \\ Act \\ Intermezzo Sinfonico"), 1);
    same_rows(chinook, q,
              "SELECT TrackId FROM Track WHERE instr(Name, char(92)) > 0 AND "
              "Name LIKE 'Cavalleria%'",
              1);
    q = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(q, T(NULL, "TrackId"), NULL);
    const struct sqlgen_value names[] = {{SQLGEN_TEXT, "Janie's Got A Gun"},
                                         {SQLGEN_TEXT, "Hell Ain't A Bad Place To Be"}};
    sqlgen_where(q, T(NULL, "Name"), SQLGEN_IN, names, 2);
    sqlgen_order_by(q, T(NULL, "TrackId"), 0);
    same_rows(chinook, q,
              "SELECT TrackId FROM Track WHERE Name = 'Janie''s Got A Gun' OR Name = 'Hell Ain''t "
              "A Bad Place To Be' ORDER BY 1",
              2);
    q = sqlgen_new(NULL, "Track", "t");
    sqlgen_select(q, T("t", "TrackId"), NULL);
    sqlgen_where(q, T("t", "Name"), SQLGEN_CONTAINS, V(SQLGEN_TEXT, "\"SYMFONIA piesni"), 1);
    sqlgen_where(q, T("t", "Name"), SQLGEN_CONTAINS, V(SQLGEN_TEXT, "\\ lento"), 1);
    same_rows(chinook, q, "SELECT TrackId FROM Track WHERE TrackId = 3485", 1);
    q = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), NULL);
    sqlgen_where(q, T(NULL, "Name"), SQLGEN_STARTS_WITH, V(SQLGEN_TEXT, "love"), 1);
    same_rows(chinook, q, "SELECT COUNT(*) FROM Track WHERE lower(substr(Name, 1, 4)) = 'love'", 1);
    q = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), NULL);
    sqlgen_where(q, T(NULL, "Name"), SQLGEN_CONTAINS, V(SQLGEN_TEXT, "_%"), 1);
    same_rows(chinook, q, "SELECT COUNT(*) FROM Track WHERE instr(Name, '_%') > 0", 1);

    /* Invoices per year, and a date range. */
    q = sqlgen_new(NULL, "Invoice", NULL);
    sqlgen_select(q, T(NULL, "InvoiceDate", 0, SQLGEN_YEAR), "year");
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), "n");
    sqlgen_select(q, T(NULL, "Total", SQLGEN_AVG), NULL);
    sqlgen_where(q, T(NULL, "InvoiceDate"), SQLGEN_GE, V(SQLGEN_DATE, "2022-01-01"), 1);
    sqlgen_where(q, T(NULL, "InvoiceDate"), SQLGEN_LT, V(SQLGEN_TIMESTAMP, "2025-01-01T00:00"), 1);
    sqlgen_group_by(q, T(NULL, "InvoiceDate", 0, SQLGEN_YEAR));
    sqlgen_order_by_output(q, "year", 1);
    same_rows(chinook, q,
              "SELECT CAST(strftime('%Y', InvoiceDate) AS INT), COUNT(*), AVG(Total) FROM Invoice "
              "WHERE InvoiceDate >= '2022-01-01' AND InvoiceDate < '2025-01-01' GROUP BY 1 ORDER "
              "BY 1 DESC",
              3);

    /* A left join that keeps unmatched rows, DISTINCT, and the other aggregates. */
    q = sqlgen_new(NULL, "Employee", "e");
    sqlgen_join(q, SQLGEN_JOIN_LEFT, NULL, "Customer", "c", "e", 1, (const char *[]){"EmployeeId"},
                (const char *[]){"SupportRepId"});
    sqlgen_select(q, T("e", "LastName"), NULL);
    sqlgen_select(q, T("c", "CustomerId", SQLGEN_COUNT), "customers");
    sqlgen_select(q, T("c", "Country", SQLGEN_COUNT_DISTINCT), "countries");
    sqlgen_select(q, T("c", "Email", SQLGEN_MIN), NULL);
    sqlgen_select(q, T("c", "Email", SQLGEN_MAX), NULL);
    sqlgen_group_by(q, T("e", "EmployeeId"));
    sqlgen_group_by(q, T("e", "LastName"));
    sqlgen_order_by(q, T("e", "EmployeeId"), 0);
    same_rows(chinook, q,
              "SELECT e.LastName, COUNT(c.CustomerId), COUNT(DISTINCT c.Country), MIN(c.Email), "
              "MAX(c.Email) FROM Employee e LEFT JOIN Customer c ON c.SupportRepId = e.EmployeeId "
              "GROUP BY e.EmployeeId ORDER BY e.EmployeeId",
              8);
    q = sqlgen_new(NULL, "Customer", NULL);
    sqlgen_select(q, T(NULL, "Country"), NULL);
    sqlgen_distinct(q);
    sqlgen_where(q, T(NULL, "State"), SQLGEN_IS_NOT_NULL, NULL, 0);
    sqlgen_order_by(q, T(NULL, "Country"), 0);
    same_rows(chinook, q,
              "SELECT Country FROM Customer WHERE State IS NOT NULL GROUP BY Country ORDER BY 1",
              7);
}

static void test_execute_sqlite_northwind(void)
{
    /* A table name with a space, and a join on two columns at once. */
    struct sqlgen_query *q = sqlgen_new(NULL, "Order Details", "od");
    sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "Order Details", "same", "od", 2,
                (const char *[]){"OrderID", "ProductID"}, (const char *[]){"OrderID", "ProductID"});
    sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "Products", "p", "od", 1, (const char *[]){"ProductID"},
                (const char *[]){"ProductID"});
    sqlgen_select(q, T("p", "ProductName"), "product");
    sqlgen_select(q, T("od", "Quantity", SQLGEN_SUM), "units");
    sqlgen_select(q, T("same", "OrderID", SQLGEN_COUNT), "lines");
    sqlgen_where(q, T("od", "Discount"), SQLGEN_GT, V(SQLGEN_NUMBER, "0.1"), 1);
    sqlgen_group_by(q, T("p", "ProductName"));
    sqlgen_order_by_output(q, "units", 1);
    sqlgen_order_by(q, T("p", "ProductName"), 0);
    sqlgen_limit(q, 7);
    same_rows(northwind, q,
              "SELECT p.ProductName, SUM(od.Quantity) AS units, COUNT(*) FROM [Order Details] od "
              "JOIN Products p USING (ProductID) WHERE od.Discount > 0.1 GROUP BY p.ProductName "
              "ORDER BY units DESC, p.ProductName LIMIT 7",
              7);
}

/* ------------------------------------------------------------------------ */
/* Running it through a driver                                              */
/* ------------------------------------------------------------------------ */

#define SERVICES_HINT "start the test servers: eval \"$(bash .ci/services/<name>.sh start)\""

/* Rows into a JSON array of arrays (text for everything but numbers and NULL). */
static int rec_begin(void *userdata, const struct quarry_column *columns, size_t n)
{
    (void)userdata;
    (void)columns;
    (void)n;
    return QUARRY_SINK_CONTINUE;
}

static int rec_row(void *userdata, const struct quarry_value *values, size_t n)
{
    json_t *row = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct quarry_value *v = &values[i];
        json_t *j;
        if (v->type == QUARRY_VALUE_NULL)
            j = json_null();
        else if (v->type == QUARRY_VALUE_INT || v->type == QUARRY_VALUE_BOOL)
            j = json_integer(v->i);
        else if (v->type == QUARRY_VALUE_DOUBLE)
            j = json_real(floor(v->d * 1e6 + 0.5) / 1e6);
        else
            j = json_stringn_nocheck(v->str ? v->str : "", v->str ? v->len : 0);
        json_array_append_new(row, j);
    }
    json_array_append_new(userdata, row);
    return QUARRY_SINK_CONTINUE;
}

static void rec_end(void *userdata)
{
    (void)userdata;
}

/* The rows of `statement`, or NULL after printing the driver's error. */
static json_t *driver_rows(const struct quarry_driver *drv, struct quarry_conn *conn,
                           const char *statement)
{
    json_t *rows = json_array();
    struct quarry_row_sink sink;
    struct host_call call;
    struct quarry_error err;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = rows;
    sink.begin = rec_begin;
    sink.row = rec_row;
    sink.end = rec_end;
    host_call_init(&call, 20000, 1000);
    host_error_init(&err);
    if (drv->execute(conn, &call.ctx, statement, &sink, &err) != QUARRY_OK) {
        fprintf(stderr, "\n  %s: %s\n  in: %s\n", drv->name, err.message, statement);
        json_decref(rows);
        return NULL;
    }
    return rows;
}

static struct quarry_conn *driver_open(const struct quarry_driver *drv, const char *url)
{
    struct quarry_open_params p;
    struct quarry_conn *conn = NULL;
    struct quarry_error err;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    p.connect_timeout_ms = 5000;
    host_error_init(&err);
    if (drv->open(&p, &conn, &err) != QUARRY_OK)
        fprintf(stderr, "\n  open %s: %s\n", drv->name, err.message);
    return conn;
}

/* Renders `q` (freed) for `drv`'s dialect, runs it and `hand`, and compares. */
static void same_driver_rows(const struct quarry_driver *drv, struct quarry_conn *conn,
                             struct sqlgen_query *q, const char *hand, size_t want_rows)
{
    struct catalog *c = catalog_new(drv);
    struct quarry_error err;
    host_error_init(&err);
    char *statement = sqlgen_render(q, c, &err);
    sqlgen_free(q);
    catalog_free(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(statement);
    json_t *got = driver_rows(drv, conn, statement), *want = driver_rows(drv, conn, hand);
    CU_ASSERT_PTR_NOT_NULL(got);
    CU_ASSERT_PTR_NOT_NULL(want);
    if (got && want && (!json_equal(got, want) || json_array_size(want) != want_rows)) {
        char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
        fprintf(stderr, "\n  %s\n  got:  %.300s\n  want: %.300s\n", statement, g, w);
        free(g);
        free(w);
    }
    CU_ASSERT(got && want && json_equal(got, want));
    CU_ASSERT(want && json_array_size(want) == want_rows);
    json_decref(got);
    json_decref(want);
    free(statement);
}

static struct quarry_conn *open_service(const char *driver, const char *env,
                                        const struct quarry_driver **drv)
{
    const char *url = getenv(env);
    *drv = loader_find(driver);
    if (!url || !*url) {
        fprintf(stderr, "\n  %s is not set: %s\n", env, SERVICES_HINT);
        return NULL;
    }
    return *drv ? driver_open(*drv, url) : NULL;
}

static void test_execute_postgres(void)
{
    const struct quarry_driver *drv;
    struct quarry_conn *conn = open_service("postgres", "QUARRY_TEST_PG_URL", &drv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);

    struct sqlgen_query *q = sqlgen_new("public", "invoice", "i");
    sqlgen_join(q, SQLGEN_JOIN_INNER, "public", "customer", "c", "i", 1,
                (const char *[]){"customer_id"}, (const char *[]){"customer_id"});
    sqlgen_select(q, T("c", "country"), NULL);
    sqlgen_select(q, T("i", "total", SQLGEN_SUM), "total");
    sqlgen_select(q, T("i", "invoice_date", SQLGEN_COUNT_DISTINCT, SQLGEN_YEAR), "years");
    sqlgen_where(q, T("i", "billing_city"), SQLGEN_NE, V(SQLGEN_TEXT, "O'Brien\\x"), 1);
    sqlgen_group_by(q, T("c", "country"));
    sqlgen_having(q, T(NULL, NULL, SQLGEN_COUNT), SQLGEN_GE, V(SQLGEN_NUMBER, "7"), 1);
    sqlgen_order_by_output(q, "total", 1);
    sqlgen_order_by(q, T("c", "country"), 0);
    sqlgen_limit(q, 5);
    same_driver_rows(drv, conn, q,
                     "SELECT c.country, SUM(i.total) AS total, COUNT(DISTINCT date_part('year', "
                     "i.invoice_date)) FROM invoice i JOIN customer c USING (customer_id) GROUP BY "
                     "c.country HAVING COUNT(*) >= 7 ORDER BY total DESC, c.country LIMIT 5",
                     5);

    q = sqlgen_new(NULL, "track", NULL);
    sqlgen_select(q, T(NULL, "track_id"), NULL);
    sqlgen_where(q, T(NULL, "name"), SQLGEN_EQ,
                 V(SQLGEN_TEXT, "Cavalleria Rusticana \\ Act \\ Intermezzo Sinfonico"), 1);
    same_driver_rows(drv, conn, q, "SELECT track_id FROM track WHERE track_id = 3435", 1);
    q = sqlgen_new(NULL, "track", NULL);
    sqlgen_select(q, T(NULL, "track_id"), NULL);
    sqlgen_where(q, T(NULL, "name"), SQLGEN_CONTAINS, V(SQLGEN_TEXT, "JANIE'S"), 1);
    sqlgen_where(q, T(NULL, "name"), SQLGEN_STARTS_WITH, V(SQLGEN_TEXT, "jan"), 1);
    same_driver_rows(drv, conn, q, "SELECT track_id FROM track WHERE name = 'Janie''s Got A Gun'",
                     1);
    q = sqlgen_new(NULL, "invoice", NULL);
    sqlgen_select(q, T(NULL, "invoice_date", 0, SQLGEN_MONTH), "month");
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), "n");
    sqlgen_where(q, T(NULL, "invoice_date"), SQLGEN_GE, V(SQLGEN_TIMESTAMP, "2022-01-01 00:00"), 1);
    sqlgen_where(q, T(NULL, "invoice_date"), SQLGEN_LT, V(SQLGEN_DATE, "2023-01-01"), 1);
    sqlgen_group_by(q, T(NULL, "invoice_date", 0, SQLGEN_MONTH));
    sqlgen_order_by_output(q, "month", 0);
    same_driver_rows(drv, conn, q,
                     "SELECT extract(month FROM invoice_date)::int, count(*) FROM invoice WHERE "
                     "invoice_date >= '2022-01-01' AND invoice_date < '2023-01-01' GROUP BY 1 "
                     "ORDER BY 1",
                     12);
    drv->close(conn);
}

static void test_execute_mysql(void)
{
    const struct quarry_driver *drv;
    struct quarry_conn *conn = open_service("mysql", "QUARRY_TEST_MYSQL_URL", &drv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);

    struct sqlgen_query *q = full_query();
    same_driver_rows(drv, conn, q,
                     "SELECT c.Country, SUM(i.Total) AS total FROM Invoice i JOIN Customer c ON "
                     "c.CustomerId = i.CustomerId GROUP BY c.Country HAVING COUNT(*) > 5 ORDER BY "
                     "total DESC LIMIT 5",
                     5);

    /* A backslash and a quote in one value: as a literal, never as syntax. */
    q = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), NULL);
    sqlgen_where(q, T(NULL, "Name"), SQLGEN_NE, V(SQLGEN_TEXT, "x\\' OR '1'='1"), 1);
    same_driver_rows(drv, conn, q, "SELECT COUNT(*) FROM Track", 1);
    q = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(q, T(NULL, "TrackId"), NULL);
    const struct sqlgen_value names[] = {{SQLGEN_TEXT, "Janie's Got A Gun"},
                                         {SQLGEN_TEXT, "a\\'b"}};
    sqlgen_where(q, T(NULL, "Name"), SQLGEN_IN, names, 2);
    same_driver_rows(drv, conn, q, "SELECT 28", 1);
    q = sqlgen_new(NULL, "Track", NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), NULL);
    sqlgen_where(q, T(NULL, "Name"), SQLGEN_CONTAINS, V(SQLGEN_TEXT, "100%"), 1);
    same_driver_rows(drv, conn, q, "SELECT COUNT(*) FROM Track WHERE LOCATE('100%', Name) > 0", 1);
    q = sqlgen_new(NULL, "Invoice", NULL);
    sqlgen_select(q, T(NULL, "InvoiceDate", 0, SQLGEN_YEAR), "year");
    sqlgen_select(q, T(NULL, "Total", SQLGEN_MAX), "biggest");
    sqlgen_group_by(q, T(NULL, "InvoiceDate", 0, SQLGEN_YEAR));
    sqlgen_order_by_output(q, "year", 0);
    same_driver_rows(drv, conn, q,
                     "SELECT YEAR(InvoiceDate), MAX(Total) FROM Invoice GROUP BY 1 ORDER BY 1", 5);
    drv->close(conn);
}

/* ------------------------------------------------------------------------ */
/* MongoDB                                                                  */
/* ------------------------------------------------------------------------ */

static void test_render_mongodb(void)
{
    struct sqlgen_query *q = sqlgen_new(NULL, "orders", "o");
    sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "customers", "c", "o", 1,
                (const char *[]){"customer_id"}, (const char *[]){"_id"});
    sqlgen_select(q, T("c", "name"), "customer");
    sqlgen_select(q, T("o", "total", SQLGEN_SUM), NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), NULL);
    sqlgen_select(q, T("o", "status", SQLGEN_COUNT_DISTINCT), "statuses");
    sqlgen_where(q, T("o", "status"), SQLGEN_NE, V(SQLGEN_TEXT, "can\"celled"), 1);
    sqlgen_where(q, T("c", "address.city"), SQLGEN_IN,
                 ((const struct sqlgen_value[]){{SQLGEN_TEXT, "Porto"}, {SQLGEN_NUMBER, "7"}}), 2);
    sqlgen_where(q, T("o", "created_at"), SQLGEN_GE, V(SQLGEN_DATE, "2023-01-01"), 1);
    sqlgen_group_by(q, T("c", "_id"));
    sqlgen_group_by(q, T("c", "name"));
    sqlgen_having(q, T(NULL, NULL, SQLGEN_COUNT), SQLGEN_GT, V(SQLGEN_NUMBER, "2"), 1);
    sqlgen_order_by_output(q, "sum_total", 1);
    sqlgen_order_by(q, T("c", "name"), 0);
    sqlgen_limit(q, 3);
    expect(q, mongo_c,
           "{\"aggregate\":\"orders\",\"pipeline\":["
           "{\"$lookup\":{\"from\":\"customers\",\"localField\":\"customer_id\","
           "\"foreignField\":\"_id\",\"as\":\"c\"}},"
           "{\"$unwind\":\"$c\"},"
           "{\"$match\":{\"$and\":[{\"status\":{\"$ne\":\"can\\\"celled\"}},"
           "{\"c.address.city\":{\"$in\":[\"Porto\",7]}},"
           "{\"created_at\":{\"$gte\":{\"$date\":\"2023-01-01T00:00:00.000Z\"}}}]}},"
           "{\"$group\":{\"_id\":{\"k0\":\"$c._id\",\"k1\":\"$c.name\"},"
           "\"sum_total\":{\"$sum\":\"$total\"},\"count\":{\"$sum\":1},"
           "\"statuses\":{\"$addToSet\":\"$status\"}}},"
           "{\"$project\":{\"_id\":0,\"customer\":\"$_id.k1\",\"sum_total\":\"$sum_total\","
           "\"count\":\"$count\",\"statuses\":{\"$size\":\"$statuses\"}}},"
           "{\"$match\":{\"count\":{\"$gt\":2}}},"
           "{\"$sort\":{\"sum_total\":-1,\"customer\":1}},"
           "{\"$limit\":3}]}",
           0, "mongo grouped");
    sqlgen_free(q);

    /* Not grouped: sort and limit on fields, then the projection; a left join keeps orphans. */
    q = sqlgen_new(NULL, "orders", NULL);
    sqlgen_join(q, SQLGEN_JOIN_LEFT, NULL, "customers", "cust", "orders", 1,
                (const char *[]){"customer_id"}, (const char *[]){"_id"});
    sqlgen_select(q, T(NULL, "_id"), NULL);
    sqlgen_select(q, T("cust", "address.city"), NULL);
    sqlgen_select(q, T(NULL, "created_at", 0, SQLGEN_YEAR), NULL);
    sqlgen_where(q, T(NULL, "status"), SQLGEN_CONTAINS, V(SQLGEN_TEXT, "a.b*(c)"), 1);
    sqlgen_where(q, T(NULL, "total"), SQLGEN_LT, V(SQLGEN_NUMBER, "-1.5"), 1);
    sqlgen_where(q, T(NULL, "paid"), SQLGEN_EQ, V(SQLGEN_BOOL, "true"), 1);
    sqlgen_where(q, T(NULL, "note"), SQLGEN_IS_NULL, NULL, 0);
    sqlgen_where(q, T(NULL, "at"), SQLGEN_LT, V(SQLGEN_TIMESTAMP, "2023-05-06 07:08:09.5"), 1);
    sqlgen_where(q, T(NULL, "sku"), SQLGEN_STARTS_WITH, V(SQLGEN_TEXT, "P-"), 1);
    sqlgen_order_by(q, T("cust", "name"), 1);
    sqlgen_limit(q, 10);
    expect(q, mongo_c,
           "{\"aggregate\":\"orders\",\"pipeline\":["
           "{\"$lookup\":{\"from\":\"customers\",\"localField\":\"customer_id\","
           "\"foreignField\":\"_id\",\"as\":\"cust\"}},"
           "{\"$unwind\":{\"path\":\"$cust\",\"preserveNullAndEmptyArrays\":true}},"
           "{\"$match\":{\"$and\":[{\"status\":{\"$regex\":\"a\\\\.b\\\\*\\\\(c\\\\)\",\"$"
           "options\":\"i\"}},"
           "{\"total\":{\"$lt\":-1.5}},{\"paid\":{\"$eq\":true}},{\"note\":{\"$eq\":null}},"
           "{\"at\":{\"$lt\":{\"$date\":\"2023-05-06T07:08:09.500Z\"}}},"
           "{\"sku\":{\"$regex\":\"^P-\",\"$options\":\"i\"}}]}},"
           "{\"$sort\":{\"cust.name\":-1}},{\"$limit\":10},"
           "{\"$project\":{\"_id\":\"$_id\",\"address_city\":\"$cust.address.city\","
           "\"created_at_year\":{\"$year\":\"$created_at\"}}}]}",
           0, "mongo plain");
    sqlgen_free(q);

    /* Counting a collection; DISTINCT as a group. */
    q = sqlgen_new(NULL, "orders", NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), "n");
    sqlgen_where(q, T(NULL, "status"), SQLGEN_EQ, V(SQLGEN_TEXT, "paid"), 1);
    expect(
        q, mongo_c,
        "{\"aggregate\":\"orders\",\"pipeline\":[{\"$match\":{\"status\":{\"$eq\":\"paid\"}}},"
        "{\"$group\":{\"_id\":null,\"n\":{\"$sum\":1}}},{\"$project\":{\"_id\":0,\"n\":\"$n\"}}]}",
        0, "mongo count");
    sqlgen_free(q);
    q = sqlgen_new(NULL, "orders", NULL);
    sqlgen_select(q, T(NULL, "status"), NULL);
    sqlgen_select(q, T(NULL, "total", SQLGEN_COUNT), "with_total");
    sqlgen_group_by(q, T(NULL, "status"));
    expect(q, mongo_c,
           "{\"aggregate\":\"orders\",\"pipeline\":[{\"$group\":{\"_id\":\"$status\","
           "\"with_total\":{\"$sum\":{\"$cond\":[{\"$ne\":[\"$total\",null]},1,0]}}}},"
           "{\"$project\":{\"_id\":0,\"status\":\"$_id\",\"with_total\":\"$with_total\"}}]}",
           0, "mongo count column");
    sqlgen_free(q);
}

static void test_mongodb_refusals(void)
{
    struct sqlgen_query *q;
#define MONGO_REFUSED(status, build, what)                                                         \
    do {                                                                                           \
        q = sqlgen_new(NULL, "orders", NULL);                                                      \
        build;                                                                                     \
        expect(q, mongo_c, NULL, status, what);                                                    \
        sqlgen_free(q);                                                                            \
    } while (0)
    MONGO_REFUSED(QUARRY_ERR_UNSUPPORTED,
                  sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "c", NULL, "orders", 2,
                              (const char *[]){"a", "b"}, (const char *[]){"a", "b"}),
                  "two-column join");
    MONGO_REFUSED(QUARRY_ERR_UNSUPPORTED,
                  sqlgen_join(q, SQLGEN_JOIN_INNER, "otherdb", "c", NULL, "orders", 1,
                              (const char *[]){"a"}, (const char *[]){"b"}),
                  "join across databases");
    MONGO_REFUSED(
        QUARRY_ERR_UNSUPPORTED,
        sqlgen_where(q, T(NULL, "d", 0, SQLGEN_YEAR), SQLGEN_EQ, V(SQLGEN_NUMBER, "2023"), 1),
        "date part in WHERE");
    MONGO_REFUSED(QUARRY_ERR_UNSUPPORTED,
                  (sqlgen_select(q, T(NULL, "s"), NULL), sqlgen_group_by(q, T(NULL, "s")),
                   sqlgen_order_by(q, T(NULL, "total"), 0)),
                  "grouped ORDER BY on what is not selected");
    MONGO_REFUSED(
        QUARRY_ERR_UNSUPPORTED,
        (sqlgen_select(q, T(NULL, "s"), NULL), sqlgen_group_by(q, T(NULL, "s")),
         sqlgen_having(q, T(NULL, NULL, SQLGEN_COUNT), SQLGEN_GT, V(SQLGEN_NUMBER, "1"), 1)),
        "HAVING on what is not selected");
    MONGO_REFUSED(
        QUARRY_ERR_INVALID,
        (sqlgen_select(q, T(NULL, "s"), NULL), sqlgen_select(q, T(NULL, "t", SQLGEN_SUM), NULL)),
        "neither grouped nor aggregated");
    MONGO_REFUSED(QUARRY_ERR_INVALID, sqlgen_select(q, T(NULL, "$where"), NULL), "$ field");
    MONGO_REFUSED(QUARRY_ERR_INVALID, sqlgen_select(q, T(NULL, "a..b"), NULL), "empty segment");
    MONGO_REFUSED(QUARRY_ERR_INVALID, sqlgen_select(q, T(NULL, "a"), "x.y"), "dotted output");
    MONGO_REFUSED(QUARRY_ERR_INVALID,
                  (sqlgen_select(q, T(NULL, "a"), "x"), sqlgen_select(q, T(NULL, "b"), "x")),
                  "duplicate output");
#undef MONGO_REFUSED
    q = sqlgen_new(NULL, "$cmd", NULL);
    expect(q, mongo_c, NULL, QUARRY_ERR_INVALID, "collection name");
    sqlgen_free(q);
}

/* Orders per status, counted here from the peer's own fixture file. */
static json_t *fixture_orders(void)
{
    json_error_t jerr;
    json_t *fixture =
        json_load_file(QUARRY_TEST_SOURCE_DIR "/tests/peers/mongo_fixture.json", 0, &jerr);
    json_t *orders = json_incref(json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(fixture, "databases"), "shop"),
                            "collections"),
            "orders"),
        "documents"));
    json_decref(fixture);
    return orders;
}

static void test_execute_mongodb(void)
{
    const struct quarry_driver *drv;
    struct quarry_conn *conn = open_service("mongodb", "QUARRY_TEST_MONGO_URL", &drv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    json_t *orders = fixture_orders();
    CU_ASSERT_FATAL(json_array_size(orders) > 100);

    /* Expected: counts and sums per status, from the file. */
    json_t *want = json_object();
    size_t i;
    json_t *o;
    long shipped_big = 0;
    json_array_foreach(orders, i, o)
    {
        const char *status = json_string_value(json_object_get(o, "status"));
        json_t *n = json_object_get(want, status);
        json_object_set_new(want, status, json_integer(json_integer_value(n) + 1));
        double total = json_number_value(json_object_get(o, "total"));
        shipped_big += strcmp(status, "shipped") == 0 && total > 100;
    }

    struct catalog *c = catalog_new(drv);
    struct quarry_error err;
    struct sqlgen_query *q = sqlgen_new(NULL, "orders", NULL);
    sqlgen_select(q, T(NULL, "status"), NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), "n");
    sqlgen_group_by(q, T(NULL, "status"));
    sqlgen_order_by_output(q, "status", 0);
    host_error_init(&err);
    char *pipeline = sqlgen_render(q, c, &err);
    sqlgen_free(q);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pipeline);
    json_t *rows = driver_rows(drv, conn, pipeline);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_EQUAL(json_array_size(rows), json_object_size(want));
    const char *prev = "";
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *status = json_string_value(json_array_get(row, 0));
        CU_ASSERT_PTR_NOT_NULL_FATAL(status);
        CU_ASSERT(strcmp(prev, status) < 0);
        CU_ASSERT_EQUAL(json_integer_value(json_array_get(row, 1)),
                        json_integer_value(json_object_get(want, status)));
        prev = status;
    }
    json_decref(rows);
    free(pipeline);

    /* A filter on two fields, counted. */
    q = sqlgen_new(NULL, "orders", NULL);
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), "n");
    sqlgen_where(q, T(NULL, "status"), SQLGEN_EQ, V(SQLGEN_TEXT, "shipped"), 1);
    sqlgen_where(q, T(NULL, "total"), SQLGEN_GT, V(SQLGEN_NUMBER, "100"), 1);
    host_error_init(&err);
    pipeline = sqlgen_render(q, c, &err);
    sqlgen_free(q);
    rows = driver_rows(drv, conn, pipeline);
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_array_get(rows, 0), 0)), shipped_big);
    CU_ASSERT(shipped_big > 0);
    json_decref(rows);
    free(pipeline);

    /* $lookup: every order joins its customer; the top customer by order count. */
    q = sqlgen_new(NULL, "orders", "o");
    sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "customers", "c", "o", 1,
                (const char *[]){"customer_id"}, (const char *[]){"_id"});
    sqlgen_select(q, T("c", "name"), "name");
    sqlgen_select(q, T(NULL, NULL, SQLGEN_COUNT), "n");
    sqlgen_group_by(q, T("c", "name"));
    sqlgen_order_by_output(q, "n", 1);
    host_error_init(&err);
    pipeline = sqlgen_render(q, c, &err);
    sqlgen_free(q);
    rows = driver_rows(drv, conn, pipeline);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    json_int_t joined = 0;
    json_array_foreach(rows, i, row)
    {
        joined += json_integer_value(json_array_get(row, 1));
        if (i > 0)
            CU_ASSERT(json_integer_value(json_array_get(row, 1)) <=
                      json_integer_value(json_array_get(json_array_get(rows, i - 1), 1)));
    }
    CU_ASSERT(json_array_size(rows) >= 2);
    CU_ASSERT_EQUAL(joined, (json_int_t)json_array_size(orders)); /* every order has its customer */
    json_decref(rows);
    free(pipeline);

    catalog_free(c);
    json_decref(want);
    json_decref(orders);
    drv->close(conn);
}

void register_sqlgen_tests(void)
{
    CU_pSuite s = CU_add_suite("sqlgen", render_init, render_cleanup);
    CU_add_test(s, "render in every dialect", test_render_dialects);
    CU_add_test(s, "render literals", test_render_literals);
    CU_add_test(s, "render date parts", test_render_date_parts);
    CU_add_test(s, "refuse bad values", test_invalid_values);
    CU_add_test(s, "refuse bad queries", test_invalid_queries);
    CU_add_test(s, "run on Chinook (sqlite)", test_execute_sqlite_chinook);
    CU_add_test(s, "run on Northwind (sqlite)", test_execute_sqlite_northwind);
    CU_add_test(s, "run on PostgreSQL", test_execute_postgres);
    CU_add_test(s, "run on MariaDB", test_execute_mysql);
    CU_add_test(s, "render MongoDB pipelines", test_render_mongodb);
    CU_add_test(s, "refuse what MongoDB cannot express", test_mongodb_refusals);
    CU_add_test(s, "run on the MongoDB peer", test_execute_mongodb);
}
