#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ids.h"
#include "log.h"
#include "mailbox.h"
#include "router.h"
#include "workers.h"

/* Bodies up to this multiple of the limit are read and answered with a JSON 413;
 * evhttp itself cuts larger ones off (with its own, non-JSON, 413). */
#define HTTP_TRANSPORT_LIMIT_FACTOR 4
#define HTTP_MAX_HEADERS_SIZE (16 * 1024)
#define HTTP_IDLE_TIMEOUT_S 60
#define HTTP_REQUEST_ID_MAX 64

struct http_server {
    struct event_base *base;
    struct evhttp *evhttp;
    struct evhttp_bound_socket *socket;
    struct mailbox *mailbox;
    struct http_server_options options;
    int port;
    size_t in_flight;
};

struct http_exchange {
    struct http_server *server;
    struct evhttp_request *req;
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    int method;
    const char *method_name;
    char *path;
    struct router_match match;
    struct evkeyvalq query;
    void *context;
    void (*context_free)(void *);
};

struct deferred {
    struct http_exchange *exchange;
    void (*run)(void *arg);
    void (*done)(struct http_exchange *exchange, void *arg);
    void *arg;
};

/* ------------------------------------------------------------------------ */
/* Exchange lifecycle                                                       */
/* ------------------------------------------------------------------------ */

static int request_id_acceptable(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > HTTP_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("-_.:", id[i]))
            return 0;
    return 1;
}

static struct http_exchange *exchange_new(struct http_server *server, struct evhttp_request *req)
{
    struct http_exchange *ex = calloc(1, sizeof(*ex));
    if (!ex)
        return NULL;
    ex->server = server;
    ex->req = req;
    TAILQ_INIT(&ex->query);
    /* A caller's own request id threads through our logs; anything odd is replaced. */
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    if (request_id_acceptable(given))
        snprintf(ex->request_id, sizeof(ex->request_id), "%s", given);
    else
        id_uuid4(ex->request_id);
    server->in_flight++;
    return ex;
}

static void exchange_free(struct http_exchange *ex)
{
    if (ex->context_free)
        ex->context_free(ex->context);
    router_match_clear(&ex->match);
    evhttp_clear_headers(&ex->query);
    free(ex->path);
    ex->server->in_flight--;
    free(ex);
}

/* Sends `buf` (may be NULL: no body) with the headers every reply carries, and ends the exchange.
 */
static void send_buffer(struct http_exchange *ex, int status, const char *type,
                        struct evbuffer *buf)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(ex->req);
    evhttp_add_header(headers, "Content-Type", type);
    evhttp_add_header(headers, "X-Request-Id", ex->request_id);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    log_debug("%s %s -> %d [%s]", ex->method_name, ex->path ? ex->path : "?", status,
              ex->request_id);
    evhttp_send_reply(ex->req, status, NULL, buf);
    if (buf)
        evbuffer_free(buf);
    exchange_free(ex);
}

static void send_typed(struct http_exchange *ex, int status, const char *type, const char *text,
                       size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf)
        evbuffer_add(buf, text, len);
    send_buffer(ex, status, type, buf);
}

static void free_taken(const void *data, size_t len, void *arg)
{
    (void)len, (void)arg;
    free((void *)data);
}

void http_reply_json_take(struct http_exchange *ex, int status, char *text, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    /* The connection's output takes the chain over; `text` is freed once it is sent. */
    if (!buf || evbuffer_add_reference(buf, text, len, free_taken, NULL) != 0)
        free(text);
    send_buffer(ex, status, "application/json", buf);
}

static void send_body(struct http_exchange *ex, int status, const char *text, size_t len)
{
    send_typed(ex, status, "application/json", text, len);
}

void http_reply_text(struct http_exchange *ex, int status, const char *content_type,
                     const char *text)
{
    send_typed(ex, status, content_type, text, strlen(text));
}

void http_reply_json(struct http_exchange *ex, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of "
                                  "memory\"},\"message\":\"out of memory\",\"error_code\":"
                                  "\"internal\"}";
        send_body(ex, 500, oom, sizeof(oom) - 1);
        return;
    }
    send_body(ex, status, text, strlen(text));
    free(text);
}

