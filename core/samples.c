#include "samples.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "profile.h"
#include "sqlgen.h"

#define PHRASE_LEN 160
#define MIN_JOIN_CONFIDENCE 0.6 /* inferred joins weaker than this are not sampled */
#define CATEGORY_MAX_DISTINCT 50
#define MAX_EDGES 4096 /* join edges looked at */

/* ------------------------------------------------------------------------ */
/* Words                                                                    */
/* ------------------------------------------------------------------------ */

/* "InvoiceLine" / "invoice_line" / "Order Details" -> "invoice line", "order details". */
static void words_of(const char *name, char out[PHRASE_LEN])
{
    size_t n = 0;
    for (const char *p = name; *p && n + 2 < PHRASE_LEN; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isalnum(c) && c < 0x80) {
            if (n && out[n - 1] != ' ')
                out[n++] = ' ';
            continue;
        }
        int camel = p > name && isupper(c) &&
                    (islower((unsigned char)p[-1]) || isdigit((unsigned char)p[-1]) ||
                     (isupper((unsigned char)p[-1]) && islower((unsigned char)p[1])));
        if (camel && n && out[n - 1] != ' ')
            out[n++] = ' ';
        out[n++] = (char)tolower(c);
    }
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int looks_plural(const char *w)
{
    return ends_with(w, "s") && !ends_with(w, "ss") && !ends_with(w, "us") && !ends_with(w, "is");
}

/* The phrase with its last word made plural (or singular). */
static void number_phrase(const char *name, int plural, char out[PHRASE_LEN])
{
    words_of(name, out);
    size_t n = strlen(out);
    if (n == 0 || n + 3 >= PHRASE_LEN || !isalpha((unsigned char)out[n - 1]))
        return;
    if (plural && !looks_plural(out)) {
        if (out[n - 1] == 'y' && n > 1 && !strchr("aeiou", out[n - 2]))
            strcpy(out + n - 1, "ies");
        else if (ends_with(out, "s") || ends_with(out, "x") || ends_with(out, "ch") ||
                 ends_with(out, "sh"))
            strcat(out, "es");
        else
            strcat(out, "s");
    } else if (!plural && looks_plural(out)) {
        if (ends_with(out, "ies"))
            strcpy(out + n - 3, "y");
        else if (ends_with(out, "ches") || ends_with(out, "shes") || ends_with(out, "xes") ||
                 ends_with(out, "sses"))
            out[n - 2] = '\0';
        else
            out[n - 1] = '\0';
    }
}

/* An output name from a column name: MongoDB wants no dots in it. */
static void output_name(const char *prefix, const char *name, char out[PHRASE_LEN])
{
    snprintf(out, PHRASE_LEN, "%s%s", prefix, name);
    for (char *p = out; *p; p++)
        if (*p == '.' || *p == '$')
            *p = '_';
}

/* ------------------------------------------------------------------------ */
/* Columns                                                                  */
/* ------------------------------------------------------------------------ */

enum family { FAM_OTHER, FAM_NUMBER, FAM_TEXT, FAM_TIME, FAM_BINARY, FAM_BOOL };

static int contains_ci(const char *s, const char *word)
{
    return s && strcasestr(s, word) != NULL;
}

static int family(const struct catalog_column *c)
{
    const char *t = c->type;
    if (contains_ci(t, "date") || contains_ci(t, "time"))
        return FAM_TIME;
    if (contains_ci(t, "bool"))
        return FAM_BOOL;
    if (contains_ci(t, "blob") || contains_ci(t, "binary") || contains_ci(t, "bytea"))
        return FAM_BINARY;
    if (contains_ci(t, "char") || contains_ci(t, "text") || contains_ci(t, "string") ||
        contains_ci(t, "clob"))
        return FAM_TEXT;
    if (contains_ci(t, "int") || contains_ci(t, "num") || contains_ci(t, "dec") ||
        contains_ci(t, "real") || contains_ci(t, "double") || contains_ci(t, "float") ||
        contains_ci(t, "money"))
        return FAM_NUMBER;
    return FAM_OTHER;
}

static int sem_is(const struct catalog_column *c, const char *type)
{
    return c->semantic_type && strcmp(c->semantic_type, type) == 0;
}

