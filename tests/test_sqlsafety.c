/*
 * The read-only gate: a table of statements per dialect, each accepted or
 * refused with a given reason; every accepted statement that SQLite can run
 * is then executed through the real sqlite driver on a copy of Chinook, as
 * is its row-limited form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "harness.h"
#include "host.h"
#include "loader.h"
#include "sqlsafety.h"

#define PG 1u
#define MY 2u
#define LITE 4u
#define ALL (PG | MY | LITE)

static const char *const dialect_names[] = {"postgresql", "mysql", "sqlite"};

/* `refusal` NULL: accepted; else a substring of the reason. `run`: execute on Chinook. */
struct sql_case {
    unsigned dialects;
    const char *sql;
    const char *refusal;
    int run;
};

#define OK_RUN(d, s)                                                                               \
    {                                                                                              \
        d, s, NULL, 1                                                                              \
    }
#define OK(d, s)                                                                                   \
    {                                                                                              \
        d, s, NULL, 0                                                                              \
    }
#define NO(d, s, why)                                                                              \
    {                                                                                              \
        d, s, why, 0                                                                               \
    }

static const struct sql_case cases[] = {
    /* Accepted everywhere, and valid SQLite on Chinook. */
    OK_RUN(ALL, "SELECT 1"),
    OK_RUN(ALL, "SELECT * FROM Artist"),
    OK_RUN(ALL, "select Name from Artist where ArtistId = 1;"),
    OK_RUN(ALL, "SELECT Name FROM Artist WHERE Name = 'DELETE FROM Artist; --'"),
    OK_RUN(ALL, "SELECT 'a;b' AS x, 'it''s' AS y"),
    OK_RUN(ALL, "SELECT Name FROM Artist LIMIT 5"),
    OK_RUN(ALL, "SELECT 1 AS \"delete\""),
    OK_RUN(ALL, "SELECT \"delete\" FROM (SELECT 1 AS \"delete\") AS d"),
    OK_RUN(ALL, "SELECT \"into\" FROM (SELECT 1 AS \"into\") AS d"),
    OK_RUN(ALL, "SELECT Name AS \"for update\" FROM Artist LIMIT 1"),
    OK_RUN(ALL, "SELECT 1 AS \"pg_read_file\""),
    OK_RUN(ALL, "-- a leading comment\nSELECT 1"),
    OK_RUN(ALL, "/* block */ SELECT 1 /* trailing */"),
    OK_RUN(ALL, "SELECT 1; "),
    OK_RUN(ALL, "SELECT 1;;"),
    OK_RUN(ALL, "SELECT 1 -- DROP TABLE Artist"),
    OK_RUN(ALL, "SELECT /* ; DROP TABLE Artist; */ 1"),
    OK_RUN(ALL, "SELECT 1 -- a comment at the very end"),
    OK_RUN(ALL, "\n\t SELECT 1 \n"),
    OK_RUN(ALL, "WITH a AS (SELECT ArtistId FROM Artist) SELECT count(*) FROM a"),
    OK_RUN(ALL, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) "
                "SELECT sum(x) FROM c"),
    OK_RUN(ALL, "WITH a AS (SELECT 1 AS v), b AS (SELECT v + 1 AS v FROM a) SELECT * FROM b"),
    OK_RUN(ALL, "WITH a (n) AS (SELECT 1) SELECT n FROM a"),
    OK_RUN(ALL, "SELECT * FROM Album WHERE ArtistId IN "
                "(SELECT ArtistId FROM Artist WHERE Name LIKE 'A%')"),
    OK_RUN(ALL, "SELECT a.Title, ar.Name FROM Album a JOIN Artist ar ON ar.ArtistId = a.ArtistId "
                "ORDER BY a.Title LIMIT 10"),
    OK_RUN(ALL, "SELECT g.Name, COUNT(*) AS n FROM Track t JOIN Genre g ON g.GenreId = t.GenreId "
                "GROUP BY g.Name HAVING COUNT(*) > 10 ORDER BY n DESC"),
    OK_RUN(ALL, "SELECT Name FROM Artist UNION SELECT Name FROM Genre"),
    OK_RUN(ALL, "SELECT Name FROM Artist EXCEPT SELECT Name FROM Genre"),
    OK_RUN(ALL, "SELECT CASE WHEN Milliseconds > 300000 THEN 'long' ELSE 'short' END AS kind "
                "FROM Track LIMIT 3"),
    OK_RUN(ALL, "SELECT EXISTS (SELECT 1 FROM Invoice WHERE Total > 20)"),
    OK_RUN(ALL, "VALUES (1), (2)"),
    OK_RUN(ALL, "SELECT replace(Name, 'a', 'b') FROM Artist LIMIT 2"),
    OK_RUN(ALL, "SELECT updated FROM (SELECT 1 AS updated) AS u"),
    OK_RUN(ALL, "SELECT 'INSERT INTO x VALUES (1)' AS sql_text"),
    OK_RUN(ALL, "SELECT count(*) FROM Invoice WHERE BillingCountry = 'USA' AND Total >= 1.98e0"),
    OK_RUN(ALL, "SELECT (SELECT max(Total) FROM Invoice) - (SELECT min(Total) FROM Invoice)"),
    OK_RUN(ALL, "SELECT * FROM (SELECT * FROM Track ORDER BY Milliseconds DESC LIMIT 5) AS t "
                "ORDER BY Name"),
    OK_RUN(ALL, "SELECT Name FROM Track WHERE Name LIKE '%sleep(%'"),
    OK_RUN(ALL, "SELECT CustomerId, sum(Total) OVER (PARTITION BY CustomerId) FROM Invoice "
                "LIMIT 5"),
    OK_RUN(ALL, "SELECT substr(Name, 1, 3) FROM Artist LIMIT 3"),
    OK_RUN(ALL, "SELECT coalesce(NULL, 'x')"),
    OK_RUN(ALL, "SELECT * FROM Artist WHERE Name = 'Drop' OR Name = 'Create'"),
    OK_RUN(ALL, "SELECT Name FROM Artist ORDER BY 1 LIMIT 3 OFFSET 2"),
    OK_RUN(ALL, "SELECT 1 /* a comment */ + 2"),

    /* Refused everywhere. */
    NO(ALL, "INSERT INTO Artist (Name) VALUES ('x')", "not INSERT"),
    NO(ALL, "UPDATE Artist SET Name = 'x'", "not UPDATE"),
    NO(ALL, "DELETE FROM Artist", "not DELETE"),
    NO(ALL, "DROP TABLE Artist", "not DROP"),
    NO(ALL, "CREATE TABLE x (a int)", "not CREATE"),
    NO(ALL, "ALTER TABLE Artist ADD COLUMN x int", "not ALTER"),
    NO(ALL, "TRUNCATE Artist", "not TRUNCATE"),
    NO(ALL, "GRANT SELECT ON Artist TO bob", "not GRANT"),
    NO(ALL, "COPY Artist TO '/tmp/x'", "not COPY"),
    NO(ALL, "CALL proc()", "not CALL"),
    NO(ALL, "DO 1", "not DO"),
    NO(ALL, "EXECUTE stmt", "not EXECUTE"),
    NO(ALL, "PREPARE s AS SELECT 1", "not PREPARE"),
    NO(ALL, "SET search_path = x", "not SET"),
    NO(ALL, "LOCK TABLE Artist", "not LOCK"),
    NO(ALL, "EXPLAIN SELECT 1", "not EXPLAIN"),
    NO(ALL, "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", "not MERGE"),
    NO(ALL, "REPLACE INTO Artist VALUES (1, 'x')", "not REPLACE"),
    NO(ALL, "SHOW TABLES", "not SHOW"),
    NO(ALL, "ATTACH DATABASE '/tmp/x.db' AS x", "not ATTACH"),
    NO(ALL, "PRAGMA writable_schema = 1", "not PRAGMA"),
    NO(ALL, "SELECT 1; SELECT 2", "one statement"),
    NO(ALL, "SELECT 1; DELETE FROM Artist", "one statement"),
    NO(ALL, "SELECT 1; -- \n/* */ DROP TABLE Artist", "one statement"),
    NO(ALL, "SELECT * FROM Artist WHERE ArtistId = 1 OR 1=1; DROP TABLE Artist; --",
       "one statement"),
    NO(ALL, "BEGIN; SELECT 1", "one statement"),
    NO(ALL, "SELECT * INTO newtab FROM Artist", "INTO"),
    NO(ALL, "SELECT 1 INTO @x", "INTO"),
    NO(ALL, "SELECT * FROM Artist INTO OUTFILE '/tmp/x'", "INTO"),
    NO(ALL, "SELECT * FROM Artist FOR UPDATE", "locking"),
    NO(ALL, "SELECT * FROM Artist FOR SHARE", "locking"),
    NO(ALL, "SELECT * FROM Artist FOR NO KEY UPDATE", "locking"),
    NO(ALL, "WITH x AS (DELETE FROM Artist RETURNING *) SELECT * FROM x", "WITH query"),
    NO(ALL, "WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1", "WITH query"),
    NO(ALL, "WITH a AS (SELECT 1), b AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM b",
       "WITH query"),
    NO(ALL, "WITH x AS (SELECT 1) DELETE FROM Artist", "after WITH"),
    NO(ALL, "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "after WITH"),
    NO(ALL, "SELECT * FROM (DELETE FROM t RETURNING *) AS d", "DELETE inside a query"),
    NO(ALL, "SELECT * FROM (WITH y AS (DELETE FROM t RETURNING *) SELECT * FROM y) AS s",
       "WITH query"),
    NO(ALL, "WITH AS (SELECT 1) SELECT 1", "malformed WITH"),
    NO(ALL, "SELECT 'unterminated", "unterminated string"),
    NO(ALL, "SELECT 1 /* unterminated", "unterminated comment"),
    NO(ALL, "SELECT \"unterminated", "unterminated"),
    NO(ALL, "", "empty"),
    NO(ALL, "   \n\t", "empty"),
    NO(ALL, "-- only a comment", "empty"),
    NO(ALL, ";", "empty"),
    NO(ALL, "SELECT (1", "unbalanced"),
    NO(ALL, "SELECT 1)", "unbalanced"),
    NO(ALL, "SELECT load_file('/etc/passwd')", "function load_file"),
    NO(ALL, "SELECT pg_read_file('/etc/passwd')", "function pg_read_file"),
    NO(ALL, "SELECT sleep(10)", "function sleep"),
    NO(ALL, "SELECT SLEEP /* hidden */ (10)", "function SLEEP"),
    NO(ALL, "SELECT pg_catalog.pg_sleep(10)", "function pg_sleep"),
    NO(ALL, "SELECT load_extension('/tmp/evil.so')", "function load_extension"),
    NO(ALL, "SELECT readfile('/etc/passwd')", "function readfile"),
    NO(ALL, "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)", "function dblink"),
    NO(ALL, "SELECT benchmark(1000000000, md5('x'))", "function benchmark"),
    NO(ALL, "SELECT get_lock('x', 10)", "function get_lock"),
    NO(ALL, "SELECT 1 FROM Artist WHERE 1 = (SELECT count(*) FROM pg_ls_dir('.'))",
       "function pg_ls_dir"),
    NO(ALL, "SELECT \"pg_read_file\"('/etc/passwd')", "function pg_read_file"),

    /* PostgreSQL. */
    OK(PG, "SELECT $$DELETE FROM t; DROP$$ AS s"),
    OK(PG, "SELECT $tag$ it's $$ fine; DROP $tag$"),
    OK(PG, "SELECT E'it\\'s; DROP TABLE x'"),
    OK(PG, "SELECT /* outer /* inner */ still a comment; DROP TABLE t */ 1"),
    OK(PG, "SELECT \"delete\" FROM \"select\""),
    OK(PG, "TABLE Artist"),
    OK(PG, "(SELECT 1) UNION (SELECT 2)"),
    OK(PG, "SELECT x::text FROM generate_series(1, 3) AS g(x)"),
    OK(PG, "SELECT now() - interval '30 days'"),
    OK(PG, "SELECT current_setting('server_version')"),
    OK(PG, "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) "
           "SEARCH DEPTH FIRST BY n SET ord SELECT * FROM t ORDER BY ord"),
    OK(PG, "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) "
           "CYCLE n SET is_cycle USING path SELECT n FROM t"),
    OK(PG, "WITH t AS MATERIALIZED (SELECT 1) SELECT * FROM t"),
    OK(PG, "WITH t AS NOT MATERIALIZED (SELECT 1) SELECT * FROM t"),
    OK(PG, "SELECT a$b FROM t"),
    OK(PG, "SELECT $1"),
    OK(PG, "SELECT U&'d\\0061t\\+000061'"),
    OK(PG, "SELECT 'a' || 'b' FROM t WHERE c ~ '^x' AND d #> '{a}' IS NOT NULL"),
    OK(PG, "SELECT substring('abc' FROM 1 FOR 2)"),
    OK(PG, "SELECT * FROM t ORDER BY a FETCH FIRST 5 ROWS ONLY"),
    OK(PG, "SELECT x FROM t WHERE y = ANY(ARRAY['a', 'b'])"),
    OK(PG, "SELECT 'C:\\path'"),
    OK(PG, "SELECT 1 --1, pg_read_file('x')\n"),
    OK(PG, "SELECT E'\\'; DROP TABLE t; --'"),
    NO(PG, "SELECT $$unterminated", "unterminated dollar"),
    NO(PG, "SELECT $a$ x $b$", "unterminated dollar"),
    NO(PG, "SELECT $$ $$; DROP TABLE t; $$ $$", "one statement"),
    NO(PG, "SELECT $q$ a $q$; DROP TABLE t", "one statement"),
    NO(PG, "SELECT /* /* nested */ ; DROP TABLE t", "unterminated comment"),
    NO(PG, "SELECT '\\'; DELETE FROM t; --'", "one statement"),
    NO(PG, "SELECT 'a\\', pg_sleep(10), 'b'", "function pg_sleep"),
    NO(PG, "SELECT 'it\\'s'", "unterminated string"),
    NO(PG, "SELECT 'a\\', ' pg_sleep(1) '", "backslash"),
    NO(PG, "SELECT U&\"\\0070g_read_file\"('x')", "Unicode-escaped"),
    NO(PG, "SELECT * FROM t FOR KEY SHARE", "locking"),
    NO(PG, "WITH RECURSIVE t(n) AS (SELECT 1) SEARCH DEPTH FIRST BY n SET ord DELETE FROM t",
       "after WITH"),
    NO(PG, "SELECT pg_sleep_for('5 minutes')", "function pg_sleep_for"),
    NO(PG, "SELECT pg_advisory_lock(1)", "function pg_advisory_lock"),
    NO(PG, "SELECT dblink_exec('x', 'y')", "function dblink_exec"),
    NO(PG, "SELECT lo_import('/etc/passwd')", "function lo_import"),
    NO(PG, "SELECT lo_export(1, '/tmp/x')", "function lo_export"),
    NO(PG, "SELECT lo_get(1)", "function lo_get"),
    NO(PG, "SELECT pg_read_binary_file('x')", "function pg_read_binary_file"),
    NO(PG, "SELECT pg_stat_file('x')", "function pg_stat_file"),
    NO(PG, "SELECT set_config('work_mem', '1GB', false)", "function set_config"),
    NO(PG, "SELECT pg_terminate_backend(1)", "function pg_terminate_backend"),
    NO(PG, "SELECT pg_cancel_backend(1)", "function pg_cancel_backend"),
    NO(PG, "SELECT pg_reload_conf()", "function pg_reload_conf"),
    NO(PG, "SELECT nextval('s')", "function nextval"),
    NO(PG, "SELECT setval('s', 1)", "function setval"),
    NO(PG, "SELECT query_to_xml('select 1', true, false, '')", "function query_to_xml"),
    NO(PG, "SELECT ts_stat('select 1')", "function ts_stat"),
    NO(PG, "SELECT pg_notify('c', 'x')", "function pg_notify"),
    NO(PG, "DO $$BEGIN DELETE FROM t; END$$", "not DO"),
    NO(PG, "COMMENT ON TABLE t IS 'x'", "not COMMENT"),
    NO(PG, "REFRESH MATERIALIZED VIEW v", "not REFRESH"),
    NO(PG, "LISTEN x", "not LISTEN"),

    /* MySQL and MariaDB. */
    OK(MY, "SELECT `delete` FROM `select`"),
    OK(MY, "SELECT `a``b` FROM t"),
    OK(MY, "SELECT * FROM t WHERE a = \"DELETE FROM t\""),
    OK(MY, "SELECT 1 # comment; DROP TABLE t"),
    OK(MY, "SELECT 1 -- comment; DROP TABLE t"),
    OK(MY, "SELECT 1--1"),
    OK(MY, "SELECT 'C:\\\\temp'"),
    OK(MY, "SELECT 'it''s'"),
    OK(MY, "TABLE t"),
    OK(MY, "(SELECT 1) UNION (SELECT 2)"),
    OK(MY, "SELECT * FROM t LIMIT 5, 10"),
    OK(MY, "SELECT DATE_SUB(CURDATE(), INTERVAL 30 DAY)"),
    OK(MY, "SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t"),
    OK(MY, "SELECT IF(a > 1, 'x', 'y') FROM t"),
    OK(MY, "SELECT a, count(*) FROM t GROUP BY a WITH ROLLUP"),
    OK(MY, "SELECT insert('abc', 1, 1, 'x')"),
    OK(MY, "SELECT (insert('abc', 1, 1, 'x'))"),
    OK(MY, "SELECT @@version"),
    OK(MY, "SELECT _utf8mb4'abc' COLLATE utf8mb4_bin"),
    OK(MY, "SELECT x'4142'"),
    NO(MY, "SELECT 1 /*! ; DROP TABLE t */", "executable comments"),
    NO(MY, "SELECT 1 /*!50000 UNION SELECT load_file('x') */", "executable comments"),
    NO(MY, "SELECT 1 /*M! , sleep(5) */", "executable comments"),
    NO(MY, "SELECT 1 --1, load_file('/etc/passwd')", "function load_file"),
    NO(MY, "SELECT 1 #\nINTO OUTFILE '/tmp/x'", "INTO"),
    NO(MY, "SELECT * FROM t INTO DUMPFILE '/tmp/x'", "INTO"),
    NO(MY, "SELECT * FROM t LOCK IN SHARE MODE", "locking"),
    NO(MY, "SELECT 'a\\'b'", "backslash"),
    NO(MY, "SELECT 'a\\'; DROP TABLE t; -- '", "backslash"),
    NO(MY, "SELECT \"a\\\"b\"", "backslash"),
    NO(MY, "SELECT 'unterminated\\'", "unterminated string"),
    NO(MY, "HANDLER t OPEN", "not HANDLER"),
    NO(MY, "LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "not LOAD"),
    NO(MY, "SET GLOBAL x = 1", "not SET"),
    NO(MY, "FLUSH TABLES", "not FLUSH"),
    NO(MY, "KILL 1", "not KILL"),
    NO(MY, "USE mysql", "not USE"),
    NO(MY, "SELECT master_pos_wait('x', 1)", "function master_pos_wait"),
    NO(MY, "SELECT BENCHMARK(1, 1)", "function BENCHMARK"),
    NO(MY, "SELECT release_lock('x')", "function release_lock"),
    NO(MY, "SELECT sys_exec('id')", "function sys_exec"),
    NO(MY, "SELECT `load_file`('/etc/passwd')", "function load_file"),
    NO(MY, "SELECT \"sleep\"(1)", "function sleep"),

    /* SQLite. */
    OK_RUN(LITE, "SELECT [Name] FROM [Artist] LIMIT 2"),
    OK_RUN(LITE, "SELECT `Name` FROM `Artist` LIMIT 2"),
    OK_RUN(LITE, "SELECT X'414243'"),
    OK_RUN(LITE, "SELECT 'a\\' AS backslash"),
    OK_RUN(LITE, "SELECT 1 /* /* not nested */"),
    OK_RUN(LITE, "SELECT date('now', '-30 days')"),
    OK_RUN(LITE, "SELECT strftime('%Y', InvoiceDate) AS y, count(*) FROM Invoice GROUP BY y"),
    OK_RUN(LITE, "SELECT typeof(1)"),
    OK_RUN(LITE, "SELECT Name FROM Track WHERE Name GLOB '*Love*' LIMIT 3"),
    OK_RUN(LITE, "SELECT [into] FROM (SELECT 1 AS [into])"),
    OK_RUN(LITE, "SELECT ifnull(NULL, 2)"),
    OK_RUN(LITE, "SELECT json_extract('{\"a\": 1}', '$.a')"),
    OK_RUN(LITE, "SELECT printf('%d', 5)"),
    OK_RUN(LITE, "WITH t AS MATERIALIZED (SELECT 1 AS a) SELECT a FROM t"),
    OK_RUN(LITE, "SELECT Name FROM Artist WHERE Name LIKE 'A\\%' ESCAPE '\\'"),
    OK_RUN(LITE, "SELECT * FROM Album ORDER BY AlbumId DESC LIMIT 1"),
    OK_RUN(LITE, "SELECT count(DISTINCT GenreId) FROM Track"),
    OK_RUN(LITE, "SELECT InvoiceId FROM Invoice WHERE InvoiceDate BETWEEN '2009-01-01' AND "
                 "'2009-12-31' LIMIT 3"),
    OK_RUN(LITE, "SELECT Name FROM Artist WHERE Name = 'O''Brien' OR Name IS NULL"),
    NO(LITE, "DETACH DATABASE x", "not DETACH"),
    NO(LITE, "PRAGMA journal_mode = DELETE", "not PRAGMA"),
    NO(LITE, "VACUUM INTO '/tmp/x'", "not VACUUM"),
    NO(LITE, "REINDEX", "not REINDEX"),
    NO(LITE, "ANALYZE", "not ANALYZE"),
    NO(LITE, "INSERT OR REPLACE INTO Artist VALUES (1, 'x')", "not INSERT"),
    NO(LITE, "CREATE VIRTUAL TABLE v USING fts5(x)", "not CREATE"),
    NO(LITE, "SELECT writefile('/tmp/x', 'y')", "function writefile"),
    NO(LITE, "SELECT * FROM fsdir('/')", "function fsdir"),
    NO(LITE, "SELECT * FROM zipfile('/tmp/x.zip')", "function zipfile"),
    NO(LITE, "SELECT edit('x', 'vi')", "function edit"),
    NO(LITE, "SELECT fts3_tokenizer('simple')", "function fts3_tokenizer"),
    NO(LITE, "SELECT [unterminated FROM t", "unterminated quoted identifier"),
    NO(LITE, "SELECT 1 /* /* */ ; DROP TABLE Artist */", "one statement"),
    NO(LITE, "SELECT 1 FROM Artist; PRAGMA x", "one statement"),
    NO(LITE, "SELECT [x]('/etc/passwd') FROM t WHERE readfile ('/etc/passwd')",
       "function readfile"),
};

static const struct quarry_driver *drv;
static char *chinook;

/* ------------------------------------------------------------------------ */
/* Running statements through the sqlite driver                             */
/* ------------------------------------------------------------------------ */

struct rows {
    size_t n;
    char first[8][64]; /* first column of the first rows, as text */
};

static int rows_begin(void *ud, const struct quarry_column *cols, size_t ncols)
{
    (void)ud;
    (void)cols;
    (void)ncols;
    return QUARRY_SINK_CONTINUE;
}

static int rows_row(void *ud, const struct quarry_value *values, size_t nvalues)
{
    struct rows *r = ud;
    if (r->n < 8 && nvalues > 0) {
        const struct quarry_value *v = &values[0];
        if (v->type == QUARRY_VALUE_INT || v->type == QUARRY_VALUE_BOOL)
            snprintf(r->first[r->n], sizeof(r->first[0]), "%lld", (long long)v->i);
        else if (v->str)
            snprintf(r->first[r->n], sizeof(r->first[0]), "%.*s", (int)v->len, v->str);
    }
    r->n++;
    return QUARRY_SINK_CONTINUE;
}

static void rows_end(void *ud)
{
    (void)ud;
}

/* Runs `sql` on a fresh read-only connection to the Chinook copy. */
static int run_sqlite(const char *sql, struct rows *out, struct quarry_error *err)
{
    struct quarry_open_params p;
    struct quarry_conn *conn = NULL;
    struct host_call call;
    struct quarry_row_sink sink;
    char url[4096];
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    snprintf(url, sizeof(url), "sqlite:///%s", chinook);
    p.url = url;
    memset(out, 0, sizeof(*out));
    host_error_init(err);
    int status = drv->open(&p, &conn, err);
    if (status != QUARRY_OK)
        return status;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = out;
    sink.begin = rows_begin;
    sink.row = rows_row;
    sink.end = rows_end;
    host_call_init(&call, 10000, 0);
    status = drv->execute(conn, &call.ctx, sql, &sink, err);
    drv->close(conn);
    return status;
}

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
    return chinook ? 0 : -1;
}

