/*
 * Configuration: each option is a flag `--name VALUE` (or `--name=VALUE`), an
 * environment variable QUARRY_NAME, and a line `name = value` in an optional
 * config file (`--config FILE` / QUARRY_CONFIG). Flags win over the
 * environment, which wins over the file, which wins over defaults.
 */
#ifndef QUARRY_CONFIG_H
#define QUARRY_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum config_key {
    CFG_CONFIG,
    CFG_LISTEN,
    CFG_REGISTRY,
    CFG_PLUGIN_DIR,
    CFG_DRIVERS,
    CFG_LOG_LEVEL,
    CFG_WORKERS,
    CFG_MAX_BODY,
    CFG_PORT_FILE,
    CFG_SHUTDOWN_GRACE,
    CFG_CONNECT_TIMEOUT,
    CFG_SECRET_KEY,
    CFG_SECRET_KEY_FILE,
    CFG_SQLITE_DIRS,
    CFG_ALLOW_HOSTS,
    CFG_DENY_HOSTS,
    CFG_JWT_SECRET,
    CFG_JWT_PUBLIC_KEY,
    CFG_JWT_ISSUER,
    CFG_JWT_AUDIENCE,
    CFG_JWT_LEEWAY,
    CFG_DATAHERALD_AUTH,
    CFG_STATEMENT_TIMEOUT,
    CFG_RESULT_LIMIT_MAX,
    CFG_TEXT2SQL_ENGINE,
    CFG_AUTO_CONFIDENCE,
    CFG_LLM_URL,
    CFG_LLM_MODEL,
    CFG_LLM_API_KEY,
    CFG_LLM_TIMEOUT,
    CFG__COUNT
};

#define CONFIG_MAX_ARGS 16
#define CONFIG_MAX_DRIVERS 32

struct config {
    char *values[CFG__COUNT]; /* owned; every key has a value after config_load */
    char listen_host[256];
    int listen_port;
    const char *drivers[CONFIG_MAX_DRIVERS]; /* split CFG_DRIVERS, pointing into `driver_names` */
    size_t ndrivers;
    char *driver_names;
    int argc; /* positional arguments, borrowed from argv */
    char *args[CONFIG_MAX_ARGS];
};

/*
 * Fills `cfg` from defaults, the config file, the environment and argv (from
 * argv[0] on; argv[0] is not skipped). Returns 0, 1 when --help was asked
 * (help printed), or -1 with a message in `err`.
 */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
void config_free(struct config *cfg);

const char *config_str(const struct config *cfg, enum config_key key);
long config_long(const struct config *cfg, enum config_key key);

void config_print_help(FILE *out);

#endif
