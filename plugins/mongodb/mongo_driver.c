/*
 * The mongodb driver: MongoDB through mongo-c-driver (libmongoc/libbson).
 *
 * This file holds the driver table, process lifecycle, connections (open,
 * close, ping) and the mapping of mongoc errors to Quarry statuses. Catalog
 * inference lives in mongo_catalog.c, commands in mongo_exec.c, row shaping in
 * mongo_rows.c and BSON value conversion in mongo_values.c.
 *
 * A connection is one single-threaded mongoc_client_t (the host hands a
 * connection to one thread at a time), bound to the database the URL path or
 * the `database` parameter names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mongo_internal.h"

#define MONGO_MAX_URL 8192
#define MONGO_APPNAME "quarry"

const struct quarry_host *mongo_host;

/* ------------------------------------------------------------------------ */
/* Errors and deadlines                                                     */
/* ------------------------------------------------------------------------ */

static int status_of_server_code(uint32_t code)
{
    switch (code) {
    case 18: /* AuthenticationFailed */
        return QUARRY_ERR_AUTH;
    case 50: /* MaxTimeMSExpired */
        return QUARRY_ERR_TIMEOUT;
    case 26: /* NamespaceNotFound */
        return QUARRY_ERR_NOT_FOUND;
    case 6:  /* HostUnreachable */
    case 7:  /* HostNotFound */
    case 89: /* NetworkTimeout */
        return QUARRY_ERR_CONNECT;
    default:
        return QUARRY_ERR_QUERY;
    }
}

static int status_of(const bson_error_t *error)
{
    switch (error->domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_STREAM:
        return QUARRY_ERR_CONNECT;
    case MONGOC_ERROR_SASL:
    case MONGOC_ERROR_SCRAM:
        return QUARRY_ERR_AUTH;
    case MONGOC_ERROR_CLIENT:
        if (error->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
            return QUARRY_ERR_AUTH;
        return QUARRY_ERR_QUERY;
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_WRITE_CONCERN:
        return status_of_server_code(error->code);
    case MONGOC_ERROR_BSON:
    case MONGOC_ERROR_COMMAND:
    case MONGOC_ERROR_CURSOR:
    case MONGOC_ERROR_NAMESPACE:
        return QUARRY_ERR_INVALID;
    default:
        return QUARRY_ERR_QUERY;
    }
}

int mongo_fail(struct quarry_error *err, const bson_error_t *error, const char *what)
{
    return mongo_host->error_set(err, status_of(error), NULL, (int)error->code, "%s: %s", what,
                                 error->message);
}

int mongo_ctx_check(const struct quarry_ctx *ctx, struct quarry_error *err)
{
    if (!ctx || !mongo_host->ctx_expired(ctx))
        return QUARRY_OK;
    /* ctx_expired covers both the deadline and a cancel by the host. */
    if (ctx->deadline_ms && mongo_host->ctx_remaining_ms(ctx) == 0)
        return mongo_host->error_set(err, QUARRY_ERR_TIMEOUT, NULL, 0,
                                     "the call's deadline passed");
    return mongo_host->error_set(err, QUARRY_ERR_CANCELLED, NULL, 0, "the call was cancelled");
}

int64_t mongo_max_time_ms(const struct quarry_ctx *ctx)
{
    if (!ctx || !ctx->deadline_ms)
        return 0;
    int32_t left = mongo_host->ctx_remaining_ms(ctx);
    if (left == INT32_MAX)
        return 0;
    return left > 0 ? left : 1;
}

/* ------------------------------------------------------------------------ */
/* Process lifecycle                                                        */
/* ------------------------------------------------------------------------ */

/* mongoc logs to stderr by default; route it through the host's log. */
static void mongo_log_handler(mongoc_log_level_t level, const char *domain, const char *message,
                              void *userdata)
{
    (void)userdata;
    int ours;
    switch (level) {
    case MONGOC_LOG_LEVEL_CRITICAL:
        ours = QUARRY_LOG_ERROR;
        break;
    case MONGOC_LOG_LEVEL_ERROR: /* mongoc's "error" is often the user's bad URL, also in err */
    case MONGOC_LOG_LEVEL_WARNING:
        ours = QUARRY_LOG_WARN;
        break;
    case MONGOC_LOG_LEVEL_MESSAGE:
        ours = QUARRY_LOG_INFO;
        break;
    case MONGOC_LOG_LEVEL_TRACE:
        return;
    default:
        ours = QUARRY_LOG_DEBUG;
        break;
    }
    mongo_host->log(ours, "mongodb", "%s: %s", domain ? domain : "mongoc", message);
}

static int mongo_global_init(struct quarry_error *err)
{
    (void)err;
    mongoc_log_set_handler(mongo_log_handler, NULL);
    mongoc_log_trace_disable();
    mongoc_init();
    return QUARRY_OK;
}

static void mongo_global_cleanup(void)
{
    mongoc_cleanup();
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void blank_all(char *message, const char *needle, size_t n)
{
    if (n == 0)
        return;
    for (char *hit = message; (hit = memmem(hit, strlen(hit), needle, n)); hit += n)
        memset(hit, '*', n);
}

/*
 * URL parse errors may quote parts of the URL; blank out the userinfo
 * ("user:password"), and the password alone, wherever a message repeats it.
 */
static void scrub_userinfo(char *message, const char *url)
{
    const char *start = strstr(url, "://");
    if (!start)
        return;
    start += 3;
    const char *end = start + strcspn(start, "/?");
    const char *at = NULL;
    for (const char *p = start; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return;
    blank_all(message, start, (size_t)(at - start));
    const char *colon = memchr(start, ':', (size_t)(at - start));
    if (colon)
        blank_all(message, colon + 1, (size_t)(at - colon - 1));
}

static int param_is_true(const char *value)
{
    return strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
           strcasecmp(value, "yes") == 0 || strcasecmp(value, "on") == 0;
}

static const char *const bool_params[] = {MONGOC_URI_TLS,
                                          MONGOC_URI_TLSALLOWINVALIDCERTIFICATES,
                                          MONGOC_URI_TLSALLOWINVALIDHOSTNAMES,
                                          MONGOC_URI_TLSINSECURE,
                                          MONGOC_URI_DIRECTCONNECTION,
                                          NULL};
static const char *const text_params[] = {MONGOC_URI_TLSCAFILE,
                                          MONGOC_URI_TLSCERTIFICATEKEYFILE,
                                          MONGOC_URI_TLSCERTIFICATEKEYFILEPASSWORD,
                                          MONGOC_URI_AUTHSOURCE,
                                          MONGOC_URI_AUTHMECHANISM,
                                          MONGOC_URI_REPLICASET,
                                          MONGOC_URI_READPREFERENCE,
                                          NULL};

static int in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i]; i++)
        if (strcasecmp(list[i], key) == 0)
            return 1;
    return 0;
}

