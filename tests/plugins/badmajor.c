/* badmajor.so: declares ABI 2.0, a major version this host does not speak. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "badmajor");
    driver.abi_version = QUARRY_ABI_MAKE(2, 0);
    return &driver;
}
