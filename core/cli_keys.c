#include "cli_keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "registry.h"

#define EXIT_USAGE 2
#define MAX_EXPIRES_DAYS 36500L /* a hundred years: anything longer is a typo */

/* This command's own flags; everything else is a general option for config_load. */
enum keys_flag { FLAG_SCOPE, FLAG_AGENT, FLAG_NAME, FLAG_EXPIRES_DAYS, FLAG__COUNT };
static const char *const flag_names[FLAG__COUNT] = {"scope", "agent", "name", "expires-days"};

struct keys_args {
    const char *flags[FLAG__COUNT]; /* borrowed from argv; NULL when not given */
    int help;
    char **rest; /* what is left for config_load; owned */
    int nrest;
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: quarryd keys COMMAND [OPTIONS]\n"
                 "\n"
                 "  create --scope read|write|admin [--agent UUID] [--name NAME] "
                 "[--expires-days N]\n"
                 "         prints QUARRY_API_KEY=<id> and QUARRY_API_SECRET=<secret> (shell-"
                 "sourceable);\n"
                 "         the secret is shown only this once\n"
                 "  list   prints every key as a JSON array (never a secret)\n"
                 "  revoke ID\n"
                 "\n"
                 "General options such as --registry PATH (QUARRY_REGISTRY) apply; see "
                 "quarryd --help.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("quarryd keys: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see quarryd keys --help)\n", stderr);
    return EXIT_USAGE;
}

/* Which of our flags `arg` is ("--name VALUE" or "--name=VALUE"), or -1. */
static int flag_of(const char *arg, const char **inline_value)
{
    if (strncmp(arg, "--", 2) != 0)
        return -1;
    for (int f = 0; f < FLAG__COUNT; f++) {
        size_t n = strlen(flag_names[f]);
        if (strncmp(arg + 2, flag_names[f], n) != 0)
            continue;
        if (arg[2 + n] == '\0' || arg[2 + n] == '=') {
            *inline_value = arg[2 + n] == '=' ? arg + 3 + n : NULL;
            return f;
        }
    }
    return -1;
}

static int split_args(int argc, char **argv, struct keys_args *args)
{
    args->rest = calloc((size_t)argc + 1, sizeof(*args->rest));
    if (!args->rest) {
        fprintf(stderr, "quarryd keys: out of memory\n");
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        const char *value = NULL;
        int f = flag_of(argv[i], &value);
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            args->help = 1;
        } else if (f < 0) {
            args->rest[args->nrest++] = argv[i];
        } else if (!value && i + 1 == argc) {
            return usage_error("--%s needs a value", flag_names[f]);
        } else {
            args->flags[f] = value ? value : argv[++i];
        }
    }
    return 0;
}

