/*
 * From what a user pastes to libpq connection keywords.
 *
 * URLs: postgres:// and postgresql://, any case, and SQLAlchemy's
 * postgresql+driver:// (the "+driver" part is dropped). Everything after
 * "://" is libpq's URI syntax, parsed by libpq itself (PQconninfoParse):
 * percent-encoded credentials, [IPv6] hosts, host lists, and the ?query
 * options libpq knows (libpq refuses any other, so does the driver).
 *
 * connection_params: libpq keywords from an allow-list (TLS, GSS,
 * keepalives, target_session_attrs, options, and the URL's own parts);
 * anything else is refused, so that a misspelt "sslmode" never silently
 * weakens TLS. A parameter overrides the URL's value.
 *
 * Refused wherever they come from, because they would reach into the
 * quarryd host rather than a database server: unix-domain sockets (no
 * host, or a host that is a path), `service` and `passfile` (files of the
 * quarryd host) and `replication`. For the same reason libpq never takes
 * credentials from quarryd's environment: with no password given the
 * driver passes a placeholder when PGPASSWORD is set (libpq would use it),
 * and always a password file that does not exist (not ~/.pgpass). PGSERVICE
 * in quarryd's environment cannot be kept out that way; the entry warns.
 *
 * The driver's own settings win over the URL's: application_name=quarry,
 * client_encoding=UTF8 (the value conversion relies on it), and
 * connect_timeout, in whole seconds as libpq wants, as a backstop behind the
 * driver's own millisecond timer.
 *
 * Messages never contain the password: a URL libpq cannot parse is parsed
 * again with its credentials masked, and that message is the one reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pg_internal.h"

/* A path that cannot exist (its parent is not a directory): no password file. */
#define PG_NO_PASSFILE "/dev/null/quarry-no-passfile"
/* Sent instead of the process's PGPASSWORD when the user gave no password. */
#define PG_NO_PASSWORD "quarry: no password given"

static const char *const allowed_params[] = {"host",
                                             "hostaddr",
                                             "port",
                                             "dbname",
                                             "user",
                                             "password",
                                             "options",
                                             "sslmode",
                                             "sslrootcert",
                                             "sslcert",
                                             "sslkey",
                                             "sslpassword",
                                             "sslcrl",
                                             "sslcrldir",
                                             "sslsni",
                                             "sslcompression",
                                             "ssl_min_protocol_version",
                                             "ssl_max_protocol_version",
                                             "channel_binding",
                                             "gssencmode",
                                             "krbsrvname",
                                             "gsslib",
                                             "target_session_attrs",
                                             "keepalives",
                                             "keepalives_idle",
                                             "keepalives_interval",
                                             "keepalives_count",
                                             "tcp_user_timeout",
                                             NULL};

static const char *const refused_keys[] = {"service", "passfile", "replication", NULL};

static const char *const sslmodes[] = {"disable",   "allow",       "prefer", "require",
                                       "verify-ca", "verify-full", NULL};
static const char *const gss_modes[] = {"disable", "prefer", "require", NULL};
static const char *const session_attrs[] = {"any",     "read-write",     "read-only", "primary",
                                            "standby", "prefer-standby", NULL};
static const char *const tls_versions[] = {"", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL};

/* Values libpq would refuse only once connecting: refused here, as the caller's mistake. */
static const struct {
    const char *key;
    const char *const *values;
} enum_rules[] = {
    {"sslmode", sslmodes},
    {"gssencmode", gss_modes},
    {"channel_binding", gss_modes},
    {"target_session_attrs", session_attrs},
    {"ssl_min_protocol_version", tls_versions},
    {"ssl_max_protocol_version", tls_versions},
};

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static const char *ci_get(const struct pg_conninfo *ci, const char *key)
{
    for (size_t i = 0; i < ci->n; i++)
        if (strcmp(ci->keys[i], key) == 0)
            return ci->values[i];
    return NULL;
}

/* Sets or replaces `key`; both strings must outlive `ci`. The arrays are sized up front. */
static void ci_set(struct pg_conninfo *ci, const char *key, const char *value)
{
    for (size_t i = 0; i < ci->n; i++) {
        if (strcmp(ci->keys[i], key) == 0) {
            ci->values[i] = value;
            return;
        }
    }
    if (ci->n < ci->cap) {
        ci->keys[ci->n] = key;
        ci->values[ci->n] = value;
        ci->n++;
    }
}

