#include "export_stager.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <sodium.h>
#include <sqlite3.h>

#include "documents.h"
#include "ids.h"
#include "log.h"
#include "registry.h"

/*
 * Pages read ahead of the registry writer: enough for the reader to go on
 * while the writer checkpoints (a copy of EXPORT_CHECKPOINT_BYTES), little
 * enough to keep memory a few megabytes.
 */
#define EXPORT_QUEUE_PAGES 64
#define EXPORT_QUEUE_BYTES (8u << 20)
/*
 * The writer stores pages in transactions of up to this many bytes: each
 * commit writes the b-tree pages it touched (the table's and its indexes'
 * leaves) into the WAL again, once per commit rather than once per page.
 */
#define EXPORT_TXN_BYTES (8u << 20)
/*
 * While staging, the writer (off the reading thread) checkpoints the WAL
 * after every this many bytes of content, so the WAL never holds more than
 * this and one transaction. A checkpoint writes every page a second time
 * (into the database file) and syncs both files: on two cores that work
 * competes with reading, so it is done as seldom as this bound allows, and
 * once after the swap. Measured on 1M rows (146 MB of pages): a checkpoint
 * every 64 MB kept the documents from going live for 0.25-0.35 s longer.
 */
#define EXPORT_CHECKPOINT_BYTES (256u << 20)

struct export_stager {
    struct registry *registry; /* the writer's own handle, or the job's without a thread */
    int own_registry;
    int threaded;
    const char *export_id;
    const char *connection_id;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    struct export_doc *queue[EXPORT_QUEUE_PAGES];
    size_t head, count;
    size_t queued_bytes;
    int closing;
    atomic_int failed;
    int in_txn;               /* the writer's: a transaction is open */
    size_t txn_bytes;         /* content stored in it so far */
    size_t wal_bytes;         /* content committed since the last checkpoint */
    long docs_new, docs_kept; /* the writer's; read once it is joined */
};

void export_doc_free(struct export_doc *p)
{
    if (!p)
        return;
    free(p->content);
    free(p->title);
    free(p->metadata);
    free(p);
}

static void hash_hex(const char *data, size_t len, char out[65])
{
    unsigned char hash[32];
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)data, len, NULL, 0);
    sodium_bin2hex(out, 65, hash, sizeof(hash));
}

static int store(struct export_stager *st, const struct export_doc *p)
{
    char id[ID_UUID_LEN + 1];
    struct document_in doc = {.connection_id = st->connection_id,
                              .schema = p->schema,
                              .table = p->table,
                              .kind = p->kind,
                              .part = p->part,
                              .format = p->format,
                              .title = p->title,
                              .content = p->content,
                              .content_len = p->len,
                              .content_hash = p->hash,
                              .metadata = p->metadata,
                              .index_now = p->index_now};
    int kept;
    if (documents_stage(st->registry, st->export_id, &doc, id, &kept) != DOCS_OK)
        return -1;
    if (kept)
        st->docs_kept++;
    else
        st->docs_new++;
    return 0;
}

/* Ends the writer's open transaction: COMMIT (`ok`) or ROLLBACK. 0, or -1. */
static int writer_end_txn(struct export_stager *st, int ok)
{
    if (!st->in_txn)
        return 0;
    size_t bytes = st->txn_bytes;
    st->in_txn = 0;
    st->txn_bytes = 0;
    sqlite3 *db = registry_db(st->registry);
    if (ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        st->wal_bytes += bytes;
        if (st->wal_bytes >= EXPORT_CHECKPOINT_BYTES) {
            /*
             * RESTART waits (the busy timeout) for readers of the WAL, so
             * that the next transaction writes it from its start again: a
             * PASSIVE one could leave it growing while a request reads.
             */
            st->wal_bytes = 0;
            if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL) !=
                SQLITE_OK)
                log_warn("export %s: checkpoint: %s", st->export_id, sqlite3_errmsg(db));
        }
        return 0;
    }
    if (ok)
        log_error("export %s: cannot commit staged documents: %s", st->export_id,
                  sqlite3_errmsg(db));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Stores `p` inside a transaction of several pages. 0, or -1. */
