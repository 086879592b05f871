/*
 * Column profiles from a bounded sample.
 *
 * Rows stream through a row sink; per column an accumulator keeps a hash set
 * of at most PROFILE_MAX_DISTINCT distinct values (each truncated to
 * PROFILE_VALUE_MAX bytes) with their counts, plus a k-minimum-values sketch
 * of value hashes, so the distinct count of the sample can still be
 * estimated once the set is full. Nothing else grows with the sample.
 */
#include "profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "host.h"

#define SET_SLOTS 2048 /* a power of two, at least twice PROFILE_MAX_DISTINCT */
#define KMV_K 256      /* hashes the sketch keeps: about 6% standard error */
#define MAX_RESULT_COLUMNS (CATALOG_MAX_COLUMNS * 4)
#define UNIQUE_RATIO 0.95 /* distinct/sampled above this: a key-like column */

struct entry {
    char *value;
    long count;
};

struct accumulator {
    struct catalog_column *column;
    struct entry *entries; /* PROFILE_MAX_DISTINCT, allocated at the first value */
    size_t nentries;
    uint16_t *slots;     /* SET_SLOTS; entry index + 1, 0 empty */
    uint64_t kmv[KMV_K]; /* ascending */
    size_t nkmv;
    int capped;
    long nulls, nonnull;
    long type_counts[QUARRY_VALUE_JSON + 1];
    long numbers; /* values of a numeric type with a finite value */
    double num_min, num_max;
    char *num_min_text, *num_max_text; /* the values that gave num_min and num_max */
    char *min, *max;                   /* by byte order */
    long texts;
    double text_bytes;
};

struct profiler {
    struct catalog_table *table;
    struct accumulator *accs; /* one per catalog column */
    int *map;                 /* result column -> accumulator index, or -1 */
    size_t nmap;
    long rows;
    long max_rows;
    int64_t soft_deadline_ms; /* stop taking rows here; 0 none */
    int begun;
    int nomem;
};

/* SipHash through libsodium, with a fixed key: sketches stay comparable across runs. */
static uint64_t value_hash(const char *s, size_t len)
{
    static const unsigned char key[crypto_shorthash_KEYBYTES] = "quarry-profile!";
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)s, len, key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

/* ------------------------------------------------------------------------ */
/* Values as text                                                           */
/* ------------------------------------------------------------------------ */

/* Shortens `len` to at most PROFILE_VALUE_MAX bytes without splitting a UTF-8 sequence. */
static size_t truncated_length(const char *s, size_t len)
{
    size_t nul = strnlen(s, len);
    if (nul < len)
        len = nul; /* kept values are C strings */
    if (len <= PROFILE_VALUE_MAX)
        return len;
    len = PROFILE_VALUE_MAX;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return len;
}

/*
 * The text form of a non-null, non-blob value into `buf` (for numbers and
 * booleans) or as a pointer into the value; sets `*len`. NULL for a value
 * with no text (a blob, or a string type without bytes).
 */
