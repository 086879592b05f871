/* Linking question phrases to tables, columns and sampled values, with scores. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "semantic.h"
#include "t2s_internal.h"

#define MAX_SPAN 6 /* words of one phrase */
#define MAX_CANDIDATES 1024
#define VALUE_MAX_DISTINCT 1000 /* columns with more distinct values are not searched */

static int sem_is(const struct catalog_column *c, const char *type)
{
    return c->semantic_type && strcmp(c->semantic_type, type) == 0;
}

static int starts_with_words(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return n && strncmp(s, prefix, n) == 0 && s[n] == ' ';
}

static int ends_with_words(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return b && a > b && strcmp(s + a - b, suffix) == 0 && s[a - b - 1] == ' ';
}

static int key_like(const struct catalog_column *c, const char *words)
{
    return c->pk_position > 0 || sem_is(c, SEM_IDENTIFIER) || sem_is(c, SEM_FOREIGN_KEY) ||
           strcmp(words, "id") == 0 || ends_with_words(words, "id");
}

static double fit_words(const char *table_words, const char *col, const char *phrase)
{
    if (strcmp(phrase, col) == 0)
        return 1;
    if (starts_with_words(col, table_words) && strcmp(col + strlen(table_words) + 1, phrase) == 0)
        return 1;
    if (ends_with_words(col, phrase))
        return 0.75;
    if (starts_with_words(col, phrase))
        return 0.6;
    return 0;
}

double t2s_column_fit_(const struct catalog_table *t, const struct catalog_column *c,
                       const char *phrase)
{
    char col[T2S_PHRASE], tw[T2S_PHRASE];
    t2s_words_(c->name, 1, col);
    t2s_words_(t->name, 1, tw);
    double fit = fit_words(tw, col, phrase);
    const char *syn = t2s_synonym_(phrase);
    if (syn) {
        double s = 0.9 * fit_words(tw, col, syn);
        fit = s > fit ? s : fit;
    }
    if (fit > 0 && key_like(c, col) && !strstr(phrase, "id") && !strstr(phrase, "code") &&
        !strstr(phrase, "number"))
        fit *= 0.5; /* "customer" names the table, not Invoice.CustomerId */
    return fit;
}

/* ------------------------------------------------------------------------ */

struct span {
    size_t start, len;
    char stem[T2S_PHRASE]; /* stems joined */
    char text[T2S_PHRASE]; /* lower-case words joined */
    int capital;           /* a word of it was written with a capital, not first in the question */
};

