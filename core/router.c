#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

struct route {
    int method;
    size_t nsegments;
    char *segments[ROUTER_MAX_SEGMENTS]; /* a NULL-named param is stored as its name */
    unsigned param_mask;                 /* bit i: segment i is a parameter */
    struct route_target target;
};

struct router {
    size_t nroutes;
    struct route routes[ROUTER_MAX_ROUTES];
};

static const struct {
    const char *name;
    int method;
} method_names[] = {
    {"GET", ROUTER_GET},         {"POST", ROUTER_POST},     {"PUT", ROUTER_PUT},
    {"PATCH", ROUTER_PATCH},     {"DELETE", ROUTER_DELETE}, {"HEAD", ROUTER_HEAD},
    {"OPTIONS", ROUTER_OPTIONS},
};

int router_method_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (strcmp(name, method_names[i].name) == 0)
            return method_names[i].method;
    return ROUTER_OTHER;
}

void router_methods_format(int mask, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
        if (!(mask & method_names[i].method))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", method_names[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

struct router *router_new(void)
{
    return calloc(1, sizeof(struct router));
}

void router_free(struct router *router)
{
    if (!router)
        return;
    for (size_t i = 0; i < router->nroutes; i++)
        for (size_t s = 0; s < router->routes[i].nsegments; s++)
            free(router->routes[i].segments[s]);
    free(router);
}

/*
 * Splits "/a/b/" into segments; a single trailing slash is dropped. Returns
 * the count, or -1 for an empty inner segment, a relative path or too many.
 */
static int split_path(const char *path, const char **starts, size_t *lens)
{
    if (path[0] != '/')
        return -1;
    size_t len = strlen(path);
    if (len > 1 && path[len - 1] == '/')
        len--;
    int n = 0;
    const char *p = path + 1, *end = path + len;
    if (p >= end)
        return 0;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        if (stop == p || n == ROUTER_MAX_SEGMENTS)
            return -1;
        starts[n] = p;
        lens[n] = (size_t)(stop - p);
        n++;
        p = stop + 1;
    }
    return n;
}

int router_add(struct router *router, int method, const char *pattern, struct route_target target)
{
    const char *starts[ROUTER_MAX_SEGMENTS];
    size_t lens[ROUTER_MAX_SEGMENTS];
    int n = split_path(pattern, starts, lens);
    if (n < 0 || router->nroutes == ROUTER_MAX_ROUTES)
        return -1;

    struct route *r = &router->routes[router->nroutes];
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->target = target;
    unsigned nparams = 0;
    for (int i = 0; i < n; i++) {
        int is_param = lens[i] > 2 && starts[i][0] == '{' && starts[i][lens[i] - 1] == '}';
        if (is_param) {
            if (++nparams > ROUTER_MAX_PARAMS)
                goto err;
            r->param_mask |= 1u << i;
            r->segments[i] = strndup(starts[i] + 1, lens[i] - 2);
        } else {
            r->segments[i] = strndup(starts[i], lens[i]);
        }
        r->nsegments++;
        if (!r->segments[i])
            goto err;
    }
    router->nroutes++;
    return 0;
err:
    for (size_t s = 0; s < r->nsegments; s++)
        free(r->segments[s]);
    return -1;
}

/*
 * A route's rank for a path it fits: literal segments earlier in the path
 * outrank parameters, so compare the parameter masks reversed bit by bit.
 * Lower is better.
 */
static unsigned route_rank(const struct route *r)
{
    unsigned rank = 0;
    for (size_t i = 0; i < r->nsegments; i++)
        if (r->param_mask & (1u << i))
            rank |= 1u << (ROUTER_MAX_SEGMENTS - 1 - i);
    return rank;
}

static int route_fits(const struct route *r, int n, char **decoded)
{
    if ((int)r->nsegments != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (!(r->param_mask & (1u << i)) && strcmp(r->segments[i], decoded[i]) != 0)
            return 0;
    return 1;
}

static void decoded_free(char **decoded, int n)
{
    for (int i = 0; i < n; i++)
        free(decoded[i]);
}

static int decode_segments(const char *path, char **decoded)
{
    const char *starts[ROUTER_MAX_SEGMENTS];
    size_t lens[ROUTER_MAX_SEGMENTS];
    int n = split_path(path, starts, lens);
    for (int i = 0; i < n; i++) {
        char *raw = strndup(starts[i], lens[i]);
        size_t out_len = 0;
        decoded[i] = raw ? evhttp_uridecode(raw, 0, &out_len) : NULL;
        free(raw);
        /* A decoded NUL or slash would let one segment pose as another. */
        if (!decoded[i] || strlen(decoded[i]) != out_len || strchr(decoded[i], '/')) {
            decoded_free(decoded, i + 1);
            return -1;
        }
    }
    return n;
}

int router_match(const struct router *router, int method, const char *path,
                 struct router_match *match)
{
    memset(match, 0, sizeof(*match));
    char *decoded[ROUTER_MAX_SEGMENTS] = {0};
    int n = decode_segments(path, decoded);
    if (n < 0)
        return -1;

    /* The most literal shape that fits names the resource; methods then pick. */
    unsigned best_rank = ~0u;
    for (size_t i = 0; i < router->nroutes; i++) {
        const struct route *r = &router->routes[i];
        if (route_fits(r, n, decoded) && route_rank(r) < best_rank)
            best_rank = route_rank(r);
    }
    const struct route *best = NULL;
    for (size_t i = 0; i < router->nroutes; i++) {
        const struct route *r = &router->routes[i];
        if (!route_fits(r, n, decoded) || route_rank(r) != best_rank)
            continue;
        match->allowed |= r->method;
        if ((r->method & method) && !best)
            best = r;
    }
    if (!best) {
        decoded_free(decoded, n);
        return 0;
    }

    match->target = &best->target;
    for (size_t i = 0; i < best->nsegments; i++) {
        if (best->param_mask & (1u << i)) {
            match->param_names[match->nparams] = best->segments[i];
            match->param_values[match->nparams++] = decoded[i];
            decoded[i] = NULL;
        }
    }
    decoded_free(decoded, n);
    return 1;
}

void router_match_clear(struct router_match *match)
{
    for (size_t i = 0; i < match->nparams; i++)
        free(match->param_values[i]);
    memset(match, 0, sizeof(*match));
}

const char *router_param(const struct router_match *match, const char *name)
{
    for (size_t i = 0; i < match->nparams; i++)
        if (strcmp(match->param_names[i], name) == 0)
            return match->param_values[i];
    return NULL;
}