static int in_fk(const struct catalog_table *t, const char *column)
{
    for (size_t i = 0; i < t->nfks; i++)
        for (size_t j = 0; j < t->fks[i].ncolumns; j++)
            if (t->fks[i].columns[j] && strcmp(t->fks[i].columns[j], column) == 0)
                return 1;
    return 0;
}

/* Keys and references: not something to sum, list or group by. */
static int is_key(const struct catalog_table *t, const struct catalog_column *c)
{
    char words[PHRASE_LEN];
    words_of(c->name, words);
    return c->pk_position > 0 || in_fk(t, c->name) || sem_is(c, "identifier") ||
           sem_is(c, "foreign_key") || strcmp(words, "id") == 0 || ends_with(words, " id") ||
           ends_with(c->name, "_id") || ends_with(c->name, "Id") || ends_with(c->name, "ID");
}

static int numeric(const struct catalog_column *c)
{
    return family(c) == FAM_NUMBER || (c->profile && c->profile->numeric);
}

/* How good a column is to sum: 0 not at all, 3 money, 2 prices and quantities, 1 numbers. */
static int measure_score(const struct catalog_table *t, const struct catalog_column *c)
{
    static const char *const money[] = {"total",   "amount",  "cost",   "revenue", "sales",
                                        "freight", "balance", "salary", "payment", NULL};
    static const char *const rates[] = {"price", "quantity", "qty", "units", NULL};
    static const char *const never[] = {"year",   "zip",      "postal",    "phone", "code",
                                        "number", "latitude", "longitude", NULL};
    if (is_key(t, c) || !numeric(c) || family(c) == FAM_BOOL || family(c) == FAM_TIME)
        return 0;
    for (const char *const *w = never; *w; w++)
        if (contains_ci(c->name, *w))
            return 0;
    if (c->semantic_type && !sem_is(c, "number") && !sem_is(c, "currency"))
        return 0;
    for (const char *const *w = rates; *w; w++)
        if (contains_ci(c->name, *w))
            return 2; /* summed, a price means little; still a measure */
    if (sem_is(c, "currency"))
        return 3;
    for (const char *const *w = money; *w; w++)
        if (contains_ci(c->name, *w))
            return 3;
    return 1;
}

static const struct catalog_column *best_measure(const struct catalog_table *t, int *score)
{
    const struct catalog_column *best = NULL;
    *score = 0;
    for (size_t i = 0; i < t->ncolumns; i++) {
        int s = measure_score(t, &t->columns[i]);
        if (s > *score) {
            *score = s;
            best = &t->columns[i];
        }
    }
    return best;
}

/* The column that names a row: Name, Title, ...Name, a person's name, else some text. */
static const struct catalog_column *label_column(const struct catalog_table *t)
{
    const struct catalog_column *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < t->ncolumns; i++) {
        const struct catalog_column *c = &t->columns[i];
        char words[PHRASE_LEN];
        words_of(c->name, words);
        int text = family(c) == FAM_TEXT || (family(c) == FAM_OTHER && c->profile &&
                                             c->profile->value_type == QUARRY_VALUE_TEXT);
        int score = 0;
        if (is_key(t, c) || family(c) == FAM_BINARY)
            continue;
        if (strcmp(words, "name") == 0)
            score = 4;
        else if (strcmp(words, "title") == 0 || ends_with(words, "name"))
            score = 3;
        else if (sem_is(c, "person_name"))
            score = 3;
        else if (text && (!c->semantic_type || sem_is(c, "text") || sem_is(c, "category")))
            score = 1;
        if (score > best_score) {
            best_score = score;
            best = c;
        }
    }
    return best;
}

/*
 * How good a column is to group by: few values, each repeated, its most
 * frequent ones profiled; categories and places first, then columns with
 * fewer nulls and fewer values. 0: not a category.
 */
