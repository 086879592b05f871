#include "workers.h"

#include <pthread.h>
#include <stdlib.h>

struct job {
    void (*run)(void *arg);
    void *arg;
    struct job *next;
};

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *head, *tail;
    size_t queued, running, queue_max;
    int stopping;
    size_t nthreads;
    pthread_t *threads;
    struct workers_options options;
};

static struct job *next_job(struct workers *w)
{
    pthread_mutex_lock(&w->lock);
    while (!w->head && !w->stopping)
        pthread_cond_wait(&w->wake, &w->lock);
    struct job *job = w->head;
    if (job) {
        w->head = job->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        w->running++;
    }
    pthread_mutex_unlock(&w->lock);
    return job;
}

static void *worker_main(void *arg)
{
    struct workers *w = arg;
    if (w->options.thread_start)
        w->options.thread_start(w->options.userdata);
    struct job *job;
    while ((job = next_job(w))) {
        job->run(job->arg);
        free(job);
        pthread_mutex_lock(&w->lock);
        w->running--;
        pthread_mutex_unlock(&w->lock);
    }
    if (w->options.thread_stop)
        w->options.thread_stop(w->options.userdata);
    return NULL;
}

struct workers *workers_start(const struct workers_options *options)
{
    struct workers *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->options = *options;
    w->queue_max = options->queue_max ? options->queue_max : 1024;
    w->threads = calloc(options->nthreads ? options->nthreads : 1, sizeof(pthread_t));
    if (!w->threads) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    for (size_t i = 0; i < (options->nthreads ? options->nthreads : 1); i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
            break;
        w->nthreads++;
    }
    if (w->nthreads == 0) {
        workers_stop(w);
        return NULL;
    }
    return w;
}

int workers_submit(struct workers *w, void (*run)(void *arg), void *arg)
{
    struct job *job = malloc(sizeof(*job));
    if (!job)
        return -1;
    job->run = run;
    job->arg = arg;
    job->next = NULL;

    pthread_mutex_lock(&w->lock);
    if (w->stopping || w->queued >= w->queue_max) {
        pthread_mutex_unlock(&w->lock);
        free(job);
        return -1;
    }
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->queued++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

size_t workers_pending(struct workers *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->queued + w->running;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void workers_stop(struct workers *w)
{
    if (!w)
        return;
    /* Threads drain the queue before they see `stopping` with nothing left. */
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w->threads);
    free(w);
}
