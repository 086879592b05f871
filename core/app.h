/*
 * What handlers share: configuration, the loop thread's registry handle and
 * the worker pool. One per process, owned by main.
 */
#ifndef QUARRY_APP_H
#define QUARRY_APP_H

#include <time.h>

#include "auth.h"

struct config;
struct guard;
struct jobrunner;
struct pools;
struct http_exchange;
struct secrets;
struct registry;
struct router;
struct workers;

struct app {
    const struct config *config;
    struct registry *registry; /* the loop thread's handle */
    struct workers *workers;
    struct secrets *secrets;
    struct guard *guard;
    struct pools *pools;         /* target connections, borrowed by workers */
    struct jobrunner *jobrunner; /* loop thread only */
    struct auth_jwt_config jwt;
    char *jwt_public_key_pem; /* owned; what jwt.public_key_pem points to */
    time_t started_at;
    int shutting_down;
};

/* Access a route needs (enum auth_scope); checked before the handler runs. */
#define SCOPE_NONE AUTH_SCOPE_NONE /* health checks */
#define SCOPE_READ AUTH_SCOPE_READ
#define SCOPE_WRITE AUTH_SCOPE_WRITE
#define SCOPE_ADMIN AUTH_SCOPE_ADMIN

/*
 * Sets up what handlers share beyond the registry and workers: the sealing
 * key, the target guards and JWT settings. 0, or -1 after logging why.
 */
int app_init_security(struct app *app, const struct config *config);
void app_free_security(struct app *app);

/* The http_server authorize hook: authenticates, checks the scope; -1 after replying. */
int api_authorize(struct http_exchange *exchange, int scope);
/* The caller's identity (set by api_authorize). */
const struct auth_identity *api_identity(const struct http_exchange *exchange);
/* 1 when the caller may see resources of `agent_id` ("" or NULL = no agent). */
int api_agent_visible(const struct http_exchange *exchange, const char *agent_id);

/* Registers every route of the service. Returns 0, or -1 (a programming error). */
int app_routes(struct router *router, const struct config *config);

/* Registers the runner of every kind of job. */
int app_register_jobs(struct jobrunner *runner);

/* Each API area's routes. */
int api_system_routes(struct router *router);
int api_connections_routes(struct router *router);
int api_tasks_routes(struct router *router);
int api_tables_routes(struct router *router);
int api_analysis_routes(struct router *router);
int api_text2sql_routes(struct router *router);
int api_documents_routes(struct router *router);
int api_search_routes(struct router *router);
/* `require_auth` 0 serves them without credentials (an operator's explicit choice). */
int api_dataherald_routes(struct router *router, int require_auth);

#endif
