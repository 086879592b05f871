/* noexec.so: lacks execute, a function every driver must provide. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "noexec");
    driver.execute = NULL;
    return &driver;
}
