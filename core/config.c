#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

enum option_type { OPT_STRING, OPT_INT, OPT_LOG_LEVEL, OPT_LISTEN, OPT_ON_OFF, OPT_ENGINE };

struct option_spec {
    const char *name; /* the flag without "--"; the file key */
    const char *env;
    enum option_type type;
    long min, max;        /* OPT_INT bounds */
    const char *fallback; /* NULL: computed (see default_for) */
    const char *help;
};

static const struct option_spec specs[CFG__COUNT] = {
    [CFG_CONFIG] = {"config", "QUARRY_CONFIG", OPT_STRING, 0, 0, "",
                    "config file of `name = value` lines (names as the flags)"},
    [CFG_LISTEN] = {"listen", "QUARRY_LISTEN", OPT_LISTEN, 0, 0, "127.0.0.1:8080",
                    "address and port to listen on (HOST:PORT, [IPv6]:PORT; port 0 = any free)"},
    [CFG_REGISTRY] = {"registry", "QUARRY_REGISTRY", OPT_STRING, 0, 0, "quarry.db",
                      "path of the SQLite registry file (created on first run)"},
    [CFG_PLUGIN_DIR] = {"plugin-dir", "QUARRY_PLUGIN_DIR", OPT_STRING, 0, 0, NULL,
                        "directory of driver plugins NAME.so (default: the build's plugin "
                        "directory when run from the build tree, else the installed one)"},
    [CFG_DRIVERS] = {"drivers", "QUARRY_DRIVERS", OPT_STRING, 0, 0, "sqlite,postgres,mysql,mongodb",
                     "comma-separated drivers to enable"},
    [CFG_LOG_LEVEL] = {"log-level", "QUARRY_LOG_LEVEL", OPT_LOG_LEVEL, 0, 0, "info",
                       "error, warn, info or debug"},
    [CFG_WORKERS] = {"workers", "QUARRY_WORKERS", OPT_INT, 1, 256, "8",
                     "worker threads for database, LLM and export work"},
    [CFG_MAX_BODY] = {"max-body", "QUARRY_MAX_BODY", OPT_INT, 1024, 64L * 1024 * 1024, "1048576",
                      "largest request body in bytes (larger ones get 413)"},
    [CFG_PORT_FILE] = {"port-file", "QUARRY_PORT_FILE", OPT_STRING, 0, 0, "",
                       "write the bound port here once listening (for supervisors and tests)"},
    [CFG_SHUTDOWN_GRACE] = {"shutdown-grace", "QUARRY_SHUTDOWN_GRACE", OPT_INT, 0, 600, "10",
                            "seconds to let requests in flight finish on SIGTERM/SIGINT"},
    [CFG_CONNECT_TIMEOUT] = {"connect-timeout", "QUARRY_CONNECT_TIMEOUT", OPT_INT, 100, 120000,
                             "5000", "milliseconds allowed to connect to a target database"},
    [CFG_SECRET_KEY] = {"secret-key", "QUARRY_SECRET_KEY", OPT_STRING, 0, 0, "",
                        "base64 of the 32-byte key that seals stored credentials (prefer the "
                        "environment variable or the key file to a flag)"},
    [CFG_SECRET_KEY_FILE] = {"secret-key-file", "QUARRY_SECRET_KEY_FILE", OPT_STRING, 0, 0, "",
                             "key file used when no key is given; created with mode 0600 on "
                             "first run [default: REGISTRY.key]"},
    [CFG_SQLITE_DIRS] = {"sqlite-dirs", "QUARRY_SQLITE_DIRS", OPT_STRING, 0, 0, "",
                         "directories sqlite databases must live in (comma-separated); unset "
                         "allows every readable path"},
    [CFG_ALLOW_HOSTS] = {"allow-hosts", "QUARRY_ALLOW_HOSTS", OPT_STRING, 0, 0, "",
                         "target hosts and CIDRs allowed (comma-separated); unset allows all "
                         "not denied"},
    [CFG_DENY_HOSTS] = {"deny-hosts", "QUARRY_DENY_HOSTS", OPT_STRING, 0, 0, "",
                        "target hosts and CIDRs denied, on top of link-local and cloud metadata "
                        "addresses"},
    [CFG_JWT_SECRET] = {"jwt-secret", "QUARRY_JWT_SECRET", OPT_STRING, 0, 0, "",
                        "shared secret for HS256 bearer tokens"},
    [CFG_JWT_PUBLIC_KEY] = {"jwt-public-key", "QUARRY_JWT_PUBLIC_KEY", OPT_STRING, 0, 0, "",
                            "PEM file of the RSA or EC public key for RS256/ES256 bearer tokens"},
    [CFG_JWT_ISSUER] = {"jwt-issuer", "QUARRY_JWT_ISSUER", OPT_STRING, 0, 0, "",
                        "required `iss` of bearer tokens"},
    [CFG_JWT_AUDIENCE] = {"jwt-audience", "QUARRY_JWT_AUDIENCE", OPT_STRING, 0, 0, "",
                          "required `aud` of bearer tokens"},
    [CFG_JWT_LEEWAY] = {"jwt-leeway", "QUARRY_JWT_LEEWAY", OPT_INT, 0, 3600, "30",
                        "seconds of clock skew allowed on `exp` and `nbf`"},
    [CFG_DATAHERALD_AUTH] = {"dataherald-auth", "QUARRY_DATAHERALD_AUTH", OPT_ON_OFF, 0, 0, "on",
                             "`off` serves the Dataherald-compatible routes without credentials"},
    [CFG_STATEMENT_TIMEOUT] =
        {"statement-timeout", "QUARRY_STATEMENT_TIMEOUT", OPT_INT, 100, 600000, "15000",
         "milliseconds a query may run on a target (enforced by the database)"},
    [CFG_RESULT_LIMIT_MAX] = {"result-limit-max", "QUARRY_RESULT_LIMIT_MAX", OPT_INT, 1, 100000,
                              "10000", "the largest result_limit text-to-SQL accepts"},
    [CFG_TEXT2SQL_ENGINE] = {"text2sql-engine", "QUARRY_TEXT2SQL_ENGINE", OPT_ENGINE, 0, 0, "auto",
                             "default text-to-SQL engine: builtin, llm or auto"},
    [CFG_AUTO_CONFIDENCE] = {"auto-confidence", "QUARRY_AUTO_CONFIDENCE", OPT_INT, 0, 100, "80",
                             "auto: the built-in engine's confidence (percent) at which the LLM is "
                             "not asked"},
    [CFG_LLM_URL] = {"llm-url", "QUARRY_LLM_URL", OPT_STRING, 0, 0, "",
                     "OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 (unset: no LLM)"},
    [CFG_LLM_MODEL] = {"llm-model", "QUARRY_LLM_MODEL", OPT_STRING, 0, 0, "",
                       "model name sent to the LLM endpoint"},
    [CFG_LLM_API_KEY] = {"llm-api-key", "QUARRY_LLM_API_KEY", OPT_STRING, 0, 0, "",
                         "bearer key for the LLM endpoint (prefer the environment variable)"},
    [CFG_LLM_TIMEOUT] = {"llm-timeout", "QUARRY_LLM_TIMEOUT", OPT_INT, 100, 600000, "20000",
                         "milliseconds allowed for one LLM answer"},
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The plugin directory: the build tree's when this binary is the build's. */
static const char *default_plugin_dir(void)
{
    static char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        size_t build_len = strlen(QUARRY_BUILD_PLUGIN_DIR) - strlen("/plugins");
        if (strncmp(exe, QUARRY_BUILD_PLUGIN_DIR, build_len) == 0 && exe[build_len] == '/')
            return QUARRY_BUILD_PLUGIN_DIR;
    }
    return QUARRY_INSTALL_PLUGIN_DIR;
}

