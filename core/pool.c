/*
 * Connection pools. One mutex guards every id's bookkeeping; driver calls
 * (open, ping, close) always run with it released, on a slot the borrower
 * reserved under it, so a slow server never stalls borrowers of other ids.
 *
 * A slot is counted in `entry->total` from the moment a borrower reserves it
 * until its connection is closed; `nidle` of them sit in the idle list. An
 * entry is freed only when it has no slot and no waiter, so a lease can
 * always reach its entry. Each entry has a generation: a fingerprint change
 * or an eviction bumps it, and a lease of an older generation is closed on
 * return instead of going back to the idle list.
 */
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "host.h"
#include "log.h"

#define FINGERPRINT_BYTES crypto_generichash_BYTES
#define PING_TIMEOUT_DEFAULT_MS 5000
#define MAX_TARGETS_LIMIT ((size_t)1 << 20)

struct pool_lease {
    struct pool_lease *prev, *next; /* the idle list; `next` also chains leases to close */
    struct pool_entry *entry;
    const struct quarry_driver *driver;
    struct quarry_conn *conn;
    uint64_t generation;
    int64_t idle_since_ms;
    int leased;
};

struct pool_entry {
    char *id;
    struct pool_entry *hnext;               /* bucket chain */
    struct pool_entry *lru_prev, *lru_next; /* most recently used first */
    unsigned char fingerprint[FINGERPRINT_BYTES];
    uint64_t generation;
    struct pool_lease *idle_head, *idle_tail; /* most recently returned first */
    size_t nidle, total, waiters;
    size_t opened_total, closed_total;
    int64_t last_used_ms;
    pthread_cond_t freed; /* a slot or an idle connection came free */
};

struct pools {
    pthread_mutex_t lock;
    pthread_condattr_t condattr; /* CLOCK_MONOTONIC, for every entry's cond */
    struct pool_options options;
    unsigned char fingerprint_key[crypto_generichash_KEYBYTES];
    unsigned char bucket_key[crypto_shorthash_KEYBYTES];
    struct pool_entry **buckets;
    size_t nbuckets; /* a power of two */
    struct pool_entry *lru_head, *lru_tail;
    size_t nentries;
    size_t opened_total, closed_total;
};

void pool_options_default(struct pool_options *options)
{
    memset(options, 0, sizeof(*options));
    options->min_idle = 0;
    options->max_per_connection = 4;
    options->idle_timeout_ms = 5 * 60 * 1000;
    options->health_check_after_ms = 30 * 1000;
    options->borrow_timeout_ms = 10 * 1000;
    options->max_targets = 1024;
}

/* ------------------------------------------------------------------------ */
/* Fingerprints and lookup                                                  */
/* ------------------------------------------------------------------------ */

/* Length-prefixed, so that ("ab", "c") and ("a", "bc") hash apart. */
static void hash_field(crypto_generichash_state *state, const char *text)
{
    uint64_t len = text ? strlen(text) : UINT64_MAX;
    crypto_generichash_update(state, (const unsigned char *)&len, sizeof(len));
    if (text)
        crypto_generichash_update(state, (const unsigned char *)text, (size_t)len);
}

/* Keyed with a per-process random key: the digest reveals nothing offline about the URL. */
static void fingerprint(const struct pools *pools, const struct pool_target *target,
                        unsigned char out[FINGERPRINT_BYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init(&state, pools->fingerprint_key, sizeof(pools->fingerprint_key),
                            FINGERPRINT_BYTES);
    hash_field(&state, target->driver->name);
    hash_field(&state, target->url);
    uint64_t n = target->nparams;
    crypto_generichash_update(&state, (const unsigned char *)&n, sizeof(n));
    for (size_t i = 0; i < target->nparams; i++) {
        hash_field(&state, target->params[i].key);
        hash_field(&state, target->params[i].value);
    }
    crypto_generichash_final(&state, out, FINGERPRINT_BYTES);
    sodium_memzero(&state, sizeof(state));
}

static size_t bucket_of(const struct pools *pools, const char *id)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, (const unsigned char *)id, strlen(id), pools->bucket_key);
    memcpy(&v, h, sizeof(v));
    return (size_t)(v & (pools->nbuckets - 1));
}

