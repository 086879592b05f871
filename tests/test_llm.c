/*
 * The LLM client against an OpenAI-compatible test peer on loopback (plain
 * evhttp in a thread, tests/llm_peer.c) that checks every request it gets;
 * the SQL extractor; the text-to-SQL prompt.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "llm.h"
#include "llm_peer.h"
#include "sqlsafety.h"

#define PEER_KEY "sk-test-SECRET-key-0123456789"
#define PEER_MODEL "quarry-test-model"

static struct llm_peer *peer;

static struct llm_config config_for(const struct llm_peer *p)
{
    struct llm_config c = {.url = llm_peer_url(p),
                           .model = PEER_MODEL,
                           .api_key = PEER_KEY,
                           .timeout_ms = 5000,
                           .max_tokens = 512,
                           .temperature = 0.0};
    return c;
}

static const struct llm_message two_messages[] = {
    {"system", "You write SQL."},
    {"user", "How many tracks are there?"},
};

static int suite_init(void)
{
    peer = llm_peer_start(PEER_KEY, PEER_MODEL);
    return peer ? 0 : -1;
}

static int suite_cleanup(void)
{
    llm_peer_stop(peer);
    peer = NULL;
    return 0;
}

/* A loopback port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* ------------------------------------------------------------------------ */
/* llm_chat                                                                 */
/* ------------------------------------------------------------------------ */

static void test_chat_completion(void)
{
    struct llm_config c = config_for(peer);
    char err[256] = "x";
    const char *content = "Here is the query:\n```sql\nSELECT COUNT(*) FROM Track;\n```\n"
                          "It counts the tracks.";
    int bad = llm_peer_bad_requests(peer), before = llm_peer_requests(peer);
    llm_peer_push_completion(peer, content);
    char *answer = llm_chat(&c, two_messages, 2, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(answer);
    CU_ASSERT_STRING_EQUAL(answer, content);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_EQUAL(llm_peer_requests(peer), before + 1);
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), bad);

    /* What the peer received: model, the messages in order, the options. */
    json_t *body = llm_peer_last_body(peer);
    const char *model = NULL, *role0 = NULL, *content1 = NULL;
    json_int_t max_tokens = 0;
    double temperature = -1;
    int stream = 1;
    CU_ASSERT_EQUAL(json_unpack(body, "{s:s, s:[{s:s}, {s:s}], s:I, s:F, s:b}", "model", &model,
                                "messages", "role", &role0, "content", &content1, "max_tokens",
                                &max_tokens, "temperature", &temperature, "stream", &stream),
                    0);
    if (model) {
        CU_ASSERT_STRING_EQUAL(model, PEER_MODEL);
        CU_ASSERT_STRING_EQUAL(role0, "system");
        CU_ASSERT_STRING_EQUAL(content1, "How many tracks are there?");
        CU_ASSERT_EQUAL(max_tokens, 512);
        CU_ASSERT_DOUBLE_EQUAL(temperature, 0.0, 1e-9);
        CU_ASSERT_FALSE(stream);
    }
    CU_ASSERT_EQUAL(json_array_size(json_object_get(body, "messages")), 2);
    json_decref(body);

    char *sql = llm_extract_sql(answer);
    CU_ASSERT_PTR_NOT_NULL(sql);
    if (sql)
        CU_ASSERT_STRING_EQUAL(sql, "SELECT COUNT(*) FROM Track");
    free(sql);
    free(answer);
}

/* The peer's checks can fail: a wrong key, or none, is caught and answered 400. */
static void test_peer_checks_the_key(void)
{
    struct llm_config c = config_for(peer);
    char err[256];
    int status = -1;
    int bad = llm_peer_bad_requests(peer);
    c.api_key = "sk-wrong";
    CU_ASSERT_PTR_NULL(llm_chat(&c, two_messages, 2, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "HTTP 400"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Authorization"));
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), bad + 1);

    c.api_key = NULL;
    json_t *messages = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");
    CU_ASSERT_PTR_NULL(llm_chat_json(&c, messages, &status, err, sizeof(err)));
    CU_ASSERT_EQUAL(status, LLM_ERR_HTTP);
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), bad + 2);
    json_decref(messages);
}