static int scheme_chars_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* "scheme[+driver]://rest" as "postgresql://rest" (caller frees with pg_host_->free). */
static int normalize_url(const char *url, char **out, struct quarry_error *err)
{
    const char *sep = strstr(url, "://");
    size_t slen = sep ? (size_t)(sep - url) : 0;
    if (!sep || slen == 0 || slen > 40 || !scheme_chars_ok(url, slen))
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                   "not a PostgreSQL URL: expected "
                                   "postgresql://user:password@host:port/database");
    const char *plus = memchr(url, '+', slen);
    size_t base = plus ? (size_t)(plus - url) : slen;
    if (!((base == 8 && strncasecmp(url, "postgres", 8) == 0) ||
          (base == 10 && strncasecmp(url, "postgresql", 10) == 0)))
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                   "unsupported URL scheme \"%.*s\" for the postgres driver "
                                   "(use postgresql://)",
                                   (int)slen, url);
    const char *rest = sep + 3;
    size_t len = strlen("postgresql://") + strlen(rest) + 1;
    *out = pg_host_->alloc(len);
    if (!*out)
        return pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    snprintf(*out, len, "postgresql://%s", rest);
    return QUARRY_OK;
}

/*
 * `url` with the user:password part and any password= / sslpassword= query
 * values replaced by "***". libpq stops the authority at '@' or '/', so do we.
 */
static char *redact_url(const char *url)
{
    size_t cap = strlen(url) + 16;
    char *out = pg_host_->alloc(cap);
    if (!out)
        return NULL;
    const char *auth = url + strlen("postgresql://");
    size_t span = strcspn(auth, "@/");
    size_t o;
    if (auth[span] == '@') {
        o = (size_t)snprintf(out, cap, "postgresql://***");
        auth += span;
    } else {
        o = (size_t)snprintf(out, cap, "postgresql://");
    }
    const char *query = strchr(auth, '?');
    size_t head = query ? (size_t)(query - auth) + 1 : strlen(auth);
    memcpy(out + o, auth, head);
    o += head;
    for (const char *p = query ? query + 1 : NULL; p && *p;) {
        size_t plen = strcspn(p, "&");
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        int secret = (klen == 8 && strncmp(p, "password", 8) == 0) ||
                     (klen == 11 && strncmp(p, "sslpassword", 11) == 0);
        if (secret && o + klen + 6 < cap) {
            memcpy(out + o, p, klen);
            o += klen;
            memcpy(out + o, "=***", 4);
            o += 4;
        } else if (o + plen + 2 < cap) {
            memcpy(out + o, p, plen);
            o += plen;
        }
        p += plen;
        if (*p == '&') {
            out[o++] = '&';
            p++;
        }
    }
    out[o] = '\0';
    return out;
}

/* libpq could not parse `url`: report why without echoing a credential. */
static int parse_failed(const char *url, struct quarry_error *err)
{
    char *redacted = redact_url(url);
    if (!redacted)
        return pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(redacted, &msg);
    int rc;
    if (opts) {
        /* Only the credentials were malformed. */
        PQconninfoFree(opts);
        rc = pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                 "invalid URL: the user name or password is malformed "
                                 "(percent-encode reserved characters)");
    } else {
        size_t len = msg ? strlen(msg) : 0;
        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            len--;
        rc = pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "invalid URL: %.*s", (int)len,
                                 msg ? msg : "libpq could not parse it");
    }
    if (msg)
        PQfreemem(msg);
    pg_host_->free(redacted);
    return rc;
}

/* Hosts must be network hosts: a path or an empty host means a unix-domain socket. */
static int check_hosts(const struct pg_conninfo *ci, struct quarry_error *err)
{
    const char *host = ci_get(ci, "host");
    const char *hostaddr = ci_get(ci, "hostaddr");
    int have_addr = hostaddr && *hostaddr;
    if (!host || !*host) {
        if (have_addr)
            return QUARRY_OK;
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                   "the URL names no host (unix-domain sockets are not allowed)");
    }
    for (const char *p = host;;) {
        size_t len = strcspn(p, ",");
        if ((len == 0 && !have_addr) || p[0] == '/' || p[0] == '@')
            return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                       "empty or unix-domain socket host in the URL; give a "
                                       "host name or address");
        if (p[len] != ',')
            break;
        p += len + 1;
    }
    return QUARRY_OK;
}

static int check_ports(const struct pg_conninfo *ci, struct quarry_error *err)
{
    const char *port = ci_get(ci, "port");
    for (const char *p = port; p && *p;) {
        size_t len = strcspn(p, ",");
        long v = 0;
        int ok = len <= 5;
        for (size_t i = 0; ok && i < len; i++) {
            ok = p[i] >= '0' && p[i] <= '9';
            v = v * 10 + (p[i] - '0');
        }
        if (!ok || (len > 0 && (v < 1 || v > 65535)))
            return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "invalid port \"%.*s\"",
                                       (int)(len > 16 ? 16 : len), p);
        p += len;
        if (*p == ',')
            p++;
    }
    return QUARRY_OK;
}

