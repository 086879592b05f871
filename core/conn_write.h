/*
 * Writing a connection, shared by both API families: load what the caller
 * may change, settle its agent, validate, probe the target on a worker when
 * it is new or changed, store, and reply through the family's own renderer.
 */
#ifndef QUARRY_CONN_WRITE_H
#define QUARRY_CONN_WRITE_H

#include <jansson.h>

#include "connections.h"
#include "ids.h"
#include "probe.h"

struct guard;
struct pools;
struct http_exchange;

enum conn_write_purpose { CONN_WRITE_CREATE, CONN_WRITE_UPDATE, CONN_WRITE_TEST };

struct conn_write;

struct conn_write_ops {
    /* Replies with an error, in the family's statuses. */
    void (*reply_error)(struct http_exchange *exchange, int status, const char *code,
                        const char *message);
    /* Replies with success; `record` (owned) is the stored connection. */
    void (*reply_done)(struct http_exchange *exchange, struct conn_write *write, json_t *record);
};

struct conn_write {
    enum conn_write_purpose purpose;
    const struct conn_write_ops *ops;
    char id[ID_UUID_LEN + 1]; /* update and test; create fills it on success */
    struct conn_state state;
    json_t *changed; /* the fields an update changed */
    const struct quarry_driver *driver;
    struct probe_outcome outcome;
    const struct guard *probe_guard; /* set by conn_write_commit for the worker */
    struct pools *probe_pools;
    int probe_timeout_ms;
};

struct conn_write *conn_write_new(enum conn_write_purpose purpose,
                                  const struct conn_write_ops *ops);
/* A write on live connection `id`, loaded; NULL after replying 404/403/500. */
struct conn_write *conn_write_load(struct http_exchange *exchange, const char *id,
                                   enum conn_write_purpose purpose,
                                   const struct conn_write_ops *ops);
void conn_write_free(struct conn_write *write);

/* Replies through the write's ops and frees it. */
void conn_write_fail(struct http_exchange *exchange, struct conn_write *write, int status,
                     const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * The agent the caller may write: its own when bound (filled in when absent).
 * `required`: an unbound caller must name one. 0, or -1 after replying (and freeing).
 */
int conn_write_settle_agent(struct http_exchange *exchange, struct conn_write *write, int required);

/* Validates the state and its name's uniqueness. 0, or -1 after replying (and freeing). */
int conn_write_validate(struct http_exchange *exchange, struct conn_write *write);

/*
 * Stores the write and replies; takes ownership. Creates, tests and updates
 * that change the target are probed on a worker first.
 */
void conn_write_commit(struct http_exchange *exchange, struct conn_write *write);

/* Who made the request, for responses: a key id or a token subject, or NULL. */
const char *conn_write_initiator(const struct http_exchange *exchange);

#endif
