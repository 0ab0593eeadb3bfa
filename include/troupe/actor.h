/* Actors: the system, behaviours, spawning, sending, exits, the local registry, counters,
 * and clients (how a thread that is not an actor, such as main(), talks to actors).
 *
 * Lifecycles are written down in docs/lifecycle.md; the rules numbered there are referred
 * to below as (L-n).
 *
 * Contexts. Every operation that acts on behalf of someone takes a `tr_ctx_t *`:
 *  - inside a handler, the ctx passed to it (it names the running actor; valid only during
 *    that call, only on that thread);
 *  - from a thread that is not a worker, tr_system_ctx(sys) (an anonymous sender), or a
 *    client's ctx (a sender with a pid that can receive replies). */
#ifndef TROUPE_ACTOR_H
#define TROUPE_ACTOR_H

#include "common.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- exit reasons ---- */

/* Why an actor exited: the kind of a reason (tr_reason_t). */
typedef enum {
  TR_REASON_NORMAL = 0,   /* the actor finished its work */
  TR_REASON_SHUTDOWN,     /* the system or a supervisor stopped it */
  TR_REASON_KILLED,       /* killed unconditionally */
  TR_REASON_ERROR,        /* a handler failed: code and text say why */
  TR_REASON_NOPROC,       /* the actor did not exist */
  TR_REASON_NOCONNECTION, /* the node that ran it is unreachable */
} tr_reason_kind_t;

#define TR_REASON_TEXT_MAX 48 /* bytes of a reason's text, its NUL included */

/* An exit reason: what terminate gets, and what DOWN messages and trapped exits carry. */
typedef struct {
  tr_reason_kind_t kind;         /* why */
  int code;                      /* for TR_REASON_ERROR: the handler's error code */
  char text[TR_REASON_TEXT_MAX]; /* a short NUL-terminated explanation, may be empty */
} tr_reason_t;

/* Fill a reason; text may be NULL and is truncated to fit. Returns r for chaining. */
TR_API tr_reason_t *tr_reason_set(tr_reason_t *r, tr_reason_kind_t kind, int code,
                                  const char *text);
/* The kind's name ("normal", "shutdown", "killed", "error", "noproc", "noconnection";
 * "unknown" for another value), for logs. Any thread; a static string. */
TR_API const char *tr_reason_kind_name(tr_reason_kind_t kind);

/* ---- behaviours ---- */

/* A behaviour is plain constant data: a table of callbacks shared by all actors running it.
 * Every callback runs on a worker thread, one at a time per actor, with `state` pointing at
 * the actor's state_size bytes (zeroed before init, 16-byte aligned). */
typedef struct tr_behaviour {
  const char *name;  /* shown by the console and in logs */
  size_t state_size; /* bytes of state allocated with the actor (may be 0) */
  /* First callback of every actor, with the spawn's init message (tag TR_ATOM_INIT; its
   * payload may be empty). May be NULL. Returning non-zero ends the actor with reason
   * error(code) and terminate is not called. */
  int (*init)(tr_ctx_t *ctx, void *state, const tr_msg_t *init);
  /* One message. Returning 0 continues; non-zero ends the actor with reason error(code).
   * Required. A message the actor sends itself is handled in a later turn, never in the
   * turn that sent it: an actor that goes on by mailing itself (a loop in steps, a producer
   * sending in chunks) lets the other actors of its worker run between its steps. */
  int (*receive)(tr_ctx_t *ctx, void *state, const tr_msg_t *msg);
  /* Last callback, with the reason; may send messages but not receive any more. May be
   * NULL. */
  void (*terminate)(tr_ctx_t *ctx, void *state, const tr_reason_t *reason);
  /* Describe the state for the console: write one msgpack value (a map is usual) with pk.
   * Runs on the actor's own worker between messages, so it sees a consistent state.
   * May be NULL. */
  int (*inspect)(const void *state, msgpack_packer *pk);
  /* Called once at the end of every turn in which receive ran (a turn handles up to a batch
   * of the queued messages), before the actor waits for more or yields: the place to write
   * out what the turn's messages gathered, so that a burst of input costs one write (a
   * server session's replies, say). Runs like receive (may send; non-zero or tr_stop ends
   * the actor the same way). May be NULL. */
  int (*flush)(tr_ctx_t *ctx, void *state);
} tr_behaviour_t;

