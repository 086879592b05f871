#include "snapshots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "registry.h"

int snapshots_latest_version(struct registry *registry, const char *connection_id)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(registry_db(registry),
                           "SELECT ifnull(max(version), 0) FROM snapshots WHERE connection_id = ?",
                           -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(stmt, 1, connection_id, -1, SQLITE_TRANSIENT);
    int version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return version;
}

char *snapshots_get_text(struct registry *registry, const char *connection_id, int version,
                         enum snapshots_part part)
{
    static const char *const columns[] = {[SNAPSHOT_SEMANTIC] = "snapshot",
                                          [SNAPSHOT_GRAPH] = "graph",
                                          [SNAPSHOT_SAMPLES] = "samples"};
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM snapshots WHERE connection_id = ?1 AND version = CASE WHEN ?2 > 0 "
             "THEN ?2 ELSE (SELECT max(version) FROM snapshots WHERE connection_id = ?1) END",
             columns[part]);
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(registry_db(registry), sql, -1, &stmt, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(stmt, 1, connection_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 2, version);
    char *text = NULL;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        text = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return text;
}

json_t *snapshots_get(struct registry *registry, const char *connection_id, int version,
                      enum snapshots_part part)
{
    char *text = snapshots_get_text(registry, connection_id, version, part);
    json_t *value = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    free(text);
    return value;
}

static void bind_json(sqlite3_stmt *stmt, int idx, const json_t *json)
{
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    sqlite3_bind_text(stmt, idx, text ? text : "null", -1, text ? free : SQLITE_STATIC);
}

int snapshots_insert(struct registry *registry, const char *connection_id, int version,
                     const char *schema_hash, const json_t *snapshot, const json_t *graph,
                     const json_t *samples, const char *job_id)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(registry_db(registry),
                           "INSERT INTO snapshots (connection_id, version, schema_hash, snapshot, "
                           "graph, samples, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    sqlite3_bind_text(stmt, 1, connection_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 2, version);
    sqlite3_bind_text(stmt, 3, schema_hash, -1, SQLITE_TRANSIENT);
    bind_json(stmt, 4, snapshot);
    bind_json(stmt, 5, graph);
    bind_json(stmt, 6, samples);
    sqlite3_bind_text(stmt, 7, job_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 8, now, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? version : -1;
    if (rc < 0)
        log_error("registry: storing snapshot %d of %s: %s", version, connection_id,
                  sqlite3_errmsg(registry_db(registry)));
    sqlite3_finalize(stmt);
    return rc;
}
