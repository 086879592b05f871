/*
 * Credentials at rest and on display. The service key lives in
 * sodium_malloc'd memory (guard pages, mlock'd, read-only once loaded,
 * wiped by sodium_free); blobs are crypto_secretbox with a fresh random
 * nonce each: nonce || MAC || ciphertext.
 *
 * Masking errs on the side of hiding: a malformed URL may lose some of its
 * shape on display, but never shows a password.
 */
#include "secrets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"

#define KEY_BYTES crypto_secretbox_KEYBYTES
/* base64 of 32 bytes is 44 characters; room for a newline and some slack. */
#define KEY_FILE_MAX 256
#define MASK "***"
/* Deeper connection_params than this are hidden whole rather than walked. */
#define SPLIT_MAX_DEPTH 32

struct secrets {
    unsigned char *key; /* sodium_malloc'd, KEY_BYTES, read-only after load */
};

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

/* ---- the key ---- */

/* Standard or URL-safe base64, padded or not, whitespace ignored; exactly KEY_BYTES. */
static int key_decode(const char *b64, size_t len, unsigned char *key)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};

    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        size_t bin_len = 0;
        if (sodium_base642bin(key, KEY_BYTES, b64, len, " \t\r\n", &bin_len, NULL, variants[i]) ==
                0 &&
            bin_len == KEY_BYTES)
            return 0;
    }
    sodium_memzero(key, KEY_BYTES);
    return -1;
}

