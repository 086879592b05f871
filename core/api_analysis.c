/*
 * Analysis routes: queue an analysis (one connection or a batch), and read
 * its results: the semantic snapshot, the knowledge graph, sample queries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_common.h"
#include "app.h"
#include "graph.h"
#include "http.h"
#include "ids.h"
#include "loader.h"
#include "registry.h"
#include "router.h"
#include "snapshots.h"

#define BATCH_MAX 1000

static void handle_analyze(struct http_exchange *ex)
{
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_LIVE) == 0)
        api_reply_job(ex, "analyze", id, NULL, "analysis queued");
}

/* Eligible: live, visible to the caller, served by a loaded driver, last test not failed. */
static int eligible(struct http_exchange *ex, json_t *record)
{
    const char *agent = json_string_value(json_object_get(record, "agent_id"));
    const char *type = json_string_value(json_object_get(record, "database_type"));
    const char *status = json_string_value(json_object_get(record, "status"));
    return api_agent_visible(ex, agent) && type && loader_find(type) &&
           !(status && strcmp(status, "failed") == 0);
}

/* The ids a batch body names, checked; NULL after replying 422/404/403. */
static json_t *named_ids(struct http_exchange *ex, json_t *ids)
{
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > BATCH_MAX) {
        http_reply_error(ex, 422, "invalid_field",
                         "`connection_ids` must be an array of 1 to %d connection ids", BATCH_MAX);
        return NULL;
    }
    size_t i;
    json_t *item;
    json_array_foreach(ids, i, item)
    {
        if (!id_is_uuid(json_string_value(item))) {
            http_reply_error(ex, 422, "invalid_field", "`connection_ids` must hold UUIDs");
            return NULL;
        }
        if (api_check_connection(ex, json_string_value(item), CONN_LIVE) != 0)
            return NULL;
    }
    return json_incref(ids);
}

/* Every eligible connection matching the body's optional filters. */
static json_t *eligible_ids(struct http_exchange *ex, json_t *body)
{
    struct app *app = http_app(ex);
    const struct auth_identity *identity = api_identity(ex);
    const char *agent = json_string_value(json_object_get(body, "agent_id"));
    const char *type = json_string_value(json_object_get(body, "database_type"));
    if ((json_object_get(body, "agent_id") && !id_is_uuid(agent)) ||
        (json_object_get(body, "database_type") && !type)) {
        http_reply_error(ex, 422, "invalid_field",
                         "`agent_id` must be a UUID and `database_type` a string");
        return NULL;
    }
    struct conn_filter filter = {.visibility = CONN_LIVE, .page = 1, .per_page = BATCH_MAX};
    filter.agent_id = identity && identity->agent_id[0] ? identity->agent_id : agent;
    filter.database_type = type;
    json_t *page = connections_list(app->registry, &filter);
    json_t *ids = json_array();
    size_t i;
    json_t *record;
    json_array_foreach(json_object_get(page, "connections"), i, record)
    {
        if (eligible(ex, record))
            json_array_append(ids, json_object_get(record, "id"));
    }
    json_decref(page);
    return ids;
}

static void handle_analyze_batch(struct http_exchange *ex)
{
    json_t *body, *ids;
    if (http_body_json(ex, &body) != 0)
        return;
    json_t *named = json_object_get(body, "connection_ids");
    ids = named ? named_ids(ex, named) : eligible_ids(ex, body);
    json_decref(body);
    if (!ids)
        return;
    json_t *payload = json_pack("{s:o}", "connection_ids", ids);
    api_reply_job(ex, "analyze_batch", NULL, payload, "batch analysis queued");
    json_decref(payload);
}

/* The version asked for (0 = latest); -1 after replying. */
static int requested_version(struct http_exchange *ex, const char *id)
{
    struct app *app = http_app(ex);
    int latest = snapshots_latest_version(app->registry, id);
    if (latest < 0) {
        http_reply_error(ex, 500, "internal", "cannot read snapshots");
        return -1;
    }
    if (latest == 0) {
        http_reply_error(ex, 409, "not_analyzed",
                         "connection %s has not been analysed yet: POST "
                         "/v1/database-connection/%s/analyze first",
                         id, id);
        return -1;
    }
    const char *text = http_query(ex, "version");
    if (!text)
        return latest;
    char *end;
    errno = 0;
    long version = strtol(text, &end, 10);
    if (errno || end == text || *end || version < 1) {
        http_reply_error(ex, 422, "invalid_query", "`version` must be a whole number from 1");
        return -1;
    }
    if (version > latest) {
        http_reply_error(ex, 404, "not_found",
                         "connection %s has no snapshot version %ld (latest: %d)", id, version,
                         latest);
        return -1;
    }
    return (int)version;
}

