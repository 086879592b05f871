/*
 * The registry writer of an export: documents are handed over as they are
 * formatted and stored (documents_stage) by a thread of the export's own
 * while the source is still read, since hashing a page and writing it take
 * about as long as reading and formatting it. The writer stores pages in
 * transactions of a few megabytes and checkpoints the WAL seldom; at most
 * a few megabytes of pages wait in its queue (one page of any size may), so
 * memory stays bounded. Without a thread (it could not start) the reader
 * stores each page itself.
 */
#ifndef QUARRY_EXPORT_STAGER_H
#define QUARRY_EXPORT_STAGER_H

#include <stddef.h>

struct registry;
struct export_stager;

/* A document on its way to the registry; owns content, title and metadata (malloc'd). */
struct export_doc {
    char *content;
    size_t len;
    char *title, *metadata;
    const char *schema, *table; /* the catalog's, which outlives the writer */
    const char *kind, *format;  /* static */
    int part;
    int index_now;
    char hash[65]; /* of the content, hex; export_stager_submit fills it */
};

/* Frees `doc` and what it owns; NULL is fine. */
void export_doc_free(struct export_doc *doc);

/*
 * Starts storing the documents of export `export_id` of `connection_id`
 * (both borrowed until export_stager_finish), on its own registry handle
 * next to `job_registry`. NULL when out of memory.
 */
struct export_stager *export_stager_start(struct registry *job_registry, const char *export_id,
                                          const char *connection_id);

/* Hashes `doc` and hands it over; takes it, also on failure. 0, or -1 once storing failed. */
int export_stager_submit(struct export_stager *st, struct export_doc *doc);

/*
 * Waits until everything handed over is stored, then frees `st`. The
 * documents stored anew and those kept (unchanged) go to `*docs_new` and
 * `*docs_kept`. 0, or -1 when storing failed.
 */
int export_stager_finish(struct export_stager *st, long *docs_new, long *docs_kept);

#endif
