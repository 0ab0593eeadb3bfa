/* Timers: send_after, intervals and cancel (include/troupe/timer.h), and the clock that the
 * actor layer's owned timers, requests and receive timeouts run on (actors/clock.h).
 *
 * A timer is an entry in the I/O thread's heap (io/heap.h) with the message it sends.
 * Starting or cancelling one posts a command to the I/O thread; at expiry the I/O thread
 * builds the message and sends it. An owned timer's message goes to its owner first, as a
 * TIMER envelope, and the owner decides whether it is still live (actors/timers.c): that is
 * what makes a cancel from the owner exact. An unowned timer (started from outside the
 * pool) goes straight to its target; cancelling one asks the I/O thread and waits for its
 * answer. */
#include <string.h>

#include "actors/clock.h"
#include "io/io.h"
#include "timers/timer.h"
#include "troupe/timer.h"

#define NS_PER_MS UINT64_C(1000000)

typedef struct {
  tr_io_timer_t t; /* first: the heap's entry is the timer */
  uint64_t period; /* ns; 0 for a one-shot */
  tr_pid_t owner;  /* the actor that started it, or none */
  tr_pid_t to;
  tr_atom_t tag;
  uint8_t purpose;
  uint32_t len;
  void *data; /* the payload, malloc'd (NULL when len is 0) */
} entry_t;

typedef struct {
  tr_io_cmd_t cmd;
  entry_t *e;
} start_cmd_t;

typedef struct {
  tr_io_cmd_t cmd;
  uint32_t n;
  uint64_t ids[];
} cancel_cmd_t;

/* ---- the I/O thread's side ---- */

static void free_entry(entry_t *e) {
  free(e->data);
  free(e);
}

static void drop(tr_io_timer_t *t) { free_entry((entry_t *)t); }

/* The message of one expiry. */
static void send_expiry(tr_io_t *io, const entry_t *e) {
  tr_msg_t *m = tr__msg_alloc(&io->pool);
  if (!m || tr__msg_fill(m, e->tag, TR_PID_NONE, e->data, e->len) != 0) {
    tr_log(TR_LOG_ERROR, "out of memory firing timer %llu", (unsigned long long)e->t.id);
    if (m)
      tr__msg_recycle(&io->pool, m);
    return;
  }
  if (tr_pid_is_none(e->owner)) {
    tr__deliver(&io->ctx, e->to, m);
    return;
  }
  m->kind = TR_KIND_TIMER;
  m->ref = e->t.id;
  m->sig = e->purpose;
  m->aux = e->period != 0;
  tr__deliver(&io->ctx, e->owner, m);
}

static void fire(tr_io_t *io, tr_io_timer_t *t) {
  entry_t *e = (entry_t *)t;
  send_expiry(io, e);
  if (!e->period) {
    free_entry(e);
    return;
  }
  /* Keep the period from the due time; skip expiries missed by more than a period. */
  uint64_t now = tr__now_ns(), next = t->due + e->period;
  if (next <= now)
    next = t->due + ((now - t->due) / e->period + 1) * e->period;
  t->due = next;
  if (tr__io_timer_add(io, t) != 0) {
    tr_log(TR_LOG_ERROR, "out of memory re-arming interval %llu; it stops",
           (unsigned long long)t->id);
    free_entry(e);
  }
}

static void run_start(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  start_cmd_t *c = (start_cmd_t *)cmd;
  if (discard) {
    free_entry(c->e);
  } else if (tr__io_timer_add(io, &c->e->t) != 0) {
    tr_log(TR_LOG_ERROR, "out of memory queuing timer %llu; it will not fire",
           (unsigned long long)c->e->t.id);
    free_entry(c->e);
  }
  free(c);
}

/* Take a pending timer out; false when it is not pending (expired, or unknown). */
static bool remove_pending(tr_io_t *io, uint64_t id) {
  tr_io_timer_t *t = tr__io_timer_find(io, id);
  if (!t)
    return false;
  tr__io_timer_remove(io, t);
  free_entry((entry_t *)t);
  return true;
}

static void run_cancel(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  cancel_cmd_t *c = (cancel_cmd_t *)cmd;
  for (uint32_t i = 0; i < c->n && !discard; i++)
    remove_pending(io, c->ids[i]);
  free(c);
}

/* ---- the clock (any thread) ---- */

