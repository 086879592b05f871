#include "host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

int64_t host_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void host_call_init(struct host_call *call, int32_t timeout_ms, uint64_t row_limit)
{
    memset(call, 0, sizeof(*call));
    QUARRY_STRUCT_INIT(&call->ctx);
    /* A negative budget is one already spent: expired, not unlimited. */
    if (timeout_ms != 0) {
        int64_t deadline = host_now_ms() + timeout_ms;
        call->ctx.deadline_ms = deadline > 0 ? deadline : 1;
    }
    call->ctx.row_limit = row_limit;
    /* Lets ctx_expired() tell our ctx from one a driver's own test built. */
    call->ctx.host_private = call;
    atomic_init(&call->cancelled, 0);
}

void host_call_cancel(struct host_call *call)
{
    atomic_store(&call->cancelled, 1);
}

void host_error_init(struct quarry_error *err)
{
    memset(err, 0, sizeof(*err));
    QUARRY_STRUCT_INIT(err);
}

size_t host_copy_struct(void *dst, size_t dst_size, const void *src)
{
    uint32_t header[2];
    memcpy(header, src, sizeof(header));
    size_t n = header[1] < dst_size ? header[1] : dst_size;
    memset(dst, 0, dst_size);
    memcpy(dst, src, n);
    return n;
}

/*
 * The host_call behind a ctx, when the host made it. `ctx` is the first
 * member of struct host_call; host_private confirms the ctx really sits in
 * one (a driver may pass a ctx of its own, or the host a copied one).
 */
static const struct host_call *call_of(const struct quarry_ctx *ctx)
{
    const struct host_call *call = ctx->host_private;
    return call && &call->ctx == ctx ? call : NULL;
}

static int host_ctx_expired(const struct quarry_ctx *ctx)
{
    if (!ctx)
        return 0;
    const struct host_call *call = call_of(ctx);
    if (call && atomic_load(&call->cancelled))
        return 1;
    return ctx->deadline_ms != 0 && host_now_ms() >= ctx->deadline_ms;
}

static int32_t host_ctx_remaining_ms(const struct quarry_ctx *ctx)
{
    if (!ctx || ctx->deadline_ms == 0)
        return INT32_MAX;
    int64_t left = ctx->deadline_ms - host_now_ms();
    if (left <= 0)
        return 0;
    return left > INT32_MAX ? INT32_MAX : (int32_t)left;
}

static void host_log(int level, const char *driver, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vtagged(level, driver ? driver : "driver", fmt ? fmt : "", ap);
    va_end(ap);
}

static int host_error_set(struct quarry_error *err, int status, const char *sqlstate,
                          int native_code, const char *fmt, ...)
{
    /* First error wins: the root cause, not its echoes up the stack. */
    if (!err || err->status != QUARRY_OK || status == QUARRY_OK)
        return status;
    err->status = status;
    err->native_code = native_code;
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%.5s", sqlstate ? sqlstate : "");
    err->message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return status;
}

static void *host_alloc(size_t size)
{
    return malloc(size);
}

static void *host_realloc(void *ptr, size_t size)
{
    return realloc(ptr, size);
}

static void host_free(void *ptr)
{
    free(ptr);
}

static const struct quarry_host services = {
    .abi_version = QUARRY_ABI_VERSION,
    .struct_size = sizeof(struct quarry_host),
    .log = host_log,
    .alloc = host_alloc,
    .realloc = host_realloc,
    .free = host_free,
    .error_set = host_error_set,
    .ctx_expired = host_ctx_expired,
    .ctx_remaining_ms = host_ctx_remaining_ms,
};

const struct quarry_host *host_services(void)
{
    return &services;
}

const char *host_status_code(int status)
{
    switch (status) {
    case QUARRY_ERR_AUTH:
        return "target_auth_failed";
    case QUARRY_ERR_CONNECT:
        return "target_unreachable";
    case QUARRY_ERR_TIMEOUT:
        return "target_timeout";
    case QUARRY_ERR_NOT_FOUND:
        return "target_not_found";
    default:
        return "target_error";
    }
}
