/*
 * The knowledge graph of one database: tables and columns as nodes, declared
 * foreign keys and inferred joins as edges, built from an in-memory catalog
 * (catalog.h) after profiling and semantic analysis, or from a bare
 * introspected catalog (inference then rests on names alone).
 *
 * JSON shape (every key always present; absent facts are null):
 *
 *   {"nodes": [
 *      {"id": "table:Album", "type": "table", "table": "Album", "name": "Album",
 *       "schema": null, "kind": "table"|"view"|"materialized_view"|"collection",
 *       "role": "fact"|"dimension"|...|null, "row_estimate": 347|null},
 *      {"id": "column:Album.AlbumId", "type": "column", "table": "Album",
 *       "column": "AlbumId", "data_type": "INTEGER"|null, "semantic_type": ...|null,
 *       "primary_key": true, "unique": true, "nullable": true|false|null}],
 *    "edges": [
 *      {"from": "column:Track.AlbumId", "to": "column:Album.AlbumId",
 *       "type": "foreign_key"|"inferred_join", "from_table": "Track",
 *       "from_columns": ["AlbumId"], "to_table": "Album", "to_columns": ["AlbumId"],
 *       "confidence": 1.0, "evidence": ["declared"] | ["naming", "value_overlap"],
 *       "name": constraint name|null,
 *       "name_score": 0..1|null, "value_overlap": 0..1|null},
 *      {"from": "table:Album", "to": "column:Album.AlbumId", "type": "has_column"}],
 *    "inference": {"min_confidence": 0.3, "truncated": false}}
 *
 * "table" values are table labels (catalog_table_label: "schema.name" or
 * "name"); ids are "table:<label>" and "column:<label>.<column>". A join edge
 * points from the referencing column(s) to the referenced key, its "from"/"to"
 * ids name the first column of each side. Edges come in this order: declared
 * foreign keys, inferred joins, has_column; deterministic for one catalog.
 *
 * Inference: for each column that is in no declared foreign key, every
 * candidate key of another table (or another column of its own) is scored:
 *   - naming ("name_score"): the column names the key's table (customer_id,
 *     CustomerId, customer_ref, customers_key, ... -> customers or customer;
 *     billing_customer_id scores lower), or has the key's own, non-generic
 *     name (Track.GenreId -> Genre.GenreId);
 *   - value overlap ("value_overlap"), when both sides were profiled: the
 *     fraction of the column's sampled distinct values found in the key's
 *     sampled distinct set, corrected for the part of the key the sample saw.
 * Confidence combines both (values that do not overlap sink a name match);
 * with no profiles it rests on the name, scaled down. Without a name match a
 * join is inferred from values only for id-like columns and non-numeric keys
 * (small integer keys overlap everything). Only the best target per column
 * is kept, and only at GRAPH_MIN_CONFIDENCE or above.
 * Candidate keys are single-column primary keys and single-column unique
 * indexes; a table with neither offers its id-like columns whose profile saw
 * only distinct, non-null values. Base tables never refer to views (views
 * may refer to tables and to each other). Work is bounded (GRAPH_MAX_PAIRS name
 * comparisons); "inference.truncated" says when the bound cut it short.
 */
#ifndef QUARRY_GRAPH_H
#define QUARRY_GRAPH_H

#include <jansson.h>

#include "catalog.h"

#define GRAPH_MIN_CONFIDENCE 0.3
#define GRAPH_MAX_PAIRS 4000000L /* column x candidate key comparisons */

/* The graph of `catalog` (see above), or NULL when out of memory. Caller owns it. */
json_t *graph_build(const struct catalog *catalog);

/*
 * A Mermaid erDiagram: one entity per table (names reduced to
 * [A-Za-z0-9_-], made unique), attributes "type name PK, FK", and one
 * relationship per join edge, referenced ||--o{ referencing, dotted (..)
 * for inferred joins, labelled with the referencing columns. Caller frees.
 */
char *graph_to_mermaid(const json_t *graph);

/* A Graphviz digraph of every node and edge, ids quoted, labels escaped. Caller frees. */
char *graph_to_dot(const json_t *graph);

/*
 * The shortest join path between two tables over foreign-key and inferred
 * edges, walked in either direction: fewest hops, then declared edges
 * before inferred ones, then higher confidence. Tables are named by label,
 * or by bare name when that is unambiguous. Returns a JSON array of steps
 * [{"from_table", "from_columns", "to_table", "to_columns", "type",
 * "confidence"}] oriented from `from_table_label` towards `to_table_label`
 * (an empty array when both are the same table), or NULL when either table
 * is unknown or no path joins them. Caller owns the result.
 */
json_t *graph_join_path(const json_t *graph, const char *from_table_label,
                        const char *to_table_label);

#endif