/* ---- overload: what a full mailbox does (docs/overload.md) ----
 *
 * Every mailbox has a high-water mark and a low-water mark (messages queued). When a
 * message finds the mailbox at or over its high-water mark, the receiver's policy decides:
 *   TR_OVERLOAD_MUTE  (the default) the message is queued, and the sender, if it is an
 *                     actor, is muted: its current handler finishes, then it is not
 *                     scheduled again until the receiver has drained below its low-water
 *                     mark (it keeps its own mailbox, which fills in turn, and so the
 *                     pressure travels back to whoever feeds it). No worker thread ever
 *                     blocks. An actor is not muted when it sends to itself, when its own
 *                     mailbox is over its high-water mark (it must drain), or when it was
 *                     spawned unmutable (supervisors are). A muted actor still handles its
 *                     signals (exits, links, monitors): a signal wakes it. A sender that is
 *                     not an actor (an outside thread, a client) waits for the drain, up
 *                     to its wait time (tr_config_t.send_wait_ms, tr_client_send_wait;
 *                     1 s by default), then gets TR_EBUSY.
 *   TR_OVERLOAD_DROP  the message is dropped and counted (a dead letter, and the
 *                     receiver's `dropped`); the send returns 0.
 *   TR_OVERLOAD_FAIL  the send returns TR_EBUSY and nothing is queued (counted as the
 *                     receiver's `refused`).
 *   TR_OVERLOAD_OFF   the mailbox grows without bound.
 * Only ordinary messages (sends, replies, group sends) count against the marks; the
 * runtime's own (signals, DOWN, timer expiries, socket input, which net/ bounds itself) are
 * never muted, refused or dropped. A client's mailbox is not bounded (policy OFF): its
 * thread reads it, and the runtime cannot schedule that. */
typedef enum {
  TR_OVERLOAD_MUTE = 0, /* queue it and mute the sender (the default) */
  TR_OVERLOAD_DROP,     /* drop it: a dead letter */
  TR_OVERLOAD_FAIL,     /* refuse the send with TR_EBUSY */
  TR_OVERLOAD_OFF,      /* no bound */
} tr_overload_t;

/* A mailbox's overload policy and marks (tr_config_t.mailbox, tr_spawn_opts_t.mailbox). */
typedef struct {
  tr_overload_t policy; /* what a full mailbox does */
  uint32_t high_water;  /* 0: TR_MAILBOX_HIGH */
  uint32_t low_water;   /* 0: high_water / 4; must be below high_water */
} tr_mailbox_opts_t;

#define TR_MAILBOX_HIGH 1024u /* the default high-water mark, in messages */

/* The policy's name ("mute", "drop", "fail", "off"), for logs and the console. */
TR_API const char *tr_overload_name(tr_overload_t policy);

/* ---- the system ---- */

/* How a system is made (tr_system_new). Start from tr_config_init; every zero field means
 * its default. */
