#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "app.h"
#include "config.h"
#include "http.h"
#include "jobrunner.h"
#include "jobs.h"
#include "pool.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "router.h"
#include "workers.h"

#define SHUTDOWN_POLL_MS 50
#define POOL_REAP_EVERY_S 30
#define JOBS_AT_ONCE 2

struct daemon {
    struct app app;
    struct event_base *base;
    struct router *router;
    struct http_server *http;
    struct event *sigterm, *sigint, *drain_timer, *reap_timer;
    int64_t drain_deadline;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void worker_thread_start(void *userdata)
{
    const struct app *app = userdata;
    loader_thread_start();
    registry_thread_attach(config_str(app->config, CFG_REGISTRY));
}

static void worker_thread_stop(void *userdata)
{
    (void)userdata;
    registry_thread_detach();
    loader_thread_stop();
}

/* Waits for replies in flight, up to the grace period, then stops the loop. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    size_t in_flight = http_server_in_flight(d->http);
    if (in_flight == 0 || now_ms() >= d->drain_deadline) {
        if (in_flight)
            log_warn("shutdown: %zu requests still in flight after the grace period", in_flight);
        event_base_loopexit(d->base, NULL);
        return;
    }
    struct timeval tv = {0, SHUTDOWN_POLL_MS * 1000};
    evtimer_add(d->drain_timer, &tv);
}

static void reap_pools(void *arg)
{
    pools_reap(arg);
}

/* Closing idle connections can block on the network: a worker does it. */
static void on_reap_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    if (!d->app.shutting_down)
        workers_submit(d->app.workers, reap_pools, d->app.pools);
}

static int start_jobs(struct daemon *d)
{
    d->app.jobrunner = jobrunner_new(d->base, &d->app, JOBS_AT_ONCE);
    if (!d->app.jobrunner || app_register_jobs(d->app.jobrunner) != 0)
        return -1;
    /* Jobs a restart interrupted, or queued before it, start now. */
    jobrunner_kick(d->app.jobrunner);
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *d = arg;
    if (d->app.shutting_down)
        return;
    log_info("received %s: no new connections; finishing requests in flight",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
    d->app.shutting_down = 1;
    http_server_stop_accepting(d->http);
    d->drain_deadline = now_ms() + config_long(d->app.config, CFG_SHUTDOWN_GRACE) * 1000;
    on_drain_tick(-1, 0, d);
}

static int write_port_file(const char *path, int port)
{
    if (!path || !*path)
        return 0;
    /* Written whole under another name, then renamed: a reader never sees half a number. */
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        log_error("cannot write port file %s", path);
        return -1;
    }
    return 0;
}

static int daemon_start(struct daemon *d, const struct config *config)
{
    char err[512];
    d->app.config = config;
    d->app.started_at = time(NULL);

    /* Drivers first: their global init must run before any worker thread exists. */
    int loaded = loader_load(config_str(config, CFG_PLUGIN_DIR), config->drivers, config->ndrivers);
    log_info("drivers: %d of %zu enabled loaded from %s", loaded, config->ndrivers,
             config_str(config, CFG_PLUGIN_DIR));

    d->app.registry = registry_open(config_str(config, CFG_REGISTRY), err, sizeof(err));
    if (!d->app.registry) {
        log_error("%s", err);
        return -1;
    }
    if (app_init_security(&d->app, config) != 0)
        return -1;
    long requeued = jobs_requeue_interrupted(d->app.registry);
    if (requeued > 0)
        log_info("jobs: %ld interrupted by a restart are queued again", requeued);
    struct workers_options wo = {.nthreads = (size_t)config_long(config, CFG_WORKERS),
                                 .queue_max = 4096,
                                 .thread_start = worker_thread_start,
                                 .thread_stop = worker_thread_stop,
                                 .userdata = &d->app};
    d->app.workers = workers_start(&wo);
    d->app.pools = pools_new(NULL);
    d->base = event_base_new();
    d->router = router_new();
    if (!d->app.workers || !d->app.pools || !d->base || !d->router ||
        app_routes(d->router, config) != 0) {
        log_error("cannot start: out of memory or a bad route table");
        return -1;
    }
    struct http_server_options ho = {.host = config->listen_host,
                                     .port = config->listen_port,
                                     .body_limit = (size_t)config_long(config, CFG_MAX_BODY),
                                     .router = d->router,
                                     .workers = d->app.workers,
                                     .app = &d->app,
                                     .authorize = api_authorize};
    d->http = http_server_new(d->base, &ho);
    if (!d->http)
        return -1;
    d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->sigint = evsignal_new(d->base, SIGINT, on_signal, d);
    d->drain_timer = evtimer_new(d->base, on_drain_tick, d);
    d->reap_timer = event_new(d->base, -1, EV_PERSIST, on_reap_tick, d);
    struct timeval reap_every = {POOL_REAP_EVERY_S, 0};
    if (!d->sigterm || !d->sigint || !d->drain_timer || !d->reap_timer ||
        evsignal_add(d->sigterm, NULL) != 0 || evsignal_add(d->sigint, NULL) != 0 ||
        event_add(d->reap_timer, &reap_every) != 0 || start_jobs(d) != 0)
        return -1;
    log_info("quarryd %s listening on %s:%d (registry %s)", QUARRY_VERSION, config->listen_host,
             http_server_port(d->http), config_str(config, CFG_REGISTRY));
    return write_port_file(config_str(config, CFG_PORT_FILE), http_server_port(d->http));
}

static void daemon_stop(struct daemon *d)
{
    /* Workers finish first, so every reply they post finds the server alive. */
    workers_stop(d->app.workers);
    jobrunner_free(d->app.jobrunner);
    if (d->app.pools)
        pools_free(d->app.pools);
    http_server_free(d->http);
    if (d->sigterm)
        event_free(d->sigterm);
    if (d->sigint)
        event_free(d->sigint);
    if (d->drain_timer)
        event_free(d->drain_timer);
    if (d->reap_timer)
        event_free(d->reap_timer);
    router_free(d->router);
    if (d->base)
        event_base_free(d->base);
    registry_close(d->app.registry);
    app_free_security(&d->app);
    loader_shutdown();
}

int daemon_run(const struct config *config)
{
    struct daemon d;
    memset(&d, 0, sizeof(d));
    int rc = daemon_start(&d, config);
    if (rc == 0) {
        event_base_dispatch(d.base);
        log_info("stopped");
    }
    daemon_stop(&d);
    return rc == 0 ? 0 : 1;
}
