/*
 * Registered connections in the registry: the SQL behind the connection
 * APIs (native and Dataherald-compatible). Credentials go in sealed; records
 * come out masked. Runs on whichever thread owns the registry handle.
 */
#ifndef QUARRY_CONNECTIONS_H
#define QUARRY_CONNECTIONS_H

#include <stddef.h>

#include <jansson.h>

#include "ids.h"

struct registry;
struct secrets;

/* A connection as Quarry holds it, in clear: the outcome of create or update. */
struct conn_state {
    char *name;
    char *url;           /* clear text, credentials included */
    char *database_type; /* canonical driver name */
    char *agent_id;      /* or NULL */
    char *company_id;    /* or NULL */
    char *user_id;       /* or NULL */
    json_t *params;      /* object, clear secrets included; owned */
    json_t *schemas;     /* array of strings, or NULL; owned */
    json_t *metadata;    /* any JSON, or NULL; owned */
};

/* The last connectivity test. */
struct conn_test {
    int tested;
    int ok;
    char message[512];
    double latency_ms;
    char server_version[128];
    char tested_at[ID_TIME_LEN + 1];
};

void conn_state_clear(struct conn_state *state);

enum connections_rc {
    CONN_OK = 0,
    CONN_ERROR = -1, /* registry or crypto failure */
    CONN_NOT_FOUND = -2,
    CONN_CONFLICT = -3 /* the name is taken for this agent */
};

/* Which records a lookup may see. */
enum conn_visibility { CONN_LIVE, CONN_DELETED, CONN_ANY };

/* Inserts a new connection with a fresh id (written to `id_out`). */
int connections_insert(struct registry *registry, const struct secrets *secrets,
                       const struct conn_state *state, const struct conn_test *test, char *id_out);
/* Replaces the stored state of a live connection; `test` may be NULL (keep the last test). */
int connections_update(struct registry *registry, const struct secrets *secrets, const char *id,
                       const struct conn_state *state, const struct conn_test *test);
/* Records a test outcome. */
int connections_record_test(struct registry *registry, const char *id,
                            const struct conn_test *test);

/* The masked record {id, name, url, ...}, or NULL (`*rc` says why). New reference. */
json_t *connections_get(struct registry *registry, const char *id, enum conn_visibility vis,
                        int *rc);
/* The clear state of a live connection, for drivers and updates. */
int connections_load_state(struct registry *registry, const struct secrets *secrets, const char *id,
                           struct conn_state *out);

struct conn_filter {
    enum conn_visibility visibility;
    const char *agent_id;      /* only this agent's, or NULL */
    const char *database_type; /* or NULL */
    const char *status;        /* "success" | "failed" | "untested", or NULL */
    const char *search;        /* substring of the name, or NULL */
    long page;                 /* 1-based */
    long per_page;
    char agent_buf[40]; /* storage for a normalised agent_id */
};

/* {"connections": [...], "total", "page", "per_page", "total_pages"}. New reference. */
json_t *connections_list(struct registry *registry, const struct conn_filter *filter);

/* 1 when a live connection of `agent_id` (NULL = none) has `name`, other than `except_id`. */
int connections_name_taken(struct registry *registry, const char *agent_id, const char *name,
                           const char *except_id);

/* Soft-deletes a live connection and its live tables; the count of tables goes to `*tables`. */
int connections_soft_delete(struct registry *registry, const char *id, long *tables);
/* Restores a deleted connection and the tables deleted with it. */
int connections_restore(struct registry *registry, const char *id, long *tables);

/* The id of the live connection of `agent_id` (NULL = none) named `name`, into `id_out`. */
int connections_find_by_name(struct registry *registry, const char *agent_id, const char *name,
                             char *id_out);

/* The agent a connection belongs to (any visibility), copied into `out` ("" when none). */
int connections_agent(struct registry *registry, const char *id, char *out, size_t size);

#endif
