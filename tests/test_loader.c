/*
 * The driver loader and the host services table, tested with the small
 * purpose-built plugins in tests/plugins/ (each wrong in one way) and the
 * SDK's example driver.
 *
 * The loader's table is process-wide and only grows, so the suite loads its
 * base set once (suite init) and each refusal test loads a name of its own.
 */
#include <CUnit/CUnit.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "host.h"
#include "loader.h"
#include "log.h"

#define PLUGINS QUARRY_TEST_BAD_PLUGIN_DIR

static int base_loaded;

static int suite_init(void)
{
    /* A refusal in the middle must not stop the drivers after it. */
    const char *names[] = {"good", "absent", "example", "oldminor"};
    base_loaded = loader_load(PLUGINS, names, 4);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = calloc(1, 65536);
    if (text)
        fread(text, 1, 65535, f);
    fclose(f);
    return text;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc = -1;
    char buf[65536];
    ssize_t n = -1;
    if (in >= 0 && out >= 0)
        while ((n = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)n) != n)
                break;
    if (n == 0 && fchmod(out, mode) == 0)
        rc = 0;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* Captures what the process writes to stderr (where the log goes). */
struct capture {
    int saved;
    char *path;
};

static void capture_begin(struct capture *c)
{
    fflush(stderr);
    c->path = harness_tmppath("stderr", ".log");
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    char *text = read_text(c->path);
    unlink(c->path);
    free(c->path);
    return text;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; text && *text; text++)
        n += *text == '\n';
    return n;
}

/* Loads one name that must be refused; checks the reason and the single log line. */
static void expect_refused(const char *dir, const char *name, const char *const *needles)
{
    size_t before = loader_count();
    struct capture cap;
    capture_begin(&cap);
    int loaded = loader_load(dir, &name, 1);
    char *log = capture_end(&cap);

    CU_ASSERT_EQUAL(loaded, 0);
    CU_ASSERT_EQUAL(loader_count(), before);
    const char *reason = loader_refusal(name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reason);
    for (; *needles; needles++) {
        int found = strstr(reason, *needles) != NULL;
        if (!found)
            printf("\n  refusal of %s lacks \"%s\": %s\n", name, *needles, reason);
        CU_ASSERT(found);
    }
    CU_ASSERT_EQUAL(count_lines(log), 1);
    CU_ASSERT_PTR_NOT_NULL(log && strstr(log, reason));
    CU_ASSERT_PTR_NOT_NULL(log && strstr(log, "error"));
    free(log);
}

/* A row sink that records what it got and can answer STOP or cancel midway. */
struct rows {
    int begins, ends;
    size_t ncolumns, nrows;
    size_t stop_after;                  /* 0: never */
    const struct quarry_driver *cancel; /* cancel `conn` at row 10 */
    struct quarry_conn *conn;
    int64_t last_i;
    char last_text[64];
};

static int rows_begin(void *userdata, const struct quarry_column *columns, size_t ncolumns)
{
    struct rows *r = userdata;
    (void)columns;
    r->begins++;
    r->ncolumns = ncolumns;
    return QUARRY_SINK_CONTINUE;
}

static int rows_row(void *userdata, const struct quarry_value *values, size_t nvalues)
{
    struct rows *r = userdata;
    r->nrows++;
    r->last_i = values[0].i;
    const struct quarry_value *text = &values[nvalues - 1];
    if (text->type == QUARRY_VALUE_TEXT)
        snprintf(r->last_text, sizeof(r->last_text), "%.*s", (int)text->len, text->str);
    if (r->cancel && r->nrows == 10)
        r->cancel->cancel(r->conn);
    return r->stop_after && r->nrows >= r->stop_after ? QUARRY_SINK_STOP : QUARRY_SINK_CONTINUE;
}

static void rows_end(void *userdata)
{
    ((struct rows *)userdata)->ends++;
}

static struct quarry_row_sink rows_sink(struct rows *r)
{
    struct quarry_row_sink sink = {
        .userdata = r, .begin = rows_begin, .row = rows_row, .end = rows_end};
    QUARRY_STRUCT_INIT(&sink);
    return sink;
}

