/*
 * What users register, as a path. Accepted: a bare absolute path, and
 * SQLAlchemy's form `sqlite:///<path>` where <path> must itself be absolute
 * (`sqlite:////abs/path.db` -> `/abs/path.db`). Refused: relative paths (they
 * would resolve against quarryd's working directory, not the user's),
 * in-memory databases, a host part, and `file:` URIs (their query parameters
 * could turn off read-only mode or reach other files).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "sqlite_internal.h"

#define FORM_HINT "use sqlite:////absolute/path.db (four slashes) or an absolute path"

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes `len` bytes of `in` into a new string; refuses %00 and malformed escapes. */
static int percent_decode(const char *in, size_t len, char **out, struct quarry_error *err)
{
    char *path = sqlite_host_->alloc(len + 1);
    size_t n = 0;
    if (!path)
        return sqlite_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            path[n++] = in[i];
            continue;
        }
        int hi = i + 2 < len ? hex_digit((unsigned char)in[i + 1]) : -1;
        int lo = i + 2 < len ? hex_digit((unsigned char)in[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            sqlite_host_->free(path);
            return sqlite_host_->error_set(err, QUARRY_ERR_INVALID, "", 0,
                                           "invalid percent-escape in the sqlite URL path");
        }
        path[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    path[n] = '\0';
    *out = path;
    return QUARRY_OK;
}

static int copy_path(const char *path, char **out, struct quarry_error *err)
{
    size_t len = strlen(path);
    char *copy = sqlite_host_->alloc(len + 1);
    if (!copy)
        return sqlite_host_->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    memcpy(copy, path, len + 1);
    *out = copy;
    return QUARRY_OK;
}

/* The path part of `sqlite://...` after the (empty) authority: up to '?' or '#'. */
static int sqlalchemy_path(const char *rest, char **out, struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    if (*rest != '/' && *rest != '\0' && *rest != '?' && *rest != '#')
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                            "a host in a sqlite URL is not supported; " FORM_HINT);
    if (*rest == '/')
        rest++; /* SQLAlchemy: what follows the third slash is the path */
    size_t len = strcspn(rest, "?#");
    char *path = NULL;
    int status = percent_decode(rest, len, &path, err);
    if (status != QUARRY_OK)
        return status;
    if (path[0] == '\0') {
        h->free(path);
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                            "in-memory sqlite databases are not supported; " FORM_HINT);
    }
    if (path[0] != '/') {
        h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                     "relative sqlite path \"%s\" refused: it would resolve against the "
                     "server's directory; " FORM_HINT,
                     path);
        h->free(path);
        return QUARRY_ERR_INVALID;
    }
    *out = path;
    return QUARRY_OK;
}

int sqlite_url_path_(const char *url, char **out, struct quarry_error *err)
{
    const struct quarry_host *h = sqlite_host_;
    *out = NULL;
    if (!url || !*url)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0, "empty sqlite URL; " FORM_HINT);
    if (strnlen(url, SQLITE_URL_MAX + 1) > SQLITE_URL_MAX)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                            "sqlite URL longer than %d bytes refused", SQLITE_URL_MAX);
    /* A bare path is a file name, not a URL: taken as is, no decoding. */
    if (url[0] == '/')
        return copy_path(url, out, err);
    if (strncasecmp(url, "file:", 5) == 0)
        return h->error_set(err, QUARRY_ERR_INVALID, "", 0,
                            "file: URIs are not accepted; " FORM_HINT);
    if (strncasecmp(url, "sqlite://", 9) == 0)
        return sqlalchemy_path(url + 9, out, err);
    return h->error_set(err, QUARRY_ERR_INVALID, "", 0, "not a sqlite URL; " FORM_HINT);
}
