/*
 * Documents as rows.
 *
 * The row shape: a MongoDB result is a stream of documents that need not
 * share fields, while a row sink wants its columns up front. So the driver
 * reads ahead a window of documents (MONGO_WINDOW_DOCS, at most
 * MONGO_WINDOW_BYTES) and makes one column per top-level field seen in it,
 * in first-seen order (`_id` first for find results, as MongoDB stores it).
 * A row lacking a field has NULL there. Nested documents and arrays are JSON
 * values (relaxed Extended JSON); see mongo_values.c for scalars.
 *
 * When the stream goes on past the window (or the window held more than
 * MONGO_MAX_COLUMNS distinct fields), one more column, `_extra` (JSON), holds
 * the fields of later documents that have no column of their own, so nothing
 * is silently dropped; it is NULL in rows that have no such field. A result
 * of no documents has no columns.
 *
 * Column types: `type` is the value type of the first non-null value in the
 * window (TEXT when every value was null); `decl_type` lists the BSON types
 * seen there, e.g. "string|null".
 */
#include <stdlib.h>
#include <string.h>

#include "mongo_internal.h"

#define EXTRA_COLUMN "_extra"
#define DECL_MAX 96

struct columns {
    char **names;
    uint32_t *types; /* BSON type set seen in the window */
    int32_t *first;  /* quarry_value_type of the first non-null value; -1: none yet */
    size_t n;
    int overflow; /* the window had more fields than MONGO_MAX_COLUMNS */
};

struct stream {
    mongoc_cursor_t *cursor;
    const struct quarry_ctx *ctx;
    uint64_t max_rows;
    uint64_t emitted;
    const struct quarry_row_sink *sink;
    struct quarry_error *err;
    bson_t **window;
    size_t nwindow;
    int more; /* rows may follow the window */
    struct columns cols;
    int has_extra;
    size_t nvalues; /* cols.n, plus one for _extra */
    struct quarry_value *values;
    struct mongo_value_buf *bufs;
};

static int nomem(struct quarry_error *err)
{
    return mongo_host->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
}

static int cursor_failed(struct stream *s)
{
    bson_error_t error;
    if (!mongoc_cursor_error(s->cursor, &error))
        return QUARRY_OK;
    return mongo_fail(s->err, &error, "query");
}

/* Reads ahead up to the window's bounds; sets s->more. */
static int read_window(struct stream *s)
{
    size_t bytes = 0;
    const bson_t *doc;
    int status;

    s->window = calloc(MONGO_WINDOW_DOCS, sizeof(*s->window));
    if (!s->window)
        return nomem(s->err);
    s->more = 1;
    while (s->nwindow < MONGO_WINDOW_DOCS && bytes < MONGO_WINDOW_BYTES) {
        if (s->max_rows && s->nwindow == s->max_rows) {
            s->more = 0; /* the cap is reached: no row follows the window */
            return QUARRY_OK;
        }
        if ((status = mongo_ctx_check(s->ctx, s->err)) != QUARRY_OK)
            return status;
        if (!mongoc_cursor_next(s->cursor, &doc)) {
            s->more = 0;
            return cursor_failed(s);
        }
        if (!(s->window[s->nwindow] = bson_copy(doc)))
            return nomem(s->err);
        s->nwindow++;
        bytes += doc->len;
    }
    return QUARRY_OK;
}

/* The column named `key`; `hint` is where it usually is (the field's position). */
static ssize_t column_find(const struct columns *cols, const char *key, size_t hint)
{
    if (hint < cols->n && strcmp(cols->names[hint], key) == 0)
        return (ssize_t)hint;
    for (size_t i = 0; i < cols->n; i++)
        if (strcmp(cols->names[i], key) == 0)
            return (ssize_t)i;
    return -1;
}

static int columns_alloc(struct columns *cols)
{
    cols->names = calloc(MONGO_MAX_COLUMNS, sizeof(*cols->names));
    cols->types = calloc(MONGO_MAX_COLUMNS, sizeof(*cols->types));
    cols->first = calloc(MONGO_MAX_COLUMNS, sizeof(*cols->first));
    return cols->names && cols->types && cols->first ? 0 : -1;
}

static int columns_add_doc(struct columns *cols, const bson_t *doc)
{
    bson_iter_t it;
    size_t pos = 0;
    if (!bson_iter_init(&it, doc))
        return 0;
    for (; bson_iter_next(&it); pos++) {
        const char *key = bson_iter_key(&it);
        ssize_t i = column_find(cols, key, pos);
        if (i < 0) {
            if (cols->n == MONGO_MAX_COLUMNS) {
                cols->overflow = 1;
                continue;
            }
            if (!(cols->names[cols->n] = strdup(key)))
                return -1;
            cols->first[cols->n] = -1;
            i = (ssize_t)cols->n++;
        }
        bson_type_t type = bson_iter_type(&it);
        cols->types[i] |= mongo_type_bit(type);
        if (cols->first[i] < 0 && mongo_value_type(type) != QUARRY_VALUE_NULL)
            cols->first[i] = mongo_value_type(type);
    }
    return 0;
}

static void columns_free(struct columns *cols)
{
    for (size_t i = 0; cols->names && i < cols->n; i++)
        free(cols->names[i]);
    free(cols->names);
    free(cols->types);
    free(cols->first);
}