static struct pool_entry *entry_find(const struct pools *pools, const char *id)
{
    for (struct pool_entry *e = pools->buckets[bucket_of(pools, id)]; e; e = e->hnext)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct pools *pools, struct pool_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        pools->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        pools->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct pools *pools, struct pool_entry *e)
{
    e->lru_next = pools->lru_head;
    if (pools->lru_head)
        pools->lru_head->lru_prev = e;
    pools->lru_head = e;
    if (!pools->lru_tail)
        pools->lru_tail = e;
}

/* ------------------------------------------------------------------------ */
/* Idle lists (under the lock)                                              */
/* ------------------------------------------------------------------------ */

static void idle_push(struct pool_entry *e, struct pool_lease *lease)
{
    lease->prev = NULL;
    lease->next = e->idle_head;
    if (e->idle_head)
        e->idle_head->prev = lease;
    e->idle_head = lease;
    if (!e->idle_tail)
        e->idle_tail = lease;
    e->nidle++;
}

static void idle_unlink(struct pool_entry *e, struct pool_lease *lease)
{
    if (lease->prev)
        lease->prev->next = lease->next;
    else
        e->idle_head = lease->next;
    if (lease->next)
        lease->next->prev = lease->prev;
    else
        e->idle_tail = lease->prev;
    lease->prev = lease->next = NULL;
    e->nidle--;
}

/* Takes an idle connection out of the pool onto `doomed`, to be closed once unlocked. */
static void retire(struct pools *pools, struct pool_entry *e, struct pool_lease *lease,
                   struct pool_lease **doomed)
{
    idle_unlink(e, lease);
    e->total--;
    e->closed_total++;
    pools->closed_total++;
    lease->next = *doomed;
    *doomed = lease;
}

static size_t retire_all_idle(struct pools *pools, struct pool_entry *e, struct pool_lease **doomed)
{
    size_t n = 0;
    while (e->idle_head) {
        retire(pools, e, e->idle_head, doomed);
        n++;
    }
    if (n)
        pthread_cond_broadcast(&e->freed); /* slots came free */
    return n;
}

/* Outside the lock: driver close can block. */
static void close_all(struct pool_lease *doomed)
{
    while (doomed) {
        struct pool_lease *next = doomed->next;
        if (doomed->conn)
            doomed->driver->close(doomed->conn);
        free(doomed);
        doomed = next;
    }
}

/* ------------------------------------------------------------------------ */
/* Entries (under the lock)                                                 */
/* ------------------------------------------------------------------------ */

static void entry_destroy(struct pools *pools, struct pool_entry *e)
{
    assert(e->total == 0 && e->waiters == 0);
    struct pool_entry **link = &pools->buckets[bucket_of(pools, e->id)];
    while (*link != e)
        link = &(*link)->hnext;
    *link = e->hnext;
    lru_unlink(pools, e);
    pools->nentries--;
    pthread_cond_destroy(&e->freed);
    free(e->id);
    free(e);
}

/* Frees the least recently used entry with nothing leased; 0, or -1 when every one is busy. */
static int entry_drop_lru(struct pools *pools, struct pool_lease **doomed)
{
    for (struct pool_entry *e = pools->lru_tail; e; e = e->lru_prev) {
        if (e->total != e->nidle || e->waiters)
            continue;
        retire_all_idle(pools, e, doomed);
        entry_destroy(pools, e);
        return 0;
    }
    return -1;
}

static struct pool_entry *entry_create(struct pools *pools, const char *id,
                                       const unsigned char fp[FINGERPRINT_BYTES])
{
    struct pool_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->id = strdup(id);
    if (!e->id || pthread_cond_init(&e->freed, &pools->condattr) != 0) {
        free(e->id);
        free(e);
        return NULL;
    }
    memcpy(e->fingerprint, fp, FINGERPRINT_BYTES);
    size_t b = bucket_of(pools, id);
    e->hnext = pools->buckets[b];
    pools->buckets[b] = e;
    lru_push_front(pools, e);
    pools->nentries++;
    return e;
}

