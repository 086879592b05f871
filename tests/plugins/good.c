/* good.so: a valid driver; every other plugin here differs from it in one way. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "good");
    static const char *const schemes[] = {"good", "good+tls", NULL};
    driver.url_schemes = schemes;
    driver.description = "the good test driver";
    return &driver;
}
