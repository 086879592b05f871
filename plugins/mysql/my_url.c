/*
 * Connection URLs as users paste them:
 *
 *   mysql://user:pass@host:3306/db?ssl_mode=REQUIRED&ssl_ca=/path/ca.pem
 *   mariadb://user@[::1]/db
 *   mysql+pymysql://user:p%40ss@host/db?charset=utf8mb4     (SQLAlchemy)
 *   mysql://user:pass@localhost/db?unix_socket=/run/mysqld/mysqld.sock
 *
 * The user-info rule is SQLAlchemy's (the URLs most often pasted come from
 * it): a user name without ':' or '/', then an optional ':password' that runs
 * to the first '@'. User, password, database and query values are
 * percent-decoded; a '%' not followed by two hex digits stays as it is, so a
 * pasted raw password such as "50%off" still works. Unknown query options are
 * ignored (pasted URLs carry options of other client libraries).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "my_internal.h"

#define DEFAULT_PORT 3306
#define TIMEOUT_MAX_S 86400u

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Decodes `len` bytes of `s` into a new string; `plus_space` turns '+' into a
 * space (query strings). Returns NULL when out of memory or when the result
 * would hold a NUL byte (*bad set).
 */
static char *decode(const char *s, size_t len, int plus_space, int *bad)
{
    char *out = my_alloc(len + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            *o = (char)(hi * 16 + lo);
            if (*o == '\0') {
                *bad = 1;
                my_free(out);
                return NULL;
            }
            o++;
            i += 2;
        } else if (plus_space && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Replaces *slot with the decoded text; 0, or a status after filling `err`. */
static int set_decoded(char **slot, const char *s, size_t len, int plus_space, const char *what,
                       struct quarry_error *err)
{
    int bad = 0;
    char *v = decode(s, len, plus_space, &bad);
    if (!v) {
        if (bad)
            return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: %s holds a NUL byte",
                           what);
        return my_fail(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    }
    my_free(*slot);
    *slot = v;
    return 0;
}

static int set_string(char **slot, const char *value, struct quarry_error *err)
{
    char *v = my_strdup(value);
    if (!v)
        return my_fail(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    my_free(*slot);
    *slot = v;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", "y", NULL};
    static const char *const no[] = {"0", "false", "no", "off", "n", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
    for (int i = 0; no[i]; i++)
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    return -1;
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
    if (!*v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return -1;
    *out = (unsigned)n;
    return 0;
}

static int parse_ssl_mode(const char *v, int *mode)
{
    static const struct {
        const char *name;
        int mode;
    } modes[] = {{"disabled", MY_SSL_DISABLED},
                 {"disable", MY_SSL_DISABLED},
                 {"preferred", MY_SSL_PREFERRED},
                 {"prefer", MY_SSL_PREFERRED},
                 {"required", MY_SSL_REQUIRED},
                 {"require", MY_SSL_REQUIRED},
                 {"verify_ca", MY_SSL_VERIFY_CA},
                 {"verify-ca", MY_SSL_VERIFY_CA},
                 {"verify_identity", MY_SSL_VERIFY_IDENTITY},
                 {"verify-identity", MY_SSL_VERIFY_IDENTITY},
                 {"verify_full", MY_SSL_VERIFY_IDENTITY},
                 {"verify-full", MY_SSL_VERIFY_IDENTITY}};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcasecmp(v, modes[i].name) == 0)
            return *mode = modes[i].mode, 0;
    return -1;
}

/* "ssl-ca", "SSL_CA" and "sslca"-style spellings compare equal to "ssl_ca". */
static int key_is(const char *key, const char *name)
{
    for (; *key && *name; key++) {
        char k = (char)tolower((unsigned char)*key);
        if (k == '-')
            k = '_';
        if (k == *name) {
            name++;
            continue;
        }
        return 0;
    }
    return !*key && !*name;
}

static int key_in(const char *key, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (key_is(key, names[i]))
            return 1;
    return 0;
}

static int invalid_value(const char *key, struct quarry_error *err)
{
    /* Name the option, never echo its value (it may be a secret). */
    return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: invalid value for option '%.64s'",
                   key);
}

static int set_tls_option(struct my_params *p, const char *key, const char *value,
                          struct quarry_error *err)
{
    static const char *const ca[] = {"ssl_ca", "sslca", "tls_ca", "ssl_ca_file", NULL};
    static const char *const capath[] = {"ssl_capath", "sslcapath", "tls_capath", NULL};
    static const char *const cert[] = {"ssl_cert", "sslcert", "tls_cert", NULL};
    static const char *const keyf[] = {"ssl_key", "sslkey", "tls_key", NULL};
    static const char *const cipher[] = {"ssl_cipher", "tls_cipher", NULL};
    static const char *const crl[] = {"ssl_crl", "tls_crl", NULL};
    static const char *const version[] = {"tls_version", "ssl_tls_version", NULL};
    static const char *const fingerprint[] = {"tls_peer_fp", "ssl_fp", NULL};
    static const char *const mode[] = {"ssl_mode", "sslmode", "tls_mode", NULL};
    int flag;

    char **slot = key_in(key, ca)            ? &p->ssl_ca
                  : key_in(key, capath)      ? &p->ssl_capath
                  : key_in(key, cert)        ? &p->ssl_cert
                  : key_in(key, keyf)        ? &p->ssl_key
                  : key_in(key, cipher)      ? &p->ssl_cipher
                  : key_in(key, crl)         ? &p->ssl_crl
                  : key_in(key, version)     ? &p->tls_version
                  : key_in(key, fingerprint) ? &p->tls_peer_fp
                                             : NULL;
    if (slot)
        return *value ? set_string(slot, value, err) : 0;
    if (key_in(key, mode))
        return parse_ssl_mode(value, &p->ssl_mode) == 0 ? 0 : invalid_value(key, err);
    if (key_is(key, "ssl") || key_is(key, "tls") || key_is(key, "use_ssl")) {
        if (parse_bool(value, &flag) != 0)
            return invalid_value(key, err);
        p->ssl_mode = flag ? MY_SSL_REQUIRED : MY_SSL_DISABLED;
        return 0;
    }
    if (key_is(key, "ssl_disabled")) {
        if (parse_bool(value, &flag) != 0)
            return invalid_value(key, err);
        if (flag)
            p->ssl_mode = MY_SSL_DISABLED;
        return 0;
    }
    if (key_is(key, "ssl_verify_cert") || key_is(key, "ssl_verify_server_cert")) {
        if (parse_bool(value, &flag) != 0)
            return invalid_value(key, err);
        p->ssl_mode = flag ? MY_SSL_VERIFY_CA : MY_SSL_REQUIRED;
        return 0;
    }
    if (key_is(key, "ssl_verify_identity") || key_is(key, "ssl_check_hostname")) {
        if (parse_bool(value, &flag) != 0)
            return invalid_value(key, err);
        p->ssl_mode = flag ? MY_SSL_VERIFY_IDENTITY : MY_SSL_VERIFY_CA;
        return 0;
    }
    return 1; /* not a TLS option */
}

static int set_timeout(const char *key, const char *value, unsigned *slot, struct quarry_error *err)
{
    return parse_uint(value, 1, TIMEOUT_MAX_S, slot) == 0 ? 0 : invalid_value(key, err);
}

int my_params_set(struct my_params *p, const char *key, const char *value, struct quarry_error *err)
{
    static const char *const socket_keys[] = {"unix_socket", "socket", NULL};
    static const char *const user_keys[] = {"user", "username", NULL};
    static const char *const password_keys[] = {"password", "passwd", NULL};
    static const char *const db_keys[] = {"database", "db", "dbname", NULL};
    int rc;

    if (!key || !value)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: option without a value");
    if ((rc = set_tls_option(p, key, value, err)) <= 0)
        return rc;
    if (key_in(key, socket_keys))
        return set_string(&p->unix_socket, value, err);
    if (key_in(key, user_keys))
        return set_string(&p->user, value, err);
    if (key_in(key, password_keys))
        return set_string(&p->password, value, err);
    if (key_in(key, db_keys))
        return *value ? set_string(&p->database, value, err) : 0;
    if (key_is(key, "host"))
        return set_string(&p->host, value, err);
    if (key_is(key, "port"))
        return parse_uint(value, 1, 65535, &p->port) == 0 ? 0 : invalid_value(key, err);
    if (key_is(key, "connect_timeout"))
        return set_timeout(key, value, &p->connect_timeout_s, err);
    if (key_is(key, "read_timeout"))
        return set_timeout(key, value, &p->read_timeout_s, err);
    if (key_is(key, "write_timeout"))
        return set_timeout(key, value, &p->write_timeout_s, err);
    if (key_is(key, "charset") || key_is(key, "character_set")) {
        /* The host reads text as UTF-8, so the session always uses utf8mb4. */
        if (strncasecmp(value, "utf8", 4) != 0)
            my_log(QUARRY_LOG_WARN, "charset '%.32s' ignored: connections use utf8mb4", value);
        return 0;
    }
    my_log(QUARRY_LOG_DEBUG, "option '%.64s' ignored", key);
    return 0;
}

int my_params_ssl_mode(const struct my_params *p)
{
    if (p->ssl_mode != MY_SSL_UNSET)
        return p->ssl_mode;
    /*
     * A CA means the user wants the server checked; a pinned fingerprint is
     * the check itself (the library compares it), and a client certificate
     * alone wants TLS.
     */
    if (p->ssl_ca || p->ssl_capath)
        return MY_SSL_VERIFY_IDENTITY;
    if (p->tls_peer_fp || p->ssl_cert || p->ssl_key)
        return MY_SSL_REQUIRED;
    return MY_SSL_PREFERRED;
}

static int parse_scheme(const char *url, const char **rest, struct quarry_error *err)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: expected scheme://");
    size_t n = (size_t)(sep - url);
    const char *plus = memchr(url, '+', n);
    size_t base = plus ? (size_t)(plus - url) : n;
    if (!((base == 5 && strncasecmp(url, "mysql", 5) == 0) ||
          (base == 7 && strncasecmp(url, "mariadb", 7) == 0)))
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0,
                       "mysql URL: scheme must be mysql:// or mariadb:// (optionally "
                       "mysql+<driver>://)");
    /* SQLAlchemy's "+pymysql", "+mysqldb", "+mysqlconnector" ... name a Python library. */
    for (const char *c = plus ? plus + 1 : url + n; c < url + n; c++)
        if (!isalnum((unsigned char)*c) && *c != '_')
            return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: malformed scheme");
    *rest = sep + 3;
    return 0;
}

/* SQLAlchemy's rule: user `[^:/@]*`, then optional `:password` up to the first '@'. */
static int parse_userinfo(const char **s, struct my_params *p, struct quarry_error *err)
{
    const char *u = *s, *i = u + strcspn(u, ":/@");
    const char *at = NULL, *colon = NULL;
    if (*i == '@')
        at = i;
    else if (*i == ':' && (at = strchr(i + 1, '@')))
        colon = i;
    if (!at)
        return 0;
    const char *user_end = colon ? colon : at;
    if (user_end > u && set_decoded(&p->user, u, (size_t)(user_end - u), 0, "user", err) != 0)
        return -1;
    if (colon &&
        set_decoded(&p->password, colon + 1, (size_t)(at - colon - 1), 0, "password", err) != 0)
        return -1;
    *s = at + 1;
    return 0;
}

static int parse_hostport(const char **s, struct my_params *p, struct quarry_error *err)
{
    const char *h = *s, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end || end == h + 1)
            return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: malformed [IPv6] host");
        if (set_decoded(&p->host, h + 1, (size_t)(end - h - 1), 0, "host", err) != 0)
            return -1;
        h = end + 1;
    } else {
        end = h + strcspn(h, ":/?#");
        if (end > h && set_decoded(&p->host, h, (size_t)(end - h), 0, "host", err) != 0)
            return -1;
        h = end;
    }
    if (*h == ':') {
        const char *pe = h + 1 + strcspn(h + 1, "/?#");
        char port[8];
        size_t n = (size_t)(pe - h - 1);
        if (n > 0) {
            if (n >= sizeof(port))
                return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: invalid port");
            memcpy(port, h + 1, n);
            port[n] = '\0';
            if (parse_uint(port, 1, 65535, &p->port) != 0)
                return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: invalid port");
        }
        h = pe;
    } else if (*h && !strchr("/?#", *h)) {
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: malformed host");
    }
    /* A host that decodes to a path names the server's socket file. */
    if (p->host && p->host[0] == '/') {
        my_free(p->unix_socket);
        p->unix_socket = p->host;
        p->host = NULL;
    }
    *s = h;
    return 0;
}

