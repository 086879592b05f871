/*
 * example.so: a complete Quarry driver that needs no database.
 *
 * It serves one read-only table, `numbers(n, square, label)`, with rows
 * 1..count, where the URL sets count: `example://numbers?count=100`
 * (default 10, at most 1000000). It shows everything a real driver does:
 * the entry function, the static driver description, open/close, ping,
 * introspect through the catalog sink, execute and sample through the row
 * sink (honouring STOP, the row limit and the deadline), cancel from another
 * thread, and errors through the host's error_set.
 *
 * Build it out of tree with the Makefile beside it; see sdk/README.md.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <quarry/driver.h>

#define EXAMPLE_DEFAULT_COUNT 10
#define EXAMPLE_MAX_COUNT 1000000
/* How often a long loop looks at the deadline: cheap enough, often enough. */
#define EXAMPLE_CHECK_EVERY 1024

/* Kept from the entry call: valid for the life of the process. */
static const struct quarry_host *services;

/* A connection is used by one thread at a time; `cancelled` is the exception. */
struct quarry_conn {
    uint32_t count;
    atomic_int cancelled;
};

static int example_open(const struct quarry_open_params *params, struct quarry_conn **out,
                        struct quarry_error *err)
{
    /* The URL carries credentials in real drivers: never log it or echo it in errors. */
    const char *url = params->url;
    if (!url || strncasecmp(url, "example:", 8) != 0)
        return services->error_set(err, QUARRY_ERR_INVALID, NULL, 0, "not an example: URL");
    long count = EXAMPLE_DEFAULT_COUNT;
    const char *query = strchr(url, '?');
    const char *arg = query ? strstr(query, "count=") : NULL;
    if (arg) {
        char *end;
        count = strtol(arg + 6, &end, 10);
        if (end == arg + 6 || (*end && *end != '&') || count < 0 || count > EXAMPLE_MAX_COUNT)
            return services->error_set(err, QUARRY_ERR_INVALID, NULL, 0,
                                       "count must be an integer from 0 to %d", EXAMPLE_MAX_COUNT);
    }
    struct quarry_conn *conn = services->alloc(sizeof(*conn));
    if (!conn)
        return services->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    conn->count = (uint32_t)count;
    atomic_init(&conn->cancelled, 0);
    *out = conn;
    return QUARRY_OK;
}

static void example_close(struct quarry_conn *conn)
{
    services->free(conn);
}

static int example_ping(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                        struct quarry_server_info *info, struct quarry_error *err)
{
    (void)ctx, (void)err;
    snprintf(info->version, sizeof(info->version), "example 1.0.0 (%u rows)", conn->count);
    return QUARRY_OK;
}

static const struct quarry_column columns[] = {
    {QUARRY_ABI_VERSION, sizeof(struct quarry_column), "n", QUARRY_VALUE_INT, "INTEGER"},
    {QUARRY_ABI_VERSION, sizeof(struct quarry_column), "square", QUARRY_VALUE_INT, "INTEGER"},
    {QUARRY_ABI_VERSION, sizeof(struct quarry_column), "label", QUARRY_VALUE_TEXT, "TEXT"},
};
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

static int example_introspect(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                              const struct quarry_introspect_opts *opts,
                              const struct quarry_catalog_sink *sink, struct quarry_error *err)
{
    (void)ctx, (void)opts, (void)err;
    struct quarry_table_info table = {
        .name = "numbers", .kind = QUARRY_TABLE, .row_estimate = conn->count};
    QUARRY_STRUCT_INIT(&table);
    /* Each callback may be NULL (the host does not want that kind) or answer STOP. */
    if (sink->table && sink->table(sink->userdata, &table) == QUARRY_SINK_STOP)
        return QUARRY_OK;
    for (size_t i = 0; sink->column && i < NCOLUMNS; i++) {
        struct quarry_column_info col = {
            .table = "numbers",
            .name = columns[i].name,
            .type = columns[i].decl_type,
            .ordinal = (int32_t)i + 1,
            .nullable = i == 0 ? 0 : 1,
            .pk_position = i == 0 ? 1 : 0,
        };
        QUARRY_STRUCT_INIT(&col);
        if (sink->column(sink->userdata, &col) == QUARRY_SINK_STOP)
            return QUARRY_OK;
    }
    static const char *const pk[] = {"n"};
    struct quarry_index_info index = {.table = "numbers",
                                      .name = "numbers_pkey",
                                      .unique = 1,
                                      .primary = 1,
                                      .ncolumns = 1,
                                      .columns = pk};
    QUARRY_STRUCT_INIT(&index);
    if (sink->index)
        sink->index(sink->userdata, &index);
    return QUARRY_OK;
}

