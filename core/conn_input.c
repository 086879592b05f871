#include "conn_input.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dburl.h"
#include "guard.h"
#include "ids.h"
#include "loader.h"
#include "secrets.h"

#define MASK "***"

static int fail(struct input_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct input_error *err, int status, const char *code, const char *fmt, ...)
{
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

const char *conn_input_canonical_type(const char *type)
{
    if (strcasecmp(type, "postgresql") == 0 || strcasecmp(type, "postgres") == 0)
        return "postgres";
    if (strcasecmp(type, "mariadb") == 0 || strcasecmp(type, "mysql") == 0)
        return "mysql";
    return type;
}

static int has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* Replaces `*slot` with a copy of `value` (NULL clears it). */
static int set_string(char **slot, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

/*
 * A string field: absent leaves the state alone; null clears it when
 * `nullable`; anything else must be a string of 1..max characters.
 */
static int apply_string(const json_t *body, const char *field, char **slot, size_t max,
                        int nullable, int uuid, json_t *changed, struct input_error *err)
{
    json_t *value = json_object_get(body, field);
    if (!value)
        return 0;
    if (json_is_null(value) && nullable) {
        if (*slot && changed)
            json_array_append_new(changed, json_string(field));
        return set_string(slot, NULL);
    }
    if (!json_is_string(value))
        return fail(err, 422, "invalid_field", "`%s` must be a string", field);
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (len == 0 || len > max || has_control_chars(text))
        return fail(err, 422, "invalid_field",
                    "`%s` must be 1 to %zu characters without control characters", field, max);
    if (uuid && !id_is_uuid(text))
        return fail(err, 422, "invalid_field", "`%s` must be a UUID", field);
    char *copy = strdup(text);
    if (!copy)
        return fail(err, 500, "internal", "out of memory");
    if (uuid)
        id_uuid_lower(copy);
    if (changed && (!*slot || strcmp(*slot, copy) != 0))
        json_array_append_new(changed, json_string(field));
    free(*slot);
    *slot = copy;
    return 0;
}

/* The password part of a URL's userinfo, as written (still encoded), or NULL. */
static int url_password_span(const char *url, const char **start, size_t *len)
{
    const char *auth = strstr(url, "://");
    if (!auth)
        return 0;
    auth += 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + auth_len; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon)
        return 0;
    *start = colon + 1;
    *len = (size_t)(at - colon - 1);
    return 1;
}

/* A URL sent back with its password masked keeps the stored password. */
static char *url_keep_password(const char *new_url, const char *old_url)
{
    const char *new_pw, *old_pw;
    size_t new_len, old_len;
    if (!old_url || !url_password_span(new_url, &new_pw, &new_len) || new_len != strlen(MASK) ||
        strncmp(new_pw, MASK, new_len) != 0 || !url_password_span(old_url, &old_pw, &old_len))
        return strdup(new_url);
    size_t head = (size_t)(new_pw - new_url);
    char *out = malloc(strlen(new_url) - new_len + old_len + 1);
    if (!out)
        return NULL;
    memcpy(out, new_url, head);
    memcpy(out + head, old_pw, old_len);
    strcpy(out + head + old_len, new_pw + new_len);
    return out;
}

static int apply_url(struct conn_state *state, const json_t *body, json_t *changed,
                     struct input_error *err)
{
    json_t *value = json_object_get(body, "url");
    if (!value)
        return 0;
    if (!json_is_string(value) || json_string_length(value) == 0 ||
        json_string_length(value) > CONN_URL_MAX || has_control_chars(json_string_value(value)))
        return fail(err, 422, "invalid_field",
                    "`url` must be a connection URL of 1 to %d characters", CONN_URL_MAX);
    char *url = url_keep_password(json_string_value(value), state->url);
    if (!url)
        return fail(err, 500, "internal", "out of memory");
    if (changed && (!state->url || strcmp(state->url, url) != 0))
        json_array_append_new(changed, json_string("url"));
    free(state->url);
    state->url = url;
    return 0;
}

/* Secrets sent back masked keep their stored values, at any depth. */
static void restore_masked_secrets(json_t *incoming, const json_t *stored)
{
    const char *key;
    json_t *value;
    json_object_foreach(incoming, key, value)
    {
        json_t *old = json_object_get(stored, key);
        if (json_is_object(value) && json_is_object(old))
            restore_masked_secrets(value, old);
        else if (old && json_is_string(value) && strcmp(json_string_value(value), MASK) == 0 &&
                 secrets_is_secret_key(key))
            json_object_set(incoming, key, old);
    }
}

static int params_within_bounds(const json_t *params)
{
    if (json_object_size(params) > CONN_PARAMS_MAX_KEYS)
        return 0;
    char *text = json_dumps(params, JSON_COMPACT);
    size_t len = text ? strlen(text) : SIZE_MAX;
    free(text);
    return len <= CONN_PARAMS_MAX_BYTES;
}

/* An object field (connection_params, metadata): replaced, or merged (RFC 7386) in MERGE mode. */
static int apply_object(const json_t *body, const char *field, json_t **slot, int merge,
                        int restore_secrets, json_t *changed, struct input_error *err)
{
    json_t *value = json_object_get(body, field);
    if (!value)
        return 0;
    if (json_is_null(value)) {
        json_decref(*slot);
        *slot = NULL;
        if (changed)
            json_array_append_new(changed, json_string(field));
        return 0;
    }
    if (!json_is_object(value))
        return fail(err, 422, "invalid_field", "`%s` must be a JSON object", field);
    json_t *next = json_deep_copy(value);
    if (!next)
        return fail(err, 500, "internal", "out of memory");
    if (restore_secrets && *slot)
        restore_masked_secrets(next, *slot);
    if (merge && json_is_object(*slot)) {
        json_t *merged = json_deep_copy(*slot);
        const char *key;
        json_t *v;
        json_object_foreach(next, key, v)
        {
            if (json_is_null(v))
                json_object_del(merged, key);
            else
                json_object_set(merged, key, v);
        }
        json_decref(next);
        next = merged;
    }
    if (!params_within_bounds(next)) {
        json_decref(next);
        return fail(err, 422, "invalid_field", "`%s` is too large (at most %d keys, %d bytes)",
                    field, CONN_PARAMS_MAX_KEYS, CONN_PARAMS_MAX_BYTES);
    }
    if (changed && !json_equal(next, *slot))
        json_array_append_new(changed, json_string(field));
    json_decref(*slot);
    *slot = next;
    return 0;
}

static int apply_schemas(struct conn_state *state, const json_t *body, json_t *changed,
                         struct input_error *err)
{
    json_t *value = json_object_get(body, "schemas");
    if (!value)
        return 0;
    if (!json_is_null(value)) {
        if (!json_is_array(value) || json_array_size(value) > 64)
            return fail(err, 422, "invalid_field", "`schemas` must be an array of schema names");
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            if (!json_is_string(item) || json_string_length(item) == 0 ||
                json_string_length(item) > 128 || has_control_chars(json_string_value(item)))
                return fail(err, 422, "invalid_field",
                            "`schemas` must hold names of 1 to 128 characters");
        }
    }
    if (changed && !json_equal(value, state->schemas ? state->schemas : json_null()))
        json_array_append_new(changed, json_string("schemas"));
    json_decref(state->schemas);
    state->schemas = json_is_null(value) ? NULL : json_incref(value);
    return 0;
}

