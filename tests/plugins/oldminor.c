/*
 * oldminor.so: a valid driver built against an older, smaller struct: its
 * struct_size stops before `cancel`. That field and `scan` (ABI 1.1) still
 * hold functions here, so a host that read past struct_size would see them;
 * the host's copy must read NULL instead.
 */
#include "testdrv.h"

static struct quarry_driver driver;

static int never_scan(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                      const char *table, const struct quarry_row_sink *sink,
                      struct quarry_error *err)
{
    (void)conn, (void)ctx, (void)schema, (void)table, (void)sink;
    return testdrv_host->error_set(err, QUARRY_ERR_INTERNAL, NULL, 0, "read past struct_size");
}

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "oldminor");
    driver.capabilities &= ~(uint32_t)QUARRY_CAP_CANCEL;
    driver.scan = never_scan;
    driver.struct_size = (uint32_t)offsetof(struct quarry_driver, cancel);
    return &driver;
}
