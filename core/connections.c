#include "connections.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "registry.h"
#include "secrets.h"

/* The columns a record is rendered from, in row_to_record's order. */
#define RECORD_COLUMNS                                                                             \
    "id, name, database_type, url_masked, agent_id, company_id, user_id, connection_params, "      \
    "schemas, metadata, status, message, latency_ms, server_version, tested_at, created_at, "      \
    "updated_at, deleted_at"

static void free_secret_string(char *s)
{
    if (!s)
        return;
    sodium_memzero(s, strlen(s));
    free(s);
}

void conn_state_clear(struct conn_state *s)
{
    free(s->name);
    free_secret_string(s->url);
    free(s->database_type);
    free(s->agent_id);
    free(s->company_id);
    free(s->user_id);
    json_decref(s->params);
    json_decref(s->schemas);
    json_decref(s->metadata);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------------ */
/* Statement helpers                                                        */
/* ------------------------------------------------------------------------ */

/* Binds `json` serialised, or NULL. */
static void bind_json(sqlite3_stmt *stmt, int idx, const json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (text)
        sqlite3_bind_text(stmt, idx, text, -1, free);
    else
        sqlite3_bind_null(stmt, idx);
}

static int bind_sealed(sqlite3_stmt *stmt, int idx, const struct secrets *secrets,
                       const char *plain)
{
    if (!plain) {
        sqlite3_bind_null(stmt, idx);
        return 0;
    }
    size_t len;
    unsigned char *blob = secrets_seal(secrets, plain, strlen(plain), &len);
    if (!blob)
        return -1;
    sqlite3_bind_blob(stmt, idx, blob, (int)len, free);
    return 0;
}

static json_t *column_json(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    json_t *value = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return value ? value : json_null();
}

static json_t *column_string(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text ? json_string(text) : json_null();
}

static int step_done(struct registry *registry, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return CONN_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return CONN_CONFLICT;
    log_error("registry: %s", sqlite3_errmsg(registry_db(registry)));
    return CONN_ERROR;
}

static int exec(struct registry *registry, const char *sql)
{
    return sqlite3_exec(registry_db(registry), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                  */
/* ------------------------------------------------------------------------ */

static json_t *row_to_record(sqlite3_stmt *stmt)
{
    json_t *latency = sqlite3_column_type(stmt, 12) == SQLITE_NULL
                          ? json_null()
                          : json_real(round(sqlite3_column_double(stmt, 12) * 100) / 100);
    const char *status = (const char *)sqlite3_column_text(stmt, 10);
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o, s:o, s:o, s:b}",
        "id", column_string(stmt, 0), "name", column_string(stmt, 1), "database_type",
        column_string(stmt, 2), "url", column_string(stmt, 3), "agent_id", column_string(stmt, 4),
        "company_id", column_string(stmt, 5), "user_id", column_string(stmt, 6),
        "connection_params", column_json(stmt, 7), "schemas", column_json(stmt, 8), "metadata",
        column_json(stmt, 9), "status", column_string(stmt, 10), "message", column_string(stmt, 11),
        "latency_ms", latency, "server_version", column_string(stmt, 13), "tested_at",
        column_string(stmt, 14), "created_at", column_string(stmt, 15), "updated_at",
        column_string(stmt, 16), "deleted_at", column_string(stmt, 17), "is_active",
        status && strcmp(status, "success") == 0 && sqlite3_column_type(stmt, 17) == SQLITE_NULL);
}

static const char *visibility_clause(enum conn_visibility vis)
{
    switch (vis) {
    case CONN_LIVE:
        return " AND deleted_at IS NULL";
    case CONN_DELETED:
        return " AND deleted_at IS NOT NULL";
    default:
        return "";
    }
}

json_t *connections_get(struct registry *registry, const char *id, enum conn_visibility vis,
                        int *rc)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT " RECORD_COLUMNS " FROM connections WHERE id = ?%s",
             visibility_clause(vis));
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    json_t *record = NULL;
    *rc = CONN_ERROR;
    if (!stmt)
        return NULL;
    registry_bind_text(stmt, 1, id);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        record = row_to_record(stmt);
        *rc = record ? CONN_OK : CONN_ERROR;
    } else if (step == SQLITE_DONE) {
        *rc = CONN_NOT_FOUND;
    }
    sqlite3_finalize(stmt);
    return record;
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Binds the state's columns at 1..11: name, database_type, url_masked,
 * url_sealed, agent_id, company_id, user_id, connection_params,
 * params_sealed, schemas, metadata.
 */
