/*
 * Execution accuracy of the built-in text-to-SQL engine on question sets of
 * our own (tests/t2s/NAME.json), over Chinook, Northwind and schemas written for
 * it (tests/t2s/NAME.sql loaded into scratch SQLite files). Each question's
 * prediction and gold SQL run on the same database; they agree when their
 * rows match as multisets (cells compared as text, numbers to 2 decimals,
 * column order free), in order when the question asks for one. Prints a
 * table per construct and asserts floors at the measured figures.
 */
#include <math.h>
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
#include "semantic.h"
#include "t2s.h"

/*
 * Measured floors per question set (see docs/BENCHMARKS.md): the share of
 * questions answered right, and the share right among answers given with
 * confidence >= CONFIDENT. A regression below them fails.
 */
#define CONFIDENT 0.8
struct floors {
    double overall, confident;
};
static const struct floors FLOOR_CHINOOK = {47.0 / 47, 41.0 / 41};
static const struct floors FLOOR_NORTHWIND = {42.0 / 42, 36.0 / 36};
static const struct floors FLOOR_HR = {41.0 / 41, 31.0 / 31};
static const struct floors FLOOR_FLIGHTS = {40.0 / 42, 35.0 / 37};
#define EPS 1e-9

#define MAX_CELLS 16 /* columns compared per row */
#define CELL 64

struct rows {
    char (*cells)[MAX_CELLS][CELL]; /* each row: its cells, normalised */
    size_t n, cap;
    int ncols;
};

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Numbers to 2 decimals, NULL as "NULL", text as is (truncated). */
static void normalise_cell(const char *v, char out[CELL])
{
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v)
        snprintf(out, CELL, "NULL");
    else if (*v && !*end)
        snprintf(out, CELL, "%.2f", d + 0.0);
    else
        snprintf(out, CELL, "%.60s", v);
}

static int collect(void *userdata, int ncols, char **values, char **names)
{
    (void)names;
    struct rows *r = userdata;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        void *grown = realloc(r->cells, cap * sizeof(*r->cells));
        if (!grown)
            return 1;
        r->cells = grown;
        r->cap = cap;
    }
    r->ncols = ncols < MAX_CELLS ? ncols : MAX_CELLS;
    for (int i = 0; i < r->ncols; i++)
        normalise_cell(values[i], r->cells[r->n][i]);
    r->n++;
    return r->n > 100000;
}

static void rows_free(struct rows *r)
{
    free(r->cells);
    memset(r, 0, sizeof(*r));
}

static int run(sqlite3 *db, const char *sql, struct rows *out)
{
    memset(out, 0, sizeof(*out));
    return sqlite3_exec(db, sql, collect, out, NULL) == SQLITE_OK ? 0 : -1;
}

/*
 * The rows as comparable keys: the cells of columns `cols` (k of them),
 * sorted within the row (column order is free), joined.
 */
static char **keys_of(const struct rows *r, const int *cols, int k, int ordered)
{
    char **keys = calloc(r->n ? r->n : 1, sizeof(char *));
    for (size_t i = 0; keys && i < r->n; i++) {
        const char *cells[MAX_CELLS];
        for (int j = 0; j < k; j++)
            cells[j] = r->cells[i][cols[j]];
        qsort(cells, (size_t)k, sizeof(char *), str_cmp);
        keys[i] = calloc((size_t)k * CELL + 1, 1);
        for (int j = 0; keys[i] && j < k; j++) {
            strcat(keys[i], cells[j]);
            strcat(keys[i], "\x1f");
        }
    }
    if (keys && !ordered)
        qsort(keys, r->n, sizeof(char *), str_cmp);
    return keys;
}

static void keys_free(char **keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
}

