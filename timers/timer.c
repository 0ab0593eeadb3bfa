/* Timers: send_after, intervals, cancel, receive timeouts, and request timeouts.
 *
 * A timer is an entry in the I/O thread's heap (heap.h). Starting or cancelling one posts a
 * command to the I/O thread. At expiry the I/O thread builds the message and sends it.
 *
 * Owned timers (started from a handler) go to their owner first, as a TIMER envelope, and
 * the owner decides at the moment it handles it: it keeps the ids of its live timers in its
 * ext block, and an envelope whose id is no longer there was cancelled and is dropped. That
 * is why a cancel from the owner is exact even when it races with the expiry: both happen
 * on the owner's own timeline. A timer for another actor is forwarded by the owner when it
 * handles the expiry; request and receive timeouts are owned timers too.
 *
 * Unowned timers (from outside threads) go straight to their target; cancelling one asks
 * the I/O thread and waits for its answer. */
#include <errno.h>
#include <string.h>

#include "timers/timer.h"
#include "troupe/timer.h"

#define NS_PER_MS UINT64_C(1000000)

typedef struct {
  tr_io_cmd_t cmd;
  tr_tentry_t *e;
} start_cmd_t;

typedef struct {
  tr_io_cmd_t cmd;
  uint32_t n;
  uint64_t ids[];
} cancel_cmd_t;

/* A cancel from an outside thread, which waits for the answer (lives on its stack). */
typedef struct {
  tr_io_cmd_t cmd;
  uint64_t id;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  int result;
} sync_cancel_t;

static void free_entry(tr_tentry_t *e) {
  free(e->data);
  free(e);
}

/* ---- the I/O thread's side ---- */

static void run_start(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  start_cmd_t *c = (start_cmd_t *)cmd;
  if (discard) {
    free_entry(c->e);
  } else if (tr__heap_push(&io->heap, c->e) != 0) {
    tr_log(TR_LOG_ERROR, "out of memory queuing timer %llu; it will not fire",
           (unsigned long long)c->e->id);
    free_entry(c->e);
  }
  free(c);
}

static void run_cancel(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  cancel_cmd_t *c = (cancel_cmd_t *)cmd;
  for (uint32_t i = 0; i < c->n && !discard; i++) {
    tr_tentry_t *e = tr__heap_find(&io->heap, c->ids[i]);
    if (e) {
      tr__heap_remove(&io->heap, e);
      free_entry(e);
    }
  }
  free(c);
}

