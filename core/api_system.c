/* Health, readiness and the driver report. */
#include <jansson.h>

#include "app.h"
#include "http.h"
#include "loader.h"
#include "registry.h"
#include "router.h"
#include "workers.h"

static void handle_healthz(struct http_exchange *ex)
{
    http_reply_json(ex, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready when the registry answers, a driver is loaded and we are not stopping. */
static void handle_readyz(struct http_exchange *ex)
{
    struct app *app = http_app(ex);
    int registry_ok = registry_ping(app->registry) == 0;
    int drivers_ok = loader_count() > 0;
    int ready = registry_ok && drivers_ok && !app->shutting_down;
    http_reply_json(ex, ready ? 200 : 503,
                    json_pack("{s:s, s:{s:b, s:b, s:b}}", "status", ready ? "ready" : "not_ready",
                              "checks", "registry", registry_ok, "drivers", drivers_ok, "accepting",
                              !app->shutting_down));
}

static void handle_drivers(struct http_exchange *ex)
{
    http_reply_json(ex, 200, loader_report());
}

int api_system_routes(struct router *router)
{
    int rc = 0;
    rc |= router_add(router, ROUTER_GET, "/healthz",
                     (struct route_target){handle_healthz, SCOPE_NONE});
    rc |=
        router_add(router, ROUTER_GET, "/readyz", (struct route_target){handle_readyz, SCOPE_NONE});
    rc |= router_add(router, ROUTER_GET, "/v1/drivers",
                     (struct route_target){handle_drivers, SCOPE_READ});
    rc |= router_add(router, ROUTER_GET, "/api/v1/drivers",
                     (struct route_target){handle_drivers, SCOPE_READ});
    return rc ? -1 : 0;
}
