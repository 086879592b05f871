/* POST /v1/database-connection/<id>/text-to-sql: validate, gather, run on a worker, reply. */
#include <stdlib.h>
#include <string.h>

#include "api_common.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "router.h"
#include "snapshots.h"
#include "t2s.h"
#include "text2sql.h"

static int engine_parse(const char *name)
{
    if (strcmp(name, "builtin") == 0)
        return T2S_ENGINE_BUILTIN;
    if (strcmp(name, "llm") == 0)
        return T2S_ENGINE_LLM;
    if (strcmp(name, "auto") == 0)
        return T2S_ENGINE_AUTO;
    return -1;
}

/* The body's fields onto the request. 0, or -1 after replying 422. */
static int parse_body(struct http_exchange *ex, const json_t *body, struct text2sql_request *r)
{
    struct app *app = http_app(ex);
    long max = config_long(app->config, CFG_RESULT_LIMIT_MAX);
    const json_t *question = json_object_get(body, "question");
    const json_t *execute = json_object_get(body, "execute");
    const json_t *limit = json_object_get(body, "result_limit");
    const json_t *engine = json_object_get(body, "engine");
    const char *text = json_string_value(question);
    size_t len = text ? strspn(text, " \t\r\n") : 0;
    if (!text || text[len] == '\0' || json_string_length(question) > T2S_MAX_QUESTION) {
        http_reply_error(ex, 422, "invalid_field",
                         "`question` must be a string of 1 to %d characters", T2S_MAX_QUESTION);
        return -1;
    }
    if (execute && !json_is_null(execute) && !json_is_boolean(execute)) {
        http_reply_error(ex, 422, "invalid_field", "`execute` must be a boolean");
        return -1;
    }
    if (limit && !json_is_null(limit) &&
        (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
         json_integer_value(limit) > max)) {
        http_reply_error(ex, 422, "invalid_field",
                         "`result_limit` must be an integer from 1 to %ld", max);
        return -1;
    }
    r->engine = engine_parse(config_str(app->config, CFG_TEXT2SQL_ENGINE));
    if (engine && !json_is_null(engine) &&
        (!json_is_string(engine) || (r->engine = engine_parse(json_string_value(engine))) < 0)) {
        http_reply_error(ex, 422, "invalid_field", "`engine` must be builtin, llm or auto");
        return -1;
    }
    if (r->engine == T2S_ENGINE_LLM && !*config_str(app->config, CFG_LLM_URL)) {
        http_reply_error(ex, 422, "llm_not_configured",
                         "no LLM endpoint is configured (--llm-url and --llm-model)");
        return -1;
    }
    r->question = strdup(text);
    r->execute = json_is_true(execute);
    r->result_limit = json_is_integer(limit) ? (long)json_integer_value(limit) : 100;
    return r->question ? 0 : -1;
}

/*
 * The version to use and the clear connection; the snapshot itself (megabytes
 * on a large schema) is read and parsed on the worker. 0, or -1 after replying.
 */
static int gather(struct http_exchange *ex, const char *id, struct text2sql_request *r)
{
    struct app *app = http_app(ex);
    r->version = snapshots_latest_version(app->registry, id);
    if (r->version == 0) {
        http_reply_error(ex, 409, "not_analyzed",
                         "connection %s has not been analysed yet: POST "
                         "/v1/database-connection/%s/analyze first",
                         id, id);
        return -1;
    }
    if (r->version < 0 ||
        connections_load_state(app->registry, app->secrets, id, &r->state) != CONN_OK) {
        http_reply_error(ex, 500, "internal", "cannot read the connection's analysis");
        return -1;
    }
    return 0;
}

static void run(void *arg)
{
    text2sql_run(arg);
}

static void done(struct http_exchange *ex, void *arg)
{
    struct text2sql_request *r = arg;
    if (r->status == 200 && r->response) {
        http_reply_json(ex, 200, json_incref(r->response));
    } else {
        int status = r->status ? r->status : 500;
        http_reply_error(ex, status, r->code[0] ? r->code : "internal", "%s",
                         r->message[0] ? r->message : "text-to-SQL failed");
    }
    text2sql_request_free(r);
}

static void handle_text2sql(struct http_exchange *ex)
{
    const char *id = http_param(ex, "id");
    json_t *body;
    if (api_check_connection(ex, id, CONN_LIVE) != 0 || http_body_json(ex, &body) != 0)
        return;
    struct text2sql_request *r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(body);
        http_reply_error(ex, 500, "internal", "out of memory");
        return;
    }
    snprintf(r->connection_id, sizeof(r->connection_id), "%s", id);
    r->app = http_app(ex);
    int rc = body ? parse_body(ex, body, r) : -1;
    if (!body)
        http_reply_error(ex, 422, "invalid_field", "a JSON body with `question` is required");
    json_decref(body);
    if (rc != 0 || gather(ex, id, r) != 0) {
        text2sql_request_free(r);
        return;
    }
    if (http_defer(ex, run, done, r) != 0)
        text2sql_request_free(r);
}

int api_text2sql_routes(struct router *router)
{
    return api_route_both(router, ROUTER_POST, "/v1/database-connection/{id}/text-to-sql",
                          handle_text2sql, SCOPE_READ);
}
