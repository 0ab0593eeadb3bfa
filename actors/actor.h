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
#include "base/u64map.h"
#include "actors/table.h"
#include "base/base.h"
#include "mailbox/atom.h"
#include "mailbox/envelope.h"
#include "mailbox/mpsc.h"
#include "scheduler/sched.h"
#include "troupe/actor.h"
#include "troupe/group.h"

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
  TR_AF_TRAP = 1u << 5,         /* traps exit signals */
  TR_AF_RTIMEOUT = 1u << 6,     /* has a receive timeout: note when each turn ends */
  TR_AF_TRACED = 1u << 7,       /* a tracer gets an event per message handled and sent */
  TR_AF_UNMUTABLE = 1u << 10,   /* never muted (supervisors) */
  TR_AF_MUTERS = 1u << 11,      /* some actors are muted on this one (its ext's muters) */
  /* Muted: parked, in no run queue, its mailbox left "scheduled". The one flag others write:
   * set by the owner as the last thing its turn does, cleared by whoever wins the CAS that
   * releases it (overload.c), and that one schedules it. */
  TR_AF_MUTED = 1u << 12,
  /* Parked on one full mailbox, it waits on more (its ext's remute): once released, it
   * parks on each that is still full before it runs again (overload.c). Owner only. */
  TR_AF_REMUTE = 1u << 13,
};

/* Full mailboxes (or busy links) besides the first that one handler's sends may make its
 * actor wait on (overload.c); a handler that fills more waits on these many. */
#define TR_MUTE_MORE 4u

/* tr_actor.ov: what a sender must know of the receiver, immutable after spawn. The overload
 * policy is MUTE unless DROP or FAIL (OFF when high is 0). */
enum { TR_OV_DROP = 1u << 0, TR_OV_FAIL = 1u << 1, TR_OV_CLIENT = 1u << 2 };
/* The largest high-water mark (tr_actor.high has 24 bits). */
#define TR_MAILBOX_HIGH_MAX ((1u << 24) - 1)

/* Next id for monitors, requests and timers: unique in the system. */
#define TR__NEXT_REF(sys) atomic_fetch_add_explicit(&(sys)->next_ref, 1, memory_order_relaxed)

/* The sentinel that closes the signal lane of an exited actor. */
#define TR_SIGS_CLOSED ((tr_msg_t *)(uintptr_t)1)

/* Signals (TR_KIND_SIGNAL envelopes, the `sig` field). The sender is `from`; a monitor's
 * reference travels in `ref`; an exit's reason is a heap tr_reason_t. */
enum {
  TR_SIG_EXIT = 1, /* aux: TR_EXITF_* */
  TR_SIG_LINK,
  TR_SIG_UNLINK,
  TR_SIG_MONITOR,
  TR_SIG_DEMONITOR,
  TR_SIG_INSPECT, /* ref: the request; aux: TR_INSPECT_*; answered with a REPLY to `from` */
  TR_SIG_TRACE,   /* ref: the tracer's pid; aux: 1 on, 0 off */
  TR_SIG_MUTED,   /* the sender has parked, muted on this actor's full mailbox */
};
/* What an INSPECT signal asks for (debug.c). */
enum {
  TR_INSPECT_STATE = 0, /* the behaviour's inspect callback (nil without one) */
  TR_INSPECT_META = 1,  /* counts from the owner's ext: links, monitors, watchers, timers */
};
/* A reply's aux, for a request that failed before any answer could come: a TR_ATOM_TIMEOUT
 * with the request's reference, delivered at once (tr__request_fail). NOCONN: its target's
 * node is not connected or went down (cluster/), which tr_client_request turns into
 * TR_ENOCONN; NOPROC: its target is a local pid that is not alive, TR_ENOENT; BUSY: its
 * target's mailbox was full and its policy dropped or refused the request, TR_EBUSY. Set
 * only by this node: a reply's aux does not cross the wire (the payload's string does). */
#define TR_REPLY_NOCONN 1u
#define TR_REPLY_NOPROC 2u
#define TR_REPLY_BUSY 3u

/* Fail the request `ref` of a local requester at once: deliver it the TIMEOUT reply above,
 * with aux `why` and the msgpack string `text` (a short literal) as payload. Any context
 * that may send. */
