/*
 * Authentication, scopes, agent isolation (keys and JWTs), credential
 * masking and sealing, and the target guards, over HTTP against quarryd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <CUnit/CUnit.h>
#include <jwt.h>

#include "harness.h"

#define AGENT_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define AGENT_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
#define JWT_SECRET "test-jwt-secret-0123456789abcdef0123456789"
#define PG_PASSWORD "Sup3r-S3cret-Pa55"

static struct harness_server *server;
static char *chinook;
static char *allowed_dir;

static int suite_init(void)
{
    allowed_dir = harness_tmppath("allowed", NULL);
    mkdir(allowed_dir, 0700);
    char *copy = harness_copy_fixture("chinook/Chinook_Sqlite.sqlite");
    if (asprintf(&chinook, "%s/chinook.db", allowed_dir) < 0 || rename(copy, chinook) != 0)
        return -1;
    free(copy);
    const char *args[] = {"--jwt-secret",
                          JWT_SECRET,
                          "--jwt-audience",
                          "quarry",
                          "--jwt-issuer",
                          "https://issuer.test",
                          "--sqlite-dirs",
                          allowed_dir,
                          "--deny-hosts",
                          "127.0.0.2",
                          NULL};
    server = harness_start(args, NULL);
    return server ? 0 : -1;
}

static int suite_cleanup(void)
{
    int rc = harness_stop(server);
    free(chinook);
    free(allowed_dir);
    return rc == 0 ? 0 : -1;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static struct harness_response req(const char *method, const char *path, const char *body,
                                   const char *const *headers)
{
    struct harness_response r;
    if (harness_request(server, method, path, body, headers, &r) != 0)
        memset(&r, 0, sizeof(r));
    return r;
}

static long status_of(const char *method, const char *path, const char *body,
                      const char *const *headers)
{
    struct harness_response r = req(method, path, body, headers);
    long status = r.status;
    if (status >= 400) {
        CU_ASSERT_PTR_NOT_NULL(r.json);
        CU_ASSERT_PTR_NOT_NULL(str(r.json, "error_code"));
    }
    harness_response_free(&r);
    return status;
}

static char *sqlite_body(const char *name, const char *agent)
{
    char *body = NULL;
    char agent_field[80] = "";
    if (agent)
        snprintf(agent_field, sizeof(agent_field), ", \"agent_id\": \"%s\"", agent);
    int n = asprintf(&body,
                     "{\"name\": \"%s\", \"url\": \"sqlite:///%s\", \"database_type\": "
                     "\"sqlite\"%s}",
                     name, chinook, agent_field);
    CU_ASSERT(n > 0);
    return body;
}

/* Creates a connection with `headers`; returns its id or NULL. */
static char *create(const char *name, const char *agent, const char *const *headers)
{
    char *body = sqlite_body(name, agent);
    struct harness_response r = req("POST", "/v1/database-connection", body, headers);
    free(body);
    char *id = r.status == 201 ? strdup(str(json_object_get(r.json, "connection"), "id")) : NULL;
    if (!id)
        fprintf(stderr, "create %s: %ld %s\n", name, r.status, r.body);
    harness_response_free(&r);
    return id;
}

static void test_missing_and_bad_credentials(void)
{
    const char *path = "/v1/database-connection";
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, NULL), 401);
    const char *empty[] = {"X-API-Key:", "X-API-Secret:", NULL};
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, empty), 401);
    struct harness_key key;
    CU_ASSERT_EQUAL_FATAL(harness_key(server, "read", NULL, &key), 0);
    char wrong[200];
    snprintf(wrong, sizeof(wrong), "X-API-Secret: %sx", key.secret);
    const char *bad_secret[] = {key.key_header, wrong, NULL};
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, bad_secret), 401);
    const char *half[] = {key.key_header, NULL};
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, half), 401);
    const char *unknown[] = {"X-API-Key: qk_nope", "X-API-Secret: nope", NULL};
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, unknown), 401);
    const char *garbage_bearer[] = {"Authorization: Bearer abc.def.ghi", NULL};
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, garbage_bearer), 401);
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, key.headers), 200);
    /* Health needs nothing; the task route does. */
    CU_ASSERT_EQUAL(status_of("GET", "/healthz", NULL, NULL), 200);
    CU_ASSERT_EQUAL(
        status_of("GET", "/v1/tasks/00000000-0000-4000-8000-000000000000/status", NULL, NULL), 401);
    CU_ASSERT_EQUAL(status_of("GET", "/v1/drivers", NULL, NULL), 401);
}

