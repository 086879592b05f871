/*
 * Column profiles from a bounded sample of rows: null fraction, distinct
 * estimate, min/max, the most frequent values and a set of the distinct
 * values seen (for semantic typing and join inference). Never a full scan:
 * rows come from the driver's `sample`, capped in count and time.
 */
#ifndef QUARRY_PROFILE_H
#define QUARRY_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define PROFILE_TOP_VALUES 10
#define PROFILE_MAX_DISTINCT 1000 /* distinct values kept per column */
#define PROFILE_VALUE_MAX 256     /* longer values are kept truncated */

struct profile_value_count {
    char *value;
    long count;
};

struct column_profile {
    long sampled; /* rows looked at */
    long nulls;
    long distinct;            /* distinct non-null values in the sample (capped) */
    int distinct_capped;      /* more than PROFILE_MAX_DISTINCT were seen */
    double distinct_estimate; /* extrapolated to the table's rows */
    int value_type;           /* the dominant enum quarry_value_type */
    int numeric;              /* every non-null value was a number */
    double num_min, num_max;  /* when numeric */
    char *min, *max;          /* text form: of num_min/num_max when numeric, else the least
                                 and greatest by byte order (ISO dates sort right) */
    double avg_length;        /* of text values */
    struct profile_value_count top[PROFILE_TOP_VALUES]; /* most frequent first */
    size_t ntop;
    char **values; /* the distinct values seen, sorted, `distinct` entries */
};

/*
 * Samples up to `max_rows` rows of `table` through `driver` on an open
 * connection and attaches a profile to each of its columns (replacing any).
 * `budget_ms` bounds the time: the sink stops taking rows at 90% of it and
 * the driver's deadline is the whole of it; running out of time after rows
 * arrived is not an error (the profiles cover the rows seen). Sets
 * table->sampled_rows. Returns QUARRY_OK or a driver status with `err`
 * filled; a table that cannot be sampled keeps no profiles. Columns the
 * result lacks (a document's dotted sub-fields) keep a NULL profile. Worker
 * threads only.
 */
int profile_table(const struct quarry_driver *driver, struct quarry_conn *conn,
                  struct catalog_table *table, uint32_t max_rows, int budget_ms,
                  struct quarry_error *err);

/* Frees a profile (NULL is fine). */
void profile_free(struct column_profile *profile);

/* 1 when `value` is among the profile's distinct values (binary search). */
int profile_has_value(const struct column_profile *profile, const char *value);

#endif
