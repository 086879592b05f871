/*
 * The native connections API (/v1/database-connection, its /v1/sdk/database
 * aliases, and the same under /api): parse and validate, call the
 * connections module, render. Anything that touches a target runs on a
 * worker through http_defer.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_common.h"
#include "app.h"
#include "config.h"
#include "conn_input.h"
#include "connections.h"
#include "http.h"
#include "ids.h"
#include "loader.h"
#include "probe.h"
#include "router.h"

enum probe_purpose { PROBE_CREATE, PROBE_UPDATE, PROBE_TEST };

/* A connection on its way through a probe on a worker, and what to do after. */
struct probe_job {
    enum probe_purpose purpose;
    char id[ID_UUID_LEN + 1]; /* update and test */
    struct conn_state state;
    json_t *changed; /* update: the fields that changed */
    const struct quarry_driver *driver;
    const struct guard *guard;
    int timeout_ms;
    struct probe_outcome outcome;
};

static void probe_job_free(struct probe_job *job)
{
    conn_state_clear(&job->state);
    json_decref(job->changed);
    free(job);
}

static const char *initiated_by(const struct http_exchange *ex)
{
    const struct auth_identity *identity = api_identity(ex);
    return identity && identity->subject[0] ? identity->subject : NULL;
}

/* ------------------------------------------------------------------------ */
/* Probe jobs                                                               */
/* ------------------------------------------------------------------------ */

static void probe_job_run(void *arg)
{
    struct probe_job *job = arg;
    probe_target(job->driver, job->guard, job->state.url, job->state.params, job->timeout_ms,
                 &job->outcome);
}

static void reply_created(struct http_exchange *ex, struct probe_job *job)
{
    struct app *app = http_app(ex);
    char id[ID_UUID_LEN + 1];
    int rc = connections_insert(app->registry, app->secrets, &job->state, &job->outcome.test, id);
    if (rc == CONN_CONFLICT) {
        http_reply_error(ex, 409, "conflict",
                         "a connection named `%s` already exists for this agent", job->state.name);
        return;
    }
    json_t *record = rc == CONN_OK ? connections_get(app->registry, id, CONN_LIVE, &rc) : NULL;
    if (!record) {
        api_reply_conn_error(ex, rc, id);
        return;
    }
    http_reply_json(ex, 201,
                    json_pack("{s:o, s:s, s:b}", "connection", record, "test_result",
                              job->outcome.test.message, "is_active", job->outcome.test.ok));
}

static void reply_updated(struct http_exchange *ex, struct probe_job *job)
{
    struct app *app = http_app(ex);
    const struct conn_test *test = job->outcome.test.tested ? &job->outcome.test : NULL;
    int rc = connections_update(app->registry, app->secrets, job->id, &job->state, test);
    if (rc == CONN_CONFLICT) {
        http_reply_error(ex, 409, "conflict",
                         "a connection named `%s` already exists for this agent", job->state.name);
        return;
    }
    json_t *record = rc == CONN_OK ? connections_get(app->registry, job->id, CONN_LIVE, &rc) : NULL;
    if (!record) {
        api_reply_conn_error(ex, rc, job->id);
        return;
    }
    http_reply_json(ex, 200,
                    json_pack("{s:o, s:O, s:s?}", "connection", record, "updated_fields",
                              job->changed, "initiated_by", initiated_by(ex)));
}

static void reply_tested(struct http_exchange *ex, struct probe_job *job)
{
    struct app *app = http_app(ex);
    const struct conn_test *t = &job->outcome.test;
    int rc = connections_record_test(app->registry, job->id, t);
    json_t *record = rc == CONN_OK ? connections_get(app->registry, job->id, CONN_ANY, &rc) : NULL;
    if (!record) {
        api_reply_conn_error(ex, rc, job->id);
        return;
    }
    http_reply_json(ex, 200,
                    json_pack("{s:s, s:s, s:f, s:s?, s:s, s:o}", "status",
                              t->ok ? "success" : "failed", "message", t->message, "latency_ms",
                              t->latency_ms, "server_version",
                              t->server_version[0] ? t->server_version : NULL, "tested_at",
                              t->tested_at, "connection", record));
}

static void probe_job_done(struct http_exchange *ex, void *arg)
{
    struct probe_job *job = arg;
    if (job->outcome.refused)
        http_reply_error(ex, 422, "target_denied", "%s", job->outcome.why);
    else if (job->purpose == PROBE_CREATE)
        reply_created(ex, job);
    else if (job->purpose == PROBE_UPDATE)
        reply_updated(ex, job);
    else
        reply_tested(ex, job);
    probe_job_free(job);
}

static void probe_job_start(struct http_exchange *ex, struct probe_job *job)
{
    struct app *app = http_app(ex);
    job->guard = app->guard;
    job->timeout_ms = (int)config_long(app->config, CFG_CONNECT_TIMEOUT);
    if (http_defer(ex, probe_job_run, probe_job_done, job) != 0)
        probe_job_free(job);
}

/* ------------------------------------------------------------------------ */
/* Create, update, test                                                     */
/* ------------------------------------------------------------------------ */

