/*
 * The connection pool, with the real sqlite driver on real files: copies of
 * the Chinook fixture (275 artists) and a small database built here (3
 * artists), so a test can tell which file a pooled connection reads.
 *
 * A health check is made to fail the way a replaced database file fails: the
 * old file's header is spoiled in place (the pooled connection still holds
 * that inode, so its next ping reads "file is not a database") and a fresh
 * copy is renamed over the path (so a new open succeeds).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "harness.h"
#include "host.h"
#include "loader.h"
#include "pool.h"

#define CHINOOK_ARTISTS 275
#define SMALL_ARTISTS 3

static const struct quarry_driver *drv;
static char *chinook_url, *small_url;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static char *url_of(const char *path)
{
    char *url = NULL;
    return asprintf(&url, "sqlite:///%s", path) < 0 ? NULL : url; /* four slashes: absolute */
}

/* A fresh copy of Chinook; `*path` and the returned URL are the caller's. */
static char *chinook_copy(char **path)
{
    *path = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    return *path ? url_of(*path) : NULL;
}

static char *make_small_db(void)
{
    char *path = harness_tmppath("pool-small", ".sqlite");
    sqlite3 *db = NULL;
    int ok = path && sqlite3_open(path, &db) == SQLITE_OK &&
             sqlite3_exec(db,
                          "CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY, Name TEXT);"
                          "INSERT INTO Artist (Name) VALUES ('a'), ('b'), ('c');",
                          NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    char *url = ok ? url_of(path) : NULL;
    free(path);
    return url;
}

static struct pool_target target_of(const char *id, const char *url)
{
    struct pool_target t = {.connection_id = id, .driver = drv, .url = url};
    return t;
}

static struct pool_options options_with(size_t max, int borrow_timeout_ms)
{
    struct pool_options o;
    pool_options_default(&o);
    o.max_per_connection = max;
    o.borrow_timeout_ms = borrow_timeout_ms;
    return o;
}

struct count_sink {
    int64_t value;
    int rows;
};

static int count_begin(void *userdata, const struct quarry_column *columns, size_t ncolumns)
{
    (void)userdata, (void)columns, (void)ncolumns;
    return QUARRY_SINK_CONTINUE;
}

static int count_row(void *userdata, const struct quarry_value *values, size_t nvalues)
{
    struct count_sink *c = userdata;
    if (nvalues == 1 && values[0].type == QUARRY_VALUE_INT)
        c->value = values[0].i;
    c->rows++;
    return QUARRY_SINK_CONTINUE;
}

static void count_end(void *userdata)
{
    (void)userdata;
}

/* The number of artists the lease's connection sees, or -1 when the query fails. */
static int64_t count_artists(struct pool_lease *lease)
{
    struct count_sink c = {-1, 0};
    struct quarry_row_sink sink = {QUARRY_ABI_VERSION, sizeof(sink), &c,
                                   count_begin,        count_row,    count_end};
    struct host_call call;
    struct quarry_error err;
    host_call_init(&call, 10000, 0);
    host_error_init(&err);
    int status = pool_lease_driver(lease)->execute(pool_lease_conn(lease), &call.ctx,
                                                   "SELECT count(*) FROM Artist", &sink, &err);
    return status == QUARRY_OK && c.rows == 1 ? c.value : -1;
}

static struct pool_stats stats_of(struct pools *pools, const char *id)
{
    struct pool_stats s;
    pools_stats(pools, id, &s);
    return s;
}

#define ASSERT_STATS(pools, id, conns, idle_, leased_, opened, closed)                             \
    do {                                                                                           \
        struct pool_stats s_ = stats_of(pools, id);                                                \
        CU_ASSERT_EQUAL(s_.connections, (size_t)(conns));                                          \
        CU_ASSERT_EQUAL(s_.idle, (size_t)(idle_));                                                 \
        CU_ASSERT_EQUAL(s_.leased, (size_t)(leased_));                                             \
        CU_ASSERT_EQUAL(s_.opened_total, (size_t)(opened));                                        \
        CU_ASSERT_EQUAL(s_.closed_total, (size_t)(closed));                                        \
    } while (0)

/* Spoils the header of the file at `path` in place: connections holding it fail from now on. */
static int spoil(const char *path)
{
    unsigned char junk[100];
    memset(junk, 0xff, sizeof(junk));
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int ok = pwrite(fd, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk);
    return close(fd) == 0 && ok ? 0 : -1;
}

/* The database file was replaced: the old inode is spoiled, a good copy takes the path. */
static int replace_file(const char *path)
{
    char *fresh = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    int rc = fresh && spoil(path) == 0 && rename(fresh, path) == 0 ? 0 : -1;
    free(fresh);
    return rc;
}

static int64_t elapsed_ms(int64_t since)
{
    return host_now_ms() - since;
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
    if (!chinook_url) {
        char *path = NULL;
        chinook_url = chinook_copy(&path);
        free(path);
    }
    if (!small_url)
        small_url = make_small_db();
    return chinook_url && small_url ? 0 : -1;
}

static int suite_cleanup(void)
{
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Basics                                                                   */
/* ------------------------------------------------------------------------ */

static void test_options(void)
{
    struct pool_options o;
    pool_options_default(&o);
    CU_ASSERT_EQUAL(o.max_per_connection, 4);
    CU_ASSERT_EQUAL(o.max_targets, 1024);
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL(p);
    pools_free(p);
    pools_free(NULL);

    static const struct {
        size_t max, targets;
        int borrow_timeout;
    } bad[] = {{0, 1024, 100}, {4, 0, 100}, {4, 1024, -1}, {4, ((size_t)1 << 20) + 1, 100}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pool_options_default(&o);
        o.max_per_connection = bad[i].max;
        o.max_targets = bad[i].targets;
        o.borrow_timeout_ms = bad[i].borrow_timeout;
        CU_ASSERT_PTR_NULL(pools_new(&o));
    }
}

static void test_reuse(void)
{
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct pool_target t = target_of("c1", chinook_url);
    struct quarry_error err;

    struct pool_lease *l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(err.status, QUARRY_OK);
    CU_ASSERT_PTR_EQUAL(pool_lease_driver(l), drv);
    struct quarry_conn *first = pool_lease_conn(l);
    CU_ASSERT_EQUAL(count_artists(l), CHINOOK_ARTISTS);
    ASSERT_STATS(p, "c1", 1, 0, 1, 1, 0);
    pools_return(p, l, 0);
    ASSERT_STATS(p, "c1", 1, 1, 0, 1, 0);

    for (int i = 0; i < 5; i++) {
        l = pools_borrow(p, &t, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(l);
        CU_ASSERT_PTR_EQUAL(pool_lease_conn(l), first);
        CU_ASSERT_EQUAL(count_artists(l), CHINOOK_ARTISTS);
        pools_return(p, l, 0);
    }
    ASSERT_STATS(p, "c1", 1, 1, 0, 1, 0);
    pools_return(p, NULL, 0); /* harmless */
    pools_free(p);
}

static void test_two_leases(void)
{
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct pool_target t = target_of("c2", chinook_url);
    struct quarry_error err;

    struct pool_lease *a = pools_borrow(p, &t, &err);
    struct pool_lease *b = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_EQUAL(pool_lease_conn(a), pool_lease_conn(b));
    CU_ASSERT_EQUAL(count_artists(a), CHINOOK_ARTISTS);
    CU_ASSERT_EQUAL(count_artists(b), CHINOOK_ARTISTS);
    ASSERT_STATS(p, "c2", 2, 0, 2, 2, 0);
    struct quarry_conn *last = pool_lease_conn(b);
    pools_return(p, a, 0);
    pools_return(p, b, 0);
    ASSERT_STATS(p, "c2", 2, 2, 0, 2, 0);
    /* The most recently returned is lent first, so a surplus can idle out. */
    struct pool_lease *c = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_EQUAL(pool_lease_conn(c), last);
    pools_return(p, c, 0);
    pools_free(p);
}

static void test_broken_return(void)
{
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct pool_target t = target_of("c3", chinook_url);
    struct quarry_error err;

    struct pool_lease *l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    pools_return(p, l, 1);
    ASSERT_STATS(p, "c3", 0, 0, 0, 1, 1);
    l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(count_artists(l), CHINOOK_ARTISTS);
    ASSERT_STATS(p, "c3", 1, 0, 1, 2, 1);
    pools_return(p, l, 0);
    pools_free(p);
}

static void test_bad_targets(void)
{
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct quarry_error err;
    char long_id[POOL_ID_MAX + 2];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';

    struct pool_target t = target_of(NULL, chinook_url);
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);
    t = target_of("", chinook_url);
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);
    t = target_of(long_id, chinook_url);
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);
    t = target_of("c4", NULL);
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);
    t = target_of("c4", chinook_url);
    t.nparams = 1; /* and no params array */
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);
    t = target_of("c4", chinook_url);
    t.driver = NULL;
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);
    ASSERT_STATS(p, NULL, 0, 0, 0, 0, 0);

    /* The driver's refusal comes back as is, and the reserved slot is given back. */
    t = target_of("c4", "sqlite:////nonexistent/pool-test.sqlite");
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no sqlite database file"));
    ASSERT_STATS(p, "c4", 0, 0, 0, 0, 0);
    t = target_of("c4", "sqlite:///relative.db");
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_INVALID);

    /* The id is usable once its record points at a real file. */
    t = target_of("c4", chinook_url);
    struct pool_lease *l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(count_artists(l), CHINOOK_ARTISTS);
    pools_return(p, l, 0);
    ASSERT_STATS(p, "c4", 1, 1, 0, 1, 0);
    pools_free(p);
}

