/* A catalog rebuilt from a stored semantic snapshot, for the engine to work from the registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "semantic.h"
#include "t2s.h"

#define MAX_SNAPSHOT_TABLES CATALOG_MAX_TABLES

static const char *static_type(const char *s)
{
    const char *const types[] = {
        SEM_IDENTIFIER, SEM_FOREIGN_KEY, SEM_EMAIL,    SEM_URL,     SEM_PHONE,    SEM_PERSON_NAME,
        SEM_CURRENCY,   SEM_PERCENTAGE,  SEM_DATETIME, SEM_BOOLEAN, SEM_CATEGORY, SEM_FREE_TEXT,
        SEM_GEO,        SEM_JSON,        SEM_BINARY,   SEM_NUMBER,  SEM_TEXT,     ROLE_FACT,
        ROLE_DIMENSION, ROLE_JUNCTION,   ROLE_LOOKUP};
    for (size_t i = 0; s && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(s, types[i]) == 0)
            return types[i];
    return NULL;
}

static char *dup_str(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *bound_text(const json_t *v)
{
    char buf[64];
    if (json_is_number(v)) {
        snprintf(buf, sizeof(buf), "%.17g", json_number_value(v));
        return strdup(buf);
    }
    return dup_str(v);
}

/* min/max and top values as a profile (top values double as the distinct values seen). */
static struct column_profile *profile_of(const json_t *col)
{
    const json_t *top = json_object_get(col, "top_values"), *mn = json_object_get(col, "min"),
                 *mx = json_object_get(col, "max"), *all = json_object_get(col, "values");
    if (!json_is_array(top) && !json_is_array(all) && json_is_null(mn) && json_is_null(mx))
        return NULL;
    struct column_profile *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->numeric = json_is_number(mn) || json_is_number(mx);
    p->num_min = json_number_value(mn);
    p->num_max = json_number_value(mx);
    p->min = bound_text(mn);
    p->max = bound_text(mx);
    p->sampled = 1;
    size_t i;
    const json_t *t;
    p->values = calloc(json_array_size(top) + json_array_size(all) + 1, sizeof(char *));
    json_array_foreach(top, i, t)
    {
        const char *v = json_string_value(json_object_get(t, "value"));
        if (!v || p->ntop == PROFILE_TOP_VALUES || !p->values)
            continue;
        p->top[p->ntop].value = strdup(v);
        p->top[p->ntop].count = (long)json_integer_value(json_object_get(t, "count"));
        if (p->top[p->ntop].value)
            p->ntop++;
        /* Without the whole set, the top values are the values seen. */
        if (!json_is_array(all) && (p->values[p->distinct] = strdup(v)))
            p->distinct++;
    }
    json_array_foreach(all, i, t)
    {
        if (p->values && json_is_string(t) &&
            (p->values[p->distinct] = strdup(json_string_value(t))))
            p->distinct++;
    }
    if (p->values)
        qsort(p->values, (size_t)p->distinct, sizeof(char *), by_string);
    long sum = 0;
    for (size_t k = 0; k < p->ntop; k++)
        sum += p->top[k].count;
    p->sampled = sum > 0 ? sum : 1;
    return p;
}

static int fill_column(struct catalog_column *c, const json_t *col, int ordinal)
{
    const json_t *nullable = json_object_get(col, "nullable");
    c->name = dup_str(json_object_get(col, "name"));
    c->type = dup_str(json_object_get(col, "type"));
    c->ordinal = ordinal;
    c->nullable = json_is_boolean(nullable) ? json_is_true(nullable) : -1;
    c->pk_position = json_is_true(json_object_get(col, "primary_key")) ? 1 : 0;
    c->semantic_type = static_type(json_string_value(json_object_get(col, "semantic_type")));
    c->pii = json_is_true(json_object_get(col, "pii"));
    c->description = dup_str(json_object_get(col, "description"));
    c->profile = profile_of(col);
    return c->name ? 0 : -1;
}