/* Streams rows 1..n: the row is built on the stack and only borrowed by the sink. */
static int stream_rows(struct quarry_conn *conn, const struct quarry_ctx *ctx, uint32_t n,
                       const struct quarry_row_sink *sink, struct quarry_error *err)
{
    atomic_store(&conn->cancelled, 0);
    if (ctx->row_limit && ctx->row_limit < n)
        n = (uint32_t)ctx->row_limit;
    if (sink->begin(sink->userdata, columns, NCOLUMNS) == QUARRY_SINK_STOP)
        goto end;
    for (uint32_t i = 1; i <= n; i++) {
        if (i % EXAMPLE_CHECK_EVERY == 0) {
            if (atomic_load(&conn->cancelled))
                return services->error_set(err, QUARRY_ERR_CANCELLED, "57014", 0, "cancelled");
            if (services->ctx_expired(ctx))
                return services->error_set(err, QUARRY_ERR_TIMEOUT, "57014", 0,
                                           "deadline passed after %u rows", i - 1);
        }
        char label[32];
        int len = snprintf(label, sizeof(label), "number %u", i);
        struct quarry_value row[NCOLUMNS] = {
            {.type = QUARRY_VALUE_INT, .i = i},
            {.type = QUARRY_VALUE_INT, .i = (int64_t)i * i},
            {.type = QUARRY_VALUE_TEXT, .str = label, .len = (size_t)len},
        };
        if (sink->row(sink->userdata, row, NCOLUMNS) == QUARRY_SINK_STOP)
            break;
    }
end:
    /* `end` follows a completed or stopped result, never an error. */
    sink->end(sink->userdata);
    return QUARRY_OK;
}

/*
 * A real driver hands the statement to its database inside a read-only
 * transaction or session, so the database itself refuses writes. This toy has
 * no database: it accepts any SELECT and always returns the whole table.
 */
static int example_execute(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                           const char *statement, const struct quarry_row_sink *sink,
                           struct quarry_error *err)
{
    statement += strspn(statement, " \t\r\n(");
    if (strncasecmp(statement, "select", 6) != 0)
        return services->error_set(err, QUARRY_ERR_READONLY, "25006", 0,
                                   "only SELECT statements are allowed");
    return stream_rows(conn, ctx, conn->count, sink, err);
}

static int example_sample(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                          const char *schema, const char *table, uint32_t n,
                          const struct quarry_row_sink *sink, struct quarry_error *err)
{
    if ((schema && *schema) || strcmp(table, "numbers") != 0)
        return services->error_set(err, QUARRY_ERR_NOT_FOUND, "42P01", 0, "no such table: %s",
                                   table);
    return stream_rows(conn, ctx, n < conn->count ? n : conn->count, sink, err);
}

/* Called from another thread while execute or sample runs on `conn`. */
static int example_cancel(struct quarry_conn *conn)
{
    atomic_store(&conn->cancelled, 1);
    return QUARRY_OK;
}

static const char *const schemes[] = {"example", NULL};

/* Static, like every string it points to: the host never unloads a driver. */
static const struct quarry_driver driver = {
    .abi_version = QUARRY_ABI_VERSION,
    .struct_size = sizeof(struct quarry_driver),
    .name = "example", /* must equal the file name: example.so */
    .version = "1.0.0",
    .description = "Example driver: one generated table, no database",
    .url_schemes = schemes,
    .capabilities = QUARRY_CAP_SQL | QUARRY_CAP_SAMPLE | QUARRY_CAP_CANCEL,
    .dialect = "sqlite", /* the SQL flavour the query generator should write */
    .identifier_quote = '"',
    .limit_style = QUARRY_LIMIT_LIMIT,
    /* No global or per-thread state: those hooks stay NULL. */
    .open = example_open,
    .close = example_close,
    .ping = example_ping,
    .introspect = example_introspect,
    .execute = example_execute,
    .sample = example_sample,
    .cancel = example_cancel,
};

QUARRY_DRIVER_ENTRY
{
    /* Another major is a different contract: nothing in it can be trusted. */
    if (QUARRY_ABI_MAJOR_OF(host->abi_version) != QUARRY_ABI_MAJOR)
        return NULL;
    services = host;
    (void)err;
    return &driver;
}