static void test_stats(void)
{
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct pool_target ta = target_of("sa", chinook_url);
    struct pool_target tb = target_of("sb", small_url);
    struct quarry_error err;

    struct pool_lease *a1 = pools_borrow(p, &ta, &err);
    struct pool_lease *a2 = pools_borrow(p, &ta, &err);
    struct pool_lease *b1 = pools_borrow(p, &tb, &err);
    CU_ASSERT_FATAL(a1 && a2 && b1);
    CU_ASSERT_EQUAL(count_artists(b1), SMALL_ARTISTS);
    pools_return(p, a1, 0);
    ASSERT_STATS(p, "sa", 2, 1, 1, 2, 0);
    ASSERT_STATS(p, "sb", 1, 0, 1, 1, 0);
    ASSERT_STATS(p, "nobody", 0, 0, 0, 0, 0);
    ASSERT_STATS(p, NULL, 3, 1, 2, 3, 0);
    pools_return(p, b1, 1);
    ASSERT_STATS(p, NULL, 2, 1, 1, 3, 1);
    pools_return(p, a2, 0);
    ASSERT_STATS(p, NULL, 2, 2, 0, 3, 1);
    pools_free(p);
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

struct delayed_return {
    struct pools *pools;
    struct pool_lease *lease;
    int delay_ms;
    int broken;
};

static void *return_later(void *arg)
{
    struct delayed_return *d = arg;
    usleep((useconds_t)d->delay_ms * 1000);
    pools_return(d->pools, d->lease, d->broken);
    return NULL;
}

static void test_max_and_timeout(void)
{
    struct pool_options o = options_with(2, 300);
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct pool_target t = target_of("m1", chinook_url);
    struct quarry_error err;

    struct pool_lease *a = pools_borrow(p, &t, &err);
    struct pool_lease *b = pools_borrow(p, &t, &err);
    CU_ASSERT_FATAL(a && b);
    int64_t t0 = host_now_ms();
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    int64_t waited = elapsed_ms(t0);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_TIMEOUT);
    CU_ASSERT(waited >= 290 && waited < 3000);
    ASSERT_STATS(p, "m1", 2, 0, 2, 2, 0);

    /* A lease returned from another thread wakes the waiter, which gets that connection. */
    struct quarry_conn *conn_a = pool_lease_conn(a);
    struct delayed_return d = {p, a, 100, 0};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, return_later, &d) == 0);
    t0 = host_now_ms();
    struct pool_lease *c = pools_borrow(p, &t, &err);
    waited = elapsed_ms(t0);
    pthread_join(th, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(waited >= 90 && waited < 290);
    CU_ASSERT_PTR_EQUAL(pool_lease_conn(c), conn_a);
    ASSERT_STATS(p, "m1", 2, 0, 2, 2, 0);

    /* A broken return frees a slot too: the waiter opens a new connection. */
    struct delayed_return d2 = {p, b, 100, 1};
    CU_ASSERT_FATAL(pthread_create(&th, NULL, return_later, &d2) == 0);
    struct pool_lease *e = pools_borrow(p, &t, &err);
    pthread_join(th, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(count_artists(e), CHINOOK_ARTISTS);
    ASSERT_STATS(p, "m1", 2, 0, 2, 3, 1);

    /* Another id has its own limit. */
    struct pool_target other = target_of("m2", chinook_url);
    struct pool_lease *f = pools_borrow(p, &other, &err);
    CU_ASSERT_PTR_NOT_NULL(f);
    pools_return(p, f, 0);
    pools_return(p, c, 0);
    pools_return(p, e, 0);
    pools_free(p);
}

static void test_zero_timeout(void)
{
    struct pool_options o = options_with(1, 0);
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct pool_target t = target_of("z1", chinook_url);
    struct quarry_error err;

    struct pool_lease *a = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    int64_t t0 = host_now_ms();
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT(elapsed_ms(t0) < 100);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_TIMEOUT);
    pools_return(p, a, 0);
    a = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL(a);
    pools_return(p, a, 0);
    ASSERT_STATS(p, "z1", 1, 1, 0, 1, 0);
    pools_free(p);
}