static int suite_cleanup(void)
{
    free(chinook);
    chinook = NULL;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */
/* ------------------------------------------------------------------------ */

static void check_case(const struct sql_case *c, const char *dialect)
{
    struct sqlsafety_verdict v;
    int ok = sqlsafety_check(c->sql, dialect, &v);
    int want = c->refusal == NULL;
    if (ok != want || ok != v.ok || (ok && v.reason[0]) ||
        (!ok && (!v.reason[0] || !strstr(v.reason, c->refusal)))) {
        fprintf(stderr, "\n  [%s] %s\n    got %s (%s), want %s (%s)\n", dialect, c->sql,
                ok ? "accepted" : "refused", v.reason, want ? "accepted" : "refused",
                c->refusal ? c->refusal : "");
        CU_FAIL("verdict differs from the table");
    }
}

static void test_table(void)
{
    size_t per_dialect[3] = {0, 0, 0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t d = 0; d < 3; d++)
            if (cases[i].dialects & (1u << d)) {
                check_case(&cases[i], dialect_names[d]);
                per_dialect[d]++;
            }
    for (size_t d = 0; d < 3; d++)
        CU_ASSERT(per_dialect[d] >= 60);
}

/* Every accepted case SQLite understands runs on Chinook, plain and row-limited. */
static void test_accepted_run_on_sqlite(void)
{
    size_t ran = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct sql_case *c = &cases[i];
        if (!c->run)
            continue;
        struct rows plain, limited;
        struct quarry_error err;
        int status = run_sqlite(c->sql, &plain, &err);
        if (status != QUARRY_OK) {
            fprintf(stderr, "\n  %s\n    sqlite: %d %s\n", c->sql, status, err.message);
            CU_FAIL("an accepted statement did not run on sqlite");
            continue;
        }
        char *sql = sqlsafety_limit(c->sql, "sqlite", 2);
        CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
        status = run_sqlite(sql, &limited, &err);
        if (status != QUARRY_OK || limited.n != (plain.n < 2 ? plain.n : 2)) {
            fprintf(stderr, "\n  %s\n    limited: %d %s, %zu rows of %zu\n", sql, status,
                    err.message, limited.n, plain.n);
            CU_FAIL("the row-limited statement did not run or did not limit");
        }
        free(sql);
        ran++;
    }
    CU_ASSERT(ran >= 60);
}

