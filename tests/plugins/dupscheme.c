/* dupscheme.so: claims the URL scheme of good.so (in other case). */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "dupscheme");
    static const char *const schemes[] = {"dupscheme", "GOOD", NULL};
    driver.url_schemes = schemes;
    return &driver;
}
