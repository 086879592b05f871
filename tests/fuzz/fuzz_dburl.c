/* libFuzzer target: connection URLs (client input) through the parser and the masker. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dburl.h"
#include "secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    struct dburl parsed;
    char err[256];
    if (dburl_parse(url, &parsed, err, sizeof(err)) == 0)
        dburl_free(&parsed);
    free(secrets_mask_url(url));
    free(url);
    return 0;
}
