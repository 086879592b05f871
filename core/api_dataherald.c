/*
 * The Dataherald-compatible API: /api/v1/database-connections (the open
 * engine's paths) and /api/database-connections (the hosted paths the
 * official SDK calls), over the same registry as the native API. Bare JSON
 * shapes, `alias`/`connection_uri` names, 400 for every client error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_common.h"
#include "app.h"
#include "conn_input.h"
#include "conn_write.h"
#include "dburl.h"
#include "http.h"
#include "loader.h"
#include "router.h"

#define DH_LIST_MAX 10000

/* Dataherald answered every client error with 400; its SDK re-sends 409s. */
static void reply_error(struct http_exchange *ex, int status, const char *code, const char *message)
{
    http_reply_error(ex, status == 422 || status == 409 ? 400 : status, code, "%s", message);
}

static json_t *masked_llm_key(const json_t *record)
{
    json_t *params = json_object_get(record, "connection_params");
    return json_object_get(params, "llm_api_key") ? json_string("***") : json_null();
}

/* A stored record in Dataherald's DatabaseConnectionResponse shape. */
static json_t *render(json_t *record)
{
    const struct quarry_driver *driver =
        loader_find(json_string_value(json_object_get(record, "database_type")));
    json_t *body = json_pack(
        "{s:O, s:O, s:O, s:s?, s:b, s:n, s:n, s:O, s:O, s:o, s:n, s:O}", "id",
        json_object_get(record, "id"), "alias", json_object_get(record, "name"), "connection_uri",
        json_object_get(record, "url"), "dialect", driver ? driver->dialect : NULL, "use_ssh", 0,
        "ssh_settings", "path_to_credentials_file", "schemas", json_object_get(record, "schemas"),
        "metadata", json_object_get(record, "metadata"), "llm_api_key", masked_llm_key(record),
        "file_storage", "created_at", json_object_get(record, "created_at"));
    json_decref(record);
    return body;
}

static void reply_done(struct http_exchange *ex, struct conn_write *w, json_t *record)
{
    http_reply_json(ex, w->purpose == CONN_WRITE_CREATE ? 201 : 200, render(record));
}

static const struct conn_write_ops dataherald_ops = {reply_error, reply_done};

/* ------------------------------------------------------------------------ */
/* Request bodies                                                           */
/* ------------------------------------------------------------------------ */

static int bad(struct http_exchange *ex, const char *code, const char *message)
{
    http_reply_error(ex, 400, code, "%s", message);
    return -1;
}

static int is_null_or_absent(const json_t *value)
{
    return !value || json_is_null(value);
}

/* ssh_settings: null, or an object whose members are all null. */
static int ssh_requested(const json_t *use_ssh, const json_t *settings)
{
    if (json_is_true(use_ssh))
        return 1;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)settings, key, value)
    {
        if (!json_is_null(value))
            return 1;
    }
    return 0;
}

/*
 * Checks Dataherald's optional fields: what Quarry cannot honour is refused
 * with a reason, never dropped. 0, or -1 after replying 400.
 */
static int check_unsupported(struct http_exchange *ex, const json_t *body)
{
    const json_t *use_ssh = json_object_get(body, "use_ssh");
    const json_t *ssh = json_object_get(body, "ssh_settings");
    if (!is_null_or_absent(use_ssh) && !json_is_boolean(use_ssh))
        return bad(ex, "invalid_field", "`use_ssh` must be a boolean");
    if (!is_null_or_absent(ssh) && !json_is_object(ssh))
        return bad(ex, "invalid_field", "`ssh_settings` must be an object");
    if (ssh_requested(use_ssh, ssh))
        return bad(ex, "ssh_not_supported",
                   "SSH tunnels are not supported; connect to a host Quarry can reach directly");
    if (!is_null_or_absent(json_object_get(body, "path_to_credentials_file")))
        return bad(ex, "unsupported_field",
                   "`path_to_credentials_file` is not supported (credential files such as "
                   "BigQuery's are not served); for sqlite use `sqlite_file_path`");
    if (!is_null_or_absent(json_object_get(body, "bigquery_credential_file_content")))
        return bad(ex, "unsupported_database_type", "BigQuery is not supported");
    if (!is_null_or_absent(json_object_get(body, "file_storage")))
        return bad(ex, "unsupported_field", "`file_storage` (S3 buckets) is not supported");
    const json_t *llm_key = json_object_get(body, "llm_api_key");
    if (!is_null_or_absent(llm_key) && !json_is_string(llm_key))
        return bad(ex, "invalid_field", "`llm_api_key` must be a string");
    return 0;
}