void tr__request_fail(tr_ctx_t *ctx, tr_pid_t requester, uint64_t ref, uint32_t why,
                      const char *text);

enum {
  TR_EXITF_LINK = 1u << 0,   /* sent because a linked actor exited */
  TR_EXITF_FORCED = 1u << 1, /* the system is stopping: never trapped */
};

/* An actor's pending requests (request.c): a ring of (reference, deadline) in the order they
 * were made, which is the order of their references, so a reply is found by binary search;
 * answered ones are marked (deadline 0) and dropped from the front. One owned timer, armed
 * for the earliest deadline, checks them; it is not cancelled when replies come. */
typedef struct tr_pending {
  uint64_t ref;
  uint64_t deadline; /* ns; 0 once answered or expired */
} tr_pending_t;

typedef struct tr_requests {
  tr_pending_t *ring;
  uint32_t head, len, cap; /* cap: a power of two (or 0) */
  uint32_t live;           /* not yet answered nor expired */
  uint64_t timer;          /* the owned timer that checks them, or 0 */
  uint64_t timer_due;      /* when it fires (ns) */
} tr_requests_t;

typedef struct tr_group tr_group_t;   /* groups.c */
typedef struct tr_gscope tr_gscope_t; /* groups.c */

/* Cold data, allocated on first use. `name` is guarded by the registry lock; everything else
 * belongs to the thread running the actor. */
typedef struct tr_actor_ext {
  char name[TR_NAME_MAX + 1];
  tr_u64map_t links;      /* linked pid -> 1 */
  tr_u64map_t watchers;   /* monitor ref -> watcher pid (others monitoring us) */
  tr_u64map_t monitors;   /* monitor ref -> target pid (our monitors) */
  tr_u64map_t timers;     /* owned timer id -> target pid / request ref / 0 */
  tr_requests_t requests; /* pending requests and their deadlines (request.c) */
  uint64_t rt_ms;         /* receive timeout, 0 when off */
  uint64_t rt_last_ns;    /* when the last turn that handled a message ended */
  uint64_t rt_timer;      /* the owned timer that checks it */
  tr_pid_t tracer;        /* who gets trace events while TR_AF_TRACED is set */
  tr_group_t **groups;    /* the groups it is a member of (groups.c) */
  uint32_t ngroups, capgroups;
  tr_u64map_t muters; /* pids of actors muted on this one, to release (overload.c) */
  /* Overload statistics: muted_by is written by the owner before it parks, the counters by
   * senders; all read racily by tr_actor_info (relaxed). */
  _Atomic uint64_t muted_by, mutes, dropped, refused;
  /* DOWNs pushed (by anyone) and taken (by the owner): an actor with one waiting does not
   * park (overload.c). */
  _Atomic uint64_t downs;
  uint64_t downs_taken;
  /* Owner only: the mailboxes (or links) it still waits on after the one it parked on, in
   * the order its handler found them full (TR_AF_REMUTE); allocated the first time it
   * waits on more than one, so that an ext costs one pointer for it. */
  struct tr_remute {
    uint32_t n;
    uint64_t pid[TR_MUTE_MORE];
  } * remute;
} tr_actor_ext_t;

/* Two cache lines. The first holds what a sender touches (the pid it checks, the counters
 * and marks of the overload gate, the mailbox head it exchanges), so a push costs one line;
 * the second what only the owner writes as it runs (the mailbox tail it pops from, flags,
 * statistics), so the owner's pops do not take that line from the senders. */
