/*
 * Long-running work as rows in the registry: queued -> running ->
 * succeeded | failed, with progress, the current step, a result and an
 * error. Rows survive a restart; jobs left running by a crash are requeued.
 * These functions only touch the registry; the job runner lives with each
 * kind of work.
 */
#ifndef QUARRY_JOBS_H
#define QUARRY_JOBS_H

#include <stddef.h>

#include <jansson.h>

#include "ids.h"

struct registry;

enum jobs_rc { JOBS_OK = 0, JOBS_ERROR = -1, JOBS_NOT_FOUND = -2 };

/* Queues a job; `payload` (borrowed, may be NULL) is what the runner needs. */
int jobs_create(struct registry *registry, const char *kind, const char *connection_id,
                const char *agent_id, const json_t *payload, char *id_out);
int jobs_mark_running(struct registry *registry, const char *id);
/* Back to queued (it could not be started). */
int jobs_requeue(struct registry *registry, const char *id);
/* `progress` in [0, 1]; `step` a short human description, may be NULL. */
int jobs_set_progress(struct registry *registry, const char *id, double progress, const char *step);
/* `result` borrowed. */
int jobs_succeed(struct registry *registry, const char *id, const json_t *result);
int jobs_fail(struct registry *registry, const char *id, const char *code, const char *message);

/*
 * The status payload of the task contract:
 * {task_id, kind, status, state, progress, step, result, error, poll_after?, message?, ...}.
 * The job's agent (or "") is copied to `agent_out` for the caller's isolation check.
 */
json_t *jobs_status(struct registry *registry, const char *id, char *agent_out, size_t agent_size,
                    int *rc);

/* At start: jobs a crash left running go back to queued. Returns how many, or -1. */
long jobs_requeue_interrupted(struct registry *registry);

#endif