/* Reads an existing key file: a regular file, private to its owner, holding one key. */
static int key_file_read(const char *path, unsigned char *key, char *err, size_t errlen)
{
    char buf[KEY_FILE_MAX + 1];
    struct stat st;
    size_t n = 0;
    int rc = -1;
    /* O_NONBLOCK: opening a FIFO planted at the path must not hang startup. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0) {
        set_err(err, errlen, "key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "key file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        set_err(err, errlen,
                "key file %s is accessible by group or others (mode %04o); "
                "restrict it with: chmod 600 %s",
                path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            set_err(err, errlen, "key file %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > KEY_FILE_MAX || key_decode(buf, n, key) < 0) {
        set_err(err, errlen, "key file %s does not hold base64 of %d bytes", path, KEY_BYTES);
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

static int write_all(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Makes a new name durable; failure only costs durability, so it is logged. */
static void fsync_parent(const char *path)
{
    char *copy = strdup(path);
    int fd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

    if (fd < 0 || fsync(fd) < 0)
        log_warn("secrets: could not sync the directory of %s", path);
    if (fd >= 0)
        close(fd);
    free(copy);
}

/*
 * Writes a fresh key to a private temporary file beside `path`, syncs it,
 * then link()s it into place: the key file appears whole or not at all, and
 * never replaces one a concurrent process created first. 0, 1 when the file
 * already existed (the caller reads it), -1 on error.
 */
static int key_file_create(const char *path, unsigned char *key, char *err, size_t errlen)
{
    char b64[sodium_base64_ENCODED_LEN(KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1];
    char *tmp = NULL;
    int fd = -1, rc = -1;

    if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0) {
        set_err(err, errlen, "cannot create key file %s: %s", path, strerror(errno));
        goto out;
    }
    randombytes_buf(key, KEY_BYTES);
    sodium_bin2base64(b64, sizeof(b64) - 1, key, KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
    strcat(b64, "\n");
    if (fchmod(fd, 0600) < 0 || write_all(fd, b64, strlen(b64)) < 0 || fsync(fd) < 0) {
        set_err(err, errlen, "cannot write key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (link(tmp, path) < 0) {
        if (errno == EEXIST) {
            rc = 1;
            goto out;
        }
        set_err(err, errlen, "cannot create key file %s: %s", path, strerror(errno));
        goto out;
    }
    fsync_parent(path);
    log_info("secrets: created key file %s (mode 0600); back it up: sealed credentials "
             "cannot be opened without it",
             path);
    rc = 0;
out:
    sodium_memzero(b64, sizeof(b64));
    if (rc != 0)
        sodium_memzero(key, KEY_BYTES);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static int key_load(const char *key_b64, const char *key_file, unsigned char *key, char *err,
                    size_t errlen)
{
    if (key_b64 && *key_b64) {
        if (key_decode(key_b64, strlen(key_b64), key) == 0)
            return 0;
        set_err(err, errlen,
                "the secret key must be base64 of %d bytes (e.g. from `openssl rand -base64 32`)",
                KEY_BYTES);
        return -1;
    }
    if (!key_file || !*key_file) {
        set_err(err, errlen, "no secret key: set QUARRY_SECRET_KEY or a key file");
        return -1;
    }
    if (access(key_file, F_OK) < 0 && errno == ENOENT) {
        int rc = key_file_create(key_file, key, err, errlen);
        if (rc <= 0)
            return rc;
    }
    return key_file_read(key_file, key, err, errlen);
}

struct secrets *secrets_open(const char *key_b64, const char *key_file, char *err, size_t errlen)
{
    struct secrets *s = NULL;

    if (sodium_init() < 0) {
        set_err(err, errlen, "libsodium failed to initialize");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->key = sodium_malloc(KEY_BYTES))) {
        set_err(err, errlen, "out of memory");
        goto err;
    }
    if (key_load(key_b64, key_file, s->key, err, errlen) < 0)
        goto err;
    sodium_mprotect_readonly(s->key);
    return s;
err:
    secrets_close(s);
    return NULL;
}

void secrets_close(struct secrets *secrets)
{
    if (!secrets)
        return;
    if (secrets->key)
        sodium_free(secrets->key); /* wipes */
    free(secrets);
}

/* ---- sealing ---- */

unsigned char *secrets_seal(const struct secrets *secrets, const void *plain, size_t len,
                            size_t *sealed_len)
{
    const size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    unsigned char *blob;

    if (!secrets || (!plain && len) || len > SIZE_MAX - overhead)
        return NULL;
    blob = malloc(overhead + len);
    if (!blob)
        return NULL;
    randombytes_buf(blob, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(blob + crypto_secretbox_NONCEBYTES, plain, len, blob, secrets->key);
    if (sealed_len)
        *sealed_len = overhead + len;
    return blob;
}

char *secrets_open_blob(const struct secrets *secrets, const unsigned char *sealed,
                        size_t sealed_len, size_t *plain_len)
{
    const size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    char *plain;

    if (!secrets || !sealed || sealed_len < overhead)
        return NULL;
    plain = malloc(sealed_len - overhead + 1);
    if (!plain)
        return NULL;
    if (crypto_secretbox_open_easy((unsigned char *)plain, sealed + crypto_secretbox_NONCEBYTES,
                                   sealed_len - crypto_secretbox_NONCEBYTES, sealed,
                                   secrets->key) != 0) {
        free(plain);
        return NULL;
    }
    plain[sealed_len - overhead] = '\0';
    if (plain_len)
        *plain_len = sealed_len - overhead;
    return plain;
}

/* ---- secret key names ---- */

/*
 * A key is split into words at non-letters and camelCase boundaries
 * ("sslPassword" -> ssl, password; "APIKey" -> api, key; digits separate).
 * It names a secret when a word is one of EXACT, or ends in one of
 * SUFFIXES ("dbpassword", "clientsecret", "authtoken"), or it ends in the
 * word "key" alone or after one of KEY_QUALIFIERS ("api_key", "privateKey"),
 * or the whole key, letters only, is one of WHOLE.
 * Whole words keep "monkey", "keepalives", "sslmode", "max_tokens",
 * "keyId", "primary_key" and "bypass" out.
 */
static const char *const EXACT[] = {"pass",          "pwd",        "passcode",  "apikey",
                                    "sslkey",        "privatekey", "accesskey", "secretkey",
                                    "authorization", NULL};
/* MongoDB's authMechanismProperties may carry AWS_SESSION_TOKEN:... */
static const char *const WHOLE[] = {"authmechanismproperties", NULL};
static const char *const SUFFIXES[] = {"password", "passwd",     "passphrase",  "pwd",   "secret",
                                       "secrets",  "credential", "credentials", "token", NULL};
static const char *const KEY_QUALIFIERS[] = {
    "api",     "private", "access",     "secret",  "ssl",     "tls",
    "client",  "master",  "shared",     "signing", "account", "service",
    "session", "storage", "encryption", "auth",    NULL};

struct word {
    const char *s;
    size_t len;
};

static int word_is(struct word w, const char *name)
{
    return w.len == strlen(name) && strncasecmp(w.s, name, w.len) == 0;
}

static int word_in(struct word w, const char *const *list)
{
    for (; *list; list++)
        if (word_is(w, *list))
            return 1;
    return 0;
}

static int word_ends_in(struct word w, const char *const *list)
{
    for (; *list; list++) {
        size_t n = strlen(*list);
        if (w.len >= n && strncasecmp(w.s + w.len - n, *list, n) == 0)
            return 1;
    }
    return 0;
}

/* The next word at or after *pos in `key`, or 0 at the end. */
static int next_word(const char *key, size_t *pos, struct word *w)
{
    size_t i = *pos;

    while (key[i] && !isalpha((unsigned char)key[i]))
        i++;
    if (!key[i])
        return 0;
    size_t start = i++;
    /* A capital starts a word after a lower-case letter ("sslPassword") or
     * when it begins a capitalised word after an acronym ("APIKey"). */
    for (; isalpha((unsigned char)key[i]); i++)
        if (isupper((unsigned char)key[i]) &&
            (islower((unsigned char)key[i - 1]) || islower((unsigned char)key[i + 1])))
            break;
    w->s = key + start;
    w->len = i - start;
    *pos = i;
    return 1;
}

/* `key` with everything but letters dropped equals `name` (lower-case). */
static int squashed_is(const char *key, const char *name)
{
    for (;; key++) {
        if (*key && !isalpha((unsigned char)*key))
            continue;
        if (tolower((unsigned char)*key) != *name)
            return 0;
        if (!*name++)
            return 1;
    }
}

int secrets_is_secret_key(const char *key)
{
    struct word prev = {NULL, 0}, w;
    size_t pos = 0;

    if (!key)
        return 0;
    for (const char *const *whole = WHOLE; *whole; whole++)
        if (squashed_is(key, *whole))
            return 1;
    while (next_word(key, &pos, &w)) {
        if (word_in(w, EXACT) || word_ends_in(w, SUFFIXES))
            return 1;
        if (word_is(w, "key")) {
            size_t after = pos;
            struct word next;
            int last = !next_word(key, &after, &next);
            if (last && (!prev.s || word_in(prev, KEY_QUALIFIERS)))
                return 1;
        }
        prev = w;
    }
    return 0;
}

/* ---- masking ---- */

struct buf {
    char *s;
    size_t len, cap;
    int oom;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static char *buf_finish(struct buf *b)
{
    if (b->oom || !b->s) {
        free(b->s);
        return b->oom ? NULL : strdup("");
    }
    return b->s;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Percent-decodes a query key for the name check; a malformed escape is kept as is. */
static int query_key_is_secret(const char *k, size_t len)
{
    char *name = malloc(len + 1);
    size_t n = 0;
    int secret;

    if (!name)
        return 1; /* hide rather than guess */
    for (size_t i = 0; i < len; i++) {
        int hi = (k[i] == '%' && i + 2 < len) ? hex_value((unsigned char)k[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value((unsigned char)k[i + 2]) : -1;
        if (lo < 0) {
            name[n++] = k[i];
            continue;
        }
        name[n++] = (hi || lo) ? (char)(hi * 16 + lo) : ' '; /* %00 separates words */
        i += 2;
    }
    name[n] = '\0';
    secret = secrets_is_secret_key(name);
    free(name);
    return secret;
}

/* "k=v&k2=v2" with the values of secret keys replaced. */
static void mask_query(struct buf *b, const char *q)
{
    while (*q) {
        size_t plen = strcspn(q, "&");
        size_t klen = strcspn(q, "=&");
        if (klen < plen && query_key_is_secret(q, klen)) {
            buf_add(b, q, klen + 1);
            buf_adds(b, MASK);
        } else {
            buf_add(b, q, plen);
        }
        q += plen;
        if (*q == '&')
            buf_add(b, q++, 1);
    }
}

/*
 * The '@' ending the user information of what follows "scheme://": the last
 * one before the query, or, if there is none, the last one at all (a
 * password holding an unencoded '?'). NULL when there is no '@'.
 */
static const char *userinfo_end(const char *rest)
{
    size_t qpos = strcspn(rest, "?");
    const char *at = NULL;

    for (size_t i = 0; i < qpos; i++)
        if (rest[i] == '@')
            at = rest + i;
    return at ? at : strrchr(rest, '@');
}

/* "user:password@rest?query" (URL authority or a scheme-less DSN) masked. */
static void mask_authority(struct buf *b, const char *rest)
{
    const char *at = userinfo_end(rest);
    const char *after = rest;

    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            buf_add(b, rest, (size_t)(colon - rest) + 1);
            buf_adds(b, MASK);
            buf_add(b, at, 1);
        } else {
            buf_add(b, rest, (size_t)(at - rest) + 1);
        }
        after = at + 1;
    }
    size_t qpos = strcspn(after, "?");
    buf_add(b, after, qpos);
    if (after[qpos] == '?') {
        buf_add(b, "?", 1);
        mask_query(b, after + qpos + 1);
    }
}

/* Length of a "scheme://" prefix, or 0. */
static size_t scheme_len(const char *url)
{
    size_t n = 0;

    if (!isalpha((unsigned char)url[0]))
        return 0;
    while (isalnum((unsigned char)url[n]) || url[n] == '+' || url[n] == '-' || url[n] == '.')
        n++;
    return strncmp(url + n, "://", 3) == 0 ? n + 3 : 0;
}

/* The end of a keyword DSN value: 'quoted' (libpq, \-escapes), {braced} (ODBC) or bare. */
static size_t dsn_value_len(const char *v)
{
    size_t i = 0;

    if (*v == '\'') {
        for (i = 1; v[i] && v[i] != '\''; i++)
            if (v[i] == '\\' && v[i + 1])
                i++;
        return v[i] ? i + 1 : i;
    }
    if (*v == '{') {
        for (i = 1; v[i]; i++) {
            if (v[i] == '}' && v[i + 1] == '}')
                i++;
            else if (v[i] == '}')
                return i + 1;
        }
        return i;
    }
    return strcspn(v, " \t\r\n;&");
}

/* "host=h password='x y' dbname=d" (libpq) or "Server=h;Pwd={x};" (ODBC). */
static void mask_keyword_dsn(struct buf *b, const char *s)
{
    while (*s) {
        size_t sep = strspn(s, " \t\r\n;&");
        buf_add(b, s, sep);
        s += sep;
        size_t klen = strcspn(s, "= \t\r\n;&");
        size_t eq = klen + strspn(s + klen, " \t");
        if (s[eq] != '=') {
            buf_add(b, s, klen ? klen : 1);
            s += klen ? klen : (*s ? 1 : 0);
            continue;
        }
        size_t vstart = eq + 1 + strspn(s + eq + 1, " \t");
        size_t vlen = dsn_value_len(s + vstart);
        int secret = 0;
        if (klen) {
            char *key = strndup(s, klen);
            secret = !key || secrets_is_secret_key(key);
            free(key);
        }
        buf_add(b, s, vstart);
        if (secret)
            buf_adds(b, MASK);
        else
            buf_add(b, s + vstart, vlen);
        s += vstart + vlen;
    }
}

/*
 * Without a scheme: "user:pass@host..." (Go's MySQL DSN, bare userinfo) is
 * masked like an authority; text with '=' as a keyword DSN; anything else
 * is copied (it holds no delimiter that marks a password).
 */
static void mask_schemeless(struct buf *b, const char *s)
{
    const char *at = userinfo_end(s);

    if (at && memchr(s, ':', (size_t)(at - s)) && strcspn(s, " \t=") >= (size_t)(at - s))
        mask_authority(b, s);
    else if (strchr(s, '='))
        mask_keyword_dsn(b, s);
    else
        buf_adds(b, s);
}

char *secrets_mask_url(const char *url)
{
    struct buf b = {0};

    if (!url)
        return strdup("");
    size_t n = scheme_len(url);
    if (n) {
        buf_add(&b, url, n);
        mask_authority(&b, url + n);
    } else {
        mask_schemeless(&b, url);
    }
    return buf_finish(&b);
}

/* ---- connection params ---- */

static int has_secret(json_t *v, int depth);

static int object_has_secret(json_t *obj, int depth)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v)
    {
        if (secrets_is_secret_key(k) || has_secret(v, depth + 1))
            return 1;
    }
    return 0;
}

/* Anything too deep to walk counts as secret. */
static int has_secret(json_t *v, int depth)
{
    size_t i;
    json_t *e;

    if (depth > SPLIT_MAX_DEPTH)
        return json_is_object(v) || json_is_array(v);
    if (json_is_object(v))
        return object_has_secret(v, depth);
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (has_secret(e, depth + 1))
                return 1;
        }
    }
    return 0;
}

static int split_object(json_t *params, json_t *public, json_t *secret, int depth);

/*
 * One value under key `k`: a secret key's value moves whole; a nested object
 * splits recursively (its secret part, when not empty, under the same key);
 * an array holding any secret moves whole, since merging arrays back element
 * by element would be guesswork. `*sec_v` stays NULL when nothing is secret.
 */
static int split_value(const char *k, json_t *v, int depth, json_t **pub_v, json_t **sec_v)
{
    if (secrets_is_secret_key(k) || depth >= SPLIT_MAX_DEPTH ||
        (json_is_array(v) && has_secret(v, depth + 1))) {
        *pub_v = json_string(MASK);
        *sec_v = json_incref(v);
        return *pub_v ? 0 : -1;
    }
    if (!json_is_object(v))
        return (*pub_v = json_deep_copy(v)) ? 0 : -1;
    *pub_v = json_object();
    *sec_v = json_object();
    if (!*pub_v || !*sec_v || split_object(v, *pub_v, *sec_v, depth + 1) < 0)
        return -1;
    if (json_object_size(*sec_v) == 0) {
        json_decref(*sec_v);
        *sec_v = NULL;
    }
    return 0;
}

static int split_object(json_t *params, json_t *public, json_t *secret, int depth)
{
    const char *k;
    json_t *v;

    json_object_foreach(params, k, v)
    {
        json_t *pub_v = NULL, *sec_v = NULL;
        if (split_value(k, v, depth, &pub_v, &sec_v) < 0) {
            json_decref(pub_v);
            json_decref(sec_v);
            return -1;
        }
        /* json_object_set_new takes the value even when it fails. */
        if (json_object_set_new(public, k, pub_v) < 0) {
            json_decref(sec_v);
            return -1;
        }
        if (sec_v && json_object_set_new(secret, k, sec_v) < 0)
            return -1;
    }
    return 0;
}

json_t *secrets_split_params(json_t *params, json_t **secret_out)
{
    json_t *public = NULL, *secret = json_object();

    if (secret_out)
        *secret_out = NULL;
    if (!secret)
        return NULL;
    if (!json_is_object(params)) {
        /* Not connection params as documented: no key names a secret. */
        public = params ? json_deep_copy(params) : json_object();
    } else {
        public = json_object();
        if (public && split_object(params, public, secret, 0) < 0) {
            json_decref(public);
            public = NULL;
        }
    }
    if (!public || !secret_out) {
        json_decref(secret);
        return public;
    }
    *secret_out = secret;
    return public;
}
