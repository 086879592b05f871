/*
 * Target guards. Host entries are CIDRs (IPv4 and IPv6) or host names
 * ("db.internal", "*.corp.example": any name strictly below corp.example).
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4
 * address it reaches, and numeric host forms that getaddrinfo accepts
 * without DNS ("2852039166", "0xa9.0xfe.0xa9.0xfe") as the address they
 * denote, so neither slips past an IPv4 entry.
 *
 * With an allow list, a literal address must be in an allowed CIDR and a
 * host name must be on it by name, or else (when the list has CIDRs) pass
 * the literal check and be decided by guard_check_host_resolved, where
 * every address must be allowed. A name allowed by name is held only to the
 * denials once resolved. Loopback is not denied by default.
 *
 * The guard is immutable after guard_new, so threads share it freely.
 */
#include "guard.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define GUARD_MAX_ENTRIES 4096
#define GUARD_MAX_NAME 253
#define GUARD_MAX_DIRS 64

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
    const char *reason; /* static */
};

struct hostpat {
    char *name;   /* lower-case, no trailing dot; for "*.x" the suffix ".x" */
    int wildcard; /* 1: matches names ending in `name`, never `name` itself */
    const char *reason;
};

struct hostlist {
    struct cidr *cidrs;
    size_t ncidrs;
    struct hostpat *names;
    size_t nnames;
};

struct guard {
    struct hostlist allow, deny; /* `deny` holds the default denials first */
    char **dirs;                 /* realpath'd sqlite directories */
    size_t ndirs;
};

static const struct {
    const char *entry;
    const char *reason;
} DEFAULT_DENY[] = {
    {"169.254.0.0/16", "link-local / cloud metadata"},
    {"fe80::/10", "IPv6 link-local"},
    {"fd00:ec2::254/128", "cloud metadata (AWS IPv6)"},
    {"100.100.100.200/32", "cloud metadata (Alibaba Cloud)"},
    {"metadata.google.internal", "cloud metadata (Google Cloud)"},
    {"metadata.goog", "cloud metadata (Google Cloud)"},
};
#define DENY_LIST_REASON "deny list"

static void __attribute__((format(printf, 3, 4)))
set_msg(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (!buf || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* ---- addresses ---- */

/* ::ffff:a.b.c.d reaches a.b.c.d: judge it as that IPv4 address. */
static void unmap_v4(int *family, unsigned char *addr)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (*family == AF_INET6 && memcmp(addr, prefix, sizeof(prefix)) == 0) {
        memmove(addr, addr + 12, 4);
        *family = AF_INET;
    }
}

static int cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;

    if (c->family != family || memcmp(c->addr, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

static const struct cidr *cidr_match(const struct hostlist *l, int family,
                                     const unsigned char *addr)
{
    for (size_t i = 0; i < l->ncidrs; i++)
        if (cidr_contains(&l->cidrs[i], family, addr))
            return &l->cidrs[i];
    return NULL;
}

/* Only what getaddrinfo would take as a number: digits, dots, hex with 0x. */
static int looks_numeric(const char *s)
{
    return *s && isdigit((unsigned char)*s) && strspn(s, "0123456789abcdefABCDEFxX.") == strlen(s);
}

/*
 * A literal address in `host` (brackets and an IPv6 zone tolerated): 1 with
 * the address, 0 when it is a name, -1 when it is neither (a malformed IPv6).
 */
static int parse_addr(const char *host, int *family, unsigned char *addr)
{
    char buf[INET6_ADDRSTRLEN + 64];
    size_t len = strlen(host);

    if (len >= sizeof(buf))
        return strchr(host, ':') ? -1 : 0;
    memcpy(buf, host, len + 1);
    if (buf[0] == '[' && len > 2 && buf[len - 1] == ']') {
        memmove(buf, buf + 1, len - 2);
        buf[len - 2] = '\0';
    }
    if (strchr(buf, ':')) {
        buf[strcspn(buf, "%")] = '\0'; /* fe80::1%eth0 is still fe80::1 */
        if (inet_pton(AF_INET6, buf, addr) != 1)
            return -1;
        *family = AF_INET6;
        unmap_v4(family, addr);
        return 1;
    }
    struct in_addr in;
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = AF_INET;
        return 1;
    }
    if (looks_numeric(buf) && inet_aton(buf, &in)) {
        memcpy(addr, &in, 4);
        *family = AF_INET;
        return 1;
    }
    return 0;
}

/* ---- names ---- */

/* Lower-cases `host` into `out` without a trailing dot; -1 if empty or too long. */
static int normalize_name(const char *host, char *out, size_t outlen)
{
    size_t len = strlen(host);

    if (len && host[len - 1] == '.')
        len--;
    if (len == 0 || len > GUARD_MAX_NAME || len >= outlen)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    out[len] = '\0';
    return 0;
}

static const struct hostpat *name_match(const struct hostlist *l, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < l->nnames; i++) {
        const struct hostpat *p = &l->names[i];
        size_t plen = strlen(p->name);
        if (!p->wildcard ? strcmp(name, p->name) == 0
                         : len > plen && strcmp(name + len - plen, p->name) == 0)
            return p;
    }
    return NULL;
}

/* Labels of letters, digits, '-' and '_'; the last not all digits (that is a bad IP). */
static const char *name_entry_problem(const char *name)
{
    const char *label = name;

    for (const char *p = name;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - label);
            if (n == 0 || n > 63)
                return "empty or overlong label";
            if (*p == '\0')
                return strspn(label, "0123456789") == n ? "malformed IP address" : NULL;
            label = p + 1;
        } else if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
            return "not a host name, IP address or CIDR";
        }
    }
}