static json_t *error_envelope(const char *request_id, const char *code, const char *message)
{
    /* `message`, `error_code`, `detail` and `description` are what existing
       clients (Knowrithm's and Dataherald's) read; `error` is Quarry's own. */
    return json_pack("{s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:s}", "error", "code", code, "message",
                     message, "request_id", request_id, "message", message, "error_code", code,
                     "detail", message, "description", message);
}

static void reply_error_v(struct http_exchange *ex, int status, const char *code, json_t *extra,
                          const char *fmt, va_list ap)
{
    char message[1024];
    vsnprintf(message, sizeof(message), fmt, ap);
    json_t *body = error_envelope(ex->request_id, code, message);
    if (body && extra)
        json_object_update(body, extra);
    json_decref(extra);
    if (status >= 500)
        log_warn("%s -> %d %s: %s [%s]", ex->path ? ex->path : "?", status, code, message,
                 ex->request_id);
    http_reply_json(ex, status, body);
}

void http_reply_error(struct http_exchange *ex, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(ex, status, code, NULL, fmt, ap);
    va_end(ap);
}

void http_reply_error_with(struct http_exchange *ex, int status, const char *code, json_t *extra,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(ex, status, code, extra, fmt, ap);
    va_end(ap);
}

void http_add_header(struct http_exchange *ex, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(ex->req), name, value);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

void *http_app(const struct http_exchange *ex)
{
    return ex->server->options.app;
}

const char *http_request_id(const struct http_exchange *ex)
{
    return ex->request_id;
}

int http_method(const struct http_exchange *ex)
{
    return ex->method;
}

const char *http_path(const struct http_exchange *ex)
{
    return ex->path;
}

const char *http_param(const struct http_exchange *ex, const char *name)
{
    return router_param(&ex->match, name);
}

const char *http_query(struct http_exchange *ex, const char *name)
{
    return evhttp_find_header(&ex->query, name);
}

const char *http_header(const struct http_exchange *ex, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(ex->req), name);
}

int http_has_body(const struct http_exchange *ex)
{
    return evbuffer_get_length(evhttp_request_get_input_buffer(ex->req)) > 0;
}

void http_set_context(struct http_exchange *ex, void *context, void (*free_fn)(void *))
{
    if (ex->context_free)
        ex->context_free(ex->context);
    ex->context = context;
    ex->context_free = free_fn;
}

void *http_context(const struct http_exchange *ex)
{
    return ex->context;
}

int http_body_json_any(struct http_exchange *ex, json_t **out)
{
    *out = NULL;
    struct evbuffer *input = evhttp_request_get_input_buffer(ex->req);
    size_t len = evbuffer_get_length(input);
    if (len == 0)
        return 0;
    const char *data = (const char *)evbuffer_pullup(input, -1);
    json_error_t error;
    json_t *body =
        data ? json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error) : NULL;
    if (!body) {
        http_reply_error(
            ex, 400, "malformed_json", "request body is not valid JSON: %s (line %d, column %d)",
            data ? error.text : "out of memory", data ? error.line : 0, data ? error.column : 0);
        return -1;
    }
    *out = body;
    return 0;
}

