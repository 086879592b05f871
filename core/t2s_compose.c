/*
 * Composing the query: reads the constructs (counts, aggregates, grouping,
 * comparisons, superlatives ...) from the normalised question, gives each
 * linked phrase its role, joins the tables along the graph's join paths and
 * builds the statement with sqlgen.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "host.h"
#include "profile.h"
#include "semantic.h"
#include "sqlgen.h"
#include "t2s.h"
#include "t2s_internal.h"

#define MAX_TABLES 12
#define MAX_FILTERS 16
#define MAX_PROJ 8
#define NONE ((size_t)-1)

enum { W_NONE = 0, W_GROUP, W_MEASURE, W_FILTER, W_NEG, W_PROJ, W_HAVING };

struct filter {
    size_t table;
    const struct catalog_column *column;
    int op;
    int type;
    char value[2][T2S_PHRASE];
    size_t nvalues;
    int subquery_avg; /* compare with the column's average */
};

struct plan {
    const struct catalog *c;
    const json_t *graph;
    struct t2s_question q;
    struct t2s_links links;
    int role[T2S_MAX_LINKS];
    char **labels;
    double conf;
    char why[256];
    /* What the question asks. */
    int count, distinct, agg; /* agg: enum sqlgen_agg, for measure */
    int super_dir;            /* superlative: 1 desc, -1 asc, 0 none */
    long top_n;
    int super_count; /* superlative or having by a count of super_table */
    size_t super_table;
    int having_op, has_having;
    size_t subject_link; /* the column link the subject came from, or NONE */
    double having_value;
    int having_sum;
    int money;             /* "spent", "revenue": a money measure */
    const char *adjective; /* words a superlative or comparison adjective points at */
    int order_dir;         /* explicit ordering: 1 desc, -1 asc */
    size_t order_link;
    int alpha;      /* alphabetical order */
    int group_part; /* per year / month */
    size_t group_link;
    size_t anti_table; /* "without T" */
    /* Resolved. */
    size_t subject;
    const struct catalog_column *subject_col;
    size_t measure_t;
    const struct catalog_column *measure;
    size_t group_t;
    const struct catalog_column *group_col; /* NULL: group by the table's label */
    struct filter filters[MAX_FILTERS];
    size_t nfilters;
    size_t proj_t[MAX_PROJ];
    const struct catalog_column *proj[MAX_PROJ];
    size_t nproj;
    /* The query's tables. */
    size_t tables[MAX_TABLES];
    size_t ntables;
    struct sqlgen_query *query;
    json_t *columns;
    int failed;
};

static void penalise(struct plan *p, double factor)
{
    p->conf *= factor;
}

__attribute__((format(printf, 2, 3))) static void fail(struct plan *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof(p->why), fmt, ap);
    va_end(ap);
    p->failed = 1;
}

/* ------------------------------------------------------------------------ */
/* Columns and tables                                                       */
/* ------------------------------------------------------------------------ */

static int sem_is(const struct catalog_column *c, const char *type)
{
    return c && c->semantic_type && strcmp(c->semantic_type, type) == 0;
}

static int contains_ci(const char *s, const char *w)
{
    return s && strcasestr(s, w) != NULL;
}

static int is_date(const struct catalog_column *c)
{
    return sem_is(c, SEM_DATETIME) || contains_ci(c->type, "date") || contains_ci(c->type, "time");
}

static int is_numeric(const struct catalog_column *c)
{
    if (is_date(c) || sem_is(c, SEM_BOOLEAN))
        return 0;
    if (c->profile && c->profile->sampled > c->profile->nulls)
        return c->profile->numeric;
    const char *t = c->type;
    return contains_ci(t, "int") || contains_ci(t, "num") || contains_ci(t, "dec") ||
           contains_ci(t, "real") || contains_ci(t, "doub") || contains_ci(t, "float") ||
           contains_ci(t, "money");
}

static int is_key(const struct catalog_table *t, const struct catalog_column *c)
{
    if (c->pk_position > 0 || sem_is(c, SEM_IDENTIFIER) || sem_is(c, SEM_FOREIGN_KEY))
        return 1;
    for (size_t i = 0; i < t->nfks; i++)
        for (size_t j = 0; j < t->fks[i].ncolumns; j++)
            if (strcmp(t->fks[i].columns[j], c->name) == 0)
                return 1;
    char w[T2S_PHRASE];
    t2s_words_(c->name, 0, w);
    size_t n = strlen(w);
    return strcmp(w, "id") == 0 || (n > 3 && strcmp(w + n - 3, " id") == 0);
}

static const struct catalog_column *find_col(const struct catalog_table *t, const char *words)
{
    for (size_t i = 0; i < t->ncolumns; i++) {
        char w[T2S_PHRASE];
        t2s_words_(t->columns[i].name, 1, w);
        if (strcmp(w, words) == 0)
            return &t->columns[i];
    }
    return NULL;
}

/* The columns that name a row: Name or Title; FirstName + LastName; XxxName; some text. */
static size_t label_columns(const struct catalog_table *t, const struct catalog_column *out[2])
{
    static const char *const exact[] = {"name", "title", "full name", "label", NULL};
    char tw[T2S_PHRASE], buf[T2S_PHRASE * 2];
    t2s_words_(t->name, 1, tw);
    out[0] = find_col(t, "first name");
    out[1] = find_col(t, "last name");
    if (out[0] && out[1])
        return 2;
    for (const char *const *e = exact; *e; e++)
        if ((out[0] = find_col(t, *e)))
            return 1;
    for (const char *const *e = exact; *e; e++) {
        snprintf(buf, sizeof(buf), "%s %s", tw, *e);
        if ((out[0] = find_col(t, buf)))
            return 1;
    }
    out[0] = find_col(t, "first name");
    out[1] = find_col(t, "last name");
    if (out[0] && out[1])
        return 2;
    /*
     * Another noun's name (CompanyName) names an entity's row; in a fact
     * table (an order's ShipName) it names something else: its key does.
     */
    int fact = t->role && strcmp(t->role, "fact") == 0;
    for (size_t i = 0; !fact && i < t->ncolumns; i++) {
        char w[T2S_PHRASE];
        t2s_words_(t->columns[i].name, 1, w);
        size_t n = strlen(w);
        if (n >= 4 && strcmp(w + n - 4, "name") == 0 && !is_key(t, &t->columns[i])) {
            out[0] = &t->columns[i];
            return 1;
        }
    }
    for (size_t i = 0; i < t->ncolumns; i++)
        if (t->columns[i].pk_position == 1) {
            out[0] = &t->columns[i];
            return 1;
        }
    if (t->ncolumns) {
        out[0] = &t->columns[0];
        return 1;
    }
    return 0;
}

static size_t table_index(const struct plan *p, const char *label)
{
    for (size_t i = 0; i < p->c->ntables; i++)
        if (p->labels[i] && strcmp(p->labels[i], label) == 0)
            return i;
    return NONE;
}

static size_t in_plan(const struct plan *p, size_t t)
{
    for (size_t i = 0; i < p->ntables; i++)
        if (p->tables[i] == t)
            return i;
    return NONE;
}

static void alias_of(size_t position, char out[8])
{
    /* Positions are below MAX_TABLES: "t" and at most a few digits. */
    snprintf(out, 8, "t%u", (unsigned)(position % 1000000u));
}

static const char *alias(const struct plan *p, size_t t)
{
    static __thread char buf[MAX_TABLES][8];
    size_t i = in_plan(p, t);
    if (i == NONE)
        return NULL;
    alias_of(i, buf[i]);
    return buf[i];
}

/* Puts table `t` in the query, joined along the graph's path from a table already there. */
static int join_table(struct plan *p, size_t t, int left)
{
    if (in_plan(p, t) != NONE)
        return 0;
    json_t *path = p->graph ? graph_join_path(p->graph, p->labels[p->subject], p->labels[t]) : NULL;
    if (!path) {
        fail(p, "no join path from %s to %s", p->labels[p->subject], p->labels[t]);
        return -1;
    }
    size_t i;
    json_t *step;
    int rc = 0;
    json_array_foreach(path, i, step)
    {
        size_t from = table_index(p, json_string_value(json_object_get(step, "from_table")));
        size_t to = table_index(p, json_string_value(json_object_get(step, "to_table")));
        json_t *fc = json_object_get(step, "from_columns"),
               *tc = json_object_get(step, "to_columns");
        if (from == NONE || to == NONE || in_plan(p, from) == NONE || p->ntables == MAX_TABLES ||
            json_array_size(fc) != json_array_size(tc) || json_array_size(fc) == 0 ||
            json_array_size(fc) > SQLGEN_MAX_JOIN_COLUMNS) {
            fail(p, "cannot join %s", p->labels[t]);
            rc = -1;
            break;
        }
        if (in_plan(p, to) != NONE)
            continue;
        const char *lc[SQLGEN_MAX_JOIN_COLUMNS], *rcn[SQLGEN_MAX_JOIN_COLUMNS];
        for (size_t k = 0; k < json_array_size(fc); k++) {
            lc[k] = json_string_value(json_array_get(fc, k));
            rcn[k] = json_string_value(json_array_get(tc, k));
        }
        if (strcmp(json_string_value(json_object_get(step, "type")), "foreign_key") != 0)
            penalise(p, 0.9);
        char a[8];
        alias_of(p->ntables, a);
        const struct catalog_table *tt = &p->c->tables[to];
        p->tables[p->ntables++] = to;
        sqlgen_join(p->query, left ? SQLGEN_JOIN_LEFT : SQLGEN_JOIN_INNER, tt->schema, tt->name, a,
                    alias(p, from), json_array_size(fc), lc, rcn);
    }
    json_decref(path);
    return rc;
}

