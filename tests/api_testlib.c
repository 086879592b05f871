#include "api_testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

/* Suite setups call these too, where CUnit has no test to record an assertion in. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (CU_get_current_test())                                                                 \
            CU_ASSERT(cond);                                                                       \
    } while (0)

char *api_create(struct harness_server *server, const char *name, const char *type,
                 const char *target, const char *agent)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "database_type", type, "url",
                             target, "agent_id", agent);
    char *text = json_dumps(body, 0);
    json_decref(body);
    json_t *reply = api_call(server, "POST", "/v1/database-connection", text, 201);
    free(text);
    const char *id = json_string_value(json_object_get(json_object_get(reply, "connection"), "id"));
    char *copy = id ? strdup(id) : NULL;
    json_decref(reply);
    return copy;
}

json_t *api_call(struct harness_server *server, const char *method, const char *path,
                 const char *body, long expected)
{
    struct harness_response r;
    if (harness_request(server, method, path, body, harness_auth(server), &r) != 0) {
        CHECK(0 && "no response");
        return NULL;
    }
    if (r.status != expected)
        fprintf(stderr, "%s %s: expected %ld, got %ld: %.400s\n", method, path, expected, r.status,
                r.body);
    CHECK(r.status == expected);
    json_t *json = json_incref(r.json);
    harness_response_free(&r);
    return json;
}

json_t *api_get(struct harness_server *server, const char *path, long expected)
{
    return api_call(server, "GET", path, NULL, expected);
}

json_t *api_wait_task(struct harness_server *server, const char *task_id, int timeout_s)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/tasks/%s/status", task_id ? task_id : "none");
    json_t *status = NULL;
    for (int i = 0; i < timeout_s * 10; i++) {
        json_decref(status);
        status = api_get(server, path, 200);
        const char *s = json_string_value(json_object_get(status, "status"));
        if (!s || strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0)
            return status;
        usleep(100000);
    }
    CHECK(0 && "the task did not finish in time");
    return status;
}

json_t *api_analyze(struct harness_server *server, const char *connection_id, int timeout_s)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/database-connection/%s/analyze", connection_id);
    json_t *ack = api_call(server, "POST", path, NULL, 202);
    json_t *done =
        api_wait_task(server, json_string_value(json_object_get(ack, "task_id")), timeout_s);
    json_decref(ack);
    if (done && strcmp(json_string_value(json_object_get(done, "status")), "succeeded") != 0) {
        char *text = json_dumps(done, 0);
        fprintf(stderr, "analysis of %s: %s\n", connection_id, text);
        free(text);
    }
    return done;
}