/* Refuses create's flags on the commands that take none. */
static int no_flags(const struct keys_args *args, const char *command)
{
    for (int f = 0; f < FLAG__COUNT; f++) {
        if (args->flags[f]) {
            fprintf(stderr, "quarryd keys %s: --%s applies only to `keys create`\n", command,
                    flag_names[f]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

static int parse_expiry(const char *days, time_t *expires_at)
{
    *expires_at = 0;
    if (!days)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(days, &end, 10);
    if (errno || end == days || *end || n < 1 || n > MAX_EXPIRES_DAYS)
        return usage_error("--expires-days %s: expected a whole number of days from 1 to 36500",
                           days);
    *expires_at = time(NULL) + (time_t)n * 86400;
    return 0;
}

/* list and revoke never create a registry: a wrong path should say so. */
static struct registry *open_registry(const struct config *cfg, int must_exist)
{
    const char *path = config_str(cfg, CFG_REGISTRY);
    char err[512];
    if (must_exist && access(path, F_OK) != 0) {
        fprintf(stderr, "quarryd keys: registry %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct registry *registry = registry_open(path, err, sizeof(err));
    if (!registry)
        fprintf(stderr, "quarryd keys: %s\n", err);
    return registry;
}

static int print_created(const char *id, const char *secret)
{
    printf("QUARRY_API_KEY=%s\nQUARRY_API_SECRET=%s\n", id, secret);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

static int keys_create(const struct config *cfg, const struct keys_args *args)
{
    const char *scope_name = args->flags[FLAG_SCOPE];
    int scope = auth_scope_parse(scope_name);
    time_t expires_at;
    char err[256];
    if (cfg->argc != 1)
        return usage_error("create takes no argument %s", cfg->args[1]);
    if (!scope_name)
        return usage_error("create needs --scope read|write|admin");
    if (scope < 0)
        return usage_error("--scope %s: expected read, write or admin", scope_name);
    if (parse_expiry(args->flags[FLAG_EXPIRES_DAYS], &expires_at) != 0)
        return EXIT_USAGE;
    if (auth_key_validate(scope, args->flags[FLAG_AGENT], args->flags[FLAG_NAME], expires_at, err,
                          sizeof(err)) != 0)
        return usage_error("%s", err);

    struct registry *registry = open_registry(cfg, 0);
    if (!registry)
        return 1;
    char id[40], secret[64];
    int rc = 1;
    if (auth_key_create(registry, scope, args->flags[FLAG_AGENT], args->flags[FLAG_NAME],
                        expires_at, id, secret, err, sizeof(err)) != 0) {
        fprintf(stderr, "quarryd keys create: %s\n", err);
    } else if (print_created(id, secret) != 0) {
        /* A secret nobody saw is a key nobody can use: do not leave it active. */
        auth_key_revoke(registry, id);
        fprintf(stderr, "quarryd keys create: cannot write the key to stdout; key %s revoked\n",
                id);
    } else {
        fprintf(stderr, "quarryd keys create: created %s key %s; the secret is not shown again\n",
                scope_name, id);
        rc = 0;
    }
    sodium_memzero(secret, sizeof(secret));
    registry_close(registry);
    return rc;
}

static int keys_list(const struct config *cfg, const struct keys_args *args)
{
    if (no_flags(args, "list"))
        return EXIT_USAGE;
    if (cfg->argc != 1)
        return usage_error("list takes no argument %s", cfg->args[1]);
    struct registry *registry = open_registry(cfg, 1);
    if (!registry)
        return 1;
    json_t *keys = auth_key_list(registry);
    int rc = 1;
    if (!keys)
        fprintf(stderr, "quarryd keys list: cannot read the keys\n");
    else if (json_dumpf(keys, stdout, JSON_INDENT(2)) != 0 || puts("") == EOF)
        fprintf(stderr, "quarryd keys list: cannot write to stdout\n");
    else
        rc = 0;
    json_decref(keys);
    registry_close(registry);
    return rc;
}

static int keys_revoke(const struct config *cfg, const struct keys_args *args)
{
    if (no_flags(args, "revoke"))
        return EXIT_USAGE;
    if (cfg->argc != 2)
        return usage_error("revoke needs exactly one key id");
    const char *id = cfg->args[1];
    struct registry *registry = open_registry(cfg, 1);
    if (!registry)
        return 1;
    int revoked = auth_key_revoke(registry, id);
    registry_close(registry);
    if (revoked == 0) {
        fprintf(stderr, "quarryd keys revoke: revoked %s\n", id);
        return 0;
    }
    if (revoked == 1)
        fprintf(stderr, "quarryd keys revoke: no active key %s\n", id);
    else
        fprintf(stderr, "quarryd keys revoke: cannot revoke %s\n", id);
    return 1;
}

static int dispatch(const struct config *cfg, const struct keys_args *args)
{
    const char *command = cfg->argc > 0 ? cfg->args[0] : NULL;
    if (!command)
        return usage_error("missing command: create, list or revoke");
    if (strcmp(command, "create") == 0)
        return keys_create(cfg, args);
    if (strcmp(command, "list") == 0)
        return keys_list(cfg, args);
    if (strcmp(command, "revoke") == 0)
        return keys_revoke(cfg, args);
    return usage_error("unknown command %s", command);
}

int cli_keys_main(int argc, char **argv)
{
    struct keys_args args = {0};
    struct config cfg;
    char err[1024];
    int rc = split_args(argc, argv, &args);
    if (rc != 0)
        goto out;
    if (args.help) {
        usage(stdout);
        goto out;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "quarryd keys: cannot initialise libsodium\n");
        rc = 1;
        goto out;
    }
    rc = config_load(&cfg, args.nrest, args.rest, err, sizeof(err));
    if (rc == 0) {
        log_set_level(log_level_parse(config_str(&cfg, CFG_LOG_LEVEL)));
        rc = dispatch(&cfg, &args);
    } else {
        rc = usage_error("%s", err);
    }
    config_free(&cfg);
out:
    free(args.rest);
    return rc;
}