static void note_column(struct plan *p, size_t t, const struct catalog_column *c)
{
    char buf[T2S_PHRASE * 3];
    snprintf(buf, sizeof(buf), "%s.%s", p->labels[t], c->name);
    size_t i;
    json_t *v;
    json_array_foreach(p->columns, i, v)
    {
        if (strcmp(json_string_value(v), buf) == 0)
            return;
    }
    json_array_append_new(p->columns, json_string(buf));
}

static struct sqlgen_term term(struct plan *p, size_t t, const struct catalog_column *c, int agg)
{
    if (c)
        note_column(p, t, c);
    return (struct sqlgen_term){alias(p, t), c ? c->name : NULL, agg, 0};
}

/*
 * The column a phrase names: among the query's tables first (the subject
 * before the others), then anywhere. Sets *table.
 */
static const struct catalog_column *resolve(struct plan *p, const char *phrase, size_t *table,
                                            int (*want)(const struct catalog_column *))
{
    const struct catalog_column *best = NULL;
    double best_fit = 0;
    /* The query's tables first; another table only when none fits, or when one names the
     * phrase exactly where the query's tables only end with it ("salary" vs "min_salary"). */
    for (int pass = 0; pass < 2 && (!best || best_fit < 0.99); pass++) {
        double floor_fit = best ? 0.99 : 0;
        for (size_t i = 0; i < p->c->ntables; i++) {
            int planned = in_plan(p, i) != NONE || i == p->subject;
            if (pass == 0 ? !planned : planned)
                continue;
            const struct catalog_table *t = &p->c->tables[i];
            for (size_t j = 0; j < t->ncolumns; j++) {
                if (want && !want(&t->columns[j]))
                    continue;
                double f = t2s_column_fit_(t, &t->columns[j], phrase);
                if (i == p->subject)
                    f += 0.01;
                if (f > best_fit + 1e-9 && f >= floor_fit) {
                    best_fit = f;
                    best = &t->columns[j];
                    *table = i;
                }
            }
        }
        if (best && pass == 1)
            penalise(p, 0.95);
    }
    if (best && best_fit < 0.7)
        penalise(p, 0.9);
    return best;
}

/* ------------------------------------------------------------------------ */
/* Reading the constructs                                                   */
/* ------------------------------------------------------------------------ */

static int tok_is(const struct plan *p, size_t i, const char *w)
{
    return i < p->q.n && p->q.tok[i].kind == T2S_TK_WORD && strcmp(p->q.tok[i].text, w) == 0;
}

static int tok_in(const struct plan *p, size_t i, const char *const *words)
{
    for (; *words; words++)
        if (tok_is(p, i, *words))
            return 1;
    return 0;
}

static void use(struct plan *p, size_t i, size_t n)
{
    for (size_t k = i; k < i + n && k < p->q.n; k++)
        p->q.tok[k].used = 1;
}

struct adjective {
    const char *word;
    int dir;
    const char *columns; /* words of the columns it points at, '|' separated */
};

static const struct adjective adjectives[] = {
    {"expensive", 1, "price|cost|amount|total"},
    {"priciest", 1, "price|cost|amount"},
    {"cheapest", -1, "price|cost|amount"},
    {"cheap", -1, "price|cost|amount"},
    {"longest", 1, "duration|length|millisecond|minute|second|distance"},
    {"long", 1, "duration|length|millisecond|minute|second|distance"},
    {"shortest", -1, "duration|length|millisecond|minute|second|distance"},
    {"short", -1, "duration|length|millisecond|minute|second|distance"},
    {"oldest", -1, "birth date|date of birth|dob|founded|year|date"},
    {"old", -1, "birth date|date of birth|dob|founded|year|date"},
    {"youngest", 1, "birth date|date of birth|dob"},
    {"young", 1, "birth date|date of birth|dob"},
    {"newest", 1, "date|created|year"},
    {"latest", 1, "date|created|year"},
    {"recent", 1, "date|created|year"},
    {"earliest", -1, "date|created|year"},
    {"heaviest", 1, "weight"},
    {"lightest", -1, "weight"},
    {"biggest", 1, ""},
    {"largest", 1, ""},
    {"highest", 1, ""},
    {"greatest", 1, ""},
    {"smallest", -1, ""},
    {"lowest", -1, ""},
    {"best", 1, "rating|score"},
    {"worst", -1, "rating|score"},
    {"paid", 1, "salary|wage|pay"}};

static const struct adjective *adjective_of(const char *w)
{
    for (size_t i = 0; i < sizeof(adjectives) / sizeof(adjectives[0]); i++)
        if (strcmp(w, adjectives[i].word) == 0)
            return &adjectives[i];
    return NULL;
}

/* 1 when `word` is one of the adjective's '|'-separated column words ("duration" for "longest"). */
static int adjective_word(const struct adjective *a, const char *word)
{
    size_t n = strlen(word);
    for (const char *w = a->columns; *w;) {
        size_t len = strcspn(w, "|");
        if (len == n && strncmp(w, word, n) == 0)
            return 1;
        w += len + (w[len] == '|');
    }
    return 0;
}

static int money_word(const char *w)
{
    static const char *const words[] = {"spend",   "spent",    "spending", "revenue", "sales",
                                        "sale",    "income",   "money",    "paid",    "earned",
                                        "earning", "turnover", "billed",   "bought",  NULL};
    for (const char *const *x = words; *x; x++)
        if (strcmp(w, *x) == 0)
            return 1;
    return 0;
}

/* A comparator at i: its op and the tokens it spans; 0 when none. */
static size_t comparator(const struct plan *p, size_t i, int *op)
{
    static const char *const gt1[] = {"over",  "above", "exceeding", "exceeds",
                                      "after", "since", "beyond",    NULL};
    static const char *const lt1[] = {"under", "below", "before", "until", NULL};
    static const char *const cmp_gt[] = {"more",   "greater", "larger", "bigger",   "higher",
                                         "longer", "older",   "later",  "costlier", NULL};
    static const char *const cmp_lt[] = {"less",    "fewer",   "smaller", "lower", "shorter",
                                         "younger", "earlier", "cheaper", NULL};
    if (tok_is(p, i, "at") && tok_is(p, i + 1, "least"))
        return *op = SQLGEN_GE, 2;
    if (tok_is(p, i, "at") && tok_is(p, i + 1, "most"))
        return *op = SQLGEN_LE, 2;
    if (tok_is(p, i, "no") && tok_in(p, i + 1, (const char *[]){"more", "less", "fewer", NULL}) &&
        tok_is(p, i + 2, "than"))
        return *op = tok_is(p, i + 1, "more") ? SQLGEN_LE : SQLGEN_GE, 3;
    if (tok_in(p, i, cmp_gt) && tok_is(p, i + 1, "than"))
        return *op = SQLGEN_GT, 2;
    if (tok_in(p, i, cmp_lt) && tok_is(p, i + 1, "than"))
        return *op = SQLGEN_LT, 2;
    if (tok_is(p, i, "more") && tok_is(p, i + 1, "expensive") && tok_is(p, i + 2, "than"))
        return *op = SQLGEN_GT, 3;
    if (tok_is(p, i, "less") && tok_is(p, i + 1, "expensive") && tok_is(p, i + 2, "than"))
        return *op = SQLGEN_LT, 3;
    if ((tok_is(p, i, "equal") || tok_is(p, i, "equals")) && tok_is(p, i + 1, "to"))
        return *op = SQLGEN_EQ, 2;
    if (tok_is(p, i, "exactly"))
        return *op = SQLGEN_EQ, 1;
    if (tok_in(p, i, gt1))
        return *op = SQLGEN_GT, 1;
    if (tok_in(p, i, lt1))
        return *op = SQLGEN_LT, 1;
    if (tok_is(p, i, "between"))
        return *op = SQLGEN_IN, 1; /* a range, read by the caller */
    return 0;
}

static size_t link_at(const struct plan *p, size_t tok)
{
    for (size_t i = 0; i < p->links.n; i++)
        if (tok >= p->links.l[i].start && tok < p->links.l[i].start + p->links.l[i].len)
            return i;
    return NONE;
}

/* The first link after token i, skipping up to `gap` stopwords. */
static size_t link_after(const struct plan *p, size_t i, size_t gap)
{
    for (size_t k = i; k < p->q.n && k <= i + gap; k++) {
        size_t l = link_at(p, k);
        if (l != NONE)
            return l;
        if (p->q.tok[k].kind == T2S_TK_WORD && !t2s_stopword_(p->q.tok[k].text) &&
            !tok_in(p, k, (const char *[]){"total", "average", "number", NULL}))
            gap = 0; /* a content word between: not this one */
    }
    return NONE;
}