/* Writes the gate refuses are refused by the driver too: the second line of defence. */
static void test_refused_writes_do_not_run(void)
{
    static const char *const writes[] = {"DELETE FROM Artist", "DROP TABLE Artist",
                                         "UPDATE Artist SET Name = 'x'"};
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        struct rows rows;
        struct quarry_error err;
        CU_ASSERT_EQUAL(sqlsafety_check(writes[i], "sqlite", NULL), 0);
        CU_ASSERT_NOT_EQUAL(run_sqlite(writes[i], &rows, &err), QUARRY_OK);
    }
    struct rows rows;
    struct quarry_error err;
    CU_ASSERT_EQUAL(run_sqlite("SELECT count(*) FROM Artist", &rows, &err), QUARRY_OK);
    CU_ASSERT_STRING_EQUAL(rows.first[0], "275");
}

/* ------------------------------------------------------------------------ */
/* Bounds and odd inputs                                                    */
/* ------------------------------------------------------------------------ */

static char *repeat_paren(size_t depth)
{
    char *sql = malloc(2 * depth + 16);
    size_t o = 0;
    o += (size_t)sprintf(sql, "SELECT ");
    for (size_t i = 0; i < depth; i++)
        sql[o++] = '(';
    sql[o++] = '1';
    for (size_t i = 0; i < depth; i++)
        sql[o++] = ')';
    sql[o] = '\0';
    return sql;
}

