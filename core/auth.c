#include "auth.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ids.h"
#include "log.h"
#include "registry.h"

#define KEY_PREFIX "qk_"
#define KEY_PREFIX_LEN 3
#define KEY_RANDOM_BYTES 12 /* 96 bits: ids are public, they only need to be unique */
#define KEY_ID_LEN (KEY_PREFIX_LEN + 2 * KEY_RANDOM_BYTES)
#define SECRET_BYTES 32
#define SALT_BYTES 16
#define HASH_BYTES 32
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define STORED_HASH_MAX 128

#define MAX_SECRET_LEN 256
#define MAX_TOKEN_LEN 8192
#define MAX_TOKEN_HEADER_LEN 1024
#define MAX_NAME_LEN 200
#define MAX_LEEWAY_S 86400L
/* last_used_at is advisory: one write a minute per key, not one per request. */
#define LAST_USED_INTERVAL_S 60

_Static_assert(KEY_ID_LEN < 40, "key ids must fit auth_key_create's id_out");
_Static_assert(sodium_base64_ENCODED_LEN(SECRET_BYTES, B64_VARIANT) <= 64,
               "secrets must fit auth_key_create's secret_out");
_Static_assert(SALT_BYTES >= crypto_generichash_KEYBYTES_MIN, "the salt is BLAKE2b's key");

/*
 * Hashed against when a key id is unknown, so that an unknown id costs the
 * same as a wrong secret and response times do not reveal which ids exist.
 * All-zero salt and hash: no secret can be found that hashes to it.
 */
static const char dummy_hash[] =
    "b2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static int deny(struct auth_result *result, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int deny(struct auth_result *result, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    result->status = status;
    snprintf(result->code, sizeof(result->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(result->message, sizeof(result->message), fmt, ap);
    va_end(ap);
    return status;
}

static int unauthorized(struct auth_result *result, const char *message)
{
    return deny(result, 401, "unauthorized", "%s", message);
}

int auth_scope_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "read") == 0)
        return AUTH_SCOPE_READ;
    if (strcmp(name, "write") == 0)
        return AUTH_SCOPE_WRITE;
    if (strcmp(name, "admin") == 0)
        return AUTH_SCOPE_ADMIN;
    return -1;
}

const char *auth_scope_name(int scope)
{
    switch (scope) {
    case AUTH_SCOPE_READ:
        return "read";
    case AUTH_SCOPE_WRITE:
        return "write";
    case AUTH_SCOPE_ADMIN:
        return "admin";
    default:
        return NULL;
    }
}

/* Scopes are ordered, so a higher one implies every lower one. */
int auth_allows(const struct auth_identity *identity, int needed)
{
    return identity && identity->scope >= needed;
}

static int key_id_valid(const char *id)
{
    if (strnlen(id, KEY_ID_LEN + 1) != KEY_ID_LEN || strncmp(id, KEY_PREFIX, KEY_PREFIX_LEN) != 0)
        return 0;
    for (const char *c = id + KEY_PREFIX_LEN; *c; c++)
        if (!isdigit((unsigned char)*c) && !(*c >= 'a' && *c <= 'f'))
            return 0;
    return 1;
}

/*
 * A keyed BLAKE2b with a random per-key salt as the key. The secrets are 256
 * random bits, so nothing is gained from a slow password hash such as
 * Argon2: brute force is already out of reach, while Argon2's deliberate
 * cost (tens of milliseconds, megabytes of memory) would be paid on every
 * request. The salt keeps equal secrets from having equal hashes.
 */
static int hash_secret(const unsigned char *salt, const char *secret, size_t len,
                       unsigned char *hash)
{
    return crypto_generichash(hash, HASH_BYTES, (const unsigned char *)secret, len, salt,
                              SALT_BYTES);
}

/* Decodes exactly `binlen` bytes from the `len` base64url characters at `b64`. */
static int b64_decode_exact(const char *b64, size_t len, unsigned char *bin, size_t binlen)
{
    size_t got = 0;
    if (sodium_base642bin(bin, binlen, b64, len, NULL, &got, NULL, B64_VARIANT) != 0)
        return -1;
    return got == binlen ? 0 : -1;
}

