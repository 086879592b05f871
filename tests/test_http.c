/*
 * The HTTP host in-process: a real evhttp server on a loopback port, run by a
 * loop thread of the test, with purpose-built routes, driven over HTTP.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <event2/event.h>

#include "harness.h"
#include "http.h"
#include "router.h"
#include "workers.h"

static struct event_base *base;
static struct http_server *server;
static struct router *router;
static struct workers *workers;
static pthread_t loop_thread;
static int port;

static void handle_echo(struct http_exchange *ex)
{
    json_t *body;
    if (http_body_json(ex, &body) != 0)
        return;
    json_t *n = body ? json_object_get(body, "n") : NULL;
    if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 10) {
        json_decref(body);
        http_reply_error(ex, 422, "invalid_field", "`n` must be an integer from 1 to 10");
        return;
    }
    http_reply_json(ex, 201, json_pack("{s:O}", "n", n));
    json_decref(body);
}

struct slow_work {
    pthread_t ran_on;
};

static void slow_run(void *arg)
{
    struct slow_work *w = arg;
    usleep(20000);
    w->ran_on = pthread_self();
}

static void slow_done(struct http_exchange *ex, void *arg)
{
    struct slow_work *w = arg;
    int on_worker = !pthread_equal(w->ran_on, loop_thread);
    int reply_on_loop = pthread_equal(pthread_self(), loop_thread);
    free(w);
    http_reply_json(
        ex, 200,
        json_pack("{s:b, s:b}", "ran_on_worker", on_worker, "replied_on_loop", reply_on_loop));
}

static void handle_slow(struct http_exchange *ex)
{
    struct slow_work *w = calloc(1, sizeof(*w));
    if (http_defer(ex, slow_run, slow_done, w) != 0)
        free(w);
}

static void handle_query(struct http_exchange *ex)
{
    const char *q = http_query(ex, "q");
    http_reply_json(ex, 200, json_pack("{s:s?}", "q", q));
}

static void *run_loop(void *arg)
{
    (void)arg;
    event_base_dispatch(base);
    return NULL;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

static int suite_init(void)
{
    base = event_base_new();
    router = router_new();
    router_add(router, ROUTER_POST, "/echo", (struct route_target){handle_echo, 0});
    router_add(router, ROUTER_GET, "/slow", (struct route_target){handle_slow, 0});
    router_add(router, ROUTER_GET, "/query", (struct route_target){handle_query, 0});
    struct workers_options wo = {.nthreads = 2, .queue_max = 64};
    workers = workers_start(&wo);
    struct http_server_options ho = {
        .host = "127.0.0.1", .port = 0, .body_limit = 1024, .router = router, .workers = workers};
    server = http_server_new(base, &ho);
    if (!server)
        return -1;
    port = http_server_port(server);
    return pthread_create(&loop_thread, NULL, run_loop, NULL) == 0 ? 0 : -1;
}

static int suite_cleanup(void)
{
    event_base_once(base, -1, EV_TIMEOUT, on_stop, base, NULL);
    pthread_join(loop_thread, NULL);
    workers_stop(workers);
    http_server_free(server);
    router_free(router);
    event_base_free(base);
    return 0;
}

/* Asserts the error envelope: nested error, flat message and error_code, same request id. */
static void assert_error(struct harness_response *r, long status, const char *code)
{
    CU_ASSERT_EQUAL(r->status, status);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->json);
    CU_ASSERT_STRING_EQUAL(r->content_type, "application/json");
    const char *nested_code = NULL, *nested_msg = NULL, *rid = NULL, *flat_code = NULL,
               *flat_msg = NULL;
    CU_ASSERT_EQUAL(json_unpack(r->json, "{s:{s:s, s:s, s:s}, s:s, s:s}", "error", "code",
                                &nested_code, "message", &nested_msg, "request_id", &rid,
                                "error_code", &flat_code, "message", &flat_msg),
                    0);
    if (nested_code && flat_code && rid && r->request_id) {
        CU_ASSERT_STRING_EQUAL(nested_code, code);
        CU_ASSERT_STRING_EQUAL(flat_code, code);
        CU_ASSERT_STRING_EQUAL(nested_msg, flat_msg);
        CU_ASSERT_STRING_EQUAL(rid, r->request_id);
        CU_ASSERT(strlen(nested_msg) > 0);
    }
}