/* A peer that expects no key sees no Authorization header at all. */
static void test_no_key(void)
{
    struct llm_peer *open_peer = llm_peer_start(NULL, PEER_MODEL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(open_peer);
    struct llm_config c = config_for(open_peer);
    char err[256];
    c.api_key = "";
    llm_peer_push_completion(open_peer, "SELECT 1");
    char *answer = llm_chat(&c, two_messages, 2, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(answer);
    CU_ASSERT_EQUAL(llm_peer_bad_requests(open_peer), 0);
    free(answer);

    c.api_key = PEER_KEY; /* and one that is sent is refused by it */
    CU_ASSERT_PTR_NULL(llm_chat(&c, two_messages, 2, err, sizeof(err)));
    CU_ASSERT_EQUAL(llm_peer_bad_requests(open_peer), 1);
    llm_peer_stop(open_peer);
}

static void test_trailing_slash(void)
{
    char url[128];
    struct llm_config c = config_for(peer);
    char err[256];
    snprintf(url, sizeof(url), "%s//", llm_peer_url(peer));
    c.url = url;
    llm_peer_push_completion(peer, "SELECT 2");
    char *answer = llm_chat(&c, two_messages, 2, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(answer);
    if (answer)
        CU_ASSERT_STRING_EQUAL(answer, "SELECT 2");
    free(answer);
}

static void expect_failure(const struct llm_peer_reply *reply, int want_status,
                           const char *want_text)
{
    struct llm_config c = config_for(peer);
    char err[256] = "";
    int status = -1;
    json_t *messages = json_pack("[{s:s, s:s}]", "role", "user", "content", "q");
    llm_peer_push(peer, reply);
    char *answer = llm_chat_json(&c, messages, &status, err, sizeof(err));
    CU_ASSERT_PTR_NULL(answer);
    CU_ASSERT_EQUAL(status, want_status);
    if (!strstr(err, want_text)) {
        fprintf(stderr, "\n  error [%s] lacks [%s]\n", err, want_text);
        CU_FAIL("error text");
    }
    CU_ASSERT_PTR_NULL(strstr(err, PEER_KEY));
    CU_ASSERT_PTR_NULL(strstr(err, "SECRET"));
    free(answer);
    json_decref(messages);
}

static void test_http_errors(void)
{
    struct llm_peer_reply r500 = {.status = 500,
                                  .body = "{\"error\": {\"message\": \"model overloaded\"}}"};
    expect_failure(&r500, LLM_ERR_HTTP, "HTTP 500: model overloaded");

    /* Providers echo the key in 401s; the client never repeats it. */
    struct llm_peer_reply r401 = {
        .status = 401,
        .body = "{\"error\": {\"message\": \"Incorrect API key provided: " PEER_KEY
                ". You can find your key at ...\", \"type\": \"invalid_request_error\"}}"};
    expect_failure(&r401, LLM_ERR_HTTP, "HTTP 401: Incorrect API key provided: ***");

    struct llm_peer_reply r429 = {
        .status = 429, .content_type = "text/plain", .body = "slow down\x01\xff please"};
    expect_failure(&r429, LLM_ERR_HTTP, "HTTP 429: slow down ? please");

    struct llm_peer_reply ollama = {.status = 404,
                                    .body = "{\"error\": \"model 'x' not found, try pulling it\"}"};
    expect_failure(&ollama, LLM_ERR_HTTP, "HTTP 404: model 'x' not found");

    /* No redirect is followed: the peer sees one request, the client the 302. */
    int before = llm_peer_requests(peer);
    char location[128];
    snprintf(location, sizeof(location), "%s/chat/completions", llm_peer_url(peer));
    struct llm_peer_reply r302 = {.status = 302, .location = location, .body = ""};
    expect_failure(&r302, LLM_ERR_HTTP, "HTTP 302");
    CU_ASSERT_EQUAL(llm_peer_requests(peer), before + 1);
}

static void test_malformed_answers(void)
{
    struct llm_peer_reply not_json = {.body = "{\"choices\": [{\"message\": "};
    expect_failure(&not_json, LLM_ERR_RESPONSE, "not JSON");
    struct llm_peer_reply no_choices = {.body = "{\"choices\": []}"};
    expect_failure(&no_choices, LLM_ERR_RESPONSE, "no choices[0].message.content");
    struct llm_peer_reply null_content = {
        .body = "{\"choices\": [{\"message\": {\"role\": \"assistant\", \"content\": null}}]}"};
    expect_failure(&null_content, LLM_ERR_RESPONSE, "no choices[0].message.content");
    struct llm_peer_reply empty = {.body = NULL};
    expect_failure(&empty, LLM_ERR_RESPONSE, "not JSON");
}

static void test_timeout(void)
{
    struct llm_config c = config_for(peer);
    char err[256];
    int status = -1;
    struct timespec start;
    json_t *messages = json_pack("[{s:s, s:s}]", "role", "user", "content", "slow");
    char *slow = llm_peer_completion_json("SELECT 1");
    struct llm_peer_reply r = {.body = slow, .delay_ms = 2000};
    llm_peer_push(peer, &r);
    c.timeout_ms = 300;
    clock_gettime(CLOCK_MONOTONIC, &start);
    CU_ASSERT_PTR_NULL(llm_chat_json(&c, messages, &status, err, sizeof(err)));
    long took = elapsed_ms(&start);
    CU_ASSERT_EQUAL(status, LLM_ERR_TIMEOUT);
    CU_ASSERT(took >= 250 && took < 1500);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "did not answer in time"));
    CU_ASSERT_EQUAL(llm_peer_wait_idle(peer, 5000), 0);
    free(slow);
    json_decref(messages);
}

static char *completion_of_size(size_t content_len)
{
    char *content = malloc(content_len + 1);
    memset(content, 'x', content_len);
    content[content_len] = '\0';
    char *body = llm_peer_completion_json(content);
    free(content);
    return body;
}

static void test_response_bound(void)
{
    struct llm_config c = config_for(peer);
    char err[256];
    char *huge = completion_of_size(2 * LLM_MAX_RESPONSE);
    struct llm_peer_reply r = {.body = huge};
    expect_failure(&r, LLM_ERR_RESPONSE, "larger than");
    free(huge);

    char *half = completion_of_size(LLM_MAX_RESPONSE / 2);
    struct llm_peer_reply ok = {.body = half};
    llm_peer_push(peer, &ok);
    char *answer = llm_chat(&c, two_messages, 2, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(answer);
    if (answer)
        CU_ASSERT_EQUAL(strlen(answer), LLM_MAX_RESPONSE / 2);
    free(answer);
    free(half);
}

static void test_bad_configs(void)
{
    char err[256], url[128];
    int status = -1;
    struct llm_config c = config_for(peer);
    json_t *messages = json_pack("[{s:s, s:s}]", "role", "user", "content", "q");
    const char *bad_urls[] = {"file:///etc/passwd", "ftp://127.0.0.1/v1", "gopher://x", ""};
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        c.url = bad_urls[i];
        CU_ASSERT_PTR_NULL(llm_chat_json(&c, messages, &status, err, sizeof(err)));
        CU_ASSERT_EQUAL(status, LLM_ERR_INVALID);
    }
    c = config_for(peer);
    c.model = "";
    CU_ASSERT_PTR_NULL(llm_chat_json(&c, messages, &status, err, sizeof(err)));
    CU_ASSERT_EQUAL(status, LLM_ERR_INVALID);
    c = config_for(peer);
    json_t *empty = json_array();
    CU_ASSERT_PTR_NULL(llm_chat_json(&c, empty, &status, err, sizeof(err)));
    CU_ASSERT_EQUAL(status, LLM_ERR_INVALID);
    json_decref(empty);
    CU_ASSERT_PTR_NULL(llm_chat_json(NULL, messages, &status, err, sizeof(err)));

    /* Nothing listening: a connect error that names neither key nor URL password. */
    snprintf(url, sizeof(url), "http://user:hunter2@127.0.0.1:%d/v1", closed_port());
    c.url = url;
    CU_ASSERT_PTR_NULL(llm_chat_json(&c, messages, &status, err, sizeof(err)));
    CU_ASSERT_EQUAL(status, LLM_ERR_CONNECT);
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
    CU_ASSERT_PTR_NULL(strstr(err, PEER_KEY));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot reach"));

    /* Invalid UTF-8 in a message never reaches the wire. */
    struct llm_message bad_utf8 = {"user", "caf\xe9"};
    int before = llm_peer_requests(peer);
    c = config_for(peer);
    CU_ASSERT_PTR_NULL(llm_chat(&c, &bad_utf8, 1, err, sizeof(err)));
    CU_ASSERT_EQUAL(llm_peer_requests(peer), before);
    json_decref(messages);
}

struct chat_thread {
    pthread_t thread;
    int ok;
};

static void *chat_worker(void *arg)
{
    struct chat_thread *t = arg;
    struct llm_config c = config_for(peer);
    char err[256];
    for (int i = 0; i < 3; i++) {
        char *answer = llm_chat(&c, two_messages, 2, err, sizeof(err));
        t->ok += answer && strcmp(answer, "SELECT 42") == 0;
        free(answer);
    }
    return NULL;
}

/* Worker threads call the client at once (libcurl without signals, no shared state). */
static void test_threads(void)
{
    struct chat_thread threads[4];
    int bad = llm_peer_bad_requests(peer);
    for (int i = 0; i < 12; i++)
        llm_peer_push_completion(peer, "SELECT 42");
    for (int i = 0; i < 4; i++) {
        threads[i].ok = 0;
        pthread_create(&threads[i].thread, NULL, chat_worker, &threads[i]);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i].thread, NULL);
        ok += threads[i].ok;
    }
    CU_ASSERT_EQUAL(ok, 12);
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), bad);
}

