/*
 * What handlers share: configuration, the loop thread's registry handle and
 * the worker pool. One per process, owned by main.
 */
#ifndef QUARRY_APP_H
#define QUARRY_APP_H

#include <time.h>

struct config;
struct registry;
struct router;
struct workers;

struct app {
    const struct config *config;
    struct registry *registry; /* the loop thread's handle */
    struct workers *workers;
    time_t started_at;
    int shutting_down;
};

/* Access a route needs; checked by auth before the handler runs. */
enum app_scope {
    SCOPE_NONE = 0, /* health checks */
    SCOPE_READ = 1,
    SCOPE_WRITE = 2,
    SCOPE_ADMIN = 3
};

/* Registers every route of the service. Returns 0, or -1 (a programming error). */
int app_routes(struct router *router);

/* Each API area's routes. */
int api_system_routes(struct router *router);

#endif
