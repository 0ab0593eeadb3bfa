/* The I/O thread: one thread per system running a libuv loop, with the loop's command queue,
 * its timer heap (heap.h), and the parts that plug into it (net/, the console, the cluster).
 *
 * Actors never call libuv: they post commands. A command is a node on an MPSC queue (the
 * mailbox queue of mailbox/mpsc.h, whose idle bit makes only the post that wakes an empty
 * queue pay for uv_async_send) plus the function the I/O thread runs for it. tr__io_call
 * posts one and waits for its answer, for the callers that need one (a bind's error, a
 * snapshot of the connections).
 *
 * Parts. io.c names none of the layers above it. A part that needs the loop registers a
 * table of hooks (tr_io_part_t) the first time it is used, as nng's transports register
 * their ops: `start` runs on the I/O thread, and when the system stops, `discard` closes the
 * part's handles silently and `free` frees its state. Timers need no part: each entry in the
 * heap carries its own fire and drop functions.
 *
 * The I/O thread reaches actors like a worker (it is a participant of the system's
 * reclamation, scheduler/qsbr.h): it is online only inside tr__io_enter/tr__io_leave, around
 * every callback that may read actors, and offline while libuv waits, so it never holds back
 * the freeing of exited actors. Commands and timer expiries run inside those brackets already.
 *
 * Start and stop: tr__io_start runs after the workers have started; tr__io_stop runs once
 * every actor has exited. It closes the queue to new posts from outside threads, stops the
 * loop, joins the thread, then runs every command still queued in discard mode, discards the
 * parts (newest first) and the pending timers, so that nothing posted is lost or leaked. */
#ifndef TR_IO_IO_H
#define TR_IO_IO_H

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "actors/actor.h"
#include "io/heap.h"
#include "mailbox/mpsc.h"

typedef struct tr_io tr_io_t;

typedef struct tr_io_cmd {
  tr_mq_node_t node;
  /* Runs on the I/O thread (discard false) or on the stopping thread after the loop ended
   * (discard true: release what the command holds and do nothing else). Owns cmd. */
  void (*run)(tr_io_t *io, struct tr_io_cmd *cmd, bool discard);
} tr_io_cmd_t;

/* A layer that uses the loop. The table is constant data of that layer. */
typedef struct tr_io_part {
  const char *name;
  /* Any thread, under the attach lock: the part's state, or NULL when out of memory. */
  void *(*create)(tr_io_t *io);
  /* I/O thread, once: set up handles. Returns 0, or a TR_E* code with nothing left open
   * (then `free` follows). */
  int (*start)(tr_io_t *io, void *state);
  /* Stopping thread, after the loop's thread is gone: close every handle of the part without
   * telling anyone (every actor has exited); the loop's last run calls their callbacks. */
  void (*discard)(tr_io_t *io, void *state);
  /* Stopping thread, after that last run: free the state. */
  void (*free)(tr_io_t *io, void *state);
} tr_io_part_t;

/* Parts one loop can hold: net, the console and the cluster, with room to spare. */
#define TR_IO_PARTS_MAX 8u

struct tr_io {
  tr_system_t *sys;
  uv_loop_t loop;
  uv_async_t wake;  /* commands are waiting, or stop */
  uv_timer_t timer; /* set to the earliest entry of `heap` */
  pthread_t thread;
  tr_mq_t cmds;
  pthread_mutex_t post_mu; /* outside threads post under it; tr__io_stop closes under it */
  bool closed;             /* guarded by post_mu */
  _Atomic bool stop;
  tr_qsbr_rec_t *qs;
  tr_pool_t pool;
  struct tr_ctx ctx; /* how the I/O thread sends: lock-free lookups, its own envelope pool */
  tr_io_heap_t heap;
  uint64_t next_due; /* when `timer` is set to fire (ns), or UINT64_MAX */
  uint64_t ran;      /* commands run, ever (the I/O thread's; trim.c tells a quiet loop by it) */
  /* The heap trim's state (trim.c); the I/O thread's. */
  struct tr_io_trim {
    uv_timer_t timer;
    bool was_idle;          /* every worker asleep at the last look */
    uint64_t ran;           /* `ran` at the last look */
    size_t free_low;        /* the least malloc held free at an idle look since the last trim */
    size_t rss_after;       /* the RSS right after the last trim */
    _Atomic uint64_t trims; /* trims done (statistics, relaxed) */
  } trim;
  /* Attached parts: appended under parts_mu, read lock-free (acquire on nparts, which the
   * append publishes with release once the entry is filled in). */
  pthread_mutex_t parts_mu;
  _Atomic uint32_t nparts;
  struct {
    const tr_io_part_t *part;
    void *state;
  } parts[TR_IO_PARTS_MAX];
};