static void test_max_targets(void)
{
    struct pool_options o = options_with(2, 100);
    o.max_targets = 2;
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct quarry_error err;
    struct pool_target ta = target_of("ta", chinook_url), tb = target_of("tb", chinook_url);
    struct pool_target tc = target_of("tc", chinook_url), td = target_of("td", small_url);

    pools_return(p, pools_borrow(p, &ta, &err), 0);
    pools_return(p, pools_borrow(p, &tb, &err), 0);
    ASSERT_STATS(p, NULL, 2, 2, 0, 2, 0);
    /* A third id drops the least recently used, "ta", and closes its idle connection. */
    struct pool_lease *c = pools_borrow(p, &tc, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    ASSERT_STATS(p, "ta", 0, 0, 0, 0, 0);
    ASSERT_STATS(p, "tb", 1, 1, 0, 1, 0);
    ASSERT_STATS(p, NULL, 2, 1, 1, 3, 1);

    /* With a lease out on every tracked id, a new id is refused rather than tracked. */
    struct pool_lease *b = pools_borrow(p, &tb, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NULL(pools_borrow(p, &td, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_NOMEM);
    ASSERT_STATS(p, "td", 0, 0, 0, 0, 0);
    pools_return(p, b, 0);
    struct pool_lease *d = pools_borrow(p, &td, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(count_artists(d), SMALL_ARTISTS);
    ASSERT_STATS(p, "tb", 0, 0, 0, 0, 0);
    ASSERT_STATS(p, NULL, 2, 0, 2, 4, 2);
    pools_return(p, c, 0);
    pools_return(p, d, 0);
    pools_free(p);
}

/* ------------------------------------------------------------------------ */
/* Health checks                                                            */
/* ------------------------------------------------------------------------ */

static void test_health_check_reopens(void)
{
    struct pool_options o = options_with(2, 1000);
    o.health_check_after_ms = 0; /* every reuse */
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *path = NULL, *url = chinook_copy(&path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(url);
    struct pool_target t = target_of("h1", url);
    struct quarry_error err;

    struct pool_lease *l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    pools_return(p, l, 0);
    /* A healthy idle connection passes its ping and is reused. */
    l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    pools_return(p, l, 0);
    ASSERT_STATS(p, "h1", 1, 1, 0, 1, 0);

    CU_ASSERT_EQUAL_FATAL(replace_file(path), 0);
    l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(err.status, QUARRY_OK);
    CU_ASSERT_EQUAL(count_artists(l), CHINOOK_ARTISTS); /* the new file, through a new connection */
    ASSERT_STATS(p, "h1", 1, 0, 1, 2, 1);
    pools_return(p, l, 0);
    pools_free(p);
    free(path);
    free(url);
}

static void test_health_check_threshold(void)
{
    struct pool_options o = options_with(2, 1000);
    o.health_check_after_ms = 60 * 1000;
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *path = NULL, *url = chinook_copy(&path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(url);
    struct pool_target t = target_of("h2", url);
    struct quarry_error err;

    struct pool_lease *l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    struct quarry_conn *first = pool_lease_conn(l);
    pools_return(p, l, 0);
    CU_ASSERT_EQUAL_FATAL(replace_file(path), 0);

    /* Idle for less than the threshold: lent without a ping, so the caller meets the failure. */
    l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_PTR_EQUAL(pool_lease_conn(l), first);
    CU_ASSERT_EQUAL(count_artists(l), -1);
    pools_return(p, l, 1);
    ASSERT_STATS(p, "h2", 0, 0, 0, 1, 1);
    l = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(count_artists(l), CHINOOK_ARTISTS);
    pools_return(p, l, 0);
    pools_free(p);
    free(path);
    free(url);
}

static void test_health_check_reopen_fails(void)
{
    struct pool_options o = options_with(2, 1000);
    o.health_check_after_ms = 0;
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *path = NULL, *url = chinook_copy(&path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(url);
    struct pool_target t = target_of("h3", url);
    struct quarry_error err;

    pools_return(p, pools_borrow(p, &t, &err), 0);
    ASSERT_STATS(p, "h3", 1, 1, 0, 1, 0);
    /* Spoiled in place: the ping fails, and so does the one reopen; no retry loop. */
    CU_ASSERT_EQUAL_FATAL(spoil(path), 0);
    CU_ASSERT_PTR_NULL(pools_borrow(p, &t, &err));
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_CONNECT);
    ASSERT_STATS(p, "h3", 0, 0, 0, 1, 1);
    pools_free(p);
    free(path);
    free(url);
}

/* ------------------------------------------------------------------------ */
/* Fingerprints, eviction, reaping                                          */
/* ------------------------------------------------------------------------ */

static void test_fingerprint_change(void)
{
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct quarry_error err;
    struct pool_target t1 = target_of("f1", chinook_url);

    pools_return(p, pools_borrow(p, &t1, &err), 0);
    ASSERT_STATS(p, "f1", 1, 1, 0, 1, 0);

    /* Same id, another URL: the idle connection to the old file closes. */
    struct pool_target t2 = target_of("f1", small_url);
    struct pool_lease *l = pools_borrow(p, &t2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(count_artists(l), SMALL_ARTISTS);
    ASSERT_STATS(p, "f1", 1, 0, 1, 2, 1);
    pools_return(p, l, 0);

    /* Same URL, other parameters: a change too (the sqlite driver ignores them). */
    const struct quarry_kv params[] = {{"sslmode", "require"}};
    struct pool_target t3 = target_of("f1", small_url);
    t3.params = params;
    t3.nparams = 1;
    struct pool_lease *l3 = pools_borrow(p, &t3, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l3);
    ASSERT_STATS(p, "f1", 1, 0, 1, 3, 2);

    /* A lease of the old record is closed when it comes back, not pooled. */
    struct pool_lease *l1 = pools_borrow(p, &t1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l1);
    CU_ASSERT_EQUAL(count_artists(l1), CHINOOK_ARTISTS);
    ASSERT_STATS(p, "f1", 2, 0, 2, 4, 2);
    pools_return(p, l3, 0);
    ASSERT_STATS(p, "f1", 1, 0, 1, 4, 3);
    pools_return(p, l1, 0);
    ASSERT_STATS(p, "f1", 1, 1, 0, 4, 3);

    /* An unchanged record keeps its connection. */
    l = pools_borrow(p, &t1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    pools_return(p, l, 0);
    ASSERT_STATS(p, "f1", 1, 1, 0, 4, 3);
    pools_free(p);
}

static void test_evict(void)
{
    struct pools *p = pools_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct quarry_error err;
    struct pool_target t = target_of("e1", chinook_url);
    struct pool_target other = target_of("e2", chinook_url);

    struct pool_lease *a = pools_borrow(p, &t, &err);
    struct pool_lease *b = pools_borrow(p, &t, &err);
    CU_ASSERT_FATAL(a && b);
    pools_return(p, pools_borrow(p, &other, &err), 0);
    pools_return(p, a, 0);
    ASSERT_STATS(p, "e1", 2, 1, 1, 2, 0);

    pools_evict(p, "e1");
    ASSERT_STATS(p, "e1", 1, 0, 1, 2, 1); /* the idle one closed, the lease is still out */
    CU_ASSERT_EQUAL(count_artists(b), CHINOOK_ARTISTS); /* and still works */
    pools_return(p, b, 0);
    ASSERT_STATS(p, "e1", 0, 0, 0, 2, 2); /* closed on return */
    ASSERT_STATS(p, "e2", 1, 1, 0, 1, 0); /* other ids untouched */

    /* Evicting an id with nothing out forgets it altogether. */
    pools_evict(p, "e1");
    ASSERT_STATS(p, "e1", 0, 0, 0, 0, 0);
    pools_evict(p, "never-seen");
    pools_evict(p, NULL);
    struct pool_lease *c = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(count_artists(c), CHINOOK_ARTISTS);
    pools_return(p, c, 0);
    ASSERT_STATS(p, "e1", 1, 1, 0, 1, 0);
    ASSERT_STATS(p, NULL, 2, 2, 0, 4, 2);
    pools_free(p);
}

static void test_reap(void)
{
    struct pool_options o = options_with(4, 1000);
    o.idle_timeout_ms = 100;
    o.min_idle = 1;
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct quarry_error err;
    struct pool_target t = target_of("r1", chinook_url);
    struct pool_target t0 = target_of("r0", chinook_url);

    struct pool_lease *l[3];
    for (int i = 0; i < 3; i++) {
        l[i] = pools_borrow(p, &t, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(l[i]);
    }
    struct quarry_conn *newest = pool_lease_conn(l[2]);
    for (int i = 0; i < 3; i++)
        pools_return(p, l[i], 0);
    struct pool_lease *out = pools_borrow(p, &t0, &err); /* leased: never reaped */
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(pools_reap(p), 0); /* nothing idle long enough yet */
    ASSERT_STATS(p, "r1", 3, 3, 0, 3, 0);

    usleep(150 * 1000);
    CU_ASSERT_EQUAL(pools_reap(p), 2); /* the oldest two; min_idle keeps the newest */
    ASSERT_STATS(p, "r1", 1, 1, 0, 3, 2);
    ASSERT_STATS(p, "r0", 1, 0, 1, 1, 0);
    struct pool_lease *again = pools_borrow(p, &t, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    CU_ASSERT_PTR_EQUAL(pool_lease_conn(again), newest);
    pools_return(p, again, 0);
    pools_return(p, out, 0);
    pools_free(p);

    /* Without a floor, an id whose connections all idled out is forgotten. */
    o.min_idle = 0;
    p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pools_return(p, pools_borrow(p, &t, &err), 0);
    usleep(150 * 1000);
    CU_ASSERT_EQUAL(pools_reap(p), 1);
    ASSERT_STATS(p, "r1", 0, 0, 0, 0, 0);
    ASSERT_STATS(p, NULL, 0, 0, 0, 1, 1);
    pools_free(p);

    /* No idle timeout: reap closes nothing. */
    o.idle_timeout_ms = 0;
    p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pools_return(p, pools_borrow(p, &t, &err), 0);
    usleep(20 * 1000);
    CU_ASSERT_EQUAL(pools_reap(p), 0);
    ASSERT_STATS(p, "r1", 1, 1, 0, 1, 0);
    pools_free(p);
}

/* ------------------------------------------------------------------------ */
/* Many threads                                                             */
/* ------------------------------------------------------------------------ */

#define HAMMER_THREADS 8
#define HAMMER_ITERATIONS 200
#define HAMMER_MAX 3

/* Which connections are lent right now, to catch one lent twice or an id over its maximum. */
static struct {
    pthread_mutex_t lock;
    const struct quarry_conn *conns[HAMMER_THREADS];
    int ids[HAMMER_THREADS];
    int per_id[2], max_per_id;
    int double_lent, failures;
} lent = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void lent_add(int slot, int id, const struct quarry_conn *conn)
{
    pthread_mutex_lock(&lent.lock);
    for (int i = 0; i < HAMMER_THREADS; i++)
        if (lent.conns[i] == conn)
            lent.double_lent++;
    lent.conns[slot] = conn;
    lent.ids[slot] = id;
    if (++lent.per_id[id] > lent.max_per_id)
        lent.max_per_id = lent.per_id[id];
    pthread_mutex_unlock(&lent.lock);
}

static void lent_remove(int slot)
{
    pthread_mutex_lock(&lent.lock);
    lent.per_id[lent.ids[slot]]--;
    lent.conns[slot] = NULL;
    pthread_mutex_unlock(&lent.lock);
}

struct hammer_arg {
    struct pools *pools;
    int slot;
};

static void *hammer(void *arg)
{
    struct hammer_arg *h = arg;
    static const char *const ids[2] = {"ham-a", "ham-b"};
    int failures = 0;
    for (int i = 0; i < HAMMER_ITERATIONS; i++) {
        int id = (h->slot + i) % 2;
        struct pool_target t = target_of(ids[id], id ? small_url : chinook_url);
        struct quarry_error err;
        struct pool_lease *l = pools_borrow(h->pools, &t, &err);
        if (!l) {
            failures++;
            continue;
        }
        lent_add(h->slot, id, pool_lease_conn(l));
        if (count_artists(l) != (id ? SMALL_ARTISTS : CHINOOK_ARTISTS))
            failures++;
        lent_remove(h->slot);
        pools_return(h->pools, l, i % 37 == 36);
        if (h->slot == 0 && i % 20 == 0)
            pools_reap(h->pools);
        if (h->slot == 1 && i % 50 == 25)
            pools_evict(h->pools, ids[i % 2]);
    }
    pthread_mutex_lock(&lent.lock);
    lent.failures += failures;
    pthread_mutex_unlock(&lent.lock);
    return NULL;
}

static void test_many_threads(void)
{
    struct pool_options o = options_with(HAMMER_MAX, 30 * 1000);
    o.health_check_after_ms = 0; /* every reuse pings, to race pings with returns */
    o.idle_timeout_ms = 1;
    struct pools *p = pools_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pthread_t threads[HAMMER_THREADS];
    struct hammer_arg args[HAMMER_THREADS];
    int started = 0;
    for (int i = 0; i < HAMMER_THREADS; i++) {
        args[i] = (struct hammer_arg){p, i};
        if (pthread_create(&threads[i], NULL, hammer, &args[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    CU_ASSERT_EQUAL(started, HAMMER_THREADS);
    CU_ASSERT_EQUAL(lent.failures, 0);
    CU_ASSERT_EQUAL(lent.double_lent, 0);
    CU_ASSERT(lent.max_per_id >= 1 && lent.max_per_id <= HAMMER_MAX);

    struct pool_stats s = stats_of(p, NULL);
    CU_ASSERT_EQUAL(s.leased, 0);
    CU_ASSERT(s.connections <= 2 * HAMMER_MAX);
    CU_ASSERT_EQUAL(s.opened_total - s.closed_total, s.connections);
    /* Every 37th return was broken, so at least that many were opened again. */
    CU_ASSERT(s.opened_total >= (size_t)HAMMER_THREADS * (HAMMER_ITERATIONS / 37));
    pools_free(p);
}

/* ------------------------------------------------------------------------ */

void register_pool_tests(void)
{
    CU_pSuite s = CU_add_suite("pool_basic", suite_init, suite_cleanup);
    CU_add_test(s, "options validated, defaults", test_options);
    CU_add_test(s, "borrow/return reuses one connection", test_reuse);
    CU_add_test(s, "two leases open two connections", test_two_leases);
    CU_add_test(s, "a broken return closes the connection", test_broken_return);
    CU_add_test(s, "bad targets and driver refusals", test_bad_targets);
    CU_add_test(s, "stats per id and overall", test_stats);

    s = CU_add_suite("pool_limits", suite_init, suite_cleanup);
    CU_add_test(s, "max per id, timeout, wake on return", test_max_and_timeout);
    CU_add_test(s, "zero borrow timeout fails at once", test_zero_timeout);
    CU_add_test(s, "bounded number of ids, LRU drop", test_max_targets);

    s = CU_add_suite("pool_health", suite_init, suite_cleanup);
    CU_add_test(s, "a failed ping reopens transparently", test_health_check_reopens);
    CU_add_test(s, "no ping below the idle threshold", test_health_check_threshold);
    CU_add_test(s, "a failed ping then a failed open", test_health_check_reopen_fails);

    s = CU_add_suite("pool_lifecycle", suite_init, suite_cleanup);
    CU_add_test(s, "a changed record closes old connections", test_fingerprint_change);
    CU_add_test(s, "evict closes idle now, leased on return", test_evict);
    CU_add_test(s, "reap keeps min_idle, forgets empty ids", test_reap);

    s = CU_add_suite("pool_threads", suite_init, suite_cleanup);
    CU_add_test(s, "8 threads x 200 borrow/return", test_many_threads);
}
