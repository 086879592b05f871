/*
 * execute and sample.
 *
 * A statement is one MongoDB command as JSON text (Extended JSON, parsed by
 * libbson), and only two are accepted, both reads:
 *   {"find": "customers", "filter": {...}, "projection": {...}, "sort": {...},
 *    "skip": 0, "limit": 10, "batchSize": 50, ...}
 *   {"aggregate": "orders", "pipeline": [...], "cursor": {"batchSize": 50}, ...}
 * Every other command is refused (writes with QUARRY_ERR_READONLY, the rest
 * with QUARRY_ERR_INVALID), and so is a pipeline that holds $out or $merge
 * anywhere, nested pipelines included. The refusal happens here, before
 * anything reaches the server. Options outside a short list per command are
 * refused too, so nothing can smuggle in a write concern or an explain.
 *
 * The server enforces the call's deadline through maxTimeMS (the smaller of
 * the statement's own and the time left); the host's row limit becomes the
 * find's limit and caps the stream either way.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mongo_internal.h"

#define MONGO_MAX_NESTING 100 /* libbson's JSON reader stops at about this depth too */

enum command_kind { COMMAND_FIND, COMMAND_AGGREGATE };

static const char *const find_options[] = {
    "filter",       "projection", "sort",        "limit",        "skip", "batchSize", "hint",
    "collation",    "comment",    "maxTimeMS",   "allowDiskUse", "min",  "max",       "returnKey",
    "showRecordId", "let",        "singleBatch", "readConcern",  NULL};

static const char *const aggregate_options[] = {
    "pipeline", "cursor",    "allowDiskUse", "collation",   "hint",
    "comment",  "maxTimeMS", "let",          "readConcern", NULL};

/* Commands that write or change server state: named as such when refused. */
static const char *const write_commands[] = {"insert",
                                             "update",
                                             "delete",
                                             "findAndModify",
                                             "drop",
                                             "dropDatabase",
                                             "create",
                                             "createIndexes",
                                             "dropIndexes",
                                             "renameCollection",
                                             "collMod",
                                             "mapReduce",
                                             "bulkWrite",
                                             "createUser",
                                             "dropUser",
                                             "updateUser",
                                             "grantRolesToUser",
                                             "revokeRolesFromUser",
                                             "createRole",
                                             "dropRole",
                                             "applyOps",
                                             "shutdown",
                                             "fsync",
                                             "compact",
                                             "reIndex",
                                             "cloneCollectionAsCapped",
                                             "convertToCapped",
                                             "killOp",
                                             "killCursors",
                                             "killSessions",
                                             "setParameter",
                                             NULL};

struct command {
    enum command_kind kind;
    char collection[MONGO_MAX_NAME + 1];
    bson_t filter;    /* find: static view into the statement, or empty */
    bson_t pipeline;  /* aggregate: static view into the statement */
    bson_t opts;      /* what goes to mongoc, owned */
    int64_t limit;    /* find's own limit; 0: none */
    int64_t batch;    /* batchSize asked for; -1: none */
    int64_t max_time; /* maxTimeMS asked for; 0: none */
    int have_pipeline;
};

static int in_list(const char *const *list, const char *name, int ignore_case)
{
    for (size_t i = 0; list[i]; i++)
        if ((ignore_case ? strcasecmp(list[i], name) : strcmp(list[i], name)) == 0)
            return 1;
    return 0;
}

static int invalid(struct quarry_error *err, const char *message, const char *detail)
{
    return mongo_host->error_set(err, QUARRY_ERR_INVALID, NULL, 0, "%s%s%s", message,
                                 detail ? ": " : "", detail ? detail : "");
}

/* Refuses $out and $merge at any depth of the command. */
static int refuse_writing_stages(bson_iter_t *it, int depth, struct quarry_error *err)
{
    if (depth > MONGO_MAX_NESTING)
        return invalid(err, "the statement is nested too deeply", NULL);
    while (bson_iter_next(it)) {
        const char *key = bson_iter_key(it);
        if (strcmp(key, "$out") == 0 || strcmp(key, "$merge") == 0)
            return mongo_host->error_set(err, QUARRY_ERR_READONLY, NULL, 0,
                                         "%s writes to a collection; only reads are allowed", key);
        if (BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) {
            bson_iter_t child;
            int status;
            if (!bson_iter_recurse(it, &child))
                return invalid(err, "the statement is malformed", NULL);
            if ((status = refuse_writing_stages(&child, depth + 1, err)) != QUARRY_OK)
                return status;
        }
    }
    return QUARRY_OK;
}

