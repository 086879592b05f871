/* dburl: tables of URLs with the parts they must give, and of URLs that must be refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "dburl.h"

struct good_url {
    const char *url;
    const char *scheme, *base_scheme, *user, *password;
    size_t nhosts;
    const char *hosts[3];
    int ports[3];
    const char *path, *query;
};

static const struct good_url GOOD[] = {
    {"postgresql://app:s3cret@db.example.com:5432/sales",
     "postgresql",
     "postgresql",
     "app",
     "s3cret",
     1,
     {"db.example.com"},
     {5432},
     "sales",
     NULL},
    {"postgres://db/sales?sslmode=require",
     "postgres",
     "postgres",
     NULL,
     NULL,
     1,
     {"db"},
     {0},
     "sales",
     "sslmode=require"},
    {"postgresql+psycopg2://u:p@h/d",
     "postgresql+psycopg2",
     "postgresql",
     "u",
     "p",
     1,
     {"h"},
     {0},
     "d",
     NULL},
    {"MySQL+PyMySQL://root:pw@127.0.0.1:3306/shop?charset=utf8mb4",
     "mysql+pymysql",
     "mysql",
     "root",
     "pw",
     1,
     {"127.0.0.1"},
     {3306},
     "shop",
     "charset=utf8mb4"},
    {"mariadb://u@h", "mariadb", "mariadb", "u", NULL, 1, {"h"}, {0}, NULL, NULL},
    {"mariadb://u@h/", "mariadb", "mariadb", "u", NULL, 1, {"h"}, {0}, NULL, NULL},
    {"mongodb://u:p@a.example:27017,b.example,c.example:27019/admin?replicaSet=rs0",
     "mongodb",
     "mongodb",
     "u",
     "p",
     3,
     {"a.example", "b.example", "c.example"},
     {27017, 0, 27019},
     "admin",
     "replicaSet=rs0"},
    {"mongodb+srv://u:p@cluster0.example.net/db?retryWrites=true",
     "mongodb+srv",
     "mongodb",
     "u",
     "p",
     1,
     {"cluster0.example.net"},
     {0},
     "db",
     "retryWrites=true"},
    {"mongodb://%2Ftmp%2Fmongodb-27017.sock/db",
     "mongodb",
     "mongodb",
     NULL,
     NULL,
     1,
     {"/tmp/mongodb-27017.sock"},
     {0},
     "db",
     NULL},
    {"postgresql://h1:5432,h2:5433/d",
     "postgresql",
     "postgresql",
     NULL,
     NULL,
     2,
     {"h1", "h2"},
     {5432, 5433},
     "d",
     NULL},
    /* SQLAlchemy: what follows "sqlite:///" is the path, absolute only with a 4th slash. */
    {"sqlite:////tmp/x.db", "sqlite", "sqlite", NULL, NULL, 0, {NULL}, {0}, "/tmp/x.db", NULL},
    {"sqlite:///x.db", "sqlite", "sqlite", NULL, NULL, 0, {NULL}, {0}, "x.db", NULL},
    {"sqlite:///tmp/x.db", "sqlite", "sqlite", NULL, NULL, 0, {NULL}, {0}, "tmp/x.db", NULL},
    {"sqlite:////data/my%20db.sqlite?mode=ro",
     "sqlite",
     "sqlite",
     NULL,
     NULL,
     0,
     {NULL},
     {0},
     "/data/my db.sqlite",
     "mode=ro"},
    {"sqlite:////data/a.db#frag",
     "sqlite",
     "sqlite",
     NULL,
     NULL,
     0,
     {NULL},
     {0},
     "/data/a.db",
     NULL},
    {"sqlite+pysqlite:////a.db",
     "sqlite+pysqlite",
     "sqlite",
     NULL,
     NULL,
     0,
     {NULL},
     {0},
     "/a.db",
     NULL},
    {"postgresql://u:p@[::1]:5432/d",
     "postgresql",
     "postgresql",
     "u",
     "p",
     1,
     {"::1"},
     {5432},
     "d",
     NULL},
    {"postgresql://[2001:db8::1]/d",
     "postgresql",
     "postgresql",
     NULL,
     NULL,
     1,
     {"2001:db8::1"},
     {0},
     "d",
     NULL},
    {"mongodb://[::1]:27017,[fe80::2]/d",
     "mongodb",
     "mongodb",
     NULL,
     NULL,
     2,
     {"::1", "fe80::2"},
     {27017, 0},
     "d",
     NULL},
    /* Encoded '@', ':', '/', '%' in the password; an unencoded '@' splits at the last one. */
    {"postgresql://u:p%40ss%3Aw%2Frd%25@h/d",
     "postgresql",
     "postgresql",
     "u",
     "p@ss:w/rd%",
     1,
     {"h"},
     {0},
     "d",
     NULL},
    {"postgresql://u:p@ss@h/d", "postgresql", "postgresql", "u", "p@ss", 1, {"h"}, {0}, "d", NULL},
    {"postgresql://u:pa?ss@h/d",
     "postgresql",
     "postgresql",
     "u",
     "pa?ss",
     1,
     {"h"},
     {0},
     "d",
     NULL},
    {"postgresql://u:p#w@h/d", "postgresql", "postgresql", "u", "p#w", 1, {"h"}, {0}, "d", NULL},
    {"postgresql://us%65r:pw@h/d",
     "postgresql",
     "postgresql",
     "user",
     "pw",
     1,
     {"h"},
     {0},
     "d",
     NULL},
    {"postgresql://:pw@h/d", "postgresql", "postgresql", NULL, "pw", 1, {"h"}, {0}, "d", NULL},
    {"postgresql://u:@h/d", "postgresql", "postgresql", "u", "", 1, {"h"}, {0}, "d", NULL},
    {"postgresql://h:65535/d%2Fx",
     "postgresql",
     "postgresql",
     NULL,
     NULL,
     1,
     {"h"},
     {65535},
     "d/x",
     NULL},
    {"postgresql://h:1?connect_timeout=5",
     "postgresql",
     "postgresql",
     NULL,
     NULL,
     1,
     {"h"},
     {1},
     NULL,
     "connect_timeout=5"},
    {"postgresql://h/d?", "postgresql", "postgresql", NULL, NULL, 1, {"h"}, {0}, "d", ""},
};

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void test_good_urls(void)
{
    for (size_t i = 0; i < sizeof(GOOD) / sizeof(GOOD[0]); i++) {
        const struct good_url *c = &GOOD[i];
        struct dburl u;
        char err[256] = "";
        int rc = dburl_parse(c->url, &u, err, sizeof(err));
        int ok = rc == 0 && same(u.scheme, c->scheme) && same(u.base_scheme, c->base_scheme) &&
                 same(u.user, c->user) && same(u.password, c->password) && u.nhosts == c->nhosts &&
                 same(u.path, c->path) && same(u.query, c->query);
        for (size_t h = 0; ok && h < c->nhosts && h < 3; h++)
            ok = same(u.hosts[h], c->hosts[h]) && u.ports[h] == c->ports[h];
        if (!ok)
            fprintf(stderr, "\n  %s: rc %d (%s) path [%s] user [%s] nhosts %zu\n", c->url, rc, err,
                    u.path ? u.path : "(null)", u.user ? u.user : "(null)", u.nhosts);
        CU_ASSERT(ok);
        dburl_free(&u);
        dburl_free(&u); /* a freed struct is zeroed: freeing again is harmless */
    }
}

