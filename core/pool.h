/*
 * Driver connection pools: one pool per registered connection id, shared by
 * every worker thread that runs work against that database (test, analysis,
 * text-to-SQL, export).
 *
 * Threading: every function is thread-safe. pools_borrow, pools_return,
 * pools_evict, pools_reap and pools_free may call the driver (open, ping,
 * close), which can block for seconds: call them from worker threads only,
 * never from an event loop. The pool never holds its mutex across a driver
 * call. A lease is used by one thread at a time, as the SDK requires of a
 * connection handle.
 *
 * Credentials: the pool keeps no URL and no parameters. A target is named by
 * its connection id plus a keyed BLAKE2b fingerprint of driver name, URL and
 * parameters; the clear URL is only read during the borrow that opens a
 * connection. Since the pool cannot reopen on its own, it never opens
 * connections in the background: min_idle is a floor for reaping only.
 */
#ifndef QUARRY_POOL_H
#define QUARRY_POOL_H

#include <stddef.h>

#include "quarry/driver.h"

struct pool_options {
    /* Idle connections per id that pools_reap keeps however long they idle. */
    size_t min_idle;
    /* Connections per id, idle and leased together; at least 1. */
    size_t max_per_connection;
    /* pools_reap closes connections idle this long; <= 0: never. */
    int idle_timeout_ms;
    /* A connection idle at least this long is pinged before it is lent; < 0: never. */
    int health_check_after_ms;
    /* How long pools_borrow waits for a slot when the id is at its maximum; 0: not at all. */
    int borrow_timeout_ms;
    /* Connection ids tracked at once; beyond it the least recently used id with
       nothing leased is dropped (its idle connections closed). At least 1. */
    size_t max_targets;
};

/* The defaults: 0 min idle, 4 per id, 5 min idle timeout, check after 30 s idle,
   wait 10 s, 1024 ids. */
void pool_options_default(struct pool_options *options);

struct pools;

/* NULL options: the defaults. Returns NULL on invalid options or no memory. */
struct pools *pools_new(const struct pool_options *options);
/* Closes every connection. No lease may be out and no borrower waiting. NULL is fine. */
void pools_free(struct pools *pools);

/*
 * What a borrow opens. All pointers are borrowed for the call only. A
 * different fingerprint (driver name, url, params) under the same id means
 * the record changed: the id's idle connections are closed, and leased ones
 * are closed when returned. `connect_timeout_ms` (0: the driver's default)
 * also bounds the health-check ping (5 s when 0).
 */
struct pool_target {
    const char *connection_id; /* at most POOL_ID_MAX bytes */
    const struct quarry_driver *driver;
    const char *url; /* clear text; never kept, never logged */
    const struct quarry_kv *params;
    size_t nparams;
    int connect_timeout_ms;
};

#define POOL_ID_MAX 256

struct pool_lease;

/*
 * Lends a connection to `target`: an idle one (pinged first when it idled
 * past health_check_after_ms; one that fails is closed and a new one opened
 * in its place, once), or a new one when the id is below its maximum, or the
 * first to come free within borrow_timeout_ms. Returns the lease, or NULL with
 * `err` (initialised here) filled: QUARRY_ERR_TIMEOUT when the id stayed full,
 * QUARRY_ERR_INVALID for a bad target, QUARRY_ERR_NOMEM when max_targets ids
 * all have leases out, or the driver's own error from open.
 */
struct pool_lease *pools_borrow(struct pools *pools, const struct pool_target *target,
                                struct quarry_error *err);

/* The driver connection of a lease, and its driver; valid until the lease is returned. */
struct quarry_conn *pool_lease_conn(const struct pool_lease *lease);
const struct quarry_driver *pool_lease_driver(const struct pool_lease *lease);

/*
 * Gives a lease back (NULL is fine). `broken`: the caller saw a
 * connection-level failure (QUARRY_ERR_CONNECT, or a status it judges fatal),
 * so the connection is closed rather than reused. The lease is invalid after.
 */
void pools_return(struct pools *pools, struct pool_lease *lease, int broken);

/* The record of `connection_id` changed or went away: closes its idle
   connections now, its leased ones when returned, and forgets the id once
   nothing of it is left. */
void pools_evict(struct pools *pools, const char *connection_id);

/*
 * Closes connections idle past idle_timeout_ms, oldest first, keeping
 * min_idle per id, and forgets ids with no connection left that have been
 * unused as long. Call periodically from a worker. Returns how many
 * connections it closed.
 */
size_t pools_reap(struct pools *pools);

struct pool_stats {
    size_t connections; /* open or being opened: idle + leased */
    size_t idle;
    size_t leased;       /* lent out, or being opened or checked for a borrower */
    size_t opened_total; /* successful opens */
    size_t closed_total; /* connections closed */
};

/* Counts for one id (zeros when the pool does not know it), or for all when
   `connection_id` is NULL. Per-id totals last as long as the id is tracked. */
void pools_stats(struct pools *pools, const char *connection_id, struct pool_stats *out);

#endif
