/*
 * Runs queued jobs from the registry on the worker pool, at most N at once.
 * The loop thread claims jobs (queued -> running) and submits them; a worker
 * runs the job's function with its own registry handle; when it ends, the
 * loop thread claims the next. Jobs left by a crash are requeued at start
 * (jobs_requeue_interrupted), so a restart finishes them.
 */
#ifndef QUARRY_JOBRUNNER_H
#define QUARRY_JOBRUNNER_H

#include <stddef.h>

#include <jansson.h>

#include "ids.h"

struct app;
struct event_base;
struct registry;
struct jobrunner;

/* What a job function receives, on a worker thread. */
struct job_context {
    char id[ID_UUID_LEN + 1];
    char kind[32];
    char connection_id[ID_UUID_LEN + 1]; /* "" when none */
    json_t *payload;                     /* borrowed; may be NULL */
    struct registry *registry;           /* the worker's own handle */
    const struct app *app;               /* secrets, guard, config: read-only */
};

/*
 * A job function: does the work and records the outcome itself with
 * jobs_succeed or jobs_fail on ctx->registry (jobs_set_progress along the
 * way). If it records neither, the runner marks the job failed.
 */
typedef void (*job_fn)(struct job_context *ctx);

struct jobrunner *jobrunner_new(struct event_base *base, struct app *app, size_t max_running);
void jobrunner_free(struct jobrunner *runner);

/* Registers the function for jobs of `kind` (before the first kick). */
int jobrunner_register(struct jobrunner *runner, const char *kind, job_fn fn);

/* Loop thread: claims and submits queued jobs while slots are free. */
void jobrunner_kick(struct jobrunner *runner);

/* Jobs running now. */
size_t jobrunner_running(const struct jobrunner *runner);

#endif