/* "b2$<salt>$<hash>" -> salt and hash; -1 when the stored text is not that. */
static int stored_hash_parse(const char *stored, unsigned char *salt, unsigned char *hash)
{
    if (strncmp(stored, "b2$", 3) != 0)
        return -1;
    const char *s = stored + 3, *sep = strchr(s, '$');
    if (!sep || b64_decode_exact(s, (size_t)(sep - s), salt, SALT_BYTES) != 0)
        return -1;
    return b64_decode_exact(sep + 1, strlen(sep + 1), hash, HASH_BYTES);
}

static int stored_hash_format(const unsigned char *salt, const unsigned char *hash, char *out,
                              size_t outlen)
{
    char salt64[sodium_base64_ENCODED_LEN(SALT_BYTES, B64_VARIANT)];
    char hash64[sodium_base64_ENCODED_LEN(HASH_BYTES, B64_VARIANT)];
    sodium_bin2base64(salt64, sizeof(salt64), salt, SALT_BYTES, B64_VARIANT);
    sodium_bin2base64(hash64, sizeof(hash64), hash, HASH_BYTES, B64_VARIANT);
    int n = snprintf(out, outlen, "b2$%s$%s", salt64, hash64);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* 1 when `secret` matches `stored`, 0 when not, -1 when `stored` is malformed. */
static int secret_verify(const char *stored, const char *secret, size_t len)
{
    unsigned char salt[SALT_BYTES], expected[HASH_BYTES], actual[HASH_BYTES];
    if (stored_hash_parse(stored, salt, expected) != 0 || hash_secret(salt, secret, len, actual))
        return -1;
    return sodium_memcmp(expected, actual, HASH_BYTES) == 0;
}

struct key_row {
    char hash[STORED_HASH_MAX];
    int scope;
    char agent_id[40];
    sqlite3_int64 expires_at; /* 0: never */
    int revoked;
    char last_used_at[ID_TIME_LEN + 1];
};

static void column_copy(sqlite3_stmt *stmt, int col, char *out, size_t outlen)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    /* Too long for the field means it was not written by us: leave it empty. */
    if (!text || strlen(text) >= outlen)
        out[0] = '\0';
    else
        memcpy(out, text, strlen(text) + 1);
}

/* 1 found, 0 no such key, -1 registry error. */
static int key_lookup(sqlite3 *db, const char *key_id, struct key_row *row)
{
    static const char sql[] = "SELECT secret_hash, scope, agent_id, expires_at, revoked_at, "
                              "last_used_at FROM api_keys WHERE id = ?1";
    sqlite3_stmt *stmt = NULL;
    int found = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_bind_text(stmt, 1, key_id, -1, SQLITE_STATIC) != SQLITE_OK)
        goto out;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        found = 0;
    } else if (rc == SQLITE_ROW) {
        column_copy(stmt, 0, row->hash, sizeof(row->hash));
        row->scope = auth_scope_parse((const char *)sqlite3_column_text(stmt, 1));
        column_copy(stmt, 2, row->agent_id, sizeof(row->agent_id));
        row->expires_at = sqlite3_column_int64(stmt, 3);
        row->revoked = sqlite3_column_type(stmt, 4) != SQLITE_NULL;
        column_copy(stmt, 5, row->last_used_at, sizeof(row->last_used_at));
        found = 1;
    }
out:
    if (found < 0)
        log_error("auth: cannot read API key %s: %s", key_id, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return found;
}

