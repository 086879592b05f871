/* The authorisation step every routed request passes before its handler. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "auth.h"
#include "http.h"
#include "ids.h"

int api_authorize(struct http_exchange *ex, int scope)
{
    if (scope == SCOPE_NONE)
        return 0;
    struct app *app = http_app(ex);
    struct auth_identity *identity = calloc(1, sizeof(*identity));
    struct auth_result result;
    if (!identity) {
        http_reply_error(ex, 500, "internal", "out of memory");
        return -1;
    }
    if (auth_authenticate(app->registry, &app->jwt, http_header(ex, "X-API-Key"),
                          http_header(ex, "X-API-Secret"), http_header(ex, "Authorization"),
                          time(NULL), identity, &result) != 0) {
        free(identity);
        http_add_header(ex, "WWW-Authenticate", "Bearer");
        http_reply_error(ex, result.status ? result.status : 401,
                         result.code[0] ? result.code : "unauthorized", "%s", result.message);
        return -1;
    }
    if (!auth_allows(identity, scope)) {
        http_reply_error(ex, 403, "forbidden", "this route needs the %s scope",
                         auth_scope_name(scope));
        free(identity);
        return -1;
    }
    id_uuid_lower(identity->agent_id);
    http_set_context(ex, identity, free);
    return 0;
}

const struct auth_identity *api_identity(const struct http_exchange *ex)
{
    return http_context(ex);
}

int api_agent_visible(const struct http_exchange *ex, const char *agent_id)
{
    const struct auth_identity *identity = api_identity(ex);
    if (!identity || !identity->agent_id[0])
        return 1;
    return agent_id && strcasecmp(identity->agent_id, agent_id) == 0;
}