static int same_keys(char **a, char **b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!a[i] || !b[i] || strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

/* The next k-combination of 0..n-1 in `c`; 0 after the last. */
static int next_combination(int *c, int k, int n)
{
    int i = k - 1;
    while (i >= 0 && c[i] == n - k + i)
        i--;
    if (i < 0)
        return 0;
    c[i]++;
    for (int j = i + 1; j < k; j++)
        c[j] = c[j - 1] + 1;
    return 1;
}

/*
 * Whether `got` answers with the rows of `want`: the same multiset of rows
 * (in order when `ordered`). Unless `strict`, the prediction may carry
 * extra columns (the count or value it ranked by, say): some choice of
 * want->ncols of its columns must then give want's rows.
 */
static int same(const struct rows *want, const struct rows *got, int ordered, int strict)
{
    if (want->n != got->n)
        return 0;
    if (want->n == 0)
        return 1;
    int k = want->ncols, n = got->ncols;
    if (n < k || (strict && n != k))
        return 0;
    int all[MAX_CELLS], c[MAX_CELLS];
    for (int i = 0; i < MAX_CELLS; i++)
        all[i] = c[i] = i;
    char **wk = keys_of(want, all, k, ordered);
    int match = 0;
    do {
        char **gk = keys_of(got, c, k, ordered);
        match = wk && gk && same_keys(wk, gk, want->n);
        keys_free(gk, got->n);
    } while (!match && next_combination(c, k, n));
    keys_free(wk, want->n);
    return match;
}

/* ------------------------------------------------------------------------ */

struct tally {
    char construct[32];
    int total, right, confident, confident_right;
};

/* One question set's score, by construct; the last slot is the set's total. */
struct score {
    struct tally by[32];
    size_t n;
    struct tally all;
};

static struct score overall; /* every set, for the closing report */

static struct tally *tally_of(struct score *sc, const char *construct)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->by[i].construct, construct) == 0)
            return &sc->by[i];
    if (sc->n == 32)
        return &sc->by[31];
    snprintf(sc->by[sc->n].construct, sizeof(sc->by[0].construct), "%s", construct);
    return &sc->by[sc->n++];
}

static void count(struct score *sc, const char *construct, int right, int confident)
{
    struct tally *ts[] = {tally_of(sc, construct), &sc->all};
    for (size_t i = 0; i < 2; i++) {
        ts[i]->total++;
        ts[i]->right += right;
        ts[i]->confident += confident;
        ts[i]->confident_right += confident && right;
    }
}

static double share(int part, int whole)
{
    return whole ? (double)part / whole : 0;
}

static void print_score(const char *title, const struct score *sc)
{
    fprintf(stderr, "\n  %s\n  %-14s %6s %6s %9s %10s\n", title, "construct", "total", "right",
            "confident", "conf.right");
    for (size_t i = 0; i < sc->n; i++)
        fprintf(stderr, "  %-14s %6d %6d %9d %10d\n", sc->by[i].construct, sc->by[i].total,
                sc->by[i].right, sc->by[i].confident, sc->by[i].confident_right);
    const struct tally *a = &sc->all;
    fprintf(stderr, "  overall %d/%d = %.1f%%; confidence >= %.1f: %d/%d = %.1f%%\n", a->right,
            a->total, 100 * share(a->right, a->total), CONFIDENT, a->confident_right, a->confident,
            100 * share(a->confident_right, a->confident));
}

/* An analysed catalog of the SQLite file at `path`, and its graph. */
static struct catalog *analyse(const char *path, json_t **graph)
{
    const struct quarry_driver *drv = loader_find("sqlite");
    struct quarry_open_params p;
    struct quarry_conn *conn = NULL;
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    struct host_call call;
    struct quarry_error err;
    char *url = NULL;
    struct catalog *c = NULL;
    if (!drv || asprintf(&url, "sqlite:///%s", path) < 0)
        return NULL;
    memset(&p, 0, sizeof(p));
    QUARRY_STRUCT_INIT(&p);
    p.url = url;
    host_error_init(&err);
    if (drv->open(&p, &conn, &err) != QUARRY_OK)
        goto out;
    c = catalog_new(drv);
    catalog_sink_init(&sink, c);
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    host_call_init(&call, 30000, 0);
    if (drv->introspect(conn, &call.ctx, &opts, &sink, &err) != QUARRY_OK)
        goto fail;
    for (size_t i = 0; i < c->ntables; i++)
        if (profile_table(drv, conn, &c->tables[i], 5000, 10000, &err) != QUARRY_OK)
            goto fail;
    semantic_analyze(c);
    *graph = graph_build(c);
    goto out;
fail:
    catalog_free(c);
    c = NULL;
out:
    if (conn)
        drv->close(conn);
    free(url);
    return c;
}

static char *source_path(const char *rel)
{
    char *p = NULL;
    return asprintf(&p, "%s/tests/t2s/%s", QUARRY_TEST_SOURCE_DIR, rel) < 0 ? NULL : p;
}

