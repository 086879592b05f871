#include "app.h"

#include <string.h>

#include "analysis.h"
#include "config.h"
#include "export.h"
#include "jobrunner.h"
#include "log.h"
#include "router.h"

int app_routes(struct router *router, const struct config *config)
{
    int dataherald_auth = strcmp(config_str(config, CFG_DATAHERALD_AUTH), "off") != 0;
    if (!dataherald_auth)
        log_warn(
            "--dataherald-auth off: /api/database-connections and /api/v1/database-connections "
            "answer without credentials");
    if (api_system_routes(router) != 0 || api_connections_routes(router) != 0 ||
        api_tasks_routes(router) != 0 || api_tables_routes(router) != 0 ||
        api_analysis_routes(router) != 0 || api_text2sql_routes(router) != 0 ||
        api_dataherald_routes(router, dataherald_auth) != 0)
        return -1;
    if (api_documents_routes(router) != 0)
        return -1;
    if (api_search_routes(router) != 0)
        return -1;
    return 0;
}

int app_register_jobs(struct jobrunner *runner)
{
    if (jobrunner_register(runner, "analyze", analysis_job) != 0 ||
        jobrunner_register(runner, "analyze_batch", analysis_batch_job) != 0 ||
        jobrunner_register(runner, "export", export_job) != 0)
        return -1;
    return 0;
}
