/*
 * Text-to-SQL over HTTP: the built-in engine, the LLM engine against a local
 * OpenAI-compatible peer (retry, refused writes), bad input, and the faults
 * of a real PostgreSQL server (down, wrong password, timeout, killed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "api_testlib.h"
#include "harness.h"
#include "llm_peer.h"

#define AGENT "abababab-abab-4bab-8bab-abababababab"
#define LLM_KEY "sk-test-peer-key"

static struct harness_server *server;
static struct llm_peer *peer;
static char *chinook_id, *pg_id;

static int suite_init(void)
{
    peer = llm_peer_start(LLM_KEY, "quarry-test-model");
    if (!peer)
        return -1;
    const char *args[] = {"--llm-url",
                          llm_peer_url(peer),
                          "--llm-model",
                          "quarry-test-model",
                          "--statement-timeout",
                          "1500",
                          NULL};
    char env_key[64] = "QUARRY_LLM_API_KEY=" LLM_KEY;
    const char *env[] = {env_key, NULL};
    server = harness_start(args, env);
    if (!server)
        return -1;
    char *chinook = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    chinook_id = api_create(server, "chinook-t2s", "sqlite", chinook, AGENT);
    free(chinook);
    json_t *done = chinook_id ? api_analyze(server, chinook_id, 120) : NULL;
    int ok = done && strcmp(json_string_value(json_object_get(done, "status")), "succeeded") == 0;
    json_decref(done);
    return ok ? 0 : -1;
}

static int suite_cleanup(void)
{
    int rc = harness_stop(server);
    llm_peer_stop(peer);
    free(chinook_id);
    free(pg_id);
    return rc == 0 ? 0 : -1;
}

static json_t *ask(const char *id, const char *body, long expected)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/text-to-sql", id);
    return api_call(server, "POST", path, body, expected);
}

static json_int_t first_cell(json_t *reply)
{
    return json_integer_value(json_array_get(json_array_get(json_object_get(reply, "rows"), 0), 0));
}

static void test_builtin_count(void)
{
    json_t *r = ask(chinook_id,
                    "{\"question\": \"How many customers are there?\", \"execute\": true, "
                    "\"engine\": \"builtin\"}",
                    200);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "engine")), "builtin");
    CU_ASSERT_EQUAL(first_cell(r), 59);
    CU_ASSERT(json_real_value(json_object_get(r, "confidence")) >= 0.5);
    CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(r, "sql")));
    CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(r, "explanation")));
    CU_ASSERT_TRUE(json_is_array(json_object_get(r, "tables")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "row_count")), 1);
    CU_ASSERT_TRUE(json_is_false(json_object_get(r, "truncated")));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(r, "elapsed_ms"));
    /* No top-level task keys in a synchronous answer. */
    CU_ASSERT_PTR_NULL(json_object_get(r, "task_id"));
    json_decref(r);
    /* Without execute: the query only, validated, no rows. */
    r = ask(chinook_id, "{\"question\": \"How many albums are there?\"}", 200);
    CU_ASSERT_PTR_NULL(json_object_get(r, "rows"));
    CU_ASSERT_TRUE(json_is_true(json_object_get(r, "validated")));
    json_decref(r);
}

static void test_llm_answer_and_truncation(void)
{
    llm_peer_clear_expectations(peer);
    llm_peer_expect_text(peer, "list every track");
    llm_peer_expect_text(peer, "Track");
    llm_peer_push_completion(peer,
                             "Here you go:\n```sql\nSELECT Name FROM Track ORDER BY TrackId\n```");
    json_t *r = ask(chinook_id,
                    "{\"question\": \"list every track\", \"execute\": true, \"engine\": \"llm\", "
                    "\"result_limit\": 5}",
                    200);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "engine")), "llm");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "row_count")), 5);
    CU_ASSERT_TRUE(json_is_true(json_object_get(r, "truncated")));
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), 0);
    json_decref(r);
}

static void test_llm_retry_with_error(void)
{
    llm_peer_clear_expectations(peer);
    int before = llm_peer_requests(peer);
    llm_peer_push_completion(peer, "```sql\nSELECT NoSuchColumn FROM Track\n```");
    llm_peer_push_completion(peer, "```sql\nSELECT count(*) FROM Track\n```");
    json_t *r =
        ask(chinook_id,
            "{\"question\": \"how many tracks\", \"execute\": true, \"engine\": \"llm\"}", 200);
    CU_ASSERT_EQUAL(first_cell(r), 3503);
    CU_ASSERT_EQUAL(llm_peer_requests(peer) - before, 2);
    /* The retry carried the failed SQL and the database's error. */
    json_t *last = llm_peer_last_body(peer);
    char *text = json_dumps(last, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "NoSuchColumn"));
    free(text);
    json_decref(last);
    json_decref(r);
}