/* The entry of `id`, created if need be, made current for `fp`. */
static struct pool_entry *entry_get(struct pools *pools, const char *id,
                                    const unsigned char fp[FINGERPRINT_BYTES],
                                    struct pool_lease **doomed, struct quarry_error *err)
{
    const struct quarry_host *h = host_services();
    struct pool_entry *e = entry_find(pools, id);
    if (e) {
        if (sodium_memcmp(e->fingerprint, fp, FINGERPRINT_BYTES) != 0) {
            /* The record changed (credentials, URL, driver): old connections must go. */
            memcpy(e->fingerprint, fp, FINGERPRINT_BYTES);
            e->generation++;
            retire_all_idle(pools, e, doomed);
            log_tagged(LOG_INFO, "pool", "connection %s changed; its pooled connections close", id);
        }
        lru_unlink(pools, e);
        lru_push_front(pools, e);
        return e;
    }
    if (pools->nentries >= pools->options.max_targets && entry_drop_lru(pools, doomed) != 0) {
        h->error_set(err, QUARRY_ERR_NOMEM, "", 0,
                     "connection pool: %zu connection ids have leases out; none can be dropped",
                     pools->nentries);
        return NULL;
    }
    e = entry_create(pools, id, fp);
    if (!e)
        h->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    return e;
}

/* ------------------------------------------------------------------------ */
/* Borrowing                                                                */
/* ------------------------------------------------------------------------ */