/* ------------------------------------------------------------------------ */
/* The prompt, end to end                                                   */
/* ------------------------------------------------------------------------ */

#define SCHEMA_TEXT                                                                                \
    "Table Track (TrackId INTEGER PRIMARY KEY, Name TEXT, AlbumId INTEGER REFERENCES "             \
    "Album(AlbumId), Milliseconds INTEGER)\nTable Album (AlbumId INTEGER PRIMARY KEY, Title TEXT)"
#define QUESTION "How many tracks are longer than five minutes?"

static json_t *examples_json(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char q[64], sql[64];
        snprintf(q, sizeof(q), "Example question %zu?", i);
        snprintf(sql, sizeof(sql), "SELECT %zu FROM Track", i);
        json_array_append_new(a, json_pack("{s:s, s:s}", "question", q, "sql", sql));
    }
    return a;
}

/* Asserts roles alternate after the system message: user, assistant, user, ... */
static void assert_roles(const json_t *messages)
{
    size_t i;
    const json_t *m;
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *want = i == 0 ? "system" : (i % 2 ? "user" : "assistant");
        CU_ASSERT_PTR_NOT_NULL_FATAL(role);
        CU_ASSERT_STRING_EQUAL(role, want);
        CU_ASSERT(json_is_string(json_object_get(m, "content")));
    }
}