static void test_bounds(void)
{
    struct sqlsafety_verdict v;
    char *ok_depth = repeat_paren(SQLSAFETY_MAX_DEPTH);
    char *deep = repeat_paren(SQLSAFETY_MAX_DEPTH + 1);
    CU_ASSERT_EQUAL(sqlsafety_check(ok_depth, "postgresql", &v), 1);
    CU_ASSERT_EQUAL(sqlsafety_check(deep, "postgresql", &v), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "nested deeper"));
    free(ok_depth);
    free(deep);

    /* Exactly the bound passes; one byte more is refused. */
    char *big = malloc(SQLSAFETY_MAX_LEN + 2);
    memset(big, ' ', SQLSAFETY_MAX_LEN + 1);
    memcpy(big, "SELECT 1", 8);
    big[SQLSAFETY_MAX_LEN] = '\0';
    CU_ASSERT_EQUAL(sqlsafety_check(big, "sqlite", &v), 1);
    big[SQLSAFETY_MAX_LEN] = ' ';
    big[SQLSAFETY_MAX_LEN + 1] = '\0';
    CU_ASSERT_EQUAL(sqlsafety_check(big, "sqlite", &v), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "longer than"));
    CU_ASSERT_PTR_NULL(sqlsafety_normalize(big, "sqlite"));
    free(big);

    CU_ASSERT_EQUAL(sqlsafety_check(NULL, "sqlite", &v), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "empty"));
    CU_ASSERT_EQUAL(sqlsafety_check("SELECT 1", "sqlite", NULL), 1); /* verdict optional */
    CU_ASSERT_EQUAL(sqlsafety_check("DELETE FROM t", "sqlite", NULL), 0);
}

