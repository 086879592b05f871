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
#include "conn_input.h"
#include "conn_write.h"
#include "connections.h"
#include "http.h"
#include "ids.h"
#include "router.h"

static void reply_error(struct http_exchange *ex, int status, const char *code, const char *message)
{
    http_reply_error(ex, status, code, "%s", message);
}

static void reply_done(struct http_exchange *ex, struct conn_write *w, json_t *record)
{
    const struct conn_test *t = &w->outcome.test;
    switch (w->purpose) {
    case CONN_WRITE_CREATE:
        http_reply_json(ex, 201,
                        json_pack("{s:o, s:s, s:b}", "connection", record, "test_result",
                                  t->message, "is_active", t->ok));
        break;
    case CONN_WRITE_UPDATE:
        http_reply_json(ex, 200,
                        json_pack("{s:o, s:O, s:s?}", "connection", record, "updated_fields",
                                  w->changed, "initiated_by", conn_write_initiator(ex)));
        break;
    case CONN_WRITE_TEST:
        http_reply_json(ex, 200,
                        json_pack("{s:s, s:s, s:f, s:s?, s:s, s:o}", "status",
                                  t->ok ? "success" : "failed", "message", t->message, "latency_ms",
                                  t->latency_ms, "server_version",
                                  t->server_version[0] ? t->server_version : NULL, "tested_at",
                                  t->tested_at, "connection", record));
        break;
    }
}

static const struct conn_write_ops native_ops = {reply_error, reply_done};

static void handle_create(struct http_exchange *ex)
{
    json_t *body;
    if (http_body_json(ex, &body) != 0)
        return;
    struct conn_write *w = conn_write_new(CONN_WRITE_CREATE, &native_ops);
    struct input_error err;
    if (!w) {
        json_decref(body);
        http_reply_error(ex, 500, "internal", "out of memory");
        return;
    }
    int rc = conn_input_apply(&w->state, body, CONN_APPLY_CREATE, NULL, &err);
    json_decref(body);
    if (rc != 0) {
        conn_write_fail(ex, w, err.status, err.code, "%s", err.message);
        return;
    }
    if (conn_write_settle_agent(ex, w, 1) == 0 && conn_write_validate(ex, w) == 0)
        conn_write_commit(ex, w);
}

static void update(struct http_exchange *ex, enum conn_apply_mode mode)
{
    json_t *body;
    if (http_body_json(ex, &body) != 0)
        return;
    struct conn_write *w =
        conn_write_load(ex, http_param(ex, "id"), CONN_WRITE_UPDATE, &native_ops);
    struct input_error err;
    int rc = w ? conn_input_apply(&w->state, body, mode, w->changed, &err) : -1;
    json_decref(body);
    if (!w)
        return;
    if (rc != 0) {
        conn_write_fail(ex, w, err.status, err.code, "%s", err.message);
        return;
    }
    if (conn_write_settle_agent(ex, w, 0) == 0 && conn_write_validate(ex, w) == 0)
        conn_write_commit(ex, w);
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
    struct conn_write *w = conn_write_load(ex, http_param(ex, "id"), CONN_WRITE_TEST, &native_ops);
    if (w)
        conn_write_commit(ex, w);
}

/* ------------------------------------------------------------------------ */
/* Reads, delete, restore                                                   */
/* ------------------------------------------------------------------------ */

static void handle_get(struct http_exchange *ex)
{
    json_t *record = api_connection_record(ex, http_param(ex, "id"), CONN_LIVE);
    if (record)
        http_reply_json(ex, 200, json_pack("{s:o}", "connection", record));
}

static void list(struct http_exchange *ex, enum conn_visibility vis, const char *agent_id)
{
    struct app *app = http_app(ex);
    struct conn_filter filter = {.visibility = vis};
    if (api_parse_page(ex, &filter.page, &filter.per_page, 20, 100) != 0 ||
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
    api_evict_pooled(ex, id);
    http_reply_json(ex, 200,
                    json_pack("{s:s, s:I, s:s?}", "connection_id", id, "deleted_tables_count",
                              (json_int_t)tables, "initiated_by", conn_write_initiator(ex)));
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
    static const struct api_route routes[] = {
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
    return api_routes_add(router, routes, sizeof(routes) / sizeof(routes[0]));
}