static size_t link_before(const struct plan *p, size_t i, size_t gap)
{
    for (size_t k = i; k-- > 0 && k + gap + 1 >= i;) {
        size_t l = link_at(p, k);
        if (l != NONE)
            return l;
    }
    return NONE;
}

/* Date literal text for year/month bounds. */
static void ymd(char out[T2S_PHRASE], int y, int m)
{
    if (m > 12) {
        y++;
        m = 1;
    }
    snprintf(out, T2S_PHRASE, "%04d-%02d-01", y, m);
}

static int year_of(const struct t2s_token *t)
{
    return t->kind == T2S_TK_NUMBER && t->number >= 1900 && t->number <= 2100 &&
                   floor(t->number) == t->number
               ? (int)t->number
               : 0;
}

/* ------------------------------------------------------------------------ */

#define MAX_CMP 8

struct cmp {
    size_t at, end; /* comparator tokens [at, end) */
    int op;
    double number[2];
    size_t nnumbers;
    int average; /* "than the average" */
    int negated;
};

struct datef {
    char lo[T2S_PHRASE], hi[T2S_PHRASE]; /* [lo, hi); "" open */
    size_t at;
};

struct reading {
    struct cmp cmp[MAX_CMP];
    size_t ncmp;
    struct datef date[2];
    size_t ndate;
    size_t agg_at, super_at, group_at, neg_at[4], nneg;
    size_t count_at;   /* the word after "number of": a numeric column makes it a measure */
    int relative_year; /* "last year": resolved against the data */
};

static const struct catalog_column *date_column(struct plan *p, size_t *table);

/* "in 2021", "in March 2023", "before 2020", "after 2019", "between 2019 and 2021". */
static int read_date(struct plan *p, struct reading *r, size_t i)
{
    struct t2s_question *q = &p->q;
    if (r->ndate == 2)
        return 0;
    struct datef *d = &r->date[r->ndate];
    memset(d, 0, sizeof(*d));
    d->at = i;
    int y;
    if (tok_in(p, i, (const char *[]){"in", "during", "of", "for", NULL})) {
        size_t k = i + 1;
        if (tok_is(p, k, "the") && tok_is(p, k + 1, "year"))
            k += 2;
        else if (tok_is(p, k, "year"))
            k++;
        if (k < q->n && q->tok[k].month && (y = year_of(&q->tok[k + 1])) > 0) {
            ymd(d->lo, y, q->tok[k].month);
            ymd(d->hi, y, q->tok[k].month + 1);
            use(p, i, k + 2 - i);
            return r->ndate++, 1;
        }
        if (k < q->n && (y = year_of(&q->tok[k])) > 0) {
            ymd(d->lo, y, 1);
            ymd(d->hi, y + 1, 1);
            use(p, i, k + 1 - i);
            return r->ndate++, 1;
        }
    }
    int op;
    size_t n = comparator(p, i, &op);
    if (n && op == SQLGEN_IN && (y = year_of(&q->tok[i + 1])) > 0 && tok_is(p, i + 2, "and")) {
        int y2 = year_of(&q->tok[i + 3]);
        if (y2 >= y) {
            ymd(d->lo, y, 1);
            ymd(d->hi, y2 + 1, 1);
            use(p, i, 4);
            return r->ndate++, 1;
        }
    }
    /* "more than 2000" is an amount; "before 2000", "later than 2000" are years. */
    if (n && op != SQLGEN_IN && op != SQLGEN_EQ &&
        tok_in(p, i,
               (const char *[]){"before", "after", "since", "until", "earlier", "later", "prior",
                                "at", NULL})) {
        size_t k = i + n;
        int month = k < q->n ? q->tok[k].month : 0;
        if (month)
            k++;
        if ((y = year_of(&q->tok[k])) > 0) {
            int after = op == SQLGEN_GT || op == SQLGEN_GE;
            int inclusive = tok_is(p, i, "since") || op == SQLGEN_GE || op == SQLGEN_LE;
            if (after)
                month ? ymd(d->lo, y, month + (inclusive ? 0 : 1))
                      : ymd(d->lo, y + (inclusive ? 0 : 1), 1);
            else
                month ? ymd(d->hi, y, month + (inclusive ? 1 : 0))
                      : ymd(d->hi, y + (inclusive ? 1 : 0), 1);
            use(p, i, k + 1 - i);
            return r->ndate++, 1;
        }
    }
    if ((tok_is(p, i, "last") || tok_is(p, i, "this")) && tok_is(p, i + 1, "year")) {
        r->relative_year = tok_is(p, i, "last") ? 1 : 2;
        use(p, i, 2);
        if (i > 0 && tok_in(p, i - 1, (const char *[]){"in", "during", NULL}))
            use(p, i - 1, 1);
        return r->ndate++, 1;
    }
    return 0;
}

static int number_at(const struct plan *p, size_t i, double *v)
{
    if (i < p->q.n && p->q.tok[i].kind == T2S_TK_NUMBER) {
        *v = p->q.tok[i].number;
        return 1;
    }
    return 0;
}

static void read_comparison(struct plan *p, struct reading *r, size_t i)
{
    int op;
    size_t n = comparator(p, i, &op);
    if (!n || r->ncmp == MAX_CMP)
        return;
    struct cmp *c = &r->cmp[r->ncmp];
    memset(c, 0, sizeof(*c));
    c->at = i;
    c->op = op;
    size_t k = i + n;
    if (op == SQLGEN_IN) {
        if (number_at(p, k, &c->number[0]) && tok_is(p, k + 1, "and") &&
            number_at(p, k + 2, &c->number[1])) {
            c->nnumbers = 2;
            c->end = k + 3;
        } else
            return;
    } else if (number_at(p, k, &c->number[0])) {
        c->nnumbers = 1;
        c->end = k + 1;
    } else if ((tok_is(p, k, "the") &&
                tok_in(p, k + 1, (const char *[]){"average", "mean", NULL})) ||
               tok_in(p, k, (const char *[]){"average", "mean", NULL})) {
        c->average = 1;
        c->end = k + (tok_is(p, k, "the") ? 2 : 1);
    } else
        return;
    c->negated = i > 0 && (tok_is(p, i - 1, "not") || tok_is(p, i - 1, "n't"));
    use(p, i, c->end - i);
    if (c->negated)
        use(p, i - 1, 1);
    r->ncmp++;
}

/* 1 when tokens i, i+1 are a column's name ("minimum salary" for min_salary). */
static int names_column(const struct plan *p, size_t i)
{
    char phrase[T2S_PHRASE], w[T2S_PHRASE], first[T2S_WORD];
    if (i + 1 >= p->q.n)
        return 0;
    t2s_stem_(p->q.tok[i].text, first);
    snprintf(phrase, sizeof(phrase), "%s %s", first, p->q.tok[i + 1].stem);
    for (size_t t = 0; t < p->c->ntables; t++)
        for (size_t j = 0; j < p->c->tables[t].ncolumns; j++) {
            t2s_words_(p->c->tables[t].columns[j].name, 1, w);
            size_t a = strlen(w), b = strlen(phrase);
            if (a >= b && strcmp(w + a - b, phrase) == 0 && (a == b || w[a - b - 1] == ' '))
                return 1;
        }
    return 0;
}

