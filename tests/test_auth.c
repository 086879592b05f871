/*
 * Authentication: API keys on a real registry file, JWTs minted with libjwt
 * (and one signed by the openssl command line), and the `quarryd keys`
 * command run as a process.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <sqlite3.h>

#include "auth.h"
#include "harness.h"
#include "registry.h"

static struct registry *reg;
static char *reg_path;

static const char hs_secret[] = "an-hs256-test-secret-of-32-bytes-or-more";
static const char agent[] = "2f1c7e9a-3b4d-4e5f-8a6b-7c8d9e0f1a2b";

static int open_registry(void)
{
    char err[256];
    reg_path = harness_tmppath("reg", ".db");
    reg = reg_path ? registry_open(reg_path, err, sizeof(err)) : NULL;
    if (!reg)
        fprintf(stderr, "auth: %s\n", reg_path ? err : "out of memory");
    return reg ? 0 : -1;
}

static int close_registry(void)
{
    registry_close(reg);
    free(reg_path);
    reg = NULL;
    reg_path = NULL;
    return 0;
}

static int authenticate(const struct auth_jwt_config *jwt, const char *key, const char *secret,
                        const char *authorization, time_t now, struct auth_identity *id,
                        struct auth_result *result)
{
    return auth_authenticate(reg, jwt, key, secret, authorization, now, id, result);
}

static void create_key(int scope, const char *agent_id, time_t expires_at, char *id, char *secret)
{
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(
        auth_key_create(reg, scope, agent_id, "test key", expires_at, id, secret, err, sizeof(err)),
        0);
}

/* The text of one column of the key's row (caller frees), or NULL. */
static char *key_column(const char *key_id, const char *column)
{
    char sql[128];
    sqlite3_stmt *stmt = NULL;
    char *value = NULL;
    snprintf(sql, sizeof(sql), "SELECT %s FROM api_keys WHERE id = ?1", column);
    if (sqlite3_prepare_v2(registry_db(reg), sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_bind_text(stmt, 1, key_id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        value = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
        rewind(f);
        if (buf)
            *len = fread(buf, 1, (size_t)size, f);
        if (buf)
            buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

/* 1 when `needle` occurs in the registry file or its WAL. */
static int registry_bytes_contain(const char *needle)
{
    int found = 0;
    const char *suffixes[] = {"", "-wal"};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        size_t len;
        snprintf(path, sizeof(path), "%s%s", reg_path, suffixes[i]);
        char *bytes = read_file(path, &len);
        if (bytes && memmem(bytes, len, needle, strlen(needle)))
            found = 1;
        free(bytes);
    }
    return found;
}

/* --- API keys --- */

static void test_key_authenticates(void)
{
    char id[40], secret[64];
    struct auth_identity who;
    struct auth_result res;
    time_t now = time(NULL);
    create_key(AUTH_SCOPE_WRITE, agent, 0, id, secret);
    CU_ASSERT_EQUAL(strlen(id), 27);
    CU_ASSERT_EQUAL(strncmp(id, "qk_", 3), 0);
    CU_ASSERT_EQUAL(strspn(id + 3, "0123456789abcdef"), 24);
    CU_ASSERT_EQUAL(strlen(secret), 43); /* 32 bytes, base64url without padding */

    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now, &who, &res), 0);
    CU_ASSERT_EQUAL(res.status, 0);
    CU_ASSERT_STRING_EQUAL(who.kind, "key");
    CU_ASSERT_STRING_EQUAL(who.subject, id);
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_WRITE);
    CU_ASSERT_STRING_EQUAL(who.agent_id, agent);
    CU_ASSERT_TRUE(auth_allows(&who, AUTH_SCOPE_READ));
    CU_ASSERT_TRUE(auth_allows(&who, AUTH_SCOPE_WRITE));
    CU_ASSERT_FALSE(auth_allows(&who, AUTH_SCOPE_ADMIN));

    char other_id[40], other_secret[64];
    create_key(AUTH_SCOPE_ADMIN, NULL, 0, other_id, other_secret);
    CU_ASSERT_STRING_NOT_EQUAL(other_id, id);
    CU_ASSERT_STRING_NOT_EQUAL(other_secret, secret);
    CU_ASSERT_EQUAL(authenticate(NULL, other_id, other_secret, NULL, now, &who, &res), 0);
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_ADMIN);
    CU_ASSERT_STRING_EQUAL(who.agent_id, "");
    /* One key's secret does not open another. */
    CU_ASSERT_EQUAL(authenticate(NULL, id, other_secret, NULL, now, &who, &res), 401);
}