static double category_score(const struct catalog_table *t, const struct catalog_column *c)
{
    const struct column_profile *p = c->profile;
    if (!p || p->ntop == 0 || p->distinct < 2 || p->distinct > CATEGORY_MAX_DISTINCT ||
        p->distinct_capped || is_key(t, c) || family(c) == FAM_BINARY || family(c) == FAM_BOOL)
        return 0;
    long nonnull = p->sampled - p->nulls;
    if (nonnull <= 0 || p->distinct * 2 > nonnull || p->nulls * 2 > p->sampled)
        return 0; /* hardly repeats, or mostly missing */
    double base;
    if (sem_is(c, "category") || sem_is(c, "geo"))
        base = 2;
    else if ((!c->semantic_type || sem_is(c, "text")) && !p->numeric && p->avg_length <= 40 &&
             (family(c) == FAM_TEXT || p->value_type == QUARRY_VALUE_TEXT))
        base = 1;
    else
        return 0;
    return base + 0.5 * (double)nonnull / (double)p->sampled +
           0.25 * (1.0 - (double)p->distinct / CATEGORY_MAX_DISTINCT);
}

static const struct catalog_column *category_column(const struct catalog_table *t)
{
    const struct catalog_column *best = NULL;
    double best_score = 0;
    for (size_t i = 0; i < t->ncolumns; i++) {
        double s = category_score(t, &t->columns[i]);
        if (s > best_score) {
            best_score = s;
            best = &t->columns[i];
        }
    }
    return best;
}

/* The year of a profiled date or timestamp ("2013-..."), or -1. */
static int profile_year(const char *text)
{
    if (!text || strlen(text) < 10 || text[4] != '-' || text[7] != '-')
        return -1;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)text[i]))
            return -1;
    return atoi(text);
}

