/* A soak of the queues under everything that runs actors: the workers' deques, the mailbox
 * queue and the scheduler itself, for a given time, with threads that exit and are replaced.
 * Exit status 0 when nothing was lost, taken twice or reordered and nothing hung; 1 with the
 * first failures printed otherwise. Three parts run at once:
 *
 *  A. Deques (scheduler/deque.h) and the injection queue. DEQ_OWNERS threads each own a deque
 *     and, at random, push new tokens, pop the oldest or the newest, steal half of a random
 *     other deque, move half of a full deque to the injection queue (as a worker does on
 *     overflow) and take from it. Every token is taken exactly once: a table marks each one
 *     live when pushed and clears it when taken, so a second take or a token never taken is
 *     caught. An owner thread exits after a random number of steps and a new one takes its
 *     deque over while the others keep stealing from it.
 *  B. The mailbox queue (mailbox/mpsc.h) with its idle/scheduled handoff. MQ_PRODUCERS
 *     producer threads push numbered messages (one at a time and in chains); the push that
 *     finds the queue idle wakes the consumer, as it would schedule an actor. The consumer
 *     checks each producer's numbers come in order with none missing, goes idle when the
 *     queue is empty and checks it was woken exactly once. Producers and the consumer exit
 *     after random counts and are replaced; a producer's count is checked when its successor's
 *     first message arrives, and the last ones at the end.
 *  C. Actors on a system of SCHED_WORKERS workers (more than this machine's cores, so
 *     workers are preempted and steal; the scheduler's victims are random). A coordinator
 *     keeps SCHED_CONSUMERS consumers and SCHED_PRODUCERS producers alive; a producer sends
 *     a random number of numbered messages to its consumer in bursts (a turn each, so
 *     mailboxes fill past their marks and producers are muted), then a done with its count,
 *     and exits; an outside thread does the same through a client (its sends go through the
 *     injection queue and wait on full mailboxes). The consumer checks order and count and
 *     reports to the coordinator, which replaces the producer, and retires consumers (a new
 *     one takes their place) once nothing is on its way to them.
 *
 * Built with TROUPE_SMALL_QUEUES the deques hold 4 tasks, so wrap-around, overflow and
 * stealing happen all the time. A watchdog fails the run when a part makes no progress for
 * HANG_S seconds, and the end waits for each part to drain within HANG_S.
 *
 * usage: soak_queues SECONDS [SEED] */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "mailbox/mpsc.h"
#include "scheduler/deque.h"
#include "scheduler/inject.h"
#include "troupe.h"

#define HANG_S 60 /* no progress for this long is a hang (sanitizer builds are slow) */