int http_body_json(struct http_exchange *ex, json_t **out)
{
    if (http_body_json_any(ex, out) != 0)
        return -1;
    if (*out && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        http_reply_error(ex, 422, "invalid_body", "request body must be a JSON object");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deferred work                                                            */
/* ------------------------------------------------------------------------ */

static void deferred_done(void *arg)
{
    struct deferred *d = arg;
    d->done(d->exchange, d->arg);
    free(d);
}

static void deferred_run(void *arg)
{
    struct deferred *d = arg;
    d->run(d->arg);
    if (mailbox_post(d->exchange->server->mailbox, deferred_done, d) != 0)
        log_error("cannot post a reply to the loop thread: out of memory");
}

int http_defer(struct http_exchange *ex, void (*run)(void *arg),
               void (*done)(struct http_exchange *ex, void *arg), void *arg)
{
    struct deferred *d = malloc(sizeof(*d));
    if (d) {
        *d = (struct deferred){.exchange = ex, .run = run, .done = done, .arg = arg};
        if (workers_submit(ex->server->options.workers, deferred_run, d) == 0)
            return 0;
        free(d);
    }
    http_add_header(ex, "Retry-After", "1");
    http_reply_error(ex, 503, "busy", "the server is busy; retry shortly");
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */
/* ------------------------------------------------------------------------ */

static const char *method_name_of(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    default:
        return "UNKNOWN";
    }
}

/* Returns 0 with the exchange routed, or -1 once it has replied. */
static int route_exchange(struct http_exchange *ex)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ex->req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path) {
        http_reply_error(ex, 400, "bad_request", "the request has no path");
        return -1;
    }
    ex->path = strdup(path);
    const char *query = evhttp_uri_get_query(uri);
    if (query && *query && evhttp_parse_query_str(query, &ex->query) != 0) {
        http_reply_error(ex, 400, "bad_query", "malformed query string");
        return -1;
    }

    /* HEAD is answered as GET; evhttp leaves the body out. */
    int lookup = ex->method == ROUTER_HEAD ? ROUTER_GET : ex->method;
    int found = ex->path ? router_match(ex->server->options.router, lookup, path, &ex->match) : -1;
    if (found == 1)
        return 0;
    if (found == 0 && ex->match.allowed) {
        char allow[128];
        router_methods_format(ex->match.allowed, allow, sizeof(allow));
        http_add_header(ex, "Allow", allow);
        http_reply_error(ex, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                         ex->method_name, path, allow);
        return -1;
    }
    http_reply_error(ex, 404, "not_found", "no route for %s", path);
    return -1;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct http_server *server = arg;
    struct http_exchange *ex = exchange_new(server, req);
    if (!ex) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    ex->method_name = method_name_of(evhttp_request_get_command(req));
    ex->method = router_method_parse(ex->method_name);
    if (route_exchange(ex) != 0)
        return;

    size_t body_len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    if (body_len > server->options.body_limit) {
        http_reply_error(ex, 413, "body_too_large",
                         "request body of %zu bytes exceeds the limit of %zu", body_len,
                         server->options.body_limit);
        return;
    }
    const struct route_target *target = ex->match.target;
    if (server->options.authorize && server->options.authorize(ex, target->scope) != 0)
        return;
    target->handler(ex);
}

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

static int bound_port(struct evhttp_bound_socket *socket)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(socket), (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

struct http_server *http_server_new(struct event_base *base,
                                    const struct http_server_options *options)
{
    struct http_server *server = calloc(1, sizeof(*server));
    if (!server)
        return NULL;
    server->base = base;
    server->options = *options;
    server->evhttp = evhttp_new(base);
    server->mailbox = mailbox_new(base);
    if (!server->evhttp || !server->mailbox)
        goto err;

    /* Every method reaches the router, which answers 405 for the ones a path lacks. */
    evhttp_set_allowed_methods(server->evhttp, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                   EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                                   EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(server->evhttp,
                             (ev_ssize_t)(options->body_limit * HTTP_TRANSPORT_LIMIT_FACTOR));
    evhttp_set_max_headers_size(server->evhttp, HTTP_MAX_HEADERS_SIZE);
    evhttp_set_timeout(server->evhttp, HTTP_IDLE_TIMEOUT_S);
    evhttp_set_gencb(server->evhttp, on_request, server);

    server->socket =
        evhttp_bind_socket_with_handle(server->evhttp, options->host, (ev_uint16_t)options->port);
    if (!server->socket) {
        log_error("cannot listen on %s:%d", options->host, options->port);
        goto err;
    }
    server->port = bound_port(server->socket);
    return server;
err:
    http_server_free(server);
    return NULL;
}

int http_server_port(const struct http_server *server)
{
    return server->port;
}

void http_server_stop_accepting(struct http_server *server)
{
    if (server->socket) {
        evhttp_del_accept_socket(server->evhttp, server->socket);
        server->socket = NULL;
    }
}

size_t http_server_in_flight(const struct http_server *server)
{
    return server->in_flight;
}

void http_server_free(struct http_server *server)
{
    if (!server)
        return;
    /* Replies still in the mailbox need their evhttp requests alive. */
    mailbox_free(server->mailbox);
    if (server->evhttp)
        evhttp_free(server->evhttp);
    free(server);
}