static void test_llm_write_refused(void)
{
    llm_peer_push_completion(peer, "```sql\nDELETE FROM Track\n```");
    json_t *r =
        ask(chinook_id,
            "{\"question\": \"remove the tracks\", \"execute\": true, \"engine\": \"llm\"}", 422);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "error_code")), "unsafe_query");
    json_decref(r);
    llm_peer_push_completion(peer, "```sql\nSELECT 1; DROP TABLE Track\n```");
    json_decref(ask(chinook_id, "{\"question\": \"x\", \"engine\": \"llm\"}", 422));
    /* Nothing changed. */
    llm_peer_push_completion(peer, "```sql\nSELECT count(*) FROM Track\n```");
    r = ask(chinook_id, "{\"question\": \"count tracks\", \"execute\": true, \"engine\": \"llm\"}",
            200);
    CU_ASSERT_EQUAL(first_cell(r), 3503);
    json_decref(r);
}

static void test_llm_down(void)
{
    struct llm_peer_reply reply = {500, NULL, "{\"error\": \"boom\"}", 0, 0, NULL};
    llm_peer_push(peer, &reply);
    json_t *r = ask(chinook_id, "{\"question\": \"anything\", \"engine\": \"llm\"}", 502);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "error_code")), "llm_unavailable");
    char *text = json_dumps(r, 0);
    CU_ASSERT_PTR_NULL(strstr(text, LLM_KEY));
    free(text);
    json_decref(r);
}

static void test_bad_input(void)
{
    char long_question[2100];
    memset(long_question, 'a', sizeof(long_question) - 1);
    long_question[sizeof(long_question) - 1] = '\0';
    char too_long[2300];
    snprintf(too_long, sizeof(too_long), "{\"question\": \"%s\"}", long_question);
    const char *cases[] = {
        "{}",
        "{\"question\": \"\"}",
        "{\"question\": \"   \"}",
        "{\"question\": 5}",
        too_long,
        "{\"question\": \"q\", \"engine\": \"magic\"}",
        "{\"question\": \"q\", \"result_limit\": 0}",
        "{\"question\": \"q\", \"result_limit\": 100001}",
        "{\"question\": \"q\", \"result_limit\": \"ten\"}",
        "{\"question\": \"q\", \"execute\": \"yes\"}",
        "[\"question\"]",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        json_decref(ask(chinook_id, cases[i], 422));
    json_decref(ask(chinook_id, NULL, 422));
    json_decref(ask(chinook_id, "{\"question\": ", 400));
    json_decref(ask("00000000-0000-4000-8000-000000000000", "{\"question\": \"q\"}", 404));
    char *north = harness_copy_fixture("northwind/northwind.sqlite");
    char *id = api_create(server, "unanalysed", "sqlite", north, AGENT);
    json_decref(ask(id, "{\"question\": \"how many orders\"}", 409));
    free(id);
    free(north);
}

/* PostgreSQL faults: a timeout, a killed backend, a wrong password, a server that is gone. */
static char *pg_ready(void)
{
    const char *url = getenv("QUARRY_TEST_PG_URL");
    if (!url) {
        CU_FAIL("QUARRY_TEST_PG_URL is not set: run the README's test command");
        return NULL;
    }
    if (!pg_id) {
        pg_id = api_create(server, "pg-t2s", "postgres", url, AGENT);
        json_decref(api_analyze(server, pg_id, 180));
    }
    return pg_id;
}

static void test_pg_timeout_and_recovery(void)
{
    char *id = pg_ready();
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    llm_peer_push_completion(peer, "```sql\nSELECT count(*) FROM track a, track b, track c\n```");
    json_t *r = ask(id, "{\"question\": \"slow\", \"execute\": true, \"engine\": \"llm\"}", 504);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "error_code")), "target_timeout");
    json_decref(r);
    llm_peer_push_completion(peer, "```sql\nSELECT count(*) FROM artist\n```");
    r = ask(id, "{\"question\": \"artists\", \"execute\": true, \"engine\": \"llm\"}", 200);
    CU_ASSERT_EQUAL(first_cell(r), 275);
    json_decref(r);
}

