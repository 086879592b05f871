/* libFuzzer target: request bodies (JSON) applied to a connection, in every mode. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "conn_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    static const enum conn_apply_mode modes[] = {CONN_APPLY_CREATE, CONN_APPLY_REPLACE,
                                                 CONN_APPLY_MERGE};
    for (size_t i = 0; i < 3; i++) {
        struct conn_state state;
        struct input_error err;
        memset(&state, 0, sizeof(state));
        json_t *changed = json_array();
        /* Applying twice exercises the merge and masked-secret paths on a filled state. */
        if (conn_input_apply(&state, body, modes[i], changed, &err) == 0)
            conn_input_apply(&state, body, CONN_APPLY_MERGE, changed, &err);
        json_decref(changed);
        conn_state_clear(&state);
    }
    json_decref(body);
    return 0;
}