typedef struct {
  unsigned workers;          /* scheduler threads; 0 = number of online CPUs */
  uint32_t max_actors;       /* live actors at once; 0 = default (TR_DEFAULT_MAX_ACTORS) */
  uint64_t seed;             /* seed for the scheduler's random choices; 0 = from the clock. With
                                workers = 1 and a fixed seed a run is deterministic as long as
                                only actors (no outside threads) send messages. */
  tr_mailbox_opts_t mailbox; /* of actors spawned without their own (tr_spawn_opts_t) */
  /* How long a send from an outside thread (tr_system_ctx, and clients unless they say
   * otherwise) waits for a full mailbox with the mute policy to drain below its low-water
   * mark before it gives up with TR_EBUSY. 0: TR_SEND_WAIT_MS; TR_SEND_NOWAIT: it gives up
   * at once. */
  int send_wait_ms;
  /* Bytes of socket output that all of the node's connections together may hold (written by
   * their owners, not yet taken by the kernel). Each connection has its own limit
   * (tr_conn_opts_t.out_limit); this bounds their sum, which many peers that stop reading
   * would otherwise take to their number times that limit. Past it, a write drops its
   * connection when that connection holds more than its share (the budget over the open
   * connections), so the few that hold the most go first and readers keep theirs. 0: an
   * eighth of the machine's memory, at least 64 MiB. */
  size_t out_budget;
} tr_config_t;

#define TR_SEND_WAIT_MS 1000 /* the default send_wait_ms */
#define TR_SEND_NOWAIT (-1)  /* a send_wait_ms (or tr_client_send_wait) that never waits */

#define TR_DEFAULT_MAX_ACTORS (1u << 24) /* max_actors when 0 */
#define TR_MAX_ACTORS_LIMIT (1u << 26)   /* the largest max_actors accepted */

/* Fill cfg with the defaults. */
TR_API void tr_config_init(tr_config_t *cfg);

/* Create and start a system: its worker threads are running when this returns. cfg may be
 * NULL for the defaults. On success *out owns the system (free it with tr_system_free).
 * Errors: TR_EINVAL (bad config), TR_ENOMEM, TR_ESYS (a thread could not start). Must not be
 * called from a worker thread of another system's handler that expects to block on it. */
TR_API int tr_system_new(const tr_config_t *cfg, tr_system_t **out);

/* Stop gracefully (L-4): every live actor gets an exit with reason shutdown (its terminate
 * runs), messages still queued are dropped and counted as dead letters, then every thread
 * joins. Blocks. Call from an outside thread, never from a handler. Idempotent; after it
 * spawns and sends fail with TR_ESTOPPED. */
TR_API void tr_system_stop(tr_system_t *sys);

/* Stop (if not yet stopped) and free everything. sys is invalid afterwards. */
TR_API void tr_system_free(tr_system_t *sys);

/* Block the calling outside thread until no actor is alive, or timeout_ms passes (negative:
 * forever). Returns 0 or TR_ETIMEDOUT. */
TR_API int tr_system_await(tr_system_t *sys, int timeout_ms);

/* The context of the outside world: sends from it carry no sender pid. Use from threads that
 * are not workers of this system (main(), tests, other libraries' threads); any number of
 * such threads may use it at once. */
TR_API tr_ctx_t *tr_system_ctx(tr_system_t *sys);

/* ---- inside handlers ---- */

/* The pid of whoever ctx names: the running actor in a handler, the client for a client's
 * ctx, TR_PID_NONE for tr_system_ctx. */
TR_API tr_pid_t tr_self(const tr_ctx_t *ctx);
/* True when ctx is an actor's, inside one of its callbacks (false for tr_system_ctx and
 * clients, which have no handler to link or monitor from). */
TR_API bool tr_ctx_in_handler(const tr_ctx_t *ctx);
/* The system ctx belongs to (a handler's way to reach tr_atom, tr_whereis and the other
 * calls that take the system). */
TR_API tr_system_t *tr_ctx_system(const tr_ctx_t *ctx);

/* Stop the calling actor with reason normal once the current callback returns. Only from a
 * handler of that actor. */
TR_API void tr_stop(tr_ctx_t *ctx);

/* ---- spawning and sending ---- */

/* Spawn an actor running `b`; its init callback receives an init message whose payload is a
 * copy of init[0..len) (len may be 0). On success stores the pid in *out (may be NULL).
 * Any context. The new actor may run before this returns.
 * Errors: TR_EINVAL (b NULL, no receive), TR_ELIMIT (actor table full), TR_ENOMEM,
 * TR_ESTOPPED. */