static void test_dialects(void)
{
    struct sqlsafety_verdict v;
    CU_ASSERT_EQUAL(sqlsafety_check("SELECT 1", "mongodb", &v), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "JSON command"));
    /* Unknown dialects lex as standard SQL and are held to the same rules. */
    CU_ASSERT_EQUAL(sqlsafety_check("SELECT 'a;b' FROM t", "duckdb", &v), 1);
    CU_ASSERT_EQUAL(sqlsafety_check("SELECT 1; DELETE FROM t", "duckdb", &v), 0);
    CU_ASSERT_EQUAL(sqlsafety_check("SELECT 1", NULL, &v), 1);
    CU_ASSERT_EQUAL(sqlsafety_check("SELECT 1", "PostgreSQL", &v), 1);
    /* Non-ASCII names reach a reason only as '?': the reason stays valid UTF-8. */
    CU_ASSERT_EQUAL(sqlsafety_check("\xc3\xa9"
                                    "crire t",
                                    "sqlite", &v),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "not ??crire"));
}

/* ------------------------------------------------------------------------ */
/* Normalize and limit                                                      */
/* ------------------------------------------------------------------------ */

static void expect_text(char *got, const char *want)
{
    if (!got || strcmp(got, want) != 0) {
        fprintf(stderr, "\n  got  [%s]\n  want [%s]\n", got ? got : "(null)", want);
        CU_FAIL("text differs");
    }
    free(got);
}

