/*
 * The catalog of one MongoDB database, with the schema inferred from samples.
 *
 * Collections and views come from listCollections (system.* skipped, sorted
 * by name). MongoDB has no schemas: `opts->schemas` is ignored and every
 * entry reports schema NULL. For each one, a bounded $sample of documents
 * (opts->sample_documents, default MONGO_DEFAULT_SAMPLE) gives its fields:
 *   - nested fields as dotted paths ("address.city"), fields of documents
 *     inside arrays too ("items.sku"), down to MONGO_MAX_DEPTH levels and at
 *     most MONGO_MAX_FIELDS fields;
 *   - the type as MongoDB names BSON types ("string", "int", "long",
 *     "double", "decimal", "date", "objectId", "bool", "object" ...), mixed
 *     types joined ("string|null"); an array field is marked is_array and
 *     typed by its elements ("string" for ["a", "b"]; "array" when only empty
 *     arrays were seen);
 *   - nullable when the field was null, or missing from some documents
 *     (counted against the documents its parent was seen in);
 *   - `_id` is the primary key (pk_position 1).
 * Row estimates come from estimatedDocumentCount (-1 for views, which have
 * no count of their own), indexes from listIndexes (`_id_` as primary).
 */
#include <stdlib.h>
#include <string.h>

#include "mongo_internal.h"

struct field {
    char *path;
    int parent;     /* index of the enclosing field; -1 at top level */
    uint32_t types; /* BSON types of non-array values */
    uint32_t elems; /* BSON types of array elements */
    int is_array;
    uint64_t present; /* times seen (per document its parent was) */
    uint64_t nulls;
    uint64_t docs; /* times it held a document: what its children are counted against */
};

struct schema {
    struct field *fields;
    size_t n;
    uint64_t ndocs;
    int truncated;
};

struct entry {
    char *name;
    int32_t kind;
    char *view_on; /* views: the source collection, or NULL */
};

/* Errors a single collection may hit without spoiling the whole catalog. */
static int is_local_failure(int status)
{
    return status == QUARRY_ERR_QUERY || status == QUARRY_ERR_NOT_FOUND;
}

static void error_init(struct quarry_error *e)
{
    memset(e, 0, sizeof(*e));
    QUARRY_STRUCT_INIT(e);
}

/* ------------------------------------------------------------------------ */
/* Field inference                                                          */
/* ------------------------------------------------------------------------ */

static int field_index(struct schema *sc, const char *path, int parent)
{
    for (size_t i = 0; i < sc->n; i++)
        if (sc->fields[i].parent == parent && strcmp(sc->fields[i].path, path) == 0)
            return (int)i;
    if (sc->n == MONGO_MAX_FIELDS) {
        sc->truncated = 1;
        return -1;
    }
    struct field *f = &sc->fields[sc->n];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(path)))
        return -1;
    f->parent = parent;
    return (int)sc->n++;
}

static void walk_doc(struct schema *sc, bson_iter_t *it, const char *prefix, int parent, int depth);

static void walk_child_doc(struct schema *sc, bson_iter_t *it, int idx, int depth)
{
    bson_iter_t child;
    sc->fields[idx].docs++;
    if (depth < MONGO_MAX_DEPTH && bson_iter_recurse(it, &child))
        walk_doc(sc, &child, sc->fields[idx].path, idx, depth + 1);
}

static void walk_array(struct schema *sc, bson_iter_t *it, int idx, int depth)
{
    bson_iter_t element;
    sc->fields[idx].is_array = 1;
    if (!bson_iter_recurse(it, &element))
        return;
    while (bson_iter_next(&element)) {
        bson_type_t type = bson_iter_type(&element);
        sc->fields[idx].elems |= mongo_type_bit(type);
        if (type == BSON_TYPE_DOCUMENT)
            walk_child_doc(sc, &element, idx, depth);
    }
}

static void walk_doc(struct schema *sc, bson_iter_t *it, const char *prefix, int parent, int depth)
{
    char path[MONGO_MAX_PATH];
    while (bson_iter_next(it)) {
        const char *key = bson_iter_key(it);
        size_t plen = prefix ? strlen(prefix) : 0, klen = strlen(key), at = 0;
        if (plen + 1 + klen + 1 > sizeof(path)) {
            sc->truncated = 1;
            continue;
        }
        if (prefix) {
            memcpy(path, prefix, plen);
            path[plen] = '.';
            at = plen + 1;
        }
        memcpy(path + at, key, klen + 1);
        int idx = field_index(sc, path, parent);
        if (idx < 0)
            continue;
        sc->fields[idx].present++;
        bson_type_t type = bson_iter_type(it);
        if (type == BSON_TYPE_ARRAY) {
            walk_array(sc, it, idx, depth);
            continue;
        }
        sc->fields[idx].types |= mongo_type_bit(type);
        if (type == BSON_TYPE_NULL || type == BSON_TYPE_UNDEFINED)
            sc->fields[idx].nulls++;
        else if (type == BSON_TYPE_DOCUMENT)
            walk_child_doc(sc, it, idx, depth);
    }
}

