/*
 * The "export" job: turns a connection's tables into documents for
 * ingestion. Per table, one overview document (markdown: description,
 * columns with types and semantic types, keys and relations, statistics, a
 * few sample rows) and row documents in pages (markdown tables or JSONL),
 * each with metadata (connection, table, row range, snapshot version,
 * content hash). Stored through documents.h, then indexed for search.
 *
 * Rows stream from the driver (`SELECT * FROM <table>`, or a find for a
 * document store) through a row sink that writes a page at a time: memory
 * is one page (at most EXPORT_DOC_MAX_BYTES plus one row), whatever the
 * table's size. Cells are capped so that one row stays under
 * EXPORT_ROW_BUDGET; a longer value is cut and marked.
 *
 * The connection's latest semantic snapshot, when there is one, supplies
 * descriptions, semantic types and statistics; without one the export
 * works from a fresh introspection.
 */
#ifndef QUARRY_EXPORT_H
#define QUARRY_EXPORT_H

#include <stddef.h>

#include <jansson.h>

struct job_context;

#define EXPORT_ROWS_DEFAULT 500
#define EXPORT_ROWS_MAX 10000
#define EXPORT_TABLES_MAX 1000 /* names in a request's "tables" */
#define EXPORT_NAME_MAX 512
#define EXPORT_DOC_MAX_BYTES (4u << 20)
#define EXPORT_ROW_BUDGET (1u << 20)

/*
 * Checks a request body ({"connection_id", "tables"?, "rows_per_document"?,
 * "format"?}) and returns the job's payload with defaults filled in (new
 * reference), or NULL with the reason in `why`.
 */
json_t *export_payload(const json_t *body, char *why, size_t len);

/* The job function (register it as kind "export"). */
void export_job(struct job_context *ctx);

#endif
