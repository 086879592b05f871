/*
 * Captured tables and columns in the registry: stored from an analysed
 * catalog (updated in place, ids kept, user descriptions kept, vanished ones
 * marked gone), listed, fetched with their columns and keys, soft-deleted
 * and restored.
 */
#ifndef QUARRY_TABLES_H
#define QUARRY_TABLES_H

#include <stddef.h>

#include <jansson.h>

#include "connections.h"

struct catalog;
struct registry;

enum tables_rc { TABLES_OK = 0, TABLES_ERROR = -1, TABLES_NOT_FOUND = -2 };

/*
 * Stores `catalog` as the tables of `connection_id`, in one transaction.
 * Counts go to `*stored` and `*gone` (may be NULL).
 */
int tables_store_catalog(struct registry *registry, const char *connection_id,
                         const struct catalog *catalog, long *stored, long *gone);

struct tables_filter {
    const char *connection_id; /* NULL: every connection (deleted lists) */
    const char *agent_id;      /* only tables of this agent's connections, or NULL */
    enum conn_visibility visibility;
    const char *schema; /* exact, or NULL */
    const char *search; /* substring of the name, or NULL */
    long page, per_page;
};

/* {"tables": [...], "total", "page", "per_page", "total_pages"}. New reference. */
json_t *tables_list(struct registry *registry, const struct tables_filter *filter);

/* A table with its columns, keys, relations and statistics, or NULL (`*rc` says why). */
json_t *tables_get(struct registry *registry, const char *table_id, enum conn_visibility vis,
                   int *rc);

/* The connection a table belongs to (any visibility), into `out` (ID_UUID_LEN + 1). */
int tables_connection(struct registry *registry, const char *table_id, char *out);

/* Soft-deletes every live table of a connection; the count goes to `*count`. */
int tables_soft_delete_all(struct registry *registry, const char *connection_id, long *count);
int tables_soft_delete(struct registry *registry, const char *table_id);
int tables_restore(struct registry *registry, const char *table_id);

/*
 * A user's descriptions: `description` (may be NULL to keep) for the table,
 * `columns` (object name -> string, may be NULL) for its columns. They
 * survive re-analysis.
 */
int tables_describe(struct registry *registry, const char *table_id, const char *description,
                    const json_t *columns);

#endif