static int clock_start(tr_ctx_t *ctx, const tr_timer_req_t *req) {
  tr_system_t *sys = ctx->sys;
  if (atomic_load_explicit(&sys->state, memory_order_relaxed) == TR_SYS_STOPPED)
    return TR_ESTOPPED;
  entry_t *e = calloc(1, sizeof *e);
  start_cmd_t *c = malloc(sizeof *c);
  void *copy = req->len ? malloc(req->len) : NULL;
  if (!e || !c || (req->len && !copy)) {
    free(e);
    free(c);
    free(copy);
    return TR_ENOMEM;
  }
  if (req->len)
    memcpy(copy, req->data, req->len);
  e->t.id = req->id;
  e->t.due = tr__now_ns() + req->ms * NS_PER_MS;
  e->t.fire = fire;
  e->t.drop = drop;
  e->period = req->period_ms * NS_PER_MS;
  e->owner = req->owner;
  e->to = req->to;
  e->tag = req->tag;
  e->purpose = req->purpose;
  e->len = (uint32_t)req->len;
  e->data = copy;
  c->cmd.run = run_start;
  c->e = e;
  int rc = tr__io_post(sys->io, ctx, &c->cmd);
  if (rc != 0) {
    free_entry(e);
    free(c);
  }
  return rc;
}

static void clock_cancel(tr_ctx_t *ctx, const uint64_t *ids, uint32_t n) {
  if (n == 0)
    return;
  cancel_cmd_t *c = malloc(sizeof *c + n * sizeof c->ids[0]);
  if (!c) {
    /* The timers still fire, and their owner drops them: nothing is delivered. */
    tr_log(TR_LOG_WARN, "out of memory cancelling %u timers; they will expire unused", n);
    return;
  }
  c->cmd.run = run_cancel;
  c->n = n;
  memcpy(c->ids, ids, n * sizeof *ids);
  if (tr__io_post(ctx->sys->io, ctx, &c->cmd) != 0)
    free(c);
}

static const tr_clock_t heap_clock = {.start = clock_start, .cancel = clock_cancel};

void tr__timers_install(tr_system_t *sys) { tr__clock_install(sys, &heap_clock); }

/* ---- the public calls ---- */

static int check(tr_ctx_t *ctx, uint64_t ms, tr_atom_t tag, size_t len, const void *data) {
  if (!ctx || tag == 0 || ms > TR_TIMER_MAX_MS || (len && !data))
    return TR_EINVAL;
  return len > TR_MSG_MAX ? TR_EMSGSIZE : 0;
}

/* Start a user timer: owned by ctx's actor from a handler, else unowned. */
static int start_user(tr_ctx_t *ctx, uint64_t ms, uint64_t period_ms, tr_pid_t to, tr_atom_t tag,
                      const void *data, size_t len, tr_timer_t *out) {
  int rc = check(ctx, ms, tag, len, data);
  if (rc)
    return rc;
  tr_timer_req_t req = {.id = TR__NEXT_REF(ctx->sys),
                        .ms = ms,
                        .period_ms = period_ms,
                        .to = to,
                        .tag = tag,
                        .data = data,
                        .len = len,
                        .purpose = TR_TP_USER};
  rc = tr__in_handler(ctx) ? tr__owned_start(ctx, &req, to.id) : clock_start(ctx, &req);
  if (rc == 0 && out)
    out->id = req.id;
  return rc;
}

int tr_send_after(tr_ctx_t *ctx, uint64_t ms, tr_pid_t to, tr_atom_t tag, const void *data,
                  size_t len, tr_timer_t *out) {
  return start_user(ctx, ms, 0, to, tag, data, len, out);
}

int tr_send_interval(tr_ctx_t *ctx, uint64_t ms, tr_pid_t to, tr_atom_t tag, const void *data,
                     size_t len, tr_timer_t *out) {
  if (ms == 0)
    return TR_EINVAL;
  return start_user(ctx, ms, ms, to, tag, data, len, out);
}

static int call_cancel(tr_io_t *io, void *arg) {
  return remove_pending(io, *(const uint64_t *)arg) ? 0 : TR_ENOENT;
}

int tr_timer_cancel(tr_ctx_t *ctx, tr_timer_t t) {
  if (!ctx || t.id == 0)
    return TR_EINVAL;
  if (tr__in_handler(ctx))
    return tr__owned_drop(ctx, t.id) ? 0 : TR_ENOENT;
  return tr__io_call(ctx->sys->io, ctx, call_cancel, &t.id);
}
