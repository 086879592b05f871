/*
 * The OpenAI-compatible test peer (see llm_peer.h): plain evhttp in a thread.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "llm_peer.h"

#define PEER_MAX_EXPECT 8
#define PEER_MAX_BODY (8 * 1024 * 1024)

struct queued_reply {
    int status;
    char *content_type;
    char *body;
    size_t body_len;
    int delay_ms;
    char *location;
    struct queued_reply *next;
};

struct delayed {
    struct llm_peer *peer;
    struct evhttp_request *req;
    struct queued_reply *reply;
    struct event *timer;
};

struct llm_peer {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    char url[64];
    char *api_key;
    char *model;

    pthread_mutex_t lock; /* everything below */
    struct queued_reply *head, *tail;
    char *expect[PEER_MAX_EXPECT];
    size_t nexpect;
    int requests, bad_requests, pending;
    char problem[256];
    json_t *last_body;
};

static void reply_free(struct queued_reply *r)
{
    if (!r)
        return;
    free(r->content_type);
    free(r->body);
    free(r->location);
    free(r);
}

static void send_reply(struct evhttp_request *req, const struct queued_reply *r)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", r->content_type ? r->content_type : "application/json");
    if (r->location)
        evhttp_add_header(out, "Location", r->location);
    if (r->body)
        evbuffer_add(buf, r->body, r->body_len);
    evhttp_send_reply(req, r->status ? r->status : 200, NULL, buf);
    evbuffer_free(buf);
}

static void send_error(struct evhttp_request *req, int status, const char *message)
{
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "message", message, "type", "peer_error");
    char *text = json_dumps(body, JSON_COMPACT);
    struct queued_reply r = {.status = status, .body = text, .body_len = text ? strlen(text) : 0};
    send_reply(req, &r);
    free(text);
    json_decref(body);
}

/* ------------------------------------------------------------------------ */
/* Checking a request                                                       */
/* ------------------------------------------------------------------------ */

static int check_headers(struct llm_peer *peer, struct evhttp_request *req, char *why, size_t len)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(in, "Authorization");
    const char *type = evhttp_find_header(in, "Content-Type");
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
        return snprintf(why, len, "method is not POST"), -1;
    if (strcmp(evhttp_request_get_uri(req), "/v1/chat/completions") != 0)
        return snprintf(why, len, "path is %.100s", evhttp_request_get_uri(req)), -1;
    if (!type || strncmp(type, "application/json", 16) != 0)
        return snprintf(why, len, "Content-Type is not application/json"), -1;
    if (peer->api_key) {
        char want[512];
        snprintf(want, sizeof(want), "Bearer %s", peer->api_key);
        if (!auth || strcmp(auth, want) != 0)
            return snprintf(why, len, "Authorization is missing or wrong"), -1;
    } else if (auth) {
        return snprintf(why, len, "Authorization sent though no key is configured"), -1;
    }
    return 0;
}

