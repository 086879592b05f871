#include <string.h>

#include <CUnit/CUnit.h>

#include "router.h"

static int hits[8];
static void h0(struct http_exchange *e)
{
    (void)e;
    hits[0]++;
}
static void h1(struct http_exchange *e)
{
    (void)e;
    hits[1]++;
}
static void h2(struct http_exchange *e)
{
    (void)e;
    hits[2]++;
}
static void h3(struct http_exchange *e)
{
    (void)e;
    hits[3]++;
}
static void h4(struct http_exchange *e)
{
    (void)e;
    hits[4]++;
}

static struct router *table(void)
{
    struct router *r = router_new();
    /* Registered parameter-first on purpose: literals must still win. */
    CU_ASSERT_EQUAL(
        router_add(r, ROUTER_GET | ROUTER_PUT, "/v1/conn/{id}", (struct route_target){h0, 1}), 0);
    CU_ASSERT_EQUAL(router_add(r, ROUTER_GET, "/v1/conn/deleted", (struct route_target){h1, 1}), 0);
    CU_ASSERT_EQUAL(
        router_add(r, ROUTER_GET, "/v1/conn/table/{table_id}", (struct route_target){h2, 1}), 0);
    CU_ASSERT_EQUAL(
        router_add(r, ROUTER_DELETE, "/v1/conn/{id}/table", (struct route_target){h3, 2}), 0);
    CU_ASSERT_EQUAL(router_add(r, ROUTER_POST, "/v1/conn", (struct route_target){h4, 2}), 0);
    return r;
}

static const struct route_target *match(struct router *r, int method, const char *path,
                                        struct router_match *m)
{
    router_match(r, method, path, m);
    return m->target;
}

static void test_literal_beats_parameter(void)
{
    struct router *r = table();
    struct router_match m;
    CU_ASSERT_PTR_EQUAL(match(r, ROUTER_GET, "/v1/conn/deleted", &m)->handler, h1);
    router_match_clear(&m);
    CU_ASSERT_PTR_EQUAL(match(r, ROUTER_GET, "/v1/conn/abc", &m)->handler, h0);
    CU_ASSERT_STRING_EQUAL(router_param(&m, "id"), "abc");
    CU_ASSERT_PTR_NULL(router_param(&m, "nope"));
    router_match_clear(&m);
    /* Both "table/{table_id}" and "{id}/table" fit; the earlier literal wins. */
    CU_ASSERT_PTR_EQUAL(match(r, ROUTER_GET, "/v1/conn/table/table", &m)->handler, h2);
    CU_ASSERT_STRING_EQUAL(router_param(&m, "table_id"), "table");
    router_match_clear(&m);
    CU_ASSERT_PTR_EQUAL(match(r, ROUTER_DELETE, "/v1/conn/xyz/table", &m)->handler, h3);
    CU_ASSERT_STRING_EQUAL(router_param(&m, "id"), "xyz");
    router_match_clear(&m);
    router_free(r);
}

static void test_method_not_allowed_and_not_found(void)
{
    struct router *r = table();
    struct router_match m;
    CU_ASSERT_EQUAL(router_match(r, ROUTER_POST, "/v1/conn/abc", &m), 0);
    CU_ASSERT_EQUAL(m.allowed, ROUTER_GET | ROUTER_PUT);
    router_match_clear(&m);
    CU_ASSERT_EQUAL(router_match(r, ROUTER_GET, "/v1/nothing", &m), 0);
    CU_ASSERT_EQUAL(m.allowed, 0);
    router_match_clear(&m);
    CU_ASSERT_EQUAL(router_match(r, ROUTER_GET, "/v1/conn/a/b/c", &m), 0);
    CU_ASSERT_EQUAL(m.allowed, 0);
    router_match_clear(&m);
    char allow[64];
    router_methods_format(ROUTER_GET | ROUTER_PUT, allow, sizeof(allow));
    CU_ASSERT_STRING_EQUAL(allow, "GET, PUT");
    router_free(r);
}

static void test_paths_edge_cases(void)
{
    struct router *r = table();
    struct router_match m;
    /* A single trailing slash is the same resource; never a redirect. */
    CU_ASSERT_EQUAL(router_match(r, ROUTER_POST, "/v1/conn/", &m), 1);
    router_match_clear(&m);
    /* Percent-decoding of parameters. */
    CU_ASSERT_EQUAL(router_match(r, ROUTER_GET, "/v1/conn/a%20b", &m), 1);
    CU_ASSERT_STRING_EQUAL(router_param(&m, "id"), "a b");
    router_match_clear(&m);
    /* Encodings that would smuggle a NUL or a slash, empty segments, relative paths. */
    const char *bad[] = {"/v1/conn/a%00b", "/v1/conn/a%2Fb", "/v1//conn", "v1/conn", "", "//"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_NOT_EQUAL(router_match(r, ROUTER_GET, bad[i], &m), 1);
        CU_ASSERT_PTR_NULL(m.target);
        router_match_clear(&m);
    }
    /* Too many segments. */
    char deep[256] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep, "/x");
    CU_ASSERT_EQUAL(router_match(r, ROUTER_GET, deep, &m), -1);
    router_free(r);
}

static void test_bad_patterns_refused(void)
{
    struct router *r = router_new();
    CU_ASSERT_EQUAL(router_add(r, ROUTER_GET, "relative", (struct route_target){h0, 0}), -1);
    CU_ASSERT_EQUAL(router_add(r, ROUTER_GET, "/a//b", (struct route_target){h0, 0}), -1);
    CU_ASSERT_EQUAL(router_add(r, ROUTER_GET, "/{a}/{b}/{c}/{d}/{e}", (struct route_target){h0, 0}),
                    -1);
    CU_ASSERT_EQUAL(router_add(r, ROUTER_GET, "/", (struct route_target){h0, 0}), 0);
    struct router_match m;
    CU_ASSERT_EQUAL(router_match(r, ROUTER_GET, "/", &m), 1);
    router_match_clear(&m);
    router_free(r);
}

static void test_method_names(void)
{
    CU_ASSERT_EQUAL(router_method_parse("GET"), ROUTER_GET);
    CU_ASSERT_EQUAL(router_method_parse("PATCH"), ROUTER_PATCH);
    CU_ASSERT_EQUAL(router_method_parse("get"), ROUTER_OTHER);
    CU_ASSERT_EQUAL(router_method_parse("TRACE"), ROUTER_OTHER);
}

void register_router_tests(void)
{
    CU_pSuite s = CU_add_suite("router", NULL, NULL);
    CU_add_test(s, "literal segments beat parameters", test_literal_beats_parameter);
    CU_add_test(s, "405 carries the allowed methods; 404 has none",
                test_method_not_allowed_and_not_found);
    CU_add_test(s, "trailing slash, decoding, smuggled separators", test_paths_edge_cases);
    CU_add_test(s, "malformed patterns are refused", test_bad_patterns_refused);
    CU_add_test(s, "method names", test_method_names);
}
