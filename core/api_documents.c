/*
 * Exporting tables as documents, and the documents themselves:
 * POST /v1/database-connection/export (a task), GET /v1/documents,
 * GET and DELETE /v1/documents/<id>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_common.h"
#include "app.h"
#include "documents.h"
#include "export.h"
#include "http.h"
#include "ids.h"
#include "registry.h"
#include "router.h"

#define DOCUMENTS_DEFAULT_PER_PAGE 50
#define DOCUMENTS_MAX_PER_PAGE 200

static void handle_export(struct http_exchange *ex)
{
    json_t *body;
    if (http_body_json(ex, &body) != 0)
        return;
    char id[ID_UUID_LEN + 1] = "", why[256];
    const char *given = json_string_value(json_object_get(body, "connection_id"));
    if (!given) {
        json_decref(body);
        http_reply_error(ex, 422, "invalid_field",
                         "send {\"connection_id\": \"<uuid>\"}, optionally with \"tables\", "
                         "\"rows_per_document\" and \"format\"");
        return;
    }
    if (id_is_uuid(given)) {
        snprintf(id, sizeof(id), "%s", given);
        id_uuid_lower(id);
    }
    if (api_check_connection(ex, id[0] ? id : given, CONN_LIVE) != 0) {
        json_decref(body);
        return;
    }
    json_t *payload = export_payload(body, why, sizeof(why));
    json_decref(body);
    if (!payload) {
        http_reply_error(ex, 422, "invalid_field", "%s", why);
        return;
    }
    api_reply_job(ex, "export", id, payload, "export queued");
    json_decref(payload);
}

static void handle_list(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const struct auth_identity *identity = api_identity(ex);
    struct documents_filter filter = {0};
    char id[ID_UUID_LEN + 1];
    if (api_parse_page(ex, &filter.page, &filter.per_page, DOCUMENTS_DEFAULT_PER_PAGE,
                       DOCUMENTS_MAX_PER_PAGE) != 0)
        return;
    const char *connection = http_query(ex, "connection_id");
    if (connection) {
        snprintf(id, sizeof(id), "%s", connection);
        id_uuid_lower(id);
        if (api_check_connection(ex, id_is_uuid(connection) ? id : connection, CONN_LIVE) != 0)
            return;
        filter.connection_id = id;
    }
    filter.table = http_query(ex, "table");
    filter.kind = http_query(ex, "kind");
    if (filter.table && (strlen(filter.table) == 0 || strlen(filter.table) > EXPORT_NAME_MAX)) {
        http_reply_error(ex, 422, "invalid_query", "`table` must be 1 to %d characters",
                         EXPORT_NAME_MAX);
        return;
    }
    if (filter.kind && strcmp(filter.kind, "overview") != 0 && strcmp(filter.kind, "rows") != 0) {
        http_reply_error(ex, 422, "invalid_query", "`kind` must be overview or rows");
        return;
    }
    if (identity && identity->agent_id[0])
        filter.agent_id = identity->agent_id;
    json_t *page = documents_list(app->registry, &filter);
    if (!page) {
        http_reply_error(ex, 500, "internal", "cannot list documents");
        return;
    }
    http_reply_json(ex, 200, page);
}

/*
 * Checks that document `id` is live and the caller may see its connection.
 * 0, or -1 after replying 404/403.
 */
static int check_document(struct http_exchange *ex, const char *id)
{
    struct app *app = http_app(ex);
    char connection[ID_UUID_LEN + 1];
    int rc = id_is_uuid(id) ? documents_connection(app->registry, id, connection) : DOCS_NOT_FOUND;
    if (rc != DOCS_OK) {
        if (rc == DOCS_NOT_FOUND)
            http_reply_error(ex, 404, "not_found", "document %s not found", id ? id : "");
        else
            http_reply_error(ex, 500, "internal", "the registry failed; see the server log");
        return -1;
    }
    char agent[40] = "";
    connections_agent(app->registry, connection, agent, sizeof(agent));
    if (!api_agent_visible(ex, agent[0] ? agent : NULL)) {
        http_reply_error(ex, 403, "forbidden", "document %s belongs to another agent's connection",
                         id);
        return -1;
    }
    return 0;
}

/* A document read and encoded on a worker: its content may be megabytes. */
struct document_read {
    char id[ID_UUID_LEN + 1];
    int rc;
    char *text; /* the reply, encoded; malloc'd */
    size_t len;
};

static void document_read_run(void *arg)
{
    struct document_read *r = arg;
    struct registry *registry = registry_thread();
    r->rc = DOCS_ERROR;
    json_t *doc = registry ? documents_get(registry, r->id, &r->rc) : NULL;
    json_t *reply = doc ? json_pack("{s:o}", "document", doc) : NULL;
    r->text = reply ? json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    r->len = r->text ? strlen(r->text) : 0;
    json_decref(reply);
}

static void document_read_done(struct http_exchange *ex, void *arg)
{
    struct document_read *r = arg;
    if (r->text)
        http_reply_json_take(ex, 200, r->text, r->len);
    else if (r->rc == DOCS_NOT_FOUND) /* deleted between the check and the read */
        http_reply_error(ex, 404, "not_found", "document %s not found", r->id);
    else
        http_reply_error(ex, 500, "internal", "cannot read the document");
    free(r);
}

static void handle_get(struct http_exchange *ex)
{
    struct document_read *r = calloc(1, sizeof(*r));
    if (!r) {
        http_reply_error(ex, 500, "internal", "out of memory");
        return;
    }
    snprintf(r->id, sizeof(r->id), "%s", http_param(ex, "id") ? http_param(ex, "id") : "");
    id_uuid_lower(r->id);
    if (check_document(ex, r->id) != 0 ||
        http_defer(ex, document_read_run, document_read_done, r) != 0)
        free(r);
}

static void handle_delete(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    char id[ID_UUID_LEN + 1];
    snprintf(id, sizeof(id), "%s", http_param(ex, "id") ? http_param(ex, "id") : "");
    id_uuid_lower(id);
    if (check_document(ex, id) != 0)
        return;
    int rc = documents_delete(app->registry, id);
    if (rc == DOCS_NOT_FOUND) {
        http_reply_error(ex, 404, "not_found", "document %s not found", id);
        return;
    }
    if (rc != DOCS_OK) {
        http_reply_error(ex, 500, "internal", "cannot delete the document");
        return;
    }
    http_reply_json(ex, 200, json_pack("{s:s, s:b}", "document_id", id, "deleted", 1));
}

int api_documents_routes(struct router *router)
{
    static const struct {
        int method;
        const char *path;
        void (*handler)(struct http_exchange *);
        int scope;
    } routes[] = {
        {ROUTER_POST, "/v1/database-connection/export", handle_export, SCOPE_WRITE},
        {ROUTER_GET, "/v1/documents", handle_list, SCOPE_READ},
        {ROUTER_GET, "/v1/documents/{id}", handle_get, SCOPE_READ},
        {ROUTER_DELETE, "/v1/documents/{id}", handle_delete, SCOPE_WRITE},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (api_route_both(router, routes[i].method, routes[i].path, routes[i].handler,
                           routes[i].scope) != 0)
            return -1;
    return 0;
}
