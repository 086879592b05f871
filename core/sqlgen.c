#include "sqlgen.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "host.h"

struct term {
    char *table, *column;
    int agg, part;
};

struct value {
    int type;
    char *text;
};

struct cond {
    struct term term;
    int op;
    struct value *values;
    size_t nvalues;
    struct sqlgen_query *sub; /* the right-hand side is this query, not values */
};

struct item {
    struct term term;
    char *as;
};

struct order {
    struct term term; /* unused when `as` is set */
    char *as;         /* ordering by an output name */
    int desc;
};

struct join {
    int type;
    char *schema, *table, *alias, *left;
    size_t ncolumns;
    char *left_columns[SQLGEN_MAX_JOIN_COLUMNS];
    char *right_columns[SQLGEN_MAX_JOIN_COLUMNS];
};

struct sqlgen_query {
    char *schema, *table, *alias;
    struct join joins[SQLGEN_MAX_JOINS];
    size_t njoins;
    struct item select[SQLGEN_MAX_ITEMS];
    size_t nselect;
    struct cond where[SQLGEN_MAX_ITEMS];
    size_t nwhere;
    struct term group[SQLGEN_MAX_ITEMS];
    size_t ngroup;
    struct cond having[SQLGEN_MAX_ITEMS];
    size_t nhaving;
    struct order order[SQLGEN_MAX_ITEMS];
    size_t norder;
    int distinct;
    int64_t limit; /* 0: none */
    /* The first builder error, reported by sqlgen_render. */
    int error_status;
    char error[256];
};

/* ------------------------------------------------------------------------ */
/* Errors and validation                                                    */
/* ------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int fail(struct sqlgen_query *q, int status,
                                                      const char *fmt, ...)
{
    if (q->error_status == QUARRY_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(q->error, sizeof(q->error), fmt, ap);
        va_end(ap);
        q->error_status = status;
    }
    return -1;
}

/* Valid UTF-8, as jansson judges it. */
static int utf8_ok(const char *s)
{
    json_t *v = json_string(s);
    json_decref(v);
    return v != NULL;
}

static int identifier_ok(const char *s)
{
    return s && *s && strlen(s) <= SQLGEN_MAX_IDENTIFIER && utf8_ok(s);
}

static int digits(const char **p, int min, int max)
{
    int n = 0;
    while (isdigit((unsigned char)**p) && n < max) {
        (*p)++;
        n++;
    }
    return n >= min && !(n == max && isdigit((unsigned char)**p));
}

/* -?digits[.digits][e[+-]digits], bounded. */
static int number_ok(const char *s)
{
    const char *p = s;
    if (strlen(s) > 40)
        return 0;
    if (*p == '-')
        p++;
    if (!digits(&p, 1, 40))
        return 0;
    if (*p == '.') {
        p++;
        if (!digits(&p, 1, 40))
            return 0;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!digits(&p, 1, 3))
            return 0;
    }
    return *p == '\0' && isfinite(strtod(s, NULL));
}

static int bool_value(const char *s)
{
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
        return 1;
    if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
        return 0;
    return -1;
}

