/*
 * An OpenAI-compatible chat-completions test peer: a plain libevent evhttp
 * server on 127.0.0.1:<free port>, run by a thread of the test, independent
 * of Quarry's own HTTP code.
 *
 * It checks every request the way a strict endpoint would: POST to
 * /v1/chat/completions, "Authorization: Bearer <key>" exactly when a key is
 * expected (and none otherwise), a JSON body with the expected model, a
 * non-empty `messages` array of {role, content} strings, and every text
 * registered with llm_peer_expect_text somewhere in the contents. A request
 * that fails a check is answered 400 {"error": {"message": "peer: ..."}}
 * and counted; the test asserts the count.
 *
 * Each good request consumes the next queued reply (FIFO); with none queued
 * the peer answers 500. Thread-safe: the test thread queues and inspects
 * while the loop thread serves.
 */
#ifndef QUARRY_TEST_LLM_PEER_H
#define QUARRY_TEST_LLM_PEER_H

#include <stddef.h>

#include <jansson.h>

struct llm_peer;

/* `api_key`: the key requests must carry (NULL: they must carry none). NULL on failure. */
struct llm_peer *llm_peer_start(const char *api_key, const char *model);
/* Waits (briefly) for delayed replies to go out, stops the thread, frees everything. */
void llm_peer_stop(struct llm_peer *peer);

int llm_peer_port(const struct llm_peer *peer);
/* "http://127.0.0.1:<port>/v1" (borrowed, valid until stop). */
const char *llm_peer_url(const struct llm_peer *peer);

struct llm_peer_reply {
    int status;               /* HTTP status; 0 means 200 */
    const char *content_type; /* NULL: application/json */
    const char *body;         /* NULL: empty */
    size_t body_len;          /* 0: strlen(body) */
    int delay_ms;             /* answer this late (without blocking the loop) */
    const char *location;     /* a Location header, or NULL */
};

/* Queues a reply (copied). */
void llm_peer_push(struct llm_peer *peer, const struct llm_peer_reply *reply);
/* Queues 200 with a chat.completion whose assistant content is `content`. */
void llm_peer_push_completion(struct llm_peer *peer, const char *content);
/* The chat.completion JSON the peer answers for `content`. Caller frees. */
char *llm_peer_completion_json(const char *content);

/* Every later request must hold `text` in some message's content (up to 8 texts). */
void llm_peer_expect_text(struct llm_peer *peer, const char *text);
void llm_peer_clear_expectations(struct llm_peer *peer);

/* Requests received, and how many failed the peer's checks. */
int llm_peer_requests(struct llm_peer *peer);
int llm_peer_bad_requests(struct llm_peer *peer);
/* The last check failure ("" when none). Caller frees. */
char *llm_peer_last_problem(struct llm_peer *peer);
/* The last request's parsed body (a new reference), or NULL. */
json_t *llm_peer_last_body(struct llm_peer *peer);
/* 0 once no delayed reply is pending, -1 after `timeout_ms`. */
int llm_peer_wait_idle(struct llm_peer *peer, int timeout_ms);

#endif
