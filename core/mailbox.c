#include "mailbox.h"

#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

struct letter {
    void (*fn)(void *arg);
    void *arg;
    struct letter *next;
};

struct mailbox {
    pthread_mutex_t lock;
    struct letter *head, *tail;
    struct event *wakeup;
};

static struct letter *take_all(struct mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    struct letter *all = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    return all;
}

static void deliver(struct letter *l)
{
    while (l) {
        struct letter *next = l->next;
        l->fn(l->arg);
        free(l);
        l = next;
    }
}

static void on_wakeup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver(take_all(arg));
}

struct mailbox *mailbox_new(struct event_base *base)
{
    struct mailbox *mb = calloc(1, sizeof(*mb));
    if (!mb)
        return NULL;
    pthread_mutex_init(&mb->lock, NULL);
    mb->wakeup = event_new(base, -1, 0, on_wakeup, mb);
    if (!mb->wakeup) {
        pthread_mutex_destroy(&mb->lock);
        free(mb);
        return NULL;
    }
    return mb;
}

int mailbox_post(struct mailbox *mb, void (*fn)(void *arg), void *arg)
{
    struct letter *l = malloc(sizeof(*l));
    if (!l)
        return -1;
    l->fn = fn;
    l->arg = arg;
    l->next = NULL;
    pthread_mutex_lock(&mb->lock);
    if (mb->tail)
        mb->tail->next = l;
    else
        mb->head = l;
    mb->tail = l;
    pthread_mutex_unlock(&mb->lock);
    /* Thread-safe with evthread locking; activating twice runs the callback once. */
    event_active(mb->wakeup, 0, 0);
    return 0;
}

void mailbox_free(struct mailbox *mb)
{
    if (!mb)
        return;
    deliver(take_all(mb));
    event_free(mb->wakeup);
    pthread_mutex_destroy(&mb->lock);
    free(mb);
}