TR_API int tr_spawn(tr_ctx_t *ctx, const tr_behaviour_t *b, const void *init, size_t len,
                    tr_pid_t *out);
/* As tr_spawn, with the init payload packed from a format (see msg.h). */
TR_API int tr_spawnf(tr_ctx_t *ctx, const tr_behaviour_t *b, tr_pid_t *out, const char *fmt, ...);

#define TR_MSG_MAX ((size_t)64 << 20) /* the largest payload of one message, in bytes */

/* Send a message: the payload bytes are copied. Delivery is asynchronous; messages from one
 * sender to one receiver arrive in order. Sending to a dead or unknown pid is not an error:
 * the message becomes a dead letter (counted). Any context.
 * Errors: TR_EINVAL (bad tag), TR_EMSGSIZE (payload over TR_MSG_MAX), TR_ENOMEM,
 * TR_ESTOPPED. */
TR_API int tr_send(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len);
/* As tr_send, with the payload packed from a format. TR_EINVAL also for a bad format. */
TR_API int tr_sendf(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const char *fmt, ...);
/* As tr_sendf(ctx, to, tag, "u", v), without the format: the same payload (v in msgpack's
 * smallest encoding), so the receiver reads it with tr_msg_uint or tr_msg_unpack "u" alike.
 * For the commonest message, one integer, it skips the varargs and the format checks.
 * Errors: those of tr_send. */
TR_API int tr_send_uint(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, uint64_t v);
/* Send a local-only pointer payload without copying. On success the runtime owns ptr and
 * calls free_fn(ptr) once the message has been handled (or dropped); on failure the caller
 * keeps it. free_fn may be NULL. */
TR_API int tr_send_ptr(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, void *ptr,
                       void (*free_fn)(void *));

/* What tr_send_opts may do beyond tr_send. */
typedef struct {
  /* If not NULL, set to whether the message reached a live actor's mailbox (false: it became
   * a dead letter). A message that reached the mailbox of an actor that then exits before
   * handling it counts as delivered, as with tr_group_send. */
  bool *delivered;
  /* The payload is a malloc'd block of len bytes that the runtime takes instead of copying:
   * on success it is the message's (freed with free() once handled or dropped; the receiver
   * reads it with tr_msg_data as any payload); on failure it stays the caller's. */
  bool give;
} tr_send_opts_t;

/* tr_send with options (opts may be NULL). Errors: those of tr_send. */
TR_API int tr_send_opts(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
                        const tr_send_opts_t *opts);

/* Reply to a request: send to tr_msg_from(req) carrying tr_msg_ref(req). tag 0 means
 * TR_ATOM_REPLY. Otherwise as tr_send. */
TR_API int tr_reply(tr_ctx_t *ctx, const tr_msg_t *req, tr_atom_t tag, const void *data,
                    size_t len);
TR_API int tr_replyf(tr_ctx_t *ctx, const tr_msg_t *req, tr_atom_t tag, const char *fmt, ...);

/* Pass a received message on to another actor as it is: the same tag, payload, sender and
 * request reference, so that the receiver's tr_reply answers whoever sent it first (a
 * router that hands requests to workers, as Akka's forward or a gen_server passing its
 * From along). The forwarder counts the send (and its tracer sees it). Any context.
 * Errors: TR_EINVAL (a NULL message, one sent with tr_send_ptr, or one of the runtime's
 * own: a timer's, a DOWN), and those of tr_send. */
TR_API int tr_forward(tr_ctx_t *ctx, tr_pid_t to, const tr_msg_t *m);

/* Stop the calling actor with `reason` once the current callback returns (tr_stop with a
 * reason other than normal). Only from a handler of that actor; never trapped. */
TR_API void tr_stop_reason(tr_ctx_t *ctx, const tr_reason_t *reason);

