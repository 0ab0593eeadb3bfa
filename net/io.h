/* The I/O thread: one thread per system running a libuv loop, for timers (and sockets).
 *
 * Actors never call libuv: they post commands. A command is a node on an MPSC queue (the
 * mailbox queue of mailbox/mpsc.h, whose idle bit makes only the post that wakes an empty
 * queue pay for uv_async_send) plus the function the I/O thread runs for it.
 *
 * The I/O thread reaches actors like a worker (it is a participant of the system's
 * reclamation, scheduler/qsbr.h): it is online only while it runs a callback and offline
 * while libuv waits, so it never holds back the freeing of exited actors.
 *
 * Start and stop: tr__io_start runs with tr_system_new after the workers; tr__io_stop runs
 * in tr_system_stop once every actor has exited. It closes the queue to new posts from
 * outside threads, stops the loop, joins the thread, and then runs every command still
 * queued in discard mode, so that nothing posted is lost or leaked. */
#ifndef TR_NET_IO_H
#define TR_NET_IO_H

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "actors/actor.h"
#include "mailbox/mpsc.h"
#include "timers/heap.h"

typedef struct tr_io tr_io_t;

typedef struct tr_io_cmd {
  tr_mq_node_t node;
  /* Runs on the I/O thread (discard false) or on the stopping thread after the loop ended
   * (discard true: release what the command holds and do nothing else). Owns cmd. */
  void (*run)(tr_io_t *io, struct tr_io_cmd *cmd, bool discard);
} tr_io_cmd_t;

struct tr_io {
  tr_system_t *sys;
  uv_loop_t loop;
  uv_async_t wake;  /* commands are waiting, or stop */
  uv_timer_t timer; /* set to the earliest timer of `heap` */
  uv_timer_t clock; /* ticks the system's coarse clock while a console runs (console.c) */
  pthread_t thread;
  tr_mq_t cmds;
  pthread_mutex_t post_mu; /* outside threads post under it; tr__io_stop closes under it */
  bool closed;             /* guarded by post_mu */
  _Atomic bool stop;
  tr_qsbr_rec_t *qs;
  tr_pool_t pool;
  struct tr_ctx ctx; /* how the I/O thread sends: lock-free lookups, its own envelope pool */
  tr_timer_heap_t heap;
  uint64_t next_due;  /* when `timer` is set to fire (ns), or UINT64_MAX */
  struct tr_net *net; /* TCP listeners and connections (net/tcp.h) */
};

int tr__io_start(tr_system_t *sys, tr_io_t *io, tr_qsbr_rec_t *qs);
void tr__io_stop(tr_io_t *io);

/* Any thread (ctx: the poster's). Queue a command; the I/O thread runs it soon. Returns 0,
 * or TR_ESTOPPED when the I/O thread has stopped (then the caller still owns cmd). */
int tr__io_post(tr_io_t *io, const tr_ctx_t *ctx, tr_io_cmd_t *cmd);

/* I/O thread only: re-arm the libuv timer for the heap's earliest entry. */
void tr__io_arm_timer(tr_io_t *io);

#endif