static _Atomic bool stopping;
static _Atomic uint64_t failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  if (atomic_fetch_add(&failures, 1) >= 20)
    return; /* the first ones say enough */
  va_list ap;
  va_start(ap, fmt);
  fputs("soak: FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static uint64_t now_ms(void) { return tr__now_ns() / 1000000u; }

static uint64_t between(uint64_t *rng, uint64_t lo, uint64_t hi) {
  return lo + tr__rand(rng) % (hi - lo + 1);
}

/* ---- A: deques ---- */

#define DEQ_OWNERS 3u
#define TOKEN_SLOTS (1u << 20) /* tokens live at once are far fewer */

static tr_deque_t deques[DEQ_OWNERS];
static tr_inject_t overflow;
/* Per token slot: 0 free, else the generation (id / TOKEN_SLOTS + 1) of the live token. */
static _Atomic uint32_t token_state[TOKEN_SLOTS];
static _Atomic uint64_t token_next, tokens_made, tokens_taken, tokens_held;
static _Atomic uint64_t deq_steals, deq_overflows, deq_owners_run;

static void *token_new(void) {
  for (;;) {
    uint64_t id = atomic_fetch_add_explicit(&token_next, 1, memory_order_relaxed);
    uint32_t gen = (uint32_t)(id / TOKEN_SLOTS) + 1, free_ = 0;
    if (atomic_compare_exchange_strong(&token_state[id % TOKEN_SLOTS], &free_, gen)) {
      atomic_fetch_add_explicit(&tokens_made, 1, memory_order_relaxed);
      return (void *)(uintptr_t)(id + 1); /* never NULL */
    }
    /* The token of a generation before still lives: a thread preempted while it holds a
     * batch (a grab on its way to the injection queue) keeps it for as long. Another id. */
    atomic_fetch_add_explicit(&tokens_held, 1, memory_order_relaxed);
  }
}

static void token_take(void *t) {
  uint64_t id = (uint64_t)(uintptr_t)t - 1;
  uint32_t gen = (uint32_t)(id / TOKEN_SLOTS) + 1, live = gen;
  if (!atomic_compare_exchange_strong(&token_state[id % TOKEN_SLOTS], &live, 0))
    fail("deque: token %" PRIu64 " taken %s", id, live ? "in the wrong generation" : "twice");
  atomic_fetch_add_explicit(&tokens_taken, 1, memory_order_relaxed);
}

typedef struct {
  unsigned slot;
  uint64_t rng, steps;
} owner_t;

static void *deque_owner(void *arg) {
  owner_t *o = arg;
  tr_deque_t *d = &deques[o->slot];
  void *batch[TR_DEQUE_CAP];
  for (uint64_t i = 0; i < o->steps && !atomic_load(&stopping); i++) {
    unsigned r = (unsigned)(tr__rand(&o->rng) % 100);
    if (r < 45) {
      void *t = token_new();
      if (!tr__deque_push(d, t)) { /* full: half to the injection queue, as a worker does */
        uint32_t n = tr__deque_grab_half(d, batch, TR_DEQUE_CAP / 2);
        if (n) {
          tr__inject_push(&overflow, batch, n);
          atomic_fetch_add_explicit(&deq_overflows, 1, memory_order_relaxed);
        }
        if (!tr__deque_push(d, t)) /* a thief's claim kept the slots: run it now */
          token_take(t);
      }
    } else if (r < 70) {
      void *t = r & 1 ? tr__deque_pop(d) : tr__deque_pop_newest(d);
      if (t)
        token_take(t);
    } else if (r < 88) {
      unsigned v = (unsigned)(tr__rand(&o->rng) % (DEQ_OWNERS - 1));
      v += v >= o->slot; /* a random other deque */
      void *t = tr__deque_steal(&deques[v], d);
      if (t) {
        token_take(t);
        atomic_fetch_add_explicit(&deq_steals, 1, memory_order_relaxed);
      }
    } else {
      size_t n = tr__inject_pop(&overflow, batch, 1 + tr__rand(&o->rng) % TR_DEQUE_CAP);
      for (size_t k = 0; k < n; k++)
        token_take(batch[k]);
    }
  }
  return NULL;
}

/* ---- B: the mailbox queue ---- */

#define MQ_PRODUCERS 3u
#define MQ_INCS 1024u              /* producers' counts kept per slot: the consumer's lag */
#define MQ_IN_FLIGHT (64u * 1024u) /* producers wait above this many unconsumed */

typedef struct {
  tr_mq_node_t node; /* first: a node is its message */
  uint32_t slot, inc;
  uint64_t seq;
} mq_msg_t;

static tr_mq_t mq;
static sem_t mq_wake;
static _Atomic uint64_t mq_pushed, mq_popped, mq_posts, mq_idles, mq_chains;
/* What each producer incarnation sent in all, published before its successor starts. */
static _Atomic uint64_t mq_count[MQ_PRODUCERS][MQ_INCS];
/* The last incarnation of each slot the consumer has reached (the spawner keeps within
 * MQ_INCS of it). */
static _Atomic uint32_t mq_reached[MQ_PRODUCERS];

typedef struct {
  uint32_t slot, inc;
  uint64_t rng, n;
} mq_producer_t;

static void *mq_producer(void *arg) {
  mq_producer_t *p = arg;
  uint64_t seq = 0;
  while (seq < p->n) {
    while (atomic_load(&mq_pushed) - atomic_load(&mq_popped) > MQ_IN_FLIGHT &&
           !atomic_load(&stopping))
      sched_yield();
    if (atomic_load(&stopping)) {
      p->n = seq; /* the end: what it sent is its count */
      break;
    }
    uint64_t k = tr__rand(&p->rng) % 8 == 0 ? between(&p->rng, 2, 16) : 1;
    if (k > p->n - seq)
      k = p->n - seq;
    mq_msg_t *first = NULL, *last = NULL;
    for (uint64_t j = 0; j < k; j++) {
      mq_msg_t *m = malloc(sizeof *m);
      if (!m) {
        fail("mpsc: out of memory");
        abort();
      }
      m->slot = p->slot;
      m->inc = p->inc;
      m->seq = seq++;
      if (last)
        atomic_store_explicit(&last->node.next, &m->node, memory_order_relaxed);
      else
        first = m;
      last = m;
    }
    atomic_fetch_add(&mq_pushed, k);
    bool woke =
        k == 1 ? tr__mq_push(&mq, &first->node) : tr__mq_push_chain(&mq, &first->node, &last->node);
    if (k > 1)
      atomic_fetch_add_explicit(&mq_chains, 1, memory_order_relaxed);
    if (woke) { /* it was idle: this push schedules the consumer, and only this one */
      atomic_fetch_add(&mq_posts, 1);
      sem_post(&mq_wake);
    }
  }
  atomic_store(&mq_count[p->slot][p->inc % MQ_INCS], p->n);
  return NULL;
}

typedef struct {
  uint32_t inc;
  uint64_t next;
} mq_expect_t;

/* The consumer's view, handed from one consumer thread to the next (through join). */
static mq_expect_t mq_expect[MQ_PRODUCERS];
static uint64_t mq_consumers_run;

static void mq_check(const mq_msg_t *m) {
  mq_expect_t *e = &mq_expect[m->slot];
  if (m->inc < e->inc) {
    fail("mpsc: producer %u.%u's message %" PRIu64 " after %u.%u's", m->slot, m->inc, m->seq,
         m->slot, e->inc);
    return;
  }
  if (m->inc > e->inc) { /* the earlier incarnations must be complete */
    for (uint32_t i = e->inc; i < m->inc; i++) {
      uint64_t want = atomic_load(&mq_count[m->slot][i % MQ_INCS]);
      uint64_t had = i == e->inc ? e->next : 0;
      if (had != want)
        fail("mpsc: producer %u.%u sent %" PRIu64 ", %" PRIu64 " arrived", m->slot, i, want, had);
    }
    e->inc = m->inc;
    e->next = 0;
    atomic_store(&mq_reached[m->slot], m->inc);
  }
  if (m->seq != e->next)
    fail("mpsc: producer %u.%u's message %" PRIu64 " where %" PRIu64 " was due", m->slot, m->inc,
         m->seq, e->next);
  e->next = m->seq + 1;
}

typedef struct {
  uint64_t lifetime;
  bool last; /* the drain at the end: run until everything pushed has been taken */
} mq_consumer_t;

static void *mq_consumer(void *arg) {
  mq_consumer_t *c = arg;
  uint64_t handled = 0;
  for (;;) {
    tr_mq_node_t *released;
    tr_mq_node_t *n = tr__mq_pop(&mq, &released);
    free(released); /* the node before: a message already checked (NULL for the stub) */
    if (n) {
      mq_check((const mq_msg_t *)n);
      atomic_fetch_add(&mq_popped, 1);
      if (++handled >= c->lifetime && !c->last)
        return NULL; /* still scheduled: the next consumer pops on */
      continue;
    }
    if (c->last && atomic_load(&mq_popped) == atomic_load(&mq_pushed))
      return NULL;
    if (!tr__mq_try_idle(&mq)) { /* a push is linking its node: it will be there */
      sched_yield();
      continue;
    }
    atomic_fetch_add(&mq_idles, 1);
    for (;;) { /* idle: only the push that found it so wakes us */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 100 * 1000000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      if (sem_timedwait(&mq_wake, &ts) == 0)
        break;
      if (c->last ? atomic_load(&mq_popped) == atomic_load(&mq_pushed) : atomic_load(&stopping))
        return NULL; /* idle at the end: the last consumer (or this one) takes what is left */
    }
    int v = 0;
    sem_getvalue(&mq_wake, &v);
    if (v != 0) /* no other push can find the queue idle until we go idle again */
      fail("mpsc: woken %d more times than the queue went idle", v);
  }
}

/* ---- C: actors ---- */

#define SCHED_WORKERS 3u
#define SCHED_CONSUMERS 3u
#define SCHED_PRODUCERS 6u

static struct { tr_atom_t data, done, finished, go, assign, retire, stop, drained; } at;
static _Atomic uint64_t sched_msgs, sched_producers, sched_consumers, sched_outside;
static _Atomic bool sched_drained;
static const tr_behaviour_t consumer_b, producer_b;

typedef struct {
  uint64_t id, n;
} pair_t;

typedef struct {
  tr_pid_t pid;
  uint32_t outstanding; /* producers sending to it */
  uint64_t served;      /* producers done with it */
} cons_slot_t;

typedef struct {
  uint64_t rng, next_id;
  cons_slot_t cons[SCHED_CONSUMERS];
  uint32_t producers; /* alive (actors) */
  uint32_t outside;   /* assigned to the outside thread, not finished */
  bool stopping;
  /* What each live producer was told to send, to check the consumer's count against. */
  pair_t assigned[SCHED_PRODUCERS + 8];
} coord_t;

static int spawn_consumer(tr_ctx_t *ctx, coord_t *c, unsigned i) {
  c->cons[i].outstanding = 0;
  c->cons[i].served = 0;
  atomic_fetch_add(&sched_consumers, 1);
  return tr_spawn(ctx, &consumer_b, NULL, 0, &c->cons[i].pid);
}

static pair_t *assign(coord_t *c, unsigned *cons) {
  for (size_t k = 0; k < sizeof c->assigned / sizeof c->assigned[0]; k++) {
    if (c->assigned[k].id == 0) {
      c->assigned[k].id = ++c->next_id;
      c->assigned[k].n = between(&c->rng, 1, 5000);
      *cons = (unsigned)(tr__rand(&c->rng) % SCHED_CONSUMERS);
      c->cons[*cons].outstanding++;
      return &c->assigned[k];
    }
  }
  return NULL;
}

static int spawn_producer(tr_ctx_t *ctx, coord_t *c) {
  unsigned i;
  pair_t *a = assign(c, &i);
  if (!a)
    return TR_ENOMEM;
  c->producers++;
  atomic_fetch_add(&sched_producers, 1);
  uint64_t init[3] = {c->cons[i].pid.id, a->id, a->n};
  return tr_spawn(ctx, &producer_b, init, sizeof init, NULL);
}

static int coord_init(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  (void)m;
  coord_t *c = state;
  c->rng = 0x9E3779B97F4A7C15u ^ tr_self(ctx).id;
  for (unsigned i = 0; i < SCHED_CONSUMERS; i++)
    if (spawn_consumer(ctx, c, i) != 0)
      return TR_ENOMEM;
  for (unsigned i = 0; i < SCHED_PRODUCERS; i++)
    if (spawn_producer(ctx, c) != 0)
      return TR_ENOMEM;
  return 0;
}

static void check_drained(coord_t *c) {
  if (c->stopping && c->producers == 0 && c->outside == 0)
    atomic_store(&sched_drained, true);
}

static int coord_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  coord_t *c = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == at.finished) { /* [consumer pid, producer id, count, outside?] */
    size_t len;
    const uint64_t *f = tr_msg_data(m, &len);
    pair_t *a = NULL;
    for (size_t k = 0; k < sizeof c->assigned / sizeof c->assigned[0]; k++)
      if (c->assigned[k].id == f[1])
        a = &c->assigned[k];
    if (!a) {
      fail("actors: producer %" PRIu64 " finished but was never started", f[1]);
      return 0;
    }
    if (a->n != f[2])
      fail("actors: producer %" PRIu64 " sent %" PRIu64 ", its consumer counted %" PRIu64, a->id,
           a->n, f[2]);
    a->id = 0;
    for (unsigned i = 0; i < SCHED_CONSUMERS; i++) {
      cons_slot_t *s = &c->cons[i];
      if (s->pid.id != f[0])
        continue;
      s->outstanding--;
      s->served++;
      /* A consumer retires after a while, once nothing is on its way to it. */
      if (s->outstanding == 0 && s->served >= 8 && !c->stopping) {
        tr_send(ctx, s->pid, at.retire, NULL, 0);
        spawn_consumer(ctx, c, i);
      }
    }
    if (f[3]) {
      c->outside--;
    } else {
      c->producers--;
      if (!c->stopping)
        spawn_producer(ctx, c);
    }
    check_drained(c);
  } else if (tag == at.assign) { /* the outside thread's request */
    unsigned i;
    pair_t *a = c->stopping ? NULL : assign(c, &i);
    uint64_t reply[3] = {a ? c->cons[i].pid.id : 0, a ? a->id : 0, a ? a->n : 0};
    if (a)
      c->outside++;
    tr_reply(ctx, m, at.assign, reply, sizeof reply);
  } else if (tag == at.stop) {
    c->stopping = true;
    check_drained(c);
  }
  return 0;
}