/* An integral number, as MongoDB accepts them (int, long, or a whole double). */
static int integer_of(const bson_iter_t *it, int64_t *out)
{
    if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
        *out = bson_iter_as_int64(it);
        return 0;
    }
    if (BSON_ITER_HOLDS_DOUBLE(it)) {
        double d = bson_iter_double(it);
        if (d >= -9.0e15 && d <= 9.0e15 && d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return 0;
        }
    }
    return -1;
}

static int set_collection(struct command *cmd, const bson_iter_t *it, struct quarry_error *err)
{
    uint32_t len = 0;
    const char *name = BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, &len) : NULL;
    if (!name || len == 0 || len > MONGO_MAX_NAME || strlen(name) != len || strchr(name, '$'))
        return invalid(err, "the command's first field must name a collection", NULL);
    memcpy(cmd->collection, name, len + 1);
    return QUARRY_OK;
}

static int static_doc(bson_t *out, const bson_iter_t *it)
{
    const uint8_t *data = NULL;
    uint32_t len = 0;
    if (BSON_ITER_HOLDS_DOCUMENT(it))
        bson_iter_document(it, &len, &data);
    else if (BSON_ITER_HOLDS_ARRAY(it))
        bson_iter_array(it, &len, &data);
    return data && bson_init_static(out, data, len) ? 0 : -1;
}

/* The options both commands share: numbers the driver combines with its own bounds. */
static int take_number(struct command *cmd, const bson_iter_t *it, const char *key,
                       struct quarry_error *err)
{
    int64_t value;
    if (integer_of(it, &value) != 0)
        return invalid(err, "option must be an integer", key);
    if (strcmp(key, "limit") == 0) {
        cmd->limit = value;
    } else if (strcmp(key, "batchSize") == 0) {
        if (value < 0)
            return invalid(err, "batchSize must not be negative", NULL);
        cmd->batch = value;
    } else { /* maxTimeMS */
        if (value < 0)
            return invalid(err, "maxTimeMS must not be negative", NULL);
        cmd->max_time = value;
    }
    return QUARRY_OK;
}

static int parse_find_option(struct command *cmd, bson_iter_t *it, struct quarry_error *err)
{
    const char *key = bson_iter_key(it);
    if (!in_list(find_options, key, 0))
        return invalid(err, "find option not accepted", key);
    if (strcmp(key, "limit") == 0 || strcmp(key, "batchSize") == 0 || strcmp(key, "maxTimeMS") == 0)
        return take_number(cmd, it, key, err);
    if (strcmp(key, "filter") == 0) {
        if (!BSON_ITER_HOLDS_DOCUMENT(it) || static_doc(&cmd->filter, it) != 0)
            return invalid(err, "filter must be an object", NULL);
        return QUARRY_OK;
    }
    if ((strcmp(key, "projection") == 0 || strcmp(key, "sort") == 0) &&
        !BSON_ITER_HOLDS_DOCUMENT(it))
        return invalid(err, "option must be an object", key);
    if (!bson_append_iter(&cmd->opts, key, -1, it))
        return invalid(err, "option too large", key);
    return QUARRY_OK;
}

static int parse_pipeline(struct command *cmd, const bson_iter_t *it, struct quarry_error *err)
{
    bson_iter_t stage;
    if (!BSON_ITER_HOLDS_ARRAY(it) || static_doc(&cmd->pipeline, it) != 0 ||
        !bson_iter_init(&stage, &cmd->pipeline))
        return invalid(err, "pipeline must be an array of stages", NULL);
    while (bson_iter_next(&stage))
        if (!BSON_ITER_HOLDS_DOCUMENT(&stage))
            return invalid(err, "each pipeline stage must be an object", NULL);
    cmd->have_pipeline = 1;
    return QUARRY_OK;
}

