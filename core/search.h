/*
 * Database search: one SQLite FTS5 index (search_fts, registry migration 3)
 * over exported documents and over table and column entries built from a
 * connection's latest semantic snapshot, or from an export's introspection
 * when it was never analysed. Ranked with bm25, names weighted above text,
 * with a snippet per result.
 *
 * Names are indexed three ways: as the FTS5 unicode61 tokenizer reads them
 * (in the `body`), split into words with the joined form beside them (the
 * `words` column: "CustomerId" and "customer_id" both give "customer id
 * customerid"), and whole as one word (the `name` column, weighted most, so
 * that the table named "invoice" comes before its column "InvoiceDate"). A query is tokenized by
 * the same unicode61 tokenizer and each word is looked up both ways, so `customer_id`, `CustomerId`
 * and "customer id" all find the same column. Queries are built here from words only: no FTS5
 * syntax of the caller's reaches MATCH.
 *
 * Every function runs on the thread that owns `registry`.
 */
#ifndef QUARRY_SEARCH_H
#define QUARRY_SEARCH_H

#include <stdio.h>

#include <jansson.h>

struct registry;

enum search_rc { SEARCH_OK = 0, SEARCH_ERROR = -1, SEARCH_NO_WORDS = -2 };

/* Bounds of a request, for the API to check. */
#define SEARCH_QUERY_MAX 500 /* bytes */
#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 100

/*
 * Writes the words of an identifier to `out`: its parts lower-cased
 * (snake_case, camelCase, "XMLParser", letters and digits), then, when
 * there are several, the parts joined: "CustomerId" -> "customer id
 * customerid". Only the first 256 bytes of `name` count.
 */
void search_words_write(FILE *out, const char *name);
/* The same as a new string (caller frees), or NULL out of memory. */
char *search_words(const char *name);
/* The name as one lower-case word, as the index's `name` column holds it: "customer_id" ->
   "customerid". A new string (caller frees), or NULL out of memory. */
char *search_name(const char *name);

/*
 * Replaces the table and column entries of `connection_id` with those of
 * `tables`: an array in the shape of a semantic snapshot's "tables"
 * (semantic.h: schema, name, kind, description, role, columns with name,
 * type, semantic_type, description, top_values, foreign_key); absent fields
 * are fine. `version` is the snapshot's, or 0 for an export's
 * introspection. One transaction.
 */
int search_index_tables(struct registry *registry, const char *connection_id, int version,
                        const json_t *tables);

/*
 * Rebuilds the entries of every live connection whose latest snapshot is
 * newer than what its entries were built from (at most `max_connections`
 * per call). Returns how many were rebuilt, or -1.
 */
int search_sync(struct registry *registry, int max_connections);

struct search_request {
    const char *query;
    const char *connection_id; /* only this connection, or NULL */
    const char *agent_id;      /* only this agent's connections, or NULL */
    int limit;                 /* 1..SEARCH_LIMIT_MAX */
};

/*
 * Runs a search over live connections. Returns {"results": [...], "total"}
 * (a new reference), or NULL with `*rc` SEARCH_NO_WORDS (nothing to search
 * in the query) or SEARCH_ERROR. A result: {"type": "table" | "column" |
 * "document", "connection_id", "connection_name", "schema", "table",
 * "column"?, "document_id"?, "document_kind"?, "title"?, "snippet",
 * "score"}, best first (higher scores are better). All words must match;
 * when that finds nothing, any word may.
 */
json_t *search_run(struct registry *registry, const struct search_request *request, int *rc);

#endif