int conn_input_apply(struct conn_state *state, const json_t *body, enum conn_apply_mode mode,
                     json_t *changed, struct input_error *err)
{
    if (!body)
        body = json_object();
    else
        json_incref((json_t *)body);
    int rc = -1;
    if (mode == CONN_APPLY_CREATE) {
        const char *required[] = {"name", "url", "database_type"};
        for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
            if (!json_object_get(body, required[i]) ||
                json_is_null(json_object_get(body, required[i]))) {
                fail(err, 422, "missing_field", "`%s` is required", required[i]);
                goto out;
            }
        }
    }
    int merge = mode == CONN_APPLY_MERGE;
    if (apply_string(body, "name", &state->name, CONN_NAME_MAX, 0, 0, changed, err) ||
        apply_url(state, body, changed, err) ||
        apply_string(body, "database_type", &state->database_type, 64, 0, 0, changed, err) ||
        apply_string(body, "agent_id", &state->agent_id, 36, 1, 1, changed, err) ||
        apply_string(body, "company_id", &state->company_id, 36, 1, 1, changed, err) ||
        apply_string(body, "user_id", &state->user_id, 36, 1, 1, changed, err) ||
        apply_object(body, "connection_params", &state->params, merge, 1, changed, err) ||
        apply_object(body, "metadata", &state->metadata, merge, 0, changed, err) ||
        apply_schemas(state, body, changed, err))
        goto out;
    rc = 0;