/* The agent a caller may write: its own when bound. 0, or -1 after replying 403/422. */
static int settle_agent(struct http_exchange *ex, struct conn_state *state, int required)
{
    const struct auth_identity *identity = api_identity(ex);
    if (identity && identity->agent_id[0]) {
        if (!state->agent_id)
            state->agent_id = strdup(identity->agent_id);
        if (!state->agent_id || strcasecmp(state->agent_id, identity->agent_id) != 0) {
            http_reply_error(ex, 403, "forbidden", "this credential may only use agent %s",
                             identity->agent_id);
            return -1;
        }
    } else if (required && !state->agent_id) {
        http_reply_error(ex, 422, "missing_field", "`agent_id` is required");
        return -1;
    }
    return 0;
}

/* Validates the state and checks the name; returns the driver or NULL after replying. */
static const struct quarry_driver *validate_state(struct http_exchange *ex,
                                                  struct conn_state *state, const char *except_id)
{
    struct app *app = http_app(ex);
    struct input_error err;
    const struct quarry_driver *driver = conn_input_validate(state, app->guard, &err);
    if (!driver) {
        http_reply_error(ex, err.status, err.code, "%s", err.message);
        return NULL;
    }
    if (connections_name_taken(app->registry, state->agent_id, state->name, except_id)) {
        http_reply_error(ex, 409, "conflict",
                         "a connection named `%s` already exists for this agent", state->name);
        return NULL;
    }
    return driver;
}

static void handle_create(struct http_exchange *ex)
{
    json_t *body;
    if (http_body_json(ex, &body) != 0)
        return;
    struct probe_job *job = calloc(1, sizeof(*job));
    struct input_error err;
    if (!job) {
        json_decref(body);
        http_reply_error(ex, 500, "internal", "out of memory");
        return;
    }
    job->purpose = PROBE_CREATE;
    if (conn_input_apply(&job->state, body, CONN_APPLY_CREATE, NULL, &err) != 0) {
        http_reply_error(ex, err.status, err.code, "%s", err.message);
        goto fail;
    }
    if (settle_agent(ex, &job->state, 1) != 0 ||
        !(job->driver = validate_state(ex, &job->state, NULL)))
        goto fail;
    json_decref(body);
    probe_job_start(ex, job);
    return;
fail:
    json_decref(body);
    probe_job_free(job);
}

/* Loads a live connection the caller may see into a new probe job; NULL after replying. */
static struct probe_job *job_for_connection(struct http_exchange *ex, enum probe_purpose purpose)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_LIVE) != 0)
        return NULL;
    struct probe_job *job = calloc(1, sizeof(*job));
    if (!job) {
        http_reply_error(ex, 500, "internal", "out of memory");
        return NULL;
    }
    job->purpose = purpose;
    snprintf(job->id, sizeof(job->id), "%s", id);
    int rc = connections_load_state(app->registry, app->secrets, id, &job->state);
    if (rc != CONN_OK) {
        api_reply_conn_error(ex, rc, id);
        free(job);
        return NULL;
    }
    return job;
}

static int needs_probe(const json_t *changed)
{
    size_t i;
    json_t *field;
    json_array_foreach(changed, i, field)
    {
        const char *name = json_string_value(field);
        if (!strcmp(name, "url") || !strcmp(name, "database_type") ||
            !strcmp(name, "connection_params"))
            return 1;
    }
    return 0;
}

static void update(struct http_exchange *ex, enum conn_apply_mode mode)
{
    json_t *body;
    if (http_body_json(ex, &body) != 0)
        return;
    struct probe_job *job = job_for_connection(ex, PROBE_UPDATE);
    struct input_error err;
    if (!job) {
        json_decref(body);
        return;
    }
    job->changed = json_array();
    if (conn_input_apply(&job->state, body, mode, job->changed, &err) != 0) {
        http_reply_error(ex, err.status, err.code, "%s", err.message);
        goto fail;
    }
    if (settle_agent(ex, &job->state, 0) != 0 ||
        !(job->driver = validate_state(ex, &job->state, job->id)))
        goto fail;
    json_decref(body);
    /* A new target is probed before it is stored; other edits are stored at once. */
    if (needs_probe(job->changed)) {
        probe_job_start(ex, job);
        return;
    }
    reply_updated(ex, job);
    probe_job_free(job);
    return;
fail:
    json_decref(body);
    probe_job_free(job);
}

static void handle_put(struct http_exchange *ex)
{
    update(ex, CONN_APPLY_REPLACE);
}

static void handle_patch(struct http_exchange *ex)
{
    update(ex, CONN_APPLY_MERGE);
}

static void handle_test(struct http_exchange *ex)
{
    struct probe_job *job = job_for_connection(ex, PROBE_TEST);
    if (!job)
        return;
    job->driver = loader_find(job->state.database_type);
    if (!job->driver) {
        http_reply_error(ex, 422, "unsupported_database_type",
                         "no loaded driver serves database_type `%s`", job->state.database_type);
        probe_job_free(job);
        return;
    }
    probe_job_start(ex, job);
}