/* Send an exit signal to another actor (or oneself) with a reason. Asynchronous: the target's
 * terminate runs on its own worker before any further message of its is handled. Unknown or dead
 * pids are ignored (returns 0). Any context. Errors: TR_EINVAL, TR_ESTOPPED. */
TR_API int tr_exit(tr_ctx_t *ctx, tr_pid_t pid, const tr_reason_t *reason);

/* ---- requests and receive timeouts ---- */

/* Longest delay, period or timeout accepted: about 49 days, as a sanity bound. */
#define TR_TIMER_MAX_MS ((uint64_t)1 << 32)

/* The receive timeout of the calling actor: when `ms` pass without any message handled,
 * it receives a message with tag TR_ATOM_TIMEOUT and reference 0; the clock restarts after
 * every message (including that one). 0 turns it off. From a handler only. */
TR_API int tr_set_receive_timeout(tr_ctx_t *ctx, uint64_t ms);

/* A request from an actor: send (tag, data) to `to` with a fresh reference (stored in *ref),
 * which the receiver answers with tr_reply. The reply arrives as an ordinary message whose
 * tr_msg_ref is *ref; if none arrives within timeout_ms, a message with tag TR_ATOM_TIMEOUT
 * and that reference arrives instead, and a reply that comes after it is dropped. When no
 * answer can come, that TIMEOUT comes at once, its payload a msgpack string saying why:
 * "noproc" for a pid that is not alive (of this node, or of a connected node, which answers
 * so over the link), "noconnection" for an actor of another node that is not connected or
 * whose link goes down before the answer, "overloaded" for one whose full mailbox dropped
 * the request (policy TR_OVERLOAD_DROP; TR_OVERLOAD_FAIL refuses it: TR_EBUSY, as any
 * send, from this node; over the link, the TIMEOUT). From a handler
 * only. Errors: those of tr_send, TR_EINVAL. */
TR_API int tr_request(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
                      uint64_t timeout_ms, uint64_t *ref);

/* ---- links, monitors and trapping exits (from inside handlers) ----
 *
 * Exit signals. When an actor exits, every actor linked to it gets an exit signal with the
 * same reason; tr_exit sends one explicitly. An actor that does not trap exits ignores a
 * signal with reason normal (unless it sent it to itself) and exits with the signal's
 * reason otherwise; reason killed is never trapped and ends the target with reason killed.
 * An actor that traps exits receives the signal as a message instead: tag TR_ATOM_EXIT,
 * read it with tr_msg_exit. Signals travel the actor's signal lane, handled before any
 * ordinary message, and are never dropped while the target lives. */

/* Link the calling actor and pid, both ways. Linking to a dead or unknown pid delivers an
 * exit signal with reason noproc to the caller at once (as Erlang does). Linking twice is
 * the same as once. Errors: TR_EINVAL (not called from a handler, or pid is self). */
TR_API int tr_link(tr_ctx_t *ctx, tr_pid_t pid);
/* Remove a link, both ways (no effect when there is none). */
TR_API int tr_unlink(tr_ctx_t *ctx, tr_pid_t pid);
/* Turn trapping of exit signals on or off for the calling actor. */
TR_API int tr_trap_exit(tr_ctx_t *ctx, bool on);

/* Monitor pid: when it exits, the caller receives exactly one message with tag TR_ATOM_DOWN
 * (read it with tr_msg_down) carrying *ref, the pid and the reason. Monitoring a dead or
 * unknown pid delivers DOWN with reason noproc at once. Each call makes a new monitor.
 * From a handler only. Errors: TR_EINVAL, TR_ENOMEM. */
TR_API int tr_monitor(tr_ctx_t *ctx, tr_pid_t pid, uint64_t *ref);
/* Remove a monitor; a DOWN for it that is already on its way is dropped, never delivered.
 * Errors: TR_ENOENT (no such monitor of the caller's). */
TR_API int tr_demonitor(tr_ctx_t *ctx, uint64_t ref);

