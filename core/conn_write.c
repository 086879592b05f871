#include "conn_write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_common.h"
#include "app.h"
#include "config.h"
#include "conn_input.h"
#include "http.h"
#include "loader.h"

struct conn_write *conn_write_new(enum conn_write_purpose purpose, const struct conn_write_ops *ops)
{
    struct conn_write *w = calloc(1, sizeof(*w));
    if (w) {
        w->purpose = purpose;
        w->ops = ops;
        w->changed = json_array();
    }
    return w;
}

void conn_write_free(struct conn_write *w)
{
    if (!w)
        return;
    conn_state_clear(&w->state);
    json_decref(w->changed);
    free(w);
}

void conn_write_fail(struct http_exchange *ex, struct conn_write *w, int status, const char *code,
                     const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    w->ops->reply_error(ex, status, code, message);
    conn_write_free(w);
}

const char *conn_write_initiator(const struct http_exchange *ex)
{
    const struct auth_identity *identity = api_identity(ex);
    return identity && identity->subject[0] ? identity->subject : NULL;
}

struct conn_write *conn_write_load(struct http_exchange *ex, const char *id,
                                   enum conn_write_purpose purpose,
                                   const struct conn_write_ops *ops)
{
    struct app *app = http_app(ex);
    if (api_check_connection(ex, id, CONN_LIVE) != 0)
        return NULL;
    struct conn_write *w = conn_write_new(purpose, ops);
    if (!w) {
        http_reply_error(ex, 500, "internal", "out of memory");
        return NULL;
    }
    snprintf(w->id, sizeof(w->id), "%s", id);
    int rc = connections_load_state(app->registry, app->secrets, id, &w->state);
    if (rc != CONN_OK) {
        api_reply_conn_error(ex, rc, id);
        conn_write_free(w);
        return NULL;
    }
    return w;
}

int conn_write_settle_agent(struct http_exchange *ex, struct conn_write *w, int required)
{
    const struct auth_identity *identity = api_identity(ex);
    struct conn_state *state = &w->state;
    if (identity && identity->agent_id[0]) {
        if (!state->agent_id)
            state->agent_id = strdup(identity->agent_id);
        if (!state->agent_id || strcasecmp(state->agent_id, identity->agent_id) != 0) {
            conn_write_fail(ex, w, 403, "forbidden", "this credential may only use agent %s",
                            identity->agent_id);
            return -1;
        }
    } else if (required && !state->agent_id) {
        conn_write_fail(ex, w, 422, "missing_field", "`agent_id` is required");
        return -1;
    }
    return 0;
}

int conn_write_validate(struct http_exchange *ex, struct conn_write *w)
{
    struct app *app = http_app(ex);
    struct input_error err;
    w->driver = conn_input_validate(&w->state, app->guard, &err);
    if (!w->driver) {
        conn_write_fail(ex, w, err.status, err.code, "%s", err.message);
        return -1;
    }
    if (connections_name_taken(app->registry, w->state.agent_id, w->state.name,
                               w->id[0] ? w->id : NULL)) {
        conn_write_fail(ex, w, 409, "conflict",
                        "a connection named `%s` already exists for this agent", w->state.name);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Storing                                                                  */
/* ------------------------------------------------------------------------ */

static int store(struct app *app, struct conn_write *w)
{
    const struct conn_test *test = w->outcome.test.tested ? &w->outcome.test : NULL;
    switch (w->purpose) {
    case CONN_WRITE_CREATE:
        return connections_insert(app->registry, app->secrets, &w->state, test, w->id);
    case CONN_WRITE_UPDATE:
        return connections_update(app->registry, app->secrets, w->id, &w->state, test);
    default:
        return connections_record_test(app->registry, w->id, test);
    }
}

/* On the loop thread: store what the probe (if any) found, and reply. */
static void finish(struct http_exchange *ex, struct conn_write *w)
{
    struct app *app = http_app(ex);
    if (w->outcome.refused) {
        conn_write_fail(ex, w, 422, "target_denied", "%s", w->outcome.why);
        return;
    }
    int rc = store(app, w);
    if (rc == CONN_CONFLICT) {
        conn_write_fail(ex, w, 409, "conflict",
                        "a connection named `%s` already exists for this agent", w->state.name);
        return;
    }
    enum conn_visibility vis = w->purpose == CONN_WRITE_TEST ? CONN_ANY : CONN_LIVE;
    json_t *record = rc == CONN_OK ? connections_get(app->registry, w->id, vis, &rc) : NULL;
    if (!record) {
        api_reply_conn_error(ex, rc, w->id);
        conn_write_free(w);
        return;
    }
    w->ops->reply_done(ex, w, record);
    conn_write_free(w);
}

static void probe_run(void *arg)
{
    struct conn_write *w = arg;
    /* Only the worker touches `w` until probe_done runs on the loop thread. */
    /* A registered connection's test goes through its pool, which drops what fails. */
    if (w->purpose == CONN_WRITE_TEST)
        probe_target_pooled(w->probe_pools, w->id, w->driver, w->probe_guard, w->state.url,
                            w->state.params, w->probe_timeout_ms, &w->outcome);
    else
        probe_target(w->driver, w->probe_guard, w->state.url, w->state.params, w->probe_timeout_ms,
                     &w->outcome);
}

static void probe_done(struct http_exchange *ex, void *arg)
{
    finish(ex, arg);
}

static int target_changed(const json_t *changed)
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

void conn_write_commit(struct http_exchange *ex, struct conn_write *w)
{
    struct app *app = http_app(ex);
    if (w->purpose == CONN_WRITE_UPDATE && !target_changed(w->changed)) {
        finish(ex, w);
        return;
    }
    if (!w->driver)
        w->driver = loader_find(w->state.database_type);
    if (!w->driver) {
        conn_write_fail(ex, w, 422, "unsupported_database_type",
                        "no loaded driver serves database_type `%s`", w->state.database_type);
        return;
    }
    w->probe_guard = app->guard;
    w->probe_pools = app->pools;
    w->probe_timeout_ms = (int)config_long(app->config, CFG_CONNECT_TIMEOUT);
    if (http_defer(ex, probe_run, probe_done, w) != 0)
        conn_write_free(w);
}
