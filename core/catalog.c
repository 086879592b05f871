#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "profile.h"

struct catalog *catalog_new(const struct quarry_driver *driver)
{
    struct catalog *c = calloc(1, sizeof(*c));
    if (c && driver) {
        snprintf(c->dialect, sizeof(c->dialect), "%s", driver->dialect ? driver->dialect : "");
        c->identifier_quote = driver->identifier_quote;
        c->limit_style = driver->limit_style;
    }
    return c;
}

static void free_strings(char **strings, size_t n)
{
    for (size_t i = 0; strings && i < n; i++)
        free(strings[i]);
    free(strings);
}

static void table_clear(struct catalog_table *t)
{
    for (size_t i = 0; i < t->ncolumns; i++) {
        struct catalog_column *col = &t->columns[i];
        free(col->name);
        free(col->type);
        free(col->default_value);
        free(col->comment);
        free(col->description);
        profile_free(col->profile);
    }
    for (size_t i = 0; i < t->nfks; i++) {
        free(t->fks[i].name);
        free_strings(t->fks[i].columns, t->fks[i].ncolumns);
        free(t->fks[i].ref_schema);
        free(t->fks[i].ref_table);
        free_strings(t->fks[i].ref_columns, t->fks[i].ncolumns);
    }
    for (size_t i = 0; i < t->nindexes; i++) {
        free(t->indexes[i].name);
        free_strings(t->indexes[i].columns, t->indexes[i].ncolumns);
    }
    free(t->columns);
    free(t->fks);
    free(t->indexes);
    free(t->schema);
    free(t->name);
    free(t->comment);
    free(t->description);
}

void catalog_free(struct catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->ntables; i++)
        table_clear(&c->tables[i]);
    free(c->tables);
    free(c);
}

/* ------------------------------------------------------------------------ */
/* The sink                                                                 */
/* ------------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Grows `*array` of `size`-byte items to hold one more; returns the new slot or NULL. */
static void *append_slot(void **array, size_t *count, size_t size)
{
    void *grown = realloc(*array, (*count + 1) * size);
    if (!grown)
        return NULL;
    *array = grown;
    void *slot = (char *)grown + *count * size;
    memset(slot, 0, size);
    (*count)++;
    return slot;
}

static int same_schema(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The table entries refer to: the last reported, which drivers report first. */
static struct catalog_table *owner(struct catalog *c, const char *schema, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = c->ntables; i > 0; i--) {
        struct catalog_table *t = &c->tables[i - 1];
        if (same_schema(t->schema, schema) && strcmp(t->name, name) == 0)
            return t;
    }
    return NULL;
}

static char **dup_list(const char *const *items, size_t n)
{
    char **copy = calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; copy && i < n; i++)
        copy[i] = dup_or_null(items[i]);
    return copy;
}

static int on_table(void *userdata, const struct quarry_table_info *raw)
{
    struct catalog *c = userdata;
    struct quarry_table_info info;
    host_copy_struct(&info, sizeof(info), raw);
    if (!info.name || c->ntables >= CATALOG_MAX_TABLES)
        return c->ntables >= CATALOG_MAX_TABLES ? QUARRY_SINK_STOP : QUARRY_SINK_CONTINUE;
    struct catalog_table *t = append_slot((void **)&c->tables, &c->ntables, sizeof(*t));
    if (!t)
        return QUARRY_SINK_STOP;
    t->schema = info.schema && *info.schema ? strdup(info.schema) : NULL;
    t->name = strdup(info.name);
    t->kind = info.kind;
    t->row_estimate = info.row_estimate;
    t->comment = dup_or_null(info.comment);
    return QUARRY_SINK_CONTINUE;
}

static int on_column(void *userdata, const struct quarry_column_info *raw)
{
    struct quarry_column_info info;
    host_copy_struct(&info, sizeof(info), raw);
    struct catalog_table *t = owner(userdata, info.schema, info.table);
    if (!t || !info.name || t->ncolumns >= CATALOG_MAX_COLUMNS)
        return QUARRY_SINK_CONTINUE;
    struct catalog_column *col = append_slot((void **)&t->columns, &t->ncolumns, sizeof(*col));
    if (!col)
        return QUARRY_SINK_STOP;
    col->name = strdup(info.name);
    col->type = dup_or_null(info.type);
    col->ordinal = info.ordinal ? info.ordinal : (int)t->ncolumns;
    col->nullable = info.nullable;
    col->default_value = dup_or_null(info.default_value);
    col->pk_position = info.pk_position;
    col->is_array = info.is_array;
    col->comment = dup_or_null(info.comment);
    return QUARRY_SINK_CONTINUE;
}

