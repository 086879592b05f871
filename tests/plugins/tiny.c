/* tiny.so: a struct_size too small to hold the ABI v1.0 fields. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "tiny");
    driver.struct_size = (uint32_t)offsetof(struct quarry_driver, version);
    return &driver;
}