/* Every malformed, partial or wrong pair is a 401, and a failure leaves no identity. */
static void test_key_rejections(void)
{
    char id[40], secret[64], wrong[64];
    time_t now = time(NULL);
    create_key(AUTH_SCOPE_READ, NULL, 0, id, secret);
    snprintf(wrong, sizeof(wrong), "%s", secret);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    char long_secret[2048];
    memset(long_secret, 'x', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';

    struct {
        const char *key, *secret, *message;
    } cases[] = {
        {id, wrong, "invalid API key or secret"},
        {"qk_000000000000000000000000", secret, "invalid API key or secret"},
        {"qk_nothex", secret, "invalid API key or secret"},
        {"' OR 1=1 --", secret, "invalid API key or secret"},
        {id, long_secret, "invalid API key or secret"},
        {id, NULL, "must be sent together"},
        {NULL, secret, "must be sent together"},
        {id, "", "must be sent together"},
        {"", secret, "must be sent together"},
        {"", "", "missing credentials"},
        {NULL, NULL, "missing credentials"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth_identity who;
        struct auth_result res;
        int rc = authenticate(NULL, cases[i].key, cases[i].secret, NULL, now, &who, &res);
        CU_ASSERT_EQUAL(rc, 401);
        CU_ASSERT_EQUAL(res.status, 401);
        CU_ASSERT_STRING_EQUAL(res.code, "unauthorized");
        CU_ASSERT_PTR_NOT_NULL(strstr(res.message, cases[i].message));
        CU_ASSERT_PTR_NULL(strstr(res.message, secret));
        CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_NONE);
        CU_ASSERT_STRING_EQUAL(who.subject, "");
        if (rc != 401 || !strstr(res.message, cases[i].message))
            fprintf(stderr, "case %zu: %d %s\n", i, rc, res.message);
    }
}

static void test_key_revoked(void)
{
    char id[40], secret[64];
    struct auth_identity who;
    struct auth_result res;
    time_t now = time(NULL);
    create_key(AUTH_SCOPE_WRITE, NULL, 0, id, secret);
    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now, &who, &res), 0);
    CU_ASSERT_EQUAL(auth_key_revoke(reg, id), 0);
    CU_ASSERT_EQUAL(auth_key_revoke(reg, id), 1);
    CU_ASSERT_EQUAL(auth_key_revoke(reg, "qk_000000000000000000000000"), 1);
    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now, &who, &res), 401);
    CU_ASSERT_STRING_EQUAL(res.message, "API key revoked");
    /* The status is told only to whoever holds the secret. */
    CU_ASSERT_EQUAL(authenticate(NULL, id, "not-the-secret", NULL, now, &who, &res), 401);
    CU_ASSERT_STRING_EQUAL(res.message, "invalid API key or secret");
    char *revoked_at = key_column(id, "revoked_at");
    CU_ASSERT_PTR_NOT_NULL(revoked_at);
    free(revoked_at);
}

static void test_key_expired(void)
{
    char id[40], secret[64];
    struct auth_identity who;
    struct auth_result res;
    time_t now = time(NULL);
    create_key(AUTH_SCOPE_READ, NULL, now + 100, id, secret);
    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now + 99, &who, &res), 0);
    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now + 100, &who, &res), 401);
    CU_ASSERT_STRING_EQUAL(res.message, "API key expired");
    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now + 86400, &who, &res), 401);
}

static char *mint(jwt_alg_t alg, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A key pair that is present decides, even next to a valid token. */
static void test_key_no_fall_through(void)
{
    char id[40], secret[64];
    struct auth_identity who;
    struct auth_result res;
    time_t now = time(NULL);
    struct auth_jwt_config jwt = {.hs256_secret = hs_secret};
    char *token =
        mint(JWT_ALG_HS256, hs_secret, "{\"exp\":%ld,\"scope\":\"admin\"}", (long)now + 300);
    char bearer[4096];
    snprintf(bearer, sizeof(bearer), "Bearer %s", token);
    create_key(AUTH_SCOPE_READ, NULL, 0, id, secret);

    CU_ASSERT_EQUAL(authenticate(&jwt, NULL, NULL, bearer, now, &who, &res), 0);
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_ADMIN);
    CU_ASSERT_EQUAL(authenticate(&jwt, id, "wrong", bearer, now, &who, &res), 401);
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_NONE);
    CU_ASSERT_EQUAL(authenticate(&jwt, id, NULL, bearer, now, &who, &res), 401);
    CU_ASSERT_EQUAL(authenticate(&jwt, NULL, secret, bearer, now, &who, &res), 401);
    CU_ASSERT_EQUAL(authenticate(&jwt, id, secret, bearer, now, &who, &res), 0);
    CU_ASSERT_STRING_EQUAL(who.kind, "key");
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_READ);
    /* Empty key headers are absent, so the token is used. */
    CU_ASSERT_EQUAL(authenticate(&jwt, "", "", bearer, now, &who, &res), 0);
    CU_ASSERT_STRING_EQUAL(who.kind, "jwt");
    free(token);
}