/* Best effort: a failed write is logged, the request goes on. */
static void key_touch(sqlite3 *db, const char *key_id, const char *last_used_at, time_t now)
{
    char stamp[ID_TIME_LEN + 1], threshold[ID_TIME_LEN + 1];
    id_time_format(now - LAST_USED_INTERVAL_S, threshold);
    /* Same fixed-width RFC 3339 form, so the text order is the time order. */
    if (last_used_at[0] && strcmp(last_used_at, threshold) > 0)
        return;
    id_time_format(now, stamp);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2", -1, &stmt,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_text(stmt, 1, stamp, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(stmt, 2, key_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_DONE)
        log_warn("auth: cannot record the use of API key %s: %s", key_id, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
}

static int key_reject(struct auth_result *result, const char *key_id, const char *why,
                      const char *message)
{
    /* The id is public and, once validated, safe to log; anything else is not echoed. */
    log_warn("auth: API key %s rejected: %s", key_id_valid(key_id) ? key_id : "(malformed id)",
             why);
    return unauthorized(result, message);
}

static int authenticate_key(struct registry *registry, const char *key_id, const char *secret,
                            time_t now, struct auth_identity *out, struct auth_result *result)
{
    static const char invalid[] = "invalid API key or secret";
    size_t secret_len = strnlen(secret, MAX_SECRET_LEN + 1);
    int well_formed = key_id_valid(key_id) && secret_len <= MAX_SECRET_LEN;
    struct key_row row = {0};
    int found = well_formed ? key_lookup(registry_db(registry), key_id, &row) : 0;
    if (found < 0)
        return deny(result, 500, "internal", "cannot verify credentials");

    int match = secret_verify(found ? row.hash : dummy_hash, secret,
                              secret_len > MAX_SECRET_LEN ? MAX_SECRET_LEN : secret_len);
    if (found && match < 0)
        log_error("auth: API key %s has a malformed stored hash", key_id);
    if (!well_formed)
        return key_reject(result, key_id, "malformed key id or secret", invalid);
    if (!found)
        return key_reject(result, key_id, "unknown key id", invalid);
    if (match != 1)
        return key_reject(result, key_id, "wrong secret", invalid);
    /* Status is told only to a caller who proved the secret. */
    if (row.revoked)
        return key_reject(result, key_id, "revoked", "API key revoked");
    if (row.expires_at > 0 && (sqlite3_int64)now >= row.expires_at)
        return key_reject(result, key_id, "expired", "API key expired");

    snprintf(out->kind, sizeof(out->kind), "key");
    snprintf(out->subject, sizeof(out->subject), "%s", key_id);
    out->scope = row.scope > 0 ? row.scope : AUTH_SCOPE_NONE;
    snprintf(out->agent_id, sizeof(out->agent_id), "%s", row.agent_id);
    key_touch(registry_db(registry), key_id, row.last_used_at, now);
    return 0;
}

/* --- JWT --- */

static int jwt_reject(struct auth_result *result, const char *message)
{
    log_warn("auth: bearer token rejected: %s", message);
    return unauthorized(result, message);
}

/*
 * The algorithm the token's header names, read before verification so that
 * the key can be chosen by it: handing libjwt the PEM for an HS256 token
 * would let the public key serve as an HMAC secret.
 */
static jwt_alg_t token_header_alg(const char *token)
{
    const char *dot = strchr(token, '.');
    unsigned char head[MAX_TOKEN_HEADER_LEN];
    size_t len = 0;
    if (!dot || sodium_base642bin(head, sizeof(head), token, (size_t)(dot - token), NULL, &len,
                                  NULL, B64_VARIANT) != 0)
        return JWT_ALG_INVAL;
    json_t *header = json_loadb((const char *)head, len, JSON_REJECT_DUPLICATES, NULL);
    const char *alg = json_string_value(json_object_get(header, "alg"));
    jwt_alg_t parsed = alg ? jwt_str_alg(alg) : JWT_ALG_INVAL;
    json_decref(header);
    return parsed;
}

/* The key for `alg` under `cfg`, or NULL when that algorithm is not accepted. */
static const char *jwt_key_for(const struct auth_jwt_config *cfg, jwt_alg_t alg)
{
    if (alg == JWT_ALG_HS256 && cfg->hs256_secret && *cfg->hs256_secret)
        return cfg->hs256_secret;
    if ((alg == JWT_ALG_RS256 || alg == JWT_ALG_ES256) && cfg->public_key_pem &&
        *cfg->public_key_pem)
        return cfg->public_key_pem;
    return NULL;
}

static int audience_matches(json_t *aud, const char *wanted)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), wanted) == 0;
    for (size_t i = 0; i < json_array_size(aud); i++) {
        const char *item = json_string_value(json_array_get(aud, i));
        if (item && strcmp(item, wanted) == 0)
            return 1;
    }
    return 0;
}