static void run_sync_cancel(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  sync_cancel_t *c = (sync_cancel_t *)cmd;
  int result = discard ? TR_ESTOPPED : TR_ENOENT;
  tr_tentry_t *e = discard ? NULL : tr__heap_find(&io->heap, c->id);
  if (e) {
    tr__heap_remove(&io->heap, e);
    free_entry(e);
    result = 0;
  }
  pthread_mutex_lock(&c->mu);
  c->result = result;
  c->done = true;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

/* The message of one expiry. */
static void fire(tr_io_t *io, tr_tentry_t *e) {
  tr_msg_t *m = tr__msg_alloc(&io->pool);
  if (!m || tr__msg_fill(m, e->tag, TR_PID_NONE, e->data, e->len) != 0) {
    tr_log(TR_LOG_ERROR, "out of memory firing timer %llu", (unsigned long long)e->id);
    if (m)
      tr__msg_recycle(&io->pool, m);
    return;
  }
  if (tr_pid_is_none(e->owner)) {
    tr__deliver(&io->ctx, e->to, m);
    return;
  }
  m->kind = TR_KIND_TIMER;
  m->ref = e->id;
  m->sig = e->purpose;
  m->aux = e->period != 0;
  tr__deliver(&io->ctx, e->owner, m);
}

void tr__timers_expire(tr_io_t *io) {
  uint64_t now = tr__now_ns();
  tr_tentry_t *e;
  while ((e = tr__heap_min(&io->heap)) != NULL && e->due <= now) {
    fire(io, e);
    if (e->period) {
      /* Keep the period from the due time; skip expiries missed by more than a period. */
      uint64_t next = e->due + e->period;
      if (next <= now)
        next = e->due + ((now - e->due) / e->period + 1) * e->period;
      e->due = next;
      tr__heap_update(&io->heap, e);
    } else {
      tr__heap_remove(&io->heap, e);
      free_entry(e);
    }
  }
}

void tr__timers_discard_all(tr_io_t *io) {
  tr_tentry_t *e;
  while ((e = tr__heap_min(&io->heap)) != NULL) {
    tr__heap_remove(&io->heap, e);
    free_entry(e);
  }
}

/* ---- starting and cancelling, from any thread ---- */

static bool in_handler(const tr_ctx_t *ctx) { return ctx && ctx->self && ctx->w; }

static tr_actor_ext_t *ext_of(tr_actor_t *a) { return tr__actor_ext(a); }

/* Start a timer; owned by ctx's actor when `owned`. *id receives its id. */
static int start(tr_ctx_t *ctx, bool owned, uint64_t ms, uint64_t period_ms, tr_pid_t to,
                 tr_atom_t tag, const void *data, size_t len, uint8_t purpose, uint64_t value,
                 uint64_t *id) {
  tr_system_t *sys = ctx->sys;
  if (atomic_load_explicit(&sys->state, memory_order_relaxed) == TR_SYS_STOPPED)
    return TR_ESTOPPED;
  tr_tentry_t *e = calloc(1, sizeof *e);
  start_cmd_t *c = malloc(sizeof *c);
  void *copy = len ? malloc(len) : NULL;
  tr_actor_ext_t *x = owned ? ext_of(ctx->self) : NULL;
  if (!e || !c || (len && !copy) || (owned && !x)) {
    free(e);
    free(c);
    free(copy);
    return TR_ENOMEM;
  }
  if (len)
    memcpy(copy, data, len);
  e->id = TR__NEXT_REF(sys);
  e->due = tr__now_ns() + ms * NS_PER_MS;
  e->period = period_ms * NS_PER_MS;
  e->owner = owned ? ctx->self->pid : TR_PID_NONE;
  e->to = to;
  e->tag = tag;
  e->purpose = purpose;
  e->len = (uint32_t)len;
  e->data = copy;
  /* The owner learns of the timer before the I/O thread can fire it. */
  if (owned && tr__u64map_put(&x->timers, e->id, value) != 0) {
    free_entry(e);
    free(c);
    return TR_ENOMEM;
  }
  uint64_t tid = e->id;
  c->cmd.run = run_start;
  c->e = e;
  int rc = tr__io_post(sys->io, ctx, &c->cmd);
  if (rc != 0) {
    if (owned)
      tr__u64map_del(&x->timers, tid, NULL);
    free_entry(e);
    free(c);
    return rc;
  }
  *id = tid;
  return 0;
}

/* Ask the I/O thread to drop timers (no answer needed). */
static void post_cancel(tr_ctx_t *ctx, const uint64_t *ids, uint32_t n) {
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

static int check(tr_ctx_t *ctx, uint64_t ms, tr_atom_t tag, size_t len, const void *data) {
  if (!ctx || tag == 0 || ms > TR_TIMER_MAX_MS || (len && !data))
    return TR_EINVAL;
  return len > TR_MSG_MAX ? TR_EMSGSIZE : 0;
}

int tr_send_after(tr_ctx_t *ctx, uint64_t ms, tr_pid_t to, tr_atom_t tag, const void *data,
                  size_t len, tr_timer_t *out) {
  int rc = check(ctx, ms, tag, len, data);
  uint64_t id;
  if (rc == 0)
    rc = start(ctx, in_handler(ctx), ms, 0, to, tag, data, len, TR_TP_USER, to.id, &id);
  if (rc == 0 && out)
    out->id = id;
  return rc;
}

int tr_send_interval(tr_ctx_t *ctx, uint64_t ms, tr_pid_t to, tr_atom_t tag, const void *data,
                     size_t len, tr_timer_t *out) {
  int rc = ms == 0 ? TR_EINVAL : check(ctx, ms, tag, len, data);
  uint64_t id;
  if (rc == 0)
    rc = start(ctx, in_handler(ctx), ms, ms, to, tag, data, len, TR_TP_USER, to.id, &id);
  if (rc == 0 && out)
    out->id = id;
  return rc;
}

/* Forget an owned timer and tell the I/O thread. False when the owner has no such timer. */
static bool drop_owned(tr_ctx_t *ctx, tr_actor_ext_t *x, uint64_t id) {
  if (!x || !tr__u64map_del(&x->timers, id, NULL))
    return false;
  post_cancel(ctx, &id, 1);
  return true;
}

int tr_timer_cancel(tr_ctx_t *ctx, tr_timer_t t) {
  if (!ctx || t.id == 0)
    return TR_EINVAL;
  if (in_handler(ctx)) {
    tr_actor_ext_t *x = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
    return drop_owned(ctx, x, t.id) ? 0 : TR_ENOENT;
  }
  sync_cancel_t c = {.cmd.run = run_sync_cancel, .id = t.id};
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  int rc = tr__io_post(ctx->sys->io, ctx, &c.cmd);
  if (rc == 0) {
    pthread_mutex_lock(&c.mu);
    while (!c.done)
      pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    rc = c.result;
  }
  pthread_mutex_destroy(&c.mu);
  pthread_cond_destroy(&c.cv);
  return rc;
}

/* ---- the owner's side ---- */

static int arm_recv(tr_ctx_t *ctx, tr_actor_ext_t *x, uint64_t ms) {
  return start(ctx, true, ms, 0, ctx->self->pid, TR_ATOM_TIMEOUT, NULL, 0, TR_TP_RECV, 0,
               &x->rt_timer);
}

int tr_set_receive_timeout(tr_ctx_t *ctx, uint64_t ms) {
  if (!in_handler(ctx) || ms > TR_TIMER_MAX_MS)
    return TR_EINVAL;
  tr_actor_t *a = ctx->self;
  tr_actor_ext_t *x = ext_of(a);
  if (!x)
    return TR_ENOMEM;
  if (x->rt_timer) {
    drop_owned(ctx, x, x->rt_timer);
    x->rt_timer = 0;
  }
  x->rt_ms = ms;
  x->rt_last_ns = tr__now_ns();
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, ms ? f | TR_AF_RTIMEOUT : f & ~(uint32_t)TR_AF_RTIMEOUT,
                        memory_order_relaxed);
  return ms ? arm_recv(ctx, x, ms) : 0;
}

void tr__recv_timeout_touch(tr_actor_t *a) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (x)
    x->rt_last_ns = tr__now_ns();
}