/* The URL to store: `sqlite_file_path` names the file of a sqlite URI. */
static int resolve_url(struct http_exchange *ex, const json_t *body, const char *uri,
                       const char **url)
{
    const json_t *file = json_object_get(body, "sqlite_file_path");
    *url = uri;
    if (is_null_or_absent(file))
        return 0;
    if (!json_is_string(file) || json_string_value(file)[0] != '/')
        return bad(ex, "invalid_field", "`sqlite_file_path` must be an absolute path");
    if (strncmp(uri, "sqlite:", 7) != 0)
        return bad(ex, "invalid_field", "`sqlite_file_path` goes with a sqlite:// connection_uri");
    *url = json_string_value(file);
    return 0;
}

/* The driver that serves a URI's scheme, SQLAlchemy forms included. */
static const char *type_of_uri(const char *url)
{
    if (url[0] == '/')
        return "sqlite";
    struct dburl parsed;
    char err[256];
    if (dburl_parse(url, &parsed, err, sizeof(err)) != 0)
        return NULL;
    const struct quarry_driver *driver = loader_find_by_scheme(parsed.base_scheme);
    dburl_free(&parsed);
    return driver ? driver->name : NULL;
}

/*
 * Translates a Dataherald body into the native field names. Returns a new
 * object, or NULL after replying 400.
 */
static json_t *translate(struct http_exchange *ex, const json_t *body)
{
    if (!json_is_object(body)) {
        bad(ex, "invalid_body", "a JSON object with `alias` and `connection_uri` is required");
        return NULL;
    }
    const json_t *alias = json_object_get(body, "alias");
    const json_t *uri = json_object_get(body, "connection_uri");
    const json_t *schemas = json_object_get(body, "schemas");
    const json_t *metadata = json_object_get(body, "metadata");
    const char *url = NULL, *type = NULL;
    if (!json_is_string(alias)) {
        bad(ex, "missing_field", "`alias` is required and must be a string");
        return NULL;
    }
    if (!json_is_string(uri)) {
        bad(ex, "missing_field", "`connection_uri` is required and must be a string");
        return NULL;
    }
    if (!is_null_or_absent(metadata) && !json_is_object(metadata)) {
        bad(ex, "invalid_field", "`metadata` must be an object");
        return NULL;
    }
    if (check_unsupported(ex, body) != 0 ||
        resolve_url(ex, body, json_string_value(uri), &url) != 0)
        return NULL;
    if (!(type = type_of_uri(url))) {
        bad(ex, "invalid_database_uri_format",
            "`connection_uri` must be a URI whose scheme a loaded driver serves (postgresql://, "
            "mysql://, sqlite:///, mongodb://, with SQLAlchemy +driver forms)");
        return NULL;
    }
    /* A full replacement: what is omitted becomes null. */
    return json_pack("{s:O, s:s, s:s, s:O, s:O}", "name", alias, "url", url, "database_type", type,
                     "schemas", schemas ? schemas : json_null(), "metadata",
                     metadata ? metadata : json_null());
}