static const char *value_text(const struct quarry_value *v, char *buf, size_t bufsize, size_t *len)
{
    int n;
    switch (v->type) {
    case QUARRY_VALUE_INT:
        n = snprintf(buf, bufsize, "%lld", (long long)v->i);
        break;
    case QUARRY_VALUE_DOUBLE:
        n = snprintf(buf, bufsize, "%.15g", v->d);
        break;
    case QUARRY_VALUE_BOOL:
        n = snprintf(buf, bufsize, "%s", v->i ? "true" : "false");
        break;
    case QUARRY_VALUE_BLOB:
        return NULL;
    default:
        if (!v->str)
            return NULL;
        *len = truncated_length(v->str, v->len);
        return v->str;
    }
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

/* The numeric reading of a value, when it has a numeric type and a finite value. */
static int value_number(const struct quarry_value *v, double *out)
{
    char tmp[64], *end;
    switch (v->type) {
    case QUARRY_VALUE_INT:
        *out = (double)v->i;
        return 1;
    case QUARRY_VALUE_DOUBLE:
        *out = v->d;
        return isfinite(v->d);
    case QUARRY_VALUE_DECIMAL:
        if (!v->str || v->len == 0 || v->len >= sizeof(tmp))
            return 0;
        memcpy(tmp, v->str, v->len);
        tmp[v->len] = '\0';
        *out = strtod(tmp, &end);
        return *end == '\0' && isfinite(*out);
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------------ */
/* The accumulator                                                          */
/* ------------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

/* Replaces `*slot` with a copy of s[0..len); -1 out of memory. */
static int replace_text(char **slot, const char *s, size_t len)
{
    char *copy = dup_n(s, len);
    if (!copy)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static int compare_text(const char *kept, const char *s, size_t len)
{
    size_t kept_len = strlen(kept);
    int c = memcmp(kept, s, kept_len < len ? kept_len : len);
    if (c)
        return c;
    return kept_len < len ? -1 : kept_len > len;
}

/* Keeps the KMV_K smallest distinct hashes, ascending. */
static void kmv_add(struct accumulator *a, uint64_t h)
{
    size_t lo = 0, hi = a->nkmv;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->kmv[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if ((lo < a->nkmv && a->kmv[lo] == h) || lo >= KMV_K)
        return;
    size_t keep = a->nkmv < KMV_K ? a->nkmv : KMV_K - 1;
    memmove(&a->kmv[lo + 1], &a->kmv[lo], (keep - lo) * sizeof(uint64_t));
    a->kmv[lo] = h;
    if (a->nkmv < KMV_K)
        a->nkmv++;
}

/* Counts the value in the set, adding it while there is room; -1 out of memory. */
static int set_add(struct accumulator *a, const char *s, size_t len, uint64_t h)
{
    if (!a->entries) {
        a->entries = calloc(PROFILE_MAX_DISTINCT, sizeof(*a->entries));
        a->slots = calloc(SET_SLOTS, sizeof(*a->slots));
        if (!a->entries || !a->slots)
            return -1;
    }
    size_t i = (size_t)h & (SET_SLOTS - 1);
    for (; a->slots[i]; i = (i + 1) & (SET_SLOTS - 1)) {
        struct entry *e = &a->entries[a->slots[i] - 1];
        if (compare_text(e->value, s, len) == 0) {
            e->count++;
            return 0;
        }
    }
    if (a->nentries >= PROFILE_MAX_DISTINCT) {
        a->capped = 1;
        return 0;
    }
    struct entry *e = &a->entries[a->nentries];
    if (!(e->value = dup_n(s, len)))
        return -1;
    e->count = 1;
    a->slots[i] = (uint16_t)++a->nentries;
    return 0;
}

static int track_number(struct accumulator *a, double x, const char *s, size_t len)
{
    int first = a->numbers++ == 0;
    if (first || x < a->num_min) {
        a->num_min = x;
        if (replace_text(&a->num_min_text, s, len) != 0)
            return -1;
    }
    if (first || x > a->num_max) {
        a->num_max = x;
        if (replace_text(&a->num_max_text, s, len) != 0)
            return -1;
    }
    return 0;
}

/* Byte-order min/max, used for columns that are not all numbers. */
static int track_text_bounds(struct accumulator *a, const char *s, size_t len)
{
    if ((!a->min || compare_text(a->min, s, len) > 0) && replace_text(&a->min, s, len) != 0)
        return -1;
    if ((!a->max || compare_text(a->max, s, len) < 0) && replace_text(&a->max, s, len) != 0)
        return -1;
    return 0;
}

static int accumulate(struct accumulator *a, const struct quarry_value *v)
{
    if (v->type == QUARRY_VALUE_NULL) {
        a->nulls++;
        return 0;
    }
    a->nonnull++;
    /* Unknown (newer) types read as text, as the ABI asks. */
    int type = v->type >= 0 && v->type <= QUARRY_VALUE_JSON ? v->type : QUARRY_VALUE_TEXT;
    a->type_counts[type]++;
    if (type == QUARRY_VALUE_BLOB)
        return 0; /* counted, never kept */
    char buf[64];
    size_t len = 0;
    const char *s = value_text(v, buf, sizeof(buf), &len);
    if (!s)
        return 0;
    if (v->str && type != QUARRY_VALUE_INT && type != QUARRY_VALUE_DOUBLE &&
        type != QUARRY_VALUE_BOOL) {
        a->texts++;
        a->text_bytes += (double)v->len;
    }
    uint64_t h = value_hash(s, len);
    kmv_add(a, h);
    if (set_add(a, s, len, h) != 0)
        return -1;
    double x;
    if (value_number(v, &x) && track_number(a, x, s, len) != 0)
        return -1;
    return track_text_bounds(a, s, len);
}

static void accumulator_clear(struct accumulator *a)
{
    for (size_t i = 0; a->entries && i < a->nentries; i++)
        free(a->entries[i].value);
    free(a->entries);
    free(a->slots);
    free(a->num_min_text);
    free(a->num_max_text);
    free(a->min);
    free(a->max);
    memset(a, 0, sizeof(*a));
}

/* ------------------------------------------------------------------------ */
/* From accumulator to profile                                              */
/* ------------------------------------------------------------------------ */

/* Distinct values of the sample: exact below the cap, from the KMV sketch above it. */
static double sample_distinct(const struct accumulator *a)
{
    if (!a->capped || a->nkmv < KMV_K)
        return (double)a->nentries;
    /* (k - 1) / the k-th smallest hash as a fraction of the hash space. */
    double kth = ((double)a->kmv[KMV_K - 1] + 1.0) / 18446744073709551616.0;
    double d = (KMV_K - 1) / kth;
    if (d < a->nentries)
        d = (double)a->nentries;
    return d > a->nonnull ? (double)a->nonnull : d;
}

/*
 * Distinct values in the whole table. A sample that covers the table (or a
 * table of unknown size) answers for itself. Otherwise: a column whose sample
 * is nearly all distinct (a key, a name) scales up linearly with the rows;
 * any other column uses the GEE estimator (Charikar et al., 2000),
 * sqrt(N/n) * f1 + (d - f1), where f1 is the number of values seen once. GEE
 * keeps a category's handful of values (f1 = 0 gives d) and is off by at most
 * a factor sqrt(N/n) either way. Past the set's cap the singleton count is
 * unknown, so its lower bound 2d - n stands in (n >= f1 + 2(d - f1)).
 */
static double estimate_distinct(const struct accumulator *a, long sampled, int64_t table_rows)
{
    double n = (double)a->nonnull, d = sample_distinct(a);
    if (n <= 0 || table_rows < 0 || table_rows <= sampled)
        return d;
    double big_n = (double)table_rows * (n / (double)sampled); /* non-null rows */
    if (d >= UNIQUE_RATIO * n)
        return fmax(d, fmin(big_n, d * big_n / n));
    double f1 = 0;
    if (a->capped) {
        f1 = fmax(0, 2 * d - n);
    } else {
        for (size_t i = 0; i < a->nentries; i++)
            f1 += a->entries[i].count == 1;
    }
    double gee = sqrt(big_n / n) * f1 + (d - f1);
    return fmax(d, fmin(big_n, gee));
}

static int by_count_desc(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->value, b->value);
}

static int by_text(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int dominant_type(const struct accumulator *a)
{
    int best = QUARRY_VALUE_NULL;
    long best_count = 0;
    for (int t = 1; t <= QUARRY_VALUE_JSON; t++)
        if (a->type_counts[t] > best_count) {
            best = t;
            best_count = a->type_counts[t];
        }
    return best;
}

/* Builds the profile and empties the accumulator (its strings move over); NULL out of memory. */
static struct column_profile *profile_take(struct accumulator *a, long sampled, int64_t table_rows)
{
    struct column_profile *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->sampled = sampled;
    p->nulls = sampled - a->nonnull; /* rows without the column count as null */
    p->distinct = (long)a->nentries;
    p->distinct_capped = a->capped;
    p->distinct_estimate = estimate_distinct(a, sampled, table_rows);
    p->value_type = dominant_type(a);
    long numeric_values = a->nonnull - a->type_counts[QUARRY_VALUE_BLOB];
    p->numeric = a->numbers > 0 && a->numbers == numeric_values;
    p->avg_length = a->texts ? a->text_bytes / (double)a->texts : 0;
    p->values = calloc(a->nentries ? a->nentries : 1, sizeof(char *));
    if (!p->values)
        goto fail;
    if (a->nentries) {
        qsort(a->entries, a->nentries, sizeof(*a->entries), by_count_desc);
        for (size_t i = 0; i < a->nentries && i < PROFILE_TOP_VALUES; i++) {
            if (!(p->top[i].value = strdup(a->entries[i].value)))
                goto fail;
            p->top[i].count = a->entries[i].count;
            p->ntop++;
        }
        for (size_t i = 0; i < a->nentries; i++) {
            p->values[i] = a->entries[i].value;
            a->entries[i].value = NULL;
        }
        qsort(p->values, a->nentries, sizeof(char *), by_text);
    }
    /* Numbers compare as numbers ("9" < "10"); anything else by bytes (ISO dates sort right). */
    char **min = p->numeric ? &a->num_min_text : &a->min;
    char **max = p->numeric ? &a->num_max_text : &a->max;
    if (p->numeric) {
        p->num_min = a->num_min;
        p->num_max = a->num_max;
    }
    p->min = *min;
    p->max = *max;
    *min = *max = NULL;
    accumulator_clear(a);
    return p;
fail:
    profile_free(p);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The sink                                                                 */
/* ------------------------------------------------------------------------ */

static struct catalog_column *column_named(struct catalog_table *t, const char *name)
{
    struct catalog_column *col = catalog_find_column(t, name);
    for (size_t i = 0; !col && i < t->ncolumns; i++)
        if (strcasecmp(t->columns[i].name, name) == 0)
            col = &t->columns[i];
    return col;
}

static int on_begin(void *userdata, const struct quarry_column *raw, size_t ncolumns)
{
    struct profiler *pr = userdata;
    if (pr->begun++)
        return QUARRY_SINK_CONTINUE; /* one result set only */
    pr->nmap = ncolumns < MAX_RESULT_COLUMNS ? ncolumns : MAX_RESULT_COLUMNS;
    pr->map = malloc((pr->nmap ? pr->nmap : 1) * sizeof(int));
    if (!pr->map) {
        pr->nomem = 1;
        return QUARRY_SINK_STOP;
    }
    /* The array is laid out at the writer's struct size, which may not be ours. */
    size_t stride = ncolumns && raw[0].struct_size >= 8 ? raw[0].struct_size : sizeof(*raw);
    for (size_t i = 0; i < pr->nmap; i++) {
        struct quarry_column c;
        host_copy_struct(&c, sizeof(c), (const char *)raw + i * stride);
        struct catalog_column *col = c.name ? column_named(pr->table, c.name) : NULL;
        int idx = col ? (int)(col - pr->table->columns) : -1;
        /* A catalog column takes the first result column of its name only. */
        if (idx >= 0 && pr->accs[idx].column)
            idx = -1;
        if (idx >= 0)
            pr->accs[idx].column = col;
        pr->map[i] = idx;
    }
    return QUARRY_SINK_CONTINUE;
}

static int on_row(void *userdata, const struct quarry_value *values, size_t nvalues)
{
    struct profiler *pr = userdata;
    if (!pr->map || pr->nomem)
        return QUARRY_SINK_STOP;
    size_t n = nvalues < pr->nmap ? nvalues : pr->nmap;
    for (size_t i = 0; i < n; i++)
        if (pr->map[i] >= 0 && accumulate(&pr->accs[pr->map[i]], &values[i]) != 0) {
            pr->nomem = 1;
            return QUARRY_SINK_STOP;
        }
    pr->rows++;
    if (pr->max_rows && pr->rows >= pr->max_rows)
        return QUARRY_SINK_STOP;
    /* Stop a little before the driver's deadline so the rows seen still count. */
    if (pr->soft_deadline_ms && host_now_ms() >= pr->soft_deadline_ms)
        return QUARRY_SINK_STOP;
    return QUARRY_SINK_CONTINUE;
}

static void on_end(void *userdata)
{
    (void)userdata;
}

/* ------------------------------------------------------------------------ */

static void drop_profiles(struct catalog_table *t)
{
    for (size_t i = 0; i < t->ncolumns; i++) {
        profile_free(t->columns[i].profile);
        t->columns[i].profile = NULL;
    }
    t->sampled_rows = 0;
}

static int attach_profiles(struct profiler *pr)
{
    struct catalog_table *t = pr->table;
    for (size_t i = 0; i < t->ncolumns; i++) {
        struct column_profile *p = NULL;
        /* A column the result lacks (a nested document field) is left without one. */
        if (pr->accs[i].column && !(p = profile_take(&pr->accs[i], pr->rows, t->row_estimate)))
            return -1;
        profile_free(t->columns[i].profile);
        t->columns[i].profile = p;
    }
    t->sampled_rows = (size_t)pr->rows;
    return 0;
}

int profile_table(const struct quarry_driver *driver, struct quarry_conn *conn,
                  struct catalog_table *table, uint32_t max_rows, int budget_ms,
                  struct quarry_error *err)
{
    const struct quarry_host *host = host_services();
    struct profiler pr = {.table = table, .max_rows = max_rows};
    struct quarry_error local;
    struct host_call call;
    struct quarry_row_sink sink;
    int status;

    if (!driver->sample)
        return host->error_set(err, QUARRY_ERR_UNSUPPORTED, "", 0,
                               "the %s driver cannot sample tables", driver->name);
    pr.accs = calloc(table->ncolumns ? table->ncolumns : 1, sizeof(*pr.accs));
    if (!pr.accs)
        return host->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory");
    host_call_init(&call, budget_ms, max_rows);
    if (budget_ms > 0)
        pr.soft_deadline_ms = host_now_ms() + budget_ms - budget_ms / 10;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = &pr;
    sink.begin = on_begin;
    sink.row = on_row;
    sink.end = on_end;
    host_error_init(&local);

    status = driver->sample(conn, &call.ctx, table->schema, table->name, max_rows, &sink, &local);
    /* Time running out is no failure once rows arrived: the profile covers those. */
    if (status == QUARRY_ERR_TIMEOUT && pr.rows > 0)
        status = QUARRY_OK;
    if (status == QUARRY_OK && pr.nomem)
        status = host->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory profiling %s",
                                 table->name);
    else if (status != QUARRY_OK)
        host->error_set(err, status, local.sqlstate, local.native_code, "%s", local.message);
    if (status == QUARRY_OK && attach_profiles(&pr) != 0)
        status = host->error_set(err, QUARRY_ERR_NOMEM, "", 0, "out of memory profiling %s",
                                 table->name);
    if (status != QUARRY_OK)
        drop_profiles(table);
    for (size_t i = 0; i < table->ncolumns; i++)
        accumulator_clear(&pr.accs[i]);
    free(pr.accs);
    free(pr.map);
    return status;
}

void profile_free(struct column_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->values && i < (size_t)p->distinct; i++)
        free(p->values[i]);
    free(p->values);
    for (size_t i = 0; i < p->ntop; i++)
        free(p->top[i].value);
    free(p->min);
    free(p->max);
    free(p);
}

int profile_has_value(const struct column_profile *p, const char *value)
{
    if (!p || !p->values || !value)
        return 0;
    /* Kept values are truncated: look up the same prefix. */
    size_t len = truncated_length(value, strlen(value));
    char *key = dup_n(value, len);
    if (!key)
        return 0;
    int found = bsearch(&key, p->values, (size_t)p->distinct, sizeof(char *), by_text) != NULL;
    free(key);
    return found;
}
