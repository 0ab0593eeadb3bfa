/* Private: the actor, the context, the system, and the functions the actors/ files share.
 *
 * An actor is one block: the fixed part below followed by its behaviour's state. It is
 * reachable from other threads only through the actor table (table.h), and freed only
 * through quiescent-state reclamation (scheduler/qsbr.h), so a sender that found it may
 * finish its push even while it exits. */
#ifndef TR_ACTORS_ACTOR_H
#define TR_ACTORS_ACTOR_H

#include <pthread.h>
#include <stdatomic.h>

#include "actors/alloc.h"
#include "actors/table.h"
#include "base/base.h"
#include "mailbox/atom.h"
#include "mailbox/envelope.h"
#include "mailbox/mpsc.h"
#include "scheduler/sched.h"
#include "troupe/actor.h"

/* Messages an actor handles per turn before it yields: bounds the latency one busy actor
 * adds to the others on its worker, while keeping the per-turn cost amortised. */
#define TR_SCHED_BATCH 64u
/* One turn in this many (on average) is timed; run time is estimated from the samples, so
 * the common turn reads no clock. */
#define TR_TIME_SAMPLE 16u

/* flags: written only by the thread running the actor (or creating it), read by any. */
enum {
  TR_AF_INIT_PENDING = 1u << 0, /* init has not run yet */
  TR_AF_INIT_MSG = 1u << 1,     /* the first queued message is the init payload */
  TR_AF_CLIENT = 1u << 2,       /* a client endpoint: woken by signalling its thread */
  TR_AF_RUNNING = 1u << 3,      /* in a turn now */
  TR_AF_DYING = 1u << 4,        /* exiting: the registry must not give it a name */
};

/* The sentinel that closes the signal lane of an exited actor. */
#define TR_SIGS_CLOSED ((tr_msg_t *)(uintptr_t)1)

/* Signals (TR_KIND_SIGNAL envelopes, the `sig` field). */
enum { TR_SIG_EXIT = 1 };

/* Cold data, allocated on first use. */
typedef struct tr_actor_ext {
  char name[TR_NAME_MAX + 1]; /* registered name; guarded by the registry lock */
} tr_actor_ext_t;

struct tr_actor {
  tr_mq_t mq;              /* the mailbox */
  _Atomic(tr_msg_t *) sigs; /* the signal lane: a push-only stack, taken whole by the owner */
  tr_pid_t pid;             /* immutable */
  const tr_behaviour_t *beh; /* immutable */
  _Atomic(tr_actor_ext_t *) ext;
  _Atomic uint32_t flags;
  _Atomic uint32_t hwm;      /* owner writes: mailbox high-water mark */
  _Atomic uint64_t enq;      /* any sender: messages pushed */
  _Atomic uint64_t deq;      /* owner: messages handled */
  _Atomic uint64_t out;      /* owner: messages sent */
  _Atomic uint64_t run_ticks; /* owner: estimated ticks in callbacks */
  alignas(16) unsigned char state[];
};
typedef struct tr_actor tr_actor_t;

/* Bytes of an actor block with `state_size` bytes of state. */
static inline size_t tr__actor_size(size_t state_size) {
  return sizeof(struct tr_actor) + ((state_size + 15) & ~(size_t)15);
}

/* Find a live actor by pid, or NULL. The caller must be a worker of this system or hold the
 * foreign lock (scheduler/qsbr.h), which keeps the actor's memory valid until it is done. */
static inline tr_actor_t *tr__table_get(tr_table_t *t, tr_pid_t pid) {
  if (TR_UNLIKELY(tr__pid_node(pid) != t->node))
    return NULL;
  tr_actor_t *a = tr__table_at(t, tr__pid_slot(pid));
  return a && a->pid.id == pid.id ? a : NULL;
}

struct tr_ctx {
  tr_system_t *sys;
  tr_worker_t *w;    /* NULL outside the pool */
  tr_actor_t *self;  /* NULL for the outside world */
  bool stop;         /* tr_stop was called in this callback */
};

