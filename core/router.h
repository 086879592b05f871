/*
 * Method + path-pattern routing. Patterns are absolute paths whose segments
 * are literals or `{name}` parameters: "/v1/database-connection/{id}/test".
 * A literal segment beats a parameter at the same position, whatever the
 * registration order, so "/x/deleted" wins over "/x/{id}". A single trailing
 * slash is ignored. The router knows nothing of HTTP beyond method names.
 */
#ifndef QUARRY_ROUTER_H
#define QUARRY_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 4
#define ROUTER_MAX_SEGMENTS 16
#define ROUTER_MAX_ROUTES 160

enum router_method {
    ROUTER_GET = 1 << 0,
    ROUTER_POST = 1 << 1,
    ROUTER_PUT = 1 << 2,
    ROUTER_PATCH = 1 << 3,
    ROUTER_DELETE = 1 << 4,
    ROUTER_HEAD = 1 << 5,
    ROUTER_OPTIONS = 1 << 6,
    ROUTER_OTHER = 1 << 7 /* any method the router never routes */
};

struct router;
struct http_exchange;

/* What a route carries for its caller; the router only stores it. */
struct route_target {
    void (*handler)(struct http_exchange *exchange);
    int scope; /* the access a route needs; interpreted by the caller */
};

struct router_match {
    const struct route_target *target; /* NULL when nothing matched */
    int allowed;                       /* methods the path accepts (for 405), a mask */
    size_t nparams;
    const char *param_names[ROUTER_MAX_PARAMS]; /* borrowed from the route */
    char *param_values[ROUTER_MAX_PARAMS];      /* decoded; freed by router_match_clear */
};

struct router *router_new(void);
void router_free(struct router *router);

/* Returns 0, or -1 for a malformed pattern or a full table (a programming error). */
int router_add(struct router *router, int method, const char *pattern, struct route_target target);

/*
 * Matches a raw (still percent-encoded) path. Returns 1 with `match->target`
 * set, 0 when no route fits (then `match->allowed` is nonzero if the path
 * exists under other methods: answer 405), or -1 for a path that cannot be a
 * route (bad encoding, NUL, too many segments: answer 404 as well).
 */
int router_match(const struct router *router, int method, const char *path,
                 struct router_match *match);
void router_match_clear(struct router_match *match);

/* The value of parameter `name`, or NULL. Borrowed from `match`. */
const char *router_param(const struct router_match *match, const char *name);

int router_method_parse(const char *name);
/* "GET, POST" for a mask, into `buf`. */
void router_methods_format(int mask, char *buf, size_t size);

#endif
