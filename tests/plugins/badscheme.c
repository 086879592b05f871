/* badscheme.so: declares a URL scheme that is not RFC 3986 syntax. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_DRIVER_ENTRY
{
    (void)err;
    testdrv_fill(&driver, host, "badscheme");
    static const char *const schemes[] = {"bad scheme", NULL};
    driver.url_schemes = schemes;
    return &driver;
}
