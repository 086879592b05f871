/*
 * Hands work from any thread to an event loop's thread: a worker posts a
 * function, and the loop runs it. evhttp may only be called from its loop's
 * thread, so every reply built on a worker travels through here.
 * Requires evthread_use_pthreads() before the event_base was created.
 */
#ifndef QUARRY_MAILBOX_H
#define QUARRY_MAILBOX_H

struct event_base;
struct mailbox;

struct mailbox *mailbox_new(struct event_base *base);
/* Thread-safe. `fn(arg)` runs on the loop's thread. Returns 0 or -1 (out of memory). */
int mailbox_post(struct mailbox *mailbox, void (*fn)(void *arg), void *arg);
/* On the loop's thread, after the loop stopped: runs what is left, then frees. */
void mailbox_free(struct mailbox *mailbox);

#endif
