#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "config.h"
#include "harness.h"

static int load(struct config *cfg, char **argv, int argc, char *err)
{
    return config_load(cfg, argc, argv, err, 256);
}

static void test_defaults(void)
{
    struct config cfg;
    char err[256];
    unsetenv("QUARRY_LISTEN");
    CU_ASSERT_EQUAL_FATAL(load(&cfg, NULL, 0, err), 0);
    CU_ASSERT_STRING_EQUAL(cfg.listen_host, "127.0.0.1");
    CU_ASSERT_EQUAL(cfg.listen_port, 8080);
    CU_ASSERT_EQUAL(cfg.ndrivers, 4);
    CU_ASSERT_STRING_EQUAL(cfg.drivers[0], "sqlite");
    CU_ASSERT_STRING_EQUAL(config_str(&cfg, CFG_LOG_LEVEL), "info");
    config_free(&cfg);
}

/* Flags win over the environment, which wins over the file. */
static void test_precedence(void)
{
    char *file = harness_tmppath("quarry", ".conf");
    FILE *f = fopen(file, "w");
    fprintf(f, "# a comment\nlisten = 127.0.0.1:7000\nworkers = 3\nlog-level = debug\n\n");
    fclose(f);
    setenv("QUARRY_WORKERS", "5", 1);
    char *argv[] = {"--config", file, "--log-level=warn", "serve"};
    struct config cfg;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(load(&cfg, argv, 4, err), 0);
    CU_ASSERT_EQUAL(cfg.listen_port, 7000);
    CU_ASSERT_EQUAL(config_long(&cfg, CFG_WORKERS), 5);
    CU_ASSERT_STRING_EQUAL(config_str(&cfg, CFG_LOG_LEVEL), "warn");
    CU_ASSERT_EQUAL(cfg.argc, 1);
    CU_ASSERT_STRING_EQUAL(cfg.args[0], "serve");
    config_free(&cfg);
    unsetenv("QUARRY_WORKERS");
    free(file);
}

static void test_ipv6_listen(void)
{
    char *argv[] = {"--listen", "[::1]:0"};
    struct config cfg;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(load(&cfg, argv, 2, err), 0);
    CU_ASSERT_STRING_EQUAL(cfg.listen_host, "::1");
    CU_ASSERT_EQUAL(cfg.listen_port, 0);
    config_free(&cfg);
}

static void test_bad_values(void)
{
    struct {
        char *argv[2];
        const char *needle;
    } cases[] = {
        {{"--listen", "localhost"}, "--listen"},
        {{"--listen", "1.2.3.4:99999"}, "--listen"},
        {{"--listen", "[::1:80"}, "--listen"},
        {{"--workers", "0"}, "--workers"},
        {{"--workers", "many"}, "--workers"},
        {{"--max-body", "1e9"}, "--max-body"},
        {{"--log-level", "loud"}, "--log-level"},
        {{"--drivers", "../evil"}, "--drivers"},
        {{"--no-such-flag", "1"}, "unknown option"},
        {{"--config", "/nonexistent/quarry.conf"}, "cannot read config file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config cfg;
        char err[256] = "";
        CU_ASSERT_EQUAL(load(&cfg, cases[i].argv, 2, err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].needle));
        config_free(&cfg);
    }
    char *dangling[] = {"--registry"};
    struct config cfg;
    char err[256] = "";
    CU_ASSERT_EQUAL(load(&cfg, dangling, 1, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a value"));
    config_free(&cfg);
}

static void test_bad_config_file(void)
{
    char *file = harness_tmppath("bad", ".conf");
    FILE *f = fopen(file, "w");
    fprintf(f, "listen = 127.0.0.1:1\nthis line has no equals\n");
    fclose(f);
    char *argv[] = {"--config", file};
    struct config cfg;
    char err[256] = "";
    CU_ASSERT_EQUAL(load(&cfg, argv, 2, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2:"));
    config_free(&cfg);
    free(file);
}

static void test_help_documents_every_option(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    config_print_help(mem);
    fclose(mem);
    const char *flags[] = {"--listen",     "QUARRY_LISTEN",     "--registry", "QUARRY_REGISTRY",
                           "--plugin-dir", "QUARRY_PLUGIN_DIR", "--drivers",  "QUARRY_DRIVERS",
                           "--log-level",  "QUARRY_LOG_LEVEL",  "--config",   "--workers",
                           "--max-body",   "--port-file"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, flags[i]));
    free(buf);
}

void register_config_tests(void)
{
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "flags over environment over file", test_precedence);
    CU_add_test(s, "IPv6 listen address", test_ipv6_listen);
    CU_add_test(s, "bad values are refused with the option named", test_bad_values);
    CU_add_test(s, "a bad config file line is named", test_bad_config_file);
    CU_add_test(s, "--help documents every option", test_help_documents_every_option);
}
