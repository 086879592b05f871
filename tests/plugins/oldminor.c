/*
 * oldminor.so: a valid driver built against an older, smaller struct: its
 * struct_size stops before `cancel`. The field still holds a function here,
 * so a host that read past struct_size would see it; the host's copy must
 * read NULL instead.
 */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "oldminor");
    driver.capabilities &= ~(uint32_t)QUARRY_CAP_CANCEL;
    driver.struct_size = (uint32_t)offsetof(struct quarry_driver, cancel);
    return &driver;
}