static int parse_aggregate_option(struct command *cmd, bson_iter_t *it, struct quarry_error *err)
{
    const char *key = bson_iter_key(it);
    if (!in_list(aggregate_options, key, 0))
        return invalid(err, "aggregate option not accepted", key);
    if (strcmp(key, "maxTimeMS") == 0)
        return take_number(cmd, it, key, err);
    if (strcmp(key, "pipeline") == 0)
        return parse_pipeline(cmd, it, err);
    if (strcmp(key, "cursor") == 0) {
        bson_iter_t sub;
        if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &sub))
            return invalid(err, "cursor must be an object", NULL);
        while (bson_iter_next(&sub)) {
            if (strcmp(bson_iter_key(&sub), "batchSize") != 0)
                return invalid(err, "cursor option not accepted", bson_iter_key(&sub));
            int status = take_number(cmd, &sub, "batchSize", err);
            if (status != QUARRY_OK)
                return status;
        }
        return QUARRY_OK;
    }
    if (!bson_append_iter(&cmd->opts, key, -1, it))
        return invalid(err, "option too large", key);
    return QUARRY_OK;
}

/* Checks the command against the rules above and fills `cmd`. */
static int parse_command(const bson_t *doc, struct command *cmd, struct quarry_error *err)
{
    bson_iter_t it;
    int status;

    if (!bson_iter_init(&it, doc))
        return invalid(err, "the statement is malformed", NULL);
    if ((status = refuse_writing_stages(&it, 0, err)) != QUARRY_OK)
        return status;
    if (!bson_iter_init(&it, doc) || !bson_iter_next(&it))
        return invalid(err,
                       "the statement is an empty object; expected "
                       "{\"find\": ...} or {\"aggregate\": ...}",
                       NULL);
    const char *name = bson_iter_key(&it);
    if (strcmp(name, "find") == 0) {
        cmd->kind = COMMAND_FIND;
    } else if (strcmp(name, "aggregate") == 0) {
        cmd->kind = COMMAND_AGGREGATE;
    } else if (in_list(write_commands, name, 1)) {
        return mongo_host->error_set(err, QUARRY_ERR_READONLY, NULL, 0,
                                     "'%s' writes; only find and aggregate are accepted", name);
    } else {
        return mongo_host->error_set(err, QUARRY_ERR_INVALID, NULL, 0,
                                     "'%s' is not accepted; only find and aggregate are", name);
    }
    if ((status = set_collection(cmd, &it, err)) != QUARRY_OK)
        return status;
    while (bson_iter_next(&it)) {
        status = cmd->kind == COMMAND_FIND ? parse_find_option(cmd, &it, err)
                                           : parse_aggregate_option(cmd, &it, err);
        if (status != QUARRY_OK)
            return status;
    }
    if (cmd->kind == COMMAND_AGGREGATE && !cmd->have_pipeline)
        return invalid(err, "aggregate needs a pipeline", NULL);
    return QUARRY_OK;
}

static int64_t min_nonzero(int64_t a, int64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

/* The host's bounds merged into the options: maxTimeMS, limit, batchSize. */
static void apply_bounds(struct command *cmd, const struct quarry_ctx *ctx)
{
    int64_t row_limit = ctx && ctx->row_limit <= INT64_MAX ? (int64_t)ctx->row_limit : 0;
    int64_t max_time = min_nonzero(cmd->max_time, mongo_max_time_ms(ctx));
    if (max_time > 0)
        BSON_APPEND_INT64(&cmd->opts, "maxTimeMS", max_time);
    if (cmd->kind == COMMAND_FIND) {
        /* A negative limit means "one batch" to MongoDB: keep its sign. */
        int64_t limit = cmd->limit < 0 ? -cmd->limit : cmd->limit;
        limit = min_nonzero(limit, row_limit);
        if (limit)
            BSON_APPEND_INT64(&cmd->opts, "limit", cmd->limit < 0 ? -limit : limit);
    }
    int64_t batch = cmd->batch;
    if (row_limit && (batch < 0 || batch > row_limit) && row_limit < 101)
        batch = row_limit; /* no point fetching a default batch of 101 for a few rows */
    if (batch >= 0)
        BSON_APPEND_INT64(&cmd->opts, "batchSize", batch);
}

static int run_command(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct command *cmd,
                       uint64_t max_rows, const struct quarry_row_sink *sink,
                       struct quarry_error *err)
{
    mongoc_collection_t *coll =
        mongoc_client_get_collection(conn->client, conn->dbname, cmd->collection);
    mongoc_cursor_t *cursor;
    if (cmd->kind == COMMAND_FIND)
        cursor = mongoc_collection_find_with_opts(coll, &cmd->filter, &cmd->opts, NULL);
    else
        cursor =
            mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, &cmd->pipeline, &cmd->opts, NULL);
    int status = mongo_rows_stream(cursor, ctx, max_rows, sink, err);
    /* Kills the server-side cursor when rows were left unread. */
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(coll);
    return status;
}

