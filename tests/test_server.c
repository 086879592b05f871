/* quarryd as a process: start, health, drivers report, shutdown, command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <CUnit/CUnit.h>

#include "harness.h"
#include "quarry/driver.h"

static void test_health_and_ready(void)
{
    struct harness_server *s = harness_start(NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request(s, "GET", "/healthz", NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "status")), "ok");
    CU_ASSERT_PTR_NOT_NULL(r.request_id);
    harness_response_free(&r);
    CU_ASSERT_EQUAL_FATAL(harness_request(s, "GET", "/readyz", NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "status")), "ready");
    harness_response_free(&r);
    /* SIGTERM: a clean exit. */
    CU_ASSERT_EQUAL(harness_stop(s), 0);
}

static json_t *find_named(json_t *array, const char *name)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        if (strcmp(json_string_value(json_object_get(item, "name")), name) == 0)
            return item;
    }
    return NULL;
}

static void test_drivers_report(void)
{
    const char *args[] = {"--drivers", "sqlite,nosuch", NULL};
    struct harness_server *s = harness_start(args, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request(s, "GET", "/v1/drivers", NULL, harness_auth(s), &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    json_t *sqlite = find_named(json_object_get(r.json, "drivers"), "sqlite");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sqlite);
    char abi[16]; /* the bundled drivers are built against this very header */
    snprintf(abi, sizeof(abi), "%d.%d", QUARRY_ABI_MAJOR, QUARRY_ABI_MINOR);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(sqlite, "abi_version")), abi);
    CU_ASSERT_TRUE(json_array_size(json_object_get(sqlite, "url_schemes")) >= 1);
    CU_ASSERT_TRUE(json_array_size(json_object_get(sqlite, "capabilities")) >= 1);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(sqlite, "version"));
    json_t *nosuch = find_named(json_object_get(r.json, "refused"), "nosuch");
    CU_ASSERT_PTR_NOT_NULL_FATAL(nosuch);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(json_string_value(json_object_get(nosuch, "reason")), "nosuch.so"));
    harness_response_free(&r);
    char *log = harness_log(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "nosuch.so"));
    free(log);
    CU_ASSERT_EQUAL(harness_stop(s), 0);
}

static void test_errors_are_json(void)
{
    struct harness_server *s = harness_start(NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    struct harness_response r;
    CU_ASSERT_EQUAL_FATAL(harness_request(s, "GET", "/v1/no-such-thing", NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "error_code")), "not_found");
    harness_response_free(&r);
    CU_ASSERT_EQUAL_FATAL(harness_request(s, "DELETE", "/healthz", NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(r.status, 405);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.json, "error_code")),
                           "method_not_allowed");
    harness_response_free(&r);
    CU_ASSERT_EQUAL(harness_stop(s), 0);
}

static int run_quarryd(const char *args, char **output)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s 2>&1", QUARRY_TEST_BINARY, args);
    FILE *p = popen(cmd, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    int status = pclose(p);
    *output = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_command_line(void)
{
    char *out;
    CU_ASSERT_EQUAL(run_quarryd("--help", &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--registry"));
    free(out);
    CU_ASSERT_EQUAL(run_quarryd("--listen nonsense", &out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--listen"));
    free(out);
    CU_ASSERT_EQUAL(run_quarryd("frobnicate", &out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "unknown command"));
    free(out);
    /* An unusable registry path fails the start with a message, not a crash. */
    CU_ASSERT_EQUAL(run_quarryd("--listen 127.0.0.1:0 --registry /nonexistent/dir/q.db", &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "registry"));
    free(out);
}

void register_server_tests(void)
{
    CU_pSuite s = CU_add_suite("server", NULL, NULL);
    CU_add_test(s, "health and readiness; SIGTERM exits cleanly", test_health_and_ready);
    CU_add_test(s, "GET /v1/drivers reports loaded and refused drivers", test_drivers_report);
    CU_add_test(s, "unknown routes and wrong methods answer JSON", test_errors_are_json);
    CU_add_test(s, "command line: help, bad flags, unknown command, bad registry",
                test_command_line);
}