struct tr_actor {
  tr_pid_t pid;         /* immutable */
  _Atomic uint64_t enq; /* any sender: messages pushed */
  _Atomic uint64_t deq; /* owner: messages handled (stored at each turn's end) */
  uint32_t high : 24;   /* the mailbox's marks (overload.c); immutable after spawn; */
  uint32_t ov : 8;      /* high 0: no bound. ov: TR_OV_* */
  uint32_t low;
  _Atomic(tr_msg_t *) sigs; /* the signal lane: a push-only stack, taken whole by the owner */
  /* Coarse-clock stamps (tr_system_t.coarse_ms) for the console's ages; statistics only, so
   * relaxed, read racily by tr_actor_info. woke_ms: the sender whose push moved the mailbox
   * from idle to scheduled (tr__enqueue). last_run_ms: the owner, at each turn start. */
  _Atomic uint32_t woke_ms;
  _Atomic uint32_t last_run_ms;
  const tr_behaviour_t *beh; /* immutable */
  tr_mq_t mq;                /* the mailbox: head ends the first line, tail and stub start the
                                second */
  _Atomic(tr_actor_ext_t *) ext;
  _Atomic uint32_t flags;
  _Atomic uint32_t hwm;       /* owner writes: mailbox high-water mark */
  _Atomic uint64_t out;       /* owner: messages sent */
  _Atomic uint64_t run_ticks; /* owner: estimated ticks in callbacks */
  alignas(16) unsigned char state[];
};
typedef struct tr_actor tr_actor_t;

/* Raise the mailbox high-water mark to at least depth. The owner (at each turn) and
 * statistics readers both raise it, so it is a CAS loop; it runs only when depth is a new
 * maximum. */
static inline void tr__raise_hwm(tr_actor_t *a, uint64_t depth) {
  uint32_t d = (uint32_t)(depth > UINT32_MAX ? UINT32_MAX : depth);
  uint32_t h = atomic_load_explicit(&a->hwm, memory_order_relaxed);
  while (d > h && !atomic_compare_exchange_weak_explicit(&a->hwm, &h, d, memory_order_relaxed,
                                                         memory_order_relaxed)) {
  }
}

/* Bytes of an actor block with `state_size` bytes of state: whole cache lines, so that one
 * actor's lines are never another's. The layout above puts what senders write on the first
 * line and what the owner writes on the second; an actor whose state ran into the next
 * actor's first line would have its owner writing the line every sender to the next one
 * writes, a false sharing that cost mesh two thirds of its speed in some runs. */
static inline size_t tr__actor_size(size_t state_size) {
  return (sizeof(struct tr_actor) + state_size + TR_CACHE_LINE - 1) & ~(size_t)(TR_CACHE_LINE - 1);
}

/* Find a live actor by pid, or NULL. The caller must be a worker of this system or hold the
 * foreign lock (scheduler/qsbr.h), which keeps the actor's memory valid until it is done. */
static inline tr_actor_t *tr__table_get(tr_table_t *t, tr_pid_t pid) {
  if (TR_UNLIKELY(tr__pid_node(pid) != t->node))
    return NULL;
  tr_actor_t *a = tr__table_at(t, tr__pid_slot(pid));
  return a && a->pid.id == pid.id ? a : NULL;
}

/* Receivers one handler's sends are gathered for at once (the outbox, send.c). */
#define TR_OUTBOX_WAYS 8u

/* A pid's bit in the outbox's filter of its receivers (from the slot's low bits). */
static inline uint64_t tr__outbox_bit(tr_pid_t pid) { return (uint64_t)1 << (pid.id & 63); }

/* Links one handler's sends may leave queued before the oldest is written out. */
#define TR_RDIRTY_MAX 4u

