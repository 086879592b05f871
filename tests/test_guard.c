/*
 * guard: hosts as tables of (allow, deny, host) and the verdict, malformed
 * lists refused, DNS only for "localhost" (loopback, from /etc/hosts), and
 * sqlite paths confined in a scratch directory of real files and symlinks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "guard.h"
#include "harness.h"

struct host_case {
    const char *allow, *deny, *host;
    int rc;
    const char *why; /* substring of the reason when refused */
};

static const struct host_case LITERAL[] = {
    /* Default denials. */
    {NULL, NULL, "169.254.169.254", -1,
     "host 169.254.169.254 is denied (link-local / cloud metadata)"},
    {NULL, NULL, "169.254.0.1", -1, "link-local"},
    {NULL, NULL, "::ffff:169.254.169.254", -1, "link-local / cloud metadata"},
    {NULL, NULL, "[::ffff:169.254.169.254]", -1, "link-local"},
    {NULL, NULL, "::ffff:a9fe:a9fe", -1, "link-local"},
    {NULL, NULL, "fe80::1", -1, "IPv6 link-local"},
    {NULL, NULL, "FE80::abcd", -1, "IPv6 link-local"},
    {NULL, NULL, "fe80::1%eth0", -1, "IPv6 link-local"},
    {NULL, NULL, "febf::1", -1, "IPv6 link-local"},
    {NULL, NULL, "fd00:ec2::254", -1, "AWS"},
    {NULL, NULL, "100.100.100.200", -1, "Alibaba"},
    {NULL, NULL, "metadata.google.internal", -1, "is denied (cloud metadata"},
    {NULL, NULL, "METADATA.GOOGLE.INTERNAL.", -1, "cloud metadata"},
    {NULL, NULL, "metadata.goog", -1, "cloud metadata"},
    /* Numeric forms getaddrinfo takes without DNS: decimal, hex, octal, short. */
    {NULL, NULL, "2852039166", -1, "link-local"},
    {NULL, NULL, "0xa9fea9fe", -1, "link-local"},
    {NULL, NULL, "0251.0376.0251.0376", -1, "link-local"},
    {NULL, NULL, "169.254.43518", -1, "link-local"},
    /* Not denied by default. */
    {NULL, NULL, "127.0.0.1", 0, NULL},
    {NULL, NULL, "::1", 0, NULL},
    {NULL, NULL, "localhost", 0, NULL},
    {NULL, NULL, "db.example.com", 0, NULL},
    {NULL, NULL, "10.1.2.3", 0, NULL},
    {NULL, NULL, "169.253.255.255", 0, NULL},
    {NULL, NULL, "169.255.0.0", 0, NULL},
    {NULL, NULL, "fec0::1", 0, NULL},
    {NULL, NULL, "100.100.100.201", 0, NULL},
    {NULL, NULL, "metadata.google.internal.evil.example", 0, NULL},
    {NULL, NULL, "xmetadata.goog", 0, NULL},
    {NULL, NULL, "1a.be", 0, NULL},
    /* Neither name nor address. */
    {NULL, NULL, "fe80::zz", -1, "not a valid IPv6"},
    {NULL, NULL, "", -1, "no host"},
    /* A deny list: CIDRs (v4, v6, mapped), names, wildcards. */
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "10.2.3.4", -1,
     "host 10.2.3.4 is denied (deny list)"},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "11.0.0.1", 0, NULL},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "::ffff:10.0.0.1", -1, "deny list"},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "db.bad.example", -1, "deny list"},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "DB.Bad.Example.", -1, "deny list"},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "x.evil.example", -1, "deny list"},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "a.b.evil.example", -1, "deny list"},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "evil.example", 0, NULL},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "notevil.example", 0, NULL},
    {NULL, "10.0.0.0/8,db.bad.example,*.evil.example", "169.254.169.254", -1, "cloud metadata"},
    {NULL, "2001:db8::/32", "2001:db8::1", -1, "deny list"},
    {NULL, "2001:db8::/32", "2001:db9::1", 0, NULL},
    {NULL, "::ffff:192.0.2.0/120", "192.0.2.7", -1, "deny list"},
    {NULL, "192.0.2.128/25", "192.0.2.127", 0, NULL},
    {NULL, "192.0.2.128/25", "192.0.2.200", -1, "deny list"},
    {NULL, "127.0.0.0/8", "127.9.9.9", -1, "deny list"},
    /* An allow list of CIDRs: addresses must be in it; names wait for resolution. */
    {"10.0.0.0/8", NULL, "10.1.1.1", 0, NULL},
    {"10.0.0.0/8", NULL, "192.168.1.1", -1, "host 192.168.1.1 is not on the allow list"},
    {"10.0.0.0/8", NULL, "127.0.0.1", -1, "not on the allow list"},
    {"10.0.0.0/8", NULL, "::ffff:10.9.9.9", 0, NULL},
    {"10.0.0.0/8", NULL, "db.example.com", 0, NULL},
    {"10.0.0.0/8", "10.6.0.0/16", "10.6.1.1", -1, "deny list"},
    {"169.254.0.0/16", NULL, "169.254.169.254", -1, "link-local"},
    /* An allow list of names. */
    {"db.example.com,*.corp.example", NULL, "db.example.com", 0, NULL},
    {"db.example.com,*.corp.example", NULL, "DB.EXAMPLE.COM", 0, NULL},
    {"db.example.com,*.corp.example", NULL, "a.corp.example", 0, NULL},
    {"db.example.com,*.corp.example", NULL, "corp.example", -1, "not on the allow list"},
    {"db.example.com,*.corp.example", NULL, "other.example", -1,
     "host other.example is not on the allow list"},
    {"db.example.com,*.corp.example", NULL, "10.0.0.1", -1, "not on the allow list"},
    {"db.example.com,10.0.0.0/8", NULL, "other.example", 0, NULL},
    {"*.google.internal", NULL, "metadata.google.internal", -1, "cloud metadata"},
};