/*
 * Connection parameters: TLS and a few URI options (as in the URL's query),
 * and `database`. Other keys belong to the host or other drivers: ignored.
 */
static int apply_params(mongoc_uri_t *uri, const struct quarry_open_params *params,
                        const char **database, struct quarry_error *err)
{
    for (size_t i = 0; i < params->nparams; i++) {
        const char *key = params->params[i].key, *value = params->params[i].value;
        if (!key || !value)
            continue;
        int ok = 1;
        if (strcmp(key, "database") == 0)
            *database = value;
        else if (in_list(bool_params, key) || strcasecmp(key, "ssl") == 0)
            ok = mongoc_uri_set_option_as_bool(uri, strcasecmp(key, "ssl") ? key : MONGOC_URI_TLS,
                                               param_is_true(value));
        else if (in_list(text_params, key))
            ok = mongoc_uri_set_option_as_utf8(uri, key, value);
        if (!ok)
            return mongo_host->error_set(err, QUARRY_ERR_INVALID, NULL, 0,
                                         "connection parameter '%s' has an invalid value", key);
    }
    return QUARRY_OK;
}

static void apply_timeouts(mongoc_uri_t *uri, int32_t connect_timeout_ms)
{
    if (connect_timeout_ms <= 0)
        return;
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, connect_timeout_ms);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, connect_timeout_ms);
}

/* MongoDB's rules for database names (the Unix set), bounded. */
static int valid_dbname(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < 64 && strcspn(name, "/\\. \"$") == n;
}

static int ping_admin(mongoc_client_t *client, bson_error_t *error)
{
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bool ok = mongoc_client_command_simple(client, "admin", &cmd, NULL, NULL, error);
    bson_destroy(&cmd);
    return ok ? 0 : -1;
}

static int mongo_open(const struct quarry_open_params *params, struct quarry_conn **out,
                      struct quarry_error *err)
{
    mongoc_uri_t *uri = NULL;
    mongoc_client_t *client = NULL;
    struct quarry_conn *conn = NULL;
    bson_error_t error;
    int status;

    *out = NULL;
    if (!params || !params->url || strlen(params->url) > MONGO_MAX_URL)
        return mongo_host->error_set(err, QUARRY_ERR_INVALID, NULL, 0,
                                     "a MongoDB URL (mongodb://host/database) is required");
    uri = mongoc_uri_new_with_error(params->url, &error);
    if (!uri) {
        scrub_userinfo(error.message, params->url);
        return mongo_host->error_set(err, QUARRY_ERR_INVALID, NULL, (int)error.code,
                                     "invalid MongoDB URL: %s", error.message);
    }
    const char *database = mongoc_uri_get_database(uri);
    if ((status = apply_params(uri, params, &database, err)) != QUARRY_OK)
        goto out;
    if (!database || !valid_dbname(database)) {
        status = mongo_host->error_set(err, QUARRY_ERR_INVALID, NULL, 0,
                                       "the URL must name a valid database "
                                       "(mongodb://host/DATABASE or parameter 'database')");
        goto out;
    }
    apply_timeouts(uri, params->connect_timeout_ms);
    if (!mongoc_uri_get_appname(uri))
        mongoc_uri_set_appname(uri, MONGO_APPNAME);