struct tr_ctx {
  tr_system_t *sys;
  tr_worker_t *w;    /* the worker running this ctx, or NULL */
  tr_actor_t *self;  /* NULL for the outside world */
  tr_pool_t *pool;   /* envelopes come from here (NULL: malloc) */
  bool lockfree;     /* a reclamation participant: may read actors without the foreign lock */
  tr_qsbr_rec_t *qs; /* its reclamation record, when it is a participant */
  bool stop;         /* tr_stop / tr_stop_reason was called in this callback */
  /* A copy of self's TR_AF_TRACED, set at each turn start and by the TRACE signal, so the
   * send paths test a flag already in the worker's cache (one predictable branch). */
  bool traced;
  /* Set by a send into a full mailbox with the mute policy: the running actor parks on it
   * once its current handler returns (overload.c); mute_more: further ones the same
   * handler found full (tr__mute_note), which it then waits on too. */
  tr_pid_t mute_on;
  uint32_t nmute_more;
  tr_pid_t mute_more[TR_MUTE_MORE];
  /* Messages the running actor has taken off its mailbox in this turn (its deq moves only at
   * the turn's end): its own depth is enq - deq - this. */
  uint32_t turn_popped;
  /* Stamped on what the running actor sends itself (TR_MSGF_SELF): its deq at the turn's
   * start, so the turn knows its own self-sent messages from earlier turns' (turn.c). */
  uint32_t turn_stamp;
  /* An outside sender's wait for a full mailbox to drain, in ms (tr_client_send_wait);
   * negative: none. */
  int send_wait_ms;
  /* The outbox (send.c): a handler's messages to up to TR_OUTBOX_WAYS receivers, each
   * receiver's linked into a chain in send order, pushed chain by chain (in the order the
   * receivers were first sent to) when the handler returns, when a chain is full, when a
   * further receiver comes, or before a send that cannot wait. Worker contexts only. */
  struct {
    uint32_t n;    /* chains in use */
    uint64_t seen; /* tr__outbox_bit of each chain's pid: a send to none of them skips the
                    * search (mesh's sends mostly go to receivers not in the outbox yet) */
    struct tr_out_chain {
      tr_actor_t *to; /* valid until the flush: no quiescent point can pass in between */
      tr_pid_t pid;   /* the pid sent to: to's, unless its slot was reused meanwhile */
      tr_msg_t *first, *last;
      uint32_t n;
    } c[TR_OUTBOX_WAYS];
  } out;
  /* Links to other nodes this context's sends queued frames on and has not written out
   * yet (the cluster's; actors/remote.h): written when the handler returns. */
  uint32_t rdirty_n;
  void *rdirty[TR_RDIRTY_MAX];
  tr_reason_t stop_reason;
};

/* Per-worker data of the actor layer (tr_worker_t.local). Cache-line aligned, so that one
 * worker's counters never share a line with the next worker's context (a false sharing that
 * once cost skynet half its speed). */
typedef struct tr_wlocal {
  alignas(TR_CACHE_LINE) struct tr_ctx ctx;
  tr_slot_cache_t slots;
  tr_alloc_local_t alloc;
  uint32_t sample_countdown;
  /* Owner writes (relaxed), statistics read. sent: messages its actors' handlers sent;
   * busy_ticks: estimated ticks in callbacks (the sampled turns', scaled as run_ticks). */
  _Atomic uint64_t spawned, exited, messages, dead_letters, sent, busy_ticks;
} tr_wlocal_t;

typedef struct tr_registry {
  pthread_mutex_t mu;
  struct tr_name_entry **buckets;
  size_t nbuckets, count;
} tr_registry_t;

enum { TR_SYS_RUNNING = 0, TR_SYS_STOPPING, TR_SYS_STOPPED };

/* The system's process groups (groups.c): scopes are appended under mu and read lock-free. */
typedef struct tr_groups {
  pthread_mutex_t mu;
  _Atomic uint32_t nscopes;
  tr_gscope_t *scopes[TR_GROUP_SCOPES_MAX];
} tr_groups_t;

/* An object other than an actor that reclamation frees (a group's members array, say): it
 * starts with this header. */
typedef struct tr_retired {
  void (*free)(struct tr_retired *obj);
} tr_retired_t;

/* Hooks that run once a system becomes a node (tr__on_node). */
#define TR_NODE_HOOKS_MAX 4u

