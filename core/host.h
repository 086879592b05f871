/*
 * The host side of driver calls: the services table handed to plugins, and
 * the per-call context (deadline, row limit, cancellation) behind each
 * `struct quarry_ctx` the host passes to a driver.
 */
#ifndef QUARRY_HOST_H
#define QUARRY_HOST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "quarry/driver.h"

/* One driver call's control block; `ctx` is what the driver sees. */
struct host_call {
    struct quarry_ctx ctx;
    atomic_int cancelled;
};

/* Deadline `timeout_ms` from now (0 = none); `row_limit` 0 = none. */
void host_call_init(struct host_call *call, int32_t timeout_ms, uint64_t row_limit);
/* Safe from any thread: the driver sees ctx_expired() become true. */
void host_call_cancel(struct host_call *call);

/* An empty error struct, ready to pass to a driver. */
void host_error_init(struct quarry_error *err);

/*
 * A stable error code for a job that failed on its target, from a driver
 * status: "target_auth_failed", "target_unreachable", "target_timeout",
 * "target_not_found" or "target_error".
 */
const char *host_status_code(int status);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t host_now_ms(void);

/* The services table handed to drivers; valid for the process. */
const struct quarry_host *host_services(void);

/*
 * Copies a struct a plugin wrote into the host's own `dst` of `dst_size`
 * bytes: zeroes `dst`, then copies min(src's struct_size, dst_size) bytes, so
 * the fields an older, smaller writer lacks read as zero / NULL and the host
 * never reads past the end of what the writer declared. `src` must begin with
 * abi_version and struct_size, as every boundary struct does; the copy keeps
 * the writer's struct_size. Returns the number of bytes copied.
 */
size_t host_copy_struct(void *dst, size_t dst_size, const void *src);

#endif