static int scope_from_words(const char *words)
{
    int best = AUTH_SCOPE_NONE;
    char word[16];
    while (*words) {
        size_t n = strcspn(words, " ");
        if (n > 0 && n < sizeof(word)) {
            memcpy(word, words, n);
            word[n] = '\0';
            int scope = auth_scope_parse(word);
            best = scope > best ? scope : best;
        }
        words += n;
        words += strspn(words, " ");
    }
    return best;
}

/* The highest scope granted by `scope` (space-separated) and `scopes` (array). */
static int claims_scope(json_t *claims)
{
    const char *words = json_string_value(json_object_get(claims, "scope"));
    int best = words ? scope_from_words(words) : AUTH_SCOPE_NONE;
    json_t *scopes = json_object_get(claims, "scopes");
    for (size_t i = 0; i < json_array_size(scopes); i++) {
        int scope = auth_scope_parse(json_string_value(json_array_get(scopes, i)));
        best = scope > best ? scope : best;
    }
    return best;
}

/* `exp` is required: a token without one would stay valid forever once leaked. */
static const char *claims_check_time(json_t *claims, long leeway, time_t now)
{
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    if (!json_is_number(exp))
        return "token has no valid exp claim";
    if ((double)now >= json_number_value(exp) + (double)leeway)
        return "token expired";
    if (nbf && !json_is_number(nbf))
        return "token has an invalid nbf claim";
    if (nbf && (double)now + (double)leeway < json_number_value(nbf))
        return "token not yet valid";
    return NULL;
}

static const char *claims_check(const struct auth_jwt_config *cfg, json_t *claims, time_t now,
                                struct auth_identity *out)
{
    long leeway = cfg->leeway_s < 0              ? 0
                  : cfg->leeway_s > MAX_LEEWAY_S ? MAX_LEEWAY_S
                                                 : cfg->leeway_s;
    const char *why = claims_check_time(claims, leeway, now);
    if (why)
        return why;
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (cfg->issuer && *cfg->issuer && (!iss || strcmp(iss, cfg->issuer) != 0))
        return "token issuer not accepted";
    if (cfg->audience && *cfg->audience &&
        !audience_matches(json_object_get(claims, "aud"), cfg->audience))
        return "token audience not accepted";

    json_t *sub = json_object_get(claims, "sub"), *agent = json_object_get(claims, "agent_id");
    if (sub && (!json_is_string(sub) || json_string_length(sub) >= sizeof(out->subject)))
        return "token has an invalid sub claim";
    if (agent && !id_is_uuid(json_string_value(agent)))
        return "token agent_id is not a UUID";

    snprintf(out->kind, sizeof(out->kind), "jwt");
    snprintf(out->subject, sizeof(out->subject), "%s", sub ? json_string_value(sub) : "");
    out->scope = claims_scope(claims);
    if (agent)
        snprintf(out->agent_id, sizeof(out->agent_id), "%s", json_string_value(agent));
    return NULL;
}

static int authenticate_jwt(const struct auth_jwt_config *cfg, const char *token, time_t now,
                            struct auth_identity *out, struct auth_result *result)
{
    if (!cfg || (!(cfg->hs256_secret && *cfg->hs256_secret) &&
                 !(cfg->public_key_pem && *cfg->public_key_pem)))
        return jwt_reject(result, "JWT authentication is not configured");
    if (strnlen(token, MAX_TOKEN_LEN + 1) > MAX_TOKEN_LEN)
        return jwt_reject(result, "token too long");
    jwt_alg_t alg = token_header_alg(token);
    const char *key = jwt_key_for(cfg, alg);
    if (!key)
        return jwt_reject(result, "token algorithm not accepted");