typedef struct {
  uint32_t n;
  struct {
    uint64_t id, next;
  } from[SCHED_PRODUCERS + 8];
} consumer_t;

static int consumer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  consumer_t *s = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == at.retire) {
    if (s->n)
      fail("actors: a consumer retired with %u producers still sending", s->n);
    tr_stop(ctx);
    return 0;
  }
  if (tag != at.data && tag != at.done)
    return 0;
  size_t len;
  const uint64_t *d = tr_msg_data(m, &len); /* [producer id, seq or count, outside?] */
  uint32_t k = 0;
  while (k < s->n && s->from[k].id != d[0])
    k++;
  if (k == s->n) {
    if (s->n == sizeof s->from / sizeof s->from[0]) {
      fail("actors: a consumer has more producers than were started");
      return 0;
    }
    s->from[s->n].id = d[0];
    s->from[s->n++].next = 0;
  }
  if (tag == at.data) {
    if (d[1] != s->from[k].next)
      fail("actors: producer %" PRIu64 "'s message %" PRIu64 " where %" PRIu64 " was due", d[0],
           d[1], s->from[k].next);
    s->from[k].next = d[1] + 1;
    atomic_fetch_add_explicit(&sched_msgs, 1, memory_order_relaxed);
    return 0;
  }
  uint64_t report[4] = {tr_self(ctx).id, d[0], s->from[k].next, d[2]};
  s->from[k] = s->from[--s->n];
  tr_pid_t coord = tr_whereis(tr_ctx_system(ctx), "coord");
  return tr_send(ctx, coord, at.finished, report, sizeof report) == 0 ? 0 : TR_ESTOPPED;
}