/* ------------------------------------------------------------------------ */
/* Reads, delete, restore                                                   */
/* ------------------------------------------------------------------------ */

static void handle_get(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_LIVE) != 0)
        return;
    int rc;
    json_t *record = connections_get(app->registry, id, CONN_LIVE, &rc);
    if (!record) {
        api_reply_conn_error(ex, rc, id);
        return;
    }
    http_reply_json(ex, 200, json_pack("{s:o}", "connection", record));
}

static void list(struct http_exchange *ex, enum conn_visibility vis, const char *agent_id)
{
    struct app *app = http_app(ex);
    struct conn_filter filter = {.visibility = vis};
    if (api_parse_page(ex, &filter.page, &filter.per_page, 20) != 0 ||
        api_parse_conn_filter(ex, &filter) != 0)
        return;
    const struct auth_identity *identity = api_identity(ex);
    if (agent_id) {
        snprintf(filter.agent_buf, sizeof(filter.agent_buf), "%s", agent_id);
        id_uuid_lower(filter.agent_buf);
        filter.agent_id = filter.agent_buf;
    }
    if (identity && identity->agent_id[0]) {
        /* A bound caller sees its own agent only; asking for another is forbidden. */
        if (filter.agent_id && strcasecmp(filter.agent_id, identity->agent_id) != 0) {
            http_reply_error(ex, 403, "forbidden", "this credential may only use agent %s",
                             identity->agent_id);
            return;
        }
        filter.agent_id = identity->agent_id;
    }
    json_t *page = connections_list(app->registry, &filter);
    if (!page) {
        http_reply_error(ex, 500, "internal", "cannot list connections");
        return;
    }
    http_reply_json(ex, 200, page);
}

static void handle_list(struct http_exchange *ex)
{
    list(ex, CONN_LIVE, NULL);
}

static void handle_list_deleted(struct http_exchange *ex)
{
    list(ex, CONN_DELETED, NULL);
}

static void handle_list_agent(struct http_exchange *ex)
{
    const char *agent = http_param(ex, "agent_id");
    if (!id_is_uuid(agent)) {
        http_reply_error(ex, 422, "invalid_field", "agent id must be a UUID");
        return;
    }
    list(ex, CONN_LIVE, agent);
}

static void handle_delete(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_LIVE) != 0)
        return;
    long tables = 0;
    int rc = connections_soft_delete(app->registry, id, &tables);
    if (rc != CONN_OK) {
        api_reply_conn_error(ex, rc, id);
        return;
    }
    http_reply_json(ex, 200,
                    json_pack("{s:s, s:I, s:s?}", "connection_id", id, "deleted_tables_count",
                              (json_int_t)tables, "initiated_by", initiated_by(ex)));
}

static void handle_restore(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_DELETED) != 0)
        return;
    long tables = 0;
    int rc = connections_restore(app->registry, id, &tables);
    if (rc == CONN_CONFLICT) {
        http_reply_error(ex, 409, "conflict",
                         "a live connection of this agent already has this connection's name");
        return;
    }
    json_t *record = rc == CONN_OK ? connections_get(app->registry, id, CONN_LIVE, &rc) : NULL;
    if (!record) {
        api_reply_conn_error(ex, rc, id);
        return;
    }
    http_reply_json(
        ex, 200,
        json_pack("{s:o, s:I}", "connection", record, "restored_tables_count", (json_int_t)tables));
}

int api_connections_routes(struct router *router)
{
    static const struct {
        int method;
        const char *path;
        void (*handler)(struct http_exchange *);
        int scope;
    } routes[] = {
        {ROUTER_POST, "/v1/database-connection", handle_create, SCOPE_WRITE},
        {ROUTER_GET, "/v1/database-connection", handle_list, SCOPE_READ},
        {ROUTER_GET, "/v1/database-connection/deleted", handle_list_deleted, SCOPE_READ},
        {ROUTER_GET, "/v1/database-connection/agent/{agent_id}", handle_list_agent, SCOPE_READ},
        {ROUTER_GET, "/v1/database-connection/{id}", handle_get, SCOPE_READ},
        {ROUTER_PUT, "/v1/database-connection/{id}", handle_put, SCOPE_WRITE},
        {ROUTER_PATCH, "/v1/database-connection/{id}", handle_patch, SCOPE_WRITE},
        {ROUTER_DELETE, "/v1/database-connection/{id}", handle_delete, SCOPE_WRITE},
        {ROUTER_PATCH, "/v1/database-connection/{id}/restore", handle_restore, SCOPE_WRITE},
        {ROUTER_POST, "/v1/database-connection/{id}/test", handle_test, SCOPE_WRITE},
        {ROUTER_POST, "/v1/sdk/database", handle_create, SCOPE_WRITE},
        {ROUTER_PUT, "/v1/sdk/database/{id}", handle_put, SCOPE_WRITE},
        {ROUTER_DELETE, "/v1/sdk/database/{id}", handle_delete, SCOPE_WRITE},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (api_route_both(router, routes[i].method, routes[i].path, routes[i].handler,
                           routes[i].scope) != 0)
            return -1;
    return 0;
}
