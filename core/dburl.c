/*
 * Database URL parsing (see dburl.h for the grammar). Error messages never
 * quote the input: a misplaced delimiter can put a password where a port
 * or a host was expected.
 */
#include "dburl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DNS names are at most 253 bytes; a unix socket path (mongodb) at most 108. */
#define DBURL_MAX_HOST_LEN 255

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Percent-decodes `len` bytes into a new string. 0, or -1 with the reason in `err`. */
static int decode(const char *in, size_t len, const char *what, char **out, char *err,
                  size_t errlen)
{
    char *s = malloc(len + 1);
    size_t n = 0;

    if (!s) {
        set_err(err, errlen, "out of memory decoding the %s", what);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            s[n++] = in[i];
            continue;
        }
        int hi = -1;
        if (i + 2 < len) {
            hi = hex_value((unsigned char)in[i + 1]);
            int lo = hex_value((unsigned char)in[i + 2]);
            hi = (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
        }
        if (hi < 0) {
            set_err(err, errlen, "malformed percent-encoding in the %s", what);
            goto fail;
        }
        if (hi == 0) {
            set_err(err, errlen, "a NUL byte (%%00) in the %s is not allowed", what);
            goto fail;
        }
        s[n++] = (char)hi;
        i += 2;
    }
    s[n] = '\0';
    *out = s;
    return 0;
fail:
    explicit_bzero(s, len + 1);
    free(s);
    return -1;
}

static int scheme_char(int c)
{
    return isalnum(c) || c == '+' || c == '-' || c == '.';
}

