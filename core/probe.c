#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dburl.h"
#include "guard.h"
#include "host.h"
#include "ids.h"
#include "pool.h"

#define PROBE_MAX_PARAMS 64

static char *param_text(const json_t *value)
{
    if (json_is_string(value))
        return strdup(json_string_value(value));
    if (json_is_true(value) || json_is_false(value))
        return strdup(json_is_true(value) ? "true" : "false");
    return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
}

struct quarry_kv *probe_flatten_params(const json_t *params, size_t *count)
{
    *count = 0;
    size_t n = json_is_object(params) ? json_object_size(params) : 0;
    if (n > PROBE_MAX_PARAMS)
        n = PROBE_MAX_PARAMS;
    /* Texts first, to size the single block that holds the array and every string. */
    char *texts[PROBE_MAX_PARAMS];
    const char *keys[PROBE_MAX_PARAMS];
    size_t bytes = (n + 1) * sizeof(struct quarry_kv), i = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)params, key, value)
    {
        /* Quarry's own settings stored beside the driver's are not the driver's to see. */
        if (i == n || json_is_null(value) || strcmp(key, "llm_api_key") == 0)
            continue;
        keys[i] = key;
        texts[i] = param_text(value);
        if (!texts[i])
            continue;
        bytes += strlen(key) + strlen(texts[i]) + 2;
        i++;
    }
    struct quarry_kv *kv = calloc(1, bytes);
    char *p = kv ? (char *)(kv + n + 1) : NULL;
    for (size_t k = 0; k < i; k++) {
        if (kv) {
            kv[k].key = strcpy(p, keys[k]);
            p += strlen(keys[k]) + 1;
            kv[k].value = strcpy(p, texts[k]);
            p += strlen(texts[k]) + 1;
        }
        free(texts[k]);
    }
    if (kv)
        *count = i;
    return kv;
}

int probe_check_target(const struct guard *guard, const struct quarry_driver *driver,
                       const char *url, char *why, size_t len)
{
    if (url[0] == '/')
        return guard_check_sqlite_path(guard, url, why, len);
    struct dburl parsed;
    char err[256];
    if (dburl_parse(url, &parsed, err, sizeof(err)) != 0) {
        snprintf(why, len, "%s", err);
        return -1;
    }
    int rc = 0;
    if (parsed.nhosts == 0 && strcmp(driver->name, "sqlite") == 0)
        rc = guard_check_sqlite_path(guard, parsed.path ? parsed.path : "", why, len);
    for (size_t i = 0; rc == 0 && i < parsed.nhosts; i++)
        rc = guard_check_host_resolved(guard, parsed.hosts[i], why, len);
    dburl_free(&parsed);
    return rc;
}

static const char *status_word(int status)
{
    switch (status) {
    case QUARRY_ERR_AUTH:
        return "authentication failed";
    case QUARRY_ERR_CONNECT:
        return "cannot connect";
    case QUARRY_ERR_TIMEOUT:
        return "timed out";
    case QUARRY_ERR_NOT_FOUND:
        return "not found";
    case QUARRY_ERR_INVALID:
        return "invalid connection settings";
    default:
        return "failed";
    }
}

int probe_open(const struct quarry_driver *driver, const char *url, const json_t *params,
               int timeout_ms, struct quarry_conn **out, struct quarry_error *err)
{
    size_t nparams;
    struct quarry_kv *kv = probe_flatten_params(params, &nparams);
    struct quarry_open_params open_params;
    memset(&open_params, 0, sizeof(open_params));
    QUARRY_STRUCT_INIT(&open_params);
    open_params.url = url;
    open_params.params = kv;
    open_params.nparams = nparams;
    open_params.connect_timeout_ms = timeout_ms;
    *out = NULL;
    int rc = driver->open(&open_params, out, err);
    free(kv);
    return rc;
}

static void record_test(struct probe_outcome *out, int rc, const struct quarry_server_info *info,
                        const struct quarry_error *err, int64_t started)
{
    out->test.latency_ms = (double)(host_now_ms() - started);
    out->test.tested = 1;
    out->test.ok = rc == QUARRY_OK;
    id_time_now(out->test.tested_at);
    if (out->test.ok) {
        snprintf(out->test.message, sizeof(out->test.message), "connected");
        snprintf(out->test.server_version, sizeof(out->test.server_version), "%s", info->version);
    } else {
        snprintf(out->test.message, sizeof(out->test.message), "%s: %.440s", status_word(rc),
                 err->message[0] ? err->message : "the driver gave no message");
    }
}

void probe_target(const struct quarry_driver *driver, const struct guard *guard, const char *url,
                  const json_t *params, int timeout_ms, struct probe_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (probe_check_target(guard, driver, url, out->why, sizeof(out->why)) != 0) {
        out->refused = 1;
        return;
    }

    struct quarry_error err;
    struct quarry_server_info info;
    struct host_call call;
    struct quarry_conn *conn = NULL;
    host_error_init(&err);
    memset(&info, 0, sizeof(info));
    QUARRY_STRUCT_INIT(&info);

    int64_t started = host_now_ms();
    int rc = probe_open(driver, url, params, timeout_ms, &conn, &err);
    if (rc == QUARRY_OK && driver->ping) {
        host_call_init(&call, timeout_ms, 0);
        rc = driver->ping(conn, &call.ctx, &info, &err);
    }
    if (conn)
        driver->close(conn);
    record_test(out, rc, &info, &err, started);
}

void probe_target_pooled(struct pools *pools, const char *connection_id,
                         const struct quarry_driver *driver, const struct guard *guard,
                         const char *url, const json_t *params, int timeout_ms,
                         struct probe_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (probe_check_target(guard, driver, url, out->why, sizeof(out->why)) != 0) {
        out->refused = 1;
        return;
    }
    struct quarry_error err;
    struct quarry_server_info info;
    host_error_init(&err);
    memset(&info, 0, sizeof(info));
    QUARRY_STRUCT_INIT(&info);
    size_t nparams;
    struct quarry_kv *kv = probe_flatten_params(params, &nparams);
    struct pool_target target = {connection_id, driver, url, kv, nparams, timeout_ms};
    int64_t started = host_now_ms();
    struct pool_lease *lease = kv ? pools_borrow(pools, &target, &err) : NULL;
    free(kv);
    int rc = lease ? QUARRY_OK : (err.status ? err.status : QUARRY_ERR_NOMEM);
    if (lease && driver->ping) {
        struct host_call call;
        host_call_init(&call, timeout_ms, 0);
        rc = driver->ping(pool_lease_conn(lease), &call.ctx, &info, &err);
    }
    if (lease)
        pools_return(pools, lease, rc != QUARRY_OK);
    record_test(out, rc, &info, &err, started);
}