static int bind_state(sqlite3_stmt *stmt, const struct secrets *secrets,
                      const struct conn_state *state)
{
    json_t *secret_params = NULL;
    json_t *masked = secrets_split_params(state->params, &secret_params);
    char *masked_url = secrets_mask_url(state->url);
    char *secret_text = secret_params && json_object_size(secret_params)
                            ? json_dumps(secret_params, JSON_COMPACT)
                            : NULL;
    int rc = -1;
    if (!masked || !masked_url)
        goto out;
    registry_bind_text(stmt, 1, state->name);
    registry_bind_text(stmt, 2, state->database_type);
    registry_bind_text(stmt, 3, masked_url);
    if (bind_sealed(stmt, 4, secrets, state->url) != 0)
        goto out;
    registry_bind_text(stmt, 5, state->agent_id);
    registry_bind_text(stmt, 6, state->company_id);
    registry_bind_text(stmt, 7, state->user_id);
    bind_json(stmt, 8, masked);
    if (bind_sealed(stmt, 9, secrets, secret_text) != 0)
        goto out;
    bind_json(stmt, 10, state->schemas);
    bind_json(stmt, 11, state->metadata);
    rc = 0;
out:
    json_decref(masked);
    json_decref(secret_params);
    free(masked_url);
    free_secret_string(secret_text);
    return rc;
}

/* Binds a test outcome at idx..idx+4: status, message, latency, version, tested_at. */
static void bind_test(sqlite3_stmt *stmt, int idx, const struct conn_test *test)
{
    registry_bind_text(stmt, idx, test->ok ? "success" : "failed");
    registry_bind_text(stmt, idx + 1, test->message);
    sqlite3_bind_double(stmt, idx + 2, test->latency_ms);
    registry_bind_text(stmt, idx + 3, test->server_version[0] ? test->server_version : NULL);
    registry_bind_text(stmt, idx + 4, test->tested_at);
}

int connections_insert(struct registry *registry, const struct secrets *secrets,
                       const struct conn_state *state, const struct conn_test *test, char *id_out)
{
    sqlite3_stmt *stmt = registry_prepare(
        registry, "INSERT INTO connections (name, database_type, url_masked, url_sealed, "
                  "agent_id, company_id, user_id, connection_params, params_sealed, schemas, "
                  "metadata, id, created_at, updated_at, status, message, latency_ms, "
                  "server_version, tested_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ifnull(?8, '{}'), ?9, ?10, ?11, ?12, ?13, "
                  "?13, ifnull(?14, 'untested'), ?15, ?16, ?17, ?18)");
    if (!stmt)
        return CONN_ERROR;
    char now[ID_TIME_LEN + 1];
    id_uuid4(id_out);
    id_time_now(now);
    int rc = CONN_ERROR;
    if (bind_state(stmt, secrets, state) != 0)
        goto out;
    registry_bind_text(stmt, 12, id_out);
    registry_bind_text(stmt, 13, now);
    if (test && test->tested)
        bind_test(stmt, 14, test);
    rc = step_done(registry, stmt);
out:
    sqlite3_finalize(stmt);
    return rc;
}

int connections_update(struct registry *registry, const struct secrets *secrets, const char *id,
                       const struct conn_state *state, const struct conn_test *test)
{
    sqlite3_stmt *stmt = registry_prepare(
        registry,
        "UPDATE connections SET name = ?1, database_type = ?2, url_masked = ?3, url_sealed = ?4, "
        "agent_id = ?5, company_id = ?6, user_id = ?7, connection_params = ifnull(?8, '{}'), "
        "params_sealed = ?9, schemas = ?10, metadata = ?11, updated_at = ?13 "
        "WHERE id = ?12 AND deleted_at IS NULL");
    if (!stmt)
        return CONN_ERROR;
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    int rc = CONN_ERROR;
    if (bind_state(stmt, secrets, state) != 0)
        goto out;
    registry_bind_text(stmt, 12, id);
    registry_bind_text(stmt, 13, now);
    rc = step_done(registry, stmt);
    if (rc == CONN_OK && sqlite3_changes(registry_db(registry)) == 0)
        rc = CONN_NOT_FOUND;
    if (rc == CONN_OK && test && test->tested)
        rc = connections_record_test(registry, id, test);
out:
    sqlite3_finalize(stmt);
    return rc;
}

int connections_record_test(struct registry *registry, const char *id, const struct conn_test *test)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "UPDATE connections SET status = ?1, message = ?2, "
                                   "latency_ms = ?3, server_version = ?4, tested_at = ?5 "
                                   "WHERE id = ?6");
    if (!stmt)
        return CONN_ERROR;
    bind_test(stmt, 1, test);
    registry_bind_text(stmt, 6, id);
    int rc = step_done(registry, stmt);
    sqlite3_finalize(stmt);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Clear state                                                              */
/* ------------------------------------------------------------------------ */

static char *unseal_column(sqlite3_stmt *stmt, int col, const struct secrets *secrets, int *failed)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return NULL;
    size_t len;
    char *plain = secrets_open_blob(secrets, sqlite3_column_blob(stmt, col),
                                    (size_t)sqlite3_column_bytes(stmt, col), &len);
    if (!plain)
        *failed = 1;
    return plain;
}