static struct quarry_conn *open_conn(const struct quarry_driver *d, const char *url)
{
    struct quarry_open_params params = {.url = url};
    QUARRY_STRUCT_INIT(&params);
    struct quarry_error err;
    host_error_init(&err);
    struct quarry_conn *conn = NULL;
    CU_ASSERT_EQUAL(d->open(&params, &conn, &err), QUARRY_OK);
    return conn;
}

struct lifecycle {
    int init, cleanup, thread_start, thread_stop;
};

/* The test plugins report their lifecycle counters in ping's server version. */
static int good_lifecycle(struct lifecycle *lc)
{
    const struct quarry_driver *d = loader_find("good");
    if (!d)
        return -1;
    struct quarry_conn *conn = open_conn(d, "good://");
    struct host_call call;
    host_call_init(&call, 0, 0);
    struct quarry_server_info info = {0};
    QUARRY_STRUCT_INIT(&info);
    struct quarry_error err;
    host_error_init(&err);
    int rc = d->ping(conn, &call.ctx, &info, &err);
    d->close(conn);
    if (rc != QUARRY_OK ||
        sscanf(info.version, "init=%d cleanup=%d thread_start=%d thread_stop=%d", &lc->init,
               &lc->cleanup, &lc->thread_start, &lc->thread_stop) != 4)
        return -1;
    return 0;
}

/* ---- loading ------------------------------------------------------------ */

static void test_refusal_does_not_stop_others(void)
{
    CU_ASSERT_EQUAL(base_loaded, 3);
    CU_ASSERT_PTR_NOT_NULL(loader_find("good"));
    CU_ASSERT_PTR_NOT_NULL(loader_find("example"));
    CU_ASSERT_PTR_NOT_NULL(loader_find("oldminor"));
    CU_ASSERT_PTR_NULL(loader_find("absent"));
    const char *reason = loader_refusal("absent");
    CU_ASSERT_PTR_NOT_NULL_FATAL(reason);
    CU_ASSERT_PTR_NOT_NULL(strstr(reason, PLUGINS "/absent.so"));
    CU_ASSERT_PTR_NOT_NULL(strstr(reason, "no such file"));
}