/* The heap trim (trim.c): how often the I/O thread looks, and how much free memory makes a
 * trim worth it. */
#define TR_TRIM_TICK_MS 1000u
#define TR_TRIM_SLACK ((size_t)16 << 20)
/* Before the loop runs: set up the trim's timer, and start it (only with glibc). */
void tr__io_trim_init(tr_io_t *io);

/* Start the loop's thread. qs: the reclamation record reserved for it. Returns 0, TR_ENOMEM
 * or TR_ESYS. */
int tr__io_start(tr_system_t *sys, tr_io_t *io, tr_qsbr_rec_t *qs);
/* Stop the thread and release everything (see above). Once every actor has exited. */
void tr__io_stop(tr_io_t *io);

/* Any thread (ctx: the poster's). Queue a command; the I/O thread runs it soon. Returns 0,
 * or TR_ESTOPPED when the I/O thread has stopped (then the caller still owns cmd). */
int tr__io_post(tr_io_t *io, const tr_ctx_t *ctx, tr_io_cmd_t *cmd);

/* Any thread (ctx: the poster's): run fn(io, id) on the I/O thread soon, without waiting;
 * when the loop stops first, fn never runs. The common shape of a command that names one
 * object (close this connection, this listener). Returns 0, TR_ENOMEM or TR_ESTOPPED. */
int tr__io_post_id(tr_io_t *io, const tr_ctx_t *ctx, void (*fn)(tr_io_t *io, uint64_t id),
                   uint64_t id);

/* Any thread but the I/O thread (ctx: the caller's): run fn(io, arg) on the I/O thread and
 * wait for it; returns what fn returned. When the loop stops before fn could run, fn never
 * runs and the answer is TR_ESTOPPED (arg stays the caller's). Blocks the caller for about
 * one turn of the loop. */
int tr__io_call(tr_io_t *io, const tr_ctx_t *ctx, int (*fn)(tr_io_t *io, void *arg), void *arg);

/* Any thread but the I/O thread: the state of `part`, attaching it first if it is not yet
 * (create, then start on the I/O thread). Returns 0 with *state set, or TR_ENOMEM, TR_ELIMIT
 * (too many parts), TR_ESTOPPED, or what start returned. */
int tr__io_attach(tr_io_t *io, const tr_io_part_t *part, void **state);
/* Any thread: the state of an attached part, or NULL. */
void *tr__io_part(tr_io_t *io, const tr_io_part_t *part);

/* I/O thread only: add a timer entry (t->id, t->due, t->fire and t->drop set), or take one
 * out; find one by id. Adding re-arms the loop's timer when the entry is the new earliest.
 * add returns 0 or TR_ENOMEM. */
int tr__io_timer_add(tr_io_t *io, tr_io_timer_t *t);
void tr__io_timer_remove(tr_io_t *io, tr_io_timer_t *t);
tr_io_timer_t *tr__io_timer_find(tr_io_t *io, uint64_t id);

/* Bracket a libuv callback of a part that may read actors (see above). */
static inline void tr__io_enter(tr_io_t *io) { tr__qsbr_online(&io->sys->sched.qsbr, io->qs); }
static inline void tr__io_leave(tr_io_t *io) {
  /* What the I/O thread retired (a group's old members array, say) is freed once safe. */
  if (TR_UNLIKELY(tr__qsbr_holding(io->qs)))
    tr__qsbr_flush(&io->sys->sched.qsbr, io->qs, NULL);
  tr__qsbr_offline(&io->sys->sched.qsbr, io->qs);
}

/* Translate a libuv error into a TR_E* code (libuv's codes never leak out); unexpected ones
 * are logged with `what`. UV_EOF is 0. Any thread. */
int tr__io_err(int uv_err, const char *what);

#endif
