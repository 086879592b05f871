/*
 * Driver plugin loader: loads the enabled drivers `NAME.so` from one
 * directory, validates them against the SDK's ABI rules, and keeps them for
 * the life of the process (never dlclose'd). Refusals are logged (one line
 * naming the file and the reason) and kept for GET /v1/drivers.
 *
 * Loading and global init happen on the main thread before any worker starts;
 * afterwards the table is read-only and safe to read from every thread.
 */
#ifndef QUARRY_LOADER_H
#define QUARRY_LOADER_H

#include <stddef.h>

#include <jansson.h>

#include "quarry/driver.h"

/*
 * Loads every name in `names` from `plugin_dir`. A refused driver never stops
 * the others. Returns the number loaded. Calling it again adds to the table
 * (tests do); a name already loaded is refused as a duplicate.
 */
int loader_load(const char *plugin_dir, const char *const *names, size_t nnames);

/*
 * A loaded driver by name, or NULL. The returned table is the host's own
 * zero-padded copy (sizeof(struct quarry_driver)), valid for the process.
 */
const struct quarry_driver *loader_find(const char *name);

/* The loaded driver that declares URL scheme `scheme` (case-insensitive), or NULL. */
const struct quarry_driver *loader_find_by_scheme(const char *scheme);

/* Number of loaded drivers, and the i-th (0-based, load order). */
size_t loader_count(void);
const struct quarry_driver *loader_at(size_t i);

/*
 * {"drivers": [{name, version, abi_version: "1.0", url_schemes: [...],
 *   capabilities: [...], dialect, description, path}],
 *  "refused": [{name, path, reason}]}. Caller owns the result.
 */
json_t *loader_report(void);

/* The reason the named driver was refused, or NULL (borrowed). */
const char *loader_refusal(const char *name);

/* Per-thread hooks of every loaded driver; called by each worker thread. */
void loader_thread_start(void);
void loader_thread_stop(void);

/* Calls global_cleanup of every driver; at exit, after workers stopped. */
void loader_shutdown(void);

#endif