/* A value as the question's tokens would spell it: lower case, punctuation as spaces. */
static void value_words(const char *v, char out[T2S_PHRASE])
{
    size_t n = 0;
    for (const char *p = v; *p && n + 2 < T2S_PHRASE; p++) {
        unsigned char c = (unsigned char)*p;
        int keep = isalnum(c) || c >= 0x80 || c == '_' || c == '&' || c == '/' ||
                   ((c == '-' || c == '.') && p > v && isalnum((unsigned char)p[-1]) &&
                    isalpha((unsigned char)p[1]));
        if (!keep) {
            if (n && out[n - 1] != ' ')
                out[n++] = ' ';
            continue;
        }
        out[n++] = (char)tolower(c);
    }
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static int by_text(const void *a, const void *b)
{
    return strcmp(((const struct span *)a)->text, ((const struct span *)b)->text);
}

struct cand {
    struct t2s_link link;
    double rank;
};

struct linker {
    const struct catalog *catalog;
    struct t2s_question *q;
    struct span *spans;
    size_t nspans;
    const struct span **plural; /* spans a plural made: stem and text differ; by stem */
    size_t nplural;
    struct cand *cands;
    size_t ncands;
    char (*table_words)[T2S_PHRASE];
};

static void add(struct linker *k, const struct t2s_link *l, double rank)
{
    if (k->ncands < MAX_CANDIDATES)
        k->cands[k->ncands++] = (struct cand){*l, rank};
}

static int is_view(const struct catalog_table *t)
{
    return t->kind == QUARRY_VIEW || t->kind == QUARRY_MATERIALIZED_VIEW;
}

static void link_tables(struct linker *k, const struct span *s)
{
    const char *syn = s->len == 1 ? t2s_synonym_(s->stem) : NULL;
    size_t best = (size_t)-1, nbest = 0;
    double best_score = 0;
    for (size_t i = 0; i < k->catalog->ntables; i++) {
        const char *tw = k->table_words[i];
        double score = strcmp(tw, s->stem) == 0 ? 1 : syn && strcmp(tw, syn) == 0 ? 0.85 : 0;
        if (score == 0 && s->len == 1 && ends_with_words(tw, s->stem) && !t2s_stopword_(s->stem))
            score = 0.6; /* "details" for "order details" */
        if (score == 0)
            continue;
        if (is_view(&k->catalog->tables[i]))
            score *= 0.8;
        if (score > best_score + 1e-9) {
            best_score = score;
            best = i;
            nbest = 1;
        } else if (score > best_score - 1e-9)
            nbest++;
    }
    if (best == (size_t)-1)
        return;
    struct t2s_link l = {.kind = T2S_LINK_TABLE,
                         .start = s->start,
                         .len = s->len,
                         .table = best,
                         .score = best_score,
                         .ambiguous = nbest > 1};
    snprintf(l.phrase, sizeof(l.phrase), "%s", s->stem);
    add(k, &l, best_score);
}

static void link_columns(struct linker *k, const struct span *s)
{
    const struct catalog *c = k->catalog;
    double best_score = 0;
    size_t best_t = 0;
    const struct catalog_column *best = NULL;
    if (s->len == 1 && t2s_stopword_(s->stem))
        return;
    for (size_t i = 0; i < c->ntables; i++)
        for (size_t j = 0; j < c->tables[i].ncolumns; j++) {
            double f = t2s_column_fit_(&c->tables[i], &c->tables[i].columns[j], s->stem);
            if (is_view(&c->tables[i]))
                f *= 0.9;
            if (f > best_score) {
                best_score = f;
                best = &c->tables[i].columns[j];
                best_t = i;
            }
        }
    if (!best || best_score < 0.3)
        return;
    struct t2s_link l = {.kind = T2S_LINK_COLUMN,
                         .start = s->start,
                         .len = s->len,
                         .table = best_t,
                         .column = best,
                         .score = best_score};
    snprintf(l.phrase, sizeof(l.phrase), "%s", s->stem);
    add(k, &l, best_score * 0.95);
}

/* Columns whose values a question may name. */
static int searchable(const struct catalog_column *c)
{
    const struct column_profile *p = c->profile;
    if (!p || p->numeric || sem_is(c, SEM_FREE_TEXT) || sem_is(c, SEM_EMAIL) ||
        sem_is(c, SEM_URL) || sem_is(c, SEM_PHONE) || sem_is(c, SEM_IDENTIFIER) ||
        sem_is(c, SEM_DATETIME) || sem_is(c, SEM_JSON) || sem_is(c, SEM_BINARY) ||
        sem_is(c, SEM_FOREIGN_KEY) || sem_is(c, SEM_NUMBER) || sem_is(c, SEM_CURRENCY))
        return 0;
    return 1;
}

/* bsearch: `words` against a span's text. */
static int words_vs_text(const void *words, const void *span)
{
    return strcmp(words, ((const struct span *)span)->text);
}

static const struct span *find_span(const struct linker *k, const char *words)
{
    return bsearch(words, k->spans, k->nspans, sizeof(*k->spans), words_vs_text);
}

static int by_stem_ref(const void *a, const void *b)
{
    const struct span *const *x = a, *const *y = b;
    return strcmp((*x)->stem, (*y)->stem);
}

/* bsearch: `words` against a span's stem. */
static int words_vs_stem(const void *words, const void *span_ref)
{
    return strcmp(words, (*(const struct span *const *)span_ref)->stem);
}

/* The span whose singular form spells `words` ("lawyers" for the value "Lawyer"), or NULL. */
static const struct span *find_singular(const struct linker *k, const char *words)
{
    if (k->nplural == 0)
        return NULL;
    const struct span *const *found =
        bsearch(words, k->plural, k->nplural, sizeof(*k->plural), words_vs_stem);
    return found ? *found : NULL;
}

static void try_value(struct linker *k, size_t t, const struct catalog_column *c, const char *v,
                      double weight)
{
    char w[T2S_PHRASE];
    if (!v || !*v)
        return;
    value_words(v, w);
    if (!w[0])
        return;
    const struct span *s = find_span(k, w);
    if (!s && (s = find_singular(k, w)))
        weight *= 0.95; /* a value named in the plural: a little less sure than its own spelling */
    if (!s)
        return;
    if (s->len == 1 && (t2s_stopword_(s->text) || strlen(s->text) < 2))
        return;
    double score = weight * (sem_is(c, SEM_CATEGORY) || sem_is(c, SEM_GEO) ? 1 : 0.9);
    if (s->capital)
        score += 0.1;
    struct t2s_link l = {.kind = T2S_LINK_VALUE,
                         .start = s->start,
                         .len = s->len,
                         .table = t,
                         .column = c,
                         .value = v,
                         .score = score > 1 ? 1 : score};
    snprintf(l.phrase, sizeof(l.phrase), "%s", s->text);
    add(k, &l, score * 0.92);
}

static void link_values(struct linker *k)
{
    const struct catalog *c = k->catalog;
    for (size_t i = 0; i < c->ntables; i++) {
        double weight = is_view(&c->tables[i]) ? 0.8 : 1;
        for (size_t j = 0; j < c->tables[i].ncolumns; j++) {
            const struct catalog_column *col = &c->tables[i].columns[j];
            if (!searchable(col))
                continue;
            const struct column_profile *p = col->profile;
            if (p->values && !p->distinct_capped && p->distinct <= VALUE_MAX_DISTINCT) {
                for (long v = 0; v < p->distinct; v++)
                    try_value(k, i, col, p->values[v], weight);
            } else {
                for (size_t v = 0; v < p->ntop; v++)
                    try_value(k, i, col, p->top[v].value, weight);
            }
        }
    }
}

/* Quoted text names a value even when no sample saw it. */
static void link_quoted(struct linker *k)
{
    for (size_t i = 0; i < k->q->n; i++) {
        if (k->q->tok[i].kind != T2S_TK_QUOTED || k->q->tok[i].used)
            continue;
        struct t2s_link l = {.kind = T2S_LINK_VALUE,
                             .start = i,
                             .len = 1,
                             .table = (size_t)-1,
                             .value = k->q->tok[i].orig,
                             .score = 0.8};
        snprintf(l.phrase, sizeof(l.phrase), "%s", k->q->tok[i].text);
        add(k, &l, 0.5);
    }
}

static int by_rank(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->link.len != y->link.len)
        return x->link.len > y->link.len ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank > y->rank ? -1 : 1;
    return x->link.start < y->link.start ? -1 : x->link.start > y->link.start;
}