static void schema_add(struct schema *sc, const bson_t *doc)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    sc->ndocs++;
    walk_doc(sc, &it, NULL, -1, 1);
}

static void schema_free(struct schema *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->fields[i].path);
    free(sc->fields);
}

static int report_field(const struct schema *sc, const struct field *f, const char *table,
                        int32_t ordinal, const struct quarry_catalog_sink *sink)
{
    char type[160];
    uint32_t set = f->is_array ? (f->types | f->elems) : f->types;
    mongo_type_set_format(set, type, sizeof(type));
    if (!type[0])
        snprintf(type, sizeof(type), "%s", f->is_array ? "array" : "null");
    uint64_t expected = f->parent < 0 ? sc->ndocs : sc->fields[f->parent].docs;
    int top_id = f->parent < 0 && strcmp(f->path, "_id") == 0;

    struct quarry_column_info info = {0};
    QUARRY_STRUCT_INIT(&info);
    info.table = table;
    info.name = f->path;
    info.type = type;
    info.ordinal = ordinal;
    info.nullable = (f->nulls > 0 || f->present < expected) ? 1 : 0;
    info.pk_position = top_id ? 1 : 0;
    info.is_array = f->is_array;
    return sink->column(sink->userdata, &info);
}

/* Columns in first-seen order, `_id` first. */
static int report_fields(const struct schema *sc, const char *table,
                         const struct quarry_catalog_sink *sink)
{
    int32_t ordinal = 1;
    if (!sink->column)
        return QUARRY_SINK_CONTINUE;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sc->n; i++) {
            const struct field *f = &sc->fields[i];
            int is_id = f->parent < 0 && strcmp(f->path, "_id") == 0;
            if (is_id != (pass == 0))
                continue;
            if (report_field(sc, f, table, ordinal++, sink) == QUARRY_SINK_STOP)
                return QUARRY_SINK_STOP;
        }
    }
    return QUARRY_SINK_CONTINUE;
}

static void append_max_time(bson_t *opts, const struct quarry_ctx *ctx)
{
    int64_t ms = mongo_max_time_ms(ctx);
    if (ms > 0)
        BSON_APPEND_INT64(opts, "maxTimeMS", ms);
}

/* Samples `coll` into `sc`; errors go to `err`. */
static int sample_schema(mongoc_collection_t *coll, const struct quarry_ctx *ctx, uint32_t size,
                         struct schema *sc, struct quarry_error *err)
{
    bson_t pipeline = BSON_INITIALIZER, opts = BSON_INITIALIZER, stage, spec;
    bson_error_t error;
    const bson_t *doc;
    int status = QUARRY_OK;

    BSON_APPEND_DOCUMENT_BEGIN(&pipeline, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$sample", &spec);
    BSON_APPEND_INT64(&spec, "size", size);
    bson_append_document_end(&stage, &spec);
    bson_append_document_end(&pipeline, &stage);
    append_max_time(&opts, ctx);
    mongoc_cursor_t *cursor =
        mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, &pipeline, &opts, NULL);
    while (sc->ndocs < size && mongoc_cursor_next(cursor, &doc)) {
        if ((status = mongo_ctx_check(ctx, err)) != QUARRY_OK)
            break;
        schema_add(sc, doc);
    }
    if (status == QUARRY_OK && mongoc_cursor_error(cursor, &error))
        status = mongo_fail(err, &error, "sampling documents");
    mongoc_cursor_destroy(cursor);
    bson_destroy(&opts);
    bson_destroy(&pipeline);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Collections, counts, indexes                                             */
/* ------------------------------------------------------------------------ */

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void entries_free(struct entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(entries[i].name);
        free(entries[i].view_on);
    }
    free(entries);
}