static int check_values(const struct pg_conninfo *ci, struct quarry_error *err)
{
    for (size_t i = 0; i < sizeof(enum_rules) / sizeof(enum_rules[0]); i++) {
        const char *v = ci_get(ci, enum_rules[i].key);
        if (v && !in_list(v, enum_rules[i].values))
            return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "invalid %s \"%.40s\"",
                                       enum_rules[i].key, v);
    }
    int rc = check_ports(ci, err);
    return rc != QUARRY_OK ? rc : check_hosts(ci, err);
}

static int add_url_options(struct pg_conninfo *ci, struct quarry_error *err)
{
    for (PQconninfoOption *o = ci->parsed; o->keyword; o++) {
        if (!o->val)
            continue;
        if (in_list(o->keyword, refused_keys))
            return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                       "the URL option \"%s\" is not allowed", o->keyword);
        ci_set(ci, o->keyword, o->val);
    }
    return QUARRY_OK;
}

static int add_params(struct pg_conninfo *ci, const struct quarry_open_params *params,
                      struct quarry_error *err)
{
    for (size_t i = 0; i < params->nparams; i++) {
        const char *key = params->params[i].key;
        const char *value = params->params[i].value;
        if (!key || !value)
            return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                       "connection parameter %zu has no key or value", i);
        if (!in_list(key, allowed_params))
            return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                       "unknown connection parameter \"%.64s\" for the postgres "
                                       "driver",
                                       key);
        if (strlen(value) > PG_PARAM_VALUE_MAX)
            return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                       "connection parameter \"%s\" is too long", key);
        ci_set(ci, key, value);
    }
    return QUARRY_OK;
}

/* The driver's own settings, over whatever the URL said. */
static void add_driver_settings(struct pg_conninfo *ci, int32_t connect_timeout_ms)
{
    int32_t ms = connect_timeout_ms > 0 ? connect_timeout_ms : PG_CONNECT_TIMEOUT_DEFAULT_MS;
    /* Whole seconds, rounded up, and at least 2 (libpq treats 1 as 2). */
    int secs = (int)((ms + 999) / 1000);
    snprintf(ci->timeout, sizeof(ci->timeout), "%d", secs < 2 ? 2 : secs);
    ci_set(ci, "connect_timeout", ci->timeout);
    ci_set(ci, "application_name", "quarry");
    ci_set(ci, "fallback_application_name", "quarry");
    ci_set(ci, "client_encoding", "UTF8");
    /*
     * libpq treats an empty keyword as unset and fills it from PGPASSWORD, so
     * an empty password cannot keep quarryd's own out: a placeholder does (a
     * server that wants a password refuses it, 28P01).
     */
    const char *password = ci_get(ci, "password");
    if ((!password || !*password) && getenv("PGPASSWORD"))
        ci_set(ci, "password", PG_NO_PASSWORD);
    ci_set(ci, "passfile", PG_NO_PASSFILE);
}

int pg_conninfo_build_(const struct quarry_open_params *params, struct pg_conninfo *ci,
                       struct quarry_error *err)
{
    memset(ci, 0, sizeof(*ci));
    if (!params || !params->url)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "no URL");
    if (strlen(params->url) > PG_URL_MAX)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "URL longer than %d bytes",
                                   PG_URL_MAX);
    if (params->nparams > 0 && !params->params)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0, "connection params missing");
    if (params->nparams > 64)
        return pg_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                   "too many connection parameters");
    char *url = NULL;
    int rc = normalize_url(params->url, &url, err);
    if (rc != QUARRY_OK)
        return rc;
    char *msg = NULL;
    ci->parsed = PQconninfoParse(url, &msg);
    if (msg)
        PQfreemem(msg); /* may quote the URL: never reported as is */
    if (!ci->parsed) {
        rc = parse_failed(url, err);
        goto out;
    }
    size_t nparsed = 0;
    for (PQconninfoOption *o = ci->parsed; o->keyword; o++)
        nparsed += o->val != NULL;
    ci->cap = nparsed + params->nparams + 8;
    ci->keys = pg_host_->alloc((ci->cap + 1) * sizeof(*ci->keys));
    ci->values = pg_host_->alloc((ci->cap + 1) * sizeof(*ci->values));
    if (!ci->keys || !ci->values) {
        rc = pg_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        goto out;
    }
    if ((rc = add_url_options(ci, err)) != QUARRY_OK ||
        (rc = add_params(ci, params, err)) != QUARRY_OK ||
        (rc = check_values(ci, err)) != QUARRY_OK)
        goto out;
    add_driver_settings(ci, params->connect_timeout_ms);
    ci->keys[ci->n] = NULL;
    ci->values[ci->n] = NULL;
out:
    pg_host_->free(url);
    return rc;
}

void pg_conninfo_free_(struct pg_conninfo *ci)
{
    if (ci->parsed)
        PQconninfoFree(ci->parsed);
    if (ci->keys)
        pg_host_->free(ci->keys);
    if (ci->values)
        pg_host_->free(ci->values);
    memset(ci, 0, sizeof(*ci));
}
