#include "api_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn_input.h"
#include "http.h"
#include "ids.h"
#include "jobrunner.h"
#include "jobs.h"
#include "pool.h"
#include "workers.h"
#include "router.h"

int api_route_both(struct router *router, int method, const char *path,
                   void (*handler)(struct http_exchange *), int scope)
{
    char alias[256];
    snprintf(alias, sizeof(alias), "/api%s", path);
    struct route_target target = {handler, scope};
    if (router_add(router, method, path, target) != 0 ||
        router_add(router, method, alias, target) != 0)
        return -1;
    return 0;
}

int api_routes_add(struct router *router, const struct api_route *routes, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (api_route_both(router, routes[i].method, routes[i].path, routes[i].handler,
                           routes[i].scope) != 0)
            return -1;
    return 0;
}

void api_reply_conn_error(struct http_exchange *ex, int rc, const char *id)
{
    switch (rc) {
    case CONN_NOT_FOUND:
        http_reply_error(ex, 404, "not_found", "connection %s not found", id);
        break;
    case CONN_CONFLICT:
        http_reply_error(ex, 409, "conflict", "a connection with this name already exists");
        break;
    default:
        http_reply_error(ex, 500, "internal", "the registry failed; see the server log");
    }
}

json_t *api_connection_record(struct http_exchange *ex, const char *id, enum conn_visibility vis)
{
    struct app *app = http_app(ex);
    if (!id_is_uuid(id)) {
        http_reply_error(ex, 404, "not_found", "connection %s not found", id ? id : "");
        return NULL;
    }
    int rc;
    json_t *record = connections_get(app->registry, id, vis, &rc);
    if (!record) {
        api_reply_conn_error(ex, rc, id);
        return NULL;
    }
    if (!api_agent_visible(ex, json_string_value(json_object_get(record, "agent_id")))) {
        json_decref(record);
        http_reply_error(ex, 403, "forbidden", "connection %s belongs to another agent", id);
        return NULL;
    }
    return record;
}

int api_check_connection(struct http_exchange *ex, const char *id, enum conn_visibility vis)
{
    json_t *record = api_connection_record(ex, id, vis);
    json_decref(record);
    return record ? 0 : -1;
}

/* A positive whole number from the query, or the default. 0, or -1 after replying. */
static int query_long(struct http_exchange *ex, const char *name, long fallback, long *out)
{
    const char *text = http_query(ex, name);
    if (!text) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < 1 || value > 1000000000L) {
        http_reply_error(ex, 422, "invalid_query", "`%s` must be a whole number from 1", name);
        return -1;
    }
    *out = value;
    return 0;
}

int api_parse_page(struct http_exchange *ex, long *page, long *per_page, long default_per_page,
                   long max_per_page)
{
    if (query_long(ex, "page", 1, page) != 0 ||
        query_long(ex, "per_page", default_per_page, per_page) != 0)
        return -1;
    /* A page size past the bound is served at the bound, not refused. */
    if (*per_page > max_per_page)
        *per_page = max_per_page;
    return 0;
}

int api_parse_conn_filter(struct http_exchange *ex, struct conn_filter *filter)
{
    const char *type = http_query(ex, "database_type");
    const char *agent = http_query(ex, "agent_id");
    const char *status = http_query(ex, "status");
    const char *search = http_query(ex, "search");
    if (!search)
        search = http_query(ex, "name");
    if (!search)
        search = http_query(ex, "q");
    if (agent && !id_is_uuid(agent)) {
        http_reply_error(ex, 422, "invalid_query", "`agent_id` must be a UUID");
        return -1;
    }
    if (status && strcmp(status, "success") && strcmp(status, "failed") &&
        strcmp(status, "untested")) {
        http_reply_error(ex, 422, "invalid_query", "`status` must be success, failed or untested");
        return -1;
    }
    if ((search && strlen(search) > 200) || (type && strlen(type) > 64)) {
        http_reply_error(ex, 422, "invalid_query", "filter values are limited to 200 characters");
        return -1;
    }
    filter->database_type = type ? conn_input_canonical_type(type) : NULL;
    if (agent) {
        /* Stored ids are lower case; the query string is the exchange's, so copy. */
        snprintf(filter->agent_buf, sizeof(filter->agent_buf), "%s", agent);
        id_uuid_lower(filter->agent_buf);
        agent = filter->agent_buf;
    }
    filter->agent_id = agent;
    filter->status = status;
    filter->search = search && *search ? search : NULL;
    return 0;
}

void api_reply_job(struct http_exchange *ex, const char *kind, const char *connection_id,
                   const json_t *payload, const char *message)
{
    struct app *app = http_app(ex);
    const struct auth_identity *identity = api_identity(ex);
    char id[ID_UUID_LEN + 1], agent[40] = "";
    if (connection_id)
        connections_agent(app->registry, connection_id, agent, sizeof(agent));
    else if (identity && identity->agent_id[0])
        snprintf(agent, sizeof(agent), "%s", identity->agent_id);
    if (jobs_create(app->registry, kind, connection_id, agent[0] ? agent : NULL, payload, id) !=
        JOBS_OK) {
        http_reply_error(ex, 500, "internal", "cannot queue the job");
        return;
    }
    jobrunner_kick(app->jobrunner);
    char url[64];
    snprintf(url, sizeof(url), "/v1/tasks/%s/status", id);
    http_add_header(ex, "Retry-After", "1");
    http_reply_json(ex, 202,
                    json_pack("{s:s, s:s, s:s, s:s, s:f}", "status", "accepted", "task_id", id,
                              "status_url", url, "message", message, "poll_after", 0.5));
}

struct eviction {
    struct pools *pools;
    char id[ID_UUID_LEN + 1];
};

static void evict(void *arg)
{
    struct eviction *e = arg;
    pools_evict(e->pools, e->id);
    free(e);
}

void api_evict_pooled(struct http_exchange *ex, const char *connection_id)
{
    struct app *app = http_app(ex);
    struct eviction *e = malloc(sizeof(*e));
    if (!e)
        return;
    e->pools = app->pools;
    snprintf(e->id, sizeof(e->id), "%s", connection_id);
    /* Best effort: a full pool leaves them to the reaper. */
    if (workers_submit(app->workers, evict, e) != 0)
        free(e);
}
