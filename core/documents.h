/*
 * Exported documents in the registry: what an export stages, the one
 * transaction that makes a connection's new documents live in place of the
 * previous ones, and the reads and deletes the documents API serves.
 *
 * An export (identified by its job id) stages each document it produces.
 * A document whose key (connection, schema, table, kind, part) and content
 * hash equal a live one's is not stored again: the live one is kept, with
 * its id. documents_commit_export then swaps, atomically: kept and staged
 * documents live, every other live document of the exported tables retired.
 * Retired documents are deleted in small batches by documents_collect.
 *
 * A document's content is a row of its own (document_content, under the
 * document's seq), written once when it is staged: the swap and the search
 * indexing update the small document rows only.
 *
 * Every function runs on the thread that owns `registry`. Staging runs in
 * the caller's transaction when there is one (an export batches pages);
 * collection and indexing are batched, so no call holds the write lock for
 * long.
 */
#ifndef QUARRY_DOCUMENTS_H
#define QUARRY_DOCUMENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "connections.h"
#include "ids.h"

struct registry;

enum documents_rc { DOCS_OK = 0, DOCS_ERROR = -1, DOCS_NOT_FOUND = -2 };

/* What an export hands over for one document; everything borrowed. */
struct document_in {
    const char *connection_id;
    const char *schema; /* NULL or "" without schemas */
    const char *table;
    const char *kind; /* "overview" | "rows" */
    int part;         /* 0 for the overview, 1.. for row pages */
    const char *format;
    const char *title;
    const char *content; /* UTF-8 text */
    size_t content_len;
    const char *content_hash; /* hex */
    const char *metadata;     /* a JSON object as text; the id and hash are added when served */
    int index_now;            /* 1: into the search index at once (small documents) */
};

/*
 * Stages `doc` for export `export_id`. The document's id goes to `id_out`;
 * `*kept` is 1 when an unchanged live document was kept instead.
 */
int documents_stage(struct registry *registry, const char *export_id, const struct document_in *doc,
                    char *id_out, int *kept);

/* Records that export `export_id` replaces the documents of this table (call before staging). */
int documents_stage_table(struct registry *registry, const char *export_id, const char *schema,
                          const char *table);

/*
 * Makes export `export_id` of `connection_id` live, in one transaction:
 * its staged and kept documents become live, every other live document of
 * the connection is retired (`all_tables`), or only those of the tables
 * recorded with documents_stage_table. Counts of live documents after the
 * swap, and of retired ones, go to `*live` and `*retired` (may be NULL).
 */
int documents_commit_export(struct registry *registry, const char *export_id,
                            const char *connection_id, int all_tables, long *live, long *retired);

/*
 * Drops what an export staged and never committed: this one's (a failed
 * run, or an earlier attempt of a requeued job) and those of exports of
 * `connection_id` no longer queued or running.
 */
int documents_discard_stale(struct registry *registry, const char *export_id,
                            const char *connection_id);

/*
 * Deletes retired documents of `connection_id` (NULL: any), at most
 * `batch` per transaction, until none is left. Returns how many, or -1.
 */
long documents_collect(struct registry *registry, const char *connection_id, int batch);

/*
 * Adds the live documents of `connection_id` not yet in the search index to
 * it, at most `batch` per transaction. `progress` (may be NULL) is called
 * after each batch with the count so far. Returns how many, or -1.
 */
long documents_index_pending(struct registry *registry, const char *connection_id, int batch,
                             void (*progress)(void *arg, long done), void *arg);

struct documents_filter {
    const char *connection_id; /* or NULL */
    const char *agent_id;      /* only documents of this agent's connections, or NULL */
    const char *table;         /* "name" or "schema.name", or NULL */
    const char *kind;          /* "overview" | "rows", or NULL */
    long page, per_page;
};

/*
 * {"documents": [...], "total", "page", "per_page", "total_pages"} of live
 * documents of live connections, without their content. New reference.
 */
json_t *documents_list(struct registry *registry, const struct documents_filter *filter);

/* {id, connection_id, table, ..., content, metadata} of a live document, or NULL (`*rc`). */
json_t *documents_get(struct registry *registry, const char *id, int *rc);

/* The connection of a live document of a live connection, into `out` (ID_UUID_LEN + 1). */
int documents_connection(struct registry *registry, const char *id, char *out);

/* Deletes a document (and its index entry). */
int documents_delete(struct registry *registry, const char *id);

#endif