static int parse_query(const char *q, size_t len, struct my_params *p, struct quarry_error *err)
{
    const char *end = q + len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        if (pe > q) {
            char *key = NULL, *value = NULL;
            int rc = set_decoded(&key, q, (size_t)((eq ? eq : pe) - q), 1, "option", err);
            if (rc == 0)
                rc = set_decoded(&value, eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0, 1,
                                 "option", err);
            if (rc == 0)
                rc = my_params_set(p, key, value, err);
            my_free(key);
            if (value)
                explicit_bzero(value, strlen(value));
            my_free(value);
            if (rc != 0)
                return rc;
        }
        q = amp ? amp + 1 : end;
    }
    return 0;
}

int my_url_parse(const char *url, struct my_params *out, struct quarry_error *err)
{
    const char *s = NULL;
    memset(out, 0, sizeof(*out));
    out->port = DEFAULT_PORT;
    if (!url || !*url)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql: no URL");
    if (strlen(url) > MY_URL_MAX)
        return my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL longer than %d bytes",
                       MY_URL_MAX);
    if (parse_scheme(url, &s, err) != 0 || parse_userinfo(&s, out, err) != 0 ||
        parse_hostport(&s, out, err) != 0)
        goto fail;
    if (*s == '/') {
        const char *db = ++s;
        s += strcspn(s, "?#");
        if (memchr(db, '/', (size_t)(s - db))) {
            my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: path must be /database");
            goto fail;
        }
        if (s > db && set_decoded(&out->database, db, (size_t)(s - db), 0, "database", err) != 0)
            goto fail;
    }
    if (*s == '?') {
        const char *q = ++s;
        s += strcspn(s, "#");
        if (parse_query(q, (size_t)(s - q), out, err) != 0)
            goto fail;
    }
    /* Anything left is a "#fragment", which means nothing here. */
    if (out->database && strlen(out->database) > MY_IDENTIFIER_MAX) {
        my_fail(err, QUARRY_ERR_INVALID, NULL, 0, "mysql URL: database name too long");
        goto fail;
    }
    return 0;
fail:
    my_params_free(out);
    return err->status ? err->status : QUARRY_ERR_INVALID;
}

void my_params_free(struct my_params *p)
{
    if (p->password)
        explicit_bzero(p->password, strlen(p->password));
    char *owned[] = {p->host,    p->user,        p->password,   p->database, p->unix_socket,
                     p->ssl_ca,  p->ssl_capath,  p->ssl_cert,   p->ssl_key,  p->ssl_cipher,
                     p->ssl_crl, p->tls_version, p->tls_peer_fp};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        my_free(owned[i]);
    memset(p, 0, sizeof(*p));
}