static void test_refusals(void)
{
    char small[32], minimum[32];
    snprintf(small, sizeof(small), "is %zu bytes", offsetof(struct quarry_driver, version));
    snprintf(minimum, sizeof(minimum), "the %zu bytes",
             offsetof(struct quarry_driver, execute) + sizeof(void (*)(void)));
    const struct {
        const char *name;
        const char *needles[5];
    } cases[] = {
        {"nosymbol", {"nosymbol.so", "no symbol quarry_driver_entry"}},
        {"unresolved", {"unresolved.so", "dlopen failed", "quarry_test_missing_function"}},
        {"nullentry", {"nullentry.so", "returned NULL", "libfoo 3.1 not found"}},
        {"badmajor", {"badmajor.so", "host 1.x", "driver 2.x"}},
        {"tiny", {"tiny.so", small, minimum}},
        {"misnamed", {"misnamed.so", "\"other\"", "\"misnamed\""}},
        {"noexec", {"noexec.so", "missing required", "execute"}},
        {"badcap", {"badcap.so", "capability cancel", "cancel is NULL"}},
        {"nokind", {"nokind.so", "sql", "document"}},
        {"dupscheme", {"dupscheme.so", "\"GOOD\"", "\"good\""}},
        {"badscheme", {"badscheme.so", "\"bad scheme\""}},
        {"initfail", {"initfail.so", "global_init failed", "cannot initialise libfoo: no entropy"}},
        {"good", {"good.so", "already loaded"}},
        {"../good", {"invalid driver name", "../good"}},
        {"", {"invalid driver name"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(PLUGINS, cases[i].name, cases[i].needles);
}

static void test_refused_file_kinds(void)
{
    char *dir = harness_tmppath("plugins", NULL);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    char path[1024];
    snprintf(path, sizeof(path), "%s/notelf.so", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("this is not a shared object\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/notreg.so", dir);
    CU_ASSERT_EQUAL(mkdir(path, 0755), 0);

    expect_refused(dir, "notelf", (const char *[]){"notelf.so", "dlopen failed", NULL});
    expect_refused(dir, "notreg", (const char *[]){"notreg.so", "not a regular file", NULL});
    expect_refused("/nonexistent-quarry-dir", "nodir",
                   (const char *[]){"nodir.so", "plugin directory", NULL});
    free(dir);
}

/* A scratch plugin directory with a copy of writable.so (mode `file_mode`). */
static char *writable_dir(mode_t dir_mode, mode_t file_mode)
{
    char *dir = harness_tmppath("plugins", NULL), path[1024];
    snprintf(path, sizeof(path), "%s/writable.so", dir);
    if (mkdir(dir, 0700) != 0 || copy_file(PLUGINS "/writable.so", path, file_mode) != 0 ||
        chmod(dir, dir_mode) != 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

static void test_world_writable_file(void)
{
    char *dir = writable_dir(0755, 0646);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    expect_refused(dir, "writable", (const char *[]){"writable.so", "world-writable", NULL});
    free(dir);
}

static void test_world_writable_dir(void)
{
    char *dir = writable_dir(0777, 0644);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    expect_refused(dir, "writable",
                   (const char *[]){"writable.so", dir, "world-writable", "not sticky", NULL});
    free(dir);
}

/* A link from a safe directory into an unsafe one is judged by where it leads. */
static void test_symlink_into_writable_dir(void)
{
    char *unsafe = writable_dir(0777, 0644), *safe = harness_tmppath("plugins", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(unsafe);
    char target[1024], link[1024];
    snprintf(target, sizeof(target), "%s/writable.so", unsafe);
    snprintf(link, sizeof(link), "%s/writable.so", safe);
    CU_ASSERT_EQUAL_FATAL(mkdir(safe, 0755), 0);
    CU_ASSERT_EQUAL_FATAL(symlink(target, link), 0);
    expect_refused(safe, "writable",
                   (const char *[]){"writable.so", unsafe, "world-writable", NULL});
    free(unsafe);
    free(safe);
}

/* Runs last of the writable tests: once it loads, "writable" is taken. */
static void test_sticky_dir_accepted(void)
{
    char *dir = writable_dir(01777, 0644);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    const char *name = "writable";
    CU_ASSERT_EQUAL(loader_load(dir, &name, 1), 1);
    const struct quarry_driver *d = loader_find("writable");
    CU_ASSERT_PTR_NOT_NULL(d);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("writable"), d);
    free(dir);
}

static void test_good_driver(void)
{
    const struct quarry_driver *d = loader_find("good");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(d->name, "good");
    CU_ASSERT_STRING_EQUAL(d->version, "1.2.3");
    CU_ASSERT_EQUAL(d->abi_version, QUARRY_ABI_VERSION);
    CU_ASSERT_EQUAL(d->struct_size, sizeof(struct quarry_driver));
    CU_ASSERT_STRING_EQUAL(d->url_schemes[1], "good+tls");
    CU_ASSERT_PTR_NOT_NULL(d->cancel);

    /* Calls go through the host's copy into the plugin. */
    struct quarry_conn *conn = open_conn(d, "good://");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct rows r = {0};
    struct quarry_row_sink sink = rows_sink(&r);
    struct host_call call;
    host_call_init(&call, 1000, 0);
    struct quarry_error err;
    host_error_init(&err);
    CU_ASSERT_EQUAL(d->execute(conn, &call.ctx, "SELECT 1", &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(r.begins, 1);
    CU_ASSERT_EQUAL(r.nrows, 1);
    CU_ASSERT_STRING_EQUAL(r.last_text, "SELECT 1");
    CU_ASSERT_EQUAL(r.ends, 1);
    d->close(conn);

    /* global_init ran exactly once, at load; nothing else yet. */
    struct lifecycle lc;
    CU_ASSERT_EQUAL_FATAL(good_lifecycle(&lc), 0);
    CU_ASSERT_EQUAL(lc.init, 1);
    CU_ASSERT_EQUAL(lc.cleanup, 0);
}

static void test_old_minor_zero_padded(void)
{
    const struct quarry_driver *d = loader_find("oldminor");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    /* The plugin's own struct holds cancel and scan functions past its struct_size. */
    CU_ASSERT_EQUAL(d->struct_size, offsetof(struct quarry_driver, cancel));
    CU_ASSERT_PTR_NULL(d->cancel);
    CU_ASSERT_PTR_NULL(d->scan);
    CU_ASSERT_PTR_NOT_NULL(d->sample);
    CU_ASSERT_PTR_NOT_NULL(d->execute);
    CU_ASSERT_STRING_EQUAL(d->name, "oldminor");
}

static void test_find_by_scheme(void)
{
    const struct quarry_driver *good = loader_find("good");
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("good"), good);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("GOOD+TLS"), good);
    CU_ASSERT_PTR_EQUAL(loader_find_by_scheme("Example"), loader_find("example"));
    CU_ASSERT_PTR_NULL(loader_find_by_scheme("nope"));
    CU_ASSERT_PTR_NULL(loader_find_by_scheme("goo"));
    CU_ASSERT_PTR_NULL(loader_find_by_scheme(NULL));
    CU_ASSERT_PTR_NULL(loader_find(NULL));

    int seen = 0;
    for (size_t i = 0; i < loader_count(); i++)
        seen += loader_at(i) == good;
    CU_ASSERT_EQUAL(seen, 1);
    CU_ASSERT_PTR_NULL(loader_at(loader_count()));
}

static json_t *find_named(json_t *list, const char *name)
{
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *n = json_string_value(json_object_get(item, "name"));
        if (n && strcmp(n, name) == 0)
            return item;
    }
    return NULL;
}

static void test_report(void)
{
    json_t *report = loader_report();
    CU_ASSERT_PTR_NOT_NULL_FATAL(report);
    json_t *drivers = json_object_get(report, "drivers"),
           *refused = json_object_get(report, "refused");
    CU_ASSERT_EQUAL(json_array_size(drivers), loader_count());

    const char *version, *abi, *dialect, *description, *path;
    json_t *schemes, *caps;
    json_t *good = find_named(drivers, "good");
    CU_ASSERT_EQUAL_FATAL(json_unpack(good, "{s:s, s:s, s:o, s:o, s:s, s:s, s:s}", "version",
                                      &version, "abi_version", &abi, "url_schemes", &schemes,
                                      "capabilities", &caps, "dialect", &dialect, "description",
                                      &description, "path", &path),
                          0);
    CU_ASSERT_STRING_EQUAL(version, "1.2.3");
    char host_abi[16]; /* the good driver is built against this very header */
    snprintf(host_abi, sizeof(host_abi), "%d.%d", QUARRY_ABI_MAJOR, QUARRY_ABI_MINOR);
    CU_ASSERT_STRING_EQUAL(abi, host_abi);
    CU_ASSERT_STRING_EQUAL(dialect, "testsql");
    CU_ASSERT_STRING_EQUAL(description, "the good test driver");
    CU_ASSERT_STRING_EQUAL(path, PLUGINS "/good.so");
    json_t *want_schemes = json_pack("[s, s]", "good", "good+tls");
    json_t *want_caps = json_pack("[s, s, s, s]", "sql", "readonly_tx", "cancel", "sample");
    CU_ASSERT(json_equal(schemes, want_schemes));
    CU_ASSERT(json_equal(caps, want_caps));
    json_decref(want_schemes);
    json_decref(want_caps);

    /* oldminor has no cancel, and says so. */
    json_t *old_caps = json_object_get(find_named(drivers, "oldminor"), "capabilities");
    CU_ASSERT_EQUAL(json_array_size(old_caps), 3);

    json_t *absent = find_named(refused, "absent");
    const char *reason;
    CU_ASSERT_EQUAL_FATAL(json_unpack(absent, "{s:s, s:s}", "path", &path, "reason", &reason), 0);
    CU_ASSERT_STRING_EQUAL(path, PLUGINS "/absent.so");
    CU_ASSERT_STRING_EQUAL(reason, loader_refusal("absent"));
    CU_ASSERT_PTR_NOT_NULL(find_named(refused, "badmajor"));
    json_decref(report);
}

static void *worker(void *arg)
{
    (void)arg;
    loader_thread_start();
    loader_thread_stop();
    return NULL;
}

static void test_thread_hooks(void)
{
    struct lifecycle before, after;
    CU_ASSERT_EQUAL_FATAL(good_lifecycle(&before), 0);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    CU_ASSERT_EQUAL_FATAL(good_lifecycle(&after), 0);
    CU_ASSERT_EQUAL(after.thread_start - before.thread_start, 2);
    CU_ASSERT_EQUAL(after.thread_stop - before.thread_stop, 2);
    CU_ASSERT_EQUAL(after.init, 1);
}

/* In a child, so the drivers stay initialised for the rest of the run. */
static void test_shutdown(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct lifecycle before, after;
        if (good_lifecycle(&before) != 0)
            _exit(10);
        loader_shutdown();
        loader_shutdown();
        loader_thread_start();
        if (good_lifecycle(&after) != 0)
            _exit(11);
        if (after.cleanup != 1 || before.cleanup != 0)
            _exit(12);
        if (after.thread_start != before.thread_start)
            _exit(13);
        _exit(0);
    }
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status));
    CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

static void test_exports(void)
{
    const char *plugins[] = {"good", "oldminor", "example"};
    for (size_t i = 0; i < 3; i++) {
        char cmd[1024], line[512];
        snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s/%s.so'", PLUGINS, plugins[i]);
        FILE *p = popen(cmd, "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        int symbols = 0, entry = 0;
        while (fgets(line, sizeof(line), p)) {
            line[strcspn(line, "\n")] = '\0';
            const char *sym = strrchr(line, ' ');
            sym = sym ? sym + 1 : line;
            symbols++;
            entry += strcmp(sym, QUARRY_DRIVER_ENTRY_SYMBOL) == 0;
            if (strcmp(sym, QUARRY_DRIVER_ENTRY_SYMBOL) != 0)
                printf("\n  %s.so exports %s\n", plugins[i], sym);
        }
        CU_ASSERT_EQUAL(pclose(p), 0);
        CU_ASSERT_EQUAL(symbols, 1);
        CU_ASSERT_EQUAL(entry, 1);
    }
}

/* ---- the SDK example ---------------------------------------------------- */

static void test_example_execute(void)
{
    const struct quarry_driver *d = loader_find("example");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct quarry_conn *conn = open_conn(d, "example://numbers?count=3000");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct host_call call;
    struct quarry_error err;

    struct rows all = {0};
    struct quarry_row_sink sink = rows_sink(&all);
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(d->execute(conn, &call.ctx, "  select * from numbers", &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(all.ncolumns, 3);
    CU_ASSERT_EQUAL(all.nrows, 3000);
    CU_ASSERT_EQUAL(all.last_i, 3000);
    CU_ASSERT_STRING_EQUAL(all.last_text, "number 3000");
    CU_ASSERT_EQUAL(all.ends, 1);

    struct rows limited = {0};
    sink = rows_sink(&limited);
    host_call_init(&call, 5000, 5);
    CU_ASSERT_EQUAL(d->execute(conn, &call.ctx, "SELECT n FROM numbers", &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(limited.nrows, 5);

    struct rows stopped = {.stop_after = 2};
    sink = rows_sink(&stopped);
    host_call_init(&call, 5000, 0);
    CU_ASSERT_EQUAL(d->execute(conn, &call.ctx, "SELECT n FROM numbers", &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(stopped.nrows, 2);
    CU_ASSERT_EQUAL(stopped.ends, 1);

    struct rows none = {0};
    sink = rows_sink(&none);
    CU_ASSERT_EQUAL(d->execute(conn, &call.ctx, "DELETE FROM numbers", &sink, &err),
                    QUARRY_ERR_READONLY);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "25006");
    CU_ASSERT_EQUAL(none.begins, 0);
    d->close(conn);
}

static void test_example_deadline_and_cancel(void)
{
    const struct quarry_driver *d = loader_find("example");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct quarry_conn *conn = open_conn(d, "example://numbers?count=100000");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct host_call call;
    struct quarry_error err;

    struct rows late = {0};
    struct quarry_row_sink sink = rows_sink(&late);
    host_call_init(&call, -1, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(d->execute(conn, &call.ctx, "SELECT 1", &sink, &err), QUARRY_ERR_TIMEOUT);
    CU_ASSERT(late.nrows < 100000);
    CU_ASSERT_EQUAL(late.ends, 0);

    struct rows cancelled = {.cancel = d, .conn = conn};
    sink = rows_sink(&cancelled);
    host_call_init(&call, 5000, 0);
    host_error_init(&err);
    CU_ASSERT_EQUAL(d->execute(conn, &call.ctx, "SELECT 1", &sink, &err), QUARRY_ERR_CANCELLED);
    CU_ASSERT(cancelled.nrows < 100000);

    struct rows sampled = {0};
    sink = rows_sink(&sampled);
    host_error_init(&err);
    CU_ASSERT_EQUAL(d->sample(conn, &call.ctx, NULL, "numbers", 7, &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(sampled.nrows, 7);
    CU_ASSERT_EQUAL(d->sample(conn, &call.ctx, NULL, "nope", 7, &sink, &err), QUARRY_ERR_NOT_FOUND);
    d->close(conn);

    struct quarry_open_params params = {.url = "example://numbers?count=lots"};
    QUARRY_STRUCT_INIT(&params);
    host_error_init(&err);
    conn = NULL;
    CU_ASSERT_EQUAL(d->open(&params, &conn, &err), QUARRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(conn);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "count"));
}

struct catalog {
    int tables, columns, indexes, pk;
};

static int cat_table(void *userdata, const struct quarry_table_info *t)
{
    struct quarry_table_info copy;
    host_copy_struct(&copy, sizeof(copy), t);
    ((struct catalog *)userdata)->tables += strcmp(copy.name, "numbers") == 0;
    return QUARRY_SINK_CONTINUE;
}

static int cat_column(void *userdata, const struct quarry_column_info *c)
{
    struct quarry_column_info copy;
    host_copy_struct(&copy, sizeof(copy), c);
    struct catalog *cat = userdata;
    cat->columns++;
    cat->pk += copy.pk_position == 1 && strcmp(copy.name, "n") == 0;
    return QUARRY_SINK_CONTINUE;
}

static int cat_index(void *userdata, const struct quarry_index_info *i)
{
    ((struct catalog *)userdata)->indexes += i->primary;
    return QUARRY_SINK_CONTINUE;
}

static void test_example_introspect(void)
{
    const struct quarry_driver *d = loader_find("example");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct quarry_conn *conn = open_conn(d, "example://");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    struct catalog cat = {0};
    struct quarry_catalog_sink sink = {
        .userdata = &cat, .table = cat_table, .column = cat_column, .index = cat_index};
    QUARRY_STRUCT_INIT(&sink);
    struct quarry_introspect_opts opts = {0};
    QUARRY_STRUCT_INIT(&opts);
    struct host_call call;
    host_call_init(&call, 5000, 0);
    struct quarry_error err;
    host_error_init(&err);
    CU_ASSERT_EQUAL(d->introspect(conn, &call.ctx, &opts, &sink, &err), QUARRY_OK);
    CU_ASSERT_EQUAL(cat.tables, 1);
    CU_ASSERT_EQUAL(cat.columns, 3);
    CU_ASSERT_EQUAL(cat.pk, 1);
    CU_ASSERT_EQUAL(cat.indexes, 1);
    d->close(conn);
}

/* ---- host services ------------------------------------------------------ */

static void test_host_table(void)
{
    const struct quarry_host *h = host_services();
    CU_ASSERT_EQUAL(h->abi_version, QUARRY_ABI_VERSION);
    CU_ASSERT_EQUAL(h->struct_size, sizeof(struct quarry_host));
    CU_ASSERT(h->log && h->alloc && h->realloc && h->free && h->error_set && h->ctx_expired &&
              h->ctx_remaining_ms);
    char *p = h->alloc(16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 'x', 16);
    p = h->realloc(p, 4096);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p[15], 'x');
    h->free(p);
}

static void test_host_error_first_wins(void)
{
    const struct quarry_host *h = host_services();
    struct quarry_error err;
    host_error_init(&err);
    CU_ASSERT_EQUAL(err.abi_version, QUARRY_ABI_VERSION);
    CU_ASSERT_EQUAL(err.struct_size, sizeof(err));
    CU_ASSERT_EQUAL(err.status, QUARRY_OK);

    CU_ASSERT_EQUAL(h->error_set(&err, QUARRY_ERR_QUERY, "42P01", 7, "no table %s", "t"),
                    QUARRY_ERR_QUERY);
    CU_ASSERT_EQUAL(h->error_set(&err, QUARRY_ERR_TIMEOUT, "57014", 9, "later"),
                    QUARRY_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(err.status, QUARRY_ERR_QUERY);
    CU_ASSERT_EQUAL(err.native_code, 7);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "42P01");
    CU_ASSERT_STRING_EQUAL(err.message, "no table t");

    /* Bounded: a long SQLSTATE and message are cut, still terminated. */
    char big[2000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    host_error_init(&err);
    h->error_set(&err, QUARRY_ERR_INTERNAL, "ABCDEFGH", 0, "%s", big);
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "ABCDE");
    CU_ASSERT_EQUAL(strlen(err.message), QUARRY_ERROR_MESSAGE_MAX - 1);

    host_error_init(&err);
    CU_ASSERT_EQUAL(h->error_set(&err, QUARRY_OK, NULL, 0, "not an error"), QUARRY_OK);
    CU_ASSERT_EQUAL(err.status, QUARRY_OK);
    CU_ASSERT_EQUAL(h->error_set(NULL, QUARRY_ERR_AUTH, NULL, 0, "x"), QUARRY_ERR_AUTH);
    h->error_set(&err, QUARRY_ERR_AUTH, NULL, 0, "denied");
    CU_ASSERT_STRING_EQUAL(err.sqlstate, "");
}

static void test_host_ctx(void)
{
    const struct quarry_host *h = host_services();
    struct host_call call;

    host_call_init(&call, 0, 42);
    CU_ASSERT_EQUAL(call.ctx.row_limit, 42);
    CU_ASSERT_EQUAL(call.ctx.deadline_ms, 0);
    CU_ASSERT_FALSE(h->ctx_expired(&call.ctx));
    CU_ASSERT_EQUAL(h->ctx_remaining_ms(&call.ctx), INT32_MAX);
    host_call_cancel(&call);
    CU_ASSERT_TRUE(h->ctx_expired(&call.ctx));

    host_call_init(&call, 60, 0);
    int32_t left = h->ctx_remaining_ms(&call.ctx);
    CU_ASSERT(left > 0 && left <= 60);
    CU_ASSERT_FALSE(h->ctx_expired(&call.ctx));
    usleep(100 * 1000);
    CU_ASSERT_TRUE(h->ctx_expired(&call.ctx));
    CU_ASSERT_EQUAL(h->ctx_remaining_ms(&call.ctx), 0);

    host_call_init(&call, -5, 0);
    CU_ASSERT_TRUE(h->ctx_expired(&call.ctx));

    /* A ctx no host_call stands behind has only its deadline. */
    struct quarry_ctx bare = {0};
    QUARRY_STRUCT_INIT(&bare);
    CU_ASSERT_FALSE(h->ctx_expired(&bare));
    bare.deadline_ms = host_now_ms() - 1;
    CU_ASSERT_TRUE(h->ctx_expired(&bare));
    CU_ASSERT_FALSE(h->ctx_expired(NULL));

    int64_t a = host_now_ms();
    usleep(20 * 1000);
    CU_ASSERT(host_now_ms() - a >= 20);
}

static void test_host_copy_struct(void)
{
    struct v2 {
        uint32_t abi_version, struct_size;
        int32_t a, b;
    };
    struct v2 src = {QUARRY_ABI_VERSION, offsetof(struct v2, b), 5, 6}, dst;
    memset(&dst, 0xff, sizeof(dst));
    CU_ASSERT_EQUAL(host_copy_struct(&dst, sizeof(dst), &src), offsetof(struct v2, b));
    CU_ASSERT_EQUAL(dst.a, 5);
    CU_ASSERT_EQUAL(dst.b, 0);
    CU_ASSERT_EQUAL(dst.struct_size, offsetof(struct v2, b));

    /* A larger writer: the host takes only what it knows. */
    unsigned char big[64], out[32];
    memset(big, 0x11, sizeof(big));
    uint32_t header[2] = {QUARRY_ABI_VERSION, sizeof(big)};
    memcpy(big, header, sizeof(header));
    memset(out, 0xaa, sizeof(out));
    CU_ASSERT_EQUAL(host_copy_struct(out, 16, big), 16);
    CU_ASSERT_EQUAL(out[15], 0x11);
    CU_ASSERT_EQUAL(out[16], 0xaa);
}

static void test_host_log(void)
{
    int level = log_get_level();
    log_set_level(LOG_INFO);
    struct capture cap;
    capture_begin(&cap);
    host_services()->log(QUARRY_LOG_WARN, "good", "hello %d", 42);
    host_services()->log(QUARRY_LOG_DEBUG, "good", "not shown");
    char *log = capture_end(&cap);
    log_set_level(level);
    CU_ASSERT_EQUAL(count_lines(log), 1);
    CU_ASSERT_PTR_NOT_NULL(log && strstr(log, "warn"));
    CU_ASSERT_PTR_NOT_NULL(log && strstr(log, "good: hello 42"));
    free(log);
}

void register_loader_tests(void)
{
    CU_pSuite s = CU_add_suite("loader", suite_init, NULL);
    CU_add_test(s, "a refused driver does not stop the others", test_refusal_does_not_stop_others);
    CU_add_test(s, "each bad plugin is refused with its reason, one log line", test_refusals);
    CU_add_test(s, "a non-ELF file, a directory and a missing dir are refused",
                test_refused_file_kinds);
    CU_add_test(s, "a world-writable plugin file is refused", test_world_writable_file);
    CU_add_test(s, "a world-writable, non-sticky plugin dir is refused", test_world_writable_dir);
    CU_add_test(s, "a symlink into a world-writable dir is refused",
                test_symlink_into_writable_dir);
    CU_add_test(s, "a sticky world-writable dir with a safe file loads", test_sticky_dir_accepted);
    CU_add_test(s, "the good driver loads, init once, calls reach it", test_good_driver);
    CU_add_test(s, "an older, smaller struct is zero-padded", test_old_minor_zero_padded);
    CU_add_test(s, "lookup by name, by scheme (any case), by index", test_find_by_scheme);
    CU_add_test(s, "loader_report lists drivers and refusals", test_report);
    CU_add_test(s, "thread hooks run on each worker thread", test_thread_hooks);
    CU_add_test(s, "shutdown runs global_cleanup once", test_shutdown);
    CU_add_test(s, "plugins export only quarry_driver_entry", test_exports);
    CU_add_test(s, "example: execute, limit, STOP, read-only", test_example_execute);
    CU_add_test(s, "example: deadline, cancel, sample, bad URL", test_example_deadline_and_cancel);
    CU_add_test(s, "example: introspect through the catalog sink", test_example_introspect);
    CU_add_test(s, "host: services table and allocation", test_host_table);
    CU_add_test(s, "host: error_set first wins, bounded", test_host_error_first_wins);
    CU_add_test(s, "host: deadline, cancel, remaining", test_host_ctx);
    CU_add_test(s, "host: copy_struct zero-pads and bounds", test_host_copy_struct);
    CU_add_test(s, "host: driver log lines carry the driver's tag", test_host_log);
}