typedef struct {
  tr_pid_t to;
  uint64_t id, n, seq, rng;
} producer_t;

static int producer_init(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  producer_t *p = state;
  size_t len;
  const uint64_t *init = tr_msg_data(m, &len);
  p->to.id = init[0];
  p->id = init[1];
  p->n = init[2];
  p->rng = 0x2545F4914F6CDD1Du ^ p->id;
  return tr_send(ctx, tr_self(ctx), at.go, NULL, 0);
}

static int producer_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  producer_t *p = state;
  if (tr_msg_tag(m) != at.go)
    return 0;
  uint64_t burst = between(&p->rng, 1, 300);
  for (uint64_t k = 0; k < burst && p->seq < p->n; k++, p->seq++) {
    uint64_t d[3] = {p->id, p->seq, 0};
    tr_send(ctx, p->to, at.data, d, sizeof d);
  }
  if (p->seq < p->n) /* the rest in another turn: others run between */
    return tr_send(ctx, tr_self(ctx), at.go, NULL, 0);
  uint64_t d[3] = {p->id, p->n, 0};
  tr_send(ctx, p->to, at.done, d, sizeof d);
  tr_stop(ctx);
  return 0;
}

static const tr_behaviour_t coord_b = {.name = "soak.coord",
                                       .state_size = sizeof(coord_t),
                                       .init = coord_init,
                                       .receive = coord_receive};