/* ---- lists ---- */

static int grow(void **items, size_t n, size_t size)
{
    if (n >= GUARD_MAX_ENTRIES)
        return -1;
    void *p = realloc(*items, (n + 1) * size);
    if (!p)
        return -1;
    *items = p;
    return 0;
}

static int add_cidr(struct hostlist *l, const char *text, const char *reason, const char *list,
                    char *err, size_t errlen)
{
    char addr_text[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    struct cidr c = {.reason = reason};
    unsigned max;

    if (alen >= sizeof(addr_text))
        goto bad;
    memcpy(addr_text, text, alen);
    addr_text[alen] = '\0';
    if (inet_pton(AF_INET, addr_text, c.addr) == 1)
        c.family = AF_INET;
    else if (inet_pton(AF_INET6, addr_text, c.addr) == 1)
        c.family = AF_INET6;
    else
        goto bad;
    max = c.family == AF_INET ? 32 : 128;
    c.prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t nd = strspn(p, "0123456789");
        if (nd == 0 || nd > 3 || p[nd] != '\0' || (unsigned)atoi(p) > max) {
            set_msg(err, errlen, "malformed entry \"%s\" in the %s: the prefix length must be 0-%u",
                    text, list, max);
            return -1;
        }
        c.prefix = (unsigned)atoi(p);
    }
    if (c.prefix >= 96) { /* ::ffff:a.b.c.d/120 is an IPv4 range */
        unmap_v4(&c.family, c.addr);
        if (c.family == AF_INET && max == 128)
            c.prefix -= 96;
    }
    if (grow((void **)&l->cidrs, l->ncidrs, sizeof(c)) < 0) {
        set_msg(err, errlen, "too many entries in the %s", list);
        return -1;
    }
    l->cidrs[l->ncidrs++] = c;
    return 0;
bad:
    set_msg(err, errlen, "malformed entry \"%s\" in the %s: not an IP address or CIDR", text, list);
    return -1;
}

static int add_name(struct hostlist *l, const char *text, const char *reason, const char *list,
                    char *err, size_t errlen)
{
    char name[GUARD_MAX_NAME + 1];
    int wildcard = strncmp(text, "*.", 2) == 0;
    const char *problem = NULL;

    if (normalize_name(text + (wildcard ? 2 : 0), name, sizeof(name)) < 0)
        problem = "empty or overlong name";
    else
        problem = name_entry_problem(name);
    if (problem) {
        set_msg(err, errlen, "malformed entry \"%s\" in the %s: %s", text, list, problem);
        return -1;
    }
    struct hostpat p = {.wildcard = wildcard, .reason = reason};
    if (asprintf(&p.name, "%s%s", wildcard ? "." : "", name) < 0 ||
        grow((void **)&l->names, l->nnames, sizeof(p)) < 0) {
        free(p.name);
        set_msg(err, errlen, "too many entries in the %s", list);
        return -1;
    }
    l->names[l->nnames++] = p;
    return 0;
}

/* Digits and dots only ("1.2.3") is an address attempt, never a host name. */
static int add_entry(struct hostlist *l, const char *text, const char *reason, const char *list,
                     char *err, size_t errlen)
{
    if (strchr(text, '/') || strchr(text, ':') || strspn(text, "0123456789.") == strlen(text))
        return add_cidr(l, text, reason, list, err, errlen);
    return add_name(l, text, reason, list, err, errlen);
}

