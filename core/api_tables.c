/*
 * Captured table metadata: /v1/database-connection/<id>/table and
 * /v1/database-connection/table/<table_id>, with soft delete and restore.
 */
#include <string.h>

#include "api_common.h"
#include "app.h"
#include "http.h"
#include "ids.h"
#include "router.h"
#include "tables.h"

/* The SDK's list_tables cannot page: a generous default, with `total` to tell. */
#define TABLES_DEFAULT_PER_PAGE 500
#define TABLES_MAX_PER_PAGE 1000
#define DESCRIPTION_MAX 4000

static void reply_tables_error(struct http_exchange *ex, int rc, const char *id)
{
    if (rc == TABLES_NOT_FOUND)
        http_reply_error(ex, 404, "not_found", "table %s not found", id);
    else
        http_reply_error(ex, 500, "internal", "the registry failed; see the server log");
}

/*
 * Checks that table `id` exists and the caller may see its connection.
 * 0, or -1 after replying 404/403.
 */
static int check_table(struct http_exchange *ex, const char *id)
{
    struct app *app = http_app(ex);
    char connection_id[ID_UUID_LEN + 1];
    int rc =
        id_is_uuid(id) ? tables_connection(app->registry, id, connection_id) : TABLES_NOT_FOUND;
    if (rc != TABLES_OK) {
        reply_tables_error(ex, rc, id ? id : "");
        return -1;
    }
    char agent[40] = "";
    connections_agent(app->registry, connection_id, agent, sizeof(agent));
    if (!api_agent_visible(ex, agent[0] ? agent : NULL)) {
        http_reply_error(ex, 403, "forbidden", "table %s belongs to another agent's connection",
                         id);
        return -1;
    }
    return 0;
}

static void reply_table(struct http_exchange *ex, const char *id, enum conn_visibility vis)
{
    struct app *app = http_app(ex);
    int rc;
    json_t *table = tables_get(app->registry, id, vis, &rc);
    if (!table) {
        reply_tables_error(ex, rc, id);
        return;
    }
    http_reply_json(ex, 200, json_pack("{s:o}", "table", table));
}

static void list(struct http_exchange *ex, const char *connection_id, enum conn_visibility vis)
{
    struct app *app = http_app(ex);
    const struct auth_identity *identity = api_identity(ex);
    struct tables_filter filter = {.connection_id = connection_id, .visibility = vis};
    if (api_parse_page(ex, &filter.page, &filter.per_page, TABLES_DEFAULT_PER_PAGE,
                       TABLES_MAX_PER_PAGE) != 0)
        return;
    filter.schema = http_query(ex, "schema");
    filter.search = http_query(ex, "search") ? http_query(ex, "search") : http_query(ex, "name");
    if ((filter.schema && strlen(filter.schema) > 128) ||
        (filter.search && strlen(filter.search) > 200)) {
        http_reply_error(ex, 422, "invalid_query", "filter values are limited to 200 characters");
        return;
    }
    if (identity && identity->agent_id[0])
        filter.agent_id = identity->agent_id;
    json_t *page = tables_list(app->registry, &filter);
    if (!page) {
        http_reply_error(ex, 500, "internal", "cannot list tables");
        return;
    }
    if (connection_id)
        json_object_set_new(page, "connection_id", json_string(connection_id));
    http_reply_json(ex, 200, page);
}

static void handle_list(struct http_exchange *ex)
{
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_LIVE) == 0)
        list(ex, id, CONN_LIVE);
}

static void handle_list_deleted(struct http_exchange *ex)
{
    list(ex, NULL, CONN_DELETED);
}

static void handle_get(struct http_exchange *ex)
{
    const char *id = http_param(ex, "table_id");
    if (check_table(ex, id) == 0)
        reply_table(ex, id, CONN_LIVE);
}

static void handle_delete_all(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "id");
    if (api_check_connection(ex, id, CONN_LIVE) != 0)
        return;
    long count = 0;
    if (tables_soft_delete_all(app->registry, id, &count) != TABLES_OK) {
        http_reply_error(ex, 500, "internal", "cannot delete the tables");
        return;
    }
    http_reply_json(ex, 200,
                    json_pack("{s:s, s:I}", "connection_id", id, "deleted", (json_int_t)count));
}

static void handle_delete(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "table_id");
    if (check_table(ex, id) != 0)
        return;
    int rc = tables_soft_delete(app->registry, id);
    if (rc != TABLES_OK) {
        reply_tables_error(ex, rc, id);
        return;
    }
    reply_table(ex, id, CONN_DELETED);
}

static void handle_restore(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "table_id");
    if (check_table(ex, id) != 0)
        return;
    int rc = tables_restore(app->registry, id);
    if (rc != TABLES_OK) {
        reply_tables_error(ex, rc, id);
        return;
    }
    reply_table(ex, id, CONN_LIVE);
}

/* {"description": "...", "columns": {"Name": "..."}}: a person's words, kept across analyses. */
static int valid_description(const json_t *value)
{
    return json_is_string(value) && json_string_length(value) <= DESCRIPTION_MAX;
}

static void handle_describe(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "table_id");
    json_t *body;
    if (check_table(ex, id) != 0 || http_body_json(ex, &body) != 0)
        return;
    json_t *description = json_object_get(body, "description");
    json_t *columns = json_object_get(body, "columns");
    const char *key;
    json_t *value;
    int ok = body && (description || columns) && (!description || valid_description(description)) &&
             (!columns || json_is_object(columns));
    json_object_foreach(ok ? columns : NULL, key, value) ok = ok && valid_description(value);
    if (!ok) {
        json_decref(body);
        http_reply_error(ex, 422, "invalid_field",
                         "send `description` (a string of at most %d characters) and/or `columns` "
                         "(an object of column name to description)",
                         DESCRIPTION_MAX);
        return;
    }
    int rc = tables_describe(app->registry, id, json_string_value(description), columns);
    json_decref(body);
    if (rc == TABLES_NOT_FOUND) {
        http_reply_error(ex, 422, "invalid_field", "`columns` names a column the table lacks");
        return;
    }
    if (rc != TABLES_OK) {
        reply_tables_error(ex, rc, id);
        return;
    }
    reply_table(ex, id, CONN_LIVE);
}

int api_tables_routes(struct router *router)
{
    static const struct api_route routes[] = {
        {ROUTER_GET, "/v1/database-connection/{id}/table", handle_list, SCOPE_READ},
        {ROUTER_DELETE, "/v1/database-connection/{id}/table", handle_delete_all, SCOPE_WRITE},
        {ROUTER_GET, "/v1/database-connection/table/deleted", handle_list_deleted, SCOPE_READ},
        {ROUTER_GET, "/v1/database-connection/table/{table_id}", handle_get, SCOPE_READ},
        {ROUTER_PATCH, "/v1/database-connection/table/{table_id}", handle_describe, SCOPE_WRITE},
        {ROUTER_DELETE, "/v1/database-connection/table/{table_id}", handle_delete, SCOPE_WRITE},
        {ROUTER_PATCH, "/v1/database-connection/table/{table_id}/restore", handle_restore,
         SCOPE_WRITE},
    };
    return api_routes_add(router, routes, sizeof(routes) / sizeof(routes[0]));
}
