/*
 * Target guards: Quarry must not become a way to reach places it should not.
 * A host allow/deny list of hostnames and CIDRs (IPv4 and IPv6), with
 * link-local ranges and cloud metadata addresses denied by default, and
 * sqlite paths confined to configured directories.
 */
#ifndef QUARRY_GUARD_H
#define QUARRY_GUARD_H

#include <stddef.h>

struct guard;

/*
 * `allow` and `deny`: comma-separated hostnames and CIDRs ("10.0.0.0/8",
 * "::1/128", "db.internal", "*.corp.example"); either may be NULL/empty.
 * An empty allow list allows everything not denied. The default denials
 * (169.254.0.0/16, fe80::/10, fd00:ec2::254/128, 100.100.100.200/32,
 * metadata.google.internal, metadata.goog) always apply.
 * `sqlite_dirs`: colon- or comma-separated directories; NULL/empty = any
 * readable path (the caller logs a warning).
 * NULL with a message in `err` on a malformed entry.
 */
struct guard *guard_new(const char *allow, const char *deny, const char *sqlite_dirs, char *err,
                        size_t errlen);
void guard_free(struct guard *guard);

/*
 * Checks a host as written in a URL (hostname or literal IP, IPv6 without
 * brackets), without DNS: 0 when acceptable so far, -1 with the reason.
 * Safe on the event loop thread.
 */
int guard_check_host_literal(const struct guard *guard, const char *host, char *why, size_t len);

/*
 * Resolves `host` (getaddrinfo: blocking, call on a worker) and checks every
 * address it resolves to. 0, or -1 with the reason. A host that does not
 * resolve passes (the driver reports that failure itself).
 */
int guard_check_host_resolved(const struct guard *guard, const char *host, char *why, size_t len);

/*
 * Checks a sqlite path: resolves `..` and symlinks (realpath) and requires it
 * inside one of the configured directories. 0, or -1 with the reason.
 */
int guard_check_sqlite_path(const struct guard *guard, const char *path, char *why, size_t len);

/* 1 when no sqlite directories are configured (every readable path allowed). */
int guard_sqlite_unconfined(const struct guard *guard);

#endif
