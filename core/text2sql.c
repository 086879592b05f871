#include "text2sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "catalog.h"
#include "config.h"
#include "host.h"
#include "llm.h"
#include "loader.h"
#include "pool.h"
#include "probe.h"
#include "registry.h"
#include "snapshots.h"
#include "sqlsafety.h"
#include "t2s.h"

#define T2S_SCHEMA_TABLES 12     /* tables in an LLM's pruned schema */
#define T2S_CELL_MAX (64 * 1024) /* bytes of one value in a response */

static void fail(struct text2sql_request *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct text2sql_request *r, int status, const char *code, const char *fmt, ...)
{
    r->status = status;
    snprintf(r->code, sizeof(r->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

void text2sql_request_free(struct text2sql_request *r)
{
    if (!r)
        return;
    free(r->question);
    json_decref(r->snapshot);
    json_decref(r->graph);
    json_decref(r->samples);
    json_decref(r->response);
    conn_state_clear(&r->state);
    free(r);
}

/* ------------------------------------------------------------------------ */
/* Rows into JSON                                                           */
/* ------------------------------------------------------------------------ */

struct rows {
    json_t *columns;
    json_t *rows;
    long limit; /* rows kept; one more means truncated */
    int truncated;
};

static json_t *value_json(const struct quarry_value *v)
{
    size_t len = v->len > T2S_CELL_MAX ? T2S_CELL_MAX : v->len;
    switch (v->type) {
    case QUARRY_VALUE_NULL:
        return json_null();
    case QUARRY_VALUE_INT:
        return json_integer(v->i);
    case QUARRY_VALUE_DOUBLE:
        return json_real(v->d);
    case QUARRY_VALUE_BOOL:
        return json_boolean(v->i);
    case QUARRY_VALUE_BLOB: {
        size_t size = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(size);
        json_t *out = b64 ? json_string(sodium_bin2base64(b64, size, (const unsigned char *)v->str,
                                                          len, sodium_base64_VARIANT_ORIGINAL))
                          : json_null();
        free(b64);
        return out;
    }
    case QUARRY_VALUE_JSON: {
        json_t *doc = json_loadb(v->str, len, JSON_DECODE_ANY, NULL);
        return doc ? doc : json_stringn(v->str, len);
    }
    default: /* text, decimals (exact, as text), dates and timestamps */
        return json_stringn(v->str ? v->str : "", len);
    }
}

static int rows_begin(void *ud, const struct quarry_column *cols, size_t n)
{
    struct rows *rows = ud;
    /* Columns arrive as an array stepped by the driver's struct size. */
    size_t stride = n ? cols[0].struct_size : 0;
    for (size_t i = 0; i < n; i++) {
        struct quarry_column col;
        host_copy_struct(&col, sizeof(col), (const char *)cols + i * stride);
        json_array_append_new(rows->columns, json_string(col.name ? col.name : ""));
    }
    return QUARRY_SINK_CONTINUE;
}

static int rows_row(void *ud, const struct quarry_value *values, size_t n)
{
    struct rows *rows = ud;
    if ((long)json_array_size(rows->rows) >= rows->limit) {
        rows->truncated = 1;
        return QUARRY_SINK_STOP;
    }
    json_t *row = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(row, value_json(&values[i]));
    json_array_append_new(rows->rows, row);
    return QUARRY_SINK_CONTINUE;
}

static void rows_end(void *ud)
{
    (void)ud;
}

/* ------------------------------------------------------------------------ */
/* Running a query                                                          */
/* ------------------------------------------------------------------------ */

struct target {
    const struct quarry_driver *driver;
    struct pool_lease *lease;
    int is_document;
};

static int http_status_of(int driver_status)
{
    switch (driver_status) {
    case QUARRY_ERR_CONNECT:
    case QUARRY_ERR_AUTH:
    case QUARRY_ERR_NOT_FOUND:
        return 502;
    case QUARRY_ERR_TIMEOUT:
    case QUARRY_ERR_CANCELLED:
        return 504;
    case QUARRY_ERR_QUERY:
    case QUARRY_ERR_READONLY:
    case QUARRY_ERR_INVALID:
    case QUARRY_ERR_UNSUPPORTED:
        return 422;
    default:
        return 500;
    }
}

static const char *code_of(int driver_status)
{
    switch (http_status_of(driver_status)) {
    case 502:
        return "target_unavailable";
    case 504:
        return "target_timeout";
    case 422:
        return "query_failed";
    default:
        return "internal";
    }
}

static int borrow(struct text2sql_request *r, struct target *t, struct quarry_error *err)
{
    size_t nparams;
    struct quarry_kv *kv = probe_flatten_params(r->state.params, &nparams);
    struct pool_target target = {
        r->connection_id, t->driver,
        r->state.url,     kv,
        nparams,          (int)config_long(r->app->config, CFG_CONNECT_TIMEOUT)};
    t->lease = kv ? pools_borrow(r->app->pools, &target, err) : NULL;
    free(kv);
    if (t->lease)
        return QUARRY_OK;
    return err->status ? err->status : QUARRY_ERR_NOMEM;
}

/*
 * Runs `query` (already checked) read-only: `limit` rows kept, one more
 * fetched to tell truncation; limit 0 only validates it. Returns a driver
 * status; rows go into `rows` when given.
 */
static int run_query(struct text2sql_request *r, struct target *t, const char *query, long limit,
                     struct rows *rows, struct quarry_error *err)
{
    /* One row past the limit tells truncation; LIMIT 0 makes the database only check the query. */
    char *bounded = t->is_document
                        ? strdup(query)
                        : sqlsafety_limit(query, t->driver->dialect, limit + (limit > 0));
    if (!bounded)
        return QUARRY_ERR_NOMEM;
    struct rows discard = {json_array(), json_array(), 0, 0};
    struct rows *into = rows ? rows : &discard;
    struct quarry_row_sink sink;
    memset(&sink, 0, sizeof(sink));
    QUARRY_STRUCT_INIT(&sink);
    sink.userdata = into;
    sink.begin = rows_begin;
    sink.row = rows_row;
    sink.end = rows_end;
    struct host_call call;
    host_call_init(&call, (int)config_long(r->app->config, CFG_STATEMENT_TIMEOUT),
                   (uint64_t)(limit + 1));
    int rc = t->driver->execute(pool_lease_conn(t->lease), &call.ctx, bounded, &sink, err);
    free(bounded);
    json_decref(discard.columns);
    json_decref(discard.rows);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Engines                                                                  */
/* ------------------------------------------------------------------------ */

struct candidate {
    char *query;
    double confidence;
    char *explanation;
    json_t *tables, *columns;
    const char *engine;
};

static void candidate_clear(struct candidate *c)
{
    free(c->query);
    free(c->explanation);
    json_decref(c->tables);
    json_decref(c->columns);
    memset(c, 0, sizeof(*c));
}

static int builtin(struct text2sql_request *r, const struct catalog *catalog, struct candidate *c)
{
    struct t2s_answer answer;
    memset(&answer, 0, sizeof(answer));
    int rc = t2s_translate(catalog, r->graph, r->question, r->result_limit, &answer);
    c->engine = "builtin";
    c->query = answer.query;
    c->confidence = answer.confidence;
    c->explanation = answer.explanation;
    c->tables = answer.tables ? answer.tables : json_array();
    c->columns = answer.columns ? answer.columns : json_array();
    return rc == 0 && c->query ? 0 : -1;
}

static int llm_configured(const struct app *app)
{
    return *config_str(app->config, CFG_LLM_URL) && *config_str(app->config, CFG_LLM_MODEL);
}

/* The pruned schema an LLM sees: the relevant tables with keys, relations and descriptions. */
static char *schema_text(const struct catalog *catalog, const json_t *labels)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    size_t i;
    json_t *label;
    json_array_foreach(labels, i, label)
    {
        const char *name = json_string_value(label);
        const char *dot = name ? strrchr(name, '.') : NULL;
        const struct catalog_table *t = dot ? catalog_find_table(catalog, NULL, dot + 1)
                                            : catalog_find_table(catalog, NULL, name ? name : "");
        if (!t)
            continue;
        fprintf(out, "TABLE %s%s%s", name, t->description ? " -- " : "",
                t->description ? t->description : "");
        fputc('\n', out);
        for (size_t c = 0; c < t->ncolumns; c++) {
            const struct catalog_column *col = &t->columns[c];
            fprintf(out, "  %s %s%s%s%s\n", col->name, col->type ? col->type : "",
                    col->pk_position ? " PRIMARY KEY" : "", col->semantic_type ? " -- " : "",
                    col->semantic_type ? col->semantic_type : "");
        }
        for (size_t k = 0; k < t->nfks; k++)
            fprintf(out, "  FOREIGN KEY (%s) REFERENCES %s(%s)\n", t->fks[k].columns[0],
                    t->fks[k].ref_table, t->fks[k].ref_columns[0]);
    }
    fclose(out);
    return text;
}

static char *ask_llm(struct text2sql_request *r, const char *dialect, const char *schema,
                     const char *failed_sql, const char *db_error, char *err, size_t errlen,
                     int *status)
{
    const struct app *app = r->app;
    struct llm_config config = {config_str(app->config, CFG_LLM_URL),
                                config_str(app->config, CFG_LLM_MODEL),
                                config_str(app->config, CFG_LLM_API_KEY),
                                (int)config_long(app->config, CFG_LLM_TIMEOUT),
                                0,
                                0.0};
    struct llm_prompt prompt = {dialect, schema,          r->samples, r->question,
                                NULL,    r->result_limit, failed_sql, db_error};
    json_t *messages = llm_prompt_text2sql(&prompt);
    char *completion = messages ? llm_chat_json(&config, messages, status, err, errlen) : NULL;
    json_decref(messages);
    char *query = completion ? llm_extract_sql(completion) : NULL;
    free(completion);
    if (completion && !query) {
        *status = LLM_ERR_RESPONSE;
        snprintf(err, errlen, "the LLM's answer held no query");
    }
    return query;
}

/* ------------------------------------------------------------------------ */
/* The pipeline                                                             */
/* ------------------------------------------------------------------------ */

/* 1 when the query passes the safety gate; otherwise the request fails with 422. */
static int safe(struct text2sql_request *r, const struct target *t, const char *query)
{
    struct sqlsafety_verdict verdict;
    int ok = t->is_document ? sqlsafety_check_pipeline(query, &verdict)
                            : sqlsafety_check(query, t->driver->dialect, &verdict);
    if (!ok)
        fail(r, 422, "unsafe_query", "the generated query was refused: %s", verdict.reason);
    return ok;
}

static void respond(struct text2sql_request *r, const struct target *t, struct candidate *c,
                    struct rows *rows, double elapsed_ms)
{
    /* "columns" names the result's columns when executed; what the query used is columns_used. */
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:f, s:s?, s:O, s:O, s:s, s:i, s:b}", "question", r->question,
                  "sql", c->query, "engine", c->engine, "confidence", c->confidence, "explanation",
                  c->explanation, "tables", c->tables, "columns_used", c->columns, "dialect",
                  t->driver->dialect, "snapshot_version", r->version, "validated", 1);
    if (t->is_document)
        json_object_set_new(body, "pipeline", json_loads(c->query, 0, NULL));
    if (rows) {
        json_object_set(body, "columns", rows->columns);
        json_object_set(body, "rows", rows->rows);
        json_object_set_new(body, "row_count",
                            json_integer((json_int_t)json_array_size(rows->rows)));
        json_object_set_new(body, "truncated", json_boolean(rows->truncated));
        json_object_set_new(body, "elapsed_ms", json_real(elapsed_ms));
    }
    r->status = 200;
    r->response = body;
}

/*
 * Checks and runs one candidate. 0 when it ran; a driver status when the
 * database refused it (`err` says why, for a retry); -1 when the request
 * already failed (unsafe, or the target is down).
 */
static int try_candidate(struct text2sql_request *r, struct target *t, struct candidate *c,
                         struct quarry_error *err)
{
    if (!safe(r, t, c->query))
        return -1;
    struct rows rows = {json_array(), json_array(), r->result_limit, 0};
    int64_t started = host_now_ms();
    host_error_init(err);
    int rc =
        run_query(r, t, c->query, r->execute ? r->result_limit : 0, r->execute ? &rows : NULL, err);
    double elapsed = (double)(host_now_ms() - started);
    if (rc == QUARRY_OK)
        respond(r, t, c, r->execute ? &rows : NULL, elapsed);
    else if (http_status_of(rc) != 422)
        fail(r, http_status_of(rc), code_of(rc), "%s",
             err->message[0] ? err->message : "the database failed");
    json_decref(rows.columns);
    json_decref(rows.rows);
    if (rc == QUARRY_OK)
        return 0;
    return http_status_of(rc) == 422 ? rc : -1;
}

static void run_llm(struct text2sql_request *r, struct target *t, const struct catalog *catalog,
                    struct candidate *c)
{
    json_t *labels = t2s_relevant_tables(catalog, r->graph, r->question, T2S_SCHEMA_TABLES);
    char *schema = schema_text(catalog, labels);
    char err[512] = "";
    char *failed = NULL;
    struct quarry_error db_err;
    host_error_init(&db_err);
    /* One attempt, and one retry with the database's error in the prompt. */
    for (int attempt = 0; attempt < 2 && r->status == 0; attempt++) {
        int status = 0;
        candidate_clear(c);
        c->engine = "llm";
        c->query = ask_llm(r, catalog->dialect, schema ? schema : "", failed,
                           failed ? db_err.message : NULL, err, sizeof(err), &status);
        if (!c->query) {
            fail(r, status == LLM_ERR_TIMEOUT ? 504 : 502, "llm_unavailable", "%s", err);
            break;
        }
        c->confidence = attempt == 0 ? 0.7 : 0.6;
        c->explanation = strdup(attempt ? "Written by the LLM, corrected after a database error."
                                        : "Written by the LLM from the relevant tables.");
        c->tables = json_incref(labels);
        c->columns = json_array();
        int rc = try_candidate(r, t, c, &db_err);
        if (rc <= 0)
            break;
        free(failed);
        failed = strdup(c->query);
        if (attempt == 1)
            fail(r, 422, "query_failed", "the database refused the query: %s", db_err.message);
    }
    free(failed);
    free(schema);
    json_decref(labels);
}

static void run_with_target(struct text2sql_request *r, struct target *t,
                            const struct catalog *catalog)
{
    struct candidate c;
    memset(&c, 0, sizeof(c));
    int use_llm = r->engine == T2S_ENGINE_LLM;
    if (!use_llm) {
        int built = builtin(r, catalog, &c) == 0;
        double threshold = (double)config_long(r->app->config, CFG_AUTO_CONFIDENCE) / 100.0;
        use_llm = r->engine == T2S_ENGINE_AUTO && llm_configured(r->app) &&
                  (!built || c.confidence < threshold);
        if (!use_llm && !built) {
            fail(r, 422, "not_understood", "%s",
                 c.explanation ? c.explanation : "the question could not be translated");
            candidate_clear(&c);
            return;
        }
    }
    if (use_llm) {
        run_llm(r, t, catalog, &c);
    } else {
        struct quarry_error err;
        int rc = try_candidate(r, t, &c, &err);
        if (rc > 0)
            fail(r, 422, "query_failed", "the database refused the generated query: %s",
                 err.message);
    }
    candidate_clear(&c);
}

/* The analysis the request works from, read with the worker's own registry handle. */
static int load_analysis(struct text2sql_request *r)
{
    struct registry *registry = registry_thread();
    if (!registry)
        return -1;
    r->snapshot = snapshots_get(registry, r->connection_id, r->version, SNAPSHOT_SEMANTIC);
    r->graph = snapshots_get(registry, r->connection_id, r->version, SNAPSHOT_GRAPH);
    r->samples = snapshots_get(registry, r->connection_id, r->version, SNAPSHOT_SAMPLES);
    return r->snapshot ? 0 : -1;
}

void text2sql_run(struct text2sql_request *r)
{
    if (load_analysis(r) != 0) {
        fail(r, 500, "internal", "cannot read the connection's analysis");
        return;
    }
    struct target t = {loader_find(r->state.database_type), NULL, 0};
    if (!t.driver) {
        fail(r, 422, "unsupported_database_type", "no loaded driver serves %s",
             r->state.database_type);
        return;
    }
    t.is_document = (t.driver->capabilities & QUARRY_CAP_DOCUMENT) != 0;
    struct catalog *catalog = t2s_catalog_from_snapshot(
        r->snapshot, t.driver->dialect, t.driver->identifier_quote, t.driver->limit_style);
    struct quarry_error err;
    host_error_init(&err);
    if (!catalog) {
        fail(r, 500, "internal", "the stored snapshot cannot be read");
        return;
    }
    int rc = borrow(r, &t, &err);
    if (rc != QUARRY_OK) {
        fail(r, http_status_of(rc) == 422 ? 502 : http_status_of(rc), code_of(rc), "%s",
             err.message[0] ? err.message : "cannot connect to the database");
    } else {
        run_with_target(r, &t, catalog);
        /* A failure at the connection level: that connection is not lent again. */
        int broken = r->status == 502 || r->status == 504;
        pools_return(r->app->pools, t.lease, broken);
    }
    catalog_free(catalog);
}
