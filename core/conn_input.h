/*
 * Client input for connections: applying a JSON body (native field names)
 * onto a connection's state, and validating the result. Shared by create,
 * PUT and PATCH of both API families, so every path validates alike.
 */
#ifndef QUARRY_CONN_INPUT_H
#define QUARRY_CONN_INPUT_H

#include <jansson.h>

#include "connections.h"
#include "quarry/driver.h"

struct guard;

#define CONN_NAME_MAX 200
#define CONN_URL_MAX 4096
#define CONN_PARAMS_MAX_BYTES 16384
#define CONN_PARAMS_MAX_KEYS 64

struct input_error {
    int status; /* 400, 403, 409 or 422 */
    char code[32];
    char message[512];
};

enum conn_apply_mode {
    CONN_APPLY_CREATE,  /* name, url, database_type required */
    CONN_APPLY_REPLACE, /* given fields replace the stored ones */
    CONN_APPLY_MERGE    /* as REPLACE, but objects (params, metadata) merge key by key */
};

/*
 * Applies `body` onto `state`. Names of the fields that changed are appended
 * to `changed` (may be NULL). A masked secret sent back ("***", as responses
 * show it) keeps the stored one. Returns 0, or -1 with `err` filled.
 */
int conn_input_apply(struct conn_state *state, const json_t *body, enum conn_apply_mode mode,
                     json_t *changed, struct input_error *err);

/*
 * Validates a whole state: a type served by a loaded driver (aliases become
 * canonical names), a URL whose scheme fits it, and the guard checks that
 * need no DNS. Returns the driver, or NULL with `err` filled.
 */
const struct quarry_driver *conn_input_validate(struct conn_state *state, const struct guard *guard,
                                                struct input_error *err);

/* "postgresql" -> "postgres", "mariadb" -> "mysql"; others unchanged. Borrowed. */
const char *conn_input_canonical_type(const char *type);

#endif
