#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/thread.h>
#include <sodium.h>
#include <sqlite3.h>

static char scratch[256];
static unsigned scratch_counter;

void harness_global_init(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/quarry-tests-XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        exit(2);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sodium_init() < 0 || evthread_use_pthreads() != 0) {
        fprintf(stderr, "cannot initialise libsodium or libevent threads\n");
        exit(2);
    }
    /* A server that dies mid-request must fail a test, not kill the runner. */
    signal(SIGPIPE, SIG_IGN);
}

void harness_global_cleanup(void)
{
    curl_global_cleanup();
    if (getenv("QUARRY_KEEP_TMP"))
        return;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch);
}

const char *harness_tmpdir(void)
{
    return scratch;
}

char *harness_tmppath(const char *prefix, const char *suffix)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s-%u%s", scratch, prefix, ++scratch_counter, suffix ? suffix : "") < 0)
        return NULL;
    return path;
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = -1, rc = -1;
    char buf[65536];
    ssize_t n;
    if (in < 0)
        goto out;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0)
        goto out;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            goto out;
    rc = n == 0 ? 0 : -1;
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

char *harness_copy_fixture(const char *relpath)
{
    char src[1024];
    snprintf(src, sizeof(src), "%s/%s", QUARRY_TEST_FIXTURES, relpath);
    const char *base = strrchr(relpath, '/');
    char *dst = harness_tmppath(base ? base + 1 : relpath, NULL);
    if (dst && copy_file(src, dst) != 0) {
        fprintf(stderr, "copy %s -> %s: %s\n", src, dst, strerror(errno));
        free(dst);
        return NULL;
    }
    return dst;
}

/* ------------------------------------------------------------------------ */

struct harness_server {
    pid_t pid;
    int port;
    char *registry;
    char *log_path;
    struct harness_key write_key;
};

/* Runs `quarryd keys create` and reads its two `NAME=value` lines. */
static int create_key(const char *registry, const char *scope, const char *agent,
                      struct harness_key *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "%s keys create --scope %s --registry '%s' %s%s 2>/dev/null",
             QUARRY_TEST_BINARY, scope, registry, agent ? "--agent " : "", agent ? agent : "");
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    memset(out, 0, sizeof(*out));
    char line[512];
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "QUARRY_API_KEY=", 15) == 0)
            snprintf(out->id, sizeof(out->id), "%.63s", line + 15);
        else if (strncmp(line, "QUARRY_API_SECRET=", 18) == 0)
            snprintf(out->secret, sizeof(out->secret), "%.127s", line + 18);
    }
    int status = pclose(p);
    if (status != 0 || !out->id[0] || !out->secret[0]) {
        fprintf(stderr, "quarryd keys create --scope %s failed (status %d)\n", scope, status);
        return -1;
    }
    snprintf(out->key_header, sizeof(out->key_header), "X-API-Key: %s", out->id);
    snprintf(out->secret_header, sizeof(out->secret_header), "X-API-Secret: %s", out->secret);
    out->headers[0] = out->key_header;
    out->headers[1] = out->secret_header;
    out->headers[2] = NULL;
    return 0;
}

int harness_key(struct harness_server *server, const char *scope, const char *agent,
                struct harness_key *out)
{
    return create_key(server->registry, scope, agent, out);
}

const char *const *harness_auth(struct harness_server *server)
{
    return server->write_key.headers;
}

int harness_port(const struct harness_server *server)
{
    return server->port;
}

const char *harness_registry_path(const struct harness_server *server)
{
    return server->registry;
}

char *harness_log(const struct harness_server *server)
{
    FILE *f = fopen(server->log_path, "r");
    if (!f)
        return strdup("");
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(mem);
    fclose(f);
    return text;
}

long harness_sqlite_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