/* Every message is {role: system|user|assistant, content: string}; all contents joined. */
static int check_messages(const json_t *messages, char **joined, char *why, size_t len)
{
    size_t i, size = 0;
    const json_t *m;
    FILE *out = open_memstream(joined, &size);
    if (!out)
        return snprintf(why, len, "out of memory"), -1;
    int rc = json_array_size(messages) > 0 ? 0 : -1;
    if (rc != 0)
        snprintf(why, len, "messages is not a non-empty array");
    json_array_foreach(messages, i, m)
    {
        const char *role = NULL, *content = NULL;
        if (rc == 0 &&
            (json_unpack((json_t *)m, "{s:s, s:s !}", "role", &role, "content", &content) != 0 ||
             (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")))) {
            snprintf(why, len, "message %zu is not {role, content}", i);
            rc = -1;
        }
        if (rc == 0)
            fprintf(out, "%s\n", content);
    }
    fclose(out);
    return rc;
}

static int check_body(struct llm_peer *peer, const json_t *body, char *why, size_t len)
{
    const char *model = NULL;
    json_t *messages = NULL;
    char *joined = NULL;
    if (json_unpack((json_t *)body, "{s:s, s:o}", "model", &model, "messages", &messages) != 0)
        return snprintf(why, len, "body lacks model or messages"), -1;
    if (strcmp(model, peer->model) != 0)
        return snprintf(why, len, "model is %.100s", model), -1;
    json_t *stream = json_object_get(body, "stream");
    if (stream && !json_is_false(stream))
        return snprintf(why, len, "stream is not false"), -1;
    if (json_object_get(body, "temperature") &&
        !json_is_number(json_object_get(body, "temperature")))
        return snprintf(why, len, "temperature is not a number"), -1;
    int rc = check_messages(messages, &joined, why, len);
    for (size_t i = 0; rc == 0 && i < peer->nexpect; i++) {
        if (!strstr(joined, peer->expect[i])) {
            snprintf(why, len, "no message holds \"%.80s\"", peer->expect[i]);
            rc = -1;
        }
    }
    free(joined);
    return rc;
}

/* 0, or -1 with the reason; keeps the parsed body as the last one seen. Lock held. */
static int check_request(struct llm_peer *peer, struct evhttp_request *req, char *why, size_t len)
{
    if (check_headers(peer, req, why, len) != 0)
        return -1;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *data = (const char *)evbuffer_pullup(in, -1);
    json_t *body = data ? json_loadb(data, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!body)
        return snprintf(why, len, "body is not JSON"), -1;
    json_decref(peer->last_body);
    peer->last_body = body;
    return check_body(peer, body, why, len);
}

/* ------------------------------------------------------------------------ */
/* Serving                                                                  */
/* ------------------------------------------------------------------------ */

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    struct delayed *d = arg;
    (void)fd;
    (void)what;
    send_reply(d->req, d->reply);
    event_free(d->timer);
    reply_free(d->reply);
    pthread_mutex_lock(&d->peer->lock);
    d->peer->pending--;
    pthread_mutex_unlock(&d->peer->lock);
    free(d);
}

static void answer_later(struct llm_peer *peer, struct evhttp_request *req, struct queued_reply *r)
{
    struct delayed *d = calloc(1, sizeof(*d));
    struct timeval tv = {r->delay_ms / 1000, (r->delay_ms % 1000) * 1000};
    if (d)
        d->timer = evtimer_new(peer->base, on_delay, d);
    if (!d || !d->timer || evtimer_add(d->timer, &tv) != 0) {
        if (d && d->timer)
            event_free(d->timer);
        free(d);
        send_reply(req, r);
        reply_free(r);
        return;
    }
    d->peer = peer;
    d->req = req;
    d->reply = r;
    pthread_mutex_lock(&peer->lock);
    peer->pending++;
    pthread_mutex_unlock(&peer->lock);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct llm_peer *peer = arg;
    char why[256] = "";
    struct queued_reply *r = NULL;
    pthread_mutex_lock(&peer->lock);
    peer->requests++;
    int bad = check_request(peer, req, why, sizeof(why)) != 0;
    if (bad) {
        peer->bad_requests++;
        snprintf(peer->problem, sizeof(peer->problem), "%s", why);
    } else if ((r = peer->head) != NULL) {
        peer->head = r->next;
        if (!peer->head)
            peer->tail = NULL;
    }
    pthread_mutex_unlock(&peer->lock);

    char message[300];
    snprintf(message, sizeof(message), "peer: %s", bad ? why : "no reply queued");
    if (bad || !r)
        send_error(req, bad ? 400 : 500, message);
    else if (r->delay_ms > 0)
        answer_later(peer, req, r);
    else {
        send_reply(req, r);
        reply_free(r);
    }
}

static void *run_loop(void *arg)
{
    event_base_dispatch(((struct llm_peer *)arg)->base);
    return NULL;
}

static int bound_port(struct evhttp_bound_socket *socket)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    if (getsockname(evhttp_bound_socket_get_fd(socket), (struct sockaddr *)&sin, &len) != 0)
        return -1;
    return ntohs(sin.sin_port);
}

