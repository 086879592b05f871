/* GET /v1/tasks/<id>/status: the task contract of DESIGN.md. */
#include "api_common.h"
#include "app.h"
#include "http.h"
#include "ids.h"
#include "jobs.h"
#include "router.h"

static void handle_task_status(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    const char *id = http_param(ex, "id");
    char agent[40];
    int rc = JOBS_NOT_FOUND;
    json_t *status =
        id_is_uuid(id) ? jobs_status(app->registry, id, agent, sizeof(agent), &rc) : NULL;
    if (!status) {
        if (rc == JOBS_NOT_FOUND)
            http_reply_error(ex, 404, "not_found", "task %s not found", id);
        else
            http_reply_error(ex, 500, "internal", "cannot read task %s", id);
        return;
    }
    if (!api_agent_visible(ex, agent[0] ? agent : NULL)) {
        json_decref(status);
        http_reply_error(ex, 403, "forbidden", "task %s belongs to another agent", id);
        return;
    }
    http_reply_json(ex, 200, status);
}

int api_tasks_routes(struct router *router)
{
    return api_route_both(router, ROUTER_GET, "/v1/tasks/{id}/status", handle_task_status,
                          SCOPE_READ);
}