static struct timespec deadline_after(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/*
 * Under the lock: an idle lease (`*fresh` 0), or `spare` on a newly reserved
 * slot (`*fresh` 1, no connection yet), waiting up to borrow_timeout_ms for
 * either. NULL with `err` filled when the deadline passed.
 */
static struct pool_lease *acquire(struct pools *pools, struct pool_entry *e,
                                  struct pool_lease *spare, int *fresh, struct quarry_error *err)
{
    struct timespec deadline = deadline_after(pools->options.borrow_timeout_ms);
    int timed_out = 0;
    for (;;) {
        if (e->idle_head) {
            struct pool_lease *lease = e->idle_head;
            idle_unlink(e, lease);
            lease->leased = 1;
            *fresh = 0;
            return lease;
        }
        if (e->total < pools->options.max_per_connection) {
            e->total++;
            memset(spare, 0, sizeof(*spare));
            spare->entry = e;
            spare->generation = e->generation;
            spare->leased = 1;
            *fresh = 1;
            return spare;
        }
        if (timed_out) {
            host_services()->error_set(
                err, QUARRY_ERR_TIMEOUT, "", 0,
                "connection pool: all %zu connections of %s stayed busy for %d ms",
                pools->options.max_per_connection, e->id, pools->options.borrow_timeout_ms);
            return NULL;
        }
        e->waiters++;
        /* Availability is checked again on any wake, so a lost race only means waiting on. */
        timed_out = pthread_cond_timedwait(&e->freed, &pools->lock, &deadline) == ETIMEDOUT;
        e->waiters--;
    }
}

/* Gives a reserved slot back when no connection came of it. */
static void release_slot(struct pools *pools, struct pool_lease *lease)
{
    pthread_mutex_lock(&pools->lock);
    lease->entry->total--;
    pthread_cond_signal(&lease->entry->freed);
    pthread_mutex_unlock(&pools->lock);
    free(lease);
}

static int idled_too_long(const struct pools *pools, const struct pool_lease *lease)
{
    int after = pools->options.health_check_after_ms;
    return after >= 0 && lease->driver->ping && host_now_ms() - lease->idle_since_ms >= after;
}

/* Pings an idle connection; one that fails is closed, leaving the lease's slot without one. */
static void check_health(struct pools *pools, struct pool_lease *lease,
                         const struct pool_target *target)
{
    struct host_call call;
    struct quarry_error perr;
    struct quarry_server_info info;
    int timeout =
        target->connect_timeout_ms > 0 ? target->connect_timeout_ms : PING_TIMEOUT_DEFAULT_MS;
    host_call_init(&call, timeout, 0);
    host_error_init(&perr);
    memset(&info, 0, sizeof(info));
    QUARRY_STRUCT_INIT(&info);
    int status = lease->driver->ping(lease->conn, &call.ctx, &info, &perr);
    if (status == QUARRY_OK)
        return;
    /* Not the driver's message: it may quote the host or path of the URL. */
    log_tagged(LOG_INFO, "pool",
               "connection %s: an idle connection failed its health check (status %d); "
               "opening another",
               target->connection_id, status);
    lease->driver->close(lease->conn);
    lease->conn = NULL;
    pthread_mutex_lock(&pools->lock);
    lease->entry->closed_total++;
    pools->closed_total++;
    pthread_mutex_unlock(&pools->lock);
}

/* Opens the lease's connection on its reserved slot. */
static int open_conn(struct pools *pools, struct pool_lease *lease,
                     const struct pool_target *target, struct quarry_error *err)
{
    struct quarry_open_params params;
    struct quarry_conn *conn = NULL;
    memset(&params, 0, sizeof(params));
    QUARRY_STRUCT_INIT(&params);
    params.url = target->url;
    params.params = target->params;
    params.nparams = target->nparams;
    params.connect_timeout_ms = target->connect_timeout_ms;
    int status = target->driver->open(&params, &conn, err);
    if (status == QUARRY_OK && !conn)
        status = QUARRY_ERR_INTERNAL;
    if (status != QUARRY_OK) {
        if (conn)
            target->driver->close(conn);
        return host_services()->error_set(err, status, "", 0,
                                          "the %s driver could not open connection %s",
                                          target->driver->name, target->connection_id);
    }
    lease->driver = target->driver;
    lease->conn = conn;
    pthread_mutex_lock(&pools->lock);
    lease->entry->opened_total++;
    pools->opened_total++;
    pthread_mutex_unlock(&pools->lock);
    return QUARRY_OK;
}

static int target_valid(const struct pool_target *target, struct quarry_error *err)
{
    const struct quarry_host *h = host_services();
    if (!target || !target->connection_id || !target->connection_id[0] || !target->driver ||
        !target->driver->name || !target->driver->open || !target->driver->close || !target->url ||
        (target->nparams && !target->params)) {
        h->error_set(err, QUARRY_ERR_INVALID, "", 0, "connection pool: incomplete target");
        return 0;
    }
    if (strlen(target->connection_id) > POOL_ID_MAX) {
        h->error_set(err, QUARRY_ERR_INVALID, "", 0, "connection pool: connection id too long");
        return 0;
    }
    return 1;
}

struct pool_lease *pools_borrow(struct pools *pools, const struct pool_target *target,
                                struct quarry_error *err)
{
    unsigned char fp[FINGERPRINT_BYTES];
    struct pool_lease *doomed = NULL, *lease = NULL;
    int fresh = 0;

    host_error_init(err);
    if (!target_valid(target, err))
        return NULL;
    struct pool_lease *spare = malloc(sizeof(*spare));
    if (!spare) {
        host_services()->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
        return NULL;
    }
    fingerprint(pools, target, fp);

    pthread_mutex_lock(&pools->lock);
    struct pool_entry *e = entry_get(pools, target->connection_id, fp, &doomed, err);
    if (e) {
        lease = acquire(pools, e, spare, &fresh, err);
        e->last_used_ms = host_now_ms();
    }
    pthread_mutex_unlock(&pools->lock);

    close_all(doomed);
    if (lease != spare)
        free(spare);
    if (!lease)
        return NULL;
    if (!fresh && idled_too_long(pools, lease))
        check_health(pools, lease, target);
    if (!lease->conn && open_conn(pools, lease, target, err) != QUARRY_OK) {
        release_slot(pools, lease);
        return NULL;
    }
    return lease;
}

struct quarry_conn *pool_lease_conn(const struct pool_lease *lease)
{
    return lease->conn;
}

const struct quarry_driver *pool_lease_driver(const struct pool_lease *lease)
{
    return lease->driver;
}

void pools_return(struct pools *pools, struct pool_lease *lease, int broken)
{
    if (!lease)
        return;
    int discard;
    pthread_mutex_lock(&pools->lock);
    struct pool_entry *e = lease->entry;
    assert(lease->leased);
    lease->leased = 0;
    discard = broken || lease->generation != e->generation;
    if (discard) {
        e->total--;
        e->closed_total++;
        pools->closed_total++;
    } else {
        lease->idle_since_ms = host_now_ms();
        idle_push(e, lease);
    }
    e->last_used_ms = host_now_ms();
    pthread_cond_signal(&e->freed);
    pthread_mutex_unlock(&pools->lock);
    if (discard) {
        lease->next = NULL;
        close_all(lease);
    }
}

/* ------------------------------------------------------------------------ */
/* Maintenance                                                              */
/* ------------------------------------------------------------------------ */

void pools_evict(struct pools *pools, const char *connection_id)
{
    struct pool_lease *doomed = NULL;
    if (!connection_id)
        return;
    pthread_mutex_lock(&pools->lock);
    struct pool_entry *e = entry_find(pools, connection_id);
    if (e) {
        e->generation++;
        retire_all_idle(pools, e, &doomed);
        if (e->total == 0 && e->waiters == 0)
            entry_destroy(pools, e);
    }
    pthread_mutex_unlock(&pools->lock);
    close_all(doomed);
}

/* Under the lock: the entry's connections idle past the timeout, oldest first, above min_idle. */
static size_t reap_entry(struct pools *pools, struct pool_entry *e, int64_t now,
                         struct pool_lease **doomed)
{
    size_t n = 0;
    int64_t timeout = pools->options.idle_timeout_ms;
    while (e->nidle > pools->options.min_idle && now - e->idle_tail->idle_since_ms >= timeout) {
        retire(pools, e, e->idle_tail, doomed);
        n++;
    }
    if (n)
        pthread_cond_broadcast(&e->freed);
    return n;
}

size_t pools_reap(struct pools *pools)
{
    struct pool_lease *doomed = NULL;
    size_t n = 0;
    if (pools->options.idle_timeout_ms <= 0)
        return 0;
    pthread_mutex_lock(&pools->lock);
    int64_t now = host_now_ms();
    struct pool_entry *e = pools->lru_head;
    while (e) {
        struct pool_entry *next = e->lru_next;
        n += reap_entry(pools, e, now, &doomed);
        if (e->total == 0 && e->waiters == 0 &&
            now - e->last_used_ms >= pools->options.idle_timeout_ms)
            entry_destroy(pools, e);
        e = next;
    }
    pthread_mutex_unlock(&pools->lock);
    close_all(doomed);
    return n;
}

void pools_stats(struct pools *pools, const char *connection_id, struct pool_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&pools->lock);
    if (connection_id) {
        struct pool_entry *e = entry_find(pools, connection_id);
        if (e) {
            out->connections = e->total;
            out->idle = e->nidle;
            out->opened_total = e->opened_total;
            out->closed_total = e->closed_total;
        }
    } else {
        for (struct pool_entry *e = pools->lru_head; e; e = e->lru_next) {
            out->connections += e->total;
            out->idle += e->nidle;
        }
        out->opened_total = pools->opened_total;
        out->closed_total = pools->closed_total;
    }
    out->leased = out->connections - out->idle;
    pthread_mutex_unlock(&pools->lock);
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                               */
/* ------------------------------------------------------------------------ */

static int options_valid(const struct pool_options *o)
{
    return o->max_per_connection >= 1 && o->max_targets >= 1 &&
           o->max_targets <= MAX_TARGETS_LIMIT && o->borrow_timeout_ms >= 0;
}

struct pools *pools_new(const struct pool_options *options)
{
    struct pool_options defaults;
    pool_options_default(&defaults);
    if (!options)
        options = &defaults;
    if (!options_valid(options) || sodium_init() < 0)
        return NULL;
    struct pools *pools = calloc(1, sizeof(*pools));
    if (!pools)
        return NULL;
    pools->options = *options;
    pools->nbuckets = 16;
    while (pools->nbuckets < options->max_targets)
        pools->nbuckets *= 2;
    pools->buckets = calloc(pools->nbuckets, sizeof(*pools->buckets));
    if (!pools->buckets)
        goto err;
    if (pthread_condattr_init(&pools->condattr) != 0)
        goto err;
    if (pthread_condattr_setclock(&pools->condattr, CLOCK_MONOTONIC) != 0 ||
        pthread_mutex_init(&pools->lock, NULL) != 0) {
        pthread_condattr_destroy(&pools->condattr);
        goto err;
    }
    crypto_generichash_keygen(pools->fingerprint_key);
    crypto_shorthash_keygen(pools->bucket_key);
    return pools;
err:
    free(pools->buckets);
    free(pools);
    return NULL;
}

void pools_free(struct pools *pools)
{
    struct pool_lease *doomed = NULL;
    if (!pools)
        return;
    pthread_mutex_lock(&pools->lock);
    while (pools->lru_head) {
        struct pool_entry *e = pools->lru_head;
        assert(e->total == e->nidle && e->waiters == 0); /* no lease out, nobody waiting */
        retire_all_idle(pools, e, &doomed);
        entry_destroy(pools, e);
    }
    pthread_mutex_unlock(&pools->lock);
    close_all(doomed);
    pthread_mutex_destroy(&pools->lock);
    pthread_condattr_destroy(&pools->condattr);
    sodium_memzero(pools->fingerprint_key, sizeof(pools->fingerprint_key));
    free(pools->buckets);
    free(pools);
}