static void test_scopes(void)
{
    struct harness_key reader;
    CU_ASSERT_EQUAL_FATAL(harness_key(server, "read", NULL, &reader), 0);
    char *body = sqlite_body("scoped", AGENT_A);
    CU_ASSERT_EQUAL(status_of("POST", "/v1/database-connection", body, reader.headers), 403);
    CU_ASSERT_EQUAL(status_of("GET", "/v1/database-connection", NULL, reader.headers), 200);
    CU_ASSERT_EQUAL(status_of("POST", "/v1/database-connection", body, harness_auth(server)), 201);
    free(body);
}

static void test_revoked_key(void)
{
    struct harness_key key;
    CU_ASSERT_EQUAL_FATAL(harness_key(server, "write", NULL, &key), 0);
    CU_ASSERT_EQUAL(status_of("GET", "/v1/database-connection", NULL, key.headers), 200);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s keys revoke %s --registry '%s' >/dev/null 2>&1",
             QUARRY_TEST_BINARY, key.id, harness_registry_path(server));
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_EQUAL(status_of("GET", "/v1/database-connection", NULL, key.headers), 401);
}

static void test_agent_isolation_with_keys(void)
{
    struct harness_key a, b;
    CU_ASSERT_EQUAL_FATAL(harness_key(server, "write", AGENT_A, &a), 0);
    CU_ASSERT_EQUAL_FATAL(harness_key(server, "write", AGENT_B, &b), 0);
    char *mine = create("iso-a", NULL, a.headers); /* no agent_id: takes the key's */
    CU_ASSERT_PTR_NOT_NULL_FATAL(mine);
    char *body = sqlite_body("iso-b-by-a", AGENT_B);
    CU_ASSERT_EQUAL(status_of("POST", "/v1/database-connection", body, a.headers), 403);
    free(body);
    /* UUIDs compare without case. */
    body = sqlite_body("iso-a-upper", "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA");
    CU_ASSERT_EQUAL(status_of("POST", "/v1/database-connection", body, a.headers), 201);
    free(body);
    char path[160];
    snprintf(path, sizeof(path), "/v1/database-connection/%s", mine);
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, a.headers), 200);
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, b.headers), 403);
    CU_ASSERT_EQUAL(status_of("DELETE", path, NULL, b.headers), 403);
    CU_ASSERT_EQUAL(status_of("PATCH", path, "{\"name\": \"stolen\"}", b.headers), 403);
    CU_ASSERT_EQUAL(status_of("PATCH", path, "{\"agent_id\": \"" AGENT_B "\"}", a.headers), 403);
    snprintf(path, sizeof(path), "/v1/database-connection/agent/%s", AGENT_A);
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, b.headers), 403);

    struct harness_response r = req("GET", "/v1/database-connection?per_page=100", NULL, b.headers);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(r.json, "connections"), i, item)
        CU_ASSERT_STRING_EQUAL(str(item, "agent_id"), AGENT_B);
    harness_response_free(&r);
    r = req("GET", "/v1/database-connection?per_page=100", NULL, a.headers);
    CU_ASSERT(json_array_size(json_object_get(r.json, "connections")) >= 1);
    json_array_foreach(json_object_get(r.json, "connections"), i, item)
        CU_ASSERT_STRING_EQUAL(str(item, "agent_id"), AGENT_A);
    harness_response_free(&r);
    free(mine);
}

/* An HS256 token; `exp_delta`/`nbf_delta` relative to now (0 = omitted). */
static char *token(const char *secret, const char *aud, const char *iss, long exp_delta,
                   long nbf_delta, const char *scope, const char *agent)
{
    jwt_t *jwt;
    jwt_new(&jwt);
    time_t now = time(NULL);
    jwt_add_grant(jwt, "sub", "user-42");
    if (aud)
        jwt_add_grant(jwt, "aud", aud);
    if (iss)
        jwt_add_grant(jwt, "iss", iss);
    if (exp_delta)
        jwt_add_grant_int(jwt, "exp", (long)now + exp_delta);
    if (nbf_delta)
        jwt_add_grant_int(jwt, "nbf", (long)now + nbf_delta);
    if (scope)
        jwt_add_grant(jwt, "scope", scope);
    if (agent)
        jwt_add_grant(jwt, "agent_id", agent);
    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret));
    char *encoded = jwt_encode_str(jwt);
    jwt_free(jwt);
    return encoded;
}

static long status_with_token(const char *method, const char *path, const char *body, char *tok)
{
    char header[4096];
    snprintf(header, sizeof(header), "Authorization: Bearer %s", tok);
    const char *headers[] = {header, NULL};
    long status = status_of(method, path, body, headers);
    free(tok);
    return status;
}