static void test_scopes(void)
{
    CU_ASSERT_EQUAL(auth_scope_parse("read"), AUTH_SCOPE_READ);
    CU_ASSERT_EQUAL(auth_scope_parse("write"), AUTH_SCOPE_WRITE);
    CU_ASSERT_EQUAL(auth_scope_parse("admin"), AUTH_SCOPE_ADMIN);
    const char *bad[] = {"", "READ", "none", "root", "read ", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(auth_scope_parse(bad[i]), -1);
    for (int s = AUTH_SCOPE_READ; s <= AUTH_SCOPE_ADMIN; s++)
        CU_ASSERT_EQUAL(auth_scope_parse(auth_scope_name(s)), s);
    CU_ASSERT_PTR_NULL(auth_scope_name(AUTH_SCOPE_NONE));
    CU_ASSERT_PTR_NULL(auth_scope_name(4));

    /* Each scope grants itself and everything below it. */
    for (int has = AUTH_SCOPE_NONE; has <= AUTH_SCOPE_ADMIN; has++) {
        struct auth_identity who = {.scope = has};
        for (int needed = AUTH_SCOPE_READ; needed <= AUTH_SCOPE_ADMIN; needed++)
            CU_ASSERT_EQUAL(auth_allows(&who, needed), has >= needed);
    }
    CU_ASSERT_FALSE(auth_allows(NULL, AUTH_SCOPE_READ));
}

static void test_key_secret_not_stored(void)
{
    char id[40], secret[64];
    create_key(AUTH_SCOPE_WRITE, NULL, 0, id, secret);
    char *hash = key_column(id, "secret_hash");
    CU_ASSERT_PTR_NOT_NULL_FATAL(hash);
    CU_ASSERT_EQUAL(strncmp(hash, "b2$", 3), 0);
    CU_ASSERT_PTR_NULL(strstr(hash, secret));
    free(hash);
    /* The scan can see what was written (the id), and does not see the secret. */
    CU_ASSERT_TRUE(registry_bytes_contain(id));
    CU_ASSERT_FALSE(registry_bytes_contain(secret));

    /* Salted: two keys never share a stored hash, even for the same input. */
    char id2[40], secret2[64];
    create_key(AUTH_SCOPE_WRITE, NULL, 0, id2, secret2);
    char *h1 = key_column(id, "secret_hash"), *h2 = key_column(id2, "secret_hash");
    CU_ASSERT_TRUE(h1 && h2 && strcmp(h1, h2) != 0 && strncmp(h1, h2, 25) != 0);
    free(h1);
    free(h2);
}

/* Use is recorded, at most once a minute per key. */
static void test_key_last_used(void)
{
    char id[40], secret[64];
    struct auth_identity who;
    struct auth_result res;
    time_t now = time(NULL);
    create_key(AUTH_SCOPE_READ, NULL, 0, id, secret);
    char *before = key_column(id, "last_used_at");
    CU_ASSERT_PTR_NULL(before);
    free(before);

    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now, &who, &res), 0);
    char *first = key_column(id, "last_used_at");
    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now + 30, &who, &res), 0);
    char *second = key_column(id, "last_used_at");
    CU_ASSERT_EQUAL(authenticate(NULL, id, secret, NULL, now + 61, &who, &res), 0);
    char *third = key_column(id, "last_used_at");
    CU_ASSERT_TRUE(first && second && third);
    if (first && second && third) {
        CU_ASSERT_STRING_EQUAL(first, second);
        CU_ASSERT_TRUE(strcmp(third, first) > 0);
    }
    free(first);
    free(second);
    free(third);
}

static void test_key_list(void)
{
    char id[40], secret[64];
    time_t expires = time(NULL) + 3600;
    create_key(AUTH_SCOPE_ADMIN, agent, expires, id, secret);
    json_t *keys = auth_key_list(reg);
    CU_ASSERT_TRUE_FATAL(json_is_array(keys));
    json_t *mine = NULL, *item;
    size_t i;
    json_array_foreach(keys, i, item)
    {
        CU_ASSERT_PTR_NULL(json_object_get(item, "secret_hash"));
        CU_ASSERT_EQUAL(json_object_size(item), 8);
        const char *item_id = json_string_value(json_object_get(item, "id"));
        if (item_id && strcmp(item_id, id) == 0)
            mine = item;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(mine);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(mine, "scope")), "admin");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(mine, "agent_id")), agent);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(mine, "name")), "test key");
    CU_ASSERT_TRUE(json_is_string(json_object_get(mine, "created_at")));
    CU_ASSERT_TRUE(json_is_null(json_object_get(mine, "revoked_at")));
    char stamp[32];
    struct tm tm;
    gmtime_r(&expires, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(mine, "expires_at")), stamp);
    char *dump = json_dumps(keys, 0);
    CU_ASSERT_PTR_NULL(strstr(dump, secret));
    free(dump);
    json_decref(keys);
}