static const char *content_at(const json_t *messages, size_t i)
{
    return json_string_value(json_object_get(json_array_get(messages, i), "content"));
}

static void test_prompt_round_trip(void)
{
    struct llm_config c = config_for(peer);
    char err[256];
    int status = -1, bad = llm_peer_bad_requests(peer);
    json_t *examples = examples_json(2);
    struct llm_prompt p = {.dialect = "sqlite",
                           .schema_text = SCHEMA_TEXT,
                           .examples = examples,
                           .question = QUESTION,
                           .row_limit = 100};
    json_t *messages = llm_prompt_text2sql(&p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(messages);
    CU_ASSERT_EQUAL(json_array_size(messages), 6); /* system, 2 example pairs, question */
    assert_roles(messages);

    /* The peer refuses the request unless schema, question and examples reach it. */
    llm_peer_expect_text(peer, "Table Track (TrackId INTEGER PRIMARY KEY");
    llm_peer_expect_text(peer, QUESTION);
    llm_peer_expect_text(peer, "SELECT 1 FROM Track");
    llm_peer_expect_text(peer, "SQLite");
    llm_peer_push_completion(peer, "```sql\nSELECT COUNT(*) FROM Track WHERE Milliseconds > "
                                   "300000;\n```");
    char *answer = llm_chat_json(&c, messages, &status, err, sizeof(err));
    CU_ASSERT_EQUAL(status, LLM_OK);
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), bad);
    char *sql = llm_extract_sql(answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
    CU_ASSERT_STRING_EQUAL(sql, "SELECT COUNT(*) FROM Track WHERE Milliseconds > 300000");
    CU_ASSERT_EQUAL(sqlsafety_check(sql, "sqlite", NULL), 1);

    /* The retry carries the failed SQL and the database's error. */
    struct llm_prompt retry = p;
    retry.failed_sql = "SELECT COUNT(*) FROM Tracks";
    retry.db_error = "no such table: Tracks";
    json_t *again = llm_prompt_text2sql(&retry);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    CU_ASSERT_EQUAL(json_array_size(again), 8);
    assert_roles(again);
    CU_ASSERT_PTR_NOT_NULL(strstr(content_at(again, 6), "SELECT COUNT(*) FROM Tracks"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content_at(again, 7), "no such table: Tracks"));
    llm_peer_expect_text(peer, "no such table: Tracks");
    llm_peer_push_completion(peer, "SELECT COUNT(*) FROM Track");
    char *second = llm_chat_json(&c, again, &status, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(second);
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), bad);

    /* Without the error in the request the peer would have refused it. */
    llm_peer_push_completion(peer, "SELECT 1");
    CU_ASSERT_PTR_NULL(llm_chat_json(&c, messages, &status, err, sizeof(err)));
    CU_ASSERT_EQUAL(llm_peer_bad_requests(peer), bad + 1);
    char *problem = llm_peer_last_problem(peer);
    CU_ASSERT_PTR_NOT_NULL(strstr(problem, "no such table"));
    free(problem);
    llm_peer_clear_expectations(peer);
    free(llm_chat_json(&c, messages, &status, err, sizeof(err))); /* drains the unused reply */
    CU_ASSERT_EQUAL(status, LLM_OK);

    free(second);
    json_decref(again);
    free(sql);
    free(answer);
    json_decref(messages);
    json_decref(examples);
}

