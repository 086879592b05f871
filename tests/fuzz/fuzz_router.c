/* libFuzzer target: request paths through the router (client input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

static void handler(struct http_exchange *ex)
{
    (void)ex;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct router *router;
    if (!router) {
        router = router_new();
        router_add(router, ROUTER_GET, "/v1/database-connection/{id}",
                   (struct route_target){handler, 0});
        router_add(router, ROUTER_GET, "/v1/database-connection/deleted",
                   (struct route_target){handler, 0});
        router_add(router, ROUTER_DELETE, "/v1/database-connection/{id}/table",
                   (struct route_target){handler, 0});
        router_add(router, ROUTER_GET, "/v1/database-connection/table/{table_id}",
                   (struct route_target){handler, 0});
    }
    char *path = malloc(size + 1);
    if (!path)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    struct router_match match;
    router_match(router, ROUTER_GET, path, &match);
    router_match_clear(&match);
    free(path);
    return 0;
}
