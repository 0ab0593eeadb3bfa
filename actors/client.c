/* Clients: a mailbox for a thread that is not an actor (main(), tests, other libraries'
 * threads), so it can receive messages and make blocking requests.
 *
 * A client is an actor that is never scheduled: it lives in the actor table (so it has a pid
 * and senders treat it like any actor), its state holds this struct, and the producer whose
 * push moves its mailbox from idle to scheduled signals the client's condition variable
 * instead of queuing it on a worker. The client's thread is the mailbox's one consumer.
 *
 * Popped envelopes stay in the mailbox as its tail (mpsc.h), so a message handed to the
 * caller is a copy that owns the payload.
 *
 * A client takes no signals: exits, links and monitors aimed at it are dropped when it
 * closes. It is not an actor that can die of an exit signal; its thread decides. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "actors/actor.h"

struct tr_client {
  struct tr_ctx ctx;
  tr_actor_t *a;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool signaled;                 /* guarded by mu: a producer woke the mailbox */
  bool stopped;                  /* guarded by mu: the system stopped */
  tr_msg_t *stash, *stash_end;   /* owner thread: messages set aside while awaiting a reply */
  struct tr_client *next, *prev; /* the system's list of open clients, under clients_mu */
};

static int never_called(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)ctx;
  (void)state;
  (void)m;
  TR_ASSERT(!"a client is never scheduled");
  return 0;
}

static const tr_behaviour_t client_behaviour = {
    .name = "client", .state_size = sizeof(struct tr_client), .receive = never_called};