/* A DOWN message, decoded (tr_msg_down). */
typedef struct {
  uint64_t ref;       /* the monitor's reference */
  tr_pid_t pid;       /* who exited */
  tr_reason_t reason; /* why (noproc: it was not alive when monitored) */
} tr_down_t;

/* Decode a TR_ATOM_DOWN message. Errors: TR_ETYPE when m is not one. */
TR_API int tr_msg_down(const tr_msg_t *m, tr_down_t *out);
/* Decode a TR_ATOM_EXIT message (a trapped exit signal). Errors: TR_ETYPE when m is not one. */
TR_API int tr_msg_exit(const tr_msg_t *m, tr_pid_t *from, tr_reason_t *reason);

/* Spawn options (tr_spawn_opts). */
typedef struct {
  bool link;         /* link the new actor and the caller before it runs (from a handler) */
  uint64_t *monitor; /* if not NULL, monitor the new actor and store the reference here */
  const char *name;  /* if not NULL, register this name for it before it runs */
  /* Its mailbox's overload policy and marks; all zero: the system's (tr_config_t). */
  tr_mailbox_opts_t mailbox;
  bool unmutable; /* never muted by the mailboxes it sends to (supervisors, coordinators
                     that must keep running; their messages are still queued) */
} tr_spawn_opts_t;

/* tr_spawn with options; all of them take effect before the new actor runs, so no exit can
 * slip between the spawn and the link, monitor or name. Errors: those of tr_spawn, TR_EEXIST
 * (name taken: nothing is spawned), TR_EINVAL (link or monitor outside a handler). */
TR_API int tr_spawn_opts(tr_ctx_t *ctx, const tr_behaviour_t *b, const void *init, size_t len,
                         const tr_spawn_opts_t *opts, tr_pid_t *out);

/* ---- the local registry ---- */

#define TR_NAME_MAX 63 /* bytes of a registered name */

/* Register `name` (1..TR_NAME_MAX bytes) for a live pid. A name names one actor, an actor has
 * at most one name; the name is dropped when the actor exits. Any thread.
 * Errors: TR_EINVAL (bad name), TR_EEXIST (name taken, or the actor has a name),
 * TR_ENOENT (pid not alive). */
TR_API int tr_register(tr_system_t *sys, const char *name, tr_pid_t pid);
/* Remove a name. Errors: TR_ENOENT. */
TR_API int tr_unregister(tr_system_t *sys, const char *name);
/* The pid registered under name, or TR_PID_NONE. */
TR_API tr_pid_t tr_whereis(tr_system_t *sys, const char *name);

/* ---- counters and statistics (any thread, while the system runs; never stops it) ---- */

/* What an actor is doing when it is looked at (tr_actor_info_t.status). */
typedef enum {
  TR_STATUS_RUNNABLE, /* messages are queued and no worker runs it now (scheduled, or muted) */
  TR_STATUS_RUNNING,  /* a worker runs one of its turns */
  TR_STATUS_WAITING,  /* its mailbox is empty */
  TR_STATUS_EXITING   /* it is exiting: terminate runs or has run */
} tr_status_t;

/* One actor as tr_actor_info and tr_actor_foreach report it: each field is read on its own
 * while the actor runs, so together they are a close, not an exact, picture. */