static void test_literal_table(void)
{
    for (size_t i = 0; i < sizeof(LITERAL) / sizeof(LITERAL[0]); i++) {
        const struct host_case *c = &LITERAL[i];
        char err[256] = "", why[256] = "";
        struct guard *g = guard_new(c->allow, c->deny, NULL, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        int rc = guard_check_host_literal(g, c->host, why, sizeof(why));
        int ok = rc == c->rc && (!c->why || strstr(why, c->why));
        if (!ok)
            fprintf(stderr, "\n  allow [%s] deny [%s] host [%s]: rc %d \"%s\"\n",
                    c->allow ? c->allow : "", c->deny ? c->deny : "", c->host, rc, why);
        CU_ASSERT(ok);
        guard_free(g);
    }
}

struct bad_list {
    const char *allow, *deny;
    const char *error;
};

static const struct bad_list BAD_LISTS[] = {
    {NULL, "10.0.0.0/33", "\"10.0.0.0/33\" in the deny list: the prefix length must be 0-32"},
    {"::1/129", NULL, "\"::1/129\" in the allow list: the prefix length must be 0-128"},
    {NULL, "1.2.3", "\"1.2.3\" in the deny list: not an IP address or CIDR"},
    {NULL, "256.1.1.1", "not an IP address"},
    {NULL, "10.0.0.0/", "prefix length"},
    {NULL, "10.0.0.0/-1", "prefix length"},
    {NULL, "10.0.0.0/8/8", "prefix length"},
    {NULL, "10.0.0.0/abc", "prefix length"},
    {NULL, "10.0.0.0/0008", "prefix length"},
    {NULL, "::g", "not an IP address"},
    {NULL, "db.example.com:5432", "not an IP address"},
    {NULL, "*", "malformed entry \"*\""},
    {NULL, "foo*.example", "malformed entry"},
    {NULL, "*.*.example", "malformed entry"},
    {NULL, "bad_host!", "malformed entry"},
    {NULL, "a..b", "label"},
    {NULL, "0x7f.1", "malformed IP address"},
    {"ok.example,1.2.3.4/40", NULL, "allow list"},
};

static void test_malformed_lists(void)
{
    for (size_t i = 0; i < sizeof(BAD_LISTS) / sizeof(BAD_LISTS[0]); i++) {
        char err[256] = "";
        struct guard *g = guard_new(BAD_LISTS[i].allow, BAD_LISTS[i].deny, NULL, err, sizeof(err));
        int ok = !g && strstr(err, BAD_LISTS[i].error);
        if (!ok)
            fprintf(stderr, "\n  allow [%s] deny [%s]: \"%s\", wanted \"%s\"\n",
                    BAD_LISTS[i].allow ? BAD_LISTS[i].allow : "",
                    BAD_LISTS[i].deny ? BAD_LISTS[i].deny : "", err, BAD_LISTS[i].error);
        CU_ASSERT(ok);
        guard_free(g);
    }
    /* Accepted: host bits set, /0, spaces around entries, empty items, empty lists. */
    static const char *const good[] = {"10.0.0.1/8",          "0.0.0.0/0",    "::/0",
                                       " 10.0.0.0/8 , db.x ", ",,",           "",
                                       "::ffff:10.0.0.0/104", "db_1.internal"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char err[256] = "";
        struct guard *g = guard_new(good[i], good[i], NULL, err, sizeof(err));
        if (!g)
            fprintf(stderr, "\n  [%s] refused: %s\n", good[i], err);
        CU_ASSERT_PTR_NOT_NULL(g);
        guard_free(g);
    }
}

/* "localhost" is 127.0.0.1 in /etc/hosts: no network beyond loopback. */
static const struct host_case RESOLVED[] = {
    {NULL, NULL, "localhost", 0, NULL},
    {NULL, "127.0.0.0/8", "localhost", -1,
     "host localhost resolves to 127.0.0.1, which is denied (deny list)"},
    {NULL, "127.0.0.0/8,::1/128", "LOCALHOST.", -1, "deny list"},
    {"10.0.0.0/8", NULL, "localhost", -1,
     "host localhost resolves to 127.0.0.1, which is not on the allow list"},
    {"127.0.0.0/8,::1/128", NULL, "localhost", 0, NULL},
    {"localhost", NULL, "localhost", 0, NULL},
    {"localhost", "127.0.0.0/8", "localhost", -1, "deny list"},
    {"*.example", NULL, "localhost", -1, "not on the allow list"},
    /* Literals are judged without DNS. */
    {NULL, NULL, "127.0.0.1", 0, NULL},
    {NULL, NULL, "169.254.169.254", -1, "link-local"},
    {NULL, NULL, "metadata.google.internal", -1, "cloud metadata"},
};

static void test_resolved_table(void)
{
    for (size_t i = 0; i < sizeof(RESOLVED) / sizeof(RESOLVED[0]); i++) {
        const struct host_case *c = &RESOLVED[i];
        char err[256] = "", why[256] = "";
        struct guard *g = guard_new(c->allow, c->deny, NULL, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        int rc = guard_check_host_resolved(g, c->host, why, sizeof(why));
        int ok = rc == c->rc && (!c->why || strstr(why, c->why));
        if (!ok)
            fprintf(stderr, "\n  allow [%s] deny [%s] host [%s]: rc %d \"%s\"\n",
                    c->allow ? c->allow : "", c->deny ? c->deny : "", c->host, rc, why);
        CU_ASSERT(ok);
        guard_free(g);
    }
}

/* ---- sqlite paths ---- */

static char *path_join(const char *dir, const char *name)
{
    char *p = NULL;
    CU_ASSERT_FATAL(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void touch(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    free(p);
}

static void make_dir(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    CU_ASSERT_EQUAL_FATAL(mkdir(p, 0700), 0);
    free(p);
}

static void make_link(const char *dir, const char *name, const char *target)
{
    char *p = path_join(dir, name);
    CU_ASSERT_EQUAL_FATAL(symlink(target, p), 0);
    free(p);
}

struct path_case {
    const char *rel; /* under the scratch root */
    int rc;
};

static const struct path_case PATHS[] = {
    {"dbs/a.db", 0},
    {"dbs/sub/b.db", 0},
    {"dbs/new.db", 0}, /* not created yet: its directory decides */
    {"dbs/sub/../a.db", 0},
    {"dbs//a.db", 0},
    {"dbs/inside-link.db", 0}, /* a symlink that stays inside */
    {"dbs/../outside.db", -1},
    {"dbs/sub/../../outside.db", -1},
    {"dbs/../dbs-evil/x.db", -1},
    {"dbs-evil/x.db", -1}, /* shares the prefix "dbs", not the directory */
    {"dbs/link.db", -1},   /* a symlink pointing outside */
    {"dbs/dangling.db", -1},
    {"dbs/sublink/x.db", -1}, /* a directory symlink pointing outside */
    {"dbs", -1},
    {"dbs/", -1},
    {"dbs/missing-dir/x.db", -1},
    {"outside.db", -1},
};

static void test_sqlite_paths(void)
{
    char *root = harness_tmppath("guard-sqlite", NULL);
    char err[512] = "", why[512] = "";

    CU_ASSERT_EQUAL_FATAL(mkdir(root, 0700), 0);
    make_dir(root, "dbs");
    make_dir(root, "dbs/sub");
    make_dir(root, "dbs-evil");
    make_dir(root, "elsewhere");
    touch(root, "dbs/a.db");
    touch(root, "dbs/sub/b.db");
    touch(root, "dbs-evil/x.db");
    touch(root, "outside.db");
    touch(root, "elsewhere/x.db");
    char *outside = path_join(root, "outside.db");
    char *elsewhere = path_join(root, "elsewhere");
    char *dbs = path_join(root, "dbs");
    make_link(root, "dbs/link.db", outside);
    make_link(root, "dbs/dangling.db", "../nowhere.db");
    make_link(root, "dbs/sublink", elsewhere);
    make_link(root, "dbs/inside-link.db", "sub/b.db");
    make_link(root, "dbs-link", dbs);

    struct guard *g = guard_new(NULL, NULL, dbs, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT(!guard_sqlite_unconfined(g));
    for (size_t i = 0; i < sizeof(PATHS) / sizeof(PATHS[0]); i++) {
        char *p = path_join(root, PATHS[i].rel);
        why[0] = '\0';
        int rc = guard_check_sqlite_path(g, p, why, sizeof(why));
        if (rc != PATHS[i].rc)
            fprintf(stderr, "\n  %s: rc %d \"%s\"\n", PATHS[i].rel, rc, why);
        CU_ASSERT_EQUAL(rc, PATHS[i].rc);
        if (rc < 0)
            CU_ASSERT_PTR_NOT_NULL(strstr(why, "outside the allowed directories"));
        free(p);
    }
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, "relative.db", why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, "", why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, NULL, why, sizeof(why)), -1);
    guard_free(g);

    /* Directories are realpath'd once: a symlinked one admits what it points to. */
    char *dbs_link = path_join(root, "dbs-link");
    char *a = path_join(root, "dbs/a.db");
    g = guard_new(NULL, NULL, dbs_link, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, a, why, sizeof(why)), 0);
    guard_free(g);

    /* Several directories, colon- or comma-separated. */
    char *list = NULL;
    CU_ASSERT_FATAL(asprintf(&list, "%s:%s, %s", elsewhere, dbs, root) > 0);
    g = guard_new(NULL, NULL, list, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, a, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, outside, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, "/etc/passwd", why, sizeof(why)), -1);
    guard_free(g);
    free(list);

    /* A directory that does not exist, or is a file, is refused at guard_new. */
    char *missing = path_join(root, "missing");
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(guard_new(NULL, NULL, missing, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sqlite directory"));
    CU_ASSERT_PTR_NULL(guard_new(NULL, NULL, outside, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a directory"));

    free(missing);
    free(a);
    free(dbs_link);
    free(dbs);
    free(elsewhere);
    free(outside);
    free(root);
}

static void test_sqlite_unconfined(void)
{
    char err[256], why[256];
    struct guard *g = guard_new(NULL, NULL, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT(guard_sqlite_unconfined(g));
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, "/etc/passwd", why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(guard_check_sqlite_path(g, "relative/x.db", why, sizeof(why)), 0);
    guard_free(g);
    g = guard_new(NULL, NULL, " , : ", err, sizeof(err)); /* only separators: none configured */
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT(guard_sqlite_unconfined(g));
    guard_free(g);
}

void register_guard_tests(void)
{
    CU_pSuite s = CU_add_suite("guard", NULL, NULL);
    CU_add_test(s, "literal hosts: default denials, deny and allow lists", test_literal_table);
    CU_add_test(s, "malformed allow/deny entries are refused", test_malformed_lists);
    CU_add_test(s, "resolved hosts: every address checked (localhost)", test_resolved_table);
    CU_add_test(s, "sqlite paths confined to directories", test_sqlite_paths);
    CU_add_test(s, "no sqlite directories: unconfined", test_sqlite_unconfined);
}