int mongo_execute(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                  const struct quarry_row_sink *sink, struct quarry_error *err)
{
    struct command cmd = {.batch = -1};
    bson_error_t error;
    bson_t *doc = NULL;
    int status;

    bson_init(&cmd.filter);
    bson_init(&cmd.pipeline);
    bson_init(&cmd.opts);
    if ((status = mongo_ctx_check(ctx, err)) != QUARRY_OK)
        goto out;
    if (!statement || strlen(statement) > MONGO_MAX_STATEMENT) {
        status = invalid(err, "the statement must be a JSON command of at most 1 MiB", NULL);
        goto out;
    }
    doc = bson_new_from_json((const uint8_t *)statement, (ssize_t)strlen(statement), &error);
    if (!doc) {
        status = invalid(err, "the statement is not a JSON object", error.message);
        goto out;
    }
    if ((status = parse_command(doc, &cmd, err)) != QUARRY_OK)
        goto out;
    apply_bounds(&cmd, ctx);
    status = run_command(conn, ctx, &cmd, ctx ? ctx->row_limit : 0, sink, err);
out:
    bson_destroy(&cmd.opts);
    bson_destroy(&cmd.pipeline);
    bson_destroy(&cmd.filter);
    bson_destroy(doc);
    return status;
}

/*
 * Up to `n` random documents through $sample (no full scan on a real server).
 * MongoDB has no schemas: `schema` is ignored.
 */
int mongo_sample(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                 const char *table, uint32_t n, const struct quarry_row_sink *sink,
                 struct quarry_error *err)
{
    struct command cmd = {.kind = COMMAND_AGGREGATE, .batch = -1};
    int status;

    (void)schema;
    if ((status = mongo_ctx_check(ctx, err)) != QUARRY_OK)
        return status;
    if (!table || !*table || strlen(table) > MONGO_MAX_NAME || strchr(table, '$'))
        return invalid(err, "a collection name is required", NULL);
    int exists = mongo_collection_exists(conn, table, err);
    if (exists < 0)
        return err->status;
    if (!exists)
        return mongo_host->error_set(err, QUARRY_ERR_NOT_FOUND, NULL, 0,
                                     "no collection '%s' in database '%s'", table, conn->dbname);
    if (n > MONGO_MAX_SAMPLE)
        n = MONGO_MAX_SAMPLE;
    uint64_t max_rows = ctx && ctx->row_limit && ctx->row_limit < n ? ctx->row_limit : n;

    strcpy(cmd.collection, table);
    bson_init(&cmd.filter);
    bson_init(&cmd.pipeline);
    bson_init(&cmd.opts);
    bson_t stage, spec;
    BSON_APPEND_DOCUMENT_BEGIN(&cmd.pipeline, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$sample", &spec);
    BSON_APPEND_INT64(&spec, "size", (int64_t)n);
    bson_append_document_end(&stage, &spec);
    bson_append_document_end(&cmd.pipeline, &stage);
    cmd.batch = (int64_t)max_rows;
    apply_bounds(&cmd, ctx);

    if (max_rows == 0) {
        /* Nothing asked for: an empty result without a round trip. */
        if (sink->begin)
            sink->begin(sink->userdata, NULL, 0);
        if (sink->end)
            sink->end(sink->userdata);
    } else {
        status = run_command(conn, ctx, &cmd, max_rows, sink, err);
    }
    bson_destroy(&cmd.opts);
    bson_destroy(&cmd.pipeline);
    bson_destroy(&cmd.filter);
    return status;
}