static void test_pg_killed_mid_query(void)
{
    char *id = pg_ready();
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    /* While the slow query runs, the server ends its backend. */
    pid_t killer = fork();
    if (killer == 0) {
        usleep(400000);
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "psql '%s' -Atc \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE application_name = 'quarry' AND query LIKE '%%track a%%'\" >/dev/null 2>&1",
                 getenv("QUARRY_TEST_PG_URL"));
        _exit(system(cmd) == 0 ? 0 : 1);
    }
    llm_peer_push_completion(peer, "```sql\nSELECT count(*) FROM track a, track b, track c\n```");
    json_t *r = ask(id, "{\"question\": \"slow\", \"execute\": true, \"engine\": \"llm\"}", 502);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "error_code")),
                           "target_unavailable");
    json_decref(r);
    int status;
    waitpid(killer, &status, 0);
    /* The broken connection was dropped: the next request works. */
    llm_peer_push_completion(peer, "```sql\nSELECT count(*) FROM genre\n```");
    r = ask(id, "{\"question\": \"genres\", \"execute\": true, \"engine\": \"llm\"}", 200);
    CU_ASSERT_EQUAL(first_cell(r), 25);
    json_decref(r);
}

static void test_pg_wrong_password_and_down(void)
{
    char *id = pg_ready();
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    const char *url = getenv("QUARRY_TEST_PG_URL");
    char path[200], body[1024];
    snprintf(path, sizeof(path), "/v1/database-connection/%s", id);
    /* Wrong password: stored (as failed), and queries answer 502 without the password. */
    json_decref(api_call(server, "PATCH", path,
                         "{\"url\": \"postgresql://quarry:Wr0ng-Pa55@127.0.0.1:55432/chinook\"}",
                         200));
    /* The connection fails before the LLM is asked: no completion is queued for it. */
    json_t *r = ask(id, "{\"question\": \"one\", \"execute\": true, \"engine\": \"llm\"}", 502);
    char *text = json_dumps(r, 0);
    CU_ASSERT_PTR_NULL(strstr(text, "Wr0ng-Pa55"));
    free(text);
    json_decref(r);
    /* A server that is down. */
    json_decref(api_call(server, "PATCH", path,
                         "{\"url\": \"postgresql://quarry:secret@127.0.0.1:1/chinook\"}", 200));
    r = ask(id, "{\"question\": \"one\", \"execute\": true, \"engine\": \"llm\"}", 502);
    json_decref(r);
    /* A host that does not resolve. */
    json_decref(api_call(server, "PATCH", path,
                         "{\"url\": \"postgresql://quarry:secret@no-such-host.invalid/chinook\"}",
                         200));
    r = ask(id, "{\"question\": \"one\", \"execute\": true, \"engine\": \"llm\"}", 502);
    json_decref(r);
    /* Back to the real server: it works again. */
    snprintf(body, sizeof(body), "{\"url\": \"%s\"}", url);
    json_decref(api_call(server, "PATCH", path, body, 200));
    llm_peer_push_completion(peer, "```sql\nSELECT count(*) FROM media_type\n```");
    r = ask(id, "{\"question\": \"media\", \"execute\": true, \"engine\": \"llm\"}", 200);
    CU_ASSERT_EQUAL(first_cell(r), 5);
    json_decref(r);
}

void register_api_text2sql_tests(void)
{
    CU_pSuite s = CU_add_suite("api_text2sql", suite_init, suite_cleanup);
    CU_add_test(s, "built-in engine: count, executed and validated", test_builtin_count);
    CU_add_test(s, "LLM engine: answer, row limit, truncation", test_llm_answer_and_truncation);
    CU_add_test(s, "LLM engine: one retry with the database's error", test_llm_retry_with_error);
    CU_add_test(s, "LLM engine: writes and two statements refused (422)", test_llm_write_refused);
    CU_add_test(s, "LLM endpoint failing: 502, no key in the body", test_llm_down);
    CU_add_test(s, "bad input: 422/400/404/409", test_bad_input);
    CU_add_test(s, "PostgreSQL: statement timeout 504, then recovery",
                test_pg_timeout_and_recovery);
    CU_add_test(s, "PostgreSQL: backend killed mid-query 502, pool recovers",
                test_pg_killed_mid_query);
    CU_add_test(s, "PostgreSQL: wrong password, down, unresolvable: 502",
                test_pg_wrong_password_and_down);
}
