/*
 * unresolved.so: calls a function no library defines, as a driver linked
 * against the wrong client library version would; dlopen(RTLD_NOW) fails.
 * Built without -Wl,--no-undefined for that reason.
 */
#include "testdrv.h"

void quarry_test_missing_function(void);

static struct quarry_driver driver;

static int unresolved_global_init(struct quarry_error *err)
{
    (void)err;
    quarry_test_missing_function();
    return QUARRY_OK;
}

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "unresolved");
    driver.global_init = unresolved_global_init;
    return &driver;
}
