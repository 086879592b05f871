/* nokind.so: declares neither the sql nor the document capability. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "nokind");
    driver.capabilities &= ~(uint32_t)QUARRY_CAP_SQL;
    return &driver;
}
