#include "jobrunner.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "jobs.h"
#include "log.h"
#include "mailbox.h"
#include "registry.h"
#include "workers.h"

#define JOBRUNNER_MAX_KINDS 8

struct jobrunner {
    struct app *app;
    struct mailbox *mailbox;
    size_t max_running, running;
    struct {
        char kind[32];
        job_fn fn;
    } kinds[JOBRUNNER_MAX_KINDS];
    size_t nkinds;
};

struct claimed {
    struct jobrunner *runner;
    job_fn fn;
    struct job_context ctx;
};

struct jobrunner *jobrunner_new(struct event_base *base, struct app *app, size_t max_running)
{
    struct jobrunner *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->app = app;
    r->max_running = max_running ? max_running : 1;
    r->mailbox = mailbox_new(base);
    if (!r->mailbox) {
        free(r);
        return NULL;
    }
    return r;
}

void jobrunner_free(struct jobrunner *r)
{
    if (!r)
        return;
    mailbox_free(r->mailbox);
    free(r);
}

int jobrunner_register(struct jobrunner *r, const char *kind, job_fn fn)
{
    if (r->nkinds == JOBRUNNER_MAX_KINDS || strlen(kind) >= sizeof(r->kinds[0].kind))
        return -1;
    snprintf(r->kinds[r->nkinds].kind, sizeof(r->kinds[0].kind), "%s", kind);
    r->kinds[r->nkinds++].fn = fn;
    return 0;
}

size_t jobrunner_running(const struct jobrunner *r)
{
    return r->running;
}

static job_fn find_fn(const struct jobrunner *r, const char *kind)
{
    for (size_t i = 0; i < r->nkinds; i++)
        if (strcmp(r->kinds[i].kind, kind) == 0)
            return r->kinds[i].fn;
    return NULL;
}

/* Loop thread, after a job ended: free the slot and take the next. */
static void job_ended(void *arg)
{
    struct claimed *c = arg;
    struct jobrunner *r = c->runner;
    json_decref(c->ctx.payload);
    free(c);
    r->running--;
    jobrunner_kick(r);
}

static void job_run(void *arg)
{
    struct claimed *c = arg;
    c->ctx.registry = registry_thread();
    if (!c->ctx.registry) {
        log_error("job %s: this worker has no registry handle", c->ctx.id);
    } else {
        c->fn(&c->ctx);
        /* A function that forgot to record an outcome must not leave the job running forever. */
        char agent[40];
        int rc;
        json_t *status = jobs_status(c->ctx.registry, c->ctx.id, agent, sizeof(agent), &rc);
        const char *s = json_string_value(json_object_get(status, "status"));
        if (s && strcmp(s, "running") == 0)
            jobs_fail(c->ctx.registry, c->ctx.id, "internal", "the job ended without an outcome");
        json_decref(status);
    }
    if (mailbox_post(c->runner->mailbox, job_ended, c) != 0)
        log_error("job %s: cannot post its end to the loop thread", c->ctx.id);
}

/* Claims the oldest queued job; 1 when one was claimed into `c`, 0 when none, -1 on error. */
static int claim_next(struct jobrunner *r, struct claimed *c)
{
    sqlite3 *db = registry_db(r->app->registry);
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db,
                           /* One job at a time per connection: two analyses of the
                              same database would race for its next snapshot version. */
                           "SELECT id, kind, ifnull(connection_id, ''), payload FROM jobs "
                           "WHERE status = 'queued' AND (connection_id IS NULL OR connection_id "
                           "NOT IN (SELECT connection_id FROM jobs WHERE status = 'running' AND "
                           "connection_id IS NOT NULL)) ORDER BY created_at, id LIMIT 1",
                           -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    int found = sqlite3_step(stmt) == SQLITE_ROW;
    if (found) {
        snprintf(c->ctx.id, sizeof(c->ctx.id), "%s", (const char *)sqlite3_column_text(stmt, 0));
        snprintf(c->ctx.kind, sizeof(c->ctx.kind), "%s",
                 (const char *)sqlite3_column_text(stmt, 1));
        snprintf(c->ctx.connection_id, sizeof(c->ctx.connection_id), "%s",
                 (const char *)sqlite3_column_text(stmt, 2));
        const char *payload = (const char *)sqlite3_column_text(stmt, 3);
        c->ctx.payload = payload ? json_loads(payload, 0, NULL) : NULL;
    }
    sqlite3_finalize(stmt);
    if (!found)
        return 0;
    return jobs_mark_running(r->app->registry, c->ctx.id) == JOBS_OK ? 1 : -1;
}

void jobrunner_kick(struct jobrunner *r)
{
    while (r->running < r->max_running && !r->app->shutting_down) {
        struct claimed *c = calloc(1, sizeof(*c));
        if (!c)
            return;
        c->runner = r;
        c->ctx.app = r->app;
        int rc = claim_next(r, c);
        if (rc <= 0) {
            free(c);
            return;
        }
        c->fn = find_fn(r, c->ctx.kind);
        if (!c->fn) {
            jobs_fail(r->app->registry, c->ctx.id, "internal", "no runner for this kind of job");
            json_decref(c->ctx.payload);
            free(c);
            continue;
        }
        if (workers_submit(r->app->workers, job_run, c) != 0) {
            /* The pool is full: put it back, a later kick takes it. */
            jobs_requeue(r->app->registry, c->ctx.id);
            json_decref(c->ctx.payload);
            free(c);
            return;
        }
        r->running++;
    }
}