long harness_peak_rss_kb(const struct harness_server *server)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)server->pid);
    FILE *f = server->pid > 0 ? fopen(path, "r") : NULL;
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int read_port_file(const char *path)
{
    FILE *f = fopen(path, "r");
    int port = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

static void exec_server(const char *const *extra_args, const char *const *env, const char *registry,
                        const char *port_file, const char *log_path)
{
    const char *argv[64];
    int argc = 0;
    argv[argc++] = QUARRY_TEST_BINARY;
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--port-file";
    argv[argc++] = port_file;
    argv[argc++] = "--registry";
    argv[argc++] = registry;
    argv[argc++] = "--plugin-dir";
    argv[argc++] = QUARRY_TEST_PLUGIN_DIR;
    argv[argc++] = "--log-level";
    argv[argc++] = "debug";
    for (int i = 0; extra_args && extra_args[i] && argc < 63; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;

    for (int i = 0; env && env[i]; i++)
        putenv((char *)env[i]);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log_fd >= 0) {
        dup2(log_fd, STDERR_FILENO);
        dup2(log_fd, STDOUT_FILENO);
        close(log_fd);
    }
    execv(argv[0], (char *const *)argv);
    perror("execv quarryd");
    _exit(127);
}

struct harness_server *harness_start(const char *const *extra_args, const char *const *env)
{
    char *registry = harness_tmppath("registry", ".db");
    struct harness_server *server = harness_start_at(registry, extra_args, env);
    free(registry);
    return server;
}

struct harness_server *harness_start_at(const char *registry, const char *const *extra_args,
                                        const char *const *env)
{
    struct harness_server *server = calloc(1, sizeof(*server));
    char *port_file = harness_tmppath("port", NULL);
    server->registry = strdup(registry);
    server->log_path = harness_tmppath("quarryd", ".log");

    if (create_key(server->registry, "write", NULL, &server->write_key) != 0) {
        free(port_file);
        harness_stop(server);
        return NULL;
    }
    server->pid = fork();
    if (server->pid == 0)
        exec_server(extra_args, env, server->registry, port_file, server->log_path);

    /* Up to 10 s for the port file; quarryd writes it once it listens. */
    for (int i = 0; i < 1000 && !server->port; i++) {
        int status;
        if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
            server->pid = 0;
            break;
        }
        server->port = read_port_file(port_file);
        if (!server->port)
            usleep(10000);
    }
    free(port_file);
    if (!server->port) {
        char *log = harness_log(server);
        fprintf(stderr, "quarryd did not start:\n%s\n", log);
        free(log);
        harness_stop(server);
        return NULL;
    }
    return server;
}

int harness_stop(struct harness_server *server)
{
    int status = -1;
    if (!server)
        return -1;
    if (server->pid > 0) {
        kill(server->pid, SIGTERM);
        for (int i = 0; i < 1000; i++) {
            if (waitpid(server->pid, &status, WNOHANG) == server->pid)
                break;
            usleep(10000);
            if (i == 999) {
                kill(server->pid, SIGKILL);
                waitpid(server->pid, &status, 0);
            }
        }
    }
    free(server->registry);
    free(server->log_path);
    free(server);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return -1;
}

/* ------------------------------------------------------------------------ */

static size_t collect_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    FILE *mem = userdata;
    return fwrite(data, size, nmemb, mem);
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return NULL;
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return strndup(v, (size_t)(end - v));
}

static size_t collect_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct harness_response *out = userdata;
    size_t len = size * nmemb;
    char *v;
    if ((v = header_value(data, len, "Content-Type"))) {
        free(out->content_type);
        out->content_type = v;
    } else if ((v = header_value(data, len, "X-Request-Id"))) {
        free(out->request_id);
        out->request_id = v;
    }
    return len;
}

int harness_request(struct harness_server *server, const char *method, const char *path,
                    const char *body, const char *const *headers, struct harness_response *out)
{
    return harness_request_port(server->port, method, path, body, headers, out);
}

int harness_request_port(int port, const char *method, const char *path, const char *body,
                         const char *const *headers, struct harness_response *out)
{
    memset(out, 0, sizeof(*out));
    CURL *curl = curl_easy_init();
    if (!curl)
        return -1;
    char url[2048];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);

    struct curl_slist *list = NULL;
    for (int i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    if (body)
        list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:");

    FILE *mem = open_memstream(&out->body, &out->body_len);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        /* A body-less POST/PATCH/DELETE, as the SDKs send: Content-Length: 0. */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(curl);
    fclose(mem);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    else
        fprintf(stderr, "%s %s: %s\n", method, path, curl_easy_strerror(rc));
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK)
        return -1;
    out->json = json_loadb(out->body, out->body_len, 0, NULL);
    return 0;
}

void harness_response_free(struct harness_response *response)
{
    free(response->body);
    json_decref(response->json);
    free(response->content_type);
    free(response->request_id);
    memset(response, 0, sizeof(*response));
}