typedef struct {
  tr_pid_t pid;               /* the actor */
  const char *behaviour;      /* the behaviour's name (static) */
  char name[TR_NAME_MAX + 1]; /* registered name or "" */
  uint64_t msgs_in;           /* messages taken from the mailbox (with the runtime's own:
                                 signal nudges, cancelled timers, late replies) */
  uint64_t msgs_out;          /* messages sent */
  uint64_t mailbox;           /* messages queued now */
  uint64_t mailbox_hwm;       /* the most ever queued at once (sampled at each turn) */
  uint64_t run_ns;            /* time in callbacks (estimated by sampling turns) */
  uint64_t turns;             /* times scheduled */
  tr_status_t status;         /* what it is doing */
  /* Ages in milliseconds, measured by a coarse clock that ticks only while a console runs
   * (console.h); both are 0 when none does. running_ms: how long the current turn has run
   * (0 unless running). waiting_ms: an estimate of how long the oldest queued message has
   * waited (0 when the mailbox is empty or the actor is running). */
  uint64_t running_ms;
  uint64_t waiting_ms;
  /* The overload policy (see above): the mailbox's, and whether the actor is muted now
   * (and by whom: the mailbox it sent into, TR_PID_NONE when not muted). */
  tr_overload_t policy;
  uint32_t high_water, low_water; /* 0 with policy OFF */
  bool muted;
  tr_pid_t muted_by; /* whose mailbox muted it (TR_PID_NONE: not muted) */
  uint64_t mutes;    /* times it was muted */
  uint64_t dropped;  /* messages its mailbox dropped (policy DROP) */
  uint64_t refused;  /* sends to it that got TR_EBUSY */
} tr_actor_info_t;

/* Fill *out for a live actor. Errors: TR_ENOENT. */
TR_API int tr_actor_info(tr_system_t *sys, tr_pid_t pid, tr_actor_info_t *out);

/* Call fn for every live actor (a snapshot taken actor by actor; actors may come and go
 * meanwhile). fn must not call back into the system's actor table (no spawn, no info);
 * returning non-zero stops the walk. Returns the number of actors visited. */
TR_API size_t tr_actor_foreach(tr_system_t *sys, int (*fn)(const tr_actor_info_t *info, void *arg),
                               void *arg);

/* The system's counters (tr_system_stats), since it started. */
typedef struct {
  unsigned workers;      /* scheduler threads */
  uint64_t actors;       /* alive now */
  uint64_t spawned;      /* since start */
  uint64_t exited;       /* since start */
  uint64_t messages;     /* handled */
  uint64_t dead_letters; /* sent to nobody, or dropped with their receiver */
  uint64_t turns;        /* actor turns run */
  uint64_t steals;       /* successful steals */
  uint64_t parks;        /* times a worker went to sleep */
  uint64_t injected;     /* actors made runnable from outside the pool */
  uint64_t memory;       /* bytes held by actors, envelopes and tables (approximate) */
} tr_stats_t;

/* Fill *out with the system's counters: a snapshot read counter by counter, each worker's
 * apart, so the figures may be of slightly different moments. Any thread, while the system
 * runs; takes no lock. */
TR_API void tr_system_stats(tr_system_t *sys, tr_stats_t *out);

/* ---- clients: a mailbox for a thread that is not an actor ---- */

/* A client: a pid and a mailbox for a thread that is not an actor (docs/lifecycle.md, A client). */
typedef struct tr_client tr_client_t;

/* Open a client: it gets a pid, so actors can send to it and reply to its requests. Use a
 * client from one thread at a time. Errors: TR_ENOMEM, TR_ELIMIT, TR_ESTOPPED. */
TR_API int tr_client_open(tr_system_t *sys, tr_client_t **out);
/* How long this client's sends wait for a full mailbox with the mute policy to drain below
 * its low-water mark before they give up with TR_EBUSY: ms milliseconds, or TR_SEND_NOWAIT
 * (at once). A client starts with the system's (tr_config_t.send_wait_ms). Only from the
 * client's own thread. */
TR_API void tr_client_send_wait(tr_client_t *c, int ms);
/* Close it; messages still queued are dropped. */
TR_API void tr_client_close(tr_client_t *c);
/* The client's pid, which actors send and reply to. Any thread. */
TR_API tr_pid_t tr_client_pid(const tr_client_t *c);
/* The client's context: sends from it carry the client's pid. */
TR_API tr_ctx_t *tr_client_ctx(tr_client_t *c);

/* Wait up to timeout_ms (negative: forever, 0: poll) for the next message. On success the
 * caller owns *out and frees it with tr_msg_free. Errors: TR_ETIMEDOUT, TR_ESTOPPED. */
