#include "app.h"

#include "router.h"

int app_routes(struct router *router)
{
    if (api_system_routes(router) != 0 || api_connections_routes(router) != 0 ||
        api_tasks_routes(router) != 0)
        return -1;
    return 0;
}