struct tr_system {
  tr_sched_t sched;
  tr_table_t table;
  tr_alloc_t alloc;
  tr_atoms_t atoms;
  tr_registry_t reg;
  tr_groups_t groups;
  struct tr_io *io;             /* the I/O thread (io/), opaque here; set by runtime/ */
  const struct tr_clock *clock; /* installed before any actor runs (clock.h) */
  tr_config_t cfg;
  struct tr_ctx ctx; /* the outside world */
  tr_wlocal_t *locals;
  _Atomic int state;
  _Atomic uint64_t next_ref;
  uint64_t start_ns; /* immutable: when the system was created */
  /* The console's coarse clock (ms since start_ns). Written only by the I/O thread, every
   * millisecond while a console runs (net/console.c); read (relaxed: an estimate, ordering
   * nothing) at each turn start and by senders that wake an actor. On its own cache line so
   * its ticks do not disturb the fields around it. clock_on: set once by tr_console_start
   * (relaxed: it only tells readers whether the ages mean anything). */
  alignas(TR_CACHE_LINE) _Atomic uint32_t coarse_ms;
  _Atomic bool clock_on;
  alignas(TR_CACHE_LINE) char coarse_pad_;
  /* Counters bumped by threads that are not workers (atomic increments: rare). */
  _Atomic uint64_t f_spawned, f_exited, f_dead_letters;
  /* The cluster's operations (actors/remote.h), installed once when the system becomes a
   * node, and their state. */
  _Atomic(const struct tr_remote_ops *) remote;
  void *remote_arg;
  /* What runs once the system is a node (actors/remote.h: tr__on_node), under node_mu. */
  pthread_mutex_t node_mu;
  bool node_up;
  void (*node_hooks[TR_NODE_HOOKS_MAX])(tr_system_t *sys);
  unsigned node_nhooks;
  /* Open clients, so a stop can wake them and a free can close them. */
  pthread_mutex_t clients_mu;
  struct tr_client *clients;
};

static inline tr_pool_t *tr__ctx_pool(const tr_ctx_t *ctx) { return ctx->pool; }
/* Is ctx an actor's, inside one of its callbacks (not an outside thread or a client)? */
static inline bool tr__in_handler(const tr_ctx_t *ctx) { return ctx && ctx->self && ctx->w; }
/* tr_self, inline for the send paths. */
static inline tr_pid_t tr__self(const tr_ctx_t *ctx) {
  return ctx->self ? ctx->self->pid : TR_PID_NONE;
}
/* Is the calling thread a worker of sys (so it may read actors without the foreign lock)? */
static inline bool tr__on_worker(const tr_system_t *sys) {
  return tr__tls_worker && tr__tls_worker->s == &sys->sched;
}

/* actor.c */
/* Create, publish and (unless a client) schedule an actor; its pid goes to *out. Takes init
 * (may be NULL) on success only. */
int tr__spawn(tr_ctx_t *ctx, const tr_behaviour_t *b, uint32_t flags, size_t state_size,
              tr_msg_t *init, const tr_spawn_opts_t *opts, tr_pid_t *out);
/* End the running actor (ctx: its worker's context). pending: signals already taken off its
 * lane and not yet handled (answered by the exit). */
void tr__actor_die(tr_ctx_t *ctx, tr_actor_t *a, const tr_reason_t *reason, bool terminate,
                   tr_msg_t *pending);
/* The scheduler's reclaim hook: frees a retired actor, or a tr_retired_t (tagged). */
void tr__actor_reclaim(void *obj, void *arg);
/* A participant only (a worker, or the I/O thread): free obj once no participant can still
 * hold it (the scheduler's QSBR). */
void tr__retire(tr_ctx_t *ctx, tr_retired_t *obj);
/* Free an actor block (w: the calling worker, or NULL on other threads). */
void tr__actor_free(tr_system_t *sys, tr_worker_t *w, tr_actor_t *a);
void tr__actor_drain(tr_actor_t *a, tr_pool_t *pool, tr_wlocal_t *L, tr_system_t *sys);
tr_actor_ext_t *tr__actor_ext(tr_actor_t *a);

/* turn.c */
void tr__actor_run(void *task, tr_worker_t *w);

/* overload.c */
/* Messages queued in a's mailbox now (enq - deq; deq moves at each turn's end). */
static inline uint64_t tr__depth(const tr_actor_t *a) {
  return atomic_load_explicit(&a->enq, memory_order_relaxed) -
         atomic_load_explicit(&a->deq, memory_order_relaxed);
}
/* Set a new actor's marks and policy from opts (NULL or all zero: the system's). */
int tr__overload_setup(tr_system_t *sys, tr_actor_t *a, const tr_spawn_opts_t *opts,
                       uint32_t *flags);
/* Validate a tr_mailbox_opts_t (TR_EINVAL for a bad one). */
int tr__overload_check(const tr_mailbox_opts_t *o);
/* The send path's check before a push into a full mailbox (depth >= high): 0 to push (it
 * may have set ctx->mute_on), 1 to drop, TR_EBUSY to refuse, TR_EAGAIN for an outside
 * sender into a mute mailbox (it waits with tr__overload_wait, holding no lock, and looks
 * again, or gives up with TR_EBUSY). */
