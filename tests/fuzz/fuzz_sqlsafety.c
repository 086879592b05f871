/* libFuzzer target: queries (from an LLM or a user) through the safety gate, every dialect. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlsafety.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    if (!sql)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    static const char *const dialects[] = {"postgresql", "mysql", "sqlite"};
    for (size_t i = 0; i < 3; i++) {
        struct sqlsafety_verdict verdict;
        if (sqlsafety_check(sql, dialects[i], &verdict)) {
            free(sqlsafety_normalize(sql, dialects[i]));
            free(sqlsafety_limit(sql, dialects[i], 10));
        }
    }
    struct sqlsafety_verdict verdict;
    sqlsafety_check_pipeline(sql, &verdict);
    free(sql);
    return 0;
}