    jwt_t *jwt = NULL;
    json_t *claims = NULL;
    char *grants = NULL;
    const char *why = NULL;
    if (jwt_decode(&jwt, token, (const unsigned char *)key, (int)strlen(key)) != 0 || !jwt) {
        why = "invalid token";
        goto out;
    }
    /* libjwt downgrades to "none" when it verified nothing: insist on what we chose. */
    if (jwt_get_alg(jwt) != alg) {
        why = "token algorithm not accepted";
        goto out;
    }
    grants = jwt_get_grants_json(jwt, NULL);
    claims = grants ? json_loads(grants, JSON_REJECT_DUPLICATES, NULL) : NULL;
    why = json_is_object(claims) ? claims_check(cfg, claims, now, out) : "invalid token claims";
out:
    free(grants);
    json_decref(claims);
    jwt_free(jwt);
    if (why) {
        memset(out, 0, sizeof(*out));
        return jwt_reject(result, why);
    }
    return 0;
}

/* 1 when the Authorization header uses the Bearer scheme, in any case. */
static int is_bearer(const char *authorization)
{
    return strncasecmp(authorization, "Bearer", 6) == 0 &&
           (authorization[6] == '\0' || authorization[6] == ' ' || authorization[6] == '\t');
}

static const char *present(const char *header)
{
    return header && *header ? header : NULL;
}

int auth_authenticate(struct registry *registry, const struct auth_jwt_config *jwt,
                      const char *api_key, const char *api_secret, const char *authorization,
                      time_t now, struct auth_identity *out, struct auth_result *result)
{
    memset(out, 0, sizeof(*out));
    memset(result, 0, sizeof(*result));
    api_key = present(api_key);
    api_secret = present(api_secret);
    authorization = present(authorization);

    /* A key pair, even half of one, is the credential: never fall through to the token. */
    if (api_key || api_secret) {
        if (!api_key || !api_secret) {
            log_warn("auth: incomplete API key pair");
            return unauthorized(result, "X-API-Key and X-API-Secret must be sent together");
        }
        return authenticate_key(registry, api_key, api_secret, now, out, result);
    }
    if (authorization) {
        if (!is_bearer(authorization)) {
            log_warn("auth: unsupported Authorization scheme");
            return unauthorized(result, "unsupported Authorization scheme (expected Bearer)");
        }
        const char *token = authorization + 6 + strspn(authorization + 6, " \t");
        if (!*token)
            return jwt_reject(result, "empty bearer token");
        return authenticate_jwt(jwt, token, now, out, result);
    }
    return unauthorized(result, "missing credentials");
}

/* --- key management --- */

static int set_err(char *err, size_t errlen, const char *message)
{
    snprintf(err, errlen, "%s", message);
    return -1;
}

int auth_key_validate(int scope, const char *agent_id, const char *name, time_t expires_at,
                      char *err, size_t errlen)
{
    agent_id = present(agent_id);
    name = present(name);
    if (!auth_scope_name(scope))
        return set_err(err, errlen, "scope must be read, write or admin");
    if (agent_id && !id_is_uuid(agent_id))
        return set_err(err, errlen, "agent id must be a UUID");
    if (name && strnlen(name, MAX_NAME_LEN + 1) > MAX_NAME_LEN)
        return set_err(err, errlen, "name is too long");
    for (const char *c = name; c && *c; c++)
        if (iscntrl((unsigned char)*c))
            return set_err(err, errlen, "name must not contain control characters");
    json_t *utf8 = name ? json_string(name) : NULL; /* NULL for invalid UTF-8 */
    if (name && !utf8)
        return set_err(err, errlen, "name must be UTF-8");
    json_decref(utf8);
    if (expires_at < 0)
        return set_err(err, errlen, "expiry must not be negative");
    return 0;
}