/* A scratch SQLite file made from tests/t2s/<name>.sql. */
static char *load_schema(const char *name)
{
    char *sqlpath = NULL, *db_path = harness_tmppath(name, ".sqlite"), *text = NULL;
    size_t len = 0;
    if (asprintf(&sqlpath, "%s/tests/t2s/%s.sql", QUARRY_TEST_SOURCE_DIR, name) < 0)
        return NULL;
    FILE *f = fopen(sqlpath, "r");
    free(sqlpath);
    if (!f)
        return NULL;
    FILE *m = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, m);
    fclose(f);
    fclose(m);
    sqlite3 *db;
    int ok = sqlite3_open(db_path, &db) == SQLITE_OK &&
             sqlite3_exec(db, text, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    free(text);
    if (!ok) {
        free(db_path);
        return NULL;
    }
    return db_path;
}

static void score_set(const char *dbfile, const char *set, struct floors floor)
{
    struct score sc;
    memset(&sc, 0, sizeof(sc));
    json_t *graph = NULL;
    struct catalog *c = analyse(dbfile, &graph);
    char *qpath = source_path(set);
    json_error_t jerr;
    json_t *questions = qpath ? json_load_file(qpath, 0, &jerr) : NULL;
    free(qpath);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(questions);
    sqlite3 *db;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(dbfile, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    size_t i;
    json_t *item;
    int verbose = getenv("QUARRY_T2S_VERBOSE") != NULL;
    int strict = getenv("QUARRY_T2S_STRICT") != NULL; /* no extra columns allowed */
    json_array_foreach(questions, i, item)
    {
        const char *q = json_string_value(json_object_get(item, "q"));
        const char *gold = json_string_value(json_object_get(item, "gold"));
        const char *construct = json_string_value(json_object_get(item, "construct"));
        int ordered = json_is_true(json_object_get(item, "ordered"));
        struct rows want, got;
        CU_ASSERT_EQUAL_FATAL(run(db, gold, &want), 0); /* the gold itself must run */
        struct t2s_answer a;
        int rc = t2s_translate(c, graph, q, 0, &a);
        memset(&got, 0, sizeof(got));
        int right = rc == 0 && run(db, a.query, &got) == 0 && same(&want, &got, ordered, strict);
        rows_free(&got);
        int confident = rc == 0 && a.confidence >= CONFIDENT;
        count(&sc, construct ? construct : "other", right, confident);
        count(&overall, construct ? construct : "other", right, confident);
        if (verbose && !right)
            fprintf(stderr, "\n  MISS [%s] %s\n    got (%.2f): %s\n    gold: %s", set, q,
                    a.confidence, a.query ? a.query : a.explanation, gold);
        t2s_answer_clear(&a);
        rows_free(&want);
    }
    sqlite3_close(db);
    json_decref(questions);
    json_decref(graph);
    catalog_free(c);
    print_score(set, &sc);
    CU_ASSERT(sc.all.total >= 30);
    CU_ASSERT(share(sc.all.right, sc.all.total) >= floor.overall - EPS);
    CU_ASSERT(share(sc.all.confident_right, sc.all.confident) >= floor.confident - EPS);
}

static int suite_init(void)
{
    static const char *const names[] = {"sqlite"};
    if (!loader_find("sqlite"))
        loader_load(QUARRY_TEST_PLUGIN_DIR, names, 1);
    return loader_find("sqlite") ? 0 : -1;
}

static void test_chinook(void)
{
    char *path = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    score_set(path, "chinook.json", FLOOR_CHINOOK);
    free(path);
}

static void test_northwind(void)
{
    char *path = harness_copy_fixture("northwind/northwind.sqlite");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    score_set(path, "northwind.json", FLOOR_NORTHWIND);
    free(path);
}

static void test_own_schema(const char *name, struct floors floor)
{
    char *path = load_schema(name), set[64];
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    snprintf(set, sizeof(set), "%s.json", name);
    score_set(path, set, floor);
    free(path);
}

static void test_hr(void)
{
    test_own_schema("hr", FLOOR_HR);
}

static void test_flights(void)
{
    test_own_schema("flights", FLOOR_FLIGHTS);
}

/* Every set together: the figure docs/BENCHMARKS.md reports. */
static void test_report(void)
{
    print_score("all sets", &overall);
    CU_ASSERT(overall.all.total >= 150);
}

void register_t2s_accuracy_tests(void)
{
    CU_pSuite s = CU_add_suite("t2s_accuracy", suite_init, NULL);
    CU_add_test(s, "Chinook", test_chinook);
    CU_add_test(s, "Northwind", test_northwind);
    CU_add_test(s, "HR (tests/t2s/hr.sql)", test_hr);
    CU_add_test(s, "flights (tests/t2s/flights.sql)", test_flights);
    CU_add_test(s, "report and floors", test_report);
}