/* Per-worker data of the actor layer (tr_worker_t.local). */
typedef struct tr_wlocal {
  struct tr_ctx ctx;
  tr_slot_cache_t slots;
  tr_alloc_local_t alloc;
  uint32_t sample_countdown;
  /* Owner writes (relaxed), statistics read. */
  _Atomic uint64_t spawned, exited, messages, dead_letters;
} tr_wlocal_t;

typedef struct tr_registry {
  pthread_mutex_t mu;
  struct tr_name_entry **buckets;
  size_t nbuckets, count;
} tr_registry_t;

enum { TR_SYS_RUNNING = 0, TR_SYS_STOPPING, TR_SYS_STOPPED };

struct tr_system {
  tr_sched_t sched;
  tr_table_t table;
  tr_alloc_t alloc;
  tr_atoms_t atoms;
  tr_registry_t reg;
  tr_config_t cfg;
  struct tr_ctx ctx; /* the outside world */
  tr_wlocal_t *locals;
  _Atomic int state;
  _Atomic uint64_t next_ref;
  /* Counters bumped by threads that are not workers (atomic increments: rare). */
  _Atomic uint64_t f_spawned, f_exited, f_dead_letters;
  /* Open clients, so a stop can wake them and a free can close them. */
  pthread_mutex_t clients_mu;
  struct tr_client *clients;
};

static inline void tr__bump(_Atomic uint64_t *c, uint64_t n) {
  /* Single-writer counter: see worker.c. */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

static inline bool tr__ctx_is_worker(const tr_ctx_t *ctx) { return ctx->w != NULL; }
static inline tr_pool_t *tr__ctx_pool(const tr_ctx_t *ctx) {
  return ctx->w ? &ctx->w->pool : NULL;
}
/* Is the calling thread a worker of sys (so it may read actors without the foreign lock)? */
static inline bool tr__on_worker(const tr_system_t *sys) {
  return tr__tls_worker && tr__tls_worker->s == &sys->sched;
}

/* actor.c */
/* Create, publish and (unless a client) schedule an actor; its pid goes to *out. Takes init
 * (may be NULL) on success only. */
int tr__spawn(tr_ctx_t *ctx, const tr_behaviour_t *b, uint32_t flags, size_t state_size,
              tr_msg_t *init, tr_pid_t *out);
void tr__actor_die(tr_worker_t *w, tr_actor_t *a, const tr_reason_t *reason, bool terminate);
void tr__actor_reclaim(void *obj, void *arg);
/* Free an actor block (w: the calling worker, or NULL on other threads). */
void tr__actor_free(tr_system_t *sys, tr_worker_t *w, tr_actor_t *a);
void tr__actor_drain(tr_actor_t *a, tr_pool_t *pool, tr_wlocal_t *L, tr_system_t *sys);
tr_actor_ext_t *tr__actor_ext(tr_actor_t *a);

/* turn.c */
void tr__actor_run(void *task, tr_worker_t *w);

/* send.c */
/* Deliver an envelope to pid, or count it as a dead letter and free it. Takes ownership. */
void tr__deliver(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m);
/* Push an envelope into a's mailbox and schedule a if the push woke it. */
void tr__enqueue(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m);
/* Build and deliver a message; the common path of every send function. */
int tr__send(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
             uint64_t ref, uint8_t kind);
void tr__dead_letter(tr_ctx_t *ctx, tr_msg_t *m);

/* registry.c */
int tr__registry_init(tr_registry_t *r);
void tr__registry_destroy(tr_registry_t *r);
void tr__registry_drop(tr_system_t *sys, tr_actor_t *a);
void tr__registry_name_of(tr_system_t *sys, tr_actor_t *a, char *out);

/* client.c */
void tr__client_wake(tr_actor_t *a);
void tr__clients_stop(tr_system_t *sys);
void tr__clients_close_all(tr_system_t *sys);

#endif