static int key_insert(sqlite3 *db, const char *id, const char *name, const char *stored, int scope,
                      const char *agent_id, time_t expires_at)
{
    static const char sql[] = "INSERT INTO api_keys (id, name, secret_hash, scope, agent_id, "
                              "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    char created[ID_TIME_LEN + 1];
    id_time_now(created);
    sqlite3_stmt *stmt = NULL;
    int ok = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
             sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(stmt, 3, stored, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(stmt, 4, auth_scope_name(scope), -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(stmt, 5, agent_id, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_bind_text(stmt, 6, created, -1, SQLITE_STATIC) == SQLITE_OK &&
             (expires_at > 0 ? sqlite3_bind_int64(stmt, 7, (sqlite3_int64)expires_at)
                             : sqlite3_bind_null(stmt, 7)) == SQLITE_OK &&
             sqlite3_step(stmt) == SQLITE_DONE;
    sqlite3_finalize(stmt);
    return ok ? 0 : -1;
}

int auth_key_create(struct registry *registry, int scope, const char *agent_id, const char *name,
                    time_t expires_at, char *id_out, char *secret_out, char *err, size_t errlen)
{
    agent_id = present(agent_id);
    name = present(name);
    id_out[0] = secret_out[0] = '\0';
    if (auth_key_validate(scope, agent_id, name, expires_at, err, errlen) != 0)
        return -1;

    unsigned char id_bytes[KEY_RANDOM_BYTES], secret[SECRET_BYTES], salt[SALT_BYTES],
        hash[HASH_BYTES];
    char stored[STORED_HASH_MAX];
    randombytes_buf(id_bytes, sizeof(id_bytes));
    randombytes_buf(secret, sizeof(secret));
    randombytes_buf(salt, sizeof(salt));
    memcpy(id_out, KEY_PREFIX, KEY_PREFIX_LEN);
    sodium_bin2hex(id_out + KEY_PREFIX_LEN, 2 * KEY_RANDOM_BYTES + 1, id_bytes, sizeof(id_bytes));
    sodium_bin2base64(secret_out, sodium_base64_ENCODED_LEN(SECRET_BYTES, B64_VARIANT), secret,
                      sizeof(secret), B64_VARIANT);
    sodium_memzero(secret, sizeof(secret));

    int rc = -1;
    if (hash_secret(salt, secret_out, strlen(secret_out), hash) != 0 ||
        stored_hash_format(salt, hash, stored, sizeof(stored)) != 0) {
        set_err(err, errlen, "cannot hash the secret");
        goto out;
    }
    if (key_insert(registry_db(registry), id_out, name, stored, scope, agent_id, expires_at) != 0) {
        snprintf(err, errlen, "cannot store the key: %s", sqlite3_errmsg(registry_db(registry)));
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        sodium_memzero(secret_out, strlen(secret_out));
        id_out[0] = '\0';
    }
    return rc;
}

int auth_key_revoke(struct registry *registry, const char *key_id)
{
    sqlite3 *db = registry_db(registry);
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(
            db, "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL", -1,
            &stmt, NULL) == SQLITE_OK &&
        sqlite3_bind_text(stmt, 1, now, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(stmt, 2, key_id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_DONE)
        rc = sqlite3_changes(db) > 0 ? 0 : 1;
    else
        log_error("auth: cannot revoke API key: %s", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return rc;
}

static const char *column_str(sqlite3_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt, col);
}

/* expires_at is stored as unix seconds and shown, as every API time, in RFC 3339. */
static json_t *key_row_json(sqlite3_stmt *stmt)
{
    char expires[ID_TIME_LEN + 1];
    int never = sqlite3_column_type(stmt, 5) == SQLITE_NULL;
    if (!never)
        id_time_format((time_t)sqlite3_column_int64(stmt, 5), expires);
    return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "id", column_str(stmt, 0),
                     "name", column_str(stmt, 1), "scope", column_str(stmt, 2), "agent_id",
                     column_str(stmt, 3), "created_at", column_str(stmt, 4), "expires_at",
                     never ? NULL : expires, "revoked_at", column_str(stmt, 6), "last_used_at",
                     column_str(stmt, 7));
}

json_t *auth_key_list(struct registry *registry)
{
    static const char sql[] = "SELECT id, name, scope, agent_id, created_at, expires_at, "
                              "revoked_at, last_used_at FROM api_keys ORDER BY created_at, id";
    sqlite3 *db = registry_db(registry);
    sqlite3_stmt *stmt = NULL;
    json_t *keys = json_array();
    int rc = SQLITE_ERROR;
    if (!keys || sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        goto out;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (json_array_append_new(keys, key_row_json(stmt)) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
out:
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("auth: cannot list API keys: %s", sqlite3_errmsg(db));
        json_decref(keys);
        return NULL;
    }
    return keys;
}