static void test_jwt(void)
{
    const char *path = "/v1/database-connection";
    const char *iss = "https://issuer.test";
    CU_ASSERT_EQUAL(status_with_token("GET", path, NULL,
                                      token(JWT_SECRET, "quarry", iss, 600, 0, "read", NULL)),
                    200);
    CU_ASSERT_EQUAL(status_with_token("GET", path, NULL,
                                      token(JWT_SECRET, "quarry", iss, -600, 0, "read", NULL)),
                    401); /* expired */
    CU_ASSERT_EQUAL(status_with_token("GET", path, NULL,
                                      token(JWT_SECRET, "quarry", iss, 600, 600, "read", NULL)),
                    401); /* not yet valid */
    CU_ASSERT_EQUAL(
        status_with_token("GET", path, NULL, token(JWT_SECRET, "other", iss, 600, 0, "read", NULL)),
        401); /* wrong audience */
    CU_ASSERT_EQUAL(
        status_with_token("GET", path, NULL,
                          token(JWT_SECRET, "quarry", "https://evil", 600, 0, "read", NULL)),
        401); /* wrong issuer */
    CU_ASSERT_EQUAL(status_with_token("GET", path, NULL,
                                      token("another-secret-of-enough-length-000000", "quarry", iss,
                                            600, 0, "read", NULL)),
                    401); /* wrong signature */
    char *body = sqlite_body("jwt-made", AGENT_A);
    CU_ASSERT_EQUAL(status_with_token("POST", path, body,
                                      token(JWT_SECRET, "quarry", iss, 600, 0, "read", NULL)),
                    403); /* read scope cannot write */
    CU_ASSERT_EQUAL(
        status_with_token("POST", path, body,
                          token(JWT_SECRET, "quarry", iss, 600, 0, "read write", AGENT_B)),
        403); /* bound to another agent */
    CU_ASSERT_EQUAL(status_with_token("POST", path, body,
                                      token(JWT_SECRET, "quarry", iss, 600, 0, "write", AGENT_A)),
                    201);
    free(body);

    /* A wrong key pair is not rescued by a valid token. */
    char bearer[4096];
    char *tok = token(JWT_SECRET, "quarry", iss, 600, 0, "read", NULL);
    snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", tok);
    free(tok);
    const char *both[] = {"X-API-Key: qk_nope", "X-API-Secret: wrong", bearer, NULL};
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, both), 401);
    /* Empty key headers count as absent: the token is used. */
    const char *empty_pair[] = {"X-API-Key:", "X-API-Secret:", bearer, NULL};
    CU_ASSERT_EQUAL(status_of("GET", path, NULL, empty_pair), 200);

    /* Isolation through tokens: B sees none of A's connections. */
    tok = token(JWT_SECRET, "quarry", iss, 600, 0, "read", AGENT_B);
    snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", tok);
    free(tok);
    const char *as_b[] = {bearer, NULL};
    struct harness_response r = req("GET", "/v1/database-connection?per_page=100", NULL, as_b);
    CU_ASSERT_EQUAL(r.status, 200);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(r.json, "connections"), i, item)
        CU_ASSERT_STRING_EQUAL(str(item, "agent_id"), AGENT_B);
    harness_response_free(&r);
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t len = strlen(needle), cap = 1 << 20, n;
    char *buf = malloc(cap);
    int found = 0;
    /* Overlapping reads so a needle across a boundary is still seen. */
    size_t keep = 0;
    while ((n = fread(buf + keep, 1, cap - keep, f)) > 0) {
        n += keep;
        if (memmem(buf, n, needle, len))
            found = 1;
        keep = len < n ? len - 1 : 0;
        memmove(buf, buf + n - keep, keep);
    }
    free(buf);
    fclose(f);
    return found;
}