static const tr_behaviour_t consumer_b = {
    .name = "soak.consumer", .state_size = sizeof(consumer_t), .receive = consumer_receive};
static const tr_behaviour_t producer_b = {.name = "soak.producer",
                                          .state_size = sizeof(producer_t),
                                          .init = producer_init,
                                          .receive = producer_receive};

/* A thread outside the system producing like the actors, through a client: its sends take
 * the injection queue and wait on full mailboxes (TR_EBUSY: not queued, sent again). */
static void *outside_producer(void *arg) {
  tr_system_t *sys = arg;
  tr_client_t *cl;
  if (tr_client_open(sys, &cl) != 0) {
    fail("actors: no client");
    return NULL;
  }
  tr_ctx_t *ctx = tr_client_ctx(cl);
  tr_pid_t coord = tr_whereis(sys, "coord");
  while (!atomic_load(&stopping)) {
    tr_msg_t *r = NULL;
    if (tr_client_request(cl, coord, at.assign, NULL, 0, 10000, &r) != 0) {
      fail("actors: the coordinator did not answer");
      break;
    }
    size_t len;
    const uint64_t *a = tr_msg_data(r, &len);
    tr_pid_t to = {.id = a[0]};
    uint64_t id = a[1], n = a[2];
    tr_msg_free(r);
    if (id == 0)
      break;
    for (uint64_t seq = 0; seq <= n;) {
      uint64_t d[3] = {id, seq < n ? seq : n, 1};
      int rc = tr_send(ctx, to, seq < n ? at.data : at.done, d, sizeof d);
      if (rc == TR_EBUSY)
        continue; /* nothing was queued: the same one again */
      if (rc != 0) {
        fail("actors: outside send: %s", tr_strerror(rc));
        break;
      }
      seq++;
    }
    atomic_fetch_add(&sched_outside, 1);
  }
  tr_client_close(cl);
  return NULL;
}

