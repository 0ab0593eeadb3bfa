/* The shapes of command built on tr__io_post: tr__io_call (run a function on the I/O thread
 * and wait for its answer), tr__io_post_id (run one on an id, without waiting), and the parts
 * that attach to the loop on first use (io.h). */
#include <string.h>

#include "io/io.h"

/* Lives on the caller's stack while it waits for the answer. */
typedef struct {
  tr_io_cmd_t cmd;
  int (*fn)(tr_io_t *io, void *arg);
  void *arg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;  /* guarded by mu */
  int result; /* guarded by mu */
} call_t;

static void run_call(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  call_t *c = (call_t *)cmd;
  int result = discard ? TR_ESTOPPED : c->fn(io, c->arg);
  pthread_mutex_lock(&c->mu);
  c->result = result;
  c->done = true;
  pthread_cond_signal(&c->cv);
  /* After the unlock the caller may return and c is gone: touch nothing after it. */
  pthread_mutex_unlock(&c->mu);
}

int tr__io_call(tr_io_t *io, const tr_ctx_t *ctx, int (*fn)(tr_io_t *io, void *arg), void *arg) {
  TR_ASSERT(!pthread_equal(pthread_self(), io->thread)); /* it would wait for itself */
  call_t c = {.cmd.run = run_call, .fn = fn, .arg = arg};
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  int rc = tr__io_post(io, ctx, &c.cmd);
  if (rc == 0) {
    pthread_mutex_lock(&c.mu);
    while (!c.done)
      pthread_cond_wait(&c.cv, &c.mu);
    rc = c.result;
    pthread_mutex_unlock(&c.mu);
  }
  pthread_mutex_destroy(&c.mu);
  pthread_cond_destroy(&c.cv);
  return rc;
}

/* ---- commands that name one object ---- */

typedef struct {
  tr_io_cmd_t cmd;
  void (*fn)(tr_io_t *io, uint64_t id);
  uint64_t id;
} id_cmd_t;

static void run_id(tr_io_t *io, tr_io_cmd_t *cmd, bool discard) {
  id_cmd_t *c = (id_cmd_t *)cmd;
  if (!discard)
    c->fn(io, c->id);
  free(c);
}

int tr__io_post_id(tr_io_t *io, const tr_ctx_t *ctx, void (*fn)(tr_io_t *io, uint64_t id),
                   uint64_t id) {
  id_cmd_t *c = malloc(sizeof *c);
  if (!c)
    return TR_ENOMEM;
  c->cmd.run = run_id;
  c->fn = fn;
  c->id = id;
  int rc = tr__io_post(io, ctx, &c->cmd);
  if (rc != 0)
    free(c);
  return rc;
}

/* ---- parts ---- */

void *tr__io_part(tr_io_t *io, const tr_io_part_t *part) {
  /* acquire: pairs with the release store in tr__io_attach, so the entry is filled in. */
  uint32_t n = atomic_load_explicit(&io->nparts, memory_order_acquire);
  for (uint32_t i = 0; i < n; i++)
    if (io->parts[i].part == part)
      return io->parts[i].state;
  return NULL;
}

typedef struct {
  const tr_io_part_t *part;
  void *state;
} start_t;

static int run_start(tr_io_t *io, void *arg) {
  start_t *s = arg;
  return s->part->start(io, s->state);
}

/* Attach a part that is not attached yet; parts_mu is held. */
static int attach_locked(tr_io_t *io, const tr_io_part_t *part, void **out) {
  uint32_t n = atomic_load_explicit(&io->nparts, memory_order_relaxed);
  if (n == TR_IO_PARTS_MAX)
    return TR_ELIMIT;
  void *s = part->create(io);
  if (!s)
    return TR_ENOMEM;
  start_t st = {part, s};
  /* The part's own handles are made on the loop's thread, which owns the loop. */
  int rc = tr__io_call(io, tr_system_ctx(io->sys), run_start, &st);
  if (rc != 0) {
    part->free(io, s);
    return rc;
  }
  io->parts[n].part = part;
  io->parts[n].state = s;
  /* release: publishes the entry to tr__io_part's acquire load. */
  atomic_store_explicit(&io->nparts, n + 1, memory_order_release);
  *out = s;
  return 0;
}

int tr__io_attach(tr_io_t *io, const tr_io_part_t *part, void **state) {
  if ((*state = tr__io_part(io, part)) != NULL)
    return 0;
  pthread_mutex_lock(&io->parts_mu);
  int rc = 0;
  void *s = tr__io_part(io, part); /* attached meanwhile by another thread? */
  if (!s)
    rc = attach_locked(io, part, &s);
  pthread_mutex_unlock(&io->parts_mu);
  *state = rc == 0 ? s : NULL;
  return rc;
}