static void test_bad_bodies(void)
{
    struct {
        const char *body;
        long status;
        const char *code;
    } cases[] = {
        {"{\"n\": ", 400, "malformed_json"},
        {"not json", 400, "malformed_json"},
        {"{\"n\": 1, \"n\": 2}", 400, "malformed_json"},   /* duplicate keys */
        {"{\"s\": \"a\\u0000b\"}", 400, "malformed_json"}, /* a NUL inside a string */
        {"[1, 2]", 422, "invalid_body"},
        {"42", 422, "invalid_body"},
        {"{\"n\": \"five\"}", 422, "invalid_field"},
        {"{\"n\": 11}", 422, "invalid_field"},
        {"{}", 422, "invalid_field"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct harness_response r;
        CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "POST", "/echo", cases[i].body, NULL, &r),
                              0);
        assert_error(&r, cases[i].status, cases[i].code);
        harness_response_free(&r);
    }
    struct harness_response ok;
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "POST", "/echo", "{\"n\": 3}", NULL, &ok), 0);
    CU_ASSERT_EQUAL(ok.status, 201);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(ok.json, "n")), 3);
    harness_response_free(&ok);
}

static void test_bodyless_post_is_not_415(void)
{
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "POST", "/echo", NULL, NULL, &r), 0);
    assert_error(&r, 422, "invalid_field");
    harness_response_free(&r);
}

static void test_oversized_body(void)
{
    char big[2048];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "POST", "/echo", big, NULL, &r), 0);
    assert_error(&r, 413, "body_too_large");
    harness_response_free(&r);
    /* And the server keeps serving. */
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "POST", "/echo", "{\"n\":1}", NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 201);
    harness_response_free(&r);
}

static void test_unknown_route_and_method(void)
{
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "GET", "/nowhere", NULL, NULL, &r), 0);
    assert_error(&r, 404, "not_found");
    harness_response_free(&r);
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "DELETE", "/echo", NULL, NULL, &r), 0);
    assert_error(&r, 405, "method_not_allowed");
    harness_response_free(&r);
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "BREW", "/echo", NULL, NULL, &r), 0);
    /* A method HTTP does not define: evhttp answers 501 itself (RFC 9110 15.6.2). */
    CU_ASSERT_EQUAL(r.status, 501);
    harness_response_free(&r);
}

static void test_request_ids(void)
{
    struct harness_response a, b, c;
    const char *mine[] = {"X-Request-Id: trace-123.abc", NULL};
    const char *evil[] = {"X-Request-Id: <script>", NULL};
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "GET", "/query", NULL, NULL, &a), 0);
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "GET", "/query", NULL, mine, &b), 0);
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "GET", "/query", NULL, evil, &c), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a.request_id);
    CU_ASSERT_EQUAL(strlen(a.request_id), 36);
    CU_ASSERT_STRING_EQUAL(b.request_id, "trace-123.abc");
    CU_ASSERT_STRING_NOT_EQUAL(c.request_id, "<script>");
    harness_response_free(&a);
    harness_response_free(&b);
    harness_response_free(&c);
}

static void test_query_strings(void)
{
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "GET", "/query?q=a%20b", NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "q")), "a b");
    harness_response_free(&r);
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "GET", "/query?=x", NULL, NULL, &r), 0);
    assert_error(&r, 400, "bad_query");
    harness_response_free(&r);
}

static void test_head_answers_as_get(void)
{
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "HEAD", "/query", NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.body_len, 0);
    harness_response_free(&r);
}

static void test_deferred_work(void)
{
    for (int i = 0; i < 5; i++) {
        struct harness_response r;
        CU_ASSERT_EQUAL_FATAL(harness_request_port(port, "GET", "/slow", NULL, NULL, &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_TRUE(json_is_true(json_object_get(r.json, "ran_on_worker")));
        CU_ASSERT_TRUE(json_is_true(json_object_get(r.json, "replied_on_loop")));
        harness_response_free(&r);
    }
}

void register_http_tests(void)
{
    CU_pSuite s = CU_add_suite("http", suite_init, suite_cleanup);
    CU_add_test(s, "malformed JSON 400, invalid fields 422", test_bad_bodies);
    CU_add_test(s, "body-less POST without Content-Type reaches the handler",
                test_bodyless_post_is_not_415);
    CU_add_test(s, "oversized body 413 and the server keeps serving", test_oversized_body);
    CU_add_test(s, "unknown route 404, wrong method 405", test_unknown_route_and_method);
    CU_add_test(s, "request ids: generated, passed through, sanitised", test_request_ids);
    CU_add_test(s, "query strings decoded; malformed ones 400", test_query_strings);
    CU_add_test(s, "HEAD answers as GET without a body", test_head_answers_as_get);
    CU_add_test(s, "deferred work runs on a worker, replies on the loop", test_deferred_work);
}
