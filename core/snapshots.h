/* Versioned analysis results of a connection: snapshot, knowledge graph, sample queries. */
#ifndef QUARRY_SNAPSHOTS_H
#define QUARRY_SNAPSHOTS_H

#include <jansson.h>

struct registry;

enum snapshots_part { SNAPSHOT_SEMANTIC, SNAPSHOT_GRAPH, SNAPSHOT_SAMPLES };

/* The latest version number of a connection's snapshots, or 0 when never analysed (-1 on error). */
int snapshots_latest_version(struct registry *registry, const char *connection_id);

/*
 * One part of version `version` (0 = the latest); NULL when there is none.
 * New reference.
 */
json_t *snapshots_get(struct registry *registry, const char *connection_id, int version,
                      enum snapshots_part part);

/* The same part as stored JSON text, unparsed (caller frees); NULL when there is none. */
char *snapshots_get_text(struct registry *registry, const char *connection_id, int version,
                         enum snapshots_part part);

/* Stores a new version (references borrowed); returns its number, or -1. */
int snapshots_insert(struct registry *registry, const char *connection_id, int version,
                     const char *schema_hash, const json_t *snapshot, const json_t *graph,
                     const json_t *samples, const char *job_id);

#endif
