/*
 * Authentication and authorisation: API keys (a public key id and a secret,
 * sent as X-API-Key + X-API-Secret; the secret stored only as a salted hash)
 * and JWTs (Authorization: Bearer; HS256 with a shared secret, RS256/ES256
 * with a PEM public key). Both yield an identity with a scope and, when bound,
 * an agent id.
 *
 * Rules: empty header values count as absent; a key pair that is present must
 * be valid (no fall-through to the token); no or invalid credentials -> 401;
 * a valid credential lacking scope -> 403.
 */
#ifndef QUARRY_AUTH_H
#define QUARRY_AUTH_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

struct registry;

enum auth_scope {
    AUTH_SCOPE_NONE = 0,
    AUTH_SCOPE_READ = 1,
    AUTH_SCOPE_WRITE = 2,
    AUTH_SCOPE_ADMIN = 3
};

struct auth_identity {
    char kind[8];      /* "key" or "jwt" */
    char subject[128]; /* key id, or the token's `sub` (may be empty) */
    int scope; /* the highest enum auth_scope granted (write implies read, admin implies write) */
    char agent_id[40]; /* empty when not bound to an agent */
};

/* JWT verification settings; NULL/0 fields are unset. */
struct auth_jwt_config {
    const char *hs256_secret;   /* shared secret for HS256 */
    const char *public_key_pem; /* PEM text of an RSA or EC public key (RS256 / ES256) */
    const char *issuer;         /* required `iss` when set */
    const char *audience;       /* required in `aud` (string or array) when set */
    long leeway_s;              /* clock skew allowed on exp/nbf */
};

/* The outcome of authenticate(): 0 ok, else the HTTP status to answer (401). */
struct auth_result {
    int status;
    char code[32];     /* "unauthorized" ... */
    char message[256]; /* for the client; never contains a secret */
};

/*
 * Authenticates one request from its header values (any may be NULL). Reads
 * API keys from `registry` (updates last_used_at). `now` is the current time.
 */
int auth_authenticate(struct registry *registry, const struct auth_jwt_config *jwt,
                      const char *api_key, const char *api_secret, const char *authorization,
                      time_t now, struct auth_identity *out, struct auth_result *result);

/* 1 when `identity` grants `needed` (enum auth_scope). */
int auth_allows(const struct auth_identity *identity, int needed);

/* "read" / "write" / "admin" <-> enum auth_scope; -1 / NULL for anything else. */
int auth_scope_parse(const char *name);
const char *auth_scope_name(int scope);

/* --- API key management (the `quarryd keys` commands and tests) --- */

/*
 * Checks auth_key_create's arguments without touching the registry, so that
 * callers can tell bad input from a storage failure. 0, or -1 with a message.
 */
int auth_key_validate(int scope, const char *agent_id, const char *name, time_t expires_at,
                      char *err, size_t errlen);
/*
 * Creates a key. `agent_id` and `name` may be NULL; `expires_at` 0 = never.
 * Writes the key id (`id_out`, >= 40 bytes) and the secret (`secret_out`,
 * >= 64 bytes), shown once and never stored. Returns 0 or -1 (message in err).
 */
int auth_key_create(struct registry *registry, int scope, const char *agent_id, const char *name,
                    time_t expires_at, char *id_out, char *secret_out, char *err, size_t errlen);
/* Marks a key revoked. Returns 0, 1 when no such (unrevoked) key, -1 on error. */
int auth_key_revoke(struct registry *registry, const char *key_id);
/* Every key without its hash: [{id, name, scope, agent_id, created_at, expires_at, revoked_at,
 * last_used_at}]. */
json_t *auth_key_list(struct registry *registry);

#endif