/* "scheme://": fills scheme and base_scheme, returns what follows "://" or NULL. */
static const char *parse_scheme(const char *url, struct dburl *out, char *err, size_t errlen)
{
    size_t n = 0;

    while (scheme_char((unsigned char)url[n]))
        n++;
    if (n == 0 || !isalpha((unsigned char)url[0]) || strncmp(url + n, "://", 3) != 0) {
        set_err(err, errlen, "missing or malformed scheme (expected scheme://...)");
        return NULL;
    }
    out->scheme = strndup(url, n);
    size_t base = strcspn(url, "+");
    out->base_scheme = strndup(url, base < n ? base : n);
    if (!out->scheme || !out->base_scheme) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (out->base_scheme[0] == '\0') {
        set_err(err, errlen, "malformed scheme");
        return NULL;
    }
    for (char *p = out->scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (char *p = out->base_scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return url + n + 3;
}

/* SQLAlchemy: "sqlite:///" + path; the path ends at '?' (query) or '#'. */
static int parse_sqlite(const char *rest, struct dburl *out, char *err, size_t errlen)
{
    if (*rest != '/') {
        set_err(err, errlen, "%s",
                *rest == '\0' || *rest == '?' || *rest == '#'
                    ? "a sqlite URL needs a path (sqlite:////absolute/path.db)"
                    : "a sqlite URL takes no host (sqlite:////absolute/path.db)");
        return -1;
    }
    rest++;
    size_t len = strcspn(rest, "?#");
    if (len == 0) {
        set_err(err, errlen, "a sqlite URL needs a path (sqlite:////absolute/path.db)");
        return -1;
    }
    if (decode(rest, len, "path", &out->path, err, errlen) < 0)
        return -1;
    if (rest[len] == '?') {
        const char *q = rest + len + 1;
        out->query = strndup(q, strcspn(q, "#"));
        if (!out->query) {
            set_err(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Digits only, 1..65535. */
static int parse_port(const char *s, size_t len, int *port)
{
    long v = 0;

    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* "[v6]:port" with the brackets: the address must parse as IPv6 (no zone ids). */
static int parse_ipv6_host(const char *s, size_t len, size_t *host_end, char **host, char *err,
                           size_t errlen)
{
    const char *close = memchr(s, ']', len);
    struct in6_addr addr;

    if (!close || close == s + 1) {
        set_err(err, errlen, "malformed IPv6 host (expected [address])");
        return -1;
    }
    *host = strndup(s + 1, (size_t)(close - s - 1));
    if (!*host) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    if (inet_pton(AF_INET6, *host, &addr) != 1) {
        set_err(err, errlen, "malformed IPv6 address in the host");
        return -1;
    }
    *host_end = (size_t)(close - s) + 1;
    if (*host_end < len && s[*host_end] != ':') {
        set_err(err, errlen, "unexpected characters after an IPv6 host");
        return -1;
    }
    return 0;
}

/* One "host[:port]" of the comma-separated list, stored at index out->nhosts. */
static int parse_host(const char *s, size_t len, struct dburl *out, char *err, size_t errlen)
{
    size_t i = out->nhosts++, host_end; /* counted first: dburl_free frees what was set */
    char **host = &out->hosts[i];

    if (len == 0) {
        set_err(err, errlen, "missing host");
        return -1;
    }
    if (s[0] == '[') {
        if (parse_ipv6_host(s, len, &host_end, host, err, errlen) < 0)
            return -1;
    } else {
        const char *colon = memchr(s, ':', len);
        host_end = colon ? (size_t)(colon - s) : len;
        if (host_end == 0) {
            set_err(err, errlen, "missing host before the port");
            return -1;
        }
        if (host_end > DBURL_MAX_HOST_LEN * 3) {
            set_err(err, errlen, "host name too long");
            return -1;
        }
        if (decode(s, host_end, "host", host, err, errlen) < 0)
            return -1;
    }
    if (strlen(*host) > DBURL_MAX_HOST_LEN) {
        set_err(err, errlen, "host name too long");
        return -1;
    }
    for (const char *p = *host; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            set_err(err, errlen, "control character or space in a host");
            return -1;
        }
    }
    if (host_end < len && parse_port(s + host_end + 1, len - host_end - 1, &out->ports[i]) < 0) {
        set_err(err, errlen, "invalid port (expected a number from 1 to 65535)");
        return -1;
    }
    return 0;
}

static int parse_hosts(const char *s, size_t len, struct dburl *out, char *err, size_t errlen)
{
    const char *end = s + len;

    for (const char *p = s;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (out->nhosts == DBURL_MAX_HOSTS) {
            set_err(err, errlen, "too many hosts (at most %d)", DBURL_MAX_HOSTS);
            return -1;
        }
        if (parse_host(p, (size_t)(stop - p), out, err, errlen) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* "user[:password]": split at the first ':'; an empty user is no user. */
static int parse_userinfo(const char *s, size_t len, struct dburl *out, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', len);
    size_t ulen = colon ? (size_t)(colon - s) : len;

    if (ulen && decode(s, ulen, "user name", &out->user, err, errlen) < 0)
        return -1;
    if (colon && decode(colon + 1, len - ulen - 1, "password", &out->password, err, errlen) < 0)
        return -1;
    return 0;
}

static int parse_server(const char *rest, struct dburl *out, char *err, size_t errlen)
{
    /* libpq looks for the userinfo '@' up to the first '/': so do we. */
    size_t region = strcspn(rest, "/");
    const char *at = NULL;
    for (size_t i = 0; i < region; i++)
        if (rest[i] == '@')
            at = rest + i;
    const char *hosts = at ? at + 1 : rest;
    size_t hlen = strcspn(hosts, "/?");

    for (const char *p = rest; p < hosts + hlen; p++) {
        if (*p == ' ') {
            set_err(err, errlen, "a space in the host part of the URL is not allowed");
            return -1;
        }
    }
    if (at && parse_userinfo(rest, (size_t)(at - rest), out, err, errlen) < 0)
        return -1;
    if (parse_hosts(hosts, hlen, out, err, errlen) < 0)
        return -1;
    if (strcmp(out->scheme, "mongodb+srv") == 0 && (out->nhosts != 1 || out->ports[0] != 0)) {
        set_err(err, errlen, "mongodb+srv:// takes exactly one host name and no port");
        return -1;
    }

    const char *p = hosts + hlen;
    if (*p == '/') {
        size_t plen = strcspn(++p, "?");
        if (plen && decode(p, plen, "database name", &out->path, err, errlen) < 0)
            return -1;
        p += plen;
    }
    if (*p == '?' && !(out->query = strdup(p + 1))) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int dburl_parse(const char *url, struct dburl *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!url || !*url) {
        set_err(err, errlen, "empty URL");
        return -1;
    }
    size_t len = strnlen(url, DBURL_MAX_LEN + 1);
    if (len > DBURL_MAX_LEN) {
        set_err(err, errlen, "URL longer than %d bytes", DBURL_MAX_LEN);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f) {
            set_err(err, errlen, "control character in the URL");
            return -1;
        }
    }

    const char *rest = parse_scheme(url, out, err, errlen);
    int rc = -1;
    if (rest)
        rc = strcmp(out->base_scheme, "sqlite") == 0 ? parse_sqlite(rest, out, err, errlen)
                                                     : parse_server(rest, out, err, errlen);
    if (rc < 0)
        dburl_free(out);
    return rc;
}

void dburl_free(struct dburl *url)
{
    if (!url)
        return;
    if (url->password) {
        explicit_bzero(url->password, strlen(url->password));
        free(url->password);
    }
    free(url->scheme);
    free(url->base_scheme);
    free(url->user);
    for (size_t i = 0; i < url->nhosts && i < DBURL_MAX_HOSTS; i++)
        free(url->hosts[i]);
    free(url->path);
    free(url->query);
    memset(url, 0, sizeof(*url));
}
