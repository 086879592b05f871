/* The catalog recorder of the SQL driver suites; see catalog_rec.h. */
#include "catalog_rec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver_testlib.h"
#include "host.h"

/* "schema.table", or "table" without a schema. */
static char *qualified(const char *schema, const char *table)
{
    char *out = NULL;
    if (!schema || !*schema)
        return dup_or_null(table ? table : "");
    return asprintf(&out, "%s.%s", schema, table ? table : "") < 0 ? NULL : out;
}

/* Every entry must belong to the table reported last, and nothing may follow a STOP. */
static char *cat_check(struct cat_rec *r, const char *schema, const char *table)
{
    char *name = qualified(schema, table);
    if (r->stopped)
        r->after_stop++;
    if (!r->current || !name || strcmp(r->current, name) != 0)
        r->misordered++;
    return name;
}

static int cat_table_cb(void *ud, const struct quarry_table_info *t)
{
    struct cat_rec *r = ud;
    if (r->stopped)
        r->after_stop++;
    r->current = NULL;
    if (r->ntables < CAT_MAX) {
        struct cat_table *e = &r->tables[r->ntables];
        e->name = qualified(t->schema, t->name);
        e->kind = t->kind;
        e->rows = t->row_estimate;
        e->comment = dup_or_null(t->comment);
        r->current = e->name;
    }
    r->ntables++;
    if (r->stop_after_tables && r->ntables >= r->stop_after_tables) {
        r->stopped = 1;
        return QUARRY_SINK_STOP;
    }
    return QUARRY_SINK_CONTINUE;
}

static int cat_column_cb(void *ud, const struct quarry_column_info *c)
{
    struct cat_rec *r = ud;
    char *table = cat_check(r, c->schema, c->table);
    if (r->ncolumns < CAT_MAX) {
        struct cat_column *e = &r->columns[r->ncolumns];
        e->table = table;
        table = NULL;
        e->name = strdup(c->name);
        e->type = dup_or_null(c->type);
        e->dflt = dup_or_null(c->default_value);
        e->comment = dup_or_null(c->comment);
        e->ordinal = c->ordinal;
        e->nullable = c->nullable;
        e->pk = c->pk_position;
    }
    free(table);
    r->ncolumns++;
    return QUARRY_SINK_CONTINUE;
}

static int cat_fk_cb(void *ud, const struct quarry_foreign_key_info *fk)
{
    struct cat_rec *r = ud;
    char *table = cat_check(r, fk->schema, fk->table);
    if (r->nfks < CAT_MAX) {
        struct cat_fk *e = &r->fks[r->nfks];
        e->table = table;
        table = NULL;
        e->name = dup_or_null(fk->name);
        e->cols = join(fk->columns, fk->ncolumns);
        e->ref_table = qualified(fk->ref_schema, fk->ref_table);
        e->ref_cols = join(fk->ref_columns, fk->ncolumns);
    }
    free(table);
    r->nfks++;
    return QUARRY_SINK_CONTINUE;
}

static int cat_index_cb(void *ud, const struct quarry_index_info *ix)
{
    struct cat_rec *r = ud;
    char *table = cat_check(r, ix->schema, ix->table);
    if (r->nindexes < CAT_MAX) {
        struct cat_index *e = &r->indexes[r->nindexes];
        e->table = table;
        table = NULL;
        e->name = strdup(ix->name);
        e->cols = join(ix->columns, ix->ncolumns);
        e->unique = ix->unique;
        e->primary = ix->primary;
    }
    free(table);
    r->nindexes++;
    return QUARRY_SINK_CONTINUE;
}

void cat_free(struct cat_rec *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < CAT_MAX; i++) {
        free(r->tables[i].name);
        free(r->tables[i].comment);
        free(r->columns[i].table);
        free(r->columns[i].name);
        free(r->columns[i].type);
        free(r->columns[i].dflt);
        free(r->columns[i].comment);
        free(r->fks[i].table);
        free(r->fks[i].name);
        free(r->fks[i].cols);
        free(r->fks[i].ref_table);
        free(r->fks[i].ref_cols);
        free(r->indexes[i].table);
        free(r->indexes[i].name);
        free(r->indexes[i].cols);
    }
    free(r);
}

struct cat_rec *dt_introspect(const struct quarry_driver *drv, struct quarry_conn *conn,
                              const char *const *schemas, size_t nschemas, size_t stop_after_tables,
                              int32_t timeout_ms, int *status, struct quarry_error *err)
{
    struct cat_rec *r = calloc(1, sizeof(*r));
    if (!r) {
        *status = QUARRY_ERR_NOMEM;
        return NULL;
    }
    struct host_call call;
    struct quarry_catalog_sink sink;
    struct quarry_introspect_opts opts;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = r;
    sink.table = cat_table_cb;
    sink.column = cat_column_cb;
    sink.foreign_key = cat_fk_cb;
    sink.index = cat_index_cb;
    memset(&opts, 0, sizeof(opts));
    QUARRY_STRUCT_INIT(&opts);
    opts.schemas = schemas;
    opts.nschemas = nschemas;
    host_call_init(&call, timeout_ms, 0);
    host_error_init(err);
    r->stop_after_tables = stop_after_tables;
    *status = conn ? drv->introspect(conn, &call.ctx, &opts, &sink, err) : -1;
    if (*status != QUARRY_OK && *status != QUARRY_ERR_TIMEOUT)
        fprintf(stderr, "\n  introspect: %s\n", err->message);
    return r;
}

const struct cat_table *find_table(const struct cat_rec *r, const char *name)
{
    for (size_t i = 0; i < r->ntables && i < CAT_MAX; i++)
        if (strcmp(r->tables[i].name, name) == 0)
            return &r->tables[i];
    return NULL;
}

const struct cat_column *find_column(const struct cat_rec *r, const char *table, const char *name)
{
    for (size_t i = 0; i < r->ncolumns && i < CAT_MAX; i++)
        if (strcmp(r->columns[i].table, table) == 0 && strcmp(r->columns[i].name, name) == 0)
            return &r->columns[i];
    return NULL;
}

size_t count_columns(const struct cat_rec *r, const char *table)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ncolumns && i < CAT_MAX; i++)
        n += strcmp(r->columns[i].table, table) == 0;
    return n;
}

const struct cat_fk *find_fk(const struct cat_rec *r, const char *table, const char *cols)
{
    for (size_t i = 0; i < r->nfks && i < CAT_MAX; i++)
        if (strcmp(r->fks[i].table, table) == 0 && strcmp(r->fks[i].cols, cols) == 0)
            return &r->fks[i];
    return NULL;
}

const struct cat_index *find_index(const struct cat_rec *r, const char *name)
{
    for (size_t i = 0; i < r->nindexes && i < CAT_MAX; i++)
        if (strcmp(r->indexes[i].name, name) == 0)
            return &r->indexes[i];
    return NULL;
}