/* Decides the columns from the window and calls sink->begin. */
static int begin(struct stream *s, int *answer)
{
    int status = QUARRY_OK;
    struct quarry_column *columns = NULL;
    char(*decls)[DECL_MAX] = NULL;

    if (columns_alloc(&s->cols) != 0)
        return nomem(s->err);
    for (size_t i = 0; i < s->nwindow; i++)
        if (columns_add_doc(&s->cols, s->window[i]) != 0)
            return nomem(s->err);
    s->has_extra = s->nwindow > 0 && (s->more || s->cols.overflow);
    s->nvalues = s->cols.n + (s->has_extra ? 1 : 0);

    columns = calloc(s->nvalues + 1, sizeof(*columns));
    decls = calloc(s->nvalues + 1, sizeof(*decls));
    s->values = calloc(s->nvalues + 1, sizeof(*s->values));
    s->bufs = calloc(s->nvalues + 1, sizeof(*s->bufs));
    if (!columns || !decls || !s->values || !s->bufs) {
        status = nomem(s->err);
        goto out;
    }
    for (size_t i = 0; i < s->cols.n; i++) {
        QUARRY_STRUCT_INIT(&columns[i]);
        columns[i].name = s->cols.names[i];
        columns[i].type = s->cols.first[i] < 0 ? QUARRY_VALUE_TEXT : s->cols.first[i];
        mongo_type_set_format(s->cols.types[i], decls[i], DECL_MAX);
        columns[i].decl_type = decls[i];
    }
    if (s->has_extra) {
        QUARRY_STRUCT_INIT(&columns[s->cols.n]);
        columns[s->cols.n].name = EXTRA_COLUMN;
        columns[s->cols.n].type = QUARRY_VALUE_JSON;
        columns[s->cols.n].decl_type = "object";
    }
    *answer = s->sink->begin ? s->sink->begin(s->sink->userdata, columns, s->nvalues)
                             : QUARRY_SINK_CONTINUE;
out:
    free(columns);
    free(decls);
    return status;
}

/* One document as one row. */
static int emit(struct stream *s, const bson_t *doc, int *answer)
{
    bson_t extra = BSON_INITIALIZER;
    bson_iter_t it;
    size_t pos = 0;
    int status = QUARRY_OK;

    for (size_t i = 0; i < s->nvalues; i++) {
        memset(&s->values[i], 0, sizeof(s->values[i]));
        s->bufs[i].owned = NULL;
    }
    if (!bson_iter_init(&it, doc)) {
        status = mongo_host->error_set(s->err, QUARRY_ERR_INTERNAL, NULL, 0,
                                       "the server sent a malformed document");
        goto out;
    }
    for (; bson_iter_next(&it); pos++) {
        ssize_t i = column_find(&s->cols, bson_iter_key(&it), pos);
        if (i >= 0) {
            mongo_value_buf_release(&s->bufs[i]); /* a repeated key: the last one wins */
            mongo_value_from_iter(&it, &s->values[i], &s->bufs[i]);
        } else if (s->has_extra) {
            bson_append_iter(&extra, NULL, 0, &it);
        }
    }
    if (s->has_extra && !bson_empty(&extra))
        mongo_value_from_doc(&extra, &s->values[s->cols.n], &s->bufs[s->cols.n]);
    *answer = s->sink->row ? s->sink->row(s->sink->userdata, s->values, s->nvalues)
                           : QUARRY_SINK_CONTINUE;
    s->emitted++;
out:
    for (size_t i = 0; i < s->nvalues; i++)
        mongo_value_buf_release(&s->bufs[i]);
    bson_destroy(&extra);
    return status;
}

static int done(const struct stream *s, int answer)
{
    return answer == QUARRY_SINK_STOP || (s->max_rows && s->emitted >= s->max_rows);
}

static int stream_run(struct stream *s)
{
    int answer = QUARRY_SINK_CONTINUE;
    int status;
    const bson_t *doc;

    if ((status = read_window(s)) != QUARRY_OK)
        return status;
    if ((status = begin(s, &answer)) != QUARRY_OK)
        return status;
    for (size_t i = 0; i < s->nwindow && !done(s, answer); i++)
        if ((status = emit(s, s->window[i], &answer)) != QUARRY_OK)
            return status;
    while (s->more && !done(s, answer)) {
        if ((status = mongo_ctx_check(s->ctx, s->err)) != QUARRY_OK)
            return status;
        if (!mongoc_cursor_next(s->cursor, &doc)) {
            if ((status = cursor_failed(s)) != QUARRY_OK)
                return status;
            break;
        }
        if ((status = emit(s, doc, &answer)) != QUARRY_OK)
            return status;
    }
    if (s->sink->end)
        s->sink->end(s->sink->userdata);
    return QUARRY_OK;
}

int mongo_rows_stream(mongoc_cursor_t *cursor, const struct quarry_ctx *ctx, uint64_t max_rows,
                      const struct quarry_row_sink *sink, struct quarry_error *err)
{
    struct stream s = {
        .cursor = cursor, .ctx = ctx, .max_rows = max_rows, .sink = sink, .err = err};
    int status = stream_run(&s);
    for (size_t i = 0; s.window && i < s.nwindow; i++)
        bson_destroy(s.window[i]);
    free(s.window);
    columns_free(&s.cols);
    free(s.values);
    free(s.bufs);
    return status;
}
