/* badcap.so: declares the cancel capability without a cancel function. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "badcap");
    driver.cancel = NULL;
    return &driver;
}