static void test_key_create_invalid(void)
{
    char id[40], secret[64], err[256];
    char long_name[300];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    struct {
        int scope;
        const char *agent, *name;
        time_t expires;
    } cases[] = {
        {AUTH_SCOPE_NONE, NULL, NULL, 0},      {7, NULL, NULL, 0},
        {AUTH_SCOPE_READ, "agent-7", NULL, 0}, {AUTH_SCOPE_READ, NULL, long_name, 0},
        {AUTH_SCOPE_READ, NULL, "a\nb", 0},    {AUTH_SCOPE_READ, NULL, "\xff\xfe", 0},
        {AUTH_SCOPE_READ, NULL, NULL, -5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(auth_key_create(reg, cases[i].scope, cases[i].agent, cases[i].name,
                                        cases[i].expires, id, secret, err, sizeof(err)),
                        -1);
        CU_ASSERT_NOT_EQUAL(err[0], '\0');
        CU_ASSERT_STRING_EQUAL(secret, "");
    }
}

/* --- JWT --- */

static char *rsa_pub, *rsa_priv, *ec_pub, *ec_priv, *rsa2_priv, *jwt_dir;

static char *read_text(const char *dir, const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return read_file(path, &len);
}

/* Fresh RSA and EC key pairs from the openssl command line. */
static int jwt_suite_init(void)
{
    jwt_dir = harness_tmppath("jwt", "");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "set -e; mkdir -p '%1$s'; cd '%1$s';"
             "openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem;"
             "openssl pkey -in rsa.pem -pubout -out rsa.pub;"
             "openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.pem;"
             "openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem;"
             "openssl pkey -in ec.pem -pubout -out ec.pub",
             jwt_dir);
    if (system(cmd) != 0)
        return -1;
    rsa_priv = read_text(jwt_dir, "rsa.pem");
    rsa_pub = read_text(jwt_dir, "rsa.pub");
    rsa2_priv = read_text(jwt_dir, "rsa2.pem");
    ec_priv = read_text(jwt_dir, "ec.pem");
    ec_pub = read_text(jwt_dir, "ec.pub");
    return rsa_priv && rsa_pub && rsa2_priv && ec_priv && ec_pub ? open_registry() : -1;
}

static int jwt_suite_cleanup(void)
{
    free(rsa_priv);
    free(rsa_pub);
    free(rsa2_priv);
    free(ec_priv);
    free(ec_pub);
    free(jwt_dir);
    return close_registry();
}

/* A token with the claims JSON `fmt`, signed with `alg` and `key`. Caller frees. */
static char *mint(jwt_alg_t alg, const char *key, const char *fmt, ...)
{
    char claims[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(claims, sizeof(claims), fmt, ap);
    va_end(ap);
    jwt_t *jwt = NULL;
    char *token = NULL;
    if (jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, claims) == 0 &&
        jwt_set_alg(jwt, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0) == 0)
        token = jwt_encode_str(jwt);
    jwt_free(jwt);
    CU_ASSERT_PTR_NOT_NULL(token);
    return token;
}

static int bearer(const struct auth_jwt_config *cfg, const char *token, time_t now,
                  struct auth_identity *who, struct auth_result *res)
{
    char header[8192];
    snprintf(header, sizeof(header), "Bearer %s", token ? token : "");
    return authenticate(cfg, NULL, NULL, header, now, who, res);
}

