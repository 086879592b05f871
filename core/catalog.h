/*
 * A database's catalog in memory, as the analysis builds it: tables with
 * their columns, foreign keys and indexes (from a driver's introspection),
 * then what profiling and semantic analysis add. One owner frees it all with
 * catalog_free; every string in it is the catalog's own copy.
 */
#ifndef QUARRY_CATALOG_H
#define QUARRY_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/driver.h"

struct column_profile; /* profile.h */

struct catalog_column {
    char *name;
    char *type; /* as the database declares it, or NULL */
    int ordinal;
    int nullable; /* 1, 0, or -1 unknown */
    char *default_value;
    int pk_position; /* 0: not in the primary key */
    int is_array;
    char *comment;
    /* Analysis results. */
    struct column_profile *profile; /* NULL until profiled */
    const char *semantic_type;      /* static string from semantic.h, or NULL */
    int pii;
    char *description;
};

struct catalog_fk {
    char *name;
    size_t ncolumns;
    char **columns;
    char *ref_schema; /* NULL or "" when the database has no schemas */
    char *ref_table;
    char **ref_columns;
};

struct catalog_index {
    char *name;
    int unique;
    int primary;
    size_t ncolumns;
    char **columns; /* an entry may be NULL (an expression) */
};

struct catalog_table {
    char *schema; /* NULL when the database has no schemas */
    char *name;
    int kind;             /* enum quarry_table_kind */
    int64_t row_estimate; /* -1 unknown */
    char *comment;
    struct catalog_column *columns;
    size_t ncolumns;
    struct catalog_fk *fks;
    size_t nfks;
    struct catalog_index *indexes;
    size_t nindexes;
    /* Analysis results. */
    const char *role; /* static string from semantic.h: "fact", "dimension", ... */
    char *description;
    size_t sampled_rows; /* rows profiling looked at */
};

struct catalog {
    struct catalog_table *tables;
    size_t ntables;
    /* The dialect of the database it describes (from its driver). */
    char dialect[32];
    char identifier_quote; /* 0 for document stores */
    int limit_style;       /* enum quarry_limit_style */
};

struct catalog *catalog_new(const struct quarry_driver *driver);
void catalog_free(struct catalog *catalog);

/*
 * Points `sink` at callbacks that copy what a driver reports into `catalog`.
 * Entries for a table not reported first are dropped. Bounded: at most
 * CATALOG_MAX_TABLES tables and CATALOG_MAX_COLUMNS columns per table.
 */
#define CATALOG_MAX_TABLES 20000
#define CATALOG_MAX_COLUMNS 2000
void catalog_sink_init(struct quarry_catalog_sink *sink, struct catalog *catalog);

/* Lookups; `schema` NULL matches a table of any schema. Case-sensitive. */
struct catalog_table *catalog_find_table(const struct catalog *catalog, const char *schema,
                                         const char *name);
struct catalog_column *catalog_find_column(const struct catalog_table *table, const char *name);

/* "table", "view", "materialized_view" or "collection" for an enum quarry_table_kind. */
const char *catalog_kind_name(int kind);

/* "schema.name", or "name" without a schema. Caller frees. */
char *catalog_table_label(const struct catalog_table *table);

/*
 * The identifier quoted for the catalog's dialect ("x" or `x`, doubling
 * the quote inside); unquoted for document stores. Caller frees.
 */
char *catalog_quote(const struct catalog *catalog, const char *identifier);
/* The table's name as a query writes it: quoted schema and name. Caller frees. */
char *catalog_table_ref(const struct catalog *catalog, const struct catalog_table *table);

#endif
