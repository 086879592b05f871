/*
 * Text-to-SQL, end to end on a worker: the built-in engine and/or the LLM
 * produce a query; the safety gate checks it; the database validates it (or
 * runs it, read-only, with the row limit in the query and the statement
 * timeout in the session); the LLM gets one retry with the database's error.
 */
#ifndef QUARRY_TEXT2SQL_H
#define QUARRY_TEXT2SQL_H

#include <jansson.h>

#include "connections.h"

struct app;

enum text2sql_engine { T2S_ENGINE_BUILTIN, T2S_ENGINE_LLM, T2S_ENGINE_AUTO };

/* Everything a request needs, gathered on the loop thread; owned by the request. */
struct text2sql_request {
    char connection_id[ID_UUID_LEN + 1];
    char *question;
    int execute;
    long result_limit;
    int engine; /* enum text2sql_engine */
    int version;
    json_t *snapshot, *graph, *samples; /* owned; loaded on the worker */
    struct conn_state state;            /* clear URL and params, for the pool */
    const struct app *app;
    /* The outcome, filled on the worker. */
    int status;    /* HTTP status: 200, or the error's */
    char code[40]; /* error code when status != 200 */
    char message[1024];
    json_t *response; /* 200: the body */
};

/* Runs a request (worker thread). Sets status, and response or code/message. */
void text2sql_run(struct text2sql_request *request);
void text2sql_request_free(struct text2sql_request *request);

#endif
