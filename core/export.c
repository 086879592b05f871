#include "export.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "catalog.h"
#include "config.h"
#include "connections.h"
#include "documents.h"
#include "export_stager.h"
#include "export_text.h"
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
#define EXPORT_WAL_PAGES_DEFAULT 1000 /* SQLite's, for the job's handle afterwards */

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

    struct export_stager *stager;
    long docs_new, docs_kept;
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
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "connection_id",
        run->connection_id, "connection_name", run->state.name, "database_type",
        run->state.database_type, "schema", t->schema ? json_string(t->schema) : json_null(),
        "table", label, "kind", kind, "format",
        kind[0] == 'o' ? "markdown" : export_format_name(run->format), "mime_type",
        kind[0] == 'o' || run->format == EXPORT_MARKDOWN ? "text/markdown" : "application/x-ndjson",
        "snapshot_version",
        run->snapshot_version ? json_integer(run->snapshot_version) : json_null(), "export_task_id",
        run->job_id, "exported_at", now);
}

/* Hands a document to the writer; takes `p` (NULL: out of memory). 0, or -1. */
static int submit(struct export_run *run, struct export_doc *p, const char *label)
{
    if (p && p->content && p->title && p->metadata && export_stager_submit(run->stager, p) == 0)
        return 0;
    if (p && (!p->content || !p->title || !p->metadata))
        export_doc_free(p);
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
    json_t *columns;         /* the names, for metadata */
    struct export_text head; /* markdown: the table's header rows */
    struct export_cells cells;
    struct export_cells sample_cells;
    struct export_text page;    /* the rows of the page being written */
    struct export_text doc;     /* markdown: the page as stored, heading included */
    struct export_text samples; /* markdown rows of the first few rows, for the overview */
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
    export_text_free(&w->head);
    export_text_free(&w->cells.scratch);
    export_text_free(&w->sample_cells.scratch);
    export_text_free(&w->page);
    export_text_free(&w->doc);
    export_text_free(&w->samples);
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
    w->sample_cells.format = EXPORT_MARKDOWN;
    export_text_str(&w->head, "|");
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
        export_text_char(&w->head, ' ');
        export_text_markdown(&w->head, name, strlen(name));
        export_text_str(&w->head, " |");
    }
    export_text_str(&w->head, "\n|");
    for (size_t i = 0; i < n; i++)
        export_text_str(&w->head, " --- |");
    export_text_char(&w->head, '\n');
    return w->head.failed ? QUARRY_SINK_STOP : QUARRY_SINK_CONTINUE;
nomem:
    fail_with(&w->run->failure, "internal", "out of memory exporting %s", w->label);
    w->stopped = 1;
    return QUARRY_SINK_STOP;
}

static void write_row(struct export_cells *cw, struct export_text *out, const struct page_writer *w,
                      const struct quarry_value *values, size_t n)
{
    if (cw->format == EXPORT_JSONL) {
        export_text_char(out, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                export_text_char(out, ',');
            export_text_add(out, w->keys[i], w->key_lens[i]);
            export_cells_value(cw, out, &values[i]);
        }
        export_text_str(out, "}\n");
        return;
    }
    export_text_char(out, '|');
    for (size_t i = 0; i < n; i++) {
        export_text_char(out, ' ');
        export_cells_value(cw, out, &values[i]);
        export_text_str(out, " |");
    }
    export_text_char(out, '\n');
}

static int flush_page(struct page_writer *w)
{
    struct export_run *run = w->run;
    if (w->page_rows == 0)
        return 0;
    int64_t first = w->rows - w->page_rows + 1;
    struct export_doc *p = calloc(1, sizeof(*p));
    if (!p || w->page.failed ||
        asprintf(&p->title, "%.*s: rows %lld-%lld", EXPORT_NAME_MAX, w->label, (long long)first,
                 (long long)w->rows) < 0) {
        if (p)
            p->title = NULL;
        export_doc_free(p);
        fail_with(&run->failure, "internal", "out of memory exporting %s", w->label);
        return -1;
    }
    if (run->format == EXPORT_MARKDOWN) {
        export_text_clear(&w->doc);
        export_text_str(&w->doc, "## ");
        export_text_str(&w->doc, p->title);
        export_text_str(&w->doc, "\n\n");
        export_text_add(&w->doc, w->head.data, w->head.len);
        export_text_add(&w->doc, w->page.data, w->page.len);
        if (!w->doc.failed)
            p->content = export_text_take(&w->doc, &p->len);
    } else {
        p->content = export_text_take(&w->page, &p->len);
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
    p->format = export_format_name(run->format);
    p->part = w->part + 1;
    w->part++;
    w->page_rows = 0;
    export_text_clear(&w->page);
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
    struct export_text t = {0};
    size_t len = text ? strlen(text) : 0;
    if (text &&
        export_text_markdown(&t, text, len > 400 ? export_text_utf8_cut(text, 400) : len) != 0)
        export_text_str(&t, "(not UTF-8)");
    fprintf(out, " %s |", t.data ? t.data : "");
    export_text_free(&t);
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
            (long long)rows, documents, run->rows_per_document, export_format_name(run->format));
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
    struct export_doc *p = calloc(1, sizeof(*p));
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
        export_format_name(run->format), "rows_per_document", run->rows_per_document,
        "snapshot_version",
        run->snapshot_version ? json_integer(run->snapshot_version) : json_null(),
        "tables_exported", (json_int_t)run->ntables, "tables", run->table_results, "rows",
        (json_int_t)run->rows, "documents", (json_int_t)(run->docs_new + run->docs_kept),
        "documents_new", (json_int_t)run->docs_new, "documents_kept", (json_int_t)run->docs_kept,
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
    run.format = format && strcmp(format, "jsonl") == 0 ? EXPORT_JSONL : EXPORT_MARKDOWN;
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
        run.stager = export_stager_start(run.registry, run.job_id, run.connection_id);
        if (!run.stager)
            fail_with(&run.failure, "internal", "out of memory");
        rc = run.stager ? export_all(&run) : -1;
        /* Everything handed over is stored (or storing failed) before anything else. */
        if (run.stager && export_stager_finish(run.stager, &run.docs_new, &run.docs_kept) != 0 &&
            rc == 0) {
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
                 run.job_id, (long long)run.rows, run.ntables, run.docs_new + run.docs_kept,
                 run.docs_new, (double)(host_now_ms() - started) / 1000.0);
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