static char *dup_column(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text ? strdup(text) : NULL;
}

int connections_load_state(struct registry *registry, const struct secrets *secrets, const char *id,
                           struct conn_state *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *stmt = registry_prepare(
        registry, "SELECT name, database_type, url_sealed, agent_id, company_id, user_id, "
                  "connection_params, params_sealed, schemas, metadata FROM connections "
                  "WHERE id = ? AND deleted_at IS NULL");
    if (!stmt)
        return CONN_ERROR;
    registry_bind_text(stmt, 1, id);
    int step = sqlite3_step(stmt), rc = CONN_NOT_FOUND;
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? CONN_NOT_FOUND : CONN_ERROR;
        goto out;
    }
    int failed = 0;
    out->name = dup_column(stmt, 0);
    out->database_type = dup_column(stmt, 1);
    out->url = unseal_column(stmt, 2, secrets, &failed);
    out->agent_id = dup_column(stmt, 3);
    out->company_id = dup_column(stmt, 4);
    out->user_id = dup_column(stmt, 5);
    out->params = column_json(stmt, 6);
    char *secret_text = unseal_column(stmt, 7, secrets, &failed);
    json_t *secret_params = secret_text ? json_loads(secret_text, 0, NULL) : NULL;
    free_secret_string(secret_text);
    if (json_is_object(out->params) && json_is_object(secret_params))
        json_object_update_recursive(out->params, secret_params);
    json_decref(secret_params);
    out->schemas = column_json(stmt, 8);
    out->metadata = column_json(stmt, 9);
    if (json_is_null(out->schemas)) {
        json_decref(out->schemas);
        out->schemas = NULL;
    }
    if (json_is_null(out->metadata)) {
        json_decref(out->metadata);
        out->metadata = NULL;
    }
    if (failed || !out->url) {
        /* Sealed under another key, or tampered with: never guess. */
        log_error("registry: connection %s: credentials cannot be unsealed (wrong secret key?)",
                  id);
        conn_state_clear(out);
        rc = CONN_ERROR;
        goto out;
    }
    rc = CONN_OK;
out:
    sqlite3_finalize(stmt);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Lists                                                                    */
/* ------------------------------------------------------------------------ */

/* Binds the filter's values in the order filter_where() wrote them. */
static int bind_filter(sqlite3_stmt *stmt, const struct conn_filter *f)
{
    int idx = 1;
    const char *values[] = {f->agent_id, f->database_type, f->status, f->search};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (values[i])
            registry_bind_text(stmt, idx++, values[i]);
    return idx;
}

static void filter_where(const struct conn_filter *f, char *buf, size_t size)
{
    snprintf(buf, size, "WHERE 1%s%s%s%s%s", visibility_clause(f->visibility),
             f->agent_id ? " AND agent_id = ?" : "",
             f->database_type ? " AND database_type = ?" : "", f->status ? " AND status = ?" : "",
             f->search ? " AND instr(lower(name), lower(?)) > 0" : "");
}

json_t *connections_list(struct registry *registry, const struct conn_filter *f)
{
    char where[512], sql[1024];
    filter_where(f, where, sizeof(where));

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM connections %s", where);
    sqlite3_stmt *count = registry_prepare(registry, sql);
    if (!count)
        return NULL;
    bind_filter(count, f);
    long total = sqlite3_step(count) == SQLITE_ROW ? sqlite3_column_int64(count, 0) : -1;
    sqlite3_finalize(count);
    if (total < 0)
        return NULL;

    snprintf(sql, sizeof(sql),
             "SELECT " RECORD_COLUMNS " FROM connections %s "
             "ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
             where);
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    if (!stmt)
        return NULL;
    int idx = bind_filter(stmt, f);
    sqlite3_bind_int64(stmt, idx, f->per_page);
    sqlite3_bind_int64(stmt, idx + 1, (f->page - 1) * f->per_page);
    json_t *items = json_array();
    while (items && sqlite3_step(stmt) == SQLITE_ROW)
        json_array_append_new(items, row_to_record(stmt));
    sqlite3_finalize(stmt);
    return json_pack("{s:o, s:I, s:I, s:I, s:I}", "connections", items, "total", (json_int_t)total,
                     "page", (json_int_t)f->page, "per_page", (json_int_t)f->per_page,
                     "total_pages", (json_int_t)((total + f->per_page - 1) / f->per_page));
}

