/* nosymbol.so: exports its entry under a misspelt name, so quarry_driver_entry is missing. */
#include "testdrv.h"

static struct quarry_driver driver;

QUARRY_EXPORT const struct quarry_driver *quarry_entry(const struct quarry_host *host,
                                                       struct quarry_error *err);

const struct quarry_driver *quarry_entry(const struct quarry_host *host, struct quarry_error *err)
{
    (void)err;
    testdrv_fill(&driver, host, "nosymbol");
    return &driver;
}