static int by_start(const void *a, const void *b)
{
    const struct t2s_link *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static size_t make_spans(struct linker *k)
{
    struct t2s_question *q = k->q;
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++) {
        for (size_t len = 1; len <= MAX_SPAN && i + len <= q->n; len++) {
            const struct t2s_token *last = &q->tok[i + len - 1];
            if (last->used || last->kind == T2S_TK_QUOTED)
                break;
            struct span *s = &k->spans[n];
            if (len == 1) {
                memset(s, 0, sizeof(*s));
                snprintf(s->stem, sizeof(s->stem), "%s", last->stem);
                snprintf(s->text, sizeof(s->text), "%s", last->text);
            } else {
                *s = k->spans[n - 1];
                size_t a = strlen(s->stem), b = strlen(s->text);
                snprintf(s->stem + a, sizeof(s->stem) - a, " %s", last->stem);
                snprintf(s->text + b, sizeof(s->text) - b, " %s", last->text);
            }
            s->start = i;
            s->len = len;
            s->capital |= i + len - 1 > 0 && isupper((unsigned char)last->orig[0]);
            n++;
        }
    }
    return n;
}

void t2s_link_(const struct catalog *catalog, struct t2s_question *q, struct t2s_links *out)
{
    struct linker k = {.catalog = catalog, .q = q};
    out->n = 0;
    k.spans = calloc(q->n * MAX_SPAN + 1, sizeof(*k.spans));
    k.plural = calloc(q->n * MAX_SPAN + 1, sizeof(*k.plural));
    k.cands = calloc(MAX_CANDIDATES, sizeof(*k.cands));
    k.table_words = calloc(catalog->ntables + 1, sizeof(*k.table_words));
    if (!k.spans || !k.plural || !k.cands || !k.table_words)
        goto out;
    for (size_t i = 0; i < catalog->ntables; i++)
        t2s_words_(catalog->tables[i].name, 1, k.table_words[i]);
    k.nspans = make_spans(&k);
    for (size_t i = 0; i < k.nspans; i++) {
        link_tables(&k, &k.spans[i]);
        link_columns(&k, &k.spans[i]);
    }
    qsort(k.spans, k.nspans, sizeof(*k.spans), by_text);
    for (size_t i = 0; i < k.nspans; i++)
        if (strcmp(k.spans[i].stem, k.spans[i].text) != 0)
            k.plural[k.nplural++] = &k.spans[i];
    qsort(k.plural, k.nplural, sizeof(*k.plural), by_stem_ref);
    link_values(&k);
    link_quoted(&k);
    qsort(k.cands, k.ncands, sizeof(*k.cands), by_rank);
    for (size_t i = 0; i < k.ncands && out->n < T2S_MAX_LINKS; i++) {
        const struct t2s_link *l = &k.cands[i].link;
        int free_span = 1;
        for (size_t t = l->start; t < l->start + l->len; t++)
            free_span &= !q->tok[t].used;
        if (!free_span)
            continue;
        for (size_t t = l->start; t < l->start + l->len; t++)
            q->tok[t].used = 1;
        out->l[out->n++] = *l;
    }
    qsort(out->l, out->n, sizeof(*out->l), by_start);
out:
    free(k.spans);
    free(k.plural);
    free(k.cands);
    free(k.table_words);
}
