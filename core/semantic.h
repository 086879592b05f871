/*
 * Semantic analysis of a profiled catalog: what each column holds (an
 * email, a foreign key, a price ...), whether it is personal data, what role
 * each table plays (fact, dimension, junction, lookup), a generated
 * description of both, and the versioned snapshot JSON the API serves.
 *
 * Classification combines four kinds of evidence, none decisive alone:
 *   - the name, split into words (snake_case, camelCase, "CustomerID",
 *     run-together words such as "homepage" or "emailaddress");
 *   - the values in the profile (column->profile, may be NULL): scanners for
 *     emails, URLs, phone numbers, ISO dates and times, JSON, numbers and
 *     booleans, each needing a majority of the distinct values sampled;
 *   - the declared type (DATE, TIMESTAMP, BOOL, JSON, MONEY, NUMERIC ...);
 *   - keys and cardinality (primary and foreign keys; few short distinct
 *     values make a category, long varied text is free text).
 * Values contradict a name: "email_verified" holding 0/1 is a boolean.
 * Decisions worth knowing:
 *   - A geographic name (Country, City, Region ...) wins over cardinality:
 *     Customer.Country is SEM_GEO. Its top values are still reported when
 *     it is categorical (few distinct values), as for categories and booleans.
 *   - The descriptive text column of a lookup table (Genre.Name) is a
 *     category even though it is unique in its own table: its values are
 *     the categories of the tables that reference it.
 *   - A column named like "<table>_id" that is not declared a foreign key
 *     but names another table of the catalog is an inferred foreign key
 *     (document stores declare none).
 *   - Binary columns (BLOBs) are SEM_BINARY, an addition to the list below.
 */
#ifndef QUARRY_SEMANTIC_H
#define QUARRY_SEMANTIC_H

#include <jansson.h>

#include "catalog.h"

/* Semantic types (static strings, compared by pointer or strcmp). */
extern const char SEM_IDENTIFIER[], SEM_FOREIGN_KEY[], SEM_EMAIL[], SEM_URL[], SEM_PHONE[],
    SEM_PERSON_NAME[], SEM_CURRENCY[], SEM_PERCENTAGE[], SEM_DATETIME[], SEM_BOOLEAN[],
    SEM_CATEGORY[], SEM_FREE_TEXT[], SEM_GEO[], SEM_JSON[], SEM_BINARY[];
/* Nothing more specific: numbers, and other text. */
extern const char SEM_NUMBER[], SEM_TEXT[];

/* Table roles (static strings). */
extern const char ROLE_FACT[], ROLE_DIMENSION[], ROLE_JUNCTION[], ROLE_LOOKUP[];

/*
 * Sets semantic_type, pii and description of every column, and role and
 * description of every table (replacing earlier results). Uses the profiles
 * where present; without them it decides from names, types and keys.
 * Roles:
 *   junction   two or more foreign-key columns and nothing else but keys
 *              (PlaylistTrack);
 *   fact       events or measures that reference other tables: a dated
 *              table with a measure or several references, a line table
 *              referencing a fact (InvoiceLine), or an unreferenced table of
 *              measures referencing two or more others;
 *   lookup     small (at most LOOKUP_MAX_ROWS rows), referenced, no
 *              references out, at most two non-key columns of short text;
 *   dimension  anything else (entities others describe or reference).
 */
#define LOOKUP_MAX_ROWS 200
void semantic_analyze(struct catalog *catalog);

/*
 * The snapshot of a catalog after semantic_analyze. Caller owns the result
 * (NULL out of memory). `previous` (borrowed, may be NULL) is the snapshot of
 * the last version, for drift.
 *
 * {"version": N,
 *  "schema_hash": "<64 hex>",            semantic_schema_hash
 *  "generated_at": "<RFC 3339 UTC>",
 *  "dialect": "sqlite" | "postgresql" | ...,
 *  "tables": [{
 *     "schema": string | null, "name", "kind": "table" | "view" |
 *     "materialized_view" | "collection", "row_count": integer | null,
 *     "role", "description",
 *     "columns": [{
 *        "name", "type": declared type | null, "nullable": bool | null,
 *        "primary_key": bool, "semantic_type", "pii": bool, "description",
 *        "null_fraction": number | null,       null when not profiled
 *        "distinct_estimate": integer | null,
 *        "min", "max": number (numeric columns) | string | null,
 *        "top_values": [{"value", "count"}]    categorical columns only
 *                                              (category, boolean, geo with
 *                                              few values); else absent
 *        "foreign_key": {"table", "column"} | null
 *                      (with "inferred": true when not declared)
 *     }]
 *  }],
 *  "drift": {"previous_version": N-1 | null,
 *            "tables_added": ["schema.name" or "name" ...], "tables_removed": [...],
 *            "columns_added": ["table.column" ...], "columns_removed": [...],
 *            "columns_changed": [{"table", "column", "from", "to"}]}}
 *
 * Drift compares with `previous` by table label and column name; a column
 * changed when its declared type did ("from"/"to" are the types, null when
 * undeclared). Columns of added or removed tables are not listed again.
 * Without `previous` every list is empty and previous_version is null.
 */
json_t *semantic_snapshot(const struct catalog *catalog, int version, const json_t *previous);

/*
 * Hex SHA-256 (libsodium) of a canonical text of the schema: tables sorted
 * by schema and name with their kind; columns in ordinal order with declared
 * type, nullability and primary-key position; foreign keys and unique
 * indexes by their columns (not their names). Profiles, row counts and
 * analysis results do not enter it.
 */
void semantic_schema_hash(const struct catalog *catalog, char out[65]);

#endif