/* Applies a translated body and the llm_api_key. 0, or -1 after replying (and freeing). */
static int apply(struct http_exchange *ex, struct conn_write *w, const json_t *body, json_t *native)
{
    struct input_error err;
    const json_t *llm_key = json_object_get(body, "llm_api_key");
    json_t *params =
        json_pack("{s:{s:O}}", "connection_params", "llm_api_key", llm_key ? llm_key : json_null());
    int rc = conn_input_apply(&w->state, native, CONN_APPLY_REPLACE, w->changed, &err);
    if (rc == 0)
        rc = conn_input_apply(&w->state, params, CONN_APPLY_MERGE, w->changed, &err);
    json_decref(params);
    if (rc != 0)
        conn_write_fail(ex, w, err.status, err.code, "%s", err.message);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Handlers                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The SDK re-sends a POST whose answer it missed: the same alias with the
 * same URI and metadata is the connection already made, not a new one.
 * Returns 1 after replying with it, 0 when there is none such.
 */
static int replay_of_existing(struct http_exchange *ex, const struct conn_write *w)
{
    struct app *app = http_app(ex);
    char id[ID_UUID_LEN + 1];
    if (connections_find_by_name(app->registry, w->state.agent_id, w->state.name, id) != CONN_OK)
        return 0;
    struct conn_state stored;
    if (connections_load_state(app->registry, app->secrets, id, &stored) != CONN_OK)
        return 0;
    int same = strcmp(stored.url, w->state.url) == 0 &&
               json_equal(stored.metadata ? stored.metadata : json_null(),
                          w->state.metadata ? w->state.metadata : json_null());
    conn_state_clear(&stored);
    int rc;
    json_t *record = same ? connections_get(app->registry, id, CONN_LIVE, &rc) : NULL;
    if (!record)
        return 0;
    http_reply_json(ex, 201, render(record));
    return 1;
}

static void handle_create(struct http_exchange *ex)
{
    json_t *body, *native;
    if (http_body_json_any(ex, &body) != 0)
        return;
    native = translate(ex, body);
    struct conn_write *w = native ? conn_write_new(CONN_WRITE_CREATE, &dataherald_ops) : NULL;
    if (native && !w)
        http_reply_error(ex, 500, "internal", "out of memory");
    if (w && apply(ex, w, body, native) == 0 && conn_write_settle_agent(ex, w, 0) == 0) {
        if (replay_of_existing(ex, w))
            conn_write_free(w);
        else if (conn_write_validate(ex, w) == 0)
            conn_write_commit(ex, w);
    }
    json_decref(native);
    json_decref(body);
}

static void handle_update(struct http_exchange *ex)
{
    json_t *body, *native;
    if (http_body_json_any(ex, &body) != 0)
        return;
    native = translate(ex, body);
    struct conn_write *w =
        native ? conn_write_load(ex, http_param(ex, "id"), CONN_WRITE_UPDATE, &dataherald_ops)
               : NULL;
    if (w && apply(ex, w, body, native) == 0 && conn_write_settle_agent(ex, w, 0) == 0 &&
        conn_write_validate(ex, w) == 0)
        conn_write_commit(ex, w);
    json_decref(native);
    json_decref(body);
}

static void handle_get(struct http_exchange *ex)
{
    json_t *record = api_connection_record(ex, http_param(ex, "id"), CONN_LIVE);
    if (record)
        http_reply_json(ex, 200, render(record));
}

static void handle_list(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const struct auth_identity *identity = api_identity(ex);
    struct conn_filter filter = {.visibility = CONN_LIVE, .page = 1, .per_page = DH_LIST_MAX};
    if (identity && identity->agent_id[0])
        filter.agent_id = identity->agent_id;
    json_t *page = connections_list(app->registry, &filter);
    json_t *items = json_array();
    size_t i;
    json_t *record;
    json_array_foreach(json_object_get(page, "connections"), i, record)
        json_array_append_new(items, render(json_incref(record)));
    json_decref(page);
    http_reply_json(ex, 200, items);
}

static void handle_drivers(struct http_exchange *ex)
{
    json_t *items = json_array();
    for (size_t i = 0; i < loader_count(); i++) {
        const struct quarry_driver *d = loader_at(i);
        json_array_append_new(items,
                              json_pack("{s:s, s:s?}", "driver", d->name, "name", d->description));
    }
    http_reply_json(ex, 200, items);
}

int api_dataherald_routes(struct router *router, int require_auth)
{
    static const char *const bases[] = {"/api/v1/database-connections",
                                        "/api/database-connections"};
    int read = require_auth ? SCOPE_READ : SCOPE_NONE;
    int write = require_auth ? SCOPE_WRITE : SCOPE_NONE;
    int rc = 0;
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        char item[128], drivers[128];
        snprintf(item, sizeof(item), "%s/{id}", bases[i]);
        snprintf(drivers, sizeof(drivers), "%s/drivers", bases[i]);
        rc |=
            router_add(router, ROUTER_POST, bases[i], (struct route_target){handle_create, write});
        rc |= router_add(router, ROUTER_GET, bases[i], (struct route_target){handle_list, read});
        rc |= router_add(router, ROUTER_GET, item, (struct route_target){handle_get, read});
        rc |= router_add(router, ROUTER_PUT, item, (struct route_target){handle_update, write});
        rc |= router_add(router, ROUTER_GET, drivers, (struct route_target){handle_drivers, read});
    }
    return rc ? -1 : 0;
}