/* Comma- (or space-) separated entries. */
static int parse_list(struct hostlist *l, const char *spec, const char *reason, const char *list,
                      char *err, size_t errlen)
{
    const char *p = spec ? spec : "";

    while (*p) {
        p += strspn(p, ", \t\r\n");
        size_t n = strcspn(p, ", \t\r\n");
        if (n == 0)
            break;
        char *entry = strndup(p, n);
        if (!entry) {
            set_msg(err, errlen, "out of memory");
            return -1;
        }
        int rc = add_entry(l, entry, reason, list, err, errlen);
        free(entry);
        if (rc < 0)
            return -1;
        p += n;
    }
    return 0;
}

static void hostlist_free(struct hostlist *l)
{
    for (size_t i = 0; i < l->nnames; i++)
        free(l->names[i].name);
    free(l->names);
    free(l->cidrs);
}

static int hostlist_empty(const struct hostlist *l)
{
    return l->ncidrs == 0 && l->nnames == 0;
}

/* ---- sqlite directories ---- */

static int add_dir(struct guard *g, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    char *real = realpath(dir, NULL);

    if (!real) {
        set_msg(err, errlen, "sqlite directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        set_msg(err, errlen, "sqlite directory %s is not a directory", dir);
        free(real);
        return -1;
    }
    if (g->ndirs == GUARD_MAX_DIRS || grow((void **)&g->dirs, g->ndirs, sizeof(char *)) < 0) {
        set_msg(err, errlen, "too many sqlite directories (at most %d)", GUARD_MAX_DIRS);
        free(real);
        return -1;
    }
    g->dirs[g->ndirs++] = real;
    return 0;
}

static int parse_dirs(struct guard *g, const char *spec, char *err, size_t errlen)
{
    const char *p = spec ? spec : "";

    while (*p) {
        p += strspn(p, ":, \t\r\n");
        size_t n = strcspn(p, ":,\r\n");
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (n == 0)
            break;
        char *dir = strndup(p, n);
        if (!dir) {
            set_msg(err, errlen, "out of memory");
            return -1;
        }
        int rc = add_dir(g, dir, err, errlen);
        free(dir);
        if (rc < 0)
            return -1;
        p += n;
    }
    return 0;
}

/* ---- the guard ---- */

struct guard *guard_new(const char *allow, const char *deny, const char *sqlite_dirs, char *err,
                        size_t errlen)
{
    struct guard *g = calloc(1, sizeof(*g));

    if (!g) {
        set_msg(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(DEFAULT_DENY) / sizeof(DEFAULT_DENY[0]); i++)
        if (add_entry(&g->deny, DEFAULT_DENY[i].entry, DEFAULT_DENY[i].reason, "default denials",
                      err, errlen) < 0)
            goto err;
    if (parse_list(&g->allow, allow, NULL, "allow list", err, errlen) < 0 ||
        parse_list(&g->deny, deny, DENY_LIST_REASON, "deny list", err, errlen) < 0 ||
        parse_dirs(g, sqlite_dirs, err, errlen) < 0)
        goto err;
    return g;
err:
    guard_free(g);
    return NULL;
}

void guard_free(struct guard *guard)
{
    if (!guard)
        return;
    hostlist_free(&guard->allow);
    hostlist_free(&guard->deny);
    for (size_t i = 0; i < guard->ndirs; i++)
        free(guard->dirs[i]);
    free(guard->dirs);
    free(guard);
}

/*
 * An address, literal (`resolved` NULL) or one that `host` resolved to.
 * `by_name`: the host is on the allow list by name, so only denials apply.
 */
static int check_addr(const struct guard *g, const char *host, const char *resolved, int family,
                      const unsigned char *addr, int by_name, char *why, size_t len)
{
    char shown[INET6_ADDRSTRLEN + 64] = "";
    const struct cidr *denied = cidr_match(&g->deny, family, addr);
    int allowed = by_name || hostlist_empty(&g->allow) || cidr_match(&g->allow, family, addr);

    if (!denied && allowed)
        return 0;
    if (resolved)
        snprintf(shown, sizeof(shown), " resolves to %s, which", resolved);
    if (denied)
        set_msg(why, len, "host %.255s%s is denied (%s)", host, shown, denied->reason);
    else
        set_msg(why, len, "host %.255s%s is not on the allow list", host, shown);
    return -1;
}

int guard_check_host_literal(const struct guard *guard, const char *host, char *why, size_t len)
{
    char name[GUARD_MAX_NAME + 1];
    unsigned char addr[16];
    int family = 0;
    const struct hostpat *p;

    assert(guard);
    if (!host || !*host) {
        set_msg(why, len, "no host given");
        return -1;
    }
    int kind = parse_addr(host, &family, addr);
    if (kind < 0) {
        set_msg(why, len, "host %.255s is not a valid IPv6 address", host);
        return -1;
    }
    if (kind == 1)
        return check_addr(guard, host, NULL, family, addr, 0, why, len);
    if (normalize_name(host, name, sizeof(name)) < 0) {
        set_msg(why, len, "host name too long");
        return -1;
    }
    if ((p = name_match(&guard->deny, name))) {
        set_msg(why, len, "host %.255s is denied (%s)", host, p->reason);
        return -1;
    }
    if (hostlist_empty(&guard->allow) || name_match(&guard->allow, name) || guard->allow.ncidrs)
        return 0;
    set_msg(why, len, "host %.255s is not on the allow list", host);
    return -1;
}

int guard_check_host_resolved(const struct guard *guard, const char *host, char *why, size_t len)
{
    char name[GUARD_MAX_NAME + 1];
    unsigned char addr[16];
    int family = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;

    if (guard_check_host_literal(guard, host, why, len) < 0)
        return -1;
    if (parse_addr(host, &family, addr) != 0 || normalize_name(host, name, sizeof(name)) < 0)
        return 0; /* a literal address: judged above, nothing to resolve */
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return 0; /* the driver reports an unknown host itself */

    int by_name = name_match(&guard->allow, name) != NULL, rc = 0;
    for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN];
        if (ai->ai_family == AF_INET) {
            family = AF_INET;
            memcpy(addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
        } else if (ai->ai_family == AF_INET6) {
            family = AF_INET6;
            memcpy(addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
            unmap_v4(&family, addr);
        } else {
            continue;
        }
        inet_ntop(family, addr, text, sizeof(text));
        rc = check_addr(guard, host, text, family, addr, by_name, why, len);
    }
    freeaddrinfo(res);
    return rc;
}

/*
 * realpath, or for a file not created yet, its directory's realpath plus
 * its name. A dangling symlink is not "not created yet": refused.
 */
static char *resolve_path(const char *path)
{
    char *real = realpath(path, NULL), *dcopy = NULL, *bcopy = NULL, *dir = NULL;
    struct stat st;

    if (real || errno != ENOENT || lstat(path, &st) == 0 || errno != ENOENT)
        return real;
    dcopy = strdup(path);
    bcopy = strdup(path);
    if (!dcopy || !bcopy)
        goto out;
    const char *base = basename(bcopy);
    dir = realpath(dirname(dcopy), NULL);
    if (!dir || strcmp(base, "..") == 0 || strcmp(base, ".") == 0 || strcmp(base, "/") == 0)
        goto out;
    if (asprintf(&real, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, base) < 0)
        real = NULL;
out:
    free(dir);
    free(dcopy);
    free(bcopy);
    return real;
}

/* Inside `dir` on a component boundary: /data/dbs admits /data/dbs/x, not /data/dbs-evil/x. */
static int path_inside(const char *real, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return real[0] == '/' && real[1] != '\0';
    return strncmp(real, dir, n) == 0 && real[n] == '/' && real[n + 1] != '\0';
}

int guard_check_sqlite_path(const struct guard *guard, const char *path, char *why, size_t len)
{
    assert(guard);
    if (!path || !*path) {
        set_msg(why, len, "empty sqlite path");
        return -1;
    }
    if (strnlen(path, PATH_MAX) >= PATH_MAX) {
        set_msg(why, len, "sqlite path too long");
        return -1;
    }
    if (guard->ndirs == 0)
        return 0;

    char *real = resolve_path(path);
    int inside = 0;
    for (size_t i = 0; real && i < guard->ndirs && !inside; i++)
        inside = path_inside(real, guard->dirs[i]);
    free(real);
    if (inside)
        return 0;
    /* One message whether or not the path exists: no probing of the filesystem. */
    set_msg(why, len, "sqlite path %.512s does not exist or is outside the allowed directories",
            path);
    return -1;
}

int guard_sqlite_unconfined(const struct guard *guard)
{
    assert(guard);
    return guard->ndirs == 0;
}