static void test_normalize(void)
{
    expect_text(sqlsafety_normalize("  /* c */ SELECT 1 ;; -- x", "sqlite"), "SELECT 1");
    expect_text(sqlsafety_normalize("SELECT 'a;' -- tail\n;\n", "postgresql"), "SELECT 'a;'");
    expect_text(sqlsafety_normalize("SELECT 1 # tail", "mysql"), "SELECT 1");
    expect_text(sqlsafety_normalize("SELECT $$x$$ /* a /* b */ c */;", "postgresql"),
                "SELECT $$x$$");
    CU_ASSERT_PTR_NULL(sqlsafety_normalize("", "sqlite"));
    CU_ASSERT_PTR_NULL(sqlsafety_normalize(" ; -- nothing", "sqlite"));
    CU_ASSERT_PTR_NULL(sqlsafety_normalize("SELECT 'open", "sqlite"));
    CU_ASSERT_PTR_NULL(sqlsafety_normalize(NULL, "sqlite"));
}

static void test_limit_forms(void)
{
    expect_text(sqlsafety_limit("SELECT Name FROM Artist ORDER BY Name DESC;", "sqlite", 3),
                "SELECT Name FROM Artist ORDER BY Name DESC\nLIMIT 3");
    expect_text(sqlsafety_limit("SELECT 1 -- comment", "postgresql", 5), "SELECT 1\nLIMIT 5");
    expect_text(sqlsafety_limit("SELECT * FROM Artist LIMIT 10", "mysql", 3),
                "SELECT * FROM (\nSELECT * FROM Artist LIMIT 10\n) AS quarry_q LIMIT 3");
    expect_text(sqlsafety_limit("VALUES (1), (2)", "sqlite", 1),
                "SELECT * FROM (\nVALUES (1), (2)\n) AS quarry_q LIMIT 1");
    expect_text(
        sqlsafety_limit("WITH a AS (SELECT x FROM t LIMIT 50) SELECT * FROM a", "postgresql", 7),
        "WITH a AS (SELECT x FROM t LIMIT 50) SELECT * FROM a\nLIMIT 7");
    expect_text(sqlsafety_limit("SELECT * FROM t FETCH FIRST 5 ROWS ONLY", "postgresql", 2),
                "SELECT * FROM (\nSELECT * FROM t FETCH FIRST 5 ROWS ONLY\n) AS quarry_q LIMIT 2");
    expect_text(sqlsafety_limit("TABLE t", "postgresql", 2),
                "SELECT * FROM (\nTABLE t\n) AS quarry_q LIMIT 2");
    expect_text(sqlsafety_limit("SELECT a FROM t", "duckdb", 4),
                "SELECT a FROM t\nFETCH FIRST 4 ROWS ONLY");
    expect_text(sqlsafety_limit("SELECT 1;", "sqlite", 0), "SELECT 1");
    CU_ASSERT_PTR_NULL(sqlsafety_limit("SELECT 'open", "sqlite", 3));
}

