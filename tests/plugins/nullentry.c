/* nullentry.so: its entry fails, sets an error through the host and returns NULL. */
#include "quarry/driver.h"

QUARRY_DRIVER_ENTRY
{
    host->error_set(err, QUARRY_ERR_INTERNAL, NULL, 0, "libfoo %d.%d not found", 3, 1);
    return NULL;
}