static int entry_from_doc(const bson_t *doc, struct entry *out)
{
    bson_iter_t it;
    const char *name = NULL, *type = "collection", *view_on = NULL;
    if (bson_iter_init_find(&it, doc, "name") && BSON_ITER_HOLDS_UTF8(&it))
        name = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "type") && BSON_ITER_HOLDS_UTF8(&it))
        type = bson_iter_utf8(&it, NULL);
    bson_iter_t opt;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "options.viewOn", &opt) &&
        BSON_ITER_HOLDS_UTF8(&opt))
        view_on = bson_iter_utf8(&opt, NULL);
    if (!name || strlen(name) > MONGO_MAX_NAME || strncmp(name, "system.", 7) == 0)
        return 0;
    out->kind = strcmp(type, "view") == 0 ? QUARRY_VIEW : QUARRY_COLLECTION;
    out->name = strdup(name);
    out->view_on = view_on ? strdup(view_on) : NULL;
    return out->name && (!view_on || out->view_on) ? 1 : -1;
}

/* The database's collections and views, sorted by name. */
static int list_entries(struct quarry_conn *conn, const bson_t *filter, struct entry **out,
                        size_t *nout, struct quarry_error *err)
{
    bson_t opts = BSON_INITIALIZER;
    bson_error_t error;
    const bson_t *doc;
    size_t n = 0;
    int status = QUARRY_OK;
    struct entry *entries = NULL;

    if (filter)
        BSON_APPEND_DOCUMENT(&opts, "filter", filter);
    mongoc_database_t *db = mongoc_client_get_database(conn->client, conn->dbname);
    mongoc_cursor_t *cursor = mongoc_database_find_collections_with_opts(db, &opts);
    while (mongoc_cursor_next(cursor, &doc)) {
        if (n == MONGO_MAX_COLLECTIONS) {
            mongo_host->log(QUARRY_LOG_WARN, "mongodb",
                            "database %s has more than %d collections; the rest is skipped",
                            conn->dbname, MONGO_MAX_COLLECTIONS);
            break;
        }
        if (!entries && !(entries = calloc(MONGO_MAX_COLLECTIONS, sizeof(*entries)))) {
            status = mongo_host->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
            break;
        }
        int got = entry_from_doc(doc, &entries[n]);
        if (got < 0) {
            n++; /* so entries_free releases the partial entry */
            status = mongo_host->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
            break;
        }
        n += (size_t)got;
    }
    if (status == QUARRY_OK && mongoc_cursor_error(cursor, &error))
        status = mongo_fail(err, &error, "listCollections");
    mongoc_cursor_destroy(cursor);
    mongoc_database_destroy(db);
    bson_destroy(&opts);
    if (status != QUARRY_OK) {
        entries_free(entries, n);
        return status;
    }
    if (n)
        qsort(entries, n, sizeof(*entries), compare_entries);
    *out = entries;
    *nout = n;
    return QUARRY_OK;
}

int mongo_collection_exists(struct quarry_conn *conn, const char *name, struct quarry_error *err)
{
    bson_t filter = BSON_INITIALIZER;
    struct entry *entries = NULL;
    size_t n = 0;
    BSON_APPEND_UTF8(&filter, "name", name);
    int status = list_entries(conn, &filter, &entries, &n, err);
    bson_destroy(&filter);
    entries_free(entries, n);
    if (status != QUARRY_OK)
        return -1;
    return n > 0;
}

static int64_t estimate_count(mongoc_collection_t *coll, const struct quarry_ctx *ctx,
                              struct quarry_error *local)
{
    bson_t opts = BSON_INITIALIZER;
    bson_error_t error;
    append_max_time(&opts, ctx);
    int64_t n = mongoc_collection_estimated_document_count(coll, &opts, NULL, NULL, &error);
    if (n < 0)
        mongo_fail(local, &error, "estimatedDocumentCount");
    bson_destroy(&opts);
    return n;
}

static int index_from_doc(const bson_t *doc, const char *table,
                          const struct quarry_catalog_sink *sink)
{
    const char *columns[MONGO_MAX_INDEX_KEYS];
    struct quarry_index_info info = {0};
    bson_iter_t it, key;

    QUARRY_STRUCT_INIT(&info);
    info.table = table;
    if (bson_iter_init_find(&it, doc, "name") && BSON_ITER_HOLDS_UTF8(&it))
        info.name = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "unique"))
        info.unique = bson_iter_as_bool(&it) ? 1 : 0;
    if (info.name && strcmp(info.name, "_id_") == 0)
        info.primary = info.unique = 1;
    if (bson_iter_init_find(&it, doc, "key") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &key))
        while (info.ncolumns < MONGO_MAX_INDEX_KEYS && bson_iter_next(&key))
            columns[info.ncolumns++] = bson_iter_key(&key);
    info.columns = columns;
    return sink->index(sink->userdata, &info);
}