/* Claims, HS256: a table of tokens and what each must produce. */
static void test_jwt_claims(void)
{
    struct auth_jwt_config cfg = {.hs256_secret = hs_secret,
                                  .issuer = "https://issuer.test",
                                  .audience = "quarry",
                                  .leeway_s = 30};
    long now = (long)time(NULL), later = now + 300;
    struct {
        long exp;          /* 0: no exp claim */
        const char *extra; /* further claims, JSON members */
        int status, scope;
        const char *message; /* on 401 */
    } cases[] = {
        {later, "\"scope\":\"read write\",\"sub\":\"user-1\"", 0, AUTH_SCOPE_WRITE, NULL},
        {later, "\"scope\":\"read\",\"aud\":[\"other\",\"quarry\"]", 0, AUTH_SCOPE_READ, NULL},
        {later, "\"scopes\":[\"read\",\"admin\"]", 0, AUTH_SCOPE_ADMIN, NULL},
        {later, "\"scope\":\"write\",\"scopes\":[\"read\"]", 0, AUTH_SCOPE_WRITE, NULL},
        {later, "\"scope\":\"superuser\"", 0, AUTH_SCOPE_NONE, NULL},
        {later, "\"scopes\":\"admin\"", 0, AUTH_SCOPE_NONE, NULL},
        {later, "\"scope\":\"read\",\"nbf\":%ld", 0, AUTH_SCOPE_READ, NULL},
        {now - 10, "\"scope\":\"read\"", 0, AUTH_SCOPE_READ, NULL}, /* within the leeway */
        {now - 31, "\"scope\":\"read\"", 401, 0, "token expired"},
        {0, "\"scope\":\"read\"", 401, 0, "exp"},
        {later, "\"nbf\":%ld", 401, 0, "not yet valid"},
        {later, "\"iss\":\"https://evil.test\"", 401, 0, "issuer"},
        {later, "\"aud\":\"someone-else\"", 401, 0, "audience"},
        {later, "\"aud\":[\"a\",\"b\"]", 401, 0, "audience"},
        {later, "\"sub\":42", 401, 0, "sub"},
        {later, "\"agent_id\":\"not-a-uuid\"", 401, 0, "agent_id"},
        {later, "\"agent_id\":7", 401, 0, "agent_id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char extra[512], claims[1024];
        /* nbf: now in the passing case, far ahead of the leeway in the failing one */
        snprintf(extra, sizeof(extra), cases[i].extra, cases[i].status ? now + 120 : now);
        int custom_iss = strstr(extra, "\"iss\"") != NULL,
            custom_aud = strstr(extra, "\"aud\"") != NULL;
        int n = snprintf(claims, sizeof(claims), "{%s%s%s",
                         custom_iss ? "" : "\"iss\":\"https://issuer.test\",",
                         custom_aud ? "" : "\"aud\":\"quarry\",", extra);
        if (cases[i].exp)
            snprintf(claims + n, sizeof(claims) - (size_t)n, ",\"exp\":%ld}", cases[i].exp);
        else
            snprintf(claims + n, sizeof(claims) - (size_t)n, "}");
        char *token = mint(JWT_ALG_HS256, hs_secret, "%s", claims);
        struct auth_identity who;
        struct auth_result res;
        int rc = bearer(&cfg, token, now, &who, &res);
        CU_ASSERT_EQUAL(rc, cases[i].status);
        if (cases[i].status == 0) {
            CU_ASSERT_STRING_EQUAL(who.kind, "jwt");
            CU_ASSERT_EQUAL(who.scope, cases[i].scope);
        } else {
            CU_ASSERT_PTR_NOT_NULL(strstr(res.message, cases[i].message));
            CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_NONE);
        }
        if (rc != cases[i].status || (rc == 0 && who.scope != cases[i].scope))
            fprintf(stderr, "case %zu (%s): %d %s\n", i, claims, rc, res.message);
        free(token);
    }
}

static void test_jwt_subject_and_agent(void)
{
    struct auth_jwt_config cfg = {.hs256_secret = hs_secret};
    struct auth_identity who;
    struct auth_result res;
    time_t now = time(NULL);
    char *token = mint(JWT_ALG_HS256, hs_secret,
                       "{\"sub\":\"svc-42\",\"agent_id\":\"%s\",\"scope\":\"read\",\"exp\":%ld}",
                       agent, (long)now + 60);
    CU_ASSERT_EQUAL(bearer(&cfg, token, now, &who, &res), 0);
    CU_ASSERT_STRING_EQUAL(who.subject, "svc-42");
    CU_ASSERT_STRING_EQUAL(who.agent_id, agent);

    /* The scheme is case-insensitive; other schemes are refused. */
    char header[4096];
    snprintf(header, sizeof(header), "bEaReR   %s", token);
    CU_ASSERT_EQUAL(authenticate(&cfg, NULL, NULL, header, now, &who, &res), 0);
    snprintf(header, sizeof(header), "Basic %s", token);
    CU_ASSERT_EQUAL(authenticate(&cfg, NULL, NULL, header, now, &who, &res), 401);
    CU_ASSERT_EQUAL(authenticate(&cfg, NULL, NULL, "Bearer ", now, &who, &res), 401);
    CU_ASSERT_STRING_EQUAL(res.message, "empty bearer token");
    CU_ASSERT_EQUAL(authenticate(&cfg, NULL, NULL, "Bearertoken", now, &who, &res), 401);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "scheme"));
    CU_ASSERT_EQUAL(authenticate(&cfg, NULL, NULL, "Bearer not.a.jwt", now, &who, &res), 401);
    CU_ASSERT_EQUAL(authenticate(&cfg, NULL, NULL, "Bearer", now, &who, &res), 401);
    CU_ASSERT_EQUAL(authenticate(&cfg, NULL, NULL, "", now, &who, &res), 401);
    CU_ASSERT_STRING_EQUAL(res.message, "missing credentials");
    free(token);
}

