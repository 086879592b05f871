/*
 * A catalog sink for the driver suites of SQL databases (sqlite, postgres):
 * it records what a driver's introspect reports and checks the order of the
 * reports. Test code only; linked into quarry_tests.
 */
#ifndef QUARRY_CATALOG_REC_H
#define QUARRY_CATALOG_REC_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/driver.h"

/*
 * A catalog sink that records what a driver's introspect reports. Tables are
 * named "schema.table", or "table" where the database has no schemas. Up to
 * CAT_MAX entries of each kind are kept; the counts go on past it.
 */
#define CAT_MAX 2048

struct cat_table {
    char *name; /* "schema.table" */
    int kind;
    int64_t rows;
    char *comment;
};
struct cat_column {
    char *table, *name, *type, *dflt, *comment;
    int ordinal, nullable, pk;
};
struct cat_fk {
    char *table, *name, *cols, *ref_table, *ref_cols;
};
struct cat_index {
    char *table, *name, *cols;
    int unique, primary;
};

struct cat_rec {
    size_t stop_after_tables; /* answer STOP after this many tables; 0 never */
    /* Entries reported after a STOP, and entries not of the table reported last. */
    int stopped, after_stop, misordered;
    char *current; /* the last table reported */
    size_t ntables, ncolumns, nfks, nindexes;
    struct cat_table tables[CAT_MAX];
    struct cat_column columns[CAT_MAX];
    struct cat_fk fks[CAT_MAX];
    struct cat_index indexes[CAT_MAX];
};

/*
 * Introspects through `conn` (schemas NULL: the driver's default scope) with
 * a fresh call of `timeout_ms` (0 none) into a new recorder, which the caller
 * frees with cat_free. The driver's status goes to `*status`.
 */
struct cat_rec *dt_introspect(const struct quarry_driver *drv, struct quarry_conn *conn,
                              const char *const *schemas, size_t nschemas, size_t stop_after_tables,
                              int32_t timeout_ms, int *status, struct quarry_error *err);
void cat_free(struct cat_rec *r);

/* Lookups in a recorder: NULL (or 0) when absent. */
const struct cat_table *find_table(const struct cat_rec *r, const char *name);
const struct cat_column *find_column(const struct cat_rec *r, const char *table, const char *name);
size_t count_columns(const struct cat_rec *r, const char *table);
const struct cat_fk *find_fk(const struct cat_rec *r, const char *table, const char *cols);
const struct cat_index *find_index(const struct cat_rec *r, const char *name);

#endif