static int writer_store(struct export_stager *st, const struct export_doc *p)
{
    if (!st->in_txn) {
        /* IMMEDIATE: the write lock now, or a busy wait now rather than a failed upgrade. */
        if (sqlite3_exec(registry_db(st->registry), "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
            SQLITE_OK)
            return -1;
        st->in_txn = 1;
    }
    if (store(st, p) != 0) {
        writer_end_txn(st, 0);
        return -1;
    }
    st->txn_bytes += p->len;
    return st->txn_bytes >= EXPORT_TXN_BYTES ? writer_end_txn(st, 1) : 0;
}

static void *writer_main(void *arg)
{
    struct export_stager *st = arg;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        if (st->count == 0 && st->in_txn) {
            /*
             * Nothing to store: commit before waiting, so that the write
             * lock is never held while the reader (which may itself wait
             * for it, to report progress) is the one to move.
             */
            pthread_mutex_unlock(&st->mu);
            if (writer_end_txn(st, 1) != 0)
                atomic_store(&st->failed, 1);
            pthread_mutex_lock(&st->mu);
            pthread_cond_broadcast(&st->changed); /* a reader may wait for the failure */
        }
        while (st->count == 0 && !st->closing)
            pthread_cond_wait(&st->changed, &st->mu);
        if (st->count == 0) {
            pthread_mutex_unlock(&st->mu);
            if (writer_end_txn(st, !atomic_load(&st->failed)) != 0)
                atomic_store(&st->failed, 1);
            return NULL;
        }
        struct export_doc *p = st->queue[st->head];
        st->head = (st->head + 1) % EXPORT_QUEUE_PAGES;
        st->count--;
        st->queued_bytes -= p->len;
        pthread_cond_broadcast(&st->changed);
        pthread_mutex_unlock(&st->mu);
        /* After a failure the queue still drains, so that a waiting reader wakes. */
        if (!atomic_load(&st->failed) && writer_store(st, p) != 0) {
            atomic_store(&st->failed, 1);
            writer_end_txn(st, 0);
        }
        export_doc_free(p);
    }
}

struct export_stager *export_stager_start(struct registry *job_registry, const char *export_id,
                                          const char *connection_id)
{
    struct export_stager *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    char err[256];
    st->export_id = export_id;
    st->connection_id = connection_id;
    st->registry = registry_open(registry_path(job_registry), err, sizeof(err));
    if (st->registry) {
        st->own_registry = 1;
        /* Staged pages need no fsync of their own: the swap's FULL commit syncs the WAL. */
        sqlite3_exec(registry_db(st->registry), "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
        sqlite3_wal_autocheckpoint(registry_db(st->registry), 0); /* see writer_end_txn */
        if (pthread_mutex_init(&st->mu, NULL) == 0) {
            if (pthread_cond_init(&st->changed, NULL) == 0) {
                st->threaded = pthread_create(&st->thread, NULL, writer_main, st) == 0;
                if (!st->threaded)
                    pthread_cond_destroy(&st->changed);
            }
            if (!st->threaded)
                pthread_mutex_destroy(&st->mu);
        }
    }
    if (!st->threaded) {
        log_warn("export %s: storing without a writer thread (%s)", export_id,
                 st->registry ? "no thread" : err);
        registry_close(st->own_registry ? st->registry : NULL);
        st->registry = job_registry;
        st->own_registry = 0;
    }
    return st;
}

int export_stager_submit(struct export_stager *st, struct export_doc *p)
{
    /* Hashed here, on the reading thread: storing is the larger share of the work. */
    hash_hex(p->content, p->len, p->hash);
    if (!st->threaded) {
        if (!atomic_load(&st->failed) && store(st, p) != 0)
            atomic_store(&st->failed, 1);
        export_doc_free(p);
        return atomic_load(&st->failed) ? -1 : 0;
    }
    pthread_mutex_lock(&st->mu);
    while ((st->count == EXPORT_QUEUE_PAGES ||
            (st->count > 0 && st->queued_bytes + p->len > EXPORT_QUEUE_BYTES)) &&
           !atomic_load(&st->failed))
        pthread_cond_wait(&st->changed, &st->mu);
    int failed = atomic_load(&st->failed);
    if (!failed) {
        st->queue[(st->head + st->count) % EXPORT_QUEUE_PAGES] = p;
        st->count++;
        st->queued_bytes += p->len;
        pthread_cond_broadcast(&st->changed);
    }
    pthread_mutex_unlock(&st->mu);
    if (failed) {
        export_doc_free(p);
        return -1;
    }
    return 0;
}

int export_stager_finish(struct export_stager *st, long *docs_new, long *docs_kept)
{
    if (st->threaded) {
        pthread_mutex_lock(&st->mu);
        st->closing = 1;
        pthread_cond_broadcast(&st->changed);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
        pthread_cond_destroy(&st->changed);
        pthread_mutex_destroy(&st->mu);
    }
    if (st->own_registry)
        registry_close(st->registry);
    *docs_new = st->docs_new;
    *docs_kept = st->docs_kept;
    int failed = atomic_load(&st->failed);
    free(st);
    return failed ? -1 : 0;
}