struct bad_url {
    const char *url;
    const char *error; /* a substring of the message */
};

static const struct bad_url BAD[] = {
    {"", "empty URL"},
    {"db.example.com:5432/sales", "scheme"},
    {"://h/d", "scheme"},
    {"1pg://h/d", "scheme"},
    {"post gres://h/d", "scheme"},
    {"postgresql:/h/d", "scheme"},
    {"+pg://h/d", "scheme"},
    {"postgresql://h:0/d", "invalid port"},
    {"postgresql://h:65536/d", "invalid port"},
    {"postgresql://h:123456/d", "invalid port"},
    {"postgresql://h:54x/d", "invalid port"},
    {"postgresql://h:/d", "invalid port"},
    {"postgresql://h:-1/d", "invalid port"},
    {"postgresql://h:+5/d", "invalid port"},
    {"postgresql://h:1:2/d", "invalid port"},
    {"postgresql://[::1/d", "IPv6"},
    {"postgresql://[::1]x/d", "IPv6"},
    {"postgresql://[]/d", "IPv6"},
    {"postgresql://[not-v6]:5432/d", "IPv6"},
    {"postgresql://[fe80::1%25eth0]/d", "IPv6"},
    {"postgresql://u:p@/d", "missing host"},
    {"postgresql:///d", "missing host"},
    {"postgresql://a,,b/d", "missing host"},
    {"postgresql://:5432/d", "missing host"},
    {"mongodb+srv://a.example:27017/d", "mongodb+srv"},
    {"mongodb+srv://a.example,b.example/d", "mongodb+srv"},
    {"sqlite://", "needs a path"},
    {"sqlite:///", "needs a path"},
    {"sqlite:///?mode=ro", "needs a path"},
    {"sqlite://host/x.db", "takes no host"},
    {"postgresql://h\n/d", "control character"},
    {"postgresql://u:p\x01@h/d", "control character"},
    {"postgresql://h/d\x7f", "control character"},
    {"postgresql://my host/d", "space"},
    {"postgresql://u:p w@h/d", "space"},
    {"postgresql://u:p%00@h/d", "NUL"},
    {"postgresql://u%00:p@h/d", "NUL"},
    {"postgresql://h/d%00", "NUL"},
    {"postgresql://h%00x/d", "NUL"},
    {"sqlite:///x%00.db", "NUL"},
    {"postgresql://u:p%zz@h/d", "percent-encoding"},
    {"postgresql://u:p%4@h/d", "percent-encoding"},
    {"postgresql://h/d%", "percent-encoding"},
    {"postgresql://h%0ax/d", "control character or space in a host"},
    {"postgresql://h%20x/d", "control character or space in a host"},
};

