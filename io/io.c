/* The I/O thread's loop: starting and stopping it, running posted commands, and running the
 * timer heap on one uv_timer_t (see io.h). */
#include <signal.h>
#include <string.h>

#include "io/io.h"

/* Run every queued command, in order. A popped node stays the queue's tail until the next
 * pop (mpsc.h), and a command may live on its poster's stack, so a command runs only once
 * the queue has let go of it: when the next pop releases it, or when the last one is
 * swapped out for the stub. */
static void run_commands(tr_io_t *io, bool discard) {
  for (;;) {
    tr_mq_node_t *released, *n = tr__mq_pop(&io->cmds, &released);
    if (released) {
      ((tr_io_cmd_t *)released)->run(io, (tr_io_cmd_t *)released, discard);
      io->ran++;
    }
    if (n)
      continue;
    tr_mq_node_t *last = tr__mq_retire_tail(&io->cmds);
    if (last) {
      ((tr_io_cmd_t *)last)->run(io, (tr_io_cmd_t *)last, discard);
      io->ran++;
    } else if (io->cmds.tail != &io->cmds.stub)
      continue; /* a post is linking its node after the tail: pop again */
    if (discard || tr__mq_try_idle(&io->cmds))
      return;
  }
}

/* Point the libuv timer at the heap's earliest entry. */
static void arm(tr_io_t *io) {
  tr_io_timer_t *t = tr__io_heap_min(&io->heap);
  uint64_t due = t ? t->due : UINT64_MAX;
  if (due == io->next_due)
    return;
  io->next_due = due;
  if (due == UINT64_MAX) {
    uv_timer_stop(&io->timer);
    return;
  }
  uint64_t now = tr__now_ns();
  /* libuv counts in whole milliseconds from the loop's cached time; round up so that a timer
   * never fires early (expire also checks due <= now and re-arms if not). */
  uint64_t ms = due > now ? (due - now + 999999u) / 1000000u : 0;
  uv_update_time(&io->loop);
  uv_timer_start(&io->timer, io->timer.timer_cb, ms, 0);
}

static void expire(tr_io_t *io) {
  uint64_t now = tr__now_ns();
  tr_io_timer_t *t;
  while ((t = tr__io_heap_min(&io->heap)) != NULL && t->due <= now) {
    tr__io_heap_remove(&io->heap, t);
    t->fire(io, t);
  }
}

static void on_wake(uv_async_t *h) {
  tr_io_t *io = h->data;
  tr__io_enter(io);
  run_commands(io, false);
  arm(io);
  tr__io_leave(io);
  if (atomic_load_explicit(&io->stop, memory_order_acquire))
    uv_stop(&io->loop);
}

static void on_timer(uv_timer_t *h) {
  tr_io_t *io = h->data;
  tr__io_enter(io);
  io->next_due = UINT64_MAX;
  expire(io);
  arm(io);
  tr__io_leave(io);
}

int tr__io_timer_add(tr_io_t *io, tr_io_timer_t *t) {
  int rc = tr__io_heap_push(&io->heap, t);
  if (rc == 0 && t->due < io->next_due)
    arm(io);
  return rc;
}

void tr__io_timer_remove(tr_io_t *io, tr_io_timer_t *t) {
  /* The libuv timer stays where it is: a wake-up that finds nothing due only re-arms. */
  tr__io_heap_remove(&io->heap, t);
}

tr_io_timer_t *tr__io_timer_find(tr_io_t *io, uint64_t id) {
  return tr__io_heap_find(&io->heap, id);
}

static void *io_main(void *arg) {
  tr_io_t *io = arg;
  /* Sockets are written on this thread only. A write to a peer that has gone raises SIGPIPE
   * at the writing thread, whose default action ends the process; blocked here, it stays
   * pending on this thread and the write fails with EPIPE instead, without touching the
   * application's signal handling. */
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, NULL);
  uv_run(&io->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* What a failed start made besides the loop. */
static void undo_start(tr_io_t *io) {
  tr__io_heap_discard(&io->heap);
  tr__pool_destroy(&io->pool);
  pthread_mutex_destroy(&io->post_mu);
  pthread_mutex_destroy(&io->parts_mu);
}

int tr__io_start(tr_system_t *sys, tr_io_t *io, tr_qsbr_rec_t *qs) {
  memset(io, 0, sizeof *io);
  io->sys = sys;
  io->qs = qs;
  io->next_due = UINT64_MAX;
  io->ctx.sys = sys;
  io->ctx.pool = &io->pool;
  io->ctx.lockfree = true;
  io->ctx.qs = qs;
  tr__pool_init(&io->pool, &sys->sched.depot);
  tr__mq_init(&io->cmds, true);
  pthread_mutex_init(&io->post_mu, NULL);
  pthread_mutex_init(&io->parts_mu, NULL);
  int rc = tr__io_heap_init(&io->heap);
  if (rc == 0 && uv_loop_init(&io->loop) != 0)
    rc = TR_ESYS;
  if (rc != 0) {
    undo_start(io);
    return rc;
  }
  uv_async_init(&io->loop, &io->wake, on_wake);
  uv_timer_init(&io->loop, &io->timer);
  io->timer.timer_cb = on_timer; /* arm() restarts it with this callback */
  io->wake.data = io;
  io->timer.data = io;
  tr__io_trim_init(io);
  if (pthread_create(&io->thread, NULL, io_main, io) != 0) {
    tr_log(TR_LOG_ERROR, "cannot start the I/O thread");
    uv_close((uv_handle_t *)&io->wake, NULL);
    uv_close((uv_handle_t *)&io->timer, NULL);
    uv_close((uv_handle_t *)&io->trim.timer, NULL);
    uv_run(&io->loop, UV_RUN_DEFAULT);
    uv_loop_close(&io->loop);
    undo_start(io);
    return TR_ESYS;
  }
  return 0;
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void tr__io_stop(tr_io_t *io) {
  pthread_mutex_lock(&io->post_mu);
  io->closed = true;
  pthread_mutex_unlock(&io->post_mu);
  atomic_store_explicit(&io->stop, true, memory_order_release);
  uv_async_send(&io->wake);
  pthread_join(io->thread, NULL);
  /* The loop has stopped and its thread is gone: this thread now owns everything. */
  run_commands(io, true);
  uint32_t n = atomic_load_explicit(&io->nparts, memory_order_acquire);
  for (uint32_t i = n; i-- > 0;) /* sockets close with their own callbacks, which free them */
    io->parts[i].part->discard(io, io->parts[i].state);
  uv_walk(&io->loop, close_handle, NULL);
  uv_run(&io->loop, UV_RUN_DEFAULT); /* let the close callbacks run */
  uv_loop_close(&io->loop);
  for (uint32_t i = n; i-- > 0;)
    io->parts[i].part->free(io, io->parts[i].state);
  undo_start(io);
}

int tr__io_post(tr_io_t *io, const tr_ctx_t *ctx, tr_io_cmd_t *cmd) {
  bool outside = !ctx->lockfree;
  if (outside) {
    pthread_mutex_lock(&io->post_mu);
    if (io->closed) {
      pthread_mutex_unlock(&io->post_mu);
      return TR_ESTOPPED;
    }
  }
  bool woke = tr__mq_push(&io->cmds, &cmd->node);
  if (outside)
    pthread_mutex_unlock(&io->post_mu);
  if (woke)
    uv_async_send(&io->wake);
  return 0;
}