/* Foreign keys from the columns' "foreign_key" objects, one column each. */
static int fill_fks(struct catalog_table *t, const json_t *cols)
{
    size_t i, n = 0;
    const json_t *col;
    t->fks = calloc(json_array_size(cols) + 1, sizeof(*t->fks));
    if (!t->fks)
        return -1;
    json_array_foreach(cols, i, col)
    {
        const json_t *fk = json_object_get(col, "foreign_key");
        const char *table = json_string_value(json_object_get(fk, "table"));
        const char *column = json_string_value(json_object_get(fk, "column"));
        if (!table || !column || json_is_true(json_object_get(fk, "inferred")))
            continue; /* inferred joins come back through the graph */
        struct catalog_fk *f = &t->fks[n++];
        const char *dot = strrchr(table, '.');
        f->ncolumns = 1;
        f->columns = calloc(1, sizeof(char *));
        f->ref_columns = calloc(1, sizeof(char *));
        f->ref_table = strdup(dot ? dot + 1 : table);
        f->ref_schema = dot ? strndup(table, (size_t)(dot - table)) : NULL;
        if (!f->columns || !f->ref_columns || !f->ref_table)
            return t->nfks = n, -1;
        f->columns[0] = dup_str(json_object_get(col, "name"));
        f->ref_columns[0] = strdup(column);
        t->nfks = n;
        if (!f->columns[0] || !f->ref_columns[0])
            return -1;
    }
    return 0;
}

struct catalog *t2s_catalog_from_snapshot(const json_t *snapshot, const char *dialect,
                                          char identifier_quote, int limit_style)
{
    const json_t *tables = json_object_get(snapshot, "tables");
    if (!json_is_array(tables) || json_array_size(tables) > MAX_SNAPSHOT_TABLES)
        return NULL;
    struct catalog *c = catalog_new(NULL);
    if (!c)
        return NULL;
    snprintf(c->dialect, sizeof(c->dialect), "%s", dialect ? dialect : "");
    c->identifier_quote = identifier_quote;
    c->limit_style = limit_style;
    c->tables = calloc(json_array_size(tables) + 1, sizeof(*c->tables));
    if (!c->tables)
        goto fail;
    size_t i;
    const json_t *tj;
    json_array_foreach(tables, i, tj)
    {
        struct catalog_table *t = &c->tables[c->ntables++];
        const json_t *cols = json_object_get(tj, "columns");
        const char *kind = json_string_value(json_object_get(tj, "kind"));
        const json_t *rows = json_object_get(tj, "row_count");
        t->schema = dup_str(json_object_get(tj, "schema"));
        t->name = dup_str(json_object_get(tj, "name"));
        t->kind = !kind || strcmp(kind, "table") == 0 ? QUARRY_TABLE
                  : strcmp(kind, "view") == 0         ? QUARRY_VIEW
                  : strcmp(kind, "collection") == 0   ? QUARRY_COLLECTION
                                                      : QUARRY_MATERIALIZED_VIEW;
        t->row_estimate = json_is_integer(rows) ? json_integer_value(rows) : -1;
        t->role = static_type(json_string_value(json_object_get(tj, "role")));
        t->description = dup_str(json_object_get(tj, "description"));
        if (!t->name || !json_is_array(cols) || json_array_size(cols) > CATALOG_MAX_COLUMNS)
            goto fail;
        t->columns = calloc(json_array_size(cols) + 1, sizeof(*t->columns));
        if (!t->columns)
            goto fail;
        size_t k;
        const json_t *col;
        json_array_foreach(cols, k, col)
        {
            if (fill_column(&t->columns[t->ncolumns++], col, (int)k + 1) < 0)
                goto fail;
        }
        if (fill_fks(t, cols) < 0)
            goto fail;
    }
    return c;
fail:
    catalog_free(c);
    return NULL;
}
