#include "export.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "catalog.h"
#include "config.h"
#include "connections.h"
#include "documents.h"
#include "host.h"
#include "jobrunner.h"
#include "jobs.h"
#include "loader.h"
#include "log.h"
#include "pool.h"
#include "probe.h"
#include "registry.h"
#include "search.h"
#include "snapshots.h"

#define EXPORT_INTROSPECT_MS 120000
#define EXPORT_TABLE_MS (30 * 60 * 1000) /* one table's SELECT, start to end */
#define EXPORT_CELL_MIN 1024u
#define EXPORT_CELL_MAX (256u << 10)
#define EXPORT_COLUMNS_MAX 4096
#define EXPORT_SAMPLE_ROWS 5
#define EXPORT_SAMPLE_CELL 80u
#define EXPORT_INDEX_BATCH 16
#define EXPORT_COLLECT_BATCH 32
#define EXPORT_RESULT_TABLES_MAX 1000
#define EXPORT_PROGRESS_EVERY_MS 250
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
#define EXPORT_WAL_PAGES_DEFAULT 1000 /* SQLite's, for the job's handle afterwards */

enum export_format { FORMAT_MARKDOWN, FORMAT_JSONL };

static const char *format_name(int format)
{
    return format == FORMAT_JSONL ? "jsonl" : "markdown";
}

/* ------------------------------------------------------------------------ */
/* The request                                                              */
/* ------------------------------------------------------------------------ */

static int valid_tables(const json_t *tables, char *why, size_t len)
{
    if (!json_is_array(tables) || json_array_size(tables) == 0 ||
        json_array_size(tables) > EXPORT_TABLES_MAX) {
        snprintf(why, len, "`tables` must be an array of 1 to %d table names", EXPORT_TABLES_MAX);
        return 0;
    }
    size_t i;
    json_t *item;
    json_array_foreach(tables, i, item)
    {
        if (!json_is_string(item) || json_string_length(item) == 0 ||
            json_string_length(item) > EXPORT_NAME_MAX) {
            snprintf(why, len, "`tables` entries must be names of 1 to %d characters",
                     EXPORT_NAME_MAX);
            return 0;
        }
    }
    return 1;
}

json_t *export_payload(const json_t *body, char *why, size_t len)
{
    json_t *tables = json_object_get(body, "tables");
    json_t *rows = json_object_get(body, "rows_per_document");
    json_t *format = json_object_get(body, "format");
    if (tables && !json_is_null(tables) && !valid_tables(tables, why, len))
        return NULL;
    if (rows && !json_is_null(rows) &&
        (!json_is_integer(rows) || json_integer_value(rows) < 1 ||
         json_integer_value(rows) > EXPORT_ROWS_MAX)) {
        snprintf(why, len, "`rows_per_document` must be a whole number from 1 to %d",
                 EXPORT_ROWS_MAX);
        return NULL;
    }
    const char *f = json_string_value(format);
    if (format && !json_is_null(format) &&
        (!f || (strcmp(f, "markdown") != 0 && strcmp(f, "jsonl") != 0))) {
        snprintf(why, len, "`format` must be \"markdown\" or \"jsonl\"");
        return NULL;
    }
    json_t *payload = json_pack("{s:I, s:s}", "rows_per_document",
                                rows && json_is_integer(rows) ? json_integer_value(rows)
                                                              : (json_int_t)EXPORT_ROWS_DEFAULT,
                                "format", f ? f : "markdown");
    if (payload && tables && json_is_array(tables))
        json_object_set(payload, "tables", tables);
    return payload;
}

/* ------------------------------------------------------------------------ */
/* A growable text buffer                                                   */
/* ------------------------------------------------------------------------ */

struct text {
    char *data;
    size_t len, cap;
    int failed; /* out of memory: the content is incomplete */
};

static int text_reserve(struct text *t, size_t extra)
{
    if (t->len + extra + 1 <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + extra + 1)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) {
        t->failed = 1;
        return -1;
    }
    t->data = grown;
    t->cap = cap;
    return 0;
}

static void text_add(struct text *t, const char *s, size_t n)
{
    if (text_reserve(t, n) != 0)
        return;
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void text_char(struct text *t, char c)
{
    text_add(t, &c, 1);
}

static void text_clear(struct text *t)
{
    t->len = 0;
    t->failed = 0;
    if (t->data)
        t->data[0] = '\0';
}

static void text_free(struct text *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}

/* Takes the text out of `t` (caller frees), leaving it empty with as much room as before. */
static char *text_take(struct text *t, size_t *len)
{
    char *data = t->data;
    size_t cap = t->cap;
    *len = t->len;
    memset(t, 0, sizeof(*t));
    if (cap)
        text_reserve(t, cap - 1);
    return data;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

/* The shortest of %.15g and %.17g that reads back as the same double. */
static void format_double(double d, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, size, "%.17g", d);
}

/* 1 when `s` is printable ASCII that JSON takes as it is (no quote, backslash, control). */
static int plain_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* Where to cut `s` to at most `cap` bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t cap)
{
    while (cap > 0 && ((unsigned char)s[cap] & 0xC0) == 0x80)
        cap--;
    return cap;
}

/* An integer in decimal: printf's generality costs more than the rest of a row. */
static void add_int(struct text *out, int64_t value)
{
    char digits[24];
    size_t n = 0;
    uint64_t u = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (text_reserve(out, n + 1) != 0)
        return;
    if (value < 0)
        out->data[out->len++] = '-';
    while (n)
        out->data[out->len++] = digits[--n];
    out->data[out->len] = '\0';
}

static void add_base64(struct text *out, const char *bin, size_t n)
{
    size_t size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    if (text_reserve(out, size) != 0)
        return;
    sodium_bin2base64(out->data + out->len, size, (const unsigned char *)bin, n,
                      sodium_base64_VARIANT_ORIGINAL);
    out->len += size - 1;
}

/* Text as a JSON string; 0, or -1 when it is not valid UTF-8. */
static int add_json_string(struct text *out, const char *s, size_t n)
{
    if (plain_ascii(s, n)) {
        if (text_reserve(out, n + 2) != 0)
            return 0;
        out->data[out->len++] = '"';
        memcpy(out->data + out->len, s, n);
        out->len += n;
        out->data[out->len++] = '"';
        out->data[out->len] = '\0';
        return 0;
    }
    json_t *str = json_stringn(s, n); /* NULL for invalid UTF-8 */
    if (!str)
        return -1;
    /* Escaping grows a byte to at most six ("\u001f"). */
    size_t room = n * 6 + 3;
    if (text_reserve(out, room) == 0) {
        size_t used = json_dumpb(str, out->data + out->len, room, JSON_ENCODE_ANY);
        if (used > 0 && used <= room)
            out->len += used;
        out->data[out->len] = '\0';
    }
    json_decref(str);
    return 0;
}