static char *b64url(const void *bin, size_t len)
{
    size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(size);
    if (out)
        sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* "<header>.<payload>." with the given header JSON: unsigned, or for alg tricks. */
static char *unsigned_token(const char *header, const char *payload)
{
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload)), *t = NULL;
    if (h && p && asprintf(&t, "%s.%s.", h, p) < 0)
        t = NULL;
    free(h);
    free(p);
    return t;
}

static void test_jwt_signatures(void)
{
    struct auth_jwt_config hs = {.hs256_secret = hs_secret};
    struct auth_jwt_config pub_rsa = {.public_key_pem = rsa_pub};
    struct auth_jwt_config pub_ec = {.public_key_pem = ec_pub};
    struct auth_jwt_config both = {.hs256_secret = hs_secret, .public_key_pem = rsa_pub};
    struct auth_jwt_config none = {0};
    long now = (long)time(NULL);
    char claims[128], payload[128];
    snprintf(claims, sizeof(claims), "{\"scope\":\"write\",\"exp\":%ld}", now + 60);
    snprintf(payload, sizeof(payload), "{\"scope\":\"write\",\"exp\":%ld}", now + 60);

    struct {
        const struct auth_jwt_config *cfg;
        char *token;
        int status;
    } cases[] = {
        {&hs, mint(JWT_ALG_HS256, hs_secret, "%s", claims), 0},
        {&both, mint(JWT_ALG_HS256, hs_secret, "%s", claims), 0},
        {&pub_rsa, mint(JWT_ALG_RS256, rsa_priv, "%s", claims), 0},
        {&both, mint(JWT_ALG_RS256, rsa_priv, "%s", claims), 0},
        {&pub_ec, mint(JWT_ALG_ES256, ec_priv, "%s", claims), 0},
        /* wrong key */
        {&hs, mint(JWT_ALG_HS256, "another-secret-of-thirty-two-bytes!!", "%s", claims), 401},
        {&pub_rsa, mint(JWT_ALG_RS256, rsa2_priv, "%s", claims), 401},
        {&pub_rsa, mint(JWT_ALG_ES256, ec_priv, "%s", claims), 401},
        {&pub_ec, mint(JWT_ALG_RS256, rsa_priv, "%s", claims), 401},
        /* algorithm confusion: the public key used as an HMAC secret */
        {&pub_rsa, mint(JWT_ALG_HS256, rsa_pub, "%s", claims), 401},
        {&both, mint(JWT_ALG_HS256, rsa_pub, "%s", claims), 401},
        {&hs, mint(JWT_ALG_RS256, rsa_priv, "%s", claims), 401},
        /* alg none, from libjwt and by hand, and algorithms not offered */
        {&hs, mint(JWT_ALG_NONE, NULL, "%s", claims), 401},
        {&both, unsigned_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload), 401},
        {&hs, unsigned_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload), 401},
        {&hs, mint(JWT_ALG_HS512, hs_secret, "%s", claims), 401},
        {&hs, unsigned_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", payload), 401},
        /* nothing configured */
        {&none, mint(JWT_ALG_HS256, hs_secret, "%s", claims), 401},
        {NULL, mint(JWT_ALG_HS256, hs_secret, "%s", claims), 401},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct auth_identity who;
        struct auth_result res;
        CU_ASSERT_PTR_NOT_NULL(cases[i].token);
        int rc = bearer(cases[i].cfg, cases[i].token, now, &who, &res);
        CU_ASSERT_EQUAL(rc, cases[i].status);
        if (rc == 0)
            CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_WRITE);
        if (rc != cases[i].status)
            fprintf(stderr, "case %zu: %d %s\n", i, rc, res.message);
        free(cases[i].token);
    }

    struct auth_identity who;
    struct auth_result res;
    char *token = mint(JWT_ALG_HS256, hs_secret, "%s", claims);
    CU_ASSERT_EQUAL(bearer(&none, token, now, &who, &res), 401);
    CU_ASSERT_STRING_EQUAL(res.message, "JWT authentication is not configured");
    free(token);
}