TR_API int tr_client_receive(tr_client_t *c, int timeout_ms, tr_msg_t **out);

/* A blocking request: send (tag, data) to `to` with a fresh reference, then wait up to
 * timeout_ms for the reply carrying it (tr_reply). Other messages that arrive meanwhile are
 * kept for tr_client_receive. A reply that comes after the timeout is dropped. On success the
 * caller owns *reply (free with tr_msg_free). Errors: TR_ETIMEDOUT, TR_ENOENT (at once: `to`
 * is not alive; for an actor of another node, as soon as that node's answer comes back),
 * TR_ENOCONN (at once: to an actor of another node
 * that is not connected, or whose link went down before the answer came), TR_EBUSY (at once:
 * `to`'s mailbox is full and its policy dropped or refused the request, here or on its
 * node), TR_ESTOPPED, and those of tr_send. */
TR_API int tr_client_request(tr_client_t *c, tr_pid_t to, tr_atom_t tag, const void *data,
                             size_t len, int timeout_ms, tr_msg_t **reply);

/* ---- debugging: inspect and trace (what the console uses, console.h) ---- */

/* Ask pid for a description of its state, from a handler. The target answers on its own
 * worker between two of its messages (never racing its handlers), by running its
 * behaviour's inspect callback: the caller then receives a message with tag TR_ATOM_REPLY
 * and tr_msg_ref(m) == *ref whose payload is that one msgpack value (nil when the behaviour
 * has no inspect callback, or it failed). Works like tr_request: if no answer comes within
 * timeout_ms, the caller receives TR_ATOM_TIMEOUT carrying *ref instead, and a late answer
 * is dropped; an actor that exits before answering never answers.
 * Errors: TR_EINVAL (not from a handler, timeout over TR_TIMER_MAX_MS), TR_ENOENT (pid is
 * not alive: nothing will arrive), TR_ENOMEM, TR_ESTOPPED. */
TR_API int tr_inspect(tr_ctx_t *ctx, tr_pid_t pid, uint64_t timeout_ms, uint64_t *ref);

/* tr_inspect from a client's thread, blocking up to timeout_ms (negative: forever) for the
 * answer; other messages that arrive meanwhile are kept for tr_client_receive. On success
 * the caller owns *reply (payload: the msgpack value; free with tr_msg_free).
 * Errors: TR_EINVAL, TR_ENOENT (pid not alive), TR_ETIMEDOUT, TR_ESTOPPED. */
TR_API int tr_client_inspect(tr_client_t *c, tr_pid_t pid, int timeout_ms, tr_msg_t **reply);

/* Turn tracing of pid on or off. While on, `tracer` receives one message with tag
 * TR_ATOM_TRACE for each message pid handles, sends, or has dropped by the overload policy,
 * in the order they happen, with the payload (unpack it with "[sppsxu]") [dir ("in", "out"
 * or "drop"), pid, peer (sender or receiver; TR_PID_NONE for none), tag name ("?" when
 * unknown), payload (bin, its first 256 bytes), payload length]. The tracer may be on
 * another node: the events travel its link and their pids arrive as its own. pid must be
 * of this node (another node's pid: TR_ENOENT; its node's console traces it, console.h).
 * Events are never traced themselves. An actor has at most one tracer: turning it on
 * replaces the previous one; "off" from a tracer that is no longer the current one is
 * ignored. When events can no longer be delivered (the tracer exited, its node is down),
 * tracing turns itself off. Asynchronous (a signal to pid); any context.
 * Errors: TR_EINVAL (pid or tracer none, or the same), TR_ENOENT (pid not alive, or not of
 * this node), TR_ESTOPPED. */
TR_API int tr_trace(tr_ctx_t *ctx, tr_pid_t pid, tr_pid_t tracer, bool on);

#ifdef __cplusplus
}
#endif
#endif
