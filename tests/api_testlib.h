/* Small helpers for the HTTP API tests, on top of harness.h. */
#ifndef QUARRY_TEST_API_TESTLIB_H
#define QUARRY_TEST_API_TESTLIB_H

#include <jansson.h>

#include "harness.h"

/*
 * Registers a connection (native API, the server's write key). `target` is a
 * URL, or an absolute sqlite path. Returns its id (caller frees) or NULL.
 */
char *api_create(struct harness_server *server, const char *name, const char *type,
                 const char *target, const char *agent);

/*
 * One call with the write key; asserts the status is `expected` and returns
 * the parsed body (caller decrefs; may be NULL).
 */
json_t *api_call(struct harness_server *server, const char *method, const char *path,
                 const char *body, long expected);
json_t *api_get(struct harness_server *server, const char *path, long expected);

/* Polls a task until it ends or `timeout_s` passes; returns its last status payload. */
json_t *api_wait_task(struct harness_server *server, const char *task_id, int timeout_s);

/* Queues an analysis and waits for it; returns the final task payload. */
json_t *api_analyze(struct harness_server *server, const char *connection_id, int timeout_s);

#endif