/* A token signed outside libjwt (openssl dgst, RSASSA-PKCS1-v1_5 SHA-256) verifies. */
static void test_jwt_rs256_from_openssl(void)
{
    struct auth_jwt_config cfg = {.public_key_pem = rsa_pub, .audience = "quarry"};
    long now = (long)time(NULL);
    char payload[256], path[512], cmd[2048];
    snprintf(payload, sizeof(payload),
             "{\"aud\":[\"quarry\"],\"scopes\":[\"read\"],\"exp\":%ld,\"nbf\":%ld}", now + 60,
             now - 5);
    char *unsigned_part = unsigned_token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(unsigned_part);
    unsigned_part[strlen(unsigned_part) - 1] = '\0'; /* drop the trailing '.' */
    snprintf(path, sizeof(path), "%s/signing-input", jwt_dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(unsigned_part, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cd '%s' && openssl dgst -sha256 -sign rsa.pem -out sig.bin '%s'",
             jwt_dir, path);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    size_t sig_len;
    snprintf(path, sizeof(path), "%s/sig.bin", jwt_dir);
    char *sig = read_file(path, &sig_len);
    CU_ASSERT_EQUAL_FATAL(sig_len, 256);
    char *sig64 = b64url(sig, sig_len), *token = NULL;
    CU_ASSERT(asprintf(&token, "%s.%s", unsigned_part, sig64) > 0);

    struct auth_identity who;
    struct auth_result res;
    CU_ASSERT_EQUAL(bearer(&cfg, token, now, &who, &res), 0);
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_READ);
    /* One flipped payload byte breaks it. */
    char *dot = strchr(token, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(bearer(&cfg, token, now, &who, &res), 401);
    free(token);
    free(sig64);
    free(sig);
    free(unsigned_part);
}

/* --- `quarryd keys` --- */

/* Runs quarryd with `args` (shell words); stdout into *out (caller frees). Returns the exit status.
 */
static int run_quarryd(const char *env, const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "%s '%s' %s 2>/dev/null", env ? env : "", QUARRY_TEST_BINARY, args);
    FILE *p = popen(cmd, "r");
    size_t cap = 65536, len = 0, n;
    char *buf = calloc(1, cap);
    if (!p || !buf) {
        if (p)
            pclose(p);
        free(buf);
        *out = NULL;
        return -1;
    }
    while (len + 1 < cap && (n = fread(buf + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Parses the two lines `keys create` prints; 0 when they are exactly those. */
static int parse_created(const char *out, char *id, char *secret)
{
    int consumed = -1;
    if (sscanf(out, "QUARRY_API_KEY=%39[a-z0-9_]\nQUARRY_API_SECRET=%63[A-Za-z0-9_-]\n%n", id,
               secret, &consumed) != 2 ||
        consumed < 0)
        return -1;
    return out[consumed] == '\0' && (size_t)consumed == strlen(out) ? 0 : -1;
}

static void test_cli_create_list_revoke(void)
{
    char *path = harness_tmppath("cli", ".db"), args[1024], *out;
    char id[40] = "", secret[64] = "", agent_id[40] = "", agent_secret[64] = "";
    snprintf(args, sizeof(args), "keys create --scope write --registry '%s'", path);
    CU_ASSERT_EQUAL(run_quarryd(NULL, args, &out), 0);
    CU_ASSERT_EQUAL(parse_created(out ? out : "", id, secret), 0);
    CU_ASSERT_EQUAL(strlen(secret), 43);
    free(out);

    /* The registry from the environment; the flags in --name=VALUE form too. */
    char env[600];
    snprintf(env, sizeof(env), "QUARRY_REGISTRY='%s'", path);
    snprintf(args, sizeof(args), "keys create --scope=read --agent %s --name=ci --expires-days 30",
             agent);
    CU_ASSERT_EQUAL(run_quarryd(env, args, &out), 0);
    CU_ASSERT_EQUAL(parse_created(out ? out : "", agent_id, agent_secret), 0);
    free(out);

    /* The keys work in-process, from the same file. */
    char err[256];
    struct registry *r = registry_open(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    struct auth_identity who;
    struct auth_result res;
    time_t now = time(NULL);
    CU_ASSERT_EQUAL(auth_authenticate(r, NULL, id, secret, NULL, now, &who, &res), 0);
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_WRITE);
    CU_ASSERT_EQUAL(auth_authenticate(r, NULL, agent_id, agent_secret, NULL, now, &who, &res), 0);
    CU_ASSERT_EQUAL(who.scope, AUTH_SCOPE_READ);
    CU_ASSERT_STRING_EQUAL(who.agent_id, agent);
    CU_ASSERT_EQUAL(
        auth_authenticate(r, NULL, agent_id, agent_secret, NULL, now + 31 * 86400, &who, &res),
        401);

    snprintf(args, sizeof(args), "keys list --registry '%s'", path);
    CU_ASSERT_EQUAL(run_quarryd(NULL, args, &out), 0);
    json_t *list = out ? json_loads(out, 0, NULL) : NULL;
    CU_ASSERT_EQUAL(json_array_size(list), 2);
    CU_ASSERT_PTR_NULL(out ? strstr(out, secret) : "");
    CU_ASSERT_PTR_NULL(out ? strstr(out, agent_secret) : "");
    CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, id) : NULL);
    json_t *second = json_array_get(list, 1);
    const char *name = json_string_value(json_object_get(second, "name"));
    CU_ASSERT_STRING_EQUAL(name ? name : "", "ci");
    CU_ASSERT_TRUE(json_is_string(json_object_get(second, "expires_at")));
    json_decref(list);
    free(out);

    snprintf(args, sizeof(args), "keys revoke %s --registry '%s'", id, path);
    CU_ASSERT_EQUAL(run_quarryd(NULL, args, &out), 0);
    CU_ASSERT_STRING_EQUAL(out ? out : "-", "");
    free(out);
    CU_ASSERT_EQUAL(run_quarryd(NULL, args, &out), 1); /* already revoked */
    free(out);
    CU_ASSERT_EQUAL(auth_authenticate(r, NULL, id, secret, NULL, now, &who, &res), 401);
    CU_ASSERT_STRING_EQUAL(res.message, "API key revoked");
    registry_close(r);
    free(path);
}

/* Bad input exits 2 and prints nothing on stdout; a registry that cannot be used exits 1. */
static void test_cli_errors(void)
{
    char *path = harness_tmppath("cli", ".db");
    struct {
        const char *args;
        int status;
    } cases[] = {
        {"keys create --scope superuser", 2},
        {"keys create", 2},
        {"keys create --scope", 2},
        {"keys create --scope read --agent not-a-uuid", 2},
        {"keys create --scope read --expires-days -1", 2},
        {"keys create --scope read --expires-days 0", 2},
        {"keys create --scope read --expires-days 99999999", 2},
        {"keys create --scope read --expires-days 3x", 2},
        {"keys create --scope read extra", 2},
        {"keys create --scope read --no-such-flag 1", 2},
        {"keys revoke", 2},
        {"keys revoke a b", 2},
        {"keys list --scope read", 2},
        {"keys frobnicate", 2},
        {"keys", 2},
        {"keys list --registry /nonexistent-dir/quarry.db", 1},
        {"keys revoke qk_000000000000000000000000 --registry /nonexistent-dir/quarry.db", 1},
        {"keys create --scope read --registry /nonexistent-dir/quarry.db", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char args[1024], *out;
        /* a usable registry unless the case names its own */
        snprintf(args, sizeof(args), "%s%s%s%s", cases[i].args,
                 strstr(cases[i].args, "--registry") ? "" : " --registry '",
                 strstr(cases[i].args, "--registry") ? "" : path,
                 strstr(cases[i].args, "--registry") ? "" : "'");
        int status = run_quarryd(NULL, args, &out);
        CU_ASSERT_EQUAL(status, cases[i].status);
        CU_ASSERT_STRING_EQUAL(out ? out : "-", "");
        if (status != cases[i].status)
            fprintf(stderr, "`%s`: exit %d\n", args, status);
        free(out);
    }
    /* Nothing was created by any of them. */
    char args[1024], *out;
    snprintf(args, sizeof(args), "keys create --scope admin --registry '%s'", path);
    CU_ASSERT_EQUAL(run_quarryd(NULL, args, &out), 0);
    free(out);
    snprintf(args, sizeof(args), "keys list --registry '%s'", path);
    CU_ASSERT_EQUAL(run_quarryd(NULL, args, &out), 0);
    json_t *list = out ? json_loads(out, 0, NULL) : NULL;
    CU_ASSERT_EQUAL(json_array_size(list), 1);
    json_decref(list);
    free(out);
    free(path);
}

void register_auth_tests(void)
{
    CU_pSuite keys = CU_add_suite("auth_keys", open_registry, close_registry);
    CU_add_test(keys, "key authenticates with its scope and agent", test_key_authenticates);
    CU_add_test(keys, "wrong, unknown, partial and empty pairs are 401", test_key_rejections);
    CU_add_test(keys, "revoked key is 401", test_key_revoked);
    CU_add_test(keys, "expired key is 401", test_key_expired);
    CU_add_test(keys, "a present key pair never falls through to the token",
                test_key_no_fall_through);
    CU_add_test(keys, "scope names and implication", test_scopes);
    CU_add_test(keys, "only a salted hash of the secret is stored", test_key_secret_not_stored);
    CU_add_test(keys, "last_used_at is written at most once a minute", test_key_last_used);
    CU_add_test(keys, "list has every field but the hash", test_key_list);
    CU_add_test(keys, "invalid create arguments are refused", test_key_create_invalid);

    CU_pSuite jwt = CU_add_suite("auth_jwt", jwt_suite_init, jwt_suite_cleanup);
    CU_add_test(jwt, "claims: exp, nbf, iss, aud, scope, agent_id", test_jwt_claims);
    CU_add_test(jwt, "sub, agent_id and the Bearer scheme", test_jwt_subject_and_agent);
    CU_add_test(jwt, "signatures, algorithm confusion and none", test_jwt_signatures);
    CU_add_test(jwt, "RS256 signed by openssl verifies", test_jwt_rs256_from_openssl);

    CU_pSuite cli = CU_add_suite("auth_cli", NULL, NULL);
    CU_add_test(cli, "keys create, list and revoke", test_cli_create_list_revoke);
    CU_add_test(cli, "keys: bad input exits 2, registry errors 1", test_cli_errors);
}
