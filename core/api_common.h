/* What every API handler file shares: lookups with isolation, paging, route aliases. */
#ifndef QUARRY_API_COMMON_H
#define QUARRY_API_COMMON_H

#include <jansson.h>

#include "connections.h"

struct http_exchange;
struct router;

/* Registers `path` and `/api` + `path` alike. */
int api_route_both(struct router *router, int method, const char *path,
                   void (*handler)(struct http_exchange *), int scope);

/* One route of an API area's table. */
struct api_route {
    int method; /* enum router_method */
    const char *path;
    void (*handler)(struct http_exchange *);
    int scope; /* enum auth_scope */
};

/* Registers a table of routes with api_route_both. 0, or -1 (a programming error). */
int api_routes_add(struct router *router, const struct api_route *routes, size_t count);

/*
 * Checks that connection `id` exists with visibility `vis` and that the
 * caller may see it. 0, or -1 after replying 404 (unknown, or not a UUID) or
 * 403 (another agent's).
 */
int api_check_connection(struct http_exchange *exchange, const char *id, enum conn_visibility vis);
/* The same check, returning the masked record (new reference), or NULL after replying. */
json_t *api_connection_record(struct http_exchange *exchange, const char *id,
                              enum conn_visibility vis);

/* Closes the pooled connections of `connection_id` on a worker (closing can block). */
void api_evict_pooled(struct http_exchange *exchange, const char *connection_id);

/* Replies for a connections_* return code other than CONN_OK. */
void api_reply_conn_error(struct http_exchange *exchange, int rc, const char *id);

/*
 * `page` (default 1) and `per_page` (default `default_per_page`, served at
 * most at `max_per_page`) from the query. 0, or -1 after replying 422.
 */
int api_parse_page(struct http_exchange *exchange, long *page, long *per_page,
                   long default_per_page, long max_per_page);

/*
 * Queues a job and replies 202 with the task acknowledgement of the task
 * contract. `payload` borrowed, may be NULL.
 */
void api_reply_job(struct http_exchange *exchange, const char *kind, const char *connection_id,
                   const json_t *payload, const char *message);

/* database_type, agent_id, status and search (or name / q) filters. 0, or -1 after replying 422. */
int api_parse_conn_filter(struct http_exchange *exchange, struct conn_filter *filter);

#endif