static void test_prompt_contents(void)
{
    json_t *examples = examples_json(LLM_MAX_EXAMPLES + 2);
    json_array_append_new(examples, json_pack("{s:s}", "question", "no sql"));
    json_array_insert_new(examples, 0, json_string("not an object"));
    json_array_insert_new(examples, 1, json_pack("{s:s, s:s}", "question", "", "sql", "SELECT 1"));
    struct llm_prompt p = {.dialect = "mysql",
                           .schema_text = "Table t (a INT)",
                           .examples = examples,
                           .question = "Which a?",
                           .instructions = "Amounts are in cents.",
                           .row_limit = 50};
    json_t *m = llm_prompt_text2sql(&p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(json_array_size(m), 1 + 2 * LLM_MAX_EXAMPLES + 1);
    assert_roles(m);
    const char *system = content_at(m, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(system, "MySQL"));
    CU_ASSERT_PTR_NOT_NULL(strstr(system, "with `"));
    CU_ASSERT_PTR_NOT_NULL(strstr(system, "LIMIT 50"));
    CU_ASSERT_PTR_NOT_NULL(strstr(system, "Amounts are in cents."));
    CU_ASSERT_PTR_NOT_NULL(strstr(system, "Table t (a INT)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(system, "read-only"));
    CU_ASSERT_PTR_NOT_NULL(strstr(content_at(m, 1), "Example question 0?"));
    CU_ASSERT_STRING_EQUAL(content_at(m, 2), "```sql\nSELECT 0 FROM Track\n```");
    CU_ASSERT_PTR_NOT_NULL(strstr(content_at(m, 2 * LLM_MAX_EXAMPLES + 1), "Which a?"));
    json_decref(m);

    /* A database error that is long and not UTF-8 is cut and cleaned. */
    char *long_error = malloc(LLM_MAX_ERROR_TEXT * 2 + 1);
    memset(long_error, 'e', LLM_MAX_ERROR_TEXT * 2);
    static const char bad[] = "bad \xff\xfe"
                              " byte";
    memcpy(long_error, bad, sizeof(bad) - 1);
    long_error[LLM_MAX_ERROR_TEXT * 2] = '\0';
    struct llm_prompt retry = {.dialect = "postgresql",
                               .question = "q",
                               .failed_sql = "SELECT nope",
                               .db_error = long_error};
    m = llm_prompt_text2sql(&retry);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(json_array_size(m), 4);
    const char *fed_back = content_at(m, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(fed_back, "bad ?? byte"));
    CU_ASSERT(strlen(fed_back) < LLM_MAX_ERROR_TEXT + 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(content_at(m, 0), "PostgreSQL"));
    CU_ASSERT_PTR_NULL(strstr(content_at(m, 0), "LIMIT")); /* no row limit asked */
    json_decref(m);
    free(long_error);

    struct llm_prompt none = {.dialect = "sqlite"};
    CU_ASSERT_PTR_NULL(llm_prompt_text2sql(&none));
    CU_ASSERT_PTR_NULL(llm_prompt_text2sql(NULL));
    json_decref(examples);
}

/* ------------------------------------------------------------------------ */
/* Extracting SQL                                                           */
/* ------------------------------------------------------------------------ */

static void test_extract_sql(void)
{
    static const struct {
        const char *completion;
        const char *sql; /* NULL: none */
    } cases[] = {
        {"```sql\nSELECT 1;\n```", "SELECT 1"},
        {"Sure!\n```SQL\nSELECT a FROM t\n```\nThis returns a.", "SELECT a FROM t"},
        {"```\nSELECT 2\n```", "SELECT 2"},
        {"```python\nprint(1)\n```\nand\n```sql\nSELECT 3\n```", "SELECT 3"},
        {"```postgresql\nSELECT 4 FROM t\n```", "SELECT 4 FROM t"},
        {"The query is: SELECT name FROM artists WHERE name = 'A;B'; This returns names.",
         "SELECT name FROM artists WHERE name = 'A;B'"},
        {"SELECT x\nFROM y\n\nThis query selects x.", "SELECT x\nFROM y"},
        {"With the schema given, the answer is:\nWITH t AS (SELECT 1 AS a) SELECT a FROM t;",
         "WITH t AS (SELECT 1 AS a) SELECT a FROM t"},
        {"I will select the rows: SELECT * FROM t", "SELECT * FROM t"},
        {"select count(*) from t", "select count(*) from t"},
        {"<think>maybe SELECT wrong FROM x</think>\n```sql\nSELECT right FROM y\n```",
         "SELECT right FROM y"},
        {"<think>SELECT wrong FROM x</think>The answer: SELECT ok FROM z", "SELECT ok FROM z"},
        {"```sql\nSELECT 5 FROM t", "SELECT 5 FROM t"},
        {"```SELECT 6```", "SELECT 6"},
        {"WITH RECURSIVE c(n) AS (SELECT 1) SELECT n FROM c", "WITH RECURSIVE c(n) AS (SELECT 1) "
                                                              "SELECT n FROM c"},
        {"I cannot answer that.", NULL},
        {"With pleasure, but the schema has no such table.", NULL},
        {"", NULL},
        {"```sql\n\n```", NULL},
        {"<think>SELECT 1</think>", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = llm_extract_sql(cases[i].completion);
        int same = (!got && !cases[i].sql) || (got && cases[i].sql && !strcmp(got, cases[i].sql));
        if (!same) {
            fprintf(stderr, "\n  [%s]\n    got [%s] want [%s]\n", cases[i].completion,
                    got ? got : "(null)", cases[i].sql ? cases[i].sql : "(null)");
            CU_FAIL("extracted SQL differs");
        }
        free(got);
    }
    CU_ASSERT_PTR_NULL(llm_extract_sql(NULL));
}

void register_llm_tests(void)
{
    CU_pSuite s = CU_add_suite("llm", suite_init, suite_cleanup);
    CU_add_test(s, "a completion, and the request the peer checked", test_chat_completion);
    CU_add_test(s, "the peer refuses a wrong or missing key", test_peer_checks_the_key);
    CU_add_test(s, "no key, no Authorization header", test_no_key);
    CU_add_test(s, "a base URL with trailing slashes", test_trailing_slash);
    CU_add_test(s, "HTTP errors, the key never echoed, no redirects", test_http_errors);
    CU_add_test(s, "malformed answers", test_malformed_answers);
    CU_add_test(s, "a slow answer past the timeout", test_timeout);
    CU_add_test(s, "the response size bound", test_response_bound);
    CU_add_test(s, "bad configurations and unreachable endpoints", test_bad_configs);
    CU_add_test(s, "concurrent calls from threads", test_threads);
    CU_add_test(s, "a text-to-SQL prompt round trip and retry", test_prompt_round_trip);
    CU_add_test(s, "prompt contents and bounds", test_prompt_contents);
    CU_add_test(s, "extracting SQL from completions", test_extract_sql);
}
