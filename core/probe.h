/*
 * Probing a target database: the guards that need DNS or the filesystem,
 * then a real connection through its driver (open, ping, close), timed.
 * Blocking: call on a worker thread only.
 */
#ifndef QUARRY_PROBE_H
#define QUARRY_PROBE_H

#include <jansson.h>

#include "connections.h"
#include "quarry/driver.h"

struct guard;

struct probe_outcome {
    int refused; /* a guard said no: answer 422 with `why` */
    char why[512];
    struct conn_test test; /* otherwise: the test's outcome (ok or not) */
};

/*
 * `params` (borrowed, may be NULL) is flattened to strings for the driver.
 * `timeout_ms` bounds the connect and the ping.
 */
void probe_target(const struct quarry_driver *driver, const struct guard *guard, const char *url,
                  const json_t *params, int timeout_ms, struct probe_outcome *out);

struct pools;

/*
 * As probe_target for a registered connection, through its pool: a pooled
 * connection is borrowed (opened, or reused after a health check) and
 * pinged; one that fails is dropped from the pool.
 */
void probe_target_pooled(struct pools *pools, const char *connection_id,
                         const struct quarry_driver *driver, const struct guard *guard,
                         const char *url, const json_t *params, int timeout_ms,
                         struct probe_outcome *out);

/*
 * The guard checks that need DNS or the filesystem, for `url` as `driver`
 * will use it. 0, or -1 with the reason in `why`.
 */
int probe_check_target(const struct guard *guard, const struct quarry_driver *driver,
                       const char *url, char *why, size_t len);

/*
 * Opens a connection through `driver` with `params` flattened, bounded by
 * `timeout_ms`. Returns QUARRY_OK with `*out`, or a status with `err` filled.
 */
int probe_open(const struct quarry_driver *driver, const char *url, const json_t *params,
               int timeout_ms, struct quarry_conn **out, struct quarry_error *err);

/*
 * Flattens a JSON object to key/value strings for a driver: strings as they
 * are, numbers and booleans as text; nested values as compact JSON. The
 * returned array and strings live in one allocation; free it with free().
 */
struct quarry_kv *probe_flatten_params(const json_t *params, size_t *count);

#endif