/* The version a route serves, checked; -1 after replying. */
static int served_version(struct http_exchange *ex)
{
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_LIVE) != 0)
        return -1;
    return requested_version(ex, id);
}

/*
 * Replies {"connection_id", "version", "<key>": <stored JSON>} without
 * parsing the stored text: a large schema's snapshot is served as it is.
 */
static void reply_stored(struct http_exchange *ex, enum snapshots_part part, const char *key)
{
    struct app *app = http_app(ex);
    int version = served_version(ex);
    if (version < 0)
        return;
    char *text = snapshots_get_text(app->registry, http_param(ex, "id"), version, part);
    char *body = NULL;
    if (!text) {
        http_reply_error(ex, 404, "not_found", "snapshot version %d not found", version);
        return;
    }
    /* The id is a checked UUID and the key a literal: nothing here needs escaping. */
    int len = asprintf(&body, "{\"connection_id\":\"%s\",\"version\":%d,\"%s\":%s}",
                       http_param(ex, "id"), version, key, text);
    free(text);
    if (len < 0) {
        http_reply_error(ex, 500, "internal", "out of memory");
        return;
    }
    http_reply_json_take(ex, 200, body, (size_t)len);
}

static void handle_snapshot(struct http_exchange *ex)
{
    reply_stored(ex, SNAPSHOT_SEMANTIC, "snapshot");
}

/* A diagram of a stored graph: parsing and rendering a large one is worker work. */
struct diagram {
    char connection_id[ID_UUID_LEN + 1];
    int version;
    int mermaid;
    char *text; /* the result, or NULL */
};

static void diagram_run(void *arg)
{
    struct diagram *d = arg;
    struct registry *registry = registry_thread();
    json_t *graph =
        registry ? snapshots_get(registry, d->connection_id, d->version, SNAPSHOT_GRAPH) : NULL;
    if (graph)
        d->text = d->mermaid ? graph_to_mermaid(graph) : graph_to_dot(graph);
    json_decref(graph);
}

static void diagram_done(struct http_exchange *ex, void *arg)
{
    struct diagram *d = arg;
    if (d->text)
        http_reply_text(ex, 200,
                        d->mermaid ? "text/vnd.mermaid; charset=utf-8"
                                   : "text/vnd.graphviz; charset=utf-8",
                        d->text);
    else
        http_reply_error(ex, 500, "internal", "cannot render the graph of version %d", d->version);
    free(d->text);
    free(d);
}

static void handle_graph(struct http_exchange *ex)
{
    const char *format = http_query(ex, "format");
    if (format && strcmp(format, "json") && strcmp(format, "mermaid") && strcmp(format, "dot")) {
        http_reply_error(ex, 422, "invalid_query", "`format` must be json, mermaid or dot");
        return;
    }
    if (!format || strcmp(format, "json") == 0) {
        reply_stored(ex, SNAPSHOT_GRAPH, "graph");
        return;
    }
    int version = served_version(ex);
    if (version < 0)
        return;
    struct diagram *d = calloc(1, sizeof(*d));
    if (!d) {
        http_reply_error(ex, 500, "internal", "out of memory");
        return;
    }
    snprintf(d->connection_id, sizeof(d->connection_id), "%s", http_param(ex, "id"));
    d->version = version;
    d->mermaid = strcmp(format, "mermaid") == 0;
    if (http_defer(ex, diagram_run, diagram_done, d) != 0)
        free(d);
}

static void handle_samples(struct http_exchange *ex)
{
    reply_stored(ex, SNAPSHOT_SAMPLES, "sample_queries");
}

int api_analysis_routes(struct router *router)
{
    static const struct api_route routes[] = {
        {ROUTER_POST, "/v1/database-connection/{id}/analyze", handle_analyze, SCOPE_WRITE},
        {ROUTER_POST, "/v1/database-connection/analyze", handle_analyze_batch, SCOPE_WRITE},
        {ROUTER_GET, "/v1/database-connection/{id}/semantic-snapshot", handle_snapshot, SCOPE_READ},
        {ROUTER_GET, "/v1/database-connection/{id}/knowledge-graph", handle_graph, SCOPE_READ},
        {ROUTER_GET, "/v1/database-connection/{id}/sample-queries", handle_samples, SCOPE_READ},
    };
    return api_routes_add(router, routes, sizeof(routes) / sizeof(routes[0]));
}