/* ---- the run ---- */

/* Each part's count of work done: every part always has work, so one that stands still for
 * HANG_S is stuck (a lost wakeup, a task never run). */
static uint64_t progress(int part) {
  return atomic_load(part == 0 ? &tokens_taken : part == 1 ? &mq_popped : &sched_msgs);
}
static const char *const part_name[3] = {"the deques", "the mailbox queue", "the actors"};

/* The end's own bound: joining a thread that hangs would hang the run. */
static _Atomic bool ended;

static void *end_watch(void *arg) {
  (void)arg;
  for (int i = 0; i < (HANG_S + 30) * 10 && !atomic_load(&ended); i++)
    tr__sleep_ns(100000000);
  if (!atomic_load(&ended)) {
    fprintf(stderr, "soak: FAIL: the end did not finish within %d s (a thread hung)\n",
            HANG_S + 30);
    fflush(stderr);
    _exit(1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || atoi(argv[1]) <= 0) {
    fprintf(stderr, "usage: %s SECONDS [SEED]\n", argv[0]);
    return 2;
  }
  uint64_t seconds = (uint64_t)atoi(argv[1]);
  uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : tr__now_ns();
  uint64_t rng = seed | 1;
  printf("soak: %" PRIu64 " s, seed %" PRIu64 ", deque capacity %u\n", seconds, seed, TR_DEQUE_CAP);
  fflush(stdout);

  for (unsigned i = 0; i < DEQ_OWNERS; i++)
    tr__deque_init(&deques[i]);
  if (tr__inject_init(&overflow) != 0 || sem_init(&mq_wake, 0, 0) != 0)
    return 1;
  tr__mq_init(&mq, false);

  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = SCHED_WORKERS;
  cfg.seed = seed;
  tr_system_t *sys;
  if (tr_system_new(&cfg, &sys) != 0)
    return 1;
  at.data = tr_atom(sys, "soak.data");
  at.done = tr_atom(sys, "soak.done");
  at.finished = tr_atom(sys, "soak.finished");
  at.go = tr_atom(sys, "soak.go");
  at.assign = tr_atom(sys, "soak.assign");
  at.retire = tr_atom(sys, "soak.retire");
  at.stop = tr_atom(sys, "soak.stop");
  tr_spawn_opts_t so = {.name = "coord", .unmutable = true, .mailbox = {.policy = TR_OVERLOAD_OFF}};
  tr_pid_t coord;
  if (tr_spawn_opts(tr_system_ctx(sys), &coord_b, NULL, 0, &so, &coord) != 0)
    return 1;
  pthread_t outside;
  pthread_create(&outside, NULL, outside_producer, sys);

  pthread_t owners[DEQ_OWNERS], producers[MQ_PRODUCERS], consumer;
  owner_t own[DEQ_OWNERS];
  mq_producer_t prod[MQ_PRODUCERS];
  mq_consumer_t cons = {.lifetime = between(&rng, 10000, 300000)};
  for (unsigned i = 0; i < DEQ_OWNERS; i++) {
    own[i] = (owner_t){.slot = i, .rng = tr__rand(&rng) | 1, .steps = between(&rng, 10000, 200000)};
    pthread_create(&owners[i], NULL, deque_owner, &own[i]);
  }
  for (unsigned i = 0; i < MQ_PRODUCERS; i++) {
    prod[i] =
        (mq_producer_t){.slot = i, .rng = tr__rand(&rng) | 1, .n = between(&rng, 1000, 50000)};
    pthread_create(&producers[i], NULL, mq_producer, &prod[i]);
  }
  pthread_create(&consumer, NULL, mq_consumer, &cons);
  mq_consumers_run = 1;

  /* Replace whatever exited; watch for progress. */
  uint64_t end = now_ms() + seconds * 1000, last_move[3], seen[3];
  for (int k = 0; k < 3; k++) {
    last_move[k] = now_ms();
    seen[k] = progress(k);
  }
  uint64_t mq_producers_run = MQ_PRODUCERS;
  while (now_ms() < end && atomic_load(&failures) == 0) {
    for (unsigned i = 0; i < DEQ_OWNERS; i++) {
      if (pthread_tryjoin_np(owners[i], NULL) != 0)
        continue;
      own[i].steps = between(&rng, 10000, 200000);
      pthread_create(&owners[i], NULL, deque_owner, &own[i]);
      atomic_fetch_add(&deq_owners_run, 1);
    }
    for (unsigned i = 0; i < MQ_PRODUCERS; i++) {
      if (atomic_load(&mq_reached[i]) + MQ_INCS / 2 <= prod[i].inc + 1 ||
          pthread_tryjoin_np(producers[i], NULL) != 0)
        continue; /* running, or the consumer has not caught up with its incarnations */
      prod[i].inc++;
      prod[i].n = between(&rng, 1000, 50000);
      pthread_create(&producers[i], NULL, mq_producer, &prod[i]);
      mq_producers_run++;
    }
    if (pthread_tryjoin_np(consumer, NULL) == 0) {
      cons.lifetime = between(&rng, 10000, 300000);
      pthread_create(&consumer, NULL, mq_consumer, &cons);
      mq_consumers_run++;
    }
    for (int k = 0; k < 3; k++) {
      uint64_t p = progress(k);
      if (p != seen[k]) {
        seen[k] = p;
        last_move[k] = now_ms();
      } else if (now_ms() - last_move[k] > HANG_S * 1000) {
        fail("%s made no progress for %d s (a lost wakeup or a stuck queue)", part_name[k], HANG_S);
      }
    }
    tr__sleep_ns(1000000);
  }

  /* The end: everything stops, drains, and must add up. */
  atomic_store(&stopping, true);
  pthread_t watch;
  pthread_create(&watch, NULL, end_watch, NULL);
  for (unsigned i = 0; i < DEQ_OWNERS; i++)
    pthread_join(owners[i], NULL);
  for (unsigned i = 0; i < MQ_PRODUCERS; i++)
    pthread_join(producers[i], NULL);
  pthread_join(consumer, NULL);
  cons.last = true;
  pthread_create(&consumer, NULL, mq_consumer, &cons);
  pthread_join(consumer, NULL);
  for (unsigned i = 0; i < MQ_PRODUCERS; i++) { /* the last ones (which may have sent none) */
    for (uint32_t inc = mq_expect[i].inc; inc <= prod[i].inc; inc++) {
      uint64_t want = atomic_load(&mq_count[i][inc % MQ_INCS]);
      uint64_t had = inc == mq_expect[i].inc ? mq_expect[i].next : 0;
      if (had != want)
        fail("mpsc: producer %u.%u sent %" PRIu64 ", %" PRIu64 " arrived", i, inc, want, had);
    }
  }
  tr_mq_node_t *tail = mq.tail;
  if (tail != &mq.stub)
    free(tail);
  uint64_t posts = atomic_load(&mq_posts), idles = atomic_load(&mq_idles);
  if (posts != idles && posts + 1 != idles)
    fail("mpsc: %" PRIu64 " wakes for %" PRIu64 " idles", posts, idles);

  void *batch[TR_DEQUE_CAP];
  for (unsigned i = 0; i < DEQ_OWNERS; i++)
    for (void *t; (t = tr__deque_pop(&deques[i]));)
      token_take(t);
  for (size_t n; (n = tr__inject_pop(&overflow, batch, TR_DEQUE_CAP));)
    for (size_t k = 0; k < n; k++)
      token_take(batch[k]);
  uint64_t made = atomic_load(&tokens_made), taken = atomic_load(&tokens_taken);
  if (made != taken)
    fail("deque: %" PRIu64 " tokens made, %" PRIu64 " taken", made, taken);
  for (uint32_t s = 0; s < TOKEN_SLOTS; s++)
    if (atomic_load(&token_state[s]))
      fail("deque: token slot %u still live after the drain", s);

  pthread_join(outside, NULL);
  tr_send(tr_system_ctx(sys), coord, at.stop, NULL, 0);
  uint64_t deadline = now_ms() + HANG_S * 1000;
  while (!atomic_load(&sched_drained) && now_ms() < deadline)
    tr__sleep_ns(10000000);
  if (!atomic_load(&sched_drained))
    fail("actors: producers still unfinished %d s after the end (a lost message or wakeup)",
         HANG_S);
  tr_system_free(sys);
  tr__inject_destroy(&overflow);
  atomic_store(&ended, true);
  pthread_join(watch, NULL);

  printf("soak: deques: %" PRIu64 " tokens, all taken once; %" PRIu64 " steals, %" PRIu64
         " overflows to the injection queue, %" PRIu64 " owner threads replaced, %" PRIu64
         " ids skipped while an older token held their slot\n",
         made, atomic_load(&deq_steals), atomic_load(&deq_overflows), atomic_load(&deq_owners_run),
         atomic_load(&tokens_held));
  printf("soak: mailbox queue: %" PRIu64 " messages (%" PRIu64 " chains) in order from %" PRIu64
         " producers, %" PRIu64 " consumers; %" PRIu64 " idles, %" PRIu64 " wakes\n",
         atomic_load(&mq_popped), atomic_load(&mq_chains), mq_producers_run, mq_consumers_run,
         idles, posts);
  printf("soak: actors: %" PRIu64 " messages in order, %" PRIu64 " producers (%" PRIu64
         " from outside), %" PRIu64 " consumers\n",
         atomic_load(&sched_msgs), atomic_load(&sched_producers), atomic_load(&sched_outside),
         atomic_load(&sched_consumers));
  uint64_t f = atomic_load(&failures);
  printf("soak: %s\n", f ? "FAILED" : "passed");
  return f ? 1 : 0;
}