static void test_bad_urls(void)
{
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        struct dburl u;
        char err[256] = "";
        int rc = dburl_parse(BAD[i].url, &u, err, sizeof(err));
        int ok = rc == -1 && strstr(err, BAD[i].error) && !u.scheme && u.nhosts == 0;
        if (!ok)
            fprintf(stderr, "\n  %s: rc %d, message \"%s\", wanted \"%s\"\n", BAD[i].url, rc, err,
                    BAD[i].error);
        CU_ASSERT(ok);
        dburl_free(&u);
    }
    struct dburl u;
    CU_ASSERT_EQUAL(dburl_parse(NULL, &u, NULL, 0), -1); /* no error buffer: still safe */
}

/* A password a delimiter puts where a port or host was expected never shows in the message. */
static void test_errors_hide_secrets(void)
{
    static const char *const urls[] = {
        "postgresql://u:hunter2/x@h/d", /* '/' ends the authority: "hunter2" is the "port" */
        "postgresql://u:hunter2@h:99999/d", "postgresql://hunter2:hunter2@[hunter2]/d",
        "postgresql://u:hunter2%zz@h/d",    "mongodb+srv://u:hunter2@a,b/d",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct dburl u;
        char err[256] = "";
        CU_ASSERT_EQUAL(dburl_parse(urls[i], &u, err, sizeof(err)), -1);
        CU_ASSERT(err[0] != '\0');
        CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
    }
}

/* 4096 bytes pass, 4097 do not; 16 hosts pass, 17 do not; host names at most 255 bytes. */
static void test_bounds(void)
{
    char url[DBURL_MAX_LEN + 2];
    struct dburl u;
    char err[256];

    int n = snprintf(url, sizeof(url), "postgresql://h/");
    memset(url + n, 'a', sizeof(url) - (size_t)n - 1);
    url[DBURL_MAX_LEN] = '\0';
    CU_ASSERT_EQUAL(dburl_parse(url, &u, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(strlen(u.path), DBURL_MAX_LEN - (size_t)n);
    dburl_free(&u);
    url[DBURL_MAX_LEN] = 'a';
    url[DBURL_MAX_LEN + 1] = '\0';
    CU_ASSERT_EQUAL(dburl_parse(url, &u, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "longer than 4096"));

    for (int hosts = 16; hosts <= 17; hosts++) {
        n = snprintf(url, sizeof(url), "mongodb://");
        for (int i = 0; i < hosts; i++)
            n += snprintf(url + n, sizeof(url) - (size_t)n, "%sh%d:%d", i ? "," : "", i, 1000 + i);
        snprintf(url + n, sizeof(url) - (size_t)n, "/db");
        int rc = dburl_parse(url, &u, err, sizeof(err));
        if (hosts == 16) {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL(u.nhosts, 16);
            CU_ASSERT_STRING_EQUAL(u.hosts[15], "h15");
            CU_ASSERT_EQUAL(u.ports[15], 1015);
        } else {
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, "too many hosts"));
        }
        dburl_free(&u);
    }

    for (int len = 255; len <= 256; len++) {
        n = snprintf(url, sizeof(url), "postgresql://");
        memset(url + n, 'h', (size_t)len);
        snprintf(url + n + len, sizeof(url) - (size_t)(n + len), "/d");
        CU_ASSERT_EQUAL(dburl_parse(url, &u, err, sizeof(err)), len == 255 ? 0 : -1);
        dburl_free(&u);
    }
}

void register_dburl_tests(void)
{
    CU_pSuite s = CU_add_suite("dburl", NULL, NULL);
    CU_add_test(s, "URL forms parse into their parts", test_good_urls);
    CU_add_test(s, "malformed URLs are refused with the reason", test_bad_urls);
    CU_add_test(s, "error messages never quote a password", test_errors_hide_secrets);
    CU_add_test(s, "length, host count and host name bounds", test_bounds);
}