static const struct catalog_column *datetime_column(const struct catalog_table *t)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->ncolumns; i++) {
            const struct catalog_column *c = &t->columns[i];
            int wanted = pass == 0 ? sem_is(c, "datetime") : family(c) == FAM_TIME;
            if (wanted && c->profile && profile_year(c->profile->max) > 0 &&
                profile_year(c->profile->min) > 0 && !is_key(t, c))
                return c;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Joins from the graph                                                     */
/* ------------------------------------------------------------------------ */

struct edge {
    const struct catalog_table *from, *to;
    const char *from_columns[SQLGEN_MAX_JOIN_COLUMNS];
    const char *to_columns[SQLGEN_MAX_JOIN_COLUMNS];
    size_t ncolumns;
};

struct gen {
    const struct catalog *catalog;
    char **labels; /* per table */
    struct edge *edges;
    size_t nedges;
    json_t *out;
    int nomem;
};

static const struct catalog_table *table_by_label(const struct gen *g, const char *label)
{
    for (size_t i = 0; label && i < g->catalog->ntables; i++)
        if (strcmp(g->labels[i], label) == 0)
            return &g->catalog->tables[i];
    return NULL;
}

static const char *label_of(const struct gen *g, const struct catalog_table *t)
{
    return g->labels[t - g->catalog->tables];
}

static int edge_columns(const json_t *list, const char **out)
{
    size_t i, n = json_array_size(list);
    json_t *v;
    if (n == 0 || n > SQLGEN_MAX_JOIN_COLUMNS)
        return 0;
    json_array_foreach(list, i, v)
    {
        if (!(out[i] = json_string_value(v)))
            return 0;
    }
    return (int)n;
}

/* Declared and confident inferred joins between two different tables, in graph order. */
static int collect_edges(struct gen *g, const json_t *graph)
{
    const json_t *edges = json_object_get(graph, "edges");
    size_t i;
    json_t *e;
    g->edges = calloc(json_array_size(edges) + 1, sizeof(*g->edges));
    if (!g->edges)
        return -1;
    json_array_foreach(edges, i, e)
    {
        const char *type = json_string_value(json_object_get(e, "type"));
        double confidence = json_number_value(json_object_get(e, "confidence"));
        if (!type || g->nedges == MAX_EDGES ||
            !(strcmp(type, "foreign_key") == 0 ||
              (strcmp(type, "inferred_join") == 0 && confidence >= MIN_JOIN_CONFIDENCE)))
            continue;
        struct edge *out = &g->edges[g->nedges];
        out->from = table_by_label(g, json_string_value(json_object_get(e, "from_table")));
        out->to = table_by_label(g, json_string_value(json_object_get(e, "to_table")));
        int n = edge_columns(json_object_get(e, "from_columns"), out->from_columns);
        if (!out->from || !out->to || out->from == out->to || n == 0 ||
            edge_columns(json_object_get(e, "to_columns"), out->to_columns) != n)
            continue;
        out->ncolumns = (size_t)n;
        g->nedges++;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Candidates                                                               */
/* ------------------------------------------------------------------------ */

/* Renders `q` (freed here) and adds it with its question; skipped when the dialect refuses it. */
static void add(struct gen *g, const char *kind, struct sqlgen_query *q, const char *question,
                const struct catalog_table *t1, const struct catalog_table *t2)
{
    struct quarry_error err;
    host_error_init(&err);
    char *statement = sqlgen_render(q, g->catalog, &err);
    sqlgen_free(q);
    if (!statement) {
        g->nomem |= err.status == QUARRY_ERR_NOMEM;
        return;
    }
    size_t i;
    json_t *s;
    json_array_foreach(g->out, i, s)
    {
        const char *other = json_string_value(json_object_get(s, "sql"))
                                ?: json_string_value(json_object_get(s, "pipeline"));
        if (other && strcmp(other, statement) == 0) {
            free(statement);
            return;
        }
    }
    json_t *tables = json_pack("[s]", label_of(g, t1));
    if (tables && t2 && t2 != t1)
        json_array_append_new(tables, json_string(label_of(g, t2)));
    json_t *sample = json_pack("{s:s, s:s, s:s, s:o}", "question", question,
                               sqlgen_is_mongodb(g->catalog) ? "pipeline" : "sql", statement,
                               "kind", kind, "tables", tables);
    free(statement);
    if (!sample || json_array_size(g->out) >= SAMPLES_MAX ||
        json_array_append_new(g->out, sample) < 0) {
        g->nomem |= !sample;
        json_decref(sample);
    }
}

static struct sqlgen_query *from(const struct catalog_table *t, const char *alias)
{
    return sqlgen_new(t->schema, t->name, alias);
}

static struct sqlgen_query *joined(const struct edge *e)
{
    struct sqlgen_query *q = from(e->from, "f");
    sqlgen_join(q, SQLGEN_JOIN_INNER, e->to->schema, e->to->name, "d", "f", e->ncolumns,
                e->from_columns, e->to_columns);
    return q;
}

static void count_rows(struct gen *g, const struct catalog_table *t)
{
    char what[PHRASE_LEN], question[512];
    number_phrase(t->name, 1, what);
    snprintf(question, sizeof(question), "How many %s are there?", what);
    struct sqlgen_query *q = from(t, NULL);
    sqlgen_select(q, &(struct sqlgen_term){NULL, NULL, SQLGEN_COUNT, 0}, "count");
    add(g, "count", q, question, t, NULL);
}

static void top_n(struct gen *g, const struct edge *e, const struct catalog_column *measure)
{
    const struct catalog_column *label = label_column(e->to);
    char who[PHRASE_LEN], what[PHRASE_LEN], question[512], name[PHRASE_LEN];
    number_phrase(e->to->name, 1, who);
    words_of(measure->name, what);
    snprintf(question, sizeof(question), "Which 5 %s have the highest %s%s?", who,
             strncmp(what, "total", 5) == 0 ? "" : "total ", what);
    struct sqlgen_query *q = joined(e);
    output_name("", label->name, name);
    sqlgen_select(q, &(struct sqlgen_term){"d", label->name, 0, 0}, name);
    output_name("total_", measure->name, name);
    sqlgen_select(q, &(struct sqlgen_term){"f", measure->name, SQLGEN_SUM, 0}, name);
    for (size_t i = 0; i < e->ncolumns; i++)
        sqlgen_group_by(q, &(struct sqlgen_term){"d", e->to_columns[i], 0, 0});
    sqlgen_group_by(q, &(struct sqlgen_term){"d", label->name, 0, 0});
    sqlgen_order_by_output(q, name, 1);
    sqlgen_limit(q, 5);
    add(g, "top_n", q, question, e->from, e->to);
}

static void join_group_count(struct gen *g, const struct edge *e)
{
    const struct catalog_column *label = label_column(e->to);
    char rows[PHRASE_LEN], each[PHRASE_LEN], question[512], name[PHRASE_LEN];
    number_phrase(e->from->name, 1, rows);
    number_phrase(e->to->name, 0, each);
    snprintf(question, sizeof(question), "How many %s does each %s have?", rows, each);
    struct sqlgen_query *q = joined(e);
    output_name("", label->name, name);
    sqlgen_select(q, &(struct sqlgen_term){"d", label->name, 0, 0}, name);
    sqlgen_select(q, &(struct sqlgen_term){NULL, NULL, SQLGEN_COUNT, 0}, "count");
    for (size_t i = 0; i < e->ncolumns; i++)
        sqlgen_group_by(q, &(struct sqlgen_term){"d", e->to_columns[i], 0, 0});
    sqlgen_group_by(q, &(struct sqlgen_term){"d", label->name, 0, 0});
    sqlgen_order_by_output(q, "count", 1);
    sqlgen_limit(q, 10);
    add(g, "join_group_count", q, question, e->from, e->to);
}

/* Up to `max` columns worth showing: the label first, then other plain columns. */
static size_t listed_columns(const struct catalog_table *t, const struct catalog_column **out,
                             size_t max)
{
    size_t n = 0;
    const struct catalog_column *label = label_column(t);
    if (label)
        out[n++] = label;
    for (size_t i = 0; i < t->ncolumns && n < max; i++) {
        const struct catalog_column *c = &t->columns[i];
        if (c != label && !is_key(t, c) && family(c) != FAM_BINARY && !c->is_array &&
            !sem_is(c, "free_text") && !sem_is(c, "json") && !sem_is(c, "binary"))
            out[n++] = c;
    }
    return n;
}

static void join_list(struct gen *g, const struct edge *e)
{
    const struct catalog_column *label = label_column(e->to), *cols[2];
    size_t ncols = listed_columns(e->from, cols, 2);
    char rows[PHRASE_LEN], other[PHRASE_LEN], what[PHRASE_LEN], question[512];
    char name[PHRASE_LEN];
    number_phrase(e->from->name, 1, rows);
    number_phrase(e->to->name, 0, other);
    words_of(label->name, what);
    snprintf(question, sizeof(question), "List %s with the %s of their %s.", rows, what, other);
    struct sqlgen_query *q = joined(e);
    for (size_t i = 0; i < ncols; i++) {
        output_name("", cols[i]->name, name);
        sqlgen_select(q, &(struct sqlgen_term){"f", cols[i]->name, 0, 0}, name);
    }
    char prefix[PHRASE_LEN];
    output_name("", e->to->name, prefix);
    strncat(prefix, "_", sizeof(prefix) - strlen(prefix) - 1);
    output_name(prefix, label->name, name);
    sqlgen_select(q, &(struct sqlgen_term){"d", label->name, 0, 0}, name);
    sqlgen_limit(q, 10);
    add(g, "join_list", q, question, e->from, e->to);
}

static void group_count(struct gen *g, const struct catalog_table *t,
                        const struct catalog_column *c)
{
    char rows[PHRASE_LEN], per[PHRASE_LEN], question[512], name[PHRASE_LEN];
    number_phrase(t->name, 1, rows);
    words_of(c->name, per);
    snprintf(question, sizeof(question), "How many %s are there per %s?", rows, per);
    struct sqlgen_query *q = from(t, NULL);
    output_name("", c->name, name);
    sqlgen_select(q, &(struct sqlgen_term){NULL, c->name, 0, 0}, name);
    sqlgen_select(q, &(struct sqlgen_term){NULL, NULL, SQLGEN_COUNT, 0}, "count");
    sqlgen_group_by(q, &(struct sqlgen_term){NULL, c->name, 0, 0});
    sqlgen_order_by_output(q, "count", 1);
    sqlgen_limit(q, 10);
    add(g, "group_count", q, question, t, NULL);
}

static void date_range(struct gen *g, const struct catalog_table *t, const struct catalog_column *c)
{
    int year = profile_year(c->profile->max);
    char rows[PHRASE_LEN], what[PHRASE_LEN], question[512], lo[24], hi[24];
    number_phrase(t->name, 1, rows);
    words_of(c->name, what);
    snprintf(lo, sizeof(lo), "%04d-01-01", year);
    snprintf(hi, sizeof(hi), "%04d-01-01", year + 1);
    snprintf(question, sizeof(question), "How many %s have %s %s in %d?", rows,
             strchr("aeiou", what[0]) ? "an" : "a", what, year);
    struct sqlgen_query *q = from(t, NULL);
    sqlgen_select(q, &(struct sqlgen_term){NULL, NULL, SQLGEN_COUNT, 0}, "count");
    sqlgen_where(q, &(struct sqlgen_term){NULL, c->name, 0, 0}, SQLGEN_GE,
                 &(struct sqlgen_value){SQLGEN_DATE, lo}, 1);
    sqlgen_where(q, &(struct sqlgen_term){NULL, c->name, 0, 0}, SQLGEN_LT,
                 &(struct sqlgen_value){SQLGEN_DATE, hi}, 1);
    add(g, "date_range", q, question, t, NULL);
}

static void group_by_year(struct gen *g, const struct catalog_table *t,
                          const struct catalog_column *c)
{
    char rows[PHRASE_LEN], what[PHRASE_LEN], question[512];
    number_phrase(t->name, 1, rows);
    words_of(c->name, what);
    snprintf(question, sizeof(question), "How many %s were there each year, by %s?", rows, what);
    struct sqlgen_query *q = from(t, NULL);
    sqlgen_select(q, &(struct sqlgen_term){NULL, c->name, 0, SQLGEN_YEAR}, "year");
    sqlgen_select(q, &(struct sqlgen_term){NULL, NULL, SQLGEN_COUNT, 0}, "count");
    sqlgen_group_by(q, &(struct sqlgen_term){NULL, c->name, 0, SQLGEN_YEAR});
    sqlgen_order_by_output(q, "year", 0);
    sqlgen_limit(q, 20);
    add(g, "group_by_year", q, question, t, NULL);
}

static void category_filter(struct gen *g, const struct catalog_table *t,
                            const struct catalog_column *c)
{
    const char *value = c->profile->top[0].value;
    const struct catalog_column *cols[3];
    size_t ncols = listed_columns(t, cols, 3);
    char rows[PHRASE_LEN], what[PHRASE_LEN], question[512], name[PHRASE_LEN];
    number_phrase(t->name, 1, rows);
    words_of(c->name, what);
    snprintf(question, sizeof(question), "Which %s have %s '%.100s'?", rows, what, value);
    struct sqlgen_query *q = from(t, NULL);
    for (size_t i = 0; i < ncols; i++) {
        output_name("", cols[i]->name, name);
        sqlgen_select(q, &(struct sqlgen_term){NULL, cols[i]->name, 0, 0}, name);
    }
    int type = c->profile->numeric ? SQLGEN_NUMBER : SQLGEN_TEXT;
    sqlgen_where(q, &(struct sqlgen_term){NULL, c->name, 0, 0}, SQLGEN_EQ,
                 &(struct sqlgen_value){type, value}, 1);
    sqlgen_limit(q, 10);
    add(g, "category_filter", q, question, t, NULL);
}

static void average(struct gen *g, const struct catalog_table *t, const struct catalog_column *c)
{
    char rows[PHRASE_LEN], what[PHRASE_LEN], question[512], name[PHRASE_LEN];
    number_phrase(t->name, 1, rows);
    words_of(c->name, what);
    snprintf(question, sizeof(question), "What is the average %s of %s?", what, rows);
    struct sqlgen_query *q = from(t, NULL);
    output_name("average_", c->name, name);
    sqlgen_select(q, &(struct sqlgen_term){NULL, c->name, SQLGEN_AVG, 0}, name);
    add(g, "average", q, question, t, NULL);
}

/* ------------------------------------------------------------------------ */
/* Choosing what to ask about                                               */
/* ------------------------------------------------------------------------ */

static int64_t rows_of(const struct catalog_table *t)
{
    return t->row_estimate >= 0 ? t->row_estimate : (int64_t)t->sampled_rows;
}

/* Known to hold no rows: estimated so, or profiled and found empty. */
static int is_empty(const struct catalog_table *t)
{
    if (t->row_estimate == 0)
        return 1;
    return t->row_estimate < 0 && t->ncolumns > 0 && t->columns[0].profile &&
           t->columns[0].profile->sampled == 0;
}

static int is_fact(const struct catalog_table *t)
{
    return t->role && strcmp(t->role, "fact") == 0;
}

static int is_role(const struct catalog_table *t, const char *role)
{
    return t->role && strcmp(t->role, role) == 0;
}

/* Nothing but keys: a junction table, whatever analysis said. */
static int only_keys(const struct catalog_table *t)
{
    for (size_t i = 0; i < t->ncolumns; i++)
        if (!is_key(t, &t->columns[i]))
            return 0;
    return 1;
}

/* How central a table is to questions: facts first, then what looks like one. */
static int table_score(const struct catalog_table *t)
{
    int measure;
    if (is_role(t, "junction") || only_keys(t))
        return -1000;
    int score = t->kind == QUARRY_VIEW || t->kind == QUARRY_MATERIALIZED_VIEW ? -500 : 0;
    if (is_empty(t))
        score -= 800; /* nothing to ask about */
    if (is_fact(t))
        return score + 400;
    score += is_role(t, "dimension") ? 100 : 0;
    if (!t->role) {
        int dated = 0;
        for (size_t i = 0; i < t->ncolumns; i++)
            dated |= family(&t->columns[i]) == FAM_TIME || sem_is(&t->columns[i], "datetime");
        score += (t->nfks > 0 ? 50 : 0) + (best_measure(t, &measure) ? 100 : 0) + (dated ? 50 : 0);
    }
    return score;
}

struct ranked {
    const struct catalog_table *table;
    int score;
    size_t index;
};

static int by_rank(const void *x, const void *y)
{
    const struct ranked *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (rows_of(a->table) != rows_of(b->table))
        return rows_of(a->table) > rows_of(b->table) ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* The tables, most central first (the first is the main table); caller frees. */
static struct ranked *rank_tables(const struct catalog *c)
{
    struct ranked *r = calloc(c->ntables ? c->ntables : 1, sizeof(*r));
    for (size_t i = 0; r && i < c->ntables; i++)
        r[i] = (struct ranked){&c->tables[i], table_score(&c->tables[i]), i};
    if (r)
        qsort(r, c->ntables, sizeof(*r), by_rank);
    return r;
}

/* The join to sum a measure over: a fact's best measure, towards a labelled table. */
static const struct edge *top_n_edge(const struct gen *g, const struct catalog_column **measure)
{
    const struct edge *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < g->nedges; i++) {
        const struct edge *e = &g->edges[i];
        int score;
        const struct catalog_column *m = best_measure(e->from, &score);
        if (!m || !label_column(e->to) || is_empty(e->from))
            continue;
        score += is_fact(e->from) ? 4 : 0;
        if (score > best_score) {
            best_score = score;
            best = e;
            *measure = m;
        }
    }
    return best;
}

static int same_pair(const struct edge *a, const struct edge *b)
{
    return a && b && a->from == b->from && a->to == b->to;
}

/* The first labelled join not `avoid1` or `avoid2`, whose source has something to list. */
static const struct edge *other_edge(const struct gen *g, const struct edge *avoid1,
                                     const struct edge *avoid2, int need_listing)
{
    for (size_t i = 0; i < g->nedges; i++) {
        const struct edge *e = &g->edges[i];
        const struct catalog_column *cols[1];
        if (same_pair(e, avoid1) || same_pair(e, avoid2) || !label_column(e->to) ||
            is_empty(e->from))
            continue;
        if (need_listing && listed_columns(e->from, cols, 1) == 0)
            continue;
        return e;
    }
    return NULL;
}

static void generate(struct gen *g)
{
    const struct catalog *c = g->catalog;
    struct ranked *ranked = rank_tables(c);
    if (!ranked) {
        g->nomem = 1;
        return;
    }
    if (c->ntables == 0)
        goto out;
    count_rows(g, ranked[0].table);

    const struct catalog_column *measure = NULL;
    const struct edge *top = top_n_edge(g, &measure);
    if (top)
        top_n(g, top, measure);

    /* Categories of the two most central tables that have one. */
    const struct catalog_table *category_table = NULL;
    for (size_t i = 0, done = 0; i < c->ntables && done < 2; i++) {
        const struct catalog_column *cat = category_column(ranked[i].table);
        if (!cat)
            continue;
        group_count(g, ranked[i].table, cat);
        if (!category_table)
            category_table = ranked[i].table;
        done++;
    }

    const struct edge *grouped = other_edge(g, top, NULL, 0);
    if (grouped)
        join_group_count(g, grouped);
    const struct edge *listed = other_edge(g, top, grouped, 1);
    if (listed)
        join_list(g, listed);

    for (size_t i = 0; i < c->ntables; i++) {
        const struct catalog_column *dt = datetime_column(ranked[i].table);
        if (dt) {
            date_range(g, ranked[i].table, dt);
            group_by_year(g, ranked[i].table, dt);
            break;
        }
    }

    if (category_table)
        category_filter(g, category_table, category_column(category_table));

    int score;
    for (size_t i = 0; i < c->ntables; i++) {
        const struct catalog_column *m = best_measure(ranked[i].table, &score);
        if (m) {
            average(g, ranked[i].table, m);
            break;
        }
    }
out:
    free(ranked);
}

json_t *samples_candidates(const struct catalog *catalog, const json_t *graph)
{
    struct gen g = {.catalog = catalog};
    json_t *result = NULL;
    g.labels = calloc(catalog->ntables ? catalog->ntables : 1, sizeof(char *));
    g.out = json_array();
    if (!g.labels || !g.out)
        goto out;
    for (size_t i = 0; i < catalog->ntables; i++)
        if (!(g.labels[i] = catalog_table_label(&catalog->tables[i])))
            goto out;
    if (collect_edges(&g, graph) < 0)
        goto out;
    generate(&g);
    if (!g.nomem)
        result = json_incref(g.out);
out:
    for (size_t i = 0; g.labels && i < catalog->ntables; i++)
        free(g.labels[i]);
    free(g.labels);
    free(g.edges);
    json_decref(g.out);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */
/* ------------------------------------------------------------------------ */

struct counter {
    long rows;
};

static int count_begin(void *userdata, const struct quarry_column *columns, size_t ncolumns)
{
    (void)userdata;
    (void)columns;
    (void)ncolumns;
    return QUARRY_SINK_CONTINUE;
}

static int count_row(void *userdata, const struct quarry_value *values, size_t nvalues)
{
    struct counter *c = userdata;
    (void)values;
    (void)nvalues;
    return ++c->rows >= SAMPLES_ROW_LIMIT ? QUARRY_SINK_STOP : QUARRY_SINK_CONTINUE;
}

static void count_end(void *userdata)
{
    (void)userdata;
}

/* Runs one statement; its row count, or -1 when it failed. */
static long run(const struct quarry_driver *driver, struct quarry_conn *conn, const char *statement,
                int32_t timeout_ms)
{
    struct counter counter = {0};
    struct quarry_row_sink sink;
    struct host_call call;
    struct quarry_error err;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = &counter;
    sink.begin = count_begin;
    sink.row = count_row;
    sink.end = count_end;
    host_call_init(&call, timeout_ms, SAMPLES_ROW_LIMIT);
    host_error_init(&err);
    int status = driver->execute(conn, &call.ctx, statement, &sink, &err);
    return status == QUARRY_OK ? counter.rows : -1;
}

json_t *samples_generate(const struct catalog *catalog, const json_t *graph,
                         const struct quarry_driver *driver, struct quarry_conn *conn,
                         int budget_ms)
{
    json_t *candidates = samples_candidates(catalog, graph);
    json_t *verified = json_array();
    if (!candidates || !verified || !driver || !driver->execute) {
        json_decref(candidates);
        if (!driver || !driver->execute)
            return verified;
        json_decref(verified);
        return NULL;
    }
    int64_t deadline = host_now_ms() + (budget_ms > 0 ? budget_ms : 0);
    size_t i;
    json_t *s;
    json_array_foreach(candidates, i, s)
    {
        int64_t left = budget_ms > 0 ? deadline - host_now_ms() : SAMPLES_QUERY_MS;
        if (left <= 0)
            break;
        const char *statement = json_string_value(json_object_get(s, "sql"))
                                    ?: json_string_value(json_object_get(s, "pipeline"));
        long rows = run(driver, conn, statement,
                        (int32_t)(left < SAMPLES_QUERY_MS ? left : SAMPLES_QUERY_MS));
        if (rows <= 0)
            continue; /* failed, or an example without an answer */
        if (json_object_set_new(s, "row_count", json_integer(rows)) < 0 ||
            json_object_set_new(s, "verified", json_true()) < 0 ||
            json_array_append(verified, s) < 0) {
            json_decref(verified);
            verified = NULL;
            break;
        }
    }
    json_decref(candidates);
    return verified;
}