/* Phase one: the words that say what to compute, before linking. */
static void read_constructs(struct plan *p, struct reading *r)
{
    struct t2s_question *q = &p->q;
    r->agg_at = r->super_at = r->group_at = r->count_at = NONE;
    int which = 0; /* a "which"/"who" question: superlatives pick rows */
    for (size_t i = 0; i < q->n; i++) {
        struct t2s_token *t = &q->tok[i];
        if (t->used || t->kind != T2S_TK_WORD)
            continue;
        which |= tok_in(p, i,
                        (const char *[]){"which", "who", "whose", "list", "name", "show", "give",
                                         "find", "display", NULL});
        if (read_date(p, r, i))
            continue;
        if (tok_in(p, i, (const char *[]){"which", "what", "list", "show", NULL}) && i + 1 < q->n &&
            q->tok[i + 1].kind == T2S_TK_NUMBER && !year_of(&q->tok[i + 1]) &&
            q->tok[i + 1].number >= 1 && q->tok[i + 1].number <= 1000) {
            p->top_n =
                (long)q->tok[i + 1].number; /* "which 3 countries ...": kept for a superlative */
            use(p, i + 1, 1);
        }
        if (comparator(p, i, &(int){0}) && !(tok_is(p, i, "over") && tok_is(p, i + 1, "time"))) {
            size_t before = r->ncmp;
            read_comparison(p, r, i);
            if (r->ncmp > before)
                continue;
        }
        if (tok_is(p, i, "how") && tok_is(p, i + 1, "many")) {
            p->count = 1;
            use(p, i, 2);
        } else if (tok_is(p, i, "how") && tok_is(p, i + 1, "much")) {
            p->agg = SQLGEN_SUM;
            r->agg_at = i + 2;
            use(p, i, 2);
        } else if ((tok_is(p, i, "number") && tok_is(p, i + 1, "of")) || tok_is(p, i, "count")) {
            if (!p->super_dir && !p->top_n) {
                p->count = 1;
                r->agg_at = i + 1;
                if (tok_is(p, i, "number"))
                    r->count_at = i + 2;
            }
            use(p, i, tok_is(p, i, "number") ? 2 : 1);
        } else if (tok_in(p, i, (const char *[]){"average", "avg", "mean", NULL})) {
            p->agg = SQLGEN_AVG;
            r->agg_at = i + 1;
            use(p, i, 1);
        } else if (tok_in(p, i, (const char *[]){"total", "sum", "combined", NULL}) &&
                   !(tok_is(p, i + 1, "number") || tok_is(p, i + 1, "count")) &&
                   !(i > 0 && tok_in(p, i - 1,
                                     (const char *[]){"a", "with", "has", "have", "whose", "their",
                                                      "its", NULL})) &&
                   !comparator(p, i + 1, &(int){0}) && !tok_is(p, i + 1, "is")) {
            if (!p->agg)
                p->agg = SQLGEN_SUM;
            r->agg_at = i + 1;
            use(p, i, 1);
        } else if (tok_is(p, i, "top") || tok_is(p, i, "bottom") || tok_is(p, i, "first")) {
            double n;
            int dir = tok_is(p, i, "bottom") ? -1 : 1;
            if (number_at(p, i + 1, &n) && n >= 1) {
                p->top_n = (long)n;
                use(p, i, 2);
            } else if (tok_is(p, i, "top")) {
                p->top_n = 1;
                use(p, i, 1);
            } else
                continue;
            if (!p->super_dir)
                p->super_dir = dir;
            r->super_at = i + 1;
        } else if ((tok_is(p, i, "most") || tok_is(p, i, "least") || tok_is(p, i, "fewest")) &&
                   !(i > 0 && tok_is(p, i - 1, "at"))) {
            const struct adjective *a = i + 1 < q->n ? adjective_of(q->tok[i + 1].text) : NULL;
            p->super_dir = tok_is(p, i, "most") ? 1 : -1;
            if (a && tok_is(p, i + 1, "recent"))
                p->super_dir = 1;
            if (a) {
                p->adjective = a->columns;
                use(p, i, 2);
            } else
                use(p, i, 1);
            r->super_at = i + 1;
            if (i > 0 && q->tok[i - 1].kind == T2S_TK_NUMBER) {
                p->top_n = (long)q->tok[i - 1].number;
                use(p, i - 1, 1);
            }
        } else if (adjective_of(t->text)) {
            const struct adjective *a = adjective_of(t->text);
            size_t len = strlen(t->text);
            int superlative = len > 3 && (strcmp(t->text + len - 3, "est") == 0 ||
                                          strcmp(t->text, "priciest") == 0);
            if (!superlative && strcmp(t->text, "paid") != 0)
                continue;
            if (strcmp(t->text, "paid") == 0 &&
                !(i > 0 &&
                  tok_in(p, i - 1, (const char *[]){"highest", "best", "lowest", "worst", NULL})))
                continue;
            /*
             * "what is the highest price" or "the longest flight duration", the measure
             * named: an aggregate; "which track has the highest price" or "what is the
             * longest track": a row.
             */
            int measure_named =
                *a->columns && ((i + 1 < q->n && adjective_word(a, q->tok[i + 1].stem)) ||
                                (i + 2 < q->n && adjective_word(a, q->tok[i + 2].stem)));
            if (!which && (!*a->columns || measure_named)) {
                p->agg = a->dir > 0 ? SQLGEN_MAX : SQLGEN_MIN;
                r->agg_at = i + 1;
            } else {
                p->super_dir = a->dir;
                if (*a->columns)
                    p->adjective = a->columns;
                r->super_at = i + 1;
                if (i > 0 && q->tok[i - 1].kind == T2S_TK_NUMBER) {
                    p->top_n = (long)q->tok[i - 1].number;
                    use(p, i - 1, 1);
                }
            }
            use(p, i, 1);
        } else if (tok_in(p, i, (const char *[]){"maximum", "max", "minimum", "min", NULL}) &&
                   r->super_at != i && !names_column(p, i)) {
            p->agg = tok_is(p, i, "maximum") || tok_is(p, i, "max") ? SQLGEN_MAX : SQLGEN_MIN;
            r->agg_at = i + 1;
            use(p, i, 1);
        } else if (tok_is(p, i, "per") ||
                   (tok_is(p, i, "each") && !(i > 0 && tok_is(p, i - 1, "of"))) ||
                   (tok_is(p, i, "every") && i > 0 && tok_is(p, i - 1, "for")) ||
                   (tok_is(p, i, "by") && r->super_at == NONE && !p->super_dir && !p->top_n &&
                    !(i > 0 && tok_in(p, i - 1,
                                      (const char *[]){"sorted", "ordered", "order", "sort", "rank",
                                                       "ranked", NULL})))) {
            r->group_at = i + 1;
            use(p, i, 1);
            if (i > 0 && tok_in(p, i - 1, (const char *[]){"for", "in", "grouped", "broken", NULL}))
                use(p, i - 1, 1);
        } else if (tok_is(p, i, "by") && p->top_n && p->super_dir) {
            /* "top 5 products by unit price": ranked by what follows */
            r->super_at = i + 1;
            use(p, i, 1);
        } else if (tok_in(p, i,
                          (const char *[]){"sorted", "ordered", "order", "sort", "ranked", NULL}) &&
                   tok_is(p, i + 1, "by")) {
            p->order_dir = -1;
            r->super_at = i + 2;
            use(p, i, 2);
        } else if (tok_in(p, i, (const char *[]){"alphabetically", "alphabetical", NULL})) {
            p->alpha = 1;
            use(p, i, 1);
        } else if (tok_in(p, i, (const char *[]){"descending", "desc", NULL})) {
            p->order_dir = 1;
            use(p, i, 1);
        } else if (tok_in(p, i, (const char *[]){"ascending", "asc", NULL})) {
            p->order_dir = p->order_dir ? -1 : -1;
            use(p, i, 1);
        } else if (tok_in(p, i, (const char *[]){"distinct", "different", "unique", NULL})) {
            p->distinct = 1;
            use(p, i, 1);
        } else if (tok_in(p, i,
                          (const char *[]){"not", "n't", "without", "never", "no", "excluding",
                                           "except", NULL})) {
            if (r->nneg < 4)
                r->neg_at[r->nneg++] = i;
            use(p, i, 1);
        } else if (money_word(t->text) && !(i > 0 && isupper((unsigned char)t->orig[0]))) {
            p->money = 1;
            use(p, i, 1);
        } else if (tok_in(p, i,
                          (const char *[]){"year", "yearly", "annual", "annually", "month",
                                           "monthly", NULL}) &&
                   r->group_at == i) {
            p->group_part = t->text[0] == 'y' || t->text[0] == 'a' ? SQLGEN_YEAR : SQLGEN_MONTH;
            use(p, i, 1);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Roles                                                                    */
/* ------------------------------------------------------------------------ */

static const char *cmp_adjective(const struct plan *p, const struct cmp *c)
{
    const struct t2s_token *t = &p->q.tok[c->at];
    if (strcmp(t->text, "longer") == 0 || strcmp(t->text, "shorter") == 0)
        return adjective_of("long")->columns;
    if (strcmp(t->text, "cheaper") == 0 || strcmp(t->text, "costlier") == 0 ||
        (c->at + 1 < p->q.n && strcmp(p->q.tok[c->at + 1].text, "expensive") == 0) ||
        (c->at > 0 && strcmp(p->q.tok[c->at - 1].text, "cost") == 0) ||
        (c->at > 0 && strcmp(p->q.tok[c->at - 1].text, "costs") == 0) ||
        (c->at > 0 && strcmp(p->q.tok[c->at - 1].text, "costing") == 0) ||
        (c->at > 0 && strcmp(p->q.tok[c->at - 1].text, "priced") == 0))
        return adjective_of("expensive")->columns;
    if (strcmp(t->text, "older") == 0 || strcmp(t->text, "younger") == 0)
        return adjective_of("old")->columns;
    return NULL;
}

/* A column of table t (or NULL) whose words fit one of the '|'-separated `words`. */
static const struct catalog_column *column_for_words(const struct catalog_table *t,
                                                     const char *words, int numeric_only)
{
    char buf[T2S_PHRASE];
    snprintf(buf, sizeof(buf), "%s", words);
    char *save = NULL;
    for (char *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
        for (size_t i = 0; i < t->ncolumns; i++) {
            const struct catalog_column *c = &t->columns[i];
            if (is_key(t, c) || (numeric_only && !is_numeric(c) && !is_date(c)))
                continue;
            if (t2s_column_fit_(t, c, w) >= 0.6)
                return c;
        }
    return NULL;
}

/* Tables to search for an implied column: the query's, then all by distance. */
static const struct catalog_column *implied_column(struct plan *p, const char *words, size_t *table)
{
    for (size_t k = 0; k < p->ntables; k++) {
        const struct catalog_column *c = column_for_words(&p->c->tables[p->tables[k]], words, 1);
        if (c) {
            *table = p->tables[k];
            return c;
        }
    }
    size_t best_t = NONE, best_len = 99;
    const struct catalog_column *best = NULL;
    for (size_t i = 0; i < p->c->ntables && p->graph; i++) {
        const struct catalog_column *c = column_for_words(&p->c->tables[i], words, 1);
        if (!c)
            continue;
        json_t *path = graph_join_path(p->graph, p->labels[p->subject], p->labels[i]);
        if (path && json_array_size(path) < best_len) {
            best_len = json_array_size(path);
            best = c;
            best_t = i;
        }
        json_decref(path);
    }
    *table = best_t;
    return best;
}

static int money_score(const struct catalog_table *t, const struct catalog_column *c)
{
    if (is_key(t, c) || !is_numeric(c))
        return 0;
    int s = 0;
    static const char *const strong[] = {"total",   "amount", "revenue", "sales",
                                         "payment", "spent",  NULL};
    static const char *const weak[] = {"price", "cost", "salary", "fare", "fee", NULL};
    for (const char *const *w = strong; *w; w++)
        if (contains_ci(c->name, *w))
            s = 3;
    for (const char *const *w = weak; *w && !s; w++)
        if (contains_ci(c->name, *w))
            s = 2;
    if (!s && sem_is(c, SEM_CURRENCY))
        s = 1;
    if (s && t->role && strcmp(t->role, ROLE_FACT) == 0)
        s++;
    return s;
}

/* The money measure nearest the subject: Invoice.Total for "spent". */
static const struct catalog_column *money_column(struct plan *p, size_t *table)
{
    const struct catalog_column *best = NULL;
    int best_s = 0;
    size_t best_len = 99;
    for (size_t i = 0; i < p->c->ntables; i++) {
        const struct catalog_table *t = &p->c->tables[i];
        if (t->kind == QUARRY_VIEW || t->kind == QUARRY_MATERIALIZED_VIEW)
            continue;
        for (size_t j = 0; j < t->ncolumns; j++) {
            int s = money_score(t, &t->columns[j]);
            if (!s)
                continue;
            size_t len = 0;
            if (i != p->subject) {
                json_t *path = p->graph
                                   ? graph_join_path(p->graph, p->labels[p->subject], p->labels[i])
                                   : NULL;
                len = path ? json_array_size(path) : 99;
                json_decref(path);
                if (len == 99)
                    continue;
            }
            if (s > best_s || (s == best_s && len < best_len)) {
                best_s = s;
                best_len = len;
                best = &t->columns[j];
                *table = i;
            }
        }
    }
    return best;
}

static int want_numeric(const struct catalog_column *c)
{
    return is_numeric(c) || is_date(c);
}

/* A quantity to add up or average: numeric, and not an id (its sum means nothing). */
static int want_quantity(const struct catalog_column *c)
{
    return is_numeric(c) && c->pk_position == 0 && !sem_is(c, SEM_IDENTIFIER) &&
           !sem_is(c, SEM_FOREIGN_KEY);
}

static const struct catalog_column *date_column(struct plan *p, size_t *table)
{
    for (size_t k = 0; k < p->ntables; k++) {
        const struct catalog_table *t = &p->c->tables[p->tables[k]];
        const struct catalog_column *any = NULL;
        for (size_t i = 0; i < t->ncolumns; i++) {
            if (!is_date(&t->columns[i]))
                continue;
            if (!any)
                any = &t->columns[i];
            if (contains_ci(t->columns[i].name, "date") &&
                !contains_ci(t->columns[i].name, "birth"))
                any = &t->columns[i];
            if (any != &t->columns[i] || contains_ci(any->name, "date"))
                break;
        }
        if (any) {
            *table = p->tables[k];
            return any;
        }
    }
    return implied_column(p, "date|time|day", table);
}

static void add_filter(struct plan *p, size_t t, const struct catalog_column *c, int op, int type,
                       const char *v0, const char *v1)
{
    if (p->nfilters == MAX_FILTERS || !c)
        return;
    struct filter *f = &p->filters[p->nfilters++];
    memset(f, 0, sizeof(*f));
    f->table = t;
    f->column = c;
    f->op = op;
    f->type = type;
    if (v0)
        snprintf(f->value[f->nvalues++], T2S_PHRASE, "%s", v0);
    if (v1)
        snprintf(f->value[f->nvalues++], T2S_PHRASE, "%s", v1);
}

static int value_type(const struct catalog_column *c)
{
    return is_numeric(c) ? SQLGEN_NUMBER : SQLGEN_TEXT;
}

static void number_text(double v, char out[T2S_PHRASE])
{
    snprintf(out, T2S_PHRASE, "%.15g", v);
}

static int invert(int op)
{
    switch (op) {
    case SQLGEN_GT:
        return SQLGEN_LE;
    case SQLGEN_GE:
        return SQLGEN_LT;
    case SQLGEN_LT:
        return SQLGEN_GE;
    case SQLGEN_LE:
        return SQLGEN_GT;
    case SQLGEN_EQ:
        return SQLGEN_NE;
    default:
        return op;
    }
}

/* The subject: the first table named for itself; else the first free column's table. */
static int choose_subject(struct plan *p)
{
    for (size_t i = 0; i < p->links.n; i++)
        if (p->links.l[i].kind == T2S_LINK_TABLE && p->role[i] == W_NONE) {
            p->subject = p->links.l[i].table;
            p->role[i] = W_PROJ;
            if (p->links.l[i].ambiguous)
                penalise(p, 0.8);
            return 0;
        }
    for (size_t i = 0; i < p->links.n; i++)
        if (p->links.l[i].kind == T2S_LINK_COLUMN && p->role[i] == W_NONE) {
            p->subject = p->links.l[i].table;
            p->subject_link = i;
            return 0;
        }
    for (size_t i = 0; i < p->links.n; i++)
        if (p->links.l[i].kind != T2S_LINK_VALUE || p->links.l[i].table != NONE) {
            p->subject = p->links.l[i].table;
            penalise(p, 0.7);
            return 0;
        }
    fail(p, "no table or column of the database is named in the question");
    return -1;
}

static int want_numeric(const struct catalog_column *c);

/* "the number of seats": a numeric column to aggregate, not rows to count. */
static void count_of_column(struct plan *p, struct reading *r)
{
    size_t l;
    if (!p->count || r->count_at == NONE || (l = link_after(p, r->count_at, 1)) == NONE)
        return;
    const struct t2s_link *k = &p->links.l[l];
    if (k->kind != T2S_LINK_COLUMN || p->role[l] != W_NONE || !k->column ||
        !want_numeric(k->column))
        return;
    p->count = 0;
    if (!p->agg)
        p->agg = SQLGEN_SUM;
    p->role[l] = W_MEASURE;
    p->order_link = l;
}

/* "customers who never placed an order": the table a verb away from the negation. */
static size_t negated_table(const struct plan *p, size_t at)
{
    for (size_t k = at + 1; k < p->q.n && k <= at + 4; k++) {
        size_t l = link_at(p, k);
        if (l != NONE)
            return p->links.l[l].kind == T2S_LINK_TABLE && p->role[l] == W_NONE ? l : NONE;
    }
    return NONE;
}

static int assign_roles(struct plan *p, struct reading *r)
{
    size_t l;
    count_of_column(p, r);
    if (r->group_at != NONE && !p->group_part && (l = link_after(p, r->group_at, 2)) != NONE &&
        p->links.l[l].kind != T2S_LINK_VALUE)
        p->role[l] = W_GROUP, p->group_link = l;
    if (r->agg_at != NONE && (l = link_after(p, r->agg_at, 2)) != NONE && p->role[l] == W_NONE &&
        p->links.l[l].kind == T2S_LINK_COLUMN)
        p->role[l] = W_MEASURE, p->order_link = l;
    if (r->super_at != NONE && (l = link_after(p, r->super_at, 2)) != NONE &&
        p->role[l] == W_NONE && p->links.l[l].kind != T2S_LINK_VALUE) {
        p->role[l] = W_MEASURE;
        p->order_link = l;
    }
    for (size_t i = 0; i < r->nneg; i++) {
        l = link_after(p, r->neg_at[i] + 1, 3);
        if (l == NONE && (l = negated_table(p, r->neg_at[i])) != NONE)
            penalise(p, 0.9);
        if (l == NONE || p->role[l] != W_NONE)
            continue;
        if (p->links.l[l].kind == T2S_LINK_VALUE)
            p->role[l] = W_NEG;
        else if (p->links.l[l].kind == T2S_LINK_TABLE) {
            p->role[l] = W_NEG;
            p->anti_table = p->links.l[l].table;
        }
    }
    for (size_t i = 0; i < p->links.n; i++)
        if (p->links.l[i].kind == T2S_LINK_VALUE && p->role[i] == W_NONE)
            p->role[i] = W_FILTER;
    return choose_subject(p);
}

static void set_having(struct plan *p, const struct cmp *c, size_t group_link, int op)
{
    p->group_link = group_link;
    p->role[group_link] = W_GROUP;
    p->has_having = 1;
    p->having_op = op;
    p->having_value = c->number[0];
}

/*
 * "Which countries have more than 5 customers": the subject's rows counted
 * per a column of its own named before the comparison.
 */
static int having_on_subject(struct plan *p, const struct cmp *c, size_t l, int op)
{
    if (l == NONE || p->links.l[l].kind != T2S_LINK_TABLE || p->links.l[l].table != p->subject ||
        c->nnumbers != 1 || c->average || p->super_count || p->count || p->agg)
        return 0;
    for (size_t k = 0; k < l; k++) {
        size_t t;
        if (p->links.l[k].kind != T2S_LINK_COLUMN || p->role[k] != W_NONE ||
            p->links.l[k].start > c->at)
            continue;
        const struct catalog_column *col = resolve(p, p->links.l[k].phrase, &t, NULL);
        if (col && t == p->subject && !want_numeric(col)) {
            set_having(p, c, k, op);
            return 1;
        }
    }
    return 0;
}

/*
 * "Which job titles have an average salary above 95000": the aggregate of
 * the measure compared per the subject column.
 */
static int having_on_measure(struct plan *p, const struct cmp *c, size_t l, int op)
{
    if (l == NONE || p->role[l] != W_MEASURE || !p->agg || p->subject_link == NONE ||
        p->subject_link == l || c->nnumbers != 1 || c->average || p->count ||
        p->role[p->subject_link] != W_NONE)
        return 0;
    set_having(p, c, p->subject_link, op);
    return 1;
}

/* Comparisons become filters on columns, or HAVING on a count or a sum. */
static void place_comparisons(struct plan *p, struct reading *r)
{
    for (size_t i = 0; i < r->ncmp; i++) {
        struct cmp *c = &r->cmp[i];
        int op = c->negated ? invert(c->op) : c->op;
        size_t l = link_after(p, c->end, 1), t = NONE;
        const struct catalog_column *col = NULL;
        if (l != NONE && p->role[l] != W_NONE && p->role[l] != W_PROJ)
            l = NONE;
        if (l != NONE && p->links.l[l].kind == T2S_LINK_TABLE &&
            p->links.l[l].table != p->subject && c->nnumbers == 1 && !p->super_count) {
            p->role[l] = W_HAVING;
            p->has_having = 1;
            p->super_table = p->links.l[l].table;
            p->having_op = op;
            p->having_value = c->number[0];
            continue;
        }
        if (having_on_subject(p, c, l, op))
            continue;
        if (l == NONE || p->links.l[l].kind != T2S_LINK_COLUMN)
            l = link_before(p, c->at, 3);
        if (having_on_measure(p, c, l, op))
            continue;
        if (l != NONE && p->links.l[l].kind == T2S_LINK_COLUMN &&
            (p->role[l] == W_NONE || p->role[l] == W_MEASURE)) {
            col = resolve(p, p->links.l[l].phrase, &t, want_numeric);
            if (p->role[l] == W_NONE)
                p->role[l] = W_FILTER;
        }
        if (!col && cmp_adjective(p, c))
            col = implied_column(p, cmp_adjective(p, c), &t);
        if (!col && p->money && c->nnumbers == 1 && !c->average) {
            size_t mt;
            if (money_column(p, &mt) && mt != p->subject) {
                p->having_sum = 1;
                p->having_op = op;
                p->having_value = c->number[0];
                continue;
            }
            col = money_column(p, &t);
        }
        if (!col) {
            penalise(p, 0.5);
            continue;
        }
        char a[T2S_PHRASE], b[T2S_PHRASE];
        if (c->average) {
            /* "a budget above the average budget": the budget before is this one, not another. */
            size_t before = link_before(p, c->at, 3);
            if (before != NONE && before != l && p->role[before] == W_NONE &&
                p->links.l[before].kind == T2S_LINK_COLUMN && p->links.l[before].column &&
                strcasecmp(p->links.l[before].column->name, col->name) == 0)
                p->role[before] = W_FILTER;
            add_filter(p, t, col, op, SQLGEN_NUMBER, NULL, NULL);
            p->filters[p->nfilters - 1].subquery_avg = 1;
        } else if (c->op == SQLGEN_IN) {
            number_text(c->number[0], a);
            number_text(c->number[1], b);
            add_filter(p, t, col, SQLGEN_GE, SQLGEN_NUMBER, a, NULL);
            add_filter(p, t, col, SQLGEN_LE, SQLGEN_NUMBER, b, NULL);
        } else {
            number_text(c->number[0], a);
            add_filter(p, t, col, op, SQLGEN_NUMBER, a, NULL);
        }
    }
}

static void place_dates(struct plan *p, struct reading *r)
{
    for (size_t i = 0; i < r->ndate; i++) {
        size_t t = NONE;
        const struct catalog_column *c = NULL;
        size_t l = link_before(p, r->date[i].at, 2);
        if (l != NONE && p->links.l[l].kind == T2S_LINK_COLUMN && p->role[l] == W_NONE &&
            is_date(p->links.l[l].column)) {
            c = resolve(p, p->links.l[l].phrase, &t, is_date);
            p->role[l] = W_FILTER;
        }
        if (!c)
            c = date_column(p, &t);
        if (!c) {
            penalise(p, 0.4);
            continue;
        }
        struct datef *d = &r->date[i];
        if (r->relative_year && !d->lo[0] && !d->hi[0]) {
            int y = c->profile && c->profile->max ? atoi(c->profile->max) : 0;
            if (y < 1900) {
                penalise(p, 0.4);
                continue;
            }
            y -= r->relative_year == 1 ? 0 : 0; /* the data's latest year stands for "last" */
            ymd(d->lo, y, 1);
            ymd(d->hi, y + 1, 1);
            penalise(p, 0.9);
        }
        if (d->lo[0])
            add_filter(p, t, c, SQLGEN_GE, SQLGEN_DATE, d->lo, NULL);
        if (d->hi[0])
            add_filter(p, t, c, SQLGEN_LT, SQLGEN_DATE, d->hi, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Building                                                                 */
/* ------------------------------------------------------------------------ */

/* Selects (and groups by, when `group`) what names the rows of table t, or column c of it. */
static size_t select_entity(struct plan *p, size_t t, const struct catalog_column *c, int group)
{
    const struct catalog_column *cols[2] = {c, NULL};
    size_t n = c ? 1 : label_columns(&p->c->tables[t], cols);
    if (join_table(p, t, 0) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct sqlgen_term tm = term(p, t, cols[i], 0);
        tm.part = c && p->group_part && is_date(c) ? p->group_part : 0;
        sqlgen_select(p->query, &tm, NULL);
        if (group)
            sqlgen_group_by(p->query, &tm);
    }
    const struct catalog_table *tt = &p->c->tables[t];
    for (size_t i = 0; group && !c && i < tt->ncolumns; i++)
        if (tt->columns[i].pk_position > 0 && tt->columns[i].pk_position <= 4) {
            struct sqlgen_term tm = term(p, t, &tt->columns[i], 0);
            sqlgen_group_by(p->query, &tm);
        }
    return n;
}

static void apply_filters(struct plan *p)
{
    for (size_t i = 0; i < p->nfilters; i++) {
        struct filter *f = &p->filters[i];
        if (join_table(p, f->table, 0) < 0)
            return;
        struct sqlgen_term tm = term(p, f->table, f->column, 0);
        if (f->subquery_avg) {
            const struct catalog_table *t = &p->c->tables[f->table];
            struct sqlgen_query *sub = sqlgen_new(t->schema, t->name, NULL);
            sqlgen_select(sub, &(struct sqlgen_term){NULL, f->column->name, SQLGEN_AVG, 0}, NULL);
            sqlgen_where_subquery(p->query, &tm, f->op, sub);
            continue;
        }
        struct sqlgen_value v[2] = {{f->type, f->value[0]}, {f->type, f->value[1]}};
        sqlgen_where(p->query, &tm, f->op, v, f->nvalues);
    }
}

/*
 * "airports in Spain" when airlines have a country too: a value sampled in
 * another table's column goes to the subject's column of the same name.
 */
static const struct catalog_column *own_column(const struct plan *p, size_t t,
                                               const struct catalog_column *c, const char *value)
{
    if (t == p->subject || !c || !c->name)
        return c;
    const struct catalog_table *s = &p->c->tables[p->subject];
    for (size_t i = 0; i < s->ncolumns; i++) {
        const struct catalog_column *o = &s->columns[i];
        if (o->name && strcasecmp(o->name, c->name) == 0 && o->profile &&
            profile_has_value(o->profile, value))
            return o;
    }
    return c;
}

static void place_values(struct plan *p)
{
    for (size_t i = 0; i < p->links.n; i++) {
        struct t2s_link *l = &p->links.l[i];
        if (l->kind != T2S_LINK_VALUE || (p->role[i] != W_FILTER && p->role[i] != W_NEG))
            continue;
        int op = p->role[i] == W_NEG ? SQLGEN_NE : SQLGEN_EQ;
        if (l->table == NONE) { /* quoted, never sampled: text search on the subject's label */
            const struct catalog_column *cols[2];
            if (label_columns(&p->c->tables[p->subject], cols) == 0)
                continue;
            add_filter(p, p->subject, cols[0], p->role[i] == W_NEG ? SQLGEN_NE : SQLGEN_CONTAINS,
                       SQLGEN_TEXT, l->value, NULL);
            penalise(p, 0.8);
            continue;
        }
        if (l->score < 0.95)
            penalise(p, 0.95);
        size_t t = l->table;
        const struct catalog_column *col = own_column(p, l->table, l->column, l->value);
        if (col != l->column)
            t = p->subject;
        add_filter(p, t, col, op, value_type(l->column), l->value, NULL);
    }
}

/* The measure: a linked column, or what an adjective or "spent" implies. */
static void find_measure(struct plan *p)
{
    int (*want)(const struct catalog_column *) =
        p->agg == SQLGEN_SUM || p->agg == SQLGEN_AVG ? want_quantity : want_numeric;
    if (p->order_link != NONE && p->links.l[p->order_link].kind == T2S_LINK_COLUMN) {
        p->measure = resolve(p, p->links.l[p->order_link].phrase, &p->measure_t,
                             p->agg || p->super_dir ? want : NULL);
        if (p->measure || want != want_quantity)
            return;
        /* "total leave days": "leave" names an id, which is no quantity; look further. */
        p->role[p->order_link] = W_NONE;
        p->order_link = NONE;
    }
    if (p->order_link != NONE && p->links.l[p->order_link].kind == T2S_LINK_TABLE &&
        (p->links.l[p->order_link].table != p->subject || p->subject_link != NONE)) {
        p->super_count = 1;
        p->super_table = p->links.l[p->order_link].table;
        if (p->subject_link != NONE) { /* "which countries have the most customers" */
            size_t t;
            p->subject_col = resolve(p, p->links.l[p->subject_link].phrase, &t, NULL);
            if (p->subject_col && t == p->subject)
                p->role[p->subject_link] = W_GROUP;
            else
                p->subject_col = NULL;
        }
        return;
    }
    if (p->agg || p->super_dir)
        for (size_t i = 0; i < p->links.n; i++)
            if (p->links.l[i].kind == T2S_LINK_COLUMN && p->role[i] == W_NONE &&
                want(p->links.l[i].column) && i != p->subject_link) {
                p->measure = resolve(p, p->links.l[i].phrase, &p->measure_t, want);
                if (p->measure) {
                    p->role[i] = W_MEASURE;
                    return;
                }
            }
    if (p->adjective && (p->measure = implied_column(p, p->adjective, &p->measure_t)))
        return;
    if (p->money && (p->measure = money_column(p, &p->measure_t)))
        return;
    if (p->agg || p->super_dir) {
        /* The subject's one measure, when it has exactly one. */
        const struct catalog_table *t = &p->c->tables[p->subject];
        const struct catalog_column *only = NULL;
        size_t n = 0;
        for (size_t i = 0; i < t->ncolumns; i++)
            if (!is_key(t, &t->columns[i]) && is_numeric(&t->columns[i])) {
                only = &t->columns[i];
                n++;
            }
        if (n >= 1 && (p->agg || !p->super_count)) {
            p->measure = only;
            p->measure_t = p->subject;
            penalise(p, n == 1 ? 0.8 : 0.5);
        }
    }
}

/* "How many artists have more than 10 albums": key IN (SELECT fk FROM Album GROUP BY fk HAVING
 * ...). */
static int having_in(struct plan *p)
{
    json_t *path = p->graph
                       ? graph_join_path(p->graph, p->labels[p->subject], p->labels[p->super_table])
                       : NULL;
    if (!path || json_array_size(path) != 1) {
        json_decref(path);
        fail(p, "the count condition needs a direct relation");
        return -1;
    }
    json_t *step = json_array_get(path, 0);
    const char *from_col =
        json_string_value(json_array_get(json_object_get(step, "from_columns"), 0));
    const char *to_col = json_string_value(json_array_get(json_object_get(step, "to_columns"), 0));
    const struct catalog_table *o = &p->c->tables[p->super_table];
    struct sqlgen_query *sub = sqlgen_new(o->schema, o->name, NULL);
    sqlgen_select(sub, &(struct sqlgen_term){NULL, to_col, 0, 0}, NULL);
    sqlgen_group_by(sub, &(struct sqlgen_term){NULL, to_col, 0, 0});
    char v[T2S_PHRASE];
    number_text(p->having_value, v);
    sqlgen_having(sub, &(struct sqlgen_term){NULL, NULL, SQLGEN_COUNT, 0}, p->having_op,
                  &(struct sqlgen_value){SQLGEN_NUMBER, v}, 1);
    sqlgen_where_subquery(p->query, &(struct sqlgen_term){alias(p, p->subject), from_col, 0, 0},
                          SQLGEN_IN, sub);
    json_decref(path);
    return 0;
}

static void add_projection(struct plan *p)
{
    for (size_t i = 0; i < p->links.n && p->nproj < MAX_PROJ; i++) {
        struct t2s_link *l = &p->links.l[i];
        if (l->kind != T2S_LINK_COLUMN || p->role[i] != W_NONE)
            continue;
        size_t t;
        const struct catalog_column *c = resolve(p, l->phrase, &t, NULL);
        if (!c)
            continue;
        p->proj[p->nproj] = c;
        p->proj_t[p->nproj++] = t;
        p->role[i] = W_PROJ;
    }
}

static void build(struct plan *p, long limit)
{
    const struct catalog_table *s = &p->c->tables[p->subject];
    p->query = sqlgen_new(s->schema, s->name, "t0");
    p->tables[p->ntables++] = p->subject;
    find_measure(p);
    if (p->group_link != NONE) {
        struct t2s_link *g = &p->links.l[p->group_link];
        if (g->kind == T2S_LINK_COLUMN)
            p->group_col = resolve(p, g->phrase, &p->group_t, NULL);
        else
            p->group_t = g->table;
        if (g->kind == T2S_LINK_COLUMN && !p->group_col)
            penalise(p, 0.5);
    }
    if (p->measure && join_table(p, p->measure_t, 0) < 0)
        return;
    add_projection(p);
    /* A subject that is a column ("which countries"): its table's column, distinct. */
    if (!p->group_col && p->group_link == NONE && p->nproj && p->proj_t[0] == p->subject &&
        !p->count && !p->agg && (p->super_count || p->having_sum || p->super_table != NONE) &&
        p->anti_table == NONE)
        p->subject_col = p->proj[0], p->nproj = 0;
    apply_filters(p);
    if (p->failed)
        return;
    if (p->anti_table != NONE && p->anti_table != p->subject) {
        if (join_table(p, p->anti_table, 1) < 0)
            return;
        const struct catalog_table *a = &p->c->tables[p->anti_table];
        const struct catalog_column *k = NULL;
        for (size_t i = 0; i < a->ncolumns && !k; i++)
            if (a->columns[i].pk_position == 1)
                k = &a->columns[i];
        k = k ? k : &a->columns[0];
        struct sqlgen_term tm = term(p, p->anti_table, k, 0);
        sqlgen_where(p->query, &tm, SQLGEN_IS_NULL, NULL, 0);
    }
    int grouped = p->group_link != NONE || p->group_part || p->super_count ||
                  (p->super_table != NONE && !p->count) || p->having_sum ||
                  (p->super_dir && p->agg && p->measure && p->measure_t != p->subject) ||
                  (p->super_dir && p->money && p->measure && p->measure_t != p->subject);
    long n = p->top_n && (p->super_dir || p->order_dir)
                 ? p->top_n
                 : (p->super_dir && p->group_link == NONE ? 1 : 0);
    int agg = p->agg;
    if (p->count && p->group_link == NONE && !p->group_part && !p->super_dir) {
        /* One number. */
        if (p->super_table != NONE && p->has_having && having_in(p) < 0)
            return;
        const struct catalog_column *dc = p->distinct && p->nproj ? p->proj[0] : NULL;
        struct sqlgen_term tm =
            term(p, dc ? p->proj_t[0] : p->subject, dc, dc ? SQLGEN_COUNT_DISTINCT : SQLGEN_COUNT);
        if (dc && join_table(p, p->proj_t[0], 0) < 0)
            return;
        sqlgen_select(p->query, &tm, "count");
        return;
    }
    if (!grouped && agg && !p->super_dir) {
        if (!p->measure) {
            fail(p, "no column to aggregate");
            return;
        }
        struct sqlgen_term tm = term(p, p->measure_t, p->measure, agg);
        sqlgen_select(p->query, &tm, "value");
        return;
    }
    if (grouped) {
        if (p->group_link != NONE || p->group_part) {
            if (p->group_part && !p->group_col) {
                size_t t;
                const struct catalog_column *d = date_column(p, &t);
                if (!d) {
                    fail(p, "no date to group by");
                    return;
                }
                p->group_col = d;
                p->group_t = t;
            }
            select_entity(p, p->group_t, p->group_col, 1);
        } else
            select_entity(p, p->subject, p->subject_col, 1);
        struct sqlgen_term value;
        if (p->super_count || (p->super_table != NONE && !agg && !p->measure) ||
            (!agg && !p->measure) || (p->count && !agg)) {
            if (p->super_table != NONE && join_table(p, p->super_table, 0) < 0)
                return;
            value = term(p, p->subject, NULL, SQLGEN_COUNT);
        } else {
            if (!p->measure) {
                fail(p, "no column to aggregate");
                return;
            }
            value = term(p, p->measure_t, p->measure, agg ? agg : SQLGEN_SUM);
        }
        int list_only = p->has_having || p->having_sum;
        if (!list_only)
            sqlgen_select(p->query, &value, "value");
        if (p->has_having || p->having_sum) {
            char v[T2S_PHRASE];
            number_text(p->having_value, v);
            sqlgen_having(p->query, &value, p->having_op, &(struct sqlgen_value){SQLGEN_NUMBER, v},
                          1);
        }
        if (p->super_dir && !list_only) {
            sqlgen_order_by_output(p->query, "value", p->super_dir > 0);
            if (n)
                sqlgen_limit(p->query, n);
        } else if (p->order_dir && !list_only)
            sqlgen_order_by_output(p->query, "value", p->order_dir > 0);
        if (limit > 0 && !n)
            sqlgen_limit(p->query, limit);
        return;
    }
    /* Rows. */
    if (p->nproj) {
        for (size_t i = 0; i < p->nproj; i++) {
            if (join_table(p, p->proj_t[i], 0) < 0)
                return;
            struct sqlgen_term tm = term(p, p->proj_t[i], p->proj[i], 0);
            sqlgen_select(p->query, &tm, NULL);
        }
        if (p->nproj == 1 && p->proj_t[0] == p->subject && !p->super_dir &&
            !is_key(s, p->proj[0]) &&
            (p->distinct || p->links.l[0].kind == T2S_LINK_COLUMN || p->proj[0]->profile))
            sqlgen_distinct(p->query);
    } else
        select_entity(p, p->subject, NULL, 0);
    if (p->measure && (p->super_dir || p->order_dir)) {
        struct sqlgen_term tm = term(p, p->measure_t, p->measure, 0);
        if (p->super_dir)
            sqlgen_select(p->query, &tm, NULL);
        sqlgen_order_by(p->query, &tm, (p->super_dir ? p->super_dir : p->order_dir) > 0);
        if (p->super_dir)
            sqlgen_where(p->query, &tm, SQLGEN_IS_NOT_NULL, NULL, 0);
    } else if (p->super_dir) {
        fail(p, "no column to rank by");
        return;
    } else if (p->alpha) {
        const struct catalog_column *cols[2];
        if (label_columns(s, cols)) {
            struct sqlgen_term tm = term(p, p->subject, cols[0], 0);
            sqlgen_order_by(p->query, &tm, 0);
        }
    }
    long cap = n ? n : limit;
    if (n && limit > 0 && limit < n)
        cap = limit;
    if (cap > 0)
        sqlgen_limit(p->query, cap);
}

/* Content words nothing explained lower the confidence. */
static void count_unplaced(struct plan *p)
{
    for (size_t i = 0; i < p->q.n; i++) {
        const struct t2s_token *t = &p->q.tok[i];
        if (t->used || t2s_stopword_(t->text) || t->kind == T2S_TK_NUMBER)
            continue;
        penalise(p, 0.7);
    }
    for (size_t i = 0; i < p->links.n; i++)
        if (p->role[i] == W_NONE && p->links.l[i].kind == T2S_LINK_TABLE &&
            p->links.l[i].table != p->subject) {
            if (join_table(p, p->links.l[i].table, 0) < 0)
                return;
            penalise(p, 0.85); /* named but given no role: joined only */
        }
}

static void explain(struct plan *p, struct t2s_answer *out)
{
    char *text = NULL;
    const char *what = p->count               ? "Counts"
                       : p->agg == SQLGEN_SUM ? "Sums"
                       : p->agg == SQLGEN_AVG ? "Averages"
                       : p->agg == SQLGEN_MAX ? "Takes the maximum of"
                       : p->agg == SQLGEN_MIN ? "Takes the minimum of"
                                              : "Lists";
    if (asprintf(&text, "%s %s%s%s%s%s%s%s, %zu condition(s)%s.", what,
                 p->measure ? p->measure->name : "rows of ", p->measure ? " from " : "",
                 p->labels[p->subject],
                 p->group_link != NONE || p->group_part ? " grouped by " : "",
                 p->group_col            ? p->group_col->name
                 : p->group_link != NONE ? p->labels[p->group_t]
                                         : "",
                 p->super_dir ? (p->super_dir > 0 ? ", highest first" : ", lowest first") : "",
                 p->anti_table != NONE ? ", without a related row" : "",
                 p->nfilters + (p->has_having || p->having_sum ? 1 : 0),
                 p->ntables > 1 ? ", joined along the knowledge graph" : "") < 0)
        text = NULL;
    out->explanation = text;
}

static char **make_labels(const struct catalog *c)
{
    char **labels = calloc(c->ntables + 1, sizeof(char *));
    for (size_t i = 0; labels && i < c->ntables; i++)
        labels[i] = catalog_table_label(&c->tables[i]);
    return labels;
}

static void free_labels(char **labels, size_t n)
{
    for (size_t i = 0; labels && i < n; i++)
        free(labels[i]);
    free(labels);
}

static int refuse(struct t2s_answer *out, const char *why)
{
    out->query = NULL;
    out->confidence = 0;
    out->explanation = strdup(why);
    return -1;
}

int t2s_translate(const struct catalog *catalog, const json_t *graph, const char *question,
                  long limit, struct t2s_answer *out)
{
    memset(out, 0, sizeof(*out));
    if (!catalog || !question)
        return refuse(out, "no question");
    if (strlen(question) > T2S_MAX_QUESTION)
        return refuse(out, "the question is too long");
    struct plan *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    struct reading r;
    memset(&r, 0, sizeof(r));
    int rc = -1;
    p->c = catalog;
    p->graph = graph;
    p->conf = 1;
    p->group_link = p->order_link = p->super_table = p->anti_table = p->subject_link = NONE;
    p->labels = make_labels(catalog);
    p->columns = json_array();
    out->tables = json_array();
    if (!p->labels || !p->columns || !out->tables)
        goto out;
    if (t2s_normalize_(question, &p->q) < 0) {
        rc = refuse(out, "the question holds no words");
        goto out;
    }
    if (p->q.truncated)
        penalise(p, 0.5);
    read_constructs(p, &r);
    t2s_link_(catalog, &p->q, &p->links);
    if (assign_roles(p, &r) < 0 || p->subject >= catalog->ntables) {
        rc = refuse(out, p->why[0] ? p->why : "nothing in the question names the database");
        goto out;
    }
    place_comparisons(p, &r);
    place_values(p);
    place_dates(p, &r);
    build(p, limit);
    if (!p->failed)
        count_unplaced(p);
    if (p->failed) {
        rc = refuse(out, p->why);
        goto out;
    }
    struct quarry_error err;
    host_error_init(&err);
    out->query = sqlgen_render(p->query, catalog, &err);
    if (!out->query) {
        rc = refuse(out, err.message[0] ? err.message : "the query could not be rendered");
        goto out;
    }
    for (size_t i = 0; i < p->ntables; i++)
        json_array_append_new(out->tables, json_string(p->labels[p->tables[i]]));
    out->columns = json_incref(p->columns);
    out->confidence = p->conf < 0 ? 0 : p->conf > 1 ? 1 : p->conf;
    explain(p, out);
    rc = 0;
out:
    if (rc < 0 && out->tables) {
        json_decref(out->tables);
        out->tables = NULL;
    }
    sqlgen_free(p->query);
    json_decref(p->columns);
    free_labels(p->labels, catalog ? catalog->ntables : 0);
    free(p);
    return rc;
}

void t2s_answer_clear(struct t2s_answer *a)
{
    if (!a)
        return;
    free(a->query);
    free(a->explanation);
    json_decref(a->tables);
    json_decref(a->columns);
    memset(a, 0, sizeof(*a));
}

json_t *t2s_relevant_tables(const struct catalog *catalog, const json_t *graph,
                            const char *question, size_t max)
{
    json_t *out = json_array();
    struct t2s_question *q = calloc(1, sizeof(*q));
    struct t2s_links *links = calloc(1, sizeof(*links));
    char **labels = make_labels(catalog);
    if (!out || !q || !links || !labels || !question || strlen(question) > T2S_MAX_QUESTION ||
        t2s_normalize_(question, q) < 0)
        goto out;
    t2s_link_(catalog, q, links);
    for (size_t i = 0; i < links->n && json_array_size(out) < max; i++) {
        if (links->l[i].table >= catalog->ntables)
            continue;
        const char *label = labels[links->l[i].table];
        int seen = 0;
        size_t k;
        json_t *v;
        json_array_foreach(out, k, v) seen |= strcmp(json_string_value(v), label) == 0;
        if (!seen)
            json_array_append_new(out, json_string(label));
    }
    /* The tables on the paths between the first and the others. */
    size_t named = json_array_size(out);
    for (size_t i = 1; i < named && graph; i++) {
        json_t *path = graph_join_path(graph, json_string_value(json_array_get(out, 0)),
                                       json_string_value(json_array_get(out, i)));
        size_t k;
        json_t *step;
        json_array_foreach(path, k, step)
        {
            const char *t = json_string_value(json_object_get(step, "to_table"));
            int seen = 0;
            size_t m;
            json_t *v;
            json_array_foreach(out, m, v) seen |= strcmp(json_string_value(v), t) == 0;
            if (!seen && json_array_size(out) < max)
                json_array_append_new(out, json_string(t));
        }
        json_decref(path);
    }
out:
    free(q);
    free(links);
    free_labels(labels, catalog ? catalog->ntables : 0);
    return out;
}
