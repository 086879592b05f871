#include "jobs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"

/* A polling hint for clients (knowrithm-py reads it); half a second keeps tests quick. */
#define JOBS_POLL_AFTER_S 0.5

/* Runs an UPDATE of one job: ?1 = id, then up to three text values. */
static int update_job(struct registry *registry, const char *sql, const char *id, const char *a,
                      const char *b, const char *c)
{
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    if (!stmt)
        return JOBS_ERROR;
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    registry_bind_text(stmt, 1, id);
    registry_bind_text(stmt, 2, now);
    /* Binding past the statement's last parameter is a harmless SQLITE_RANGE. */
    registry_bind_text(stmt, 3, a);
    registry_bind_text(stmt, 4, b);
    registry_bind_text(stmt, 5, c);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? JOBS_OK : JOBS_ERROR;
    if (rc == JOBS_OK && sqlite3_changes(registry_db(registry)) == 0)
        rc = JOBS_NOT_FOUND;
    sqlite3_finalize(stmt);
    return rc;
}

int jobs_create(struct registry *registry, const char *kind, const char *connection_id,
                const char *agent_id, const json_t *payload, char *id_out)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "INSERT INTO jobs (id, kind, connection_id, agent_id, "
                                   "payload, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    if (!stmt)
        return JOBS_ERROR;
    char now[ID_TIME_LEN + 1];
    id_uuid4(id_out);
    id_time_now(now);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    registry_bind_text(stmt, 1, id_out);
    registry_bind_text(stmt, 2, kind);
    registry_bind_text(stmt, 3, connection_id);
    registry_bind_text(stmt, 4, agent_id);
    registry_bind_text(stmt, 5, text);
    registry_bind_text(stmt, 6, now);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? JOBS_OK : JOBS_ERROR;
    sqlite3_finalize(stmt);
    free(text);
    return rc;
}

int jobs_mark_running(struct registry *registry, const char *id)
{
    return update_job(registry,
                      "UPDATE jobs SET status = 'running', started_at = ?2, progress = 0 "
                      "WHERE id = ?1",
                      id, NULL, NULL, NULL);
}

int jobs_requeue(struct registry *registry, const char *id)
{
    return update_job(registry,
                      "UPDATE jobs SET status = 'queued', started_at = NULL "
                      "WHERE id = ?1 AND ?2 IS NOT NULL",
                      id, NULL, NULL, NULL);
}

int jobs_set_progress(struct registry *registry, const char *id, double progress, const char *step)
{
    char value[32];
    snprintf(value, sizeof(value), "%.4f", fmin(1.0, fmax(0.0, progress)));
    return update_job(registry,
                      "UPDATE jobs SET progress = CAST(?3 AS REAL), step = ?4 "
                      "WHERE id = ?1 AND ?2 IS NOT NULL",
                      id, value, step, NULL);
}

int jobs_succeed(struct registry *registry, const char *id, const json_t *result)
{
    char *text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = update_job(registry,
                        "UPDATE jobs SET status = 'succeeded', progress = 1, finished_at = ?2, "
                        "result = ?3, step = 'done' WHERE id = ?1",
                        id, text, NULL, NULL);
    free(text);
    return rc;
}

int jobs_fail(struct registry *registry, const char *id, const char *code, const char *message)
{
    return update_job(registry,
                      "UPDATE jobs SET status = 'failed', finished_at = ?2, error_code = ?3, "
                      "error_message = ?4 WHERE id = ?1",
                      id, code, message, NULL);
}

long jobs_requeue_interrupted(struct registry *registry)
{
    if (sqlite3_exec(registry_db(registry),
                     "UPDATE jobs SET status = 'queued', started_at = NULL, "
                     "step = 'requeued after a restart' WHERE status = 'running'",
                     NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    return sqlite3_changes(registry_db(registry));
}

static const char *celery_state(const char *status)
{
    if (strcmp(status, "running") == 0)
        return "STARTED";
    if (strcmp(status, "succeeded") == 0)
        return "SUCCESS";
    if (strcmp(status, "failed") == 0)
        return "FAILURE";
    return "PENDING";
}

static json_t *text_or_null(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text ? json_string(text) : json_null();
}

static json_t *render_status(sqlite3_stmt *stmt)
{
    const char *status = (const char *)sqlite3_column_text(stmt, 2);
    const char *result_text = (const char *)sqlite3_column_text(stmt, 5);
    json_t *result = result_text ? json_loads(result_text, JSON_DECODE_ANY, NULL) : NULL;
    int failed = strcmp(status, "failed") == 0;
    int done = failed || strcmp(status, "succeeded") == 0;
    json_t *error = failed ? json_pack("{s:o, s:o}", "code", text_or_null(stmt, 6), "message",
                                       text_or_null(stmt, 7))
                           : json_null();
    json_t *body =
        json_pack("{s:o, s:o, s:s, s:s, s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "task_id",
                  text_or_null(stmt, 0), "kind", text_or_null(stmt, 1), "status", status, "state",
                  celery_state(status), "progress", sqlite3_column_double(stmt, 3), "step",
                  text_or_null(stmt, 4), "result", result ? result : json_null(), "error", error,
                  "connection_id", text_or_null(stmt, 8), "created_at", text_or_null(stmt, 9),
                  "started_at", text_or_null(stmt, 10), "finished_at", text_or_null(stmt, 11));
    if (body && !done)
        json_object_set_new(body, "poll_after", json_real(JOBS_POLL_AFTER_S));
    if (body && failed)
        json_object_set_new(body, "message", text_or_null(stmt, 7));
    return body;
}

json_t *jobs_status(struct registry *registry, const char *id, char *agent_out, size_t agent_size,
                    int *rc)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT id, kind, status, progress, step, result, "
                                   "error_code, error_message, connection_id, created_at, "
                                   "started_at, finished_at, ifnull(agent_id, '') "
                                   "FROM jobs WHERE id = ?");
    *rc = JOBS_ERROR;
    if (!stmt)
        return NULL;
    registry_bind_text(stmt, 1, id);
    json_t *body = NULL;
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        snprintf(agent_out, agent_size, "%s", (const char *)sqlite3_column_text(stmt, 12));
        body = render_status(stmt);
        *rc = body ? JOBS_OK : JOBS_ERROR;
    } else if (step == SQLITE_DONE) {
        *rc = JOBS_NOT_FOUND;
    }
    sqlite3_finalize(stmt);
    return body;
}
