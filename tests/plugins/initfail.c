/* initfail.so: global_init fails, as a client library that cannot initialise would. */
#include "testdrv.h"

static struct quarry_driver driver;

static int initfail_global_init(struct quarry_error *err)
{
    return testdrv_host->error_set(err, QUARRY_ERR_INTERNAL, NULL, -7,
                                   "cannot initialise libfoo: %s", "no entropy");
}

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "initfail");
    driver.global_init = initfail_global_init;
    return &driver;
}
