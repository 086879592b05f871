#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "host.h"
#include "log.h"

/* Bounds: a deployment enables a handful of drivers; refusals are kept for GET /v1/drivers. */
#define LOADER_MAX_DRIVERS 32
#define LOADER_MAX_REFUSED 64
#define LOADER_NAME_MAX 64
#define LOADER_PATH_MAX 1024
#define LOADER_REASON_MAX 1280
#define LOADER_MAX_SCHEMES 16
#define LOADER_SCHEME_MAX 32

/*
 * The ABI v1.0 fields a driver must fill end with `execute`. A struct that
 * stops earlier cannot describe a usable driver; one that stops later but
 * short of the host's size reads the fields it lacks (sample, cancel, and
 * whatever later minors append) as NULL.
 */
#define LOADER_DRIVER_MIN_SIZE                                                                     \
    (offsetof(struct quarry_driver, execute) + sizeof(((struct quarry_driver *)0)->execute))

struct loaded_driver {
    struct quarry_driver drv; /* the host's zero-padded copy */
    char path[LOADER_PATH_MAX];
};

struct refusal {
    char name[LOADER_NAME_MAX + 1];
    char path[LOADER_PATH_MAX];
    char reason[LOADER_REASON_MAX];
};

/* Written only on the main thread before workers start; read-only after. */
static struct loaded_driver drivers[LOADER_MAX_DRIVERS];
static size_t ndrivers;
static struct refusal refusals[LOADER_MAX_REFUSED];
static size_t nrefusals;
static int shut_down;

/* One load in progress: what a refusal records. */
struct attempt {
    const char *name;
    char path[LOADER_PATH_MAX];
    char reason[LOADER_REASON_MAX];
};

static int refuse(struct attempt *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct attempt *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
    va_end(ap);
    return -1;
}

static void record_refusal(const struct attempt *a)
{
    log_msg(LOG_ERROR, "driver '%.*s' refused: %s", LOADER_NAME_MAX, a->name, a->reason);
    if (nrefusals == LOADER_MAX_REFUSED)
        return; /* the log line above still tells ops */
    struct refusal *r = &refusals[nrefusals++];
    snprintf(r->name, sizeof(r->name), "%s", a->name);
    snprintf(r->path, sizeof(r->path), "%s", a->path);
    snprintf(r->reason, sizeof(r->reason), "%s", a->reason);
}