/* Bytes a markdown cell cannot hold as they are: `|`, line breaks, and (to check) non-ASCII. */
static int markdown_special(unsigned char c)
{
    return c == '|' || c == '\n' || c == '\r' || c >= 0x80;
}

/* Text into a markdown table cell; 0, or -1 when it is not valid UTF-8. */
static int add_markdown_text(struct text *out, const char *s, size_t n)
{
    size_t plain = 0;
    while (plain < n && !markdown_special((unsigned char)s[plain]))
        plain++;
    if (plain == n) { /* the common case: nothing to escape */
        text_add(out, s, n);
        return 0;
    }
    json_t *checked = NULL;
    for (size_t i = plain; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) {
            if (!(checked = json_stringn(s, n)))
                return -1;
            json_decref(checked);
            break;
        }
    if (text_reserve(out, n * 4) != 0)
        return 0;
    memcpy(out->data + out->len, s, plain);
    out->len += plain;
    for (size_t i = plain; i < n; i++) {
        char c = s[i];
        if (c == '|') {
            out->data[out->len++] = '\\';
            out->data[out->len++] = '|';
        } else if (c == '\n') {
            memcpy(out->data + out->len, "<br>", 4);
            out->len += 4;
        } else if (c != '\r') {
            out->data[out->len++] = c;
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

struct cell_writer {
    int format;
    size_t cap;          /* bytes of one value */
    struct text scratch; /* a cut value with its marker */
};

static void add_text(struct cell_writer *cw, struct text *out, const char *s, size_t n);

static void add_binary(struct cell_writer *cw, struct text *out, const char *bin, size_t n)
{
    if (n / 3 * 4 > cw->cap) {
        char note[96];
        snprintf(note, sizeof(note), "[binary: %zu bytes, over the export's cell limit]", n);
        add_text(cw, out, note, strlen(note));
        return;
    }
    if (cw->format == FORMAT_JSONL)
        text_char(out, '"');
    add_base64(out, bin, n);
    if (cw->format == FORMAT_JSONL)
        text_char(out, '"');
}

static void add_text(struct cell_writer *cw, struct text *out, const char *s, size_t n)
{
    if (n > cw->cap) {
        size_t cut = utf8_cut(s, cw->cap);
        char marker[64];
        snprintf(marker, sizeof(marker), " [truncated: %zu bytes]", n);
        text_clear(&cw->scratch);
        text_add(&cw->scratch, s, cut);
        text_str(&cw->scratch, marker);
        s = cw->scratch.data;
        n = cw->scratch.len;
    }
    int rc = cw->format == FORMAT_JSONL ? add_json_string(out, s, n) : add_markdown_text(out, s, n);
    if (rc != 0) /* not UTF-8: bytes, then */
        add_binary(cw, out, s, n);
}

static void add_json_value(struct cell_writer *cw, struct text *out, const char *s, size_t n)
{
    if (cw->format == FORMAT_JSONL && n <= cw->cap) {
        json_t *value = json_loadb(s, n, JSON_DECODE_ANY, NULL);
        if (value) {
            char *compact = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(value);
            if (compact) {
                text_str(out, compact);
                free(compact);
                return;
            }
        }
    }
    add_text(cw, out, s, n); /* markdown, too long, or not JSON after all: as text */
}

static void add_value(struct cell_writer *cw, struct text *out, const struct quarry_value *v)
{
    char num[40];
    int jsonl = cw->format == FORMAT_JSONL;
    switch (v->type) {
    case QUARRY_VALUE_NULL:
        if (jsonl)
            text_str(out, "null");
        return;
    case QUARRY_VALUE_INT:
        add_int(out, v->i);
        return;
    case QUARRY_VALUE_DOUBLE:
        if (isfinite(v->d))
            format_double(v->d, num, sizeof(num));
        else
            snprintf(num, sizeof(num), "%s", jsonl ? "null" : (isnan(v->d) ? "NaN" : "Infinity"));
        text_str(out, num);
        return;
    case QUARRY_VALUE_BOOL:
        text_str(out, v->i ? "true" : "false");
        return;
    case QUARRY_VALUE_BLOB:
        add_binary(cw, out, v->str ? v->str : "", v->str ? v->len : 0);
        return;
    case QUARRY_VALUE_JSON:
        add_json_value(cw, out, v->str ? v->str : "", v->str ? v->len : 0);
        return;
    default: /* text, decimal, timestamp, date, and types this build does not know */
        add_text(cw, out, v->str ? v->str : "", v->str ? v->len : 0);
    }
}

/* ------------------------------------------------------------------------ */
/* Storing: a writer thread behind a bounded queue                          */
/* ------------------------------------------------------------------------ */

/*
 * Hashing a page and writing it to the registry take about as long as
 * reading and formatting it, so a thread of the export's own does the
 * storing while the source is read. At most EXPORT_QUEUE_PAGES pages of
 * EXPORT_QUEUE_BYTES in all wait (one page of any size may), so memory
 * stays bounded. Without a thread (it could not start), the reader stores
 * each page itself.
 */

/* A document on its way to the registry; owns its strings. */
struct pending_doc {
    char *content;
    size_t len;
    char *title, *metadata;
    const char *schema, *table; /* the catalog's, which outlives the writer */
    const char *kind, *format;  /* static */
    int part;
    int index_now;
    char hash[65]; /* of the content, hex */
};

struct stager {
    struct registry *registry; /* the writer's own handle, or the job's without a thread */
    int own_registry;
    int threaded;
    const char *export_id;
    const char *connection_id;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    struct pending_doc *queue[EXPORT_QUEUE_PAGES];
    size_t head, count;
    size_t queued_bytes;
    int closing;
    atomic_int failed;
    int in_txn;               /* the writer's: a transaction is open */
    size_t txn_bytes;         /* content stored in it so far */
    size_t wal_bytes;         /* content committed since the last checkpoint */
    long docs_new, docs_kept; /* the writer's; read once it is joined */
};

static void pending_free(struct pending_doc *p)
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

static int store(struct stager *st, const struct pending_doc *p)
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
static int writer_end_txn(struct stager *st, int ok)
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
static int writer_store(struct stager *st, const struct pending_doc *p)
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
    struct stager *st = arg;
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
        struct pending_doc *p = st->queue[st->head];
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
        pending_free(p);
    }
}

static void stager_start(struct stager *st, struct registry *job_registry, const char *export_id,
                         const char *connection_id)
{
    char err[256];
    st->export_id = export_id;
    st->connection_id = connection_id;
    st->registry = registry_open(registry_path(job_registry), err, sizeof(err));
    if (st->registry) {
        st->own_registry = 1;
        /* Staged pages need no fsync of their own; see set_durability. */
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
}

/* Hands `p` over (also on failure). 0, or -1 once storing has failed. */
static int stager_submit(struct stager *st, struct pending_doc *p)
{
    /* Hashed here, on the reading thread: storing is the larger share of the work. */
    hash_hex(p->content, p->len, p->hash);
    if (!st->threaded) {
        if (!atomic_load(&st->failed) && store(st, p) != 0)
            atomic_store(&st->failed, 1);
        pending_free(p);
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
        pending_free(p);
        return -1;
    }
    return 0;
}

/* Waits until everything handed over is stored. 0, or -1 when storing failed. */
static int stager_finish(struct stager *st)
{
    if (st->threaded) {
        pthread_mutex_lock(&st->mu);
        st->closing = 1;
        pthread_cond_broadcast(&st->changed);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
        pthread_cond_destroy(&st->changed);
        pthread_mutex_destroy(&st->mu);
        st->threaded = 0;
    }
    if (st->own_registry)
        registry_close(st->registry);
    st->registry = NULL;
    st->own_registry = 0;
    return atomic_load(&st->failed) ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* The run                                                                  */
/* ------------------------------------------------------------------------ */

struct failure {
    char code[32];
    char message[512];
};

static void fail_with(struct failure *f, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_with(struct failure *f, const char *code, const char *fmt, ...)
{
    if (f->code[0])
        return; /* the first failure is the one to tell */
    snprintf(f->code, sizeof(f->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
}

struct export_run {
    struct registry *registry;
    const struct app *app;
    const char *job_id;
    const char *connection_id;
    struct conn_state state;
    int format;
    int rows_per_document;
    const json_t *requested; /* the payload's "tables", or NULL for all */

    const struct quarry_driver *driver;
    struct pool_lease *lease;
    struct catalog *catalog;
    struct catalog_table **tables; /* the ones to export */
    size_t ntables;

    int snapshot_version; /* 0: never analysed */
    json_t *snapshot;     /* the latest semantic snapshot, or NULL */
    json_t *by_label;     /* its tables by label (borrowed from `snapshot`) */
    json_t *referenced;   /* label -> ["Other (col) -> (col)", ...] from the catalog */

    struct stager stager;
    long docs_live, docs_retired;
    int64_t rows;
    json_t *table_results;
    int64_t last_progress_ms;
    struct failure failure;
};

static void progress(struct export_run *run, double fraction, const char *step)
{
    /* Each report is a durable write: not more than a few a second. */
    int64_t now = host_now_ms();
    if (fraction > 0 && fraction < 1 && now - run->last_progress_ms < EXPORT_PROGRESS_EVERY_MS)
        return;
    run->last_progress_ms = now;
    jobs_set_progress(run->registry, run->job_id, fraction, step);
}

static char *label_of(const char *schema, const char *name)
{
    char *label = NULL;
    if (schema && *schema)
        return asprintf(&label, "%s.%s", schema, name) < 0 ? NULL : label;
    return strdup(name);
}

/* Metadata shared by every document of a table; the caller adds the rest. */
static json_t *base_metadata(const struct export_run *run, const struct catalog_table *t,
                             const char *label, const char *kind)
{
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "connection_id",
                     run->connection_id, "connection_name", run->state.name, "database_type",
                     run->state.database_type, "schema",
                     t->schema ? json_string(t->schema) : json_null(), "table", label, "kind", kind,
                     "format", kind[0] == 'o' ? "markdown" : format_name(run->format), "mime_type",
                     kind[0] == 'o' || run->format == FORMAT_MARKDOWN ? "text/markdown"
                                                                      : "application/x-ndjson",
                     "snapshot_version",
                     run->snapshot_version ? json_integer(run->snapshot_version) : json_null(),
                     "export_task_id", run->job_id, "exported_at", now);
}

/* Hands a document to the writer; takes `p` (NULL: out of memory). 0, or -1. */
static int submit(struct export_run *run, struct pending_doc *p, const char *label)
{
    if (p && p->content && p->title && p->metadata && stager_submit(&run->stager, p) == 0)
        return 0;
    if (p && (!p->content || !p->title || !p->metadata))
        pending_free(p);
    fail_with(&run->failure, "internal", "cannot store the documents of %s", label);
    return -1;
}

/* The metadata as JSON text (`meta` stolen), or NULL. */
static char *metadata_text(json_t *meta)
{
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    return text;
}

/* ------------------------------------------------------------------------ */
/* Row pages: the row sink                                                  */
/* ------------------------------------------------------------------------ */

struct page_writer {
    struct export_run *run;
    const struct catalog_table *table;
    const char *label;
    size_t ncols;
    char **keys; /* JSONL: "\"name\":" per column */
    size_t *key_lens;
    json_t *columns;  /* the names, for metadata */
    struct text head; /* markdown: the table's header rows */
    struct cell_writer cells;
    struct cell_writer sample_cells;
    struct text page;    /* the rows of the page being written */
    struct text doc;     /* markdown: the page as stored, heading included */
    struct text samples; /* markdown rows of the first few rows, for the overview */
    long page_rows;
    int64_t rows;
    int part;
    int stopped;                         /* storing failed, or a bound was hit: the export fails */
    double progress_from, progress_span; /* this table's share of the job */
};

static void writer_free(struct page_writer *w)
{
    for (size_t i = 0; w->keys && i < w->ncols; i++)
        free(w->keys[i]);
    free(w->keys);
    free(w->key_lens);
    json_decref(w->columns);
    text_free(&w->head);
    text_free(&w->cells.scratch);
    text_free(&w->sample_cells.scratch);
    text_free(&w->page);
    text_free(&w->doc);
    text_free(&w->samples);
}

static int sink_begin(void *userdata, const struct quarry_column *raw, size_t n)
{
    struct page_writer *w = userdata;
    if (n > EXPORT_COLUMNS_MAX) {
        fail_with(&w->run->failure, "too_many_columns", "%s has %zu columns; the export takes %d",
                  w->label, n, EXPORT_COLUMNS_MAX);
        w->stopped = 1;
        return QUARRY_SINK_STOP;
    }
    w->keys = calloc(n ? n : 1, sizeof(char *));
    w->key_lens = calloc(n ? n : 1, sizeof(size_t));
    w->columns = json_array();
    if (!w->keys || !w->key_lens || !w->columns)
        goto nomem;
    w->ncols = n;
    /* A row stays within the budget however many columns it has. */
    size_t cap = n ? EXPORT_ROW_BUDGET / n : EXPORT_CELL_MAX;
    w->cells.cap = cap < EXPORT_CELL_MIN   ? EXPORT_CELL_MIN
                   : cap > EXPORT_CELL_MAX ? EXPORT_CELL_MAX
                                           : cap;
    w->cells.format = w->run->format;
    w->sample_cells.cap = EXPORT_SAMPLE_CELL;
    w->sample_cells.format = FORMAT_MARKDOWN;
    text_str(&w->head, "|");
    /* The driver's elements may be larger than ours: step by its struct size. */
    size_t stride = n ? raw[0].struct_size : 0;
    for (size_t i = 0; i < n; i++) {
        struct quarry_column col;
        host_copy_struct(&col, sizeof(col), (const char *)raw + i * stride);
        const char *name = col.name ? col.name : "";
        json_t *key = json_string(name);
        char *encoded = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;
        json_decref(key);
        if (!encoded || asprintf(&w->keys[i], "%s:", encoded) < 0) {
            free(encoded);
            w->keys[i] = NULL;
            goto nomem;
        }
        free(encoded);
        w->key_lens[i] = strlen(w->keys[i]);
        json_array_append_new(w->columns, json_string(name));
        text_char(&w->head, ' ');
        add_markdown_text(&w->head, name, strlen(name));
        text_str(&w->head, " |");
    }
    text_str(&w->head, "\n|");
    for (size_t i = 0; i < n; i++)
        text_str(&w->head, " --- |");
    text_char(&w->head, '\n');
    return w->head.failed ? QUARRY_SINK_STOP : QUARRY_SINK_CONTINUE;
nomem:
    fail_with(&w->run->failure, "internal", "out of memory exporting %s", w->label);
    w->stopped = 1;
    return QUARRY_SINK_STOP;
}

static void write_row(struct cell_writer *cw, struct text *out, const struct page_writer *w,
                      const struct quarry_value *values, size_t n)
{
    if (cw->format == FORMAT_JSONL) {
        text_char(out, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                text_char(out, ',');
            text_add(out, w->keys[i], w->key_lens[i]);
            add_value(cw, out, &values[i]);
        }
        text_str(out, "}\n");
        return;
    }
    text_char(out, '|');
    for (size_t i = 0; i < n; i++) {
        text_char(out, ' ');
        add_value(cw, out, &values[i]);
        text_str(out, " |");
    }
    text_char(out, '\n');
}

static int flush_page(struct page_writer *w)
{
    struct export_run *run = w->run;
    if (w->page_rows == 0)
        return 0;
    int64_t first = w->rows - w->page_rows + 1;
    struct pending_doc *p = calloc(1, sizeof(*p));
    if (!p || w->page.failed ||
        asprintf(&p->title, "%.*s: rows %lld-%lld", EXPORT_NAME_MAX, w->label, (long long)first,
                 (long long)w->rows) < 0) {
        if (p)
            p->title = NULL;
        pending_free(p);
        fail_with(&run->failure, "internal", "out of memory exporting %s", w->label);
        return -1;
    }
    if (run->format == FORMAT_MARKDOWN) {
        text_clear(&w->doc);
        text_str(&w->doc, "## ");
        text_str(&w->doc, p->title);
        text_str(&w->doc, "\n\n");
        text_add(&w->doc, w->head.data, w->head.len);
        text_add(&w->doc, w->page.data, w->page.len);
        if (!w->doc.failed)
            p->content = text_take(&w->doc, &p->len);
    } else {
        p->content = text_take(&w->page, &p->len);
    }
    json_t *meta = base_metadata(run, w->table, w->label, "rows");
    json_object_set_new(meta, "part", json_integer(w->part + 1));
    json_object_set_new(meta, "row_start", json_integer(first));
    json_object_set_new(meta, "row_end", json_integer(w->rows));
    json_object_set_new(meta, "row_count", json_integer(w->page_rows));
    json_object_set(meta, "columns", w->columns);
    p->metadata = metadata_text(meta);
    p->schema = w->table->schema;
    p->table = w->table->name;
    p->kind = "rows";
    p->format = format_name(run->format);
    p->part = w->part + 1;
    w->part++;
    w->page_rows = 0;
    text_clear(&w->page);
    return submit(run, p, w->label);
}

static int sink_row(void *userdata, const struct quarry_value *values, size_t n)
{
    struct page_writer *w = userdata;
    if (w->stopped)
        return QUARRY_SINK_STOP;
    if (n > w->ncols)
        n = w->ncols;
    write_row(&w->cells, &w->page, w, values, n);
    if (w->rows < EXPORT_SAMPLE_ROWS)
        write_row(&w->sample_cells, &w->samples, w, values, n);
    w->rows++;
    w->page_rows++;
    if (w->page_rows >= w->run->rows_per_document || w->page.len >= EXPORT_DOC_MAX_BYTES) {
        if (flush_page(w) != 0) {
            w->stopped = 1;
            return QUARRY_SINK_STOP;
        }
        int64_t estimate = w->table->row_estimate;
        if (estimate > 0) {
            char step[EXPORT_NAME_MAX + 64];
            snprintf(step, sizeof(step), "exporting %.*s (%lld rows)", EXPORT_NAME_MAX, w->label,
                     (long long)w->rows);
            double done = (double)w->rows / (double)estimate;
            progress(w->run, w->progress_from + w->progress_span * (done < 1 ? done : 1), step);
        }
    }
    return QUARRY_SINK_CONTINUE;
}

/* The statement that reads every row: SQL, or a find for a document store. */
static char *select_all(const struct export_run *run, const struct catalog_table *t)
{
    if (run->driver->capabilities & QUARRY_CAP_DOCUMENT) {
        json_t *find = json_pack("{s:s}", "find", t->name);
        char *text = find ? json_dumps(find, JSON_COMPACT) : NULL;
        json_decref(find);
        return text;
    }
    char *ref = catalog_table_ref(run->catalog, t), *sql = NULL;
    if (ref && asprintf(&sql, "SELECT * FROM %s", ref) < 0)
        sql = NULL;
    free(ref);
    return sql;
}

/*
 * Every row of `t` into `sink`: through the driver's scan, its bulk path
 * for whole tables, or else `SELECT *` (a find) through execute.
 */
static int read_table(const struct export_run *run, const struct catalog_table *t,
                      const struct quarry_ctx *ctx, const struct quarry_row_sink *sink,
                      struct quarry_error *err)
{
    struct quarry_conn *conn = pool_lease_conn(run->lease);
    if (run->driver->scan)
        return run->driver->scan(conn, ctx, t->schema, t->name, sink, err);
    char *statement = select_all(run, t);
    if (!statement)
        return host_services()->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    int rc = run->driver->execute(conn, ctx, statement, sink, err);
    free(statement);
    return rc;
}

/* Streams the rows of `t` into pages. 0, or -1 with the run's failure set. */
static int export_rows(struct export_run *run, const struct catalog_table *t, struct page_writer *w)
{
    struct quarry_row_sink sink;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = w;
    sink.begin = sink_begin;
    sink.row = sink_row;
    struct host_call call;
    host_call_init(&call, EXPORT_TABLE_MS, 0);
    struct quarry_error err;
    host_error_init(&err);
    int rc = read_table(run, t, &call.ctx, &sink, &err);
    if (rc != QUARRY_OK) {
        fail_with(&run->failure, host_status_code(rc), "exporting %s: %s", w->label,
                  err.message[0] ? err.message : "the driver failed");
        return rc == QUARRY_ERR_CONNECT || rc == QUARRY_ERR_TIMEOUT ? -2 : -1;
    }
    if (w->stopped || flush_page(w) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The overview document                                                    */
/* ------------------------------------------------------------------------ */

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A table cell: `|`, newlines and overlong text tamed. */
static void md_cell(FILE *out, const char *text)
{
    struct text t = {0};
    size_t len = text ? strlen(text) : 0;
    if (text && add_markdown_text(&t, text, len > 400 ? utf8_cut(text, 400) : len) != 0)
        text_str(&t, "(not UTF-8)");
    fprintf(out, " %s |", t.data ? t.data : "");
    text_free(&t);
}

static void md_json_cell(FILE *out, const json_t *value)
{
    if (!value || json_is_null(value)) {
        md_cell(out, "");
        return;
    }
    if (json_is_string(value)) {
        md_cell(out, json_string_value(value));
        return;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    md_cell(out, text);
    free(text);
}

static const json_t *snapshot_column(const json_t *snap_table, const char *name)
{
    json_t *columns = json_object_get(snap_table, "columns"), *col;
    size_t i;
    json_array_foreach(columns, i,
                       col) if (str(col, "name") && strcmp(str(col, "name"), name) == 0) return col;
    return NULL;
}

static void write_list(FILE *out, char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", items[i] ? items[i] : "(expression)");
}

static void overview_columns(FILE *out, const struct catalog_table *t, const json_t *snap)
{
    fputs("## Columns\n\n| Column | Type | Semantic type | Nullable | Key | Description |\n"
          "| --- | --- | --- | --- | --- | --- |\n",
          out);
    for (size_t i = 0; i < t->ncolumns; i++) {
        const struct catalog_column *c = &t->columns[i];
        const json_t *sc = snapshot_column(snap, c->name);
        char key[32] = "";
        if (c->pk_position)
            snprintf(key, sizeof(key), "PK");
        for (size_t f = 0; f < t->nfks; f++)
            for (size_t k = 0; k < t->fks[f].ncolumns; k++)
                if (t->fks[f].columns[k] && strcmp(t->fks[f].columns[k], c->name) == 0)
                    snprintf(key + strlen(key), sizeof(key) - strlen(key), "%sFK",
                             key[0] ? ", " : "");
        const char *description = str(sc, "description") ? str(sc, "description") : c->comment;
        fputc('|', out);
        md_cell(out, c->name);
        md_cell(out, c->type);
        md_cell(out, str(sc, "semantic_type"));
        md_cell(out, c->nullable == 1 ? "yes" : c->nullable == 0 ? "no" : "");
        md_cell(out, key);
        md_cell(out, description);
        fputc('\n', out);
    }
}

static void overview_keys(FILE *out, const struct export_run *run, const struct catalog_table *t,
                          const char *label)
{
    fputs("\n## Keys and relations\n\n", out);
    int any = 0;
    for (int pos = 1; pos <= (int)t->ncolumns; pos++)
        for (size_t i = 0; i < t->ncolumns; i++)
            if (t->columns[i].pk_position == pos)
                fprintf(out, "%s%s", any++ ? ", " : "- Primary key: ", t->columns[i].name);
    if (any)
        fputc('\n', out);
    for (size_t f = 0; f < t->nfks; f++) {
        const struct catalog_fk *fk = &t->fks[f];
        fputs("- References ", out);
        fprintf(out, "%s%s%s (", fk->ref_schema ? fk->ref_schema : "", fk->ref_schema ? "." : "",
                fk->ref_table);
        write_list(out, fk->ref_columns, fk->ncolumns);
        fputs(") through (", out);
        write_list(out, fk->columns, fk->ncolumns);
        fputs(")\n", out);
        any = 1;
    }
    json_t *incoming = json_object_get(run->referenced, label), *item;
    size_t i;
    json_array_foreach(incoming, i, item)
    {
        fprintf(out, "- Referenced by %s\n", json_string_value(item));
        any = 1;
    }
    for (size_t x = 0; x < t->nindexes; x++) {
        const struct catalog_index *ix = &t->indexes[x];
        if (ix->primary)
            continue;
        fprintf(out, "- %s %s (", ix->unique ? "Unique index" : "Index", ix->name ? ix->name : "");
        write_list(out, ix->columns, ix->ncolumns);
        fputs(")\n", out);
        any = 1;
    }
    if (!any)
        fputs("None declared.\n", out);
}

static void overview_statistics(FILE *out, const struct catalog_table *t, const json_t *snap,
                                int64_t rows, int documents, const struct export_run *run)
{
    fprintf(out,
            "\n## Statistics\n\n- Rows exported: %lld\n- Row documents: %d (up to %d rows "
            "each, %s)\n",
            (long long)rows, documents, run->rows_per_document, format_name(run->format));
    if (t->row_estimate >= 0)
        fprintf(out, "- Rows estimated by the database: %lld\n", (long long)t->row_estimate);
    if (!snap)
        return;
    fputs("\n| Column | Null fraction | Distinct | Min | Max | Top values |\n"
          "| --- | --- | --- | --- | --- | --- |\n",
          out);
    json_t *columns = json_object_get(snap, "columns"), *c;
    size_t i;
    json_array_foreach(columns, i, c)
    {
        fputc('|', out);
        md_cell(out, str(c, "name"));
        md_json_cell(out, json_object_get(c, "null_fraction"));
        md_json_cell(out, json_object_get(c, "distinct_estimate"));
        md_json_cell(out, json_object_get(c, "min"));
        md_json_cell(out, json_object_get(c, "max"));
        /* "Rock (1297), Latin (579)": the values a question is likely to name. */
        json_t *top = json_object_get(c, "top_values"), *v;
        size_t k;
        char *values = NULL;
        size_t vlen = 0;
        FILE *vout = open_memstream(&values, &vlen);
        json_array_foreach(top, k, v)
        {
            if (k == 10 || !vout)
                break;
            char *value = json_dumps(json_object_get(v, "value"), JSON_ENCODE_ANY);
            const char *shown = json_is_string(json_object_get(v, "value"))
                                    ? json_string_value(json_object_get(v, "value"))
                                    : value;
            fprintf(vout, "%s%.60s (%lld)", k ? ", " : "", shown ? shown : "",
                    (long long)json_integer_value(json_object_get(v, "count")));
            free(value);
        }
        if (vout)
            fclose(vout);
        md_cell(out, values);
        free(values);
        fputc('\n', out);
    }
}

static void overview_text(FILE *out, const struct export_run *run, const struct catalog_table *t,
                          const char *label, const json_t *snap, const struct page_writer *w)
{
    fprintf(out, "# %s\n\n", label);
    const char *description = str(snap, "description") ? str(snap, "description") : t->comment;
    if (description)
        fprintf(out, "%.4000s\n\n", description);
    fprintf(out, "- Connection: %s (%s)\n- Kind: %s\n", run->state.name, run->state.database_type,
            catalog_kind_name(t->kind));
    if (str(snap, "role"))
        fprintf(out, "- Role: %s\n", str(snap, "role"));
    if (run->snapshot_version)
        fprintf(out, "- Semantic snapshot: version %d\n\n", run->snapshot_version);
    else
        fputs("- Semantic snapshot: none (not analysed; from the database's catalog)\n\n", out);
    overview_columns(out, t, snap);
    overview_keys(out, run, t, label);
    overview_statistics(out, t, snap, w->rows, w->part, run);
    if (w->rows > 0 && w->head.data) {
        fputs("\n## Sample rows\n\n", out);
        fwrite(w->head.data, 1, w->head.len, out);
        fwrite(w->samples.data, 1, w->samples.len, out);
    }
}

static int stage_overview(struct export_run *run, const struct catalog_table *t, const char *label,
                          const struct page_writer *w)
{
    struct pending_doc *p = calloc(1, sizeof(*p));
    FILE *out = p ? open_memstream(&p->content, &p->len) : NULL;
    if (!out) {
        free(p);
        fail_with(&run->failure, "internal", "out of memory");
        return -1;
    }
    overview_text(out, run, t, label, json_object_get(run->by_label, label), w);
    if (fclose(out) != 0) {
        free(p->content);
        p->content = NULL;
    }
    json_t *meta = base_metadata(run, t, label, "overview");
    json_object_set_new(meta, "part", json_integer(0));
    json_object_set_new(meta, "row_count", json_integer(w->rows));
    json_object_set_new(meta, "row_documents", json_integer(w->part));
    p->metadata = metadata_text(meta);
    if (asprintf(&p->title, "%.*s: overview", EXPORT_NAME_MAX, label) < 0)
        p->title = NULL;
    p->schema = t->schema;
    p->table = t->name;
    p->kind = "overview";
    p->format = "markdown";
    p->index_now = 1; /* small, and what a search for the table's text finds first */
    return submit(run, p, label);
}

/* ------------------------------------------------------------------------ */
/* One table                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Exports one table; its share of the job's progress is [from, from + span].
 * 0, -1 on failure, -2 on a failure that means the connection is broken.
 */
static int export_table(struct export_run *run, const struct catalog_table *t, double from,
                        double span)
{
    char *label = label_of(t->schema, t->name);
    if (!label) {
        fail_with(&run->failure, "internal", "out of memory");
        return -1;
    }
    struct page_writer w = {
        .run = run, .table = t, .label = label, .progress_from = from, .progress_span = span};
    int rc = 0;
    /* A partial export replaces only the documents of the tables it names. */
    if (run->requested &&
        documents_stage_table(run->registry, run->job_id, t->schema, t->name) != DOCS_OK)
        rc = -1;
    if (rc == 0)
        rc = export_rows(run, t, &w);
    if (rc == 0)
        rc = stage_overview(run, t, label, &w);
    if (rc == 0) {
        run->rows += w.rows;
        if (json_array_size(run->table_results) < EXPORT_RESULT_TABLES_MAX)
            json_array_append_new(run->table_results,
                                  json_pack("{s:s, s:I, s:i}", "table", label, "rows",
                                            (json_int_t)w.rows, "documents", w.part + 1));
    }
    if (rc == -1 && !run->failure.code[0])
        fail_with(&run->failure, "internal", "cannot store the documents of %s", label);
    writer_free(&w);
    free(label);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Catalog, snapshot, tables to export                                      */
/* ------------------------------------------------------------------------ */

static int introspect(struct export_run *run, struct quarry_error *err)
{
    const char *names[64];
    size_t n = 0, i;
    json_t *item;
    json_array_foreach(run->state.schemas, i, item)
    {
        if (n < 64 && json_is_string(item))
            names[n++] = json_string_value(item);
    }
    struct quarry_introspect_opts opts;
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    opts.schemas = n ? names : NULL;
    opts.nschemas = n;
    opts.sample_documents = 100;
    struct quarry_catalog_sink sink;
    catalog_sink_init(&sink, run->catalog);
    struct host_call call;
    host_call_init(&call, EXPORT_INTROSPECT_MS, 0);
    return run->driver->introspect(pool_lease_conn(run->lease), &call.ctx, &opts, &sink, err);
}

/* Incoming foreign keys of every table, in one pass: label -> ["Other (a) -> (b)", ...]. */
static int index_references(struct export_run *run)
{
    run->referenced = json_object();
    if (!run->referenced)
        return -1;
    for (size_t i = 0; i < run->catalog->ntables; i++) {
        const struct catalog_table *t = &run->catalog->tables[i];
        char *from = label_of(t->schema, t->name);
        for (size_t f = 0; from && f < t->nfks; f++) {
            const struct catalog_fk *fk = &t->fks[f];
            char *to = label_of(fk->ref_schema, fk->ref_table);
            char *line = NULL;
            if (to && asprintf(&line, "%s (%s) -> (%s)", from, fk->columns[0] ? fk->columns[0] : "",
                               fk->ref_columns[0] ? fk->ref_columns[0] : "") >= 0) {
                json_t *list = json_object_get(run->referenced, to);
                if (!list) {
                    list = json_array();
                    json_object_set_new(run->referenced, to, list);
                }
                if (json_array_size(list) < 200)
                    json_array_append_new(list, json_string(line));
                free(line);
            }
            free(to);
        }
        free(from);
    }
    return 0;
}

static void load_snapshot(struct export_run *run)
{
    int version = snapshots_latest_version(run->registry, run->connection_id);
    if (version <= 0)
        return;
    run->snapshot = snapshots_get(run->registry, run->connection_id, version, SNAPSHOT_SEMANTIC);
    json_t *tables = json_object_get(run->snapshot, "tables"), *t;
    if (!json_is_array(tables))
        return;
    run->snapshot_version = version;
    run->by_label = json_object();
    size_t i;
    json_array_foreach(tables, i, t)
    {
        if (!str(t, "name"))
            continue;
        char *label = label_of(str(t, "schema"), str(t, "name"));
        if (label)
            json_object_set(run->by_label, label, t);
        free(label);
    }
}

/* 1 when `name` is the table's label ("schema.name", or "name" without a schema). */
static int is_label(const struct catalog_table *t, const char *name)
{
    if (!t->schema)
        return strcmp(t->name, name) == 0;
    size_t len = strlen(t->schema);
    return strncmp(name, t->schema, len) == 0 && name[len] == '.' &&
           strcmp(name + len + 1, t->name) == 0;
}

/* The table a request names: by label first, else by bare name in any schema. */
static struct catalog_table *find_requested(const struct catalog *c, const char *name)
{
    for (size_t i = 0; i < c->ntables; i++)
        if (is_label(&c->tables[i], name))
            return &c->tables[i];
    return catalog_find_table(c, NULL, name);
}

static int choose_tables(struct export_run *run)
{
    struct catalog *c = run->catalog;
    run->tables = calloc(c->ntables ? c->ntables : 1, sizeof(*run->tables));
    if (!run->tables)
        return -1;
    if (!run->requested) {
        for (size_t i = 0; i < c->ntables; i++)
            run->tables[run->ntables++] = &c->tables[i];
        return 0;
    }
    size_t i;
    json_t *item;
    json_array_foreach(run->requested, i, item)
    {
        struct catalog_table *t = find_requested(c, json_string_value(item));
        if (!t) {
            fail_with(&run->failure, "table_not_found", "no table named %.200s in the database",
                      json_string_value(item));
            return -1;
        }
        int seen = 0;
        for (size_t k = 0; k < run->ntables; k++)
            seen |= run->tables[k] == t;
        if (!seen)
            run->tables[run->ntables++] = t;
    }
    return 0;
}

/* The catalog's tables in the shape of a snapshot's, for the search index. */
static json_t *catalog_tables_json(const struct catalog *c)
{
    json_t *tables = json_array();
    for (size_t i = 0; tables && i < c->ntables; i++) {
        const struct catalog_table *t = &c->tables[i];
        json_t *columns = json_array();
        for (size_t k = 0; columns && k < t->ncolumns; k++) {
            const struct catalog_column *col = &t->columns[k];
            json_t *fk = json_null();
            for (size_t f = 0; f < t->nfks; f++)
                for (size_t x = 0; x < t->fks[f].ncolumns; x++)
                    if (json_is_null(fk) && t->fks[f].columns[x] &&
                        strcmp(t->fks[f].columns[x], col->name) == 0)
                        fk = json_pack("{s:s, s:s?}", "table", t->fks[f].ref_table, "column",
                                       t->fks[f].ref_columns[x]);
            json_array_append_new(columns, json_pack("{s:s, s:s?, s:s?, s:o}", "name", col->name,
                                                     "type", col->type, "description", col->comment,
                                                     "foreign_key", fk ? fk : json_null()));
        }
        json_array_append_new(tables, json_pack("{s:s?, s:s, s:s, s:s?, s:o}", "schema", t->schema,
                                                "name", t->name, "kind", catalog_kind_name(t->kind),
                                                "description", t->comment, "columns", columns));
    }
    return tables;
}

/* ------------------------------------------------------------------------ */
/* The job                                                                  */
/* ------------------------------------------------------------------------ */

/* Connects and introspects. 0, or -1 with the failure set. */
static int prepare(struct export_run *run)
{
    if (connections_load_state(run->registry, run->app->secrets, run->connection_id, &run->state) !=
        CONN_OK) {
        fail_with(&run->failure, "not_found", "connection %s not found (deleted?)",
                  run->connection_id);
        return -1;
    }
    run->driver = loader_find(run->state.database_type);
    if (!run->driver || !run->driver->execute || !run->driver->introspect) {
        fail_with(&run->failure, "driver_unavailable", "no loaded driver exports %s",
                  run->state.database_type);
        return -1;
    }
    char why[512];
    if (probe_check_target(run->app->guard, run->driver, run->state.url, why, sizeof(why)) != 0) {
        fail_with(&run->failure, "target_denied", "%s", why);
        return -1;
    }
    struct quarry_error err;
    host_error_init(&err);
    size_t nparams;
    struct quarry_kv *kv = probe_flatten_params(run->state.params, &nparams);
    struct pool_target target = {run->connection_id,
                                 run->driver,
                                 run->state.url,
                                 kv,
                                 nparams,
                                 (int)config_long(run->app->config, CFG_CONNECT_TIMEOUT)};
    run->lease = kv ? pools_borrow(run->app->pools, &target, &err) : NULL;
    free(kv);
    int rc = run->lease ? QUARRY_OK : (err.status ? err.status : QUARRY_ERR_NOMEM);
    if (rc == QUARRY_OK) {
        progress(run, 0.02, "introspecting");
        run->catalog = catalog_new(run->driver);
        rc = run->catalog ? introspect(run, &err) : QUARRY_ERR_NOMEM;
    }
    if (rc != QUARRY_OK) {
        fail_with(&run->failure, host_status_code(rc), "%s",
                  err.message[0] ? err.message : "the driver failed");
        return rc == QUARRY_ERR_CONNECT || rc == QUARRY_ERR_TIMEOUT ? -2 : -1;
    }
    load_snapshot(run);
    if (index_references(run) != 0 || choose_tables(run) != 0) {
        fail_with(&run->failure, "internal", "out of memory");
        return -1;
    }
    return 0;
}

static void set_durability(struct export_run *run, int full)
{
    /*
     * Staged documents need no fsync of their own: the commit that makes
     * them live is FULL and syncs the WAL, their pages included.
     */
    sqlite3_exec(registry_db(run->registry),
                 full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", NULL, NULL,
                 NULL);
}

/*
 * The reading thread's commits (progress reports, the swap) do not
 * checkpoint while the export stages: a checkpoint copies megabytes, and
 * the writer does it off the reading thread (`staging`). After the swap,
 * one checkpoint and SQLite's default again.
 */
static void set_checkpointing(struct export_run *run, int staging)
{
    sqlite3 *db = registry_db(run->registry);
    if (staging) {
        sqlite3_wal_autocheckpoint(db, 0);
        return;
    }
    if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) != SQLITE_OK)
        log_warn("export %s: checkpoint: %s", run->job_id, sqlite3_errmsg(db));
    sqlite3_wal_autocheckpoint(db, EXPORT_WAL_PAGES_DEFAULT);
}

/* Stages every chosen table. 0, -1, or -2 (the connection is broken). */
static int export_all(struct export_run *run)
{
    if (documents_discard_stale(run->registry, run->job_id, run->connection_id) != DOCS_OK) {
        fail_with(&run->failure, "internal", "the registry failed");
        return -1;
    }
    for (size_t i = 0; i < run->ntables; i++) {
        const struct catalog_table *t = run->tables[i];
        char step[EXPORT_NAME_MAX + 64];
        snprintf(step, sizeof(step), "exporting %.*s (%zu of %zu)", EXPORT_NAME_MAX, t->name, i + 1,
                 run->ntables);
        double span = 0.75 / (double)run->ntables;
        progress(run, 0.05 + span * (double)i, step);
        int rc = export_table(run, t, 0.05 + span * (double)i, span);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void index_progress(void *arg, long done)
{
    struct export_run *run = arg;
    char step[64];
    snprintf(step, sizeof(step), "indexing for search (%ld documents)", done);
    progress(run, 0.85, step);
}

/*
 * After the swap: the search index, and the retired documents' space. The
 * documents are live by now, so a failure here does not fail the export; it
 * shows in the result, and the next export or search catches up.
 */
static int finish(struct export_run *run)
{
    if (documents_index_pending(run->registry, run->connection_id, EXPORT_INDEX_BATCH,
                                index_progress, run) < 0) {
        log_error("export %s: cannot index the documents for search", run->job_id);
        return -1;
    }
    if (documents_collect(run->registry, run->connection_id, EXPORT_COLLECT_BATCH) < 0)
        log_warn("export %s: retired documents stay until the next export", run->job_id);
    progress(run, 0.97, "indexing tables and columns");
    int rc;
    if (run->snapshot_version > 0) {
        rc = search_index_tables(run->registry, run->connection_id, run->snapshot_version,
                                 json_object_get(run->snapshot, "tables"));
    } else {
        json_t *tables = catalog_tables_json(run->catalog);
        rc = tables ? search_index_tables(run->registry, run->connection_id, 0, tables)
                    : SEARCH_ERROR;
        json_decref(tables);
    }
    if (rc != SEARCH_OK) {
        log_error("export %s: cannot index the tables for search", run->job_id);
        return -1;
    }
    return 0;
}

static json_t *result_json(struct export_run *run, int indexed, double export_s, double total_s)
{
    return json_pack(
        "{s:s, s:s, s:s, s:i, s:o, s:I, s:O, s:I, s:I, s:I, s:I, s:I, s:b, s:f, s:f, s:f}",
        "connection_id", run->connection_id, "status", "succeeded", "format",
        format_name(run->format), "rows_per_document", run->rows_per_document, "snapshot_version",
        run->snapshot_version ? json_integer(run->snapshot_version) : json_null(),
        "tables_exported", (json_int_t)run->ntables, "tables", run->table_results, "rows",
        (json_int_t)run->rows, "documents",
        (json_int_t)(run->stager.docs_new + run->stager.docs_kept), "documents_new",
        (json_int_t)run->stager.docs_new, "documents_kept", (json_int_t)run->stager.docs_kept,
        "documents_retired", (json_int_t)run->docs_retired, "search_indexed", indexed,
        "export_seconds", export_s, "seconds", total_s, "rows_per_second",
        export_s > 0 ? (double)run->rows / export_s : 0.0);
}

void export_job(struct job_context *ctx)
{
    struct export_run run = {.registry = ctx->registry,
                             .app = ctx->app,
                             .job_id = ctx->id,
                             .connection_id = ctx->connection_id};
    const char *format = json_string_value(json_object_get(ctx->payload, "format"));
    json_int_t rows = json_integer_value(json_object_get(ctx->payload, "rows_per_document"));
    run.format = format && strcmp(format, "jsonl") == 0 ? FORMAT_JSONL : FORMAT_MARKDOWN;
    run.rows_per_document = rows >= 1 && rows <= EXPORT_ROWS_MAX ? (int)rows : EXPORT_ROWS_DEFAULT;
    run.requested = json_is_array(json_object_get(ctx->payload, "tables"))
                        ? json_object_get(ctx->payload, "tables")
                        : NULL;
    run.table_results = json_array();
    int64_t started = host_now_ms();

    set_durability(&run, 0);
    set_checkpointing(&run, 1);
    int rc = run.table_results ? prepare(&run) : -1;
    if (rc == 0) {
        stager_start(&run.stager, run.registry, run.job_id, run.connection_id);
        rc = export_all(&run);
        /* Everything handed over is stored (or storing failed) before anything else. */
        if (stager_finish(&run.stager) != 0 && rc == 0) {
            fail_with(&run.failure, "internal", "cannot store the documents; see the server log");
            rc = -1;
        }
    }
    if (run.lease) /* the source is done with before indexing, which can take a while */
        pools_return(run.app->pools, run.lease, rc == -2);
    set_durability(&run, 1);
    if (rc == 0 &&
        documents_commit_export(run.registry, run.job_id, run.connection_id, run.requested == NULL,
                                &run.docs_live, &run.docs_retired) != DOCS_OK) {
        fail_with(&run.failure, "internal", "cannot make the documents live");
        rc = -1;
    }
    int64_t exported = host_now_ms();
    set_checkpointing(&run, 0);
    int indexed = 0;
    if (rc == 0) {
        set_durability(&run, 0);
        indexed = finish(&run) == 0;
        set_durability(&run, 1);
    }
    if (rc == 0) {
        json_t *result = result_json(&run, indexed, (double)(exported - started) / 1000.0,
                                     (double)(host_now_ms() - started) / 1000.0);
        jobs_succeed(run.registry, run.job_id, result);
        json_decref(result);
        log_info("export %s: %lld rows of %zu tables into %ld documents (%ld new) in %.2f s",
                 run.job_id, (long long)run.rows, run.ntables,
                 run.stager.docs_new + run.stager.docs_kept, run.stager.docs_new,
                 (double)(host_now_ms() - started) / 1000.0);
    } else {
        documents_discard_stale(run.registry, run.job_id, run.connection_id);
        if (!run.failure.code[0])
            fail_with(&run.failure, "internal", "the export failed; see the server log");
        jobs_fail(run.registry, run.job_id, run.failure.code, run.failure.message);
    }
    json_decref(run.table_results);
    json_decref(run.referenced);
    json_decref(run.by_label);
    json_decref(run.snapshot);
    free(run.tables);
    catalog_free(run.catalog);
    conn_state_clear(&run.state);
}