static int report_indexes(mongoc_collection_t *coll, const char *table,
                          const struct quarry_catalog_sink *sink, int *answer,
                          struct quarry_error *local)
{
    bson_error_t error;
    const bson_t *doc;
    mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(coll, NULL);
    while (*answer != QUARRY_SINK_STOP && mongoc_cursor_next(cursor, &doc))
        *answer = index_from_doc(doc, table, sink);
    int status = QUARRY_OK;
    if (mongoc_cursor_error(cursor, &error))
        status = mongo_fail(local, &error, "listIndexes");
    mongoc_cursor_destroy(cursor);
    return status;
}

/* ------------------------------------------------------------------------ */
/* introspect                                                               */
/* ------------------------------------------------------------------------ */

/*
 * A failure of one collection that is local to it (a query error) is logged
 * and skipped; anything else (connection, auth, deadline) ends the call.
 */
static int settle(struct quarry_error *local, const char *table, struct quarry_error *err)
{
    if (local->status == QUARRY_OK)
        return QUARRY_OK;
    if (is_local_failure(local->status)) {
        mongo_host->log(QUARRY_LOG_WARN, "mongodb", "%s: %s", table, local->message);
        error_init(local);
        return QUARRY_OK;
    }
    return mongo_host->error_set(err, local->status, NULL, local->native_code, "%s",
                                 local->message);
}

static int introspect_one(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                          const struct entry *e, uint32_t sample_size,
                          const struct quarry_catalog_sink *sink, int *answer,
                          struct quarry_error *err)
{
    struct quarry_error local;
    struct schema sc = {0};
    int status;
    char comment[MONGO_MAX_NAME + 16];

    error_init(&local);
    mongoc_collection_t *coll = mongoc_client_get_collection(conn->client, conn->dbname, e->name);
    struct quarry_table_info info = {0};
    QUARRY_STRUCT_INIT(&info);
    info.name = e->name;
    info.kind = e->kind;
    info.row_estimate = e->kind == QUARRY_VIEW ? -1 : estimate_count(coll, ctx, &local);
    if (info.row_estimate < 0)
        info.row_estimate = -1;
    if (e->view_on) {
        snprintf(comment, sizeof(comment), "view on %s", e->view_on);
        info.comment = comment;
    }
    if ((status = settle(&local, e->name, err)) != QUARRY_OK)
        goto out;
    if (sink->table && (*answer = sink->table(sink->userdata, &info)) == QUARRY_SINK_STOP)
        goto out;

    if (!(sc.fields = calloc(MONGO_MAX_FIELDS, sizeof(*sc.fields)))) {
        status = mongo_host->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
        goto out;
    }
    sample_schema(coll, ctx, sample_size, &sc, &local);
    if ((status = settle(&local, e->name, err)) != QUARRY_OK)
        goto out;
    if (sc.truncated)
        mongo_host->log(QUARRY_LOG_INFO, "mongodb",
                        "%s: field inference stopped at %d fields or %d bytes of path", e->name,
                        MONGO_MAX_FIELDS, MONGO_MAX_PATH);
    if ((*answer = report_fields(&sc, e->name, sink)) == QUARRY_SINK_STOP)
        goto out;
    if (e->kind != QUARRY_VIEW && sink->index) {
        report_indexes(coll, e->name, sink, answer, &local);
        status = settle(&local, e->name, err);
    }
out:
    schema_free(&sc);
    mongoc_collection_destroy(coll);
    return status;
}

int mongo_introspect(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                     const struct quarry_introspect_opts *opts,
                     const struct quarry_catalog_sink *sink, struct quarry_error *err)
{
    struct entry *entries = NULL;
    size_t n = 0;
    int answer = QUARRY_SINK_CONTINUE;
    uint32_t sample_size =
        opts && opts->sample_documents ? opts->sample_documents : MONGO_DEFAULT_SAMPLE;
    if (sample_size > MONGO_MAX_SAMPLE)
        sample_size = MONGO_MAX_SAMPLE;

    int status = mongo_ctx_check(ctx, err);
    if (status != QUARRY_OK)
        return status;
    if ((status = list_entries(conn, NULL, &entries, &n, err)) != QUARRY_OK)
        return status;
    for (size_t i = 0; i < n && answer != QUARRY_SINK_STOP; i++) {
        if ((status = mongo_ctx_check(ctx, err)) != QUARRY_OK)
            break;
        status = introspect_one(conn, ctx, &entries[i], sample_size, sink, &answer, err);
        if (status != QUARRY_OK)
            break;
    }
    entries_free(entries, n);
    return status;
}