int tr__overload_full(tr_ctx_t *ctx, tr_actor_t *a);
/* Wait a little for a drain; false once ctx's wait time (from *deadline_ns, 0 at the first
 * call) has run out. */
bool tr__overload_wait(tr_ctx_t *ctx, uint64_t *deadline_ns);
/* After a push into a full mailbox: release a when it is muted (it must drain). */
void tr__overload_pushed(tr_ctx_t *ctx, tr_actor_t *a);
/* A send of the running actor (which may be muted) found `to` full: it will wait on it
 * (ctx->mute_on, or the next of ctx->mute_more). */
void tr__mute_note(tr_ctx_t *ctx, tr_pid_t to);
/* The running actor's turn ends muted on ctx->mute_on (and ctx->mute_more): park it on the
 * first that is still full, keeping the others for tr__mute_repark. False when it should
 * not park after all (each is gone or drained, or a itself is full): then the caller ends
 * the turn as usual. */
bool tr__mute_park(tr_ctx_t *ctx, tr_actor_t *a);
/* At the start of a turn of an actor with TR_AF_REMUTE (released from one park): park on
 * the next mailbox it still waits on. True when it parked (the turn ends there). */
bool tr__mute_repark(tr_ctx_t *ctx, tr_actor_t *a);
/* The receiver's side: the MUTED signal (a sender parked on it), and the end of its turns
 * (release them all once below the low-water mark, or when it exits). */
void tr__mute_noted(tr_ctx_t *ctx, tr_actor_t *a, tr_pid_t sender);
void tr__mute_release_all(tr_ctx_t *ctx, tr_actor_t *a);
/* Release a muted actor (a signal for it, a push over its high-water mark): whoever wins
 * the flag schedules it. */
void tr__unmute(tr_ctx_t *ctx, tr_actor_t *a);
/* Count a dropped message on its receiver. */
void tr__overload_count(tr_actor_t *a, bool dropped);

/* send.c */
/* Deliver an envelope to pid, or count it as a dead letter and free it. Takes ownership.
 * Returns false when pid was not alive (a dead letter). */
bool tr__deliver(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m);
/* Push an envelope into a's mailbox and schedule a if the push woke it. */
void tr__enqueue(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m);
/* Schedule a, whose mailbox a push of ours just moved from idle to scheduled. */
void tr__wake(tr_ctx_t *ctx, tr_actor_t *a);
/* Deliver an envelope through the overload gate (overload.c): the send path of ordinary
 * messages. Returns 0 (*delivered: whether it reached a live mailbox; a dead letter or a
 * drop was counted and freed) or TR_EBUSY (refused: m is still the caller's). */
int tr__send_to(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered);
/* Messages an outbox chain gathers before it is pushed: one exchange and one counter update
 * per this many, instead of per message. */
#define TR_OUTBOX_MAX 64u
/* Push what the outbox gathered (a no-op when it is empty). Worker contexts only. */
void tr__outbox_flush(tr_ctx_t *ctx);
/* Write out what the handler's sends queued on links to other nodes (actors/remote.h). */
void tr__remote_flush(tr_ctx_t *ctx);
static inline void tr__outbox_done(tr_ctx_t *ctx) {
  if (ctx->out.n)
    tr__outbox_flush(ctx);
  if (TR_UNLIKELY(ctx->rdirty_n != 0))
    tr__remote_flush(ctx);
}
/* Build and deliver a message; the common path of every send function. */
int tr__send(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len, uint64_t ref,
             uint8_t kind);
void tr__dead_letter(tr_ctx_t *ctx, tr_msg_t *m);
/* Send one message to each of to[0..n) but `except`, and but the actors of other nodes when
 * local_only (a payload over the inline room is copied once and shared); *delivered gets
 * how many reached a live actor. */
int tr__send_many(tr_ctx_t *ctx, const tr_pid_t *to, size_t n, tr_pid_t except, bool local_only,
                  tr_atom_t tag, const void *data, size_t len, size_t *delivered);

