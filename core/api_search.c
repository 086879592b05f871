/*
 * Database search: GET /v1/search/database?q=... and POST with {"query",
 * "connection_id", "agent_id", "limit"}. Synchronous (clients do not follow
 * a task here): the search runs on a worker and the reply comes back to the
 * loop thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_common.h"
#include "app.h"
#include "host.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "registry.h"
#include "router.h"
#include "search.h"

/* Connections whose newer snapshot a search brings into the index before it runs. */
#define SEARCH_SYNC_MAX 4

/* A request, copied out of the exchange for the worker. */
struct search_call {
    char query[SEARCH_QUERY_MAX + 1];
    char connection_id[ID_UUID_LEN + 1];
    char agent_id[ID_UUID_LEN + 1];
    int limit;
    /* Filled by the worker. */
    json_t *reply;
    int rc;
    double seconds;
};

static void run_search(void *arg)
{
    struct search_call *call = arg;
    struct registry *registry = registry_thread();
    int64_t started = host_now_ms();
    call->rc = SEARCH_ERROR;
    if (!registry)
        return;
    if (search_sync(registry, SEARCH_SYNC_MAX) < 0)
        log_warn("search: could not bring the index up to date; searching it as it is");
    struct search_request req = {call->query, call->connection_id[0] ? call->connection_id : NULL,
                                 call->agent_id[0] ? call->agent_id : NULL, call->limit};
    call->reply = search_run(registry, &req, &call->rc);
    call->seconds = (double)(host_now_ms() - started) / 1000.0;
}

static void search_done(struct http_exchange *ex, void *arg)
{
    struct search_call *call = arg;
    if (call->reply) {
        json_object_set_new(call->reply, "query", json_string(call->query));
        json_object_set_new(call->reply, "limit", json_integer(call->limit));
        json_object_set_new(call->reply, "execution_time", json_real(call->seconds));
        http_reply_json(ex, 200, call->reply);
    } else if (call->rc == SEARCH_NO_WORDS) {
        http_reply_error(ex, 422, "invalid_query", "the query has no words to search for");
    } else {
        http_reply_error(ex, 500, "internal", "the search failed; see the server log");
    }
    free(call);
}

/* The query text: present, not blank, bounded. 0, or -1 after replying 422. */
static int check_query(struct http_exchange *ex, const char *query, struct search_call *call)
{
    if (!query) {
        http_reply_error(ex, 422, "invalid_query", "a search needs a `query` (or `q`) string");
        return -1;
    }
    size_t len = strlen(query);
    if (len > SEARCH_QUERY_MAX) {
        http_reply_error(ex, 422, "invalid_query", "`query` is limited to %d bytes",
                         SEARCH_QUERY_MAX);
        return -1;
    }
    if (strspn(query, " \t\r\n") == len) {
        http_reply_error(ex, 422, "invalid_query", "`query` is empty");
        return -1;
    }
    memcpy(call->query, query, len + 1);
    return 0;
}

/* Scope: a connection (404/403 as everywhere), an agent. 0, or -1 after replying. */
static int check_scope(struct http_exchange *ex, const char *connection, const char *agent,
                       struct search_call *call)
{
    const struct auth_identity *identity = api_identity(ex);
    if (connection) {
        snprintf(call->connection_id, sizeof(call->connection_id), "%s", connection);
        id_uuid_lower(call->connection_id);
        if (api_check_connection(ex, id_is_uuid(connection) ? call->connection_id : connection,
                                 CONN_LIVE) != 0)
            return -1;
    }
    if (agent) {
        if (!id_is_uuid(agent)) {
            http_reply_error(ex, 422, "invalid_query", "`agent_id` must be a UUID");
            return -1;
        }
        snprintf(call->agent_id, sizeof(call->agent_id), "%s", agent);
        id_uuid_lower(call->agent_id);
        if (!api_agent_visible(ex, call->agent_id)) {
            http_reply_error(ex, 403, "forbidden", "agent %s is not the caller's", agent);
            return -1;
        }
    }
    /* A caller bound to an agent never sees another's, whatever it asked for. */
    if (identity && identity->agent_id[0])
        snprintf(call->agent_id, sizeof(call->agent_id), "%.36s", identity->agent_id);
    return 0;
}

static int limit_error(struct http_exchange *ex)
{
    http_reply_error(ex, 422, "invalid_query", "`limit` must be a whole number from 1 to %d",
                     SEARCH_LIMIT_MAX);
    return -1;
}

static int parse_limit_text(struct http_exchange *ex, const char *text, int *out)
{
    if (!text) {
        *out = SEARCH_LIMIT_DEFAULT;
        return 0;
    }
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < 1 || value > SEARCH_LIMIT_MAX)
        return limit_error(ex);
    *out = (int)value;
    return 0;
}

static void start(struct http_exchange *ex, struct search_call *call)
{
    if (http_defer(ex, run_search, search_done, call) != 0)
        free(call);
}

static void handle_get(struct http_exchange *ex)
{
    struct search_call *call = calloc(1, sizeof(*call));
    if (!call) {
        http_reply_error(ex, 500, "internal", "out of memory");
        return;
    }
    const char *query = http_query(ex, "q") ? http_query(ex, "q") : http_query(ex, "query");
    if (check_query(ex, query, call) != 0 ||
        parse_limit_text(ex, http_query(ex, "limit"), &call->limit) != 0 ||
        check_scope(ex, http_query(ex, "connection_id"), http_query(ex, "agent_id"), call) != 0) {
        free(call);
        return;
    }
    start(ex, call);
}

static int body_string(struct http_exchange *ex, json_t *body, const char *key, const char **out)
{
    json_t *value = json_object_get(body, key);
    *out = NULL;
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_string(value)) {
        http_reply_error(ex, 422, "invalid_field", "`%s` must be a string", key);
        return -1;
    }
    *out = json_string_value(value);
    return 0;
}

static void handle_post(struct http_exchange *ex)
{
    json_t *body;
    if (http_body_json(ex, &body) != 0)
        return;
    struct search_call *call = calloc(1, sizeof(*call));
    const char *query, *connection, *agent;
    json_t *limit = json_object_get(body, "limit");
    int ok = call && body_string(ex, body, "query", &query) == 0 &&
             body_string(ex, body, "connection_id", &connection) == 0 &&
             body_string(ex, body, "agent_id", &agent) == 0;
    if (!call)
        http_reply_error(ex, 500, "internal", "out of memory");
    if (ok && !query && body_string(ex, body, "q", &query) != 0)
        ok = 0;
    if (ok)
        ok = check_query(ex, query, call) == 0;
    if (ok && limit && !json_is_null(limit)) {
        if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
            json_integer_value(limit) > SEARCH_LIMIT_MAX)
            ok = limit_error(ex) == 0;
        else
            call->limit = (int)json_integer_value(limit);
    } else if (ok) {
        call->limit = SEARCH_LIMIT_DEFAULT;
    }
    if (ok)
        ok = check_scope(ex, connection, agent, call) == 0;
    json_decref(body);
    if (!ok) {
        free(call);
        return;
    }
    start(ex, call);
}

int api_search_routes(struct router *router)
{
    if (api_route_both(router, ROUTER_GET, "/v1/search/database", handle_get, SCOPE_READ) != 0 ||
        api_route_both(router, ROUTER_POST, "/v1/search/database", handle_post, SCOPE_READ) != 0)
        return -1;
    return 0;
}
