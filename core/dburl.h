/*
 * Database URLs as users register them, parsed into their parts so the core
 * can check targets (guard.h) and show them (secrets_mask_url) without
 * knowing each driver's syntax:
 *
 *   scheme[+driver]://[user[:password]@]host[:port][,host[:port]...][/path][?query]
 *   sqlite:///path
 *
 * Server URLs. The user information ends at the LAST '@' before the first
 * '/' (libpq looks for '@' up to the first '/' too, so both agree on where
 * the hosts start); user and password split at the first ':'. Hosts are
 * comma-separated (mongodb://a,b,c, libpq's multi-host URLs), IPv6 literals
 * in brackets ("[::1]:5432"), ports 1..65535. mongodb+srv:// takes exactly
 * one host and no port. A '#' has no special meaning (libpq gives it none).
 *
 * sqlite URLs follow SQLAlchemy: what follows "sqlite:///" is the path, so
 * "sqlite:////tmp/x.db" is the absolute "/tmp/x.db" and "sqlite:///x.db" (and
 * "sqlite:///tmp/x.db") are RELATIVE paths ("x.db", "tmp/x.db"). The path
 * ends at '?' or '#', as the sqlite driver reads it. "sqlite://" with an
 * empty path (SQLAlchemy's in-memory database) and a host are refused.
 *
 * User, password, hosts and path are percent-decoded ("%40" is '@'; '+' is
 * a plus); a malformed escape or a decoded NUL is refused. The query string
 * is kept raw. Everything is bounded: the URL to DBURL_MAX_LEN bytes, the
 * hosts to DBURL_MAX_HOSTS; control characters anywhere and spaces in the
 * authority are refused.
 */
#ifndef QUARRY_DBURL_H
#define QUARRY_DBURL_H

#include <stddef.h>

#define DBURL_MAX_LEN 4096
#define DBURL_MAX_HOSTS 16

struct dburl {
    char *scheme;                 /* as written, lower-cased: "postgresql+psycopg2" */
    char *base_scheme;            /* without "+driver": "postgresql" */
    char *user;                   /* percent-decoded, or NULL when absent or empty */
    char *password;               /* percent-decoded, or NULL when absent ("u:@h" gives "") */
    size_t nhosts;                /* 0 for sqlite URLs; >1 for mongodb://a,b,c */
    char *hosts[DBURL_MAX_HOSTS]; /* decoded, case kept; IPv6 without brackets */
    int ports[DBURL_MAX_HOSTS];   /* 0 when absent */
    char *path;  /* after the authority, decoded: for server URLs the database name without
                    the leading '/' (NULL when absent or empty); for sqlite the file path */
    char *query; /* raw query string after '?', or NULL */
};

/*
 * Parses `url` into `out` (every field owned by `out`; release with
 * dburl_free). Returns 0, or -1 with a message in `err` that never quotes
 * the URL (it may hold a password); `out` is then empty.
 */
int dburl_parse(const char *url, struct dburl *out, char *err, size_t errlen);

/* Frees every field (the password wiped first) and zeroes `url`; safe on a zeroed struct. */
void dburl_free(struct dburl *url);

#endif
