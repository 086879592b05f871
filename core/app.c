#include "app.h"

#include "router.h"

int app_routes(struct router *router)
{
    return api_system_routes(router);
}
