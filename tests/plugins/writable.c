/* writable.so: a valid driver, which the test copies and makes world-writable. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "writable");
    return &driver;
}
