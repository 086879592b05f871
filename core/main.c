/*
 * quarryd: `quarryd [serve] [OPTIONS]` runs the service; other subcommands
 * (key management) share the same options.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/thread.h>
#include <sodium.h>

#include "cli_keys.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

static int usage_error(const char *message)
{
    fprintf(stderr, "quarryd: %s\n", message);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("quarryd %s\n", QUARRY_VERSION);
        return 0;
    }
    /* Before any thread exists: libcurl's global init is not thread-safe. */
    if (sodium_init() < 0 || evthread_use_pthreads() != 0 ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return usage_error("cannot initialise libsodium or libevent threads");
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "keys") == 0)
        return cli_keys_main(argc - 2, argv + 2);

    struct config config;
    char err[1024];
    int rc = config_load(&config, argc - 1, argv + 1, err, sizeof(err));
    if (rc == 1) {
        config_print_help(stdout);
        config_free(&config);
        return 0;
    }
    if (rc != 0) {
        config_free(&config);
        return usage_error(err);
    }
    log_set_level(log_level_parse(config_str(&config, CFG_LOG_LEVEL)));

    const char *command = config.argc > 0 ? config.args[0] : "serve";
    if (strcmp(command, "serve") == 0 && config.argc <= 1)
        rc = daemon_run(&config);
    else
        rc = usage_error("unknown command (see --help)");
    config_free(&config);
    return rc;
}