/* The receive timeout's check: deliver the timeout if the actor has been quiet long enough,
 * else wait for the rest of it. */
static bool recv_timeout_due(tr_ctx_t *ctx, tr_actor_ext_t *x, tr_msg_t *m) {
  if (m->ref != x->rt_timer || x->rt_ms == 0)
    return false; /* replaced or turned off since */
  x->rt_timer = 0;
  uint64_t quiet = tr__now_ns() - x->rt_last_ns, limit = x->rt_ms * NS_PER_MS;
  if (quiet < limit) {
    if (arm_recv(ctx, x, (limit - quiet + NS_PER_MS - 1) / NS_PER_MS) != 0)
      tr_log(TR_LOG_WARN, "cannot re-arm a receive timeout");
    return false;
  }
  if (arm_recv(ctx, x, x->rt_ms) != 0)
    tr_log(TR_LOG_WARN, "cannot re-arm a receive timeout");
  m->ref = 0;
  return true;
}

bool tr__timer_admit(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  uint64_t value;
  bool interval = m->aux != 0;
  bool live = x && (interval ? tr__u64map_get(&x->timers, m->ref, &value)
                             : tr__u64map_del(&x->timers, m->ref, &value));
  if (!live)
    return false; /* cancelled */
  m->kind = TR_KIND_USER;
  switch (m->sig) {
  case TR_TP_USER:
    m->ref = 0;
    if (value == a->pid.id)
      return true;
    /* For another actor: it expires now, on the owner's timeline, and goes on from here. */
    size_t len;
    const void *data = tr_msg_data(m, &len);
    tr_send(ctx, (tr_pid_t){value}, m->tag, data, len);
    return false;
  case TR_TP_REQUEST:
    if (!tr__u64map_del(&x->requests, value, NULL))
      return false; /* answered meanwhile */
    m->ref = value;
    return true;
  case TR_TP_RECV:
    return recv_timeout_due(ctx, x, m);
  default:
    return false;
  }
}

int tr__request_begin(tr_ctx_t *ctx, uint64_t timeout_ms, uint64_t *ref) {
  tr_actor_ext_t *x = ext_of(ctx->self);
  if (!x)
    return TR_ENOMEM;
  uint64_t r = TR__NEXT_REF(ctx->sys), tid;
  int rc = start(ctx, true, timeout_ms, 0, ctx->self->pid, TR_ATOM_TIMEOUT, NULL, 0, TR_TP_REQUEST,
                 r, &tid);
  if (rc)
    return rc;
  if (tr__u64map_put(&x->requests, r, tid) != 0) {
    drop_owned(ctx, x, tid);
    return TR_ENOMEM;
  }
  *ref = r;
  return 0;
}

void tr__request_abort(tr_ctx_t *ctx, uint64_t ref) {
  tr_actor_ext_t *x = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
  uint64_t tid;
  if (x && tr__u64map_del(&x->requests, ref, &tid))
    drop_owned(ctx, x, tid);
}

int tr_request(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
               uint64_t timeout_ms, uint64_t *ref) {
  if (!in_handler(ctx) || !ref || timeout_ms > TR_TIMER_MAX_MS || (len && !data))
    return TR_EINVAL;
  uint64_t r;
  int rc = tr__request_begin(ctx, timeout_ms, &r);
  if (rc)
    return rc;
  if ((rc = tr__send(ctx, to, tag, data, len, r, TR_KIND_USER)) != 0) {
    tr__request_abort(ctx, r);
    return rc;
  }
  *ref = r;
  return 0;
}

bool tr__reply_admit(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *m) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  uint64_t tid;
  if (!x || !tr__u64map_del(&x->requests, m->ref, &tid))
    return false; /* late: its request timed out already */
  drop_owned(ctx, x, tid);
  return true;
}

void tr__timers_owner_exit(tr_ctx_t *ctx, tr_actor_t *a) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (!x || x->timers.count == 0)
    return;
  uint64_t *ids = malloc(x->timers.count * sizeof *ids);
  uint32_t n = 0;
  uint64_t k, v;
  for (uint32_t i = 0; ids && tr__u64map_next(&x->timers, &i, &k, &v);)
    ids[n++] = k;
  if (ids)
    post_cancel(ctx, ids, n);
  else
    tr_log(TR_LOG_WARN, "out of memory cancelling an exiting actor's timers");
  free(ids);
  tr__u64map_free(&x->timers);
  tr__u64map_free(&x->requests);
}
