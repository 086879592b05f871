/*
 * The HTTP host on libevent's evhttp: one listener, one loop thread, the
 * router in front of handlers, a request id on every response, the JSON error
 * envelope, a body size limit, and the handoff of slow work to the worker
 * pool with the reply posted back to the loop thread.
 *
 * A handler receives a `struct http_exchange` and must answer it exactly once,
 * either before it returns or later from a `done` callback of http_defer().
 * The exchange is freed by the reply.
 */
#ifndef QUARRY_HTTP_H
#define QUARRY_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct event_base;
struct router;
struct workers;
struct http_server;
struct http_exchange;

struct http_server_options {
    const char *host;
    int port; /* 0: any free port (see http_server_port) */
    size_t body_limit;
    const struct router *router;
    struct workers *workers;
    void *app; /* handed to handlers through http_app() */
    /* Before each routed handler: 0 to go on, or -1 once it has replied. May be NULL. */
    int (*authorize)(struct http_exchange *exchange, int scope);
};

struct http_server *http_server_new(struct event_base *base,
                                    const struct http_server_options *options);
int http_server_port(const struct http_server *server);
/* Stops accepting connections; requests in flight still get their replies. */
void http_server_stop_accepting(struct http_server *server);
/* Exchanges received and not yet answered. */
size_t http_server_in_flight(const struct http_server *server);
void http_server_free(struct http_server *server);

/* Request accessors; strings are borrowed for the life of the exchange. */
void *http_app(const struct http_exchange *exchange);
const char *http_request_id(const struct http_exchange *exchange);
int http_method(const struct http_exchange *exchange); /* enum router_method */
const char *http_path(const struct http_exchange *exchange);
const char *http_param(const struct http_exchange *exchange, const char *name);
const char *http_query(struct http_exchange *exchange, const char *name);
const char *http_header(const struct http_exchange *exchange, const char *name);
/* 1 when the request carries a body of at least one byte. */
int http_has_body(const struct http_exchange *exchange);

/* A per-exchange slot for the caller's context (e.g. the authenticated identity). */
void http_set_context(struct http_exchange *exchange, void *context, void (*free_fn)(void *));
void *http_context(const struct http_exchange *exchange);

/*
 * Parses the body as a JSON object into `*out` (a new reference; NULL when
 * the request has no body). Returns 0, or -1 after replying 400 (malformed
 * JSON) or 422 (JSON that is not an object).
 */
int http_body_json(struct http_exchange *exchange, json_t **out);
/* As http_body_json, but any JSON value is accepted (only malformed JSON is answered, 400). */
int http_body_json_any(struct http_exchange *exchange, json_t **out);

/* Replies with `body` (reference stolen, even on failure). */
void http_reply_json(struct http_exchange *exchange, int status, json_t *body);
/*
 * Replies with JSON already encoded, e.g. by a worker (a large body need not
 * be encoded on the loop thread): `text` of `len` bytes, malloc'd, is taken
 * and sent without a copy.
 */
void http_reply_json_take(struct http_exchange *exchange, int status, char *text, size_t len);
/*
 * Replies with the error envelope:
 * {"error": {"code", "message", "request_id"}, "message", "error_code", "detail",
 * "description"}.
 */
void http_reply_error(struct http_exchange *exchange, int status, const char *code, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/* The same envelope with extra top-level fields merged in (reference stolen). */
void http_reply_error_with(struct http_exchange *exchange, int status, const char *code,
                           json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Replies with text of `content_type` (for formats that are not JSON, e.g. diagrams). */
void http_reply_text(struct http_exchange *exchange, int status, const char *content_type,
                     const char *text);
/* Adds a response header before the reply. */
void http_add_header(struct http_exchange *exchange, const char *name, const char *value);

/*
 * Runs `run(arg)` on a worker thread, then `done(exchange, arg)` on the loop
 * thread, which must reply and free `arg`. Returns 0, or -1 after replying 503
 * (the pool is full); `arg` is then still the caller's.
 */
int http_defer(struct http_exchange *exchange, void (*run)(void *arg),
               void (*done)(struct http_exchange *exchange, void *arg), void *arg);

#endif