static int on_foreign_key(void *userdata, const struct quarry_foreign_key_info *raw)
{
    struct quarry_foreign_key_info info;
    host_copy_struct(&info, sizeof(info), raw);
    struct catalog_table *t = owner(userdata, info.schema, info.table);
    if (!t || !info.ref_table || info.ncolumns == 0 || info.ncolumns > 64 || !info.columns ||
        !info.ref_columns)
        return QUARRY_SINK_CONTINUE;
    struct catalog_fk *fk = append_slot((void **)&t->fks, &t->nfks, sizeof(*fk));
    if (!fk)
        return QUARRY_SINK_STOP;
    fk->name = dup_or_null(info.name);
    fk->ncolumns = info.ncolumns;
    fk->columns = dup_list(info.columns, info.ncolumns);
    fk->ref_schema = info.ref_schema && *info.ref_schema ? strdup(info.ref_schema) : NULL;
    fk->ref_table = strdup(info.ref_table);
    fk->ref_columns = dup_list(info.ref_columns, info.ncolumns);
    return QUARRY_SINK_CONTINUE;
}

static int on_index(void *userdata, const struct quarry_index_info *raw)
{
    struct quarry_index_info info;
    host_copy_struct(&info, sizeof(info), raw);
    struct catalog_table *t = owner(userdata, info.schema, info.table);
    if (!t || info.ncolumns > 64 || (info.ncolumns && !info.columns))
        return QUARRY_SINK_CONTINUE;
    struct catalog_index *ix = append_slot((void **)&t->indexes, &t->nindexes, sizeof(*ix));
    if (!ix)
        return QUARRY_SINK_STOP;
    ix->name = dup_or_null(info.name);
    ix->unique = info.unique;
    ix->primary = info.primary;
    ix->ncolumns = info.ncolumns;
    ix->columns = dup_list(info.columns, info.ncolumns);
    return QUARRY_SINK_CONTINUE;
}

void catalog_sink_init(struct quarry_catalog_sink *sink, struct catalog *catalog)
{
    memset(sink, 0, sizeof(*sink));
    QUARRY_STRUCT_INIT(sink);
    sink->userdata = catalog;
    sink->table = on_table;
    sink->column = on_column;
    sink->foreign_key = on_foreign_key;
    sink->index = on_index;
}

/* ------------------------------------------------------------------------ */
/* Lookups and names                                                        */
/* ------------------------------------------------------------------------ */

struct catalog_table *catalog_find_table(const struct catalog *c, const char *schema,
                                         const char *name)
{
    for (size_t i = 0; i < c->ntables; i++) {
        struct catalog_table *t = &c->tables[i];
        if (strcmp(t->name, name) == 0 && (!schema || same_schema(t->schema, schema)))
            return t;
    }
    return NULL;
}

struct catalog_column *catalog_find_column(const struct catalog_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncolumns; i++)
        if (strcmp(t->columns[i].name, name) == 0)
            return &t->columns[i];
    return NULL;
}

const char *catalog_kind_name(int kind)
{
    switch (kind) {
    case QUARRY_VIEW:
        return "view";
    case QUARRY_MATERIALIZED_VIEW:
        return "materialized_view";
    case QUARRY_COLLECTION:
        return "collection";
    default:
        return "table";
    }
}

char *catalog_table_label(const struct catalog_table *t)
{
    char *label = NULL;
    if (t->schema) {
        if (asprintf(&label, "%s.%s", t->schema, t->name) < 0)
            return NULL;
        return label;
    }
    return strdup(t->name);
}

char *catalog_quote(const struct catalog *c, const char *identifier)
{
    char q = c->identifier_quote;
    if (!q)
        return strdup(identifier);
    size_t len = strlen(identifier), extra = 0;
    for (size_t i = 0; i < len; i++)
        extra += identifier[i] == q;
    char *out = malloc(len + extra + 3);
    if (!out)
        return NULL;
    char *p = out;
    *p++ = q;
    for (size_t i = 0; i < len; i++) {
        if (identifier[i] == q)
            *p++ = q;
        *p++ = identifier[i];
    }
    *p++ = q;
    *p = '\0';
    return out;
}

char *catalog_table_ref(const struct catalog *c, const struct catalog_table *t)
{
    char *name = catalog_quote(c, t->name);
    if (!name || !t->schema)
        return name;
    char *schema = catalog_quote(c, t->schema);
    char *ref = NULL;
    if (schema && asprintf(&ref, "%s.%s", schema, name) < 0)
        ref = NULL;
    free(schema);
    free(name);
    return ref;
}