/* The appended LIMIT keeps the order and the column names a wrap would rename. */
static void test_limit_on_chinook(void)
{
    struct rows all, limited;
    struct quarry_error err;
    const char *sql = "SELECT Name, Name FROM Artist ORDER BY Name DESC";
    char *lim = sqlsafety_limit(sql, "sqlite", 3);
    CU_ASSERT_EQUAL_FATAL(run_sqlite(sql, &all, &err), QUARRY_OK);
    CU_ASSERT_EQUAL_FATAL(run_sqlite(lim, &limited, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(all.n, 275);
    CU_ASSERT_EQUAL(limited.n, 3);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(limited.first[i], all.first[i]);
    free(lim);

    lim = sqlsafety_limit("SELECT ArtistId FROM Artist ORDER BY ArtistId DESC LIMIT 100", "sqlite",
                          2);
    CU_ASSERT_EQUAL_FATAL(run_sqlite(lim, &limited, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(limited.n, 2);
    CU_ASSERT_STRING_EQUAL(limited.first[0], "275");
    CU_ASSERT_STRING_EQUAL(limited.first[1], "274");
    free(lim);
}

/* ------------------------------------------------------------------------ */
/* MongoDB commands                                                         */
/* ------------------------------------------------------------------------ */

static void test_pipeline(void)
{
    static const struct {
        const char *json;
        const char *refusal;
    } pcases[] = {
        {"{\"find\": \"customers\", \"filter\": {\"vip\": true}}", NULL},
        {"{\"aggregate\": \"orders\", \"pipeline\": [{\"$match\": {\"a\": 1}}, "
         "{\"$group\": {\"_id\": \"$x\", \"n\": {\"$sum\": 1}}}], \"cursor\": {}}",
         NULL},
        {"{\"find\": \"c\", \"filter\": {\"name\": \"$out\"}}", NULL},
        {"{\"insert\": \"c\", \"documents\": []}", "only find and aggregate"},
        {"{\"filter\": {}, \"find\": \"c\"}", "only find and aggregate"},
        {"{\"aggregate\": \"o\", \"pipeline\": [{\"$out\": \"x\"}]}", "$out"},
        {"{\"aggregate\": \"o\", \"pipeline\": [{\"$lookup\": {\"from\": \"x\", \"pipeline\": "
         "[{\"$merge\": {\"into\": \"y\"}}], \"as\": \"z\"}}]}",
         "$merge"},
        {"{\"find\": \"c\", \"filter\": {\"$where\": \"sleep(1000)\"}}", "$where"},
        {"{\"aggregate\": \"o\", \"pipeline\": [{\"$addFields\": {\"x\": {\"$function\": "
         "{\"body\": \"function() {}\", \"args\": [], \"lang\": \"js\"}}}}]}",
         "$function"},
        {"{\"aggregate\": \"o\"}", "pipeline"},
        {"{\"find\": 1}", "collection name"},
        {"{\"find\": \"\"}", "collection name"},
        {"{\"find\": \"a\", \"aggregate\": \"b\"}", "both"},
        {"{\"find\": \"c\", \"find\": \"d\"}", "not valid JSON"},
        {"[]", "JSON object"},
        {"not json", "not valid JSON"},
        {"{}", "only find and aggregate"},
    };
    struct sqlsafety_verdict v;
    for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
        int ok = sqlsafety_check_pipeline(pcases[i].json, &v);
        int want = pcases[i].refusal == NULL;
        if (ok != want || (!ok && !strstr(v.reason, pcases[i].refusal))) {
            fprintf(stderr, "\n  %s\n    got %d (%s), want %d (%s)\n", pcases[i].json, ok, v.reason,
                    want, pcases[i].refusal ? pcases[i].refusal : "");
            CU_FAIL("pipeline verdict differs");
        }
    }
    /* Nesting past the bound. */
    size_t depth = SQLSAFETY_MAX_DEPTH + 10;
    char *deep = malloc(depth * 8 + 64);
    size_t o = (size_t)sprintf(deep, "{\"find\": \"c\", \"filter\": ");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(deep + o, "{\"a\":");
    o += (size_t)sprintf(deep + o, "1");
    for (size_t i = 0; i < depth + 1; i++)
        deep[o++] = '}';
    deep[o] = '\0';
    CU_ASSERT_EQUAL(sqlsafety_check_pipeline(deep, &v), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "nested deeper"));
    free(deep);
    CU_ASSERT_EQUAL(sqlsafety_check_pipeline(NULL, &v), 0);
}

void register_sqlsafety_tests(void)
{
    CU_pSuite s = CU_add_suite("sqlsafety", suite_init, suite_cleanup);
    CU_add_test(s, "the statement table, per dialect", test_table);
    CU_add_test(s, "accepted statements run on Chinook, plain and limited",
                test_accepted_run_on_sqlite);
    CU_add_test(s, "refused writes fail in the driver too", test_refused_writes_do_not_run);
    CU_add_test(s, "length and nesting bounds", test_bounds);
    CU_add_test(s, "dialect names", test_dialects);
    CU_add_test(s, "normalize", test_normalize);
    CU_add_test(s, "limit forms", test_limit_forms);
    CU_add_test(s, "limit keeps order and names on Chinook", test_limit_on_chinook);
    CU_add_test(s, "MongoDB commands", test_pipeline);
}