int connections_name_taken(struct registry *registry, const char *agent_id, const char *name,
                           const char *except_id)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT 1 FROM connections WHERE deleted_at IS NULL "
                                   "AND ifnull(agent_id, '') = ifnull(?, '') AND name = ? "
                                   "AND id IS NOT ifnull(?, '')");
    if (!stmt)
        return 0;
    registry_bind_text(stmt, 1, agent_id);
    registry_bind_text(stmt, 2, name);
    registry_bind_text(stmt, 3, except_id);
    int taken = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    return taken;
}

int connections_find_by_name(struct registry *registry, const char *agent_id, const char *name,
                             char *id_out)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT id FROM connections WHERE deleted_at IS NULL "
                                   "AND ifnull(agent_id, '') = ifnull(?, '') AND name = ?");
    if (!stmt)
        return CONN_ERROR;
    registry_bind_text(stmt, 1, agent_id);
    registry_bind_text(stmt, 2, name);
    int rc = CONN_NOT_FOUND;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        snprintf(id_out, ID_UUID_LEN + 1, "%s", (const char *)sqlite3_column_text(stmt, 0));
        rc = CONN_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int connections_agent(struct registry *registry, const char *id, char *out, size_t size)
{
    sqlite3_stmt *stmt =
        registry_prepare(registry, "SELECT ifnull(agent_id, '') FROM connections WHERE id = ?");
    if (!stmt)
        return CONN_ERROR;
    registry_bind_text(stmt, 1, id);
    int rc = CONN_NOT_FOUND;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
        rc = CONN_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Soft delete and restore                                                  */
/* ------------------------------------------------------------------------ */

/* Runs one UPDATE with (?1 = a timestamp or NULL, ?2 = id, ?3 = match value); returns changes or
 * -1. */
static long update_changes(struct registry *registry, const char *sql, const char *stamp,
                           const char *id, const char *match)
{
    sqlite3_stmt *stmt = registry_prepare(registry, sql);
    if (!stmt)
        return -1;
    registry_bind_text(stmt, 1, stamp);
    registry_bind_text(stmt, 2, id);
    if (match)
        registry_bind_text(stmt, 3, match);
    long changes = sqlite3_step(stmt) == SQLITE_DONE ? sqlite3_changes(registry_db(registry)) : -1;
    sqlite3_finalize(stmt);
    return changes;
}

int connections_soft_delete(struct registry *registry, const char *id, long *tables)
{
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    if (exec(registry, "BEGIN IMMEDIATE") != 0)
        return CONN_ERROR;
    long conn = update_changes(registry,
                               "UPDATE connections SET deleted_at = ?1, updated_at = ?1 "
                               "WHERE id = ?2 AND deleted_at IS NULL",
                               now, id, NULL);
    /* The tables go with the same timestamp, so a restore can bring back exactly these. */
    *tables = conn == 1 ? update_changes(registry,
                                         "UPDATE db_tables SET deleted_at = ?1 "
                                         "WHERE connection_id = ?2 AND deleted_at IS NULL",
                                         now, id, NULL)
                        : 0;
    if (conn != 1 || *tables < 0) {
        exec(registry, "ROLLBACK");
        return conn == 0 ? CONN_NOT_FOUND : CONN_ERROR;
    }
    return exec(registry, "COMMIT") == 0 ? CONN_OK : CONN_ERROR;
}

int connections_restore(struct registry *registry, const char *id, long *tables)
{
    int rc;
    json_t *record = connections_get(registry, id, CONN_DELETED, &rc);
    if (!record)
        return rc;
    const char *name = json_string_value(json_object_get(record, "name"));
    const char *agent = json_string_value(json_object_get(record, "agent_id"));
    char *deleted_at = strdup(json_string_value(json_object_get(record, "deleted_at")));
    int taken = connections_name_taken(registry, agent, name, id);
    json_decref(record);
    if (!deleted_at)
        return CONN_ERROR;
    if (taken) {
        free(deleted_at);
        return CONN_CONFLICT;
    }
    char now[ID_TIME_LEN + 1];
    id_time_now(now);
    rc = CONN_ERROR;
    if (exec(registry, "BEGIN IMMEDIATE") != 0)
        goto out;
    long conn = update_changes(registry,
                               "UPDATE connections SET deleted_at = NULL, updated_at = ?1 "
                               "WHERE id = ?2 AND deleted_at IS NOT NULL",
                               now, id, NULL);
    *tables = conn == 1 ? update_changes(registry,
                                         "UPDATE db_tables SET deleted_at = NULL "
                                         "WHERE connection_id = ?2 AND deleted_at = ?3 "
                                         "AND ?1 IS NOT NULL",
                                         now, id, deleted_at)
                        : 0;
    if (conn != 1 || *tables < 0) {
        exec(registry, "ROLLBACK");
        rc = conn == 0 ? CONN_NOT_FOUND : CONN_ERROR;
        goto out;
    }
    rc = exec(registry, "COMMIT") == 0 ? CONN_OK : CONN_ERROR;
out:
    free(deleted_at);
    return rc;
}