/* registry.c */
int tr__registry_init(tr_registry_t *r);
void tr__registry_destroy(tr_registry_t *r);
void tr__registry_drop(tr_system_t *sys, tr_actor_t *a);
/* Name an actor that is not published yet. Errors: TR_EINVAL, TR_EEXIST, TR_ENOMEM. */
int tr__registry_add_new(tr_system_t *sys, tr_actor_t *a, const char *name);
void tr__registry_name_of(tr_system_t *sys, tr_actor_t *a, char *out);

/* links.c */
/* Handle the signal lane; true when the actor exited. */
bool tr__signals_handle(tr_ctx_t *ctx, tr_actor_t *a);
/* At exit: answer what is left on the closed signal lane and notify links and monitors. */
void tr__signals_exit(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *pending, const tr_reason_t *r);
/* A DOWN message for a monitor the actor still holds? (drops it from its monitors) */
bool tr__monitor_admit(tr_actor_t *a, const tr_msg_t *m);
/* Push a signal; false when the target has exited (the lane is closed). */
bool tr__signal_push(tr_actor_t *a, tr_msg_t *s);
/* A signal that appears to come from `from` (the MUTED signal of an actor that parks). */
bool tr__signal_from(tr_ctx_t *ctx, tr_pid_t to, tr_pid_t from, uint16_t sig);
/* Build and send a signal to pid; returns false when pid is dead or unknown. */
bool tr__signal_send(tr_ctx_t *ctx, tr_pid_t pid, uint16_t sig, uint32_t aux, uint64_t ref,
                     const tr_reason_t *reason);
int tr__link_new(tr_ctx_t *ctx, tr_actor_t *child);
int tr__monitor_new(tr_ctx_t *ctx, tr_actor_t *target, uint64_t *ref);

/* debug.c: inspect and trace (the console's hooks) */
/* An INSPECT or TRACE signal reached its live target, on the target's worker. */
void tr__debug_signal(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *s);
/* A trace event: `a` (traced) handled (TR_TRACE_IN), sent (OUT) or had dropped by a full
 * mailbox (DROP) m from/to peer. Built and delivered by a path that is never itself traced;
 * turns tracing off when the tracer is gone. */
enum { TR_TRACE_IN = 0, TR_TRACE_OUT = 1, TR_TRACE_DROP = 2 };
void tr__trace_event(tr_ctx_t *ctx, tr_actor_t *a, int dir, tr_pid_t peer, const tr_msg_t *m);
/* tr_inspect asking for `what` (TR_INSPECT_*). */
int tr__inspect(tr_ctx_t *ctx, tr_pid_t pid, uint32_t what, uint64_t timeout_ms, uint64_t *ref);

/* groups.c */
void tr__groups_init(tr_groups_t *gs);
void tr__groups_destroy(tr_groups_t *gs);
/* At exit: leave every group. */
void tr__groups_exit(tr_ctx_t *ctx, tr_actor_t *a);
/* The running actor leaves g (it is a member, or nothing happens). */
void tr__group_drop(tr_ctx_t *ctx, tr_group_t *g);

/* system.c: the steps runtime/system.c composes into tr_system_new / _stop / _free */
/* Create the actor layer with its workers running (no actor yet). Errors: those of
 * tr_system_new. */
int tr__system_create(const tr_config_t *cfg, tr_system_t **out);
/* The reclamation record kept for the I/O thread. */
tr_qsbr_rec_t *tr__system_io_record(tr_system_t *sys);
/* Move running -> stopping; false when it was stopping or stopped already. */
bool tr__system_begin_stop(tr_system_t *sys);
/* Exit every actor (shutdown, newest first) and wait until none is left. */
void tr__system_stop_actors(tr_system_t *sys);
/* Wake the clients, stop and join the workers; the system is stopped. */
void tr__system_end_stop(tr_system_t *sys);
bool tr__system_stopped(tr_system_t *sys);
/* Free the actor layer (stopped). */
void tr__system_destroy(tr_system_t *sys);

/* client.c */
void tr__client_wake(tr_actor_t *a);
void tr__clients_stop(tr_system_t *sys);
void tr__clients_close_all(tr_system_t *sys);

#endif
