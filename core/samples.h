/*
 * Verified sample queries: natural-language questions with the query that
 * answers each, generated from a profiled, semantically analysed catalog and
 * its knowledge graph (graph.h), rendered through sqlgen in the catalog's
 * dialect, and run once against the database so that only queries that work
 * are offered (to the text-to-SQL engines as examples, and to users).
 *
 * Kinds, at most one or two of each, in this order:
 *   "count"            How many <rows> of the main table (a fact table, else the largest)
 *   "top_n"            the top 5 of a dimension by a measure summed over a fact,
 *                      through a foreign key (declared, or inferred with a
 *                      confidence of at least 0.6: names alone never reach it)
 *   "group_count"      rows per value of a category column (up to two tables)
 *   "join_group_count" rows of a table per row of the table it references
 *   "join_list"        a few columns of a table with a label of the table it references
 *   "date_range"       rows in the last year the profile of a datetime column saw
 *   "group_by_year"    rows per year of a datetime column
 *   "category_filter"  rows whose category column holds its most frequent value
 *   "average"          the average of a measure
 * Everything is chosen from the catalog in its own order, so the same
 * catalog and graph give the same samples. What analysis did not provide
 * is guessed from declared types and names (semantic_type and role may be
 * NULL); what needs a profile (categories, date ranges) is skipped without.
 */
#ifndef QUARRY_SAMPLES_H
#define QUARRY_SAMPLES_H

#include <jansson.h>

#include "catalog.h"
#include "quarry/driver.h"

#define SAMPLES_MAX 12         /* samples returned at most */
#define SAMPLES_ROW_LIMIT 50   /* rows a verifying run may read */
#define SAMPLES_QUERY_MS 10000 /* longest a single verifying run may take */

/*
 * The candidate samples, not yet run: a JSON array of
 * {"question", "sql" (or "pipeline" for MongoDB: the aggregate command as JSON
 * text), "kind", "tables": [labels]}, at most SAMPLES_MAX. Deterministic; no
 * I/O. NULL only when out of memory. Caller owns the result.
 */
json_t *samples_candidates(const struct catalog *catalog, const json_t *graph);

/*
 * The candidates, each run once through `driver->execute` on `conn` (a
 * deadline of at most SAMPLES_QUERY_MS, and `budget_ms` for them all; at
 * most SAMPLES_ROW_LIMIT rows read), keeping those that ran and returned
 * rows, with "row_count" (rows read, capped by the limit) and "verified":
 * true. A sample that failed, or answered nothing (no use as an example), is
 * dropped; the run stops when the budget is spent (`budget_ms` <= 0: only
 * the per-query deadline applies).
 * NULL only when out of memory. Worker threads only. Caller owns the result.
 */
json_t *samples_generate(const struct catalog *catalog, const json_t *graph,
                         const struct quarry_driver *driver, struct quarry_conn *conn,
                         int budget_ms);

#endif