static int set_value(struct config *cfg, enum config_key key, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(cfg->values[key]);
    cfg->values[key] = copy;
    return 0;
}

static int find_key(const char *name, size_t len)
{
    for (int k = 0; k < CFG__COUNT; k++)
        if (strlen(specs[k].name) == len && strncmp(specs[k].name, name, len) == 0)
            return k;
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            set_err(err, errlen, "%s:%d: expected `name = value`", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        int key = find_key(name, strlen(name));
        if (key < 0 || key == CFG_CONFIG) {
            set_err(err, errlen, "%s:%d: unknown option `%s`", path, lineno, name);
            rc = -1;
        } else if (set_value(cfg, key, value) != 0) {
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/* Finds --config in argv before anything else, since the file is the lowest layer. */
static const char *config_file_from_argv(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
    }
    return NULL;
}

static int parse_argv(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strncmp(arg, "--", 2) != 0) {
            if (cfg->argc == CONFIG_MAX_ARGS) {
                set_err(err, errlen, "too many arguments");
                return -1;
            }
            cfg->args[cfg->argc++] = argv[i];
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        int key = find_key(name, eq ? (size_t)(eq - name) : strlen(name));
        if (key < 0) {
            set_err(err, errlen, "unknown option %s (see --help)", arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            set_err(err, errlen, "option --%s needs a value", specs[key].name);
            return -1;
        }
        if (set_value(cfg, key, value) != 0)
            return -1;
    }
    return 0;
}

static int parse_listen(struct config *cfg, const char *value, char *err, size_t errlen)
{
    const char *colon = strrchr(value, ':');
    const char *host = value, *host_end = colon;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');
        if (!close || close[1] != ':') {
            set_err(err, errlen, "--listen %s: expected [IPv6]:PORT", value);
            return -1;
        }
        host = value + 1;
        host_end = close;
        colon = close + 1;
    }
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || host_end == host || colon[1] == '\0' || *end || port < 0 || port > 65535 ||
        (size_t)(host_end - host) >= sizeof(cfg->listen_host)) {
        set_err(err, errlen, "--listen %s: expected HOST:PORT with a port from 0 to 65535", value);
        return -1;
    }
    memcpy(cfg->listen_host, host, (size_t)(host_end - host));
    cfg->listen_host[host_end - host] = '\0';
    cfg->listen_port = (int)port;
    return 0;
}

