/*
 * The worker pool: a fixed set of threads that run everything touching a
 * target database, an LLM or a large export, so the event loop never waits.
 * A bounded queue: a full pool refuses new work rather than growing.
 */
#ifndef QUARRY_WORKERS_H
#define QUARRY_WORKERS_H

#include <stddef.h>

struct workers;

struct workers_options {
    size_t nthreads;
    size_t queue_max;
    void (*thread_start)(void *userdata); /* on each worker, before its first job */
    void (*thread_stop)(void *userdata);  /* on each worker, after its last job */
    void *userdata;
};

struct workers *workers_start(const struct workers_options *options);

/* Queues `run(arg)`. Returns 0, or -1 when the queue is full or the pool stops. */
int workers_submit(struct workers *workers, void (*run)(void *arg), void *arg);

/* Jobs queued or running right now. */
size_t workers_pending(struct workers *workers);

/* Runs what is queued, then joins every thread and frees the pool. */
void workers_stop(struct workers *workers);

#endif
