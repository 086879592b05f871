/*
 * The host side of driver calls: the services table handed to plugins, and
 * the per-call context (deadline, row limit, cancellation) behind each
 * `struct quarry_ctx` the host passes to a driver.
 */
#ifndef QUARRY_HOST_H
#define QUARRY_HOST_H

#include <stdatomic.h>
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

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t host_now_ms(void);

/* The services table handed to drivers; valid for the process. */
const struct quarry_host *host_services(void);

#endif