static void test_passwords_masked_and_sealed(void)
{
    const char *body =
        "{\"name\": \"pg-secret\", \"url\": \"postgresql://app:" PG_PASSWORD
        "@127.0.0.1:1/sales\", \"database_type\": \"postgresql\", \"agent_id\": "
        "\"" AGENT_A "\", \"connection_params\": {\"sslmode\": \"disable\", "
        "\"password\": \"" PG_PASSWORD "x\", \"api_token\": \"tok-" PG_PASSWORD "\"}}";
    struct harness_response r = req("POST", "/v1/database-connection", body, harness_auth(server));
    CU_ASSERT_EQUAL_FATAL(r.status, 201);
    json_t *c = json_object_get(r.json, "connection");
    CU_ASSERT_STRING_EQUAL(str(c, "database_type"), "postgres");
    CU_ASSERT_STRING_EQUAL(str(c, "url"), "postgresql://app:***@127.0.0.1:1/sales");
    CU_ASSERT_STRING_EQUAL(str(c, "status"), "failed"); /* nothing listens on port 1 */
    json_t *params = json_object_get(c, "connection_params");
    CU_ASSERT_STRING_EQUAL(str(params, "password"), "***");
    CU_ASSERT_STRING_EQUAL(str(params, "api_token"), "***");
    CU_ASSERT_STRING_EQUAL(str(params, "sslmode"), "disable");
    CU_ASSERT_PTR_NULL(strstr(r.body, PG_PASSWORD));
    char path[160];
    snprintf(path, sizeof(path), "/v1/database-connection/%s", str(c, "id"));

    /* Sending the masked record back keeps the real secrets (the probe still runs). */
    struct harness_response u =
        req("PUT", path,
            "{\"url\": \"postgresql://app:***@127.0.0.1:2/sales\", \"connection_params\": "
            "{\"password\": \"***\", \"sslmode\": \"require\"}}",
            harness_auth(server));
    CU_ASSERT_EQUAL(u.status, 200);
    CU_ASSERT_PTR_NULL(strstr(u.body, PG_PASSWORD));
    harness_response_free(&u);
    harness_response_free(&r);

    /* Neither the registry (WAL included) nor the log holds the password. */
    char wal[4096];
    snprintf(wal, sizeof(wal), "%s-wal", harness_registry_path(server));
    CU_ASSERT_FALSE(file_contains(harness_registry_path(server), PG_PASSWORD));
    CU_ASSERT_FALSE(file_contains(wal, PG_PASSWORD));
    char *log = harness_log(server);
    CU_ASSERT_PTR_NULL(strstr(log, PG_PASSWORD));
    free(log);
}

static void test_guards(void)
{
    const char *const *auth = harness_auth(server);
    CU_ASSERT_EQUAL(
        status_of("POST", "/v1/database-connection",
                  "{\"name\": \"denied\", \"url\": \"postgresql://u:p@127.0.0.2:5432/d\", "
                  "\"database_type\": \"postgres\", \"agent_id\": \"" AGENT_A "\"}",
                  auth),
        422);
    CU_ASSERT_EQUAL(status_of("POST", "/v1/database-connection",
                              "{\"name\": \"metadata\", \"url\": \"mysql://u:p@[fe80::1]:3306/d\", "
                              "\"database_type\": \"mysql\", \"agent_id\": \"" AGENT_A "\"}",
                              auth),
                    422);
    /* sqlite files outside --sqlite-dirs, directly or through `..`. */
    char body[2048];
    char *outside = harness_copy_fixture("northwind/northwind.sqlite");
    snprintf(body, sizeof(body),
             "{\"name\": \"outside\", \"url\": \"sqlite:///%s\", \"database_type\": \"sqlite\", "
             "\"agent_id\": \"" AGENT_A "\"}",
             outside);
    CU_ASSERT_EQUAL(status_of("POST", "/v1/database-connection", body, auth), 422);
    const char *base = strrchr(outside, '/') + 1;
    snprintf(body, sizeof(body),
             "{\"name\": \"dotdot\", \"url\": \"sqlite:///%s/../%s\", \"database_type\": "
             "\"sqlite\", \"agent_id\": \"" AGENT_A "\"}",
             allowed_dir, base);
    CU_ASSERT_EQUAL(status_of("POST", "/v1/database-connection", body, auth), 422);
    free(outside);
    struct harness_response r = req("GET", "/v1/database-connection?search=outside", NULL, auth);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r.json, "total")), 0);
    harness_response_free(&r);
}

void register_api_security_tests(void)
{
    CU_pSuite s = CU_add_suite("api_security", suite_init, suite_cleanup);
    CU_add_test(s, "no, empty, partial or wrong credentials: 401",
                test_missing_and_bad_credentials);
    CU_add_test(s, "read scope reads, write scope writes", test_scopes);
    CU_add_test(s, "a revoked key stops working", test_revoked_key);
    CU_add_test(s, "agent-bound keys see and write only their agent",
                test_agent_isolation_with_keys);
    CU_add_test(s, "JWT validity, scopes and agent binding", test_jwt);
    CU_add_test(s, "passwords masked in responses, sealed at rest, absent from logs",
                test_passwords_masked_and_sealed);
    CU_add_test(s, "host and sqlite path guards refuse with 422", test_guards);
}
