/* misnamed.so: declares a name other than its file name. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "misnamed");
    driver.name = "other";
    return &driver;
}
