/*
 * Test helpers shared by every test area: a scratch directory, fixture
 * copies, and the HTTP integration harness that starts quarryd on a free
 * loopback port with a temporary registry and drives it with libcurl.
 */
#ifndef QUARRY_TEST_HARNESS_H
#define QUARRY_TEST_HARNESS_H

#include <jansson.h>

void harness_global_init(void);
void harness_global_cleanup(void);

/* The run's scratch directory (removed at exit). Borrowed. */
const char *harness_tmpdir(void);
/* A fresh path under the scratch directory: "<tmp>/<prefix>-<n><suffix>". Caller frees. */
char *harness_tmppath(const char *prefix, const char *suffix);
/* Copies tests/fixtures/<relpath> to a fresh scratch path. Caller frees. */
char *harness_copy_fixture(const char *relpath);

struct harness_server;

/*
 * Starts quarryd with a temporary registry, listening on 127.0.0.1:<free>.
 * `extra_args` (NULL-terminated, may be NULL) are appended to its command
 * line; `env` (NULL-terminated "K=V", may be NULL) is added to its
 * environment. Returns NULL (and logs why) if it did not come up.
 */
struct harness_server *harness_start(const char *const *extra_args, const char *const *env);
/* SIGTERM, wait; returns quarryd's exit status (0 on a clean shutdown). */
int harness_stop(struct harness_server *server);
/* As harness_start, on an existing registry file (a restart). */
struct harness_server *harness_start_at(const char *registry, const char *const *extra_args,
                                        const char *const *env);
int harness_port(const struct harness_server *server);
const char *harness_registry_path(const struct harness_server *server);
/* The server's stderr so far (caller frees). */
char *harness_log(const struct harness_server *server);
/* The server process's peak resident set (VmHWM of /proc/<pid>/status) in kB, or -1. */
long harness_peak_rss_kb(const struct harness_server *server);

/*
 * The first column of the first row `sql` answers on the sqlite file `path`
 * (opened read-only), as an integer; -1 when it cannot be read.
 */
long harness_sqlite_count(const char *path, const char *sql);

/* An API key made with `quarryd keys create` against a server's registry. */
struct harness_key {
    char id[64];
    char secret[128];
    char key_header[96];     /* "X-API-Key: <id>" */
    char secret_header[160]; /* "X-API-Secret: <secret>" */
    const char *headers[3];  /* the two above, NULL-terminated: pass as `headers` */
};

/*
 * Creates a key with `scope` ("read", "write", "admin"), bound to `agent`
 * when not NULL. Returns 0, or -1 (the reason on stderr).
 */
int harness_key(struct harness_server *server, const char *scope, const char *agent,
                struct harness_key *out);
/* The write key harness_start made for the server: its auth headers. */
const char *const *harness_auth(struct harness_server *server);

struct harness_response {
    long status;
    char *body; /* NUL-terminated */
    size_t body_len;
    json_t *json;       /* parsed body, or NULL */
    char *content_type; /* or NULL */
    char *request_id;   /* X-Request-Id, or NULL */
};

/*
 * One request over loopback. `body` may be NULL (no body, no Content-Type);
 * `headers` NULL-terminated "Name: value" lines, may be NULL. Returns 0 when
 * a response arrived.
 */
int harness_request(struct harness_server *server, const char *method, const char *path,
                    const char *body, const char *const *headers, struct harness_response *out);
void harness_response_free(struct harness_response *response);
/* The same, to any loopback port (for servers a test runs in-process). */
int harness_request_port(int port, const char *method, const char *path, const char *body,
                         const char *const *headers, struct harness_response *out);

#endif