/* A name becomes a file name: no path separators, no dot files, bounded. */
static int name_is_valid(const char *name)
{
    size_t len = strnlen(name, LOADER_NAME_MAX + 1);
    if (len == 0 || len > LOADER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

/* RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), bounded. */
static int scheme_is_valid(const char *scheme)
{
    size_t len = strnlen(scheme, LOADER_SCHEME_MAX + 1);
    if (len == 0 || len > LOADER_SCHEME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = scheme[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
        if (!alpha && (i == 0 || !other))
            return 0;
    }
    return 1;
}

/*
 * Anyone who can write a plugin, or replace it in its directory, runs code in
 * quarryd. A sticky world-writable directory (like /tmp) only lets owners
 * replace their files, so the file's own mode then decides.
 */
static int check_dir(struct attempt *a, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return refuse(a, "%s: plugin directory %s: %s", a->path, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return refuse(a, "%s: plugin directory %s is not a directory", a->path, dir);
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
        return refuse(a, "%s: directory %s is world-writable (and not sticky)", a->path, dir);
    return 0;
}

/* Checks the file and where it really lives; `*resolved` (caller frees) is what to dlopen. */
static int check_file(struct attempt *a, const char *plugin_dir, char **resolved)
{
    if (check_dir(a, plugin_dir) != 0)
        return -1;
    *resolved = realpath(a->path, NULL);
    if (!*resolved)
        return refuse(a, "%s: %s", a->path,
                      errno == ENOENT ? "no such file (is the driver installed?)"
                                      : strerror(errno));
    struct stat st;
    if (stat(*resolved, &st) != 0)
        return refuse(a, "%s: %s", a->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return refuse(a, "%s: not a regular file", a->path);
    if (st.st_mode & S_IWOTH)
        return refuse(a, "%s: file is world-writable (mode %03o)", a->path,
                      (unsigned)(st.st_mode & 0777));
    /* A symlink out of the plugin directory: its target's directory counts too. */
    char *copy = strdup(*resolved);
    if (!copy)
        return refuse(a, "%s: out of memory", a->path);
    int rc = check_dir(a, dirname(copy));
    free(copy);
    return rc;
}

static const struct quarry_driver *call_entry(struct attempt *a, void *handle)
{
    dlerror();
    void *sym = dlsym(handle, QUARRY_DRIVER_ENTRY_SYMBOL);
    if (!sym) {
        refuse(a, "%s: no symbol %s (not a Quarry driver, or built without QUARRY_DRIVER_ENTRY)",
               a->path, QUARRY_DRIVER_ENTRY_SYMBOL);
        return NULL;
    }
    quarry_driver_entry_fn entry = (quarry_driver_entry_fn)sym;
    struct quarry_error err;
    host_error_init(&err);
    const struct quarry_driver *d = entry(host_services(), &err);
    if (!d)
        refuse(a, "%s: %s returned NULL: %s", a->path, QUARRY_DRIVER_ENTRY_SYMBOL,
               err.message[0] ? err.message : "(no error message)");
    return d;
}

static int check_abi(struct attempt *a, const struct quarry_driver *d)
{
    uint32_t major = QUARRY_ABI_MAJOR_OF(d->abi_version);
    if (major != QUARRY_ABI_MAJOR)
        return refuse(a, "%s: ABI major version mismatch: host %u.x, driver %u.x (declares %u.%u)",
                      a->path, (unsigned)QUARRY_ABI_MAJOR, (unsigned)major, (unsigned)major,
                      (unsigned)QUARRY_ABI_MINOR_OF(d->abi_version));
    if (d->struct_size < LOADER_DRIVER_MIN_SIZE)
        return refuse(a,
                      "%s: struct quarry_driver is %u bytes, smaller than the %zu bytes "
                      "ABI %u.0 requires (through execute; the host's is %zu)",
                      a->path, (unsigned)d->struct_size, (size_t)LOADER_DRIVER_MIN_SIZE,
                      (unsigned)QUARRY_ABI_MAJOR, sizeof(struct quarry_driver));
    return 0;
}

static int check_required(struct attempt *a, const struct quarry_driver *d)
{
    char missing[128] = "";
    const struct {
        const char *field;
        int present;
    } required[] = {
        {"version", d->version != NULL}, {"url_schemes", d->url_schemes && d->url_schemes[0]},
        {"open", d->open != NULL},       {"close", d->close != NULL},
        {"execute", d->execute != NULL},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!required[i].present)
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
                     missing[0] ? ", " : "", required[i].field);
    if (missing[0])
        return refuse(a, "%s: missing required field(s): %s", a->path, missing);

    uint32_t kind = d->capabilities & (QUARRY_CAP_SQL | QUARRY_CAP_DOCUMENT);
    if (kind != QUARRY_CAP_SQL && kind != QUARRY_CAP_DOCUMENT)
        return refuse(a, "%s: capabilities must include exactly one of sql and document", a->path);
    if ((d->capabilities & QUARRY_CAP_CANCEL) && !d->cancel)
        return refuse(a, "%s: declares capability cancel but cancel is NULL", a->path);
    if ((d->capabilities & QUARRY_CAP_SAMPLE) && !d->sample)
        return refuse(a, "%s: declares capability sample but sample is NULL", a->path);
    return 0;
}

static int check_schemes(struct attempt *a, const struct quarry_driver *d)
{
    size_t n = 0;
    for (; d->url_schemes[n]; n++) {
        const char *scheme = d->url_schemes[n];
        if (n == LOADER_MAX_SCHEMES)
            return refuse(a, "%s: more than %d URL schemes (missing NULL terminator?)", a->path,
                          LOADER_MAX_SCHEMES);
        if (!scheme_is_valid(scheme))
            return refuse(a, "%s: invalid URL scheme \"%.*s\"", a->path, LOADER_SCHEME_MAX, scheme);
        const struct quarry_driver *owner = loader_find_by_scheme(scheme);
        if (owner)
            return refuse(a, "%s: URL scheme \"%s\" is already claimed by driver \"%s\"", a->path,
                          scheme, owner->name);
    }
    return 0;
}

static int check_identity(struct attempt *a, const struct quarry_driver *d)
{
    if (!d->name)
        return refuse(a, "%s: the driver declares no name", a->path);
    if (strncmp(d->name, a->name, LOADER_NAME_MAX + 1) != 0)
        return refuse(a, "%s: the driver declares name \"%.*s\" but the file is named \"%s\"",
                      a->path, LOADER_NAME_MAX, d->name, a->name);
    if (check_required(a, d) != 0)
        return -1;
    return check_schemes(a, d);
}

static int run_global_init(struct attempt *a, const struct quarry_driver *d)
{
    if (!d->global_init)
        return 0;
    struct quarry_error err;
    host_error_init(&err);
    int rc = d->global_init(&err);
    if (rc != QUARRY_OK)
        return refuse(a, "%s: global_init failed (status %d): %s", a->path, rc,
                      err.message[0] ? err.message : "(no error message)");
    return 0;
}

/*
 * Never dlclose: a client library may have registered exit handlers or
 * threads, and even a refused plugin ran its constructors and entry.
 */
static int load_one(const char *plugin_dir, struct attempt *a, struct quarry_driver *out)
{
    if (!name_is_valid(a->name))
        return refuse(a, "invalid driver name \"%.*s\" (letters, digits, '_' and '-', at most %d)",
                      LOADER_NAME_MAX, a->name, LOADER_NAME_MAX);
    if (!plugin_dir || !plugin_dir[0])
        return refuse(a, "%s.so: no plugin directory given", a->name);
    size_t dirlen = strlen(plugin_dir);
    while (dirlen > 1 && plugin_dir[dirlen - 1] == '/')
        dirlen--;
    int n = snprintf(a->path, sizeof(a->path), "%.*s/%s.so", (int)dirlen, plugin_dir, a->name);
    if (n < 0 || (size_t)n >= sizeof(a->path))
        return refuse(a, "%s.so: plugin path longer than %d bytes", a->name, LOADER_PATH_MAX - 1);
    if (shut_down)
        return refuse(a, "%s: the loader is shut down", a->path);
    if (loader_find(a->name))
        return refuse(a, "%s: a driver named \"%s\" is already loaded", a->path, a->name);
    if (ndrivers == LOADER_MAX_DRIVERS)
        return refuse(a, "%s: too many drivers (at most %d)", a->path, LOADER_MAX_DRIVERS);

    char *resolved = NULL;
    int rc = check_file(a, plugin_dir, &resolved);
    if (rc != 0)
        goto out;
    rc = -1;
    void *handle = dlopen(resolved, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        /* dlerror() repeats the path it was given; the reason already leads with ours. */
        const char *why = dlerror();
        size_t len = strlen(resolved);
        if (why && strncmp(why, resolved, len) == 0 && strncmp(why + len, ": ", 2) == 0)
            why += len + 2;
        refuse(a, "%s: dlopen failed: %s", a->path, why ? why : "unknown error");
        goto out;
    }
    const struct quarry_driver *d = call_entry(a, handle);
    if (!d || check_abi(a, d) != 0)
        goto out;
    host_copy_struct(out, sizeof(*out), d);
    if (check_identity(a, out) != 0 || run_global_init(a, out) != 0)
        goto out;
    rc = 0;
out:
    free(resolved);
    return rc;
}

int loader_load(const char *plugin_dir, const char *const *names, size_t nnames)
{
    int loaded = 0;
    for (size_t i = 0; i < nnames; i++) {
        struct attempt a = {.name = names[i] ? names[i] : ""};
        struct quarry_driver copy;
        if (load_one(plugin_dir, &a, &copy) != 0) {
            record_refusal(&a);
            continue;
        }
        struct loaded_driver *slot = &drivers[ndrivers++];
        slot->drv = copy;
        snprintf(slot->path, sizeof(slot->path), "%s", a.path);
        log_msg(LOG_INFO, "driver %s %s loaded from %s (ABI %u.%u)", copy.name, copy.version,
                a.path, (unsigned)QUARRY_ABI_MAJOR_OF(copy.abi_version),
                (unsigned)QUARRY_ABI_MINOR_OF(copy.abi_version));
        loaded++;
    }
    return loaded;
}

const struct quarry_driver *loader_find(const char *name)
{
    for (size_t i = 0; name && i < ndrivers; i++)
        if (strcmp(drivers[i].drv.name, name) == 0)
            return &drivers[i].drv;
    return NULL;
}

const struct quarry_driver *loader_find_by_scheme(const char *scheme)
{
    for (size_t i = 0; scheme && i < ndrivers; i++)
        for (const char *const *s = drivers[i].drv.url_schemes; *s; s++)
            if (strcasecmp(*s, scheme) == 0)
                return &drivers[i].drv;
    return NULL;
}

size_t loader_count(void)
{
    return ndrivers;
}

const struct quarry_driver *loader_at(size_t i)
{
    return i < ndrivers ? &drivers[i].drv : NULL;
}

const char *loader_refusal(const char *name)
{
    /* The latest refusal: a name may be retried (and refused as a duplicate). */
    for (size_t i = nrefusals; name && i > 0; i--)
        if (strcmp(refusals[i - 1].name, name) == 0)
            return refusals[i - 1].reason;
    return NULL;
}

/* Plugin and operator strings need not be UTF-8; JSON null beats a failed report. */
static json_t *json_text(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *capabilities_json(uint32_t caps)
{
    static const struct {
        uint32_t flag;
        const char *name;
    } names[] = {
        {QUARRY_CAP_SQL, "sql"},
        {QUARRY_CAP_DOCUMENT, "document"},
        {QUARRY_CAP_READONLY_TX, "readonly_tx"},
        {QUARRY_CAP_CANCEL, "cancel"},
        {QUARRY_CAP_SAMPLE, "sample"},
        {QUARRY_CAP_SCHEMAS, "schemas"},
        {QUARRY_CAP_STATEMENT_TIMEOUT, "statement_timeout"},
    };
    json_t *list = json_array();
    for (size_t i = 0; list && i < sizeof(names) / sizeof(names[0]); i++)
        if ((caps & names[i].flag) && json_array_append_new(list, json_string(names[i].name)))
            goto err;
    return list;
err:
    json_decref(list);
    return NULL;
}

static json_t *driver_json(const struct loaded_driver *ld)
{
    const struct quarry_driver *d = &ld->drv;
    char abi[24];
    snprintf(abi, sizeof(abi), "%u.%u", (unsigned)QUARRY_ABI_MAJOR_OF(d->abi_version),
             (unsigned)QUARRY_ABI_MINOR_OF(d->abi_version));
    json_t *schemes = json_array();
    for (const char *const *s = d->url_schemes; schemes && *s; s++)
        if (json_array_append_new(schemes, json_text(*s)) != 0) {
            json_decref(schemes);
            schemes = NULL;
        }
    /* "o" steals each reference, even when json_pack fails. */
    return json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "name", json_text(d->name),
                     "version", json_text(d->version), "abi_version", abi, "url_schemes", schemes,
                     "capabilities", capabilities_json(d->capabilities), "dialect",
                     json_text(d->dialect), "description", json_text(d->description), "path",
                     json_text(ld->path));
}

json_t *loader_report(void)
{
    json_t *loaded = json_array(), *refused = json_array();
    for (size_t i = 0; loaded && i < ndrivers; i++)
        if (json_array_append_new(loaded, driver_json(&drivers[i])) != 0)
            goto err;
    for (size_t i = 0; refused && i < nrefusals; i++) {
        const struct refusal *r = &refusals[i];
        json_t *item =
            json_pack("{s:o, s:o, s:o}", "name", json_text(r->name), "path",
                      json_text(r->path[0] ? r->path : NULL), "reason", json_text(r->reason));
        if (json_array_append_new(refused, item) != 0)
            goto err;
    }
    if (!loaded || !refused)
        goto err;
    return json_pack("{s:o, s:o}", "drivers", loaded, "refused", refused);
err:
    json_decref(loaded);
    json_decref(refused);
    return NULL;
}

static void thread_start_one(const struct quarry_driver *d)
{
    struct quarry_error err;
    host_error_init(&err);
    int rc = d->thread_start(&err);
    if (rc != QUARRY_OK)
        log_tagged(LOG_ERROR, d->name, "thread_start failed (status %d): %s", rc,
                   err.message[0] ? err.message : "(no error message)");
}

void loader_thread_start(void)
{
    for (size_t i = 0; !shut_down && i < ndrivers; i++)
        if (drivers[i].drv.thread_start)
            thread_start_one(&drivers[i].drv);
}

void loader_thread_stop(void)
{
    for (size_t i = ndrivers; !shut_down && i > 0; i--)
        if (drivers[i - 1].drv.thread_stop)
            drivers[i - 1].drv.thread_stop();
}

void loader_shutdown(void)
{
    if (shut_down)
        return;
    shut_down = 1;
    /* Reverse load order, as libraries unwind; the code stays mapped. */
    for (size_t i = ndrivers; i > 0; i--)
        if (drivers[i - 1].drv.global_cleanup)
            drivers[i - 1].drv.global_cleanup();
}