out:
    json_decref((json_t *)body);
    return rc;
}

/*
 * Parameters that would redirect a driver to a host the guard never saw
 * (libpq's ?host= / ?hostaddr=, or the same keys in connection_params).
 */
static int names_host_override(const char *key, size_t len)
{
    static const char *const keys[] = {"host", "hostaddr", "server", "addr", "address"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strlen(keys[i]) == len && strncasecmp(key, keys[i], len) == 0)
            return 1;
    return 0;
}

static int query_overrides_host(const char *query)
{
    for (const char *p = query; p && *p;) {
        size_t len = strcspn(p, "=&");
        if (names_host_override(p, len))
            return 1;
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

static int check_host_overrides(const struct dburl *url, const json_t *params,
                                struct input_error *err)
{
    const char *key;
    json_t *value;
    if (query_overrides_host(url->query))
        return fail(err, 422, "invalid_url",
                    "host overrides in the URL's query are not accepted; put the host in the URL");
    json_object_foreach((json_t *)params, key, value)
    {
        if (names_host_override(key, strlen(key)))
            return fail(err, 422, "invalid_field",
                        "`connection_params.%s` is not accepted; put the host in the URL", key);
    }
    return 0;
}

/* The guard checks possible without DNS: literal hosts. */
static int check_hosts_literal(const struct dburl *url, const struct guard *guard,
                               struct input_error *err)
{
    char why[512];
    for (size_t i = 0; i < url->nhosts; i++)
        if (guard_check_host_literal(guard, url->hosts[i], why, sizeof(why)) != 0)
            return fail(err, 422, "target_denied", "%s", why);
    return 0;
}

const struct quarry_driver *conn_input_validate(struct conn_state *state, const struct guard *guard,
                                                struct input_error *err)
{
    const char *canonical = conn_input_canonical_type(state->database_type);
    const struct quarry_driver *driver = loader_find(canonical);
    if (!driver) {
        fail(err, 422, "unsupported_database_type",
             "database_type `%s` is not served by any loaded driver (see GET /v1/drivers)",
             state->database_type);
        return NULL;
    }
    if (canonical != state->database_type && set_string(&state->database_type, canonical) != 0) {
        fail(err, 500, "internal", "out of memory");
        return NULL;
    }
    /* A bare absolute path is a sqlite file. */
    if (state->url[0] == '/') {
        if (strcmp(driver->name, "sqlite") != 0) {
            fail(err, 422, "invalid_url", "`url` must be a %s URL", driver->name);
            return NULL;
        }
        return driver;
    }
    struct dburl url;
    char msg[256];
    if (dburl_parse(state->url, &url, msg, sizeof(msg)) != 0) {
        fail(err, 422, "invalid_url", "`url` is not a valid connection URL: %s", msg);
        return NULL;
    }
    const struct quarry_driver *by_scheme = loader_find_by_scheme(url.base_scheme);
    if (by_scheme != driver) {
        fail(err, 422, "invalid_url", "a `%s` URL does not fit database_type `%s`", url.base_scheme,
             state->database_type);
        driver = NULL;
    } else if (check_hosts_literal(&url, guard, err) != 0 ||
               check_host_overrides(&url, state->params, err) != 0) {
        driver = NULL;
    }
    dburl_free(&url);
    return driver;
}