int tr_client_open(tr_system_t *sys, tr_client_t **out) {
  if (!sys || !out)
    return TR_EINVAL;
  tr_pid_t pid;
  int rc = tr__spawn(&sys->ctx, &client_behaviour, TR_AF_CLIENT, sizeof(struct tr_client), NULL,
                     NULL, &pid);
  if (rc)
    return rc;
  tr__qsbr_foreign_enter(&sys->sched.qsbr);
  tr_actor_t *a = tr__table_get(&sys->table, pid); /* clients leave the table only on close */
  tr__qsbr_foreign_exit(&sys->sched.qsbr);
  TR_ASSERT(a != NULL);
  tr_client_t *c = (tr_client_t *)a->state;
  c->ctx.sys = sys;
  c->ctx.self = a;
  c->ctx.send_wait_ms = sys->cfg.send_wait_ms;
  c->a = a;
  pthread_mutex_init(&c->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_lock(&sys->clients_mu);
  c->next = sys->clients;
  if (c->next)
    c->next->prev = c;
  sys->clients = c;
  pthread_mutex_unlock(&sys->clients_mu);
  *out = c;
  return 0;
}

tr_pid_t tr_client_pid(const tr_client_t *c) { return c->a->pid; }
tr_ctx_t *tr_client_ctx(tr_client_t *c) { return &c->ctx; }

void tr_client_send_wait(tr_client_t *c, int ms) {
  if (c)
    c->ctx.send_wait_ms = ms;
}

void tr__client_wake(tr_actor_t *a) {
  tr_client_t *c = (tr_client_t *)a->state;
  pthread_mutex_lock(&c->mu);
  c->signaled = true;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

void tr__clients_stop(tr_system_t *sys) {
  pthread_mutex_lock(&sys->clients_mu);
  for (tr_client_t *c = sys->clients; c; c = c->next) {
    pthread_mutex_lock(&c->mu);
    c->stopped = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
  }
  pthread_mutex_unlock(&sys->clients_mu);
}

/* The next message from the mailbox, as a copy the caller owns; NULL when empty. */
static tr_msg_t *pop_copy(tr_client_t *c) {
  tr_actor_t *a = c->a;
  tr_mq_node_t *released;
  tr_mq_node_t *n = tr__mq_pop(&a->mq, &released);
  if (released)
    free(released); /* every envelope is its own malloc block (envelope.h) */
  if (!n)
    return NULL;
  tr_msg_t *m = (tr_msg_t *)n;
  if (m->kind == TR_KIND_NUDGE)
    return pop_copy(c); /* a signal's nudge: clients do not take signals (see destroy) */
  tr_msg_t *copy = malloc(sizeof *copy);
  if (!copy) {
    tr_log(TR_LOG_ERROR, "client %016llx: out of memory, message dropped",
           (unsigned long long)a->pid.id);
    tr__msg_release_payload(m);
    return NULL;
  }
  memcpy(copy, m, sizeof *copy);
  m->store = TR_STORE_INLINE; /* the copy owns the payload now */
  m->len = 0;
  tr__bump(&a->deq, 1); /* the client's thread is the one consumer */
  return copy;
}

/* Wait for the mailbox to be woken, until deadline (UINT64_MAX: forever). Returns 0 (look
 * again), TR_ETIMEDOUT or TR_ESTOPPED. */
static int wait_for_mail(tr_client_t *c, uint64_t deadline) {
  pthread_mutex_lock(&c->mu);
  c->signaled = false;
  pthread_mutex_unlock(&c->mu);
  /* Only after clearing `signaled`: a push that finds the mailbox idle from here on will
   * set it again. If the mailbox is not empty, look again at once. */
  if (!tr__mq_try_idle(&c->a->mq))
    return 0;
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  while (!c->signaled && rc == 0) {
    if (c->stopped) {
      rc = TR_ESTOPPED;
    } else if (deadline == UINT64_MAX) {
      pthread_cond_wait(&c->cv, &c->mu);
    } else {
      struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                            .tv_nsec = (long)(deadline % 1000000000u)};
      if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT && !c->signaled)
        rc = TR_ETIMEDOUT;
    }
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

static uint64_t deadline_of(int timeout_ms) {
  return timeout_ms < 0 ? UINT64_MAX : tr__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

int tr_client_receive(tr_client_t *c, int timeout_ms, tr_msg_t **out) {
  if (!c || !out)
    return TR_EINVAL;
  if (c->stash) {
    *out = c->stash;
    c->stash = (tr_msg_t *)atomic_load_explicit(&c->stash->node.next, memory_order_relaxed);
    return 0;
  }
  uint64_t deadline = deadline_of(timeout_ms);
  for (;;) {
    tr_msg_t *m = pop_copy(c);
    if (m && m->kind == TR_KIND_REPLY) {
      tr_msg_free(m); /* a reply to a request that gave up waiting */
      continue;
    }
    if (m) {
      *out = m;
      return 0;
    }
    int rc = wait_for_mail(c, deadline);
    if (rc)
      return rc;
  }
}

static void stash_put(tr_client_t *c, tr_msg_t *m) {
  atomic_store_explicit(&m->node.next, NULL, memory_order_relaxed);
  if (c->stash)
    atomic_store_explicit(&c->stash_end->node.next, &m->node, memory_order_relaxed);
  else
    c->stash = m;
  c->stash_end = m;
}

/* Wait for the reply carrying ref; other messages are stashed for tr_client_receive and
 * replies to earlier requests dropped. */
static int await_reply(tr_client_t *c, uint64_t ref, int timeout_ms, tr_msg_t **reply) {
  uint64_t deadline = deadline_of(timeout_ms);
  for (;;) {
    tr_msg_t *m = pop_copy(c);
    int rc;
    if (m && m->kind == TR_KIND_REPLY && m->ref == ref) {
      if (m->aux == TR_REPLY_NOCONN || m->aux == TR_REPLY_NOPROC || m->aux == TR_REPLY_BUSY) {
        rc = m->aux == TR_REPLY_NOCONN   ? TR_ENOCONN
             : m->aux == TR_REPLY_NOPROC ? TR_ENOENT
                                         : TR_EBUSY; /* before any answer */
        tr_msg_free(m);
        return rc;
      }
      *reply = m;
      return 0;
    }
    if (m && m->kind == TR_KIND_REPLY) {
      tr_msg_free(m); /* late reply to an earlier request */
    } else if (m) {
      stash_put(c, m);
    } else if ((rc = wait_for_mail(c, deadline)) != 0) {
      return rc;
    }
  }
}

int tr_client_request(tr_client_t *c, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
                      int timeout_ms, tr_msg_t **reply) {
  if (!c || !reply || (len && !data))
    return TR_EINVAL;
  uint64_t ref = TR__NEXT_REF(c->ctx.sys);
  int rc = tr__send(&c->ctx, to, tag, data, len, ref, TR_KIND_USER);
  if (rc)
    return rc;
  return await_reply(c, ref, timeout_ms, reply);
}

int tr_client_inspect(tr_client_t *c, tr_pid_t pid, int timeout_ms, tr_msg_t **reply) {
  if (!c || !reply)
    return TR_EINVAL;
  if (atomic_load_explicit(&c->ctx.sys->state, memory_order_relaxed) == TR_SYS_STOPPED)
    return TR_ESTOPPED;
  uint64_t ref = TR__NEXT_REF(c->ctx.sys);
  if (!tr__signal_send(&c->ctx, pid, TR_SIG_INSPECT, TR_INSPECT_STATE, ref, NULL))
    return TR_ENOENT;
  return await_reply(c, ref, timeout_ms, reply);
}

static void destroy(tr_system_t *sys, tr_client_t *c, bool running) {
  tr_actor_t *a = c->a;
  tr__table_release(&sys->table, NULL, a->pid);
  /* Senders on workers may still hold the actor: wait until none can. */
  if (running)
    tr__qsbr_synchronize(&sys->sched.qsbr);
  while (c->stash) {
    tr_msg_t *m = c->stash;
    c->stash = (tr_msg_t *)atomic_load_explicit(&m->node.next, memory_order_relaxed);
    tr_msg_free(m);
  }
  tr__actor_drain(a, NULL, NULL, sys);
  tr_msg_t *s = atomic_exchange_explicit(&a->sigs, TR_SIGS_CLOSED, memory_order_acquire);
  while (s) {
    tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(&s->node.next, memory_order_relaxed);
    tr_msg_free(s);
    s = next;
  }
  if (a->mq.tail != &a->mq.stub)
    free(a->mq.tail);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(atomic_load_explicit(&a->ext, memory_order_relaxed));
  tr__actor_free(sys, NULL, a);
}

static void unlist(tr_system_t *sys, tr_client_t *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    sys->clients = c->next;
  if (c->next)
    c->next->prev = c->prev;
}

void tr_client_close(tr_client_t *c) {
  if (!c)
    return;
  tr_system_t *sys = c->ctx.sys;
  pthread_mutex_lock(&sys->clients_mu);
  unlist(sys, c);
  pthread_mutex_unlock(&sys->clients_mu);
  bool running = atomic_load_explicit(&sys->state, memory_order_acquire) != TR_SYS_STOPPED;
  destroy(sys, c, running);
}

void tr__clients_close_all(tr_system_t *sys) {
  pthread_mutex_lock(&sys->clients_mu);
  while (sys->clients) {
    tr_client_t *c = sys->clients;
    unlist(sys, c);
    destroy(sys, c, false);
  }
  pthread_mutex_unlock(&sys->clients_mu);
}