/* Parses YYYY-MM-DD at `*p`, advancing it. */
static int date_part_ok(const char **p)
{
    const char *s = *p;
    if (!digits(p, 4, 4) || *(*p)++ != '-' || !digits(p, 2, 2) || *(*p)++ != '-' ||
        !digits(p, 2, 2))
        return 0;
    int month = atoi(s + 5), day = atoi(s + 8);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/*
 * A timestamp in one canonical form: "YYYY-MM-DD HH:MM:SS[.f]" for SQL, or
 * "YYYY-MM-DDTHH:MM:SS.fffZ" for MongoDB's extended JSON. -1 when invalid.
 */
static int timestamp_form(const char *in, int iso, char out[64])
{
    const char *p = in;
    if (!date_part_ok(&p) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    const char *time = p;
    if (!digits(&p, 2, 2) || *p++ != ':' || !digits(&p, 2, 2))
        return -1;
    int hour = atoi(time), minute = atoi(time + 3), second = 0;
    if (*p == ':') {
        p++;
        const char *sec = p;
        if (!digits(&p, 2, 2))
            return -1;
        second = atoi(sec);
    }
    char frac[16] = "";
    if (*p == '.') {
        const char *f = ++p;
        if (!digits(&p, 1, 9))
            return -1;
        snprintf(frac, sizeof(frac), "%.*s", (int)(p - f), f);
    }
    if (*p == 'Z' || *p == 'z')
        p++;
    if (*p || hour > 23 || minute > 59 || second > 60)
        return -1;
    if (iso) {
        char ms[4] = "000";
        memcpy(ms, frac, strlen(frac) < 3 ? strlen(frac) : 3);
        snprintf(out, 64, "%.10sT%02d:%02d:%02d.%sZ", in, hour, minute, second, ms);
    } else {
        snprintf(out, 64, "%.10s %02d:%02d:%02d%s%s", in, hour, minute, second, frac[0] ? "." : "",
                 frac);
    }
    return 0;
}

static int value_ok(struct sqlgen_query *q, const struct sqlgen_value *v)
{
    char ts[64];
    const char *p = v->text;
    if (!v->text)
        return fail(q, QUARRY_ERR_INVALID, "a value has no text");
    switch (v->type) {
    case SQLGEN_TEXT:
        if (strlen(v->text) > SQLGEN_MAX_TEXT || !utf8_ok(v->text))
            return fail(q, QUARRY_ERR_INVALID, "text value too long or not UTF-8");
        return 0;
    case SQLGEN_NUMBER:
        return number_ok(v->text) ? 0 : fail(q, QUARRY_ERR_INVALID, "not a number: %.40s", v->text);
    case SQLGEN_BOOL:
        return bool_value(v->text) >= 0
                   ? 0
                   : fail(q, QUARRY_ERR_INVALID, "not a boolean: %.40s", v->text);
    case SQLGEN_DATE:
        return date_part_ok(&p) && !*p ? 0
                                       : fail(q, QUARRY_ERR_INVALID, "not a date: %.40s", v->text);
    case SQLGEN_TIMESTAMP:
        return timestamp_form(v->text, 0, ts) == 0
                   ? 0
                   : fail(q, QUARRY_ERR_INVALID, "not a timestamp: %.40s", v->text);
    default:
        return fail(q, QUARRY_ERR_INVALID, "unknown value type %d", v->type);
    }
}

/* ------------------------------------------------------------------------ */
/* Building                                                                 */
/* ------------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int copy_term(struct sqlgen_query *q, const struct sqlgen_term *in, struct term *out)
{
    memset(out, 0, sizeof(*out));
    if (!in)
        return fail(q, QUARRY_ERR_INVALID, "no term");
    if (in->agg < SQLGEN_AGG_NONE || in->agg > SQLGEN_MAX || in->part < SQLGEN_PART_NONE ||
        in->part > SQLGEN_DAY)
        return fail(q, QUARRY_ERR_INVALID, "unknown aggregate or date part");
    if (!in->column && (in->agg != SQLGEN_COUNT || in->part))
        return fail(q, QUARRY_ERR_INVALID, "only COUNT takes *");
    if ((in->column && !identifier_ok(in->column)) || (in->table && !identifier_ok(in->table)))
        return fail(q, QUARRY_ERR_INVALID, "bad column or table name");
    out->agg = in->agg;
    out->part = in->part;
    out->table = dup_or_null(in->table);
    out->column = dup_or_null(in->column);
    if ((in->table && !out->table) || (in->column && !out->column))
        return fail(q, QUARRY_ERR_NOMEM, "out of memory");
    return 0;
}

static void free_term(struct term *t)
{
    free(t->table);
    free(t->column);
}

static void free_cond(struct cond *c)
{
    free_term(&c->term);
    for (size_t i = 0; i < c->nvalues; i++)
        free(c->values[i].text);
    free(c->values);
    sqlgen_free(c->sub);
}

struct sqlgen_query *sqlgen_new(const char *schema, const char *table, const char *alias)
{
    struct sqlgen_query *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    if (!identifier_ok(table) || (schema && !identifier_ok(schema)) ||
        (alias && !identifier_ok(alias))) {
        fail(q, QUARRY_ERR_INVALID, "bad table, schema or alias name");
        return q;
    }
    q->schema = dup_or_null(schema);
    q->table = strdup(table);
    q->alias = dup_or_null(alias);
    if (!q->table || (schema && !q->schema) || (alias && !q->alias))
        fail(q, QUARRY_ERR_NOMEM, "out of memory");
    return q;
}

void sqlgen_free(struct sqlgen_query *q)
{
    if (!q)
        return;
    free(q->schema);
    free(q->table);
    free(q->alias);
    for (size_t i = 0; i < q->njoins; i++) {
        struct join *j = &q->joins[i];
        free(j->schema);
        free(j->table);
        free(j->alias);
        free(j->left);
        for (size_t c = 0; c < j->ncolumns; c++) {
            free(j->left_columns[c]);
            free(j->right_columns[c]);
        }
    }
    for (size_t i = 0; i < q->nselect; i++) {
        free_term(&q->select[i].term);
        free(q->select[i].as);
    }
    for (size_t i = 0; i < q->nwhere; i++)
        free_cond(&q->where[i]);
    for (size_t i = 0; i < q->ngroup; i++)
        free_term(&q->group[i]);
    for (size_t i = 0; i < q->nhaving; i++)
        free_cond(&q->having[i]);
    for (size_t i = 0; i < q->norder; i++) {
        free_term(&q->order[i].term);
        free(q->order[i].as);
    }
    free(q);
}

int sqlgen_join(struct sqlgen_query *q, int type, const char *schema, const char *table,
                const char *alias, const char *left, size_t ncolumns,
                const char *const *left_columns, const char *const *right_columns)
{
    if (!q)
        return -1;
    if (q->njoins == SQLGEN_MAX_JOINS)
        return fail(q, QUARRY_ERR_INVALID, "too many joins");
    if ((type != SQLGEN_JOIN_INNER && type != SQLGEN_JOIN_LEFT) || !identifier_ok(table) ||
        (schema && !identifier_ok(schema)) || (alias && !identifier_ok(alias)) ||
        !identifier_ok(left) || ncolumns == 0 || ncolumns > SQLGEN_MAX_JOIN_COLUMNS ||
        !left_columns || !right_columns)
        return fail(q, QUARRY_ERR_INVALID, "bad join");
    for (size_t i = 0; i < ncolumns; i++)
        if (!identifier_ok(left_columns[i]) || !identifier_ok(right_columns[i]))
            return fail(q, QUARRY_ERR_INVALID, "bad join column");
    struct join *j = &q->joins[q->njoins++];
    j->type = type;
    j->schema = dup_or_null(schema);
    j->table = strdup(table);
    j->alias = dup_or_null(alias);
    j->left = strdup(left);
    int nomem = !j->table || !j->left || (schema && !j->schema) || (alias && !j->alias);
    for (size_t i = 0; i < ncolumns; i++) {
        j->left_columns[i] = strdup(left_columns[i]);
        j->right_columns[i] = strdup(right_columns[i]);
        j->ncolumns++;
        nomem |= !j->left_columns[i] || !j->right_columns[i];
    }
    return nomem ? fail(q, QUARRY_ERR_NOMEM, "out of memory") : 0;
}

int sqlgen_select(struct sqlgen_query *q, const struct sqlgen_term *term, const char *as)
{
    if (!q)
        return -1;
    if (q->nselect == SQLGEN_MAX_ITEMS)
        return fail(q, QUARRY_ERR_INVALID, "too many select items");
    if (as && !identifier_ok(as))
        return fail(q, QUARRY_ERR_INVALID, "bad output name");
    struct item *it = &q->select[q->nselect];
    if (copy_term(q, term, &it->term) < 0) {
        free_term(&it->term);
        return -1;
    }
    q->nselect++;
    it->as = dup_or_null(as);
    return as && !it->as ? fail(q, QUARRY_ERR_NOMEM, "out of memory") : 0;
}

int sqlgen_distinct(struct sqlgen_query *q)
{
    if (!q)
        return -1;
    q->distinct = 1;
    return 0;
}

static int add_cond(struct sqlgen_query *q, struct cond *list, size_t *n, int having,
                    const struct sqlgen_term *term, int op, const struct sqlgen_value *values,
                    size_t nvalues)
{
    if (*n == SQLGEN_MAX_ITEMS)
        return fail(q, QUARRY_ERR_INVALID, "too many conditions");
    if (op < SQLGEN_EQ || op > SQLGEN_IS_NOT_NULL)
        return fail(q, QUARRY_ERR_INVALID, "unknown operator %d", op);
    size_t want_min = 1, want_max = 1;
    if (op == SQLGEN_IS_NULL || op == SQLGEN_IS_NOT_NULL)
        want_min = want_max = 0;
    else if (op == SQLGEN_IN)
        want_max = SQLGEN_MAX_VALUES;
    if (nvalues < want_min || nvalues > want_max || (nvalues && !values))
        return fail(q, QUARRY_ERR_INVALID, "wrong number of values for the operator");
    for (size_t i = 0; i < nvalues; i++) {
        if (value_ok(q, &values[i]) < 0)
            return -1;
        if ((op == SQLGEN_CONTAINS || op == SQLGEN_STARTS_WITH) && values[i].type != SQLGEN_TEXT)
            return fail(q, QUARRY_ERR_INVALID, "text matching needs a text value");
    }
    if (term && (term->agg != SQLGEN_AGG_NONE) != having)
        return fail(q, QUARRY_ERR_INVALID,
                    having ? "HAVING needs an aggregate"
                           : "aggregates belong in HAVING, not WHERE");
    struct cond *c = &list[*n];
    memset(c, 0, sizeof(*c));
    if (copy_term(q, term, &c->term) < 0) {
        free_term(&c->term);
        return -1;
    }
    (*n)++;
    c->op = op;
    c->values = calloc(nvalues ? nvalues : 1, sizeof(*c->values));
    if (!c->values)
        return fail(q, QUARRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nvalues; i++) {
        c->values[i].type = values[i].type;
        if (!(c->values[i].text = strdup(values[i].text)))
            return fail(q, QUARRY_ERR_NOMEM, "out of memory");
        c->nvalues++;
    }
    return 0;
}

int sqlgen_where(struct sqlgen_query *q, const struct sqlgen_term *term, int op,
                 const struct sqlgen_value *values, size_t nvalues)
{
    return q ? add_cond(q, q->where, &q->nwhere, 0, term, op, values, nvalues) : -1;
}

int sqlgen_having(struct sqlgen_query *q, const struct sqlgen_term *term, int op,
                  const struct sqlgen_value *values, size_t nvalues)
{
    return q ? add_cond(q, q->having, &q->nhaving, 1, term, op, values, nvalues) : -1;
}

static int has_subquery(const struct sqlgen_query *q)
{
    for (size_t i = 0; i < q->nwhere; i++)
        if (q->where[i].sub)
            return 1;
    return 0;
}

int sqlgen_where_subquery(struct sqlgen_query *q, const struct sqlgen_term *term, int op,
                          struct sqlgen_query *sub)
{
    if (!q || !sub) {
        sqlgen_free(sub);
        return q ? fail(q, QUARRY_ERR_INVALID, "no subquery") : -1;
    }
    if ((op < SQLGEN_EQ || op > SQLGEN_GE) && op != SQLGEN_IN) {
        sqlgen_free(sub);
        return fail(q, QUARRY_ERR_INVALID, "operator %d takes no subquery", op);
    }
    if (has_subquery(sub)) {
        sqlgen_free(sub);
        return fail(q, QUARRY_ERR_INVALID, "subqueries nest one level only");
    }
    if (sub->nselect != 1) {
        sqlgen_free(sub);
        return fail(q, QUARRY_ERR_INVALID, "a subquery selects exactly one item");
    }
    /* Validated like a value-less IS NULL, then given its right-hand side. */
    if (add_cond(q, q->where, &q->nwhere, 0, term, SQLGEN_IS_NULL, NULL, 0) < 0) {
        sqlgen_free(sub);
        return -1;
    }
    q->where[q->nwhere - 1].op = op;
    q->where[q->nwhere - 1].sub = sub;
    return 0;
}

int sqlgen_group_by(struct sqlgen_query *q, const struct sqlgen_term *term)
{
    if (!q)
        return -1;
    if (q->ngroup == SQLGEN_MAX_ITEMS)
        return fail(q, QUARRY_ERR_INVALID, "too many GROUP BY terms");
    if (term && term->agg != SQLGEN_AGG_NONE)
        return fail(q, QUARRY_ERR_INVALID, "cannot group by an aggregate");
    struct term *t = &q->group[q->ngroup];
    if (copy_term(q, term, t) < 0) {
        free_term(t);
        return -1;
    }
    q->ngroup++;
    return 0;
}

int sqlgen_order_by(struct sqlgen_query *q, const struct sqlgen_term *term, int descending)
{
    if (!q)
        return -1;
    if (q->norder == SQLGEN_MAX_ITEMS)
        return fail(q, QUARRY_ERR_INVALID, "too many ORDER BY terms");
    struct order *o = &q->order[q->norder];
    memset(o, 0, sizeof(*o));
    if (copy_term(q, term, &o->term) < 0) {
        free_term(&o->term);
        return -1;
    }
    o->desc = descending != 0;
    q->norder++;
    return 0;
}

int sqlgen_order_by_output(struct sqlgen_query *q, const char *as, int descending)
{
    if (!q)
        return -1;
    if (q->norder == SQLGEN_MAX_ITEMS)
        return fail(q, QUARRY_ERR_INVALID, "too many ORDER BY terms");
    if (!identifier_ok(as))
        return fail(q, QUARRY_ERR_INVALID, "bad output name");
    struct order *o = &q->order[q->norder];
    memset(o, 0, sizeof(*o));
    if (!(o->as = strdup(as)))
        return fail(q, QUARRY_ERR_NOMEM, "out of memory");
    o->desc = descending != 0;
    q->norder++;
    return 0;
}

int sqlgen_limit(struct sqlgen_query *q, int64_t n)
{
    if (!q)
        return -1;
    if (n < 1 || n > SQLGEN_MAX_LIMIT)
        return fail(q, QUARRY_ERR_INVALID, "limit out of range");
    q->limit = n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Shared by both renderers                                                 */
/* ------------------------------------------------------------------------ */

static int same_term(const struct term *a, const struct term *b)
{
    return a->agg == b->agg && a->part == b->part &&
           strcmp(a->table ? a->table : "", b->table ? b->table : "") == 0 &&
           strcmp(a->column ? a->column : "", b->column ? b->column : "") == 0;
}

static const char *base_qualifier(const struct sqlgen_query *q)
{
    return q->alias ? q->alias : q->table;
}

static const char *join_qualifier(const struct join *j)
{
    return j->alias ? j->alias : j->table;
}

/* -1 for the FROM table, else the join's index; -2 when unknown. */
static int qualifier_index(const struct sqlgen_query *q, const char *name, size_t njoins)
{
    if (!name || strcmp(name, base_qualifier(q)) == 0)
        return -1;
    for (size_t i = 0; i < njoins; i++)
        if (strcmp(name, join_qualifier(&q->joins[i])) == 0)
            return (int)i;
    return -2;
}

static int check_term(const struct sqlgen_query *q, const struct term *t, struct quarry_error *err)
{
    if (qualifier_index(q, t->table, q->njoins) != -2)
        return 0;
    host_services()->error_set(err, QUARRY_ERR_INVALID, NULL, 0, "unknown table or alias: %.100s",
                               t->table);
    return -1;
}

static int check_cond_terms(const struct sqlgen_query *q, const struct cond *list, size_t n,
                            struct quarry_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (check_term(q, &list[i].term, err) < 0)
            return -1;
    return 0;
}

/* Every qualifier names the FROM table or a join, each used once; joins refer backwards. */
static int check_query(const struct sqlgen_query *q, struct quarry_error *err)
{
    const struct quarry_host *h = host_services();
    if (q->error_status != QUARRY_OK) {
        h->error_set(err, q->error_status, NULL, 0, "%s", q->error);
        return -1;
    }
    for (size_t i = 0; i < q->njoins; i++) {
        const struct join *j = &q->joins[i];
        if (qualifier_index(q, join_qualifier(j), i) != -2) {
            h->error_set(err, QUARRY_ERR_INVALID, NULL, 0, "table or alias used twice: %.100s",
                         join_qualifier(j));
            return -1;
        }
        if (qualifier_index(q, j->left, i) == -2) {
            h->error_set(err, QUARRY_ERR_INVALID, NULL, 0, "join refers to unknown %.100s",
                         j->left);
            return -1;
        }
    }
    for (size_t i = 0; i < q->nselect; i++)
        if (check_term(q, &q->select[i].term, err) < 0)
            return -1;
    for (size_t i = 0; i < q->nwhere; i++)
        if (q->where[i].sub && check_query(q->where[i].sub, err) < 0)
            return -1;
    for (size_t i = 0; i < q->ngroup; i++)
        if (check_term(q, &q->group[i], err) < 0)
            return -1;
    for (size_t i = 0; i < q->norder; i++)
        if (!q->order[i].as && check_term(q, &q->order[i].term, err) < 0)
            return -1;
    return check_cond_terms(q, q->where, q->nwhere, err) < 0 ||
                   check_cond_terms(q, q->having, q->nhaving, err) < 0
               ? -1
               : 0;
}

int sqlgen_is_mongodb(const struct catalog *catalog)
{
    return strcmp(catalog->dialect, "mongodb") == 0;
}

static const char *agg_name(int agg)
{
    static const char *const names[] = {"", "count", "count_distinct", "sum", "avg", "min", "max"};
    return names[agg];
}

static const char *part_name(int part)
{
    static const char *const names[] = {"", "year", "month", "day"};
    return names[part];
}

/* ------------------------------------------------------------------------ */
/* SQL                                                                      */
/* ------------------------------------------------------------------------ */

enum dialect { D_OTHER, D_SQLITE, D_POSTGRES, D_MYSQL };

struct sql {
    const struct sqlgen_query *q;
    const struct catalog *catalog;
    int dialect;
    FILE *out;
    int nomem;
};

static void put_ident(struct sql *s, const char *name)
{
    char *quoted = catalog_quote(s->catalog, name);
    if (!quoted) {
        s->nomem = 1;
        return;
    }
    fputs(quoted, s->out);
    free(quoted);
}

static void put_table(struct sql *s, const char *schema, const char *table, const char *alias)
{
    if (schema) {
        put_ident(s, schema);
        fputc('.', s->out);
    }
    put_ident(s, table);
    if (alias) {
        fputs(" AS ", s->out);
        put_ident(s, alias);
    }
}

/* A string literal: quotes doubled; backslashes doubled where the dialect reads escapes. */
static void put_text(struct sql *s, const char *text)
{
    int backslashes = strchr(text, '\\') != NULL;
    int escape_backslash = s->dialect == D_MYSQL || (s->dialect == D_POSTGRES && backslashes);
    if (s->dialect == D_POSTGRES && backslashes)
        fputc('E', s->out); /* the same meaning whatever standard_conforming_strings says */
    fputc('\'', s->out);
    for (const char *p = text; *p; p++) {
        if (*p == '\'' || (*p == '\\' && escape_backslash))
            fputc(*p, s->out);
        fputc(*p, s->out);
    }
    fputc('\'', s->out);
}

static void put_value(struct sql *s, const struct value *v)
{
    char ts[64];
    switch (v->type) {
    case SQLGEN_NUMBER:
        fputs(v->text, s->out);
        break;
    case SQLGEN_BOOL:
        if (s->dialect == D_SQLITE)
            fputs(bool_value(v->text) ? "1" : "0", s->out);
        else
            fputs(bool_value(v->text) ? "TRUE" : "FALSE", s->out);
        break;
    case SQLGEN_TIMESTAMP:
        timestamp_form(v->text, 0, ts);
        put_text(s, ts);
        break;
    default: /* text, date */
        put_text(s, v->text);
        break;
    }
}

static void put_column(struct sql *s, const struct term *t)
{
    if (t->table) {
        put_ident(s, t->table);
        fputc('.', s->out);
    }
    put_ident(s, t->column);
}

static void put_date_part(struct sql *s, const struct term *t)
{
    static const char *const sqlite_formats[] = {"", "%Y", "%m", "%d"};
    static const char *const sql_parts[] = {"", "YEAR", "MONTH", "DAY"};
    switch (s->dialect) {
    case D_SQLITE:
        fprintf(s->out, "CAST(strftime('%s', ", sqlite_formats[t->part]);
        put_column(s, t);
        fputs(") AS INTEGER)", s->out);
        break;
    case D_MYSQL:
        fprintf(s->out, "%s(", sql_parts[t->part]);
        put_column(s, t);
        fputc(')', s->out);
        break;
    case D_POSTGRES:
        fprintf(s->out, "CAST(EXTRACT(%s FROM ", sql_parts[t->part]);
        put_column(s, t);
        fputs(") AS INTEGER)", s->out);
        break;
    default:
        fprintf(s->out, "EXTRACT(%s FROM ", sql_parts[t->part]);
        put_column(s, t);
        fputc(')', s->out);
        break;
    }
}

static void put_term(struct sql *s, const struct term *t)
{
    static const char *const functions[] = {"", "COUNT", "COUNT", "SUM", "AVG", "MIN", "MAX"};
    if (t->agg)
        fprintf(s->out, "%s(%s", functions[t->agg],
                t->agg == SQLGEN_COUNT_DISTINCT ? "DISTINCT " : "");
    if (!t->column)
        fputc('*', s->out);
    else if (t->part)
        put_date_part(s, t);
    else
        put_column(s, t);
    if (t->agg)
        fputc(')', s->out);
}

/* '%'- and '_'-free pattern text: each of \ % _ preceded by a backslash. */
static char *like_pattern(const char *text, int contains)
{
    size_t len = strlen(text);
    char *out = malloc(len * 2 + 3);
    if (!out)
        return NULL;
    char *p = out;
    if (contains)
        *p++ = '%';
    for (const char *c = text; *c; c++) {
        if (*c == '\\' || *c == '%' || *c == '_')
            *p++ = '\\';
        *p++ = *c;
    }
    *p++ = '%';
    *p = '\0';
    return out;
}

static char *render_sql(const struct sqlgen_query *q, const struct catalog *catalog,
                        struct quarry_error *err);

/* "op (SELECT ...)": the subquery rendered on its own, checked with the outer query. */
static void put_subquery(struct sql *s, const struct cond *c)
{
    static const char *const ops[] = {" = ", " <> ", " < ", " <= ", " > ", " >= "};
    struct quarry_error err;
    host_error_init(&err);
    char *text = render_sql(c->sub, s->catalog, &err);
    if (!text) {
        s->nomem = 1;
        return;
    }
    fputs(c->op == SQLGEN_IN ? " IN " : ops[c->op], s->out);
    fprintf(s->out, "(%s)", text);
    free(text);
}

static void put_cond(struct sql *s, const struct cond *c)
{
    static const char *const ops[] = {" = ", " <> ", " < ", " <= ", " > ", " >= "};
    put_term(s, &c->term);
    if (c->sub) {
        put_subquery(s, c);
        return;
    }
    switch (c->op) {
    case SQLGEN_IN:
        fputs(" IN (", s->out);
        for (size_t i = 0; i < c->nvalues; i++) {
            if (i)
                fputs(", ", s->out);
            put_value(s, &c->values[i]);
        }
        fputc(')', s->out);
        break;
    case SQLGEN_CONTAINS:
    case SQLGEN_STARTS_WITH: {
        char *pattern = like_pattern(c->values[0].text, c->op == SQLGEN_CONTAINS);
        if (!pattern) {
            s->nomem = 1;
            return;
        }
        fputs(s->dialect == D_POSTGRES ? " ILIKE " : " LIKE ", s->out);
        put_text(s, pattern);
        fputs(" ESCAPE ", s->out);
        put_text(s, "\\");
        free(pattern);
        break;
    }
    case SQLGEN_IS_NULL:
        fputs(" IS NULL", s->out);
        break;
    case SQLGEN_IS_NOT_NULL:
        fputs(" IS NOT NULL", s->out);
        break;
    default:
        fputs(ops[c->op], s->out);
        put_value(s, &c->values[0]);
        break;
    }
}

static void put_conds(struct sql *s, const char *keyword, const struct cond *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputs(i ? " AND " : keyword, s->out);
        put_cond(s, &list[i]);
    }
}

static void put_select(struct sql *s)
{
    const struct sqlgen_query *q = s->q;
    fputs(q->distinct ? "SELECT DISTINCT " : "SELECT ", s->out);
    if (q->limit && s->catalog->limit_style == QUARRY_LIMIT_TOP)
        fprintf(s->out, "TOP %lld ", (long long)q->limit);
    for (size_t i = 0; i < q->nselect; i++) {
        if (i)
            fputs(", ", s->out);
        put_term(s, &q->select[i].term);
        if (q->select[i].as) {
            fputs(" AS ", s->out);
            put_ident(s, q->select[i].as);
        }
    }
    if (q->nselect == 0)
        fputc('*', s->out);
}

static void put_joins(struct sql *s)
{
    for (size_t i = 0; i < s->q->njoins; i++) {
        const struct join *j = &s->q->joins[i];
        fputs(j->type == SQLGEN_JOIN_LEFT ? " LEFT JOIN " : " INNER JOIN ", s->out);
        put_table(s, j->schema, j->table, j->alias);
        for (size_t c = 0; c < j->ncolumns; c++) {
            fputs(c ? " AND " : " ON ", s->out);
            put_column(s, &(struct term){.table = j->left, .column = j->left_columns[c]});
            fputs(" = ", s->out);
            put_column(s, &(struct term){.table = (char *)join_qualifier(j),
                                         .column = j->right_columns[c]});
        }
    }
}

static void put_tail(struct sql *s)
{
    const struct sqlgen_query *q = s->q;
    for (size_t i = 0; i < q->ngroup; i++) {
        fputs(i ? ", " : " GROUP BY ", s->out);
        put_term(s, &q->group[i]);
    }
    put_conds(s, " HAVING ", q->having, q->nhaving);
    for (size_t i = 0; i < q->norder; i++) {
        fputs(i ? ", " : " ORDER BY ", s->out);
        if (q->order[i].as)
            put_ident(s, q->order[i].as);
        else
            put_term(s, &q->order[i].term);
        if (q->order[i].desc)
            fputs(" DESC", s->out);
    }
    if (q->limit && s->catalog->limit_style == QUARRY_LIMIT_FETCH)
        fprintf(s->out, " FETCH FIRST %lld ROWS ONLY", (long long)q->limit);
    else if (q->limit && s->catalog->limit_style != QUARRY_LIMIT_TOP)
        fprintf(s->out, " LIMIT %lld", (long long)q->limit);
}

/* Output names an ORDER BY may use: the `as` of a select item. */
static int check_sql_outputs(const struct sqlgen_query *q, struct quarry_error *err)
{
    for (size_t i = 0; i < q->norder; i++) {
        if (!q->order[i].as)
            continue;
        int found = 0;
        for (size_t k = 0; k < q->nselect && !found; k++)
            found = q->select[k].as && strcmp(q->select[k].as, q->order[i].as) == 0;
        if (!found) {
            host_services()->error_set(err, QUARRY_ERR_INVALID, NULL, 0,
                                       "ORDER BY names no select item: %.100s", q->order[i].as);
            return -1;
        }
    }
    return 0;
}

static char *render_sql(const struct sqlgen_query *q, const struct catalog *catalog,
                        struct quarry_error *err)
{
    if (check_sql_outputs(q, err) < 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    struct sql s = {q, catalog, D_OTHER, open_memstream(&text, &len), 0};
    if (!s.out)
        goto nomem;
    if (strcmp(catalog->dialect, "sqlite") == 0)
        s.dialect = D_SQLITE;
    else if (strcmp(catalog->dialect, "postgresql") == 0)
        s.dialect = D_POSTGRES;
    else if (strcmp(catalog->dialect, "mysql") == 0)
        s.dialect = D_MYSQL;
    put_select(&s);
    fputs(" FROM ", s.out);
    put_table(&s, q->schema, q->table, q->alias);
    put_joins(&s);
    put_conds(&s, " WHERE ", q->where, q->nwhere);
    put_tail(&s);
    int failed = ferror(s.out) || s.nomem;
    if (fclose(s.out) != 0 || failed)
        goto nomem;
    return text;
nomem:
    free(text);
    host_services()->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* MongoDB                                                                  */
/* ------------------------------------------------------------------------ */

struct mongo {
    const struct sqlgen_query *q;
    struct quarry_error *err;
    char *names[SQLGEN_MAX_ITEMS]; /* output name per select item */
    int failed;
};

__attribute__((format(printf, 3, 4))) static void mfail(struct mongo *m, int status,
                                                        const char *fmt, ...)
{
    if (!m->failed) {
        char message[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        host_services()->error_set(m->err, status, NULL, 0, "%s", message);
    }
    m->failed = 1;
}

/* A field path: non-empty segments, none starting with '$'. */
static int field_path_ok(const char *path)
{
    if (!path || !*path || *path == '.')
        return 0;
    for (const char *p = path; *p; p++) {
        if (*p == '.' && (p[1] == '.' || p[1] == '\0' || p[1] == '$'))
            return 0;
    }
    return *path != '$';
}

/* A name for one output field: no dots, no leading '$'. */
static int output_name_ok(const char *name)
{
    return name && *name && *name != '$' && !strchr(name, '.');
}

/* The field path of a term: joined collections' fields live under the join's alias. */
static char *field_path(struct mongo *m, const struct term *t)
{
    int index = qualifier_index(m->q, t->table, m->q->njoins);
    char *path = NULL;
    if (!field_path_ok(t->column)) {
        mfail(m, QUARRY_ERR_INVALID, "not a field path: %.100s", t->column ? t->column : "*");
        return NULL;
    }
    if (index < 0)
        path = strdup(t->column);
    else if (asprintf(&path, "%s.%s", join_qualifier(&m->q->joins[index]), t->column) < 0)
        path = NULL;
    if (!path)
        mfail(m, QUARRY_ERR_NOMEM, "out of memory");
    return path;
}

/* "$path" as an expression. */
static json_t *field_ref(struct mongo *m, const struct term *t)
{
    char *path = field_path(m, t), *ref = NULL;
    json_t *v = NULL;
    if (path && asprintf(&ref, "$%s", path) >= 0) {
        v = json_string(ref);
        free(ref);
    }
    free(path);
    return v;
}

/* The column expression of a term, its date part applied. */
static json_t *column_expr(struct mongo *m, const struct term *t)
{
    static const char *const ops[] = {"", "$year", "$month", "$dayOfMonth"};
    json_t *ref = field_ref(m, t);
    if (!ref || !t->part)
        return ref;
    return json_pack("{s:o}", ops[t->part], ref);
}

static json_t *mongo_value(struct mongo *m, const struct value *v)
{
    char ts[64];
    switch (v->type) {
    case SQLGEN_NUMBER: {
        const char *p = v->text + (v->text[0] == '-');
        if (strspn(p, "0123456789") == strlen(p)) {
            errno = 0;
            long long n = strtoll(v->text, NULL, 10);
            if (errno == 0)
                return json_integer(n);
        }
        return json_real(strtod(v->text, NULL));
    }
    case SQLGEN_BOOL:
        return json_boolean(bool_value(v->text));
    case SQLGEN_DATE:
        snprintf(ts, sizeof(ts), "%.10sT00:00:00.000Z", v->text);
        return json_pack("{s:s}", "$date", ts);
    case SQLGEN_TIMESTAMP:
        timestamp_form(v->text, 1, ts);
        return json_pack("{s:s}", "$date", ts);
    default:
        (void)m;
        return json_string(v->text);
    }
}

/* A regular expression matching `text` literally. */
static json_t *regex_literal(const char *text, int anchored)
{
    size_t len = strlen(text);
    char *out = malloc(len * 2 + 2), *p = out;
    if (!out)
        return NULL;
    if (anchored)
        *p++ = '^';
    for (const char *c = text; *c; c++) {
        if (strchr("\\^$.|?*+()[]{}/", *c))
            *p++ = '\\';
        *p++ = *c;
    }
    *p = '\0';
    json_t *v = json_string(out);
    free(out);
    return v;
}

/* {"$op": value} for one condition. */
static json_t *mongo_predicate(struct mongo *m, const struct cond *c)
{
    static const char *const ops[] = {"$eq", "$ne", "$lt", "$lte", "$gt", "$gte"};
    switch (c->op) {
    case SQLGEN_IN: {
        json_t *list = json_array();
        for (size_t i = 0; list && i < c->nvalues; i++)
            json_array_append_new(list, mongo_value(m, &c->values[i]));
        return json_pack("{s:o}", "$in", list);
    }
    case SQLGEN_CONTAINS:
    case SQLGEN_STARTS_WITH:
        return json_pack("{s:o, s:s}", "$regex",
                         regex_literal(c->values[0].text, c->op == SQLGEN_STARTS_WITH), "$options",
                         "i");
    case SQLGEN_IS_NULL:
        return json_pack("{s:n}", "$eq");
    case SQLGEN_IS_NOT_NULL:
        return json_pack("{s:n}", "$ne");
    default:
        return json_pack("{s:o}", ops[c->op], mongo_value(m, &c->values[0]));
    }
}

/* A $match stage of ANDed conditions, each {field: predicate}. */
static json_t *mongo_match(struct mongo *m, const struct cond *list, size_t n, char **fields)
{
    json_t *all = json_array();
    for (size_t i = 0; all && i < n; i++) {
        json_t *cond = json_pack("{s:o}", fields[i], mongo_predicate(m, &list[i]));
        if (!cond || json_array_append_new(all, cond) < 0)
            mfail(m, QUARRY_ERR_NOMEM, "out of memory");
    }
    if (!all)
        return NULL;
    if (json_array_size(all) == 1) {
        json_t *only = json_incref(json_array_get(all, 0));
        json_decref(all);
        return json_pack("{s:o}", "$match", only);
    }
    return json_pack("{s:{s:o}}", "$match", "$and", all);
}

static int is_grouped(const struct sqlgen_query *q)
{
    if (q->ngroup || q->nhaving || q->distinct)
        return 1;
    for (size_t i = 0; i < q->nselect; i++)
        if (q->select[i].term.agg)
            return 1;
    return 0;
}

/* The output name of select item `i`: its `as`, else one derived from the term. */
static char *derive_name(const struct item *it)
{
    const struct term *t = &it->term;
    char *name = NULL;
    if (it->as)
        return strdup(it->as);
    if (!t->column)
        return strdup("count");
    const char *col = t->column;
    int r = t->agg ? asprintf(&name, "%s_%s%s%s", agg_name(t->agg), col, t->part ? "_" : "",
                              part_name(t->part))
                   : asprintf(&name, "%s%s%s", col, t->part ? "_" : "", part_name(t->part));
    if (r < 0)
        return NULL;
    for (char *p = name; *p; p++)
        if (*p == '.')
            *p = '_';
    return name;
}

static int mongo_names(struct mongo *m)
{
    for (size_t i = 0; i < m->q->nselect; i++) {
        m->names[i] = derive_name(&m->q->select[i]);
        if (!m->names[i]) {
            mfail(m, QUARRY_ERR_NOMEM, "out of memory");
            return -1;
        }
        if (!output_name_ok(m->names[i])) {
            mfail(m, QUARRY_ERR_INVALID, "not a MongoDB output name: %.100s", m->names[i]);
            return -1;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(m->names[k], m->names[i]) == 0) {
                mfail(m, QUARRY_ERR_INVALID, "two outputs named %.100s", m->names[i]);
                return -1;
            }
        }
    }
    return 0;
}

/* The select item an output name or a term refers to, or -1. */
static int find_output(const struct mongo *m, const char *as, const struct term *t)
{
    for (size_t i = 0; i < m->q->nselect; i++)
        if (as ? strcmp(m->names[i], as) == 0 : same_term(&m->q->select[i].term, t))
            return (int)i;
    return -1;
}

static int mongo_lookups(struct mongo *m, json_t *pipeline)
{
    const struct sqlgen_query *q = m->q;
    for (size_t i = 0; i < q->njoins; i++) {
        const struct join *j = &q->joins[i];
        const char *as = join_qualifier(j);
        if (j->ncolumns != 1 || strcmp(j->schema ? j->schema : "", q->schema ? q->schema : "")) {
            mfail(m, QUARRY_ERR_UNSUPPORTED, "MongoDB joins take one column in the same database");
            return -1;
        }
        if (!output_name_ok(as) || !field_path_ok(j->right_columns[0])) {
            mfail(m, QUARRY_ERR_INVALID, "not a MongoDB field name: %.100s", as);
            return -1;
        }
        char *local = field_path(m, &(struct term){.table = j->left, .column = j->left_columns[0]});
        char *unwind = NULL;
        if (!local || asprintf(&unwind, "$%s", as) < 0) {
            free(local);
            mfail(m, QUARRY_ERR_NOMEM, "out of memory");
            return -1;
        }
        json_t *lookup =
            json_pack("{s:{s:s, s:s, s:s, s:s}}", "$lookup", "from", j->table, "localField", local,
                      "foreignField", j->right_columns[0], "as", as);
        json_t *unwind_stage = j->type == SQLGEN_JOIN_LEFT
                                   ? json_pack("{s:{s:s, s:b}}", "$unwind", "path", unwind,
                                               "preserveNullAndEmptyArrays", 1)
                                   : json_pack("{s:s}", "$unwind", unwind);
        free(local);
        free(unwind);
        if (json_array_append_new(pipeline, lookup) < 0 ||
            json_array_append_new(pipeline, unwind_stage) < 0) {
            mfail(m, QUARRY_ERR_NOMEM, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int mongo_where(struct mongo *m, json_t *pipeline)
{
    const struct sqlgen_query *q = m->q;
    if (q->nwhere == 0)
        return 0;
    char *fields[SQLGEN_MAX_ITEMS] = {0};
    int status = -1;
    for (size_t i = 0; i < q->nwhere; i++) {
        if (q->where[i].sub) {
            mfail(m, QUARRY_ERR_UNSUPPORTED, "MongoDB filters on subqueries are not supported");
            goto out;
        }
        if (q->where[i].term.part) {
            mfail(m, QUARRY_ERR_UNSUPPORTED, "MongoDB filters on date parts are not supported");
            goto out;
        }
        if (!(fields[i] = field_path(m, &q->where[i].term)))
            goto out;
    }
    json_t *match = mongo_match(m, q->where, q->nwhere, fields);
    status = match && json_array_append_new(pipeline, match) == 0 ? 0 : -1;
out:
    for (size_t i = 0; i < q->nwhere; i++)
        free(fields[i]);
    return status;
}

static json_t *accumulator(struct mongo *m, const struct term *t)
{
    static const char *const ops[] = {"", "$sum", "$addToSet", "$sum", "$avg", "$min", "$max"};
    if (t->agg == SQLGEN_COUNT && !t->column)
        return json_pack("{s:i}", "$sum", 1);
    json_t *expr = column_expr(m, t);
    if (!expr)
        return NULL;
    if (t->agg == SQLGEN_COUNT) /* non-null values only, as SQL counts them */
        return json_pack("{s:{s:[{s:[o, n]}, i, i]}}", "$sum", "$cond", "$ne", expr, 1, 0);
    return json_pack("{s:o}", ops[t->agg], expr);
}

/* The group keys: GROUP BY terms, or the select items of a DISTINCT. */
static size_t group_keys(const struct sqlgen_query *q, const struct term **keys)
{
    size_t n = 0;
    if (q->ngroup) {
        for (size_t i = 0; i < q->ngroup; i++)
            keys[n++] = &q->group[i];
    } else if (q->distinct) {
        for (size_t i = 0; i < q->nselect; i++)
            keys[n++] = &q->select[i].term;
    }
    return n;
}

static json_t *group_stage(struct mongo *m, const struct term **keys, size_t nkeys)
{
    json_t *id = nkeys == 0 ? json_null() : nkeys == 1 ? column_expr(m, keys[0]) : json_object();
    for (size_t i = 0; nkeys > 1 && id && i < nkeys; i++) {
        char key[24];
        snprintf(key, sizeof(key), "k%zu", i);
        json_object_set_new(id, key, column_expr(m, keys[i]));
    }
    json_t *group = json_pack("{s:o}", "_id", id);
    for (size_t i = 0; group && i < m->q->nselect; i++) {
        if (m->q->select[i].term.agg &&
            json_object_set_new(group, m->names[i], accumulator(m, &m->q->select[i].term)) < 0)
            mfail(m, QUARRY_ERR_NOMEM, "out of memory");
    }
    return group ? json_pack("{s:o}", "$group", group) : NULL;
}

static json_t *grouped_project(struct mongo *m, const struct term **keys, size_t nkeys)
{
    json_t *project = json_object();
    int has_id = find_output(m, "_id", NULL) >= 0;
    if (!project || (!has_id && json_object_set_new(project, "_id", json_integer(0)) < 0))
        return NULL;
    for (size_t i = 0; i < m->q->nselect; i++) {
        const struct term *t = &m->q->select[i].term;
        char ref[300];
        json_t *v;
        if (t->agg == SQLGEN_COUNT_DISTINCT) {
            snprintf(ref, sizeof(ref), "$%s", m->names[i]);
            v = json_pack("{s:s}", "$size", ref);
        } else if (t->agg) {
            snprintf(ref, sizeof(ref), "$%s", m->names[i]);
            v = json_string(ref);
        } else {
            size_t k = 0;
            while (k < nkeys && !same_term(keys[k], t))
                k++;
            if (k == nkeys) {
                mfail(m, QUARRY_ERR_INVALID, "%.100s is neither grouped nor aggregated", t->column);
                json_decref(project);
                return NULL;
            }
            snprintf(ref, sizeof(ref), nkeys == 1 ? "$_id" : "$_id.k%zu", k);
            v = json_string(ref);
        }
        if (json_object_set_new(project, m->names[i], v) < 0)
            mfail(m, QUARRY_ERR_NOMEM, "out of memory");
    }
    return json_pack("{s:o}", "$project", project);
}

/* $sort on output names (grouped) or field paths (not grouped). */
static json_t *sort_stage(struct mongo *m, int grouped)
{
    json_t *sort = json_object();
    for (size_t i = 0; sort && i < m->q->norder && !m->failed; i++) {
        const struct order *o = &m->q->order[i];
        int item = find_output(m, o->as, &o->term);
        const struct term *t = o->as ? (item >= 0 ? &m->q->select[item].term : NULL) : &o->term;
        char *key = NULL;
        if (grouped && item >= 0) {
            key = strdup(m->names[item]);
        } else if (!grouped && t && !t->part && !t->agg) {
            key = field_path(m, t);
        } else {
            mfail(m, QUARRY_ERR_UNSUPPORTED, "MongoDB cannot order by that here");
            break;
        }
        if (key)
            json_object_set_new(sort, key, json_integer(o->desc ? -1 : 1));
        free(key);
    }
    return sort ? json_pack("{s:o}", "$sort", sort) : NULL;
}

static json_t *plain_project(struct mongo *m)
{
    json_t *project = json_object();
    if (project && find_output(m, "_id", NULL) < 0)
        json_object_set_new(project, "_id", json_integer(0));
    for (size_t i = 0; project && i < m->q->nselect; i++)
        if (json_object_set_new(project, m->names[i], column_expr(m, &m->q->select[i].term)) < 0)
            mfail(m, QUARRY_ERR_NOMEM, "out of memory");
    return json_pack("{s:o}", "$project", project);
}

static int append(struct mongo *m, json_t *pipeline, json_t *stage)
{
    if (m->failed) {
        json_decref(stage);
        return -1;
    }
    if (!stage || json_array_append_new(pipeline, stage) < 0) {
        mfail(m, QUARRY_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

static int mongo_having(struct mongo *m, json_t *pipeline)
{
    char *fields[SQLGEN_MAX_ITEMS] = {0};
    for (size_t i = 0; i < m->q->nhaving; i++) {
        int item = find_output(m, NULL, &m->q->having[i].term);
        if (item < 0) {
            mfail(m, QUARRY_ERR_UNSUPPORTED, "MongoDB HAVING needs its aggregate selected");
            return -1;
        }
        fields[i] = m->names[item]; /* borrowed */
    }
    return m->q->nhaving ? append(m, pipeline, mongo_match(m, m->q->having, m->q->nhaving, fields))
                         : 0;
}

static int mongo_stages(struct mongo *m, json_t *pipeline)
{
    const struct sqlgen_query *q = m->q;
    if (mongo_names(m) < 0 || mongo_lookups(m, pipeline) < 0 || mongo_where(m, pipeline) < 0)
        return -1;
    if (is_grouped(q)) {
        const struct term *keys[SQLGEN_MAX_ITEMS];
        size_t nkeys = group_keys(q, keys);
        if (append(m, pipeline, group_stage(m, keys, nkeys)) < 0 ||
            append(m, pipeline, grouped_project(m, keys, nkeys)) < 0 ||
            mongo_having(m, pipeline) < 0 ||
            (q->norder && append(m, pipeline, sort_stage(m, 1)) < 0) ||
            (q->limit &&
             append(m, pipeline, json_pack("{s:I}", "$limit", (json_int_t)q->limit)) < 0))
            return -1;
        return 0;
    }
    if ((q->norder && append(m, pipeline, sort_stage(m, 0)) < 0) ||
        (q->limit && append(m, pipeline, json_pack("{s:I}", "$limit", (json_int_t)q->limit)) < 0) ||
        (q->nselect && append(m, pipeline, plain_project(m)) < 0))
        return -1;
    return 0;
}

static char *render_mongo(const struct sqlgen_query *q, struct quarry_error *err)
{
    struct mongo m = {.q = q, .err = err};
    char *text = NULL;
    json_t *pipeline = json_array();
    if (!field_path_ok(q->table) || strchr(q->table, '.')) {
        mfail(&m, QUARRY_ERR_INVALID, "not a collection name: %.100s", q->table);
    } else if (!pipeline) {
        mfail(&m, QUARRY_ERR_NOMEM, "out of memory");
    } else if (mongo_stages(&m, pipeline) == 0 && !m.failed) {
        json_t *command = json_pack("{s:s, s:O}", "aggregate", q->table, "pipeline", pipeline);
        text = command ? json_dumps(command, JSON_COMPACT) : NULL;
        json_decref(command);
        if (!text)
            mfail(&m, QUARRY_ERR_NOMEM, "out of memory");
    }
    json_decref(pipeline);
    for (size_t i = 0; i < q->nselect; i++)
        free(m.names[i]);
    return text;
}

/* ------------------------------------------------------------------------ */

char *sqlgen_render(const struct sqlgen_query *q, const struct catalog *catalog,
                    struct quarry_error *err)
{
    if (!q || !catalog) {
        host_services()->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "no query");
        return NULL;
    }
    if (check_query(q, err) < 0)
        return NULL;
    return sqlgen_is_mongodb(catalog) ? render_mongo(q, err) : render_sql(q, catalog, err);
}
