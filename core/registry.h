/*
 * The registry: Quarry's own state in one SQLite file (WAL, foreign keys,
 * busy timeout, durable commits), brought to the current schema by numbered
 * migrations at open. A handle is used by one thread; each thread that needs
 * the registry opens its own (WAL lets readers run beside the writer).
 */
#ifndef QUARRY_REGISTRY_H
#define QUARRY_REGISTRY_H

#include <stddef.h>

#include <sqlite3.h>

struct registry;

/* Opens (creating if needed) and migrates. NULL with a message in `err` on failure. */
struct registry *registry_open(const char *path, char *err, size_t errlen);
void registry_close(struct registry *registry);

/* The SQLite handle, for the registry_*.c modules. Borrowed. */
sqlite3 *registry_db(struct registry *registry);
const char *registry_path(const struct registry *registry);

/* The schema version after migrations (the number of the last one applied). */
int registry_schema_version(struct registry *registry);
/* Number of migrations this build knows. */
int registry_migrations_known(void);

/*
 * The calling thread's own handle, for worker threads: attach once when the
 * thread starts (opens the file; migrations already ran), detach when it ends.
 */
int registry_thread_attach(const char *path);
void registry_thread_detach(void);
/* The handle attached to this thread, or NULL. */
struct registry *registry_thread(void);

/* A prepared statement, or NULL after logging the error. Caller finalizes. */
sqlite3_stmt *registry_prepare(struct registry *registry, const char *sql);
/* Binds text, or NULL for a NULL pointer (copied by SQLite). */
void registry_bind_text(sqlite3_stmt *stmt, int index, const char *text);

/* 0 when the registry answers a trivial query. */
int registry_ping(struct registry *registry);

#endif