struct llm_peer *llm_peer_start(const char *api_key, const char *model)
{
    struct llm_peer *peer = calloc(1, sizeof(*peer));
    if (!peer)
        return NULL;
    pthread_mutex_init(&peer->lock, NULL);
    peer->api_key = api_key ? strdup(api_key) : NULL;
    peer->model = strdup(model ? model : "");
    peer->base = event_base_new();
    peer->http = peer->base ? evhttp_new(peer->base) : NULL;
    struct evhttp_bound_socket *socket =
        peer->http ? evhttp_bind_socket_with_handle(peer->http, "127.0.0.1", 0) : NULL;
    if (!socket || (peer->port = bound_port(socket)) <= 0)
        goto fail;
    evhttp_set_max_body_size(peer->http, PEER_MAX_BODY);
    evhttp_set_allowed_methods(peer->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    evhttp_set_gencb(peer->http, on_request, peer);
    snprintf(peer->url, sizeof(peer->url), "http://127.0.0.1:%d/v1", peer->port);
    if (pthread_create(&peer->thread, NULL, run_loop, peer) != 0)
        goto fail;
    return peer;
fail:
    if (peer->http)
        evhttp_free(peer->http);
    if (peer->base)
        event_base_free(peer->base);
    free(peer->api_key);
    free(peer->model);
    pthread_mutex_destroy(&peer->lock);
    free(peer);
    return NULL;
}

void llm_peer_stop(struct llm_peer *peer)
{
    if (!peer)
        return;
    llm_peer_wait_idle(peer, 5000);
    event_base_loopexit(peer->base, NULL);
    pthread_join(peer->thread, NULL);
    evhttp_free(peer->http);
    event_base_free(peer->base);
    while (peer->head) {
        struct queued_reply *next = peer->head->next;
        reply_free(peer->head);
        peer->head = next;
    }
    llm_peer_clear_expectations(peer);
    json_decref(peer->last_body);
    free(peer->api_key);
    free(peer->model);
    pthread_mutex_destroy(&peer->lock);
    free(peer);
}

int llm_peer_port(const struct llm_peer *peer)
{
    return peer->port;
}

const char *llm_peer_url(const struct llm_peer *peer)
{
    return peer->url;
}

void llm_peer_push(struct llm_peer *peer, const struct llm_peer_reply *reply)
{
    struct queued_reply *r = calloc(1, sizeof(*r));
    if (!r)
        return;
    r->status = reply->status;
    r->delay_ms = reply->delay_ms;
    r->content_type = reply->content_type ? strdup(reply->content_type) : NULL;
    r->location = reply->location ? strdup(reply->location) : NULL;
    if (reply->body) {
        r->body_len = reply->body_len ? reply->body_len : strlen(reply->body);
        r->body = malloc(r->body_len + 1);
        if (r->body)
            memcpy(r->body, reply->body, r->body_len);
    }
    pthread_mutex_lock(&peer->lock);
    if (peer->tail)
        peer->tail->next = r;
    else
        peer->head = r;
    peer->tail = r;
    pthread_mutex_unlock(&peer->lock);
}

char *llm_peer_completion_json(const char *content)
{
    json_t *body =
        json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:i, s:i, s:i}}", "id",
                  "chatcmpl-peer", "object", "chat.completion", "created", (json_int_t)time(NULL),
                  "model", "peer-model", "choices", "index", 0, "message", "role", "assistant",
                  "content", content, "finish_reason", "stop", "usage", "prompt_tokens", 10,
                  "completion_tokens", 5, "total_tokens", 15);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

void llm_peer_push_completion(struct llm_peer *peer, const char *content)
{
    char *body = llm_peer_completion_json(content);
    struct llm_peer_reply r = {.status = 200, .body = body};
    if (body)
        llm_peer_push(peer, &r);
    free(body);
}

void llm_peer_expect_text(struct llm_peer *peer, const char *text)
{
    pthread_mutex_lock(&peer->lock);
    if (peer->nexpect < PEER_MAX_EXPECT)
        peer->expect[peer->nexpect++] = strdup(text);
    pthread_mutex_unlock(&peer->lock);
}

void llm_peer_clear_expectations(struct llm_peer *peer)
{
    pthread_mutex_lock(&peer->lock);
    for (size_t i = 0; i < peer->nexpect; i++)
        free(peer->expect[i]);
    peer->nexpect = 0;
    pthread_mutex_unlock(&peer->lock);
}

int llm_peer_requests(struct llm_peer *peer)
{
    pthread_mutex_lock(&peer->lock);
    int n = peer->requests;
    pthread_mutex_unlock(&peer->lock);
    return n;
}

int llm_peer_bad_requests(struct llm_peer *peer)
{
    pthread_mutex_lock(&peer->lock);
    int n = peer->bad_requests;
    pthread_mutex_unlock(&peer->lock);
    return n;
}

char *llm_peer_last_problem(struct llm_peer *peer)
{
    pthread_mutex_lock(&peer->lock);
    char *p = strdup(peer->problem);
    pthread_mutex_unlock(&peer->lock);
    return p;
}

json_t *llm_peer_last_body(struct llm_peer *peer)
{
    pthread_mutex_lock(&peer->lock);
    json_t *body = json_incref(peer->last_body);
    pthread_mutex_unlock(&peer->lock);
    return body;
}

int llm_peer_wait_idle(struct llm_peer *peer, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        pthread_mutex_lock(&peer->lock);
        int pending = peer->pending;
        pthread_mutex_unlock(&peer->lock);
        if (pending == 0)
            return 0;
        if (waited >= timeout_ms)
            return -1;
        usleep(10000);
    }
}