    client = mongoc_client_new_from_uri_with_error(uri, &error);
    if (!client) {
        /* A mongodb+srv lookup fails here: a connection error; the rest is the URL's fault. */
        int why = status_of(&error) == QUARRY_ERR_CONNECT ? QUARRY_ERR_CONNECT : QUARRY_ERR_INVALID;
        status = mongo_host->error_set(err, why, NULL, (int)error.code,
                                       "cannot create a MongoDB client: %s", error.message);
        goto out;
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    /* Server selection and authentication happen here, so open reports them. */
    if (ping_admin(client, &error) != 0) {
        status = mongo_fail(err, &error, "connect");
        goto out;
    }
    conn = calloc(1, sizeof(*conn));
    if (!conn || !(conn->dbname = strdup(database))) {
        status = mongo_host->error_set(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
        goto out;
    }
    conn->client = client;
    client = NULL;
    *out = conn;
    conn = NULL;
    status = QUARRY_OK;
out:
    if (conn)
        free(conn->dbname);
    free(conn);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    return status;
}

static void mongo_close(struct quarry_conn *conn)
{
    if (!conn)
        return;
    mongoc_client_destroy(conn->client);
    free(conn->dbname);
    free(conn);
}

static int mongo_ping(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                      struct quarry_server_info *info, struct quarry_error *err)
{
    bson_error_t error;
    bson_t cmd = BSON_INITIALIZER, reply;
    int status = mongo_ctx_check(ctx, err);
    if (status != QUARRY_OK)
        return status;
    if (ping_admin(conn->client, &error) != 0)
        return mongo_fail(err, &error, "ping");
    if (!info)
        return QUARRY_OK;

    BSON_APPEND_INT32(&cmd, "buildInfo", 1);
    if (!mongoc_client_command_simple(conn->client, "admin", &cmd, NULL, &reply, &error)) {
        status = mongo_fail(err, &error, "buildInfo");
    } else {
        bson_iter_t it;
        const char *version = "unknown";
        if (bson_iter_init_find(&it, &reply, "version") && BSON_ITER_HOLDS_UTF8(&it))
            version = bson_iter_utf8(&it, NULL);
        snprintf(info->version, sizeof(info->version), "MongoDB %s", version);
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    return status;
}

/* ------------------------------------------------------------------------ */
/* The driver table                                                         */
/* ------------------------------------------------------------------------ */

static const char *const mongo_schemes[] = {"mongodb", "mongodb+srv", NULL};

static const struct quarry_driver mongo_driver = {
    .abi_version = QUARRY_ABI_VERSION,
    .struct_size = sizeof(struct quarry_driver),
    .name = "mongodb",
    .version = "0.1.0",
    .description = "MongoDB through mongo-c-driver (libmongoc " MONGOC_VERSION_S ")",
    .url_schemes = mongo_schemes,
    /* No CANCEL: mongoc cannot interrupt a running operation; maxTimeMS bounds it instead. */
    .capabilities = QUARRY_CAP_DOCUMENT | QUARRY_CAP_SAMPLE | QUARRY_CAP_STATEMENT_TIMEOUT,
    .dialect = "mongodb",
    .identifier_quote = 0,
    .limit_style = QUARRY_LIMIT_NONE,
    .global_init = mongo_global_init,
    .global_cleanup = mongo_global_cleanup,
    .open = mongo_open,
    .close = mongo_close,
    .ping = mongo_ping,
    .introspect = mongo_introspect,
    .execute = mongo_execute,
    .sample = mongo_sample,
    .cancel = NULL,
};

static void entry_error(struct quarry_error *err, const char *message)
{
    if (!err || err->status != QUARRY_OK)
        return;
    err->status = QUARRY_ERR_INVALID;
    snprintf(err->message, sizeof(err->message), "mongodb: %s", message);
}

QUARRY_DRIVER_ENTRY
{
    if (!host || QUARRY_ABI_MAJOR_OF(host->abi_version) != QUARRY_ABI_MAJOR ||
        host->struct_size <
            offsetof(struct quarry_host, ctx_remaining_ms) + sizeof(host->ctx_remaining_ms)) {
        entry_error(err, "the host's services table is missing or of another ABI major");
        return NULL;
    }
    mongo_host = host;
    return &mongo_driver;
}