static int split_drivers(struct config *cfg, char *err, size_t errlen)
{
    cfg->driver_names = strdup(cfg->values[CFG_DRIVERS]);
    if (!cfg->driver_names)
        return -1;
    char *save = NULL;
    for (char *tok = strtok_r(cfg->driver_names, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (!*tok)
            continue;
        if (cfg->ndrivers == CONFIG_MAX_DRIVERS) {
            set_err(err, errlen, "--drivers: more than %d drivers", CONFIG_MAX_DRIVERS);
            return -1;
        }
        /* A driver name becomes a file name: keep it to a plain identifier. */
        for (const char *c = tok; *c; c++) {
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
                set_err(err, errlen, "--drivers: `%s` is not a driver name", tok);
                return -1;
            }
        }
        cfg->drivers[cfg->ndrivers++] = tok;
    }
    return 0;
}

static int validate(struct config *cfg, char *err, size_t errlen)
{
    for (int k = 0; k < CFG__COUNT; k++) {
        const struct option_spec *spec = &specs[k];
        const char *value = cfg->values[k];
        if (spec->type == OPT_INT) {
            char *end;
            errno = 0;
            long n = strtol(value, &end, 10);
            if (errno || end == value || *end || n < spec->min || n > spec->max) {
                set_err(err, errlen, "--%s %s: expected a whole number from %ld to %ld", spec->name,
                        value, spec->min, spec->max);
                return -1;
            }
        } else if (spec->type == OPT_LOG_LEVEL && log_level_parse(value) < 0) {
            set_err(err, errlen, "--%s %s: expected error, warn, info or debug", spec->name, value);
            return -1;
        } else if (spec->type == OPT_ENGINE && strcmp(value, "builtin") != 0 &&
                   strcmp(value, "llm") != 0 && strcmp(value, "auto") != 0) {
            set_err(err, errlen, "--%s %s: expected builtin, llm or auto", spec->name, value);
            return -1;
        } else if (spec->type == OPT_ON_OFF && strcmp(value, "on") != 0 &&
                   strcmp(value, "off") != 0) {
            set_err(err, errlen, "--%s %s: expected on or off", spec->name, value);
            return -1;
        } else if (spec->type == OPT_LISTEN && parse_listen(cfg, value, err, errlen) != 0) {
            return -1;
        }
    }
    return split_drivers(cfg, err, errlen);
}

int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int k = 0; k < CFG__COUNT; k++) {
        const char *fallback = specs[k].fallback ? specs[k].fallback : default_plugin_dir();
        if (set_value(cfg, k, fallback) != 0)
            goto oom;
    }

    const char *file = config_file_from_argv(argc, argv);
    if (!file)
        file = getenv(specs[CFG_CONFIG].env);
    if (file && *file && load_file(cfg, file, err, errlen) != 0)
        return -1;

    for (int k = 0; k < CFG__COUNT; k++) {
        const char *env = getenv(specs[k].env);
        if (env && set_value(cfg, k, env) != 0)
            goto oom;
    }
    int rc = parse_argv(cfg, argc, argv, err, errlen);
    if (rc != 0)
        return rc;
    return validate(cfg, err, errlen);
oom:
    set_err(err, errlen, "out of memory");
    return -1;
}

void config_free(struct config *cfg)
{
    for (int k = 0; k < CFG__COUNT; k++)
        free(cfg->values[k]);
    free(cfg->driver_names);
    memset(cfg, 0, sizeof(*cfg));
}

const char *config_str(const struct config *cfg, enum config_key key)
{
    return cfg->values[key];
}

long config_long(const struct config *cfg, enum config_key key)
{
    return strtol(cfg->values[key], NULL, 10);
}

void config_print_help(FILE *out)
{
    fprintf(out, "Usage: quarryd [serve] [OPTIONS]\n"
                 "\n"
                 "Quarry: a REST service that registers external databases, understands them\n"
                 "and answers questions over them.\n"
                 "\n"
                 "Options (each also an environment variable, and a `name = value` line in the\n"
                 "config file; flags win over the environment, which wins over the file):\n");
    for (int k = 0; k < CFG__COUNT; k++) {
        const struct option_spec *s = &specs[k];
        fprintf(out, "  --%-16s %-22s %s", s->name, s->env, s->help);
        if (s->fallback && *s->fallback)
            fprintf(out, " [default: %s]", s->fallback);
        fputc('\n', out);
    }
    fprintf(out, "  --help, -h                               this text\n");
}
