/* The actor layer's side of the system: creating it (scheduler, actor table, atoms,
 * registry), shutting down its actors, tearing it down, and the small context accessors every
 * handler uses. runtime/system.c puts these steps together with the I/O thread into the
 * public tr_system_new / tr_system_stop / tr_system_free. */
#include <string.h>
#include <unistd.h>

#include "actors/actor.h"

static void worker_start(tr_worker_t *w) {
  tr_system_t *sys = w->s->hooks.user;
  tr_wlocal_t *L = &sys->locals[w->id];
  L->ctx.sys = sys;
  L->ctx.w = w;
  L->ctx.pool = &w->pool;
  L->ctx.lockfree = true;
  L->ctx.qs = w->qs;
  L->sample_countdown = 1;
  w->local = L;
}

void tr_config_init(tr_config_t *cfg) { memset(cfg, 0, sizeof *cfg); }

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1u;
}

int tr__system_create(const tr_config_t *cfg, tr_system_t **out) {
  if (!out)
    return TR_EINVAL;
  tr_config_t c;
  if (cfg)
    c = *cfg;
  else
    tr_config_init(&c);
  if (c.workers == 0)
    c.workers = online_cpus();
  if (c.max_actors == 0)
    c.max_actors = TR_DEFAULT_MAX_ACTORS;
  if (c.workers > 1024 || c.max_actors > TR_MAX_ACTORS_LIMIT || tr__overload_check(&c.mailbox))
    return TR_EINVAL;
  if (c.seed == 0)
    c.seed = tr__now_ns() | 1;
  tr__ticks_calibrate();

  tr_system_t *sys = aligned_alloc(TR_CACHE_LINE, (sizeof *sys + TR_CACHE_LINE - 1) &
                                                      ~(size_t)(TR_CACHE_LINE - 1));
  if (!sys)
    return TR_ENOMEM;
  memset(sys, 0, sizeof *sys);
  sys->cfg = c;
  sys->ctx.sys = sys;
  if (c.send_wait_ms == 0)
    c.send_wait_ms = TR_SEND_WAIT_MS;
  sys->cfg.send_wait_ms = c.send_wait_ms;
  sys->ctx.send_wait_ms = c.send_wait_ms;
  sys->start_ns = tr__now_ns();
  atomic_store_explicit(&sys->next_ref, 1, memory_order_relaxed);
  pthread_mutex_init(&sys->clients_mu, NULL);
  pthread_mutex_init(&sys->node_mu, NULL);
  sys->locals = aligned_alloc(TR_CACHE_LINE, c.workers * sizeof *sys->locals);
  if (sys->locals)
    memset(sys->locals, 0, c.workers * sizeof *sys->locals);
  tr_sched_hooks_t hooks = {
      .run = tr__actor_run, .start = worker_start, .reclaim = tr__actor_reclaim, .user = sys};
  int rc = sys->locals ? 0 : TR_ENOMEM;
  if (rc == 0)
    rc = tr__table_init(&sys->table, c.max_actors, 0);
  if (rc == 0)
    rc = tr__alloc_init(&sys->alloc);
  if (rc == 0)
    rc = tr__atoms_init(&sys->atoms);
  if (rc == 0)
    rc = tr__registry_init(&sys->reg);
  if (rc == 0)
    tr__groups_init(&sys->groups);
  if (rc == 0)
    rc = tr__sched_init(&sys->sched, c.workers, 1, c.seed, &hooks);
  if (rc == 0)
    rc = tr__sched_start(&sys->sched);
  if (rc != 0) {
    atomic_store_explicit(&sys->state, TR_SYS_STOPPED, memory_order_relaxed);
    tr__system_destroy(sys);
    return rc;
  }
  tr_log(TR_LOG_DEBUG, "system started: %u workers, seed %llu", c.workers,
         (unsigned long long)c.seed);
  *out = sys;
  return 0;
}

tr_qsbr_rec_t *tr__system_io_record(tr_system_t *sys) {
  return &sys->sched.qsbr.recs[sys->cfg.workers];
}

static uint64_t live_actors(tr_system_t *sys) {
  tr_stats_t st;
  tr_system_stats(sys, &st);
  return st.actors;
}

int tr_system_await(tr_system_t *sys, int timeout_ms) {
  uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : tr__now_ns() + (uint64_t)timeout_ms * 1000000u;
  uint64_t nap = 20000; /* 20 us, doubling to 1 ms: quick for short waits, cheap for long */
  while (live_actors(sys) > 0) {
    if (tr__now_ns() >= deadline)
      return TR_ETIMEDOUT;
    tr__sleep_ns(nap);
    if (nap < 1000000)
      nap *= 2;
  }
  return 0;
}

/* Send every live actor (not clients) an exit with reason shutdown. */
static void shutdown_all(tr_system_t *sys) {
  tr_reason_t r;
  tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, NULL);
  uint32_t high = tr__table_high(&sys->table);
  /* Newest first: actors spawned later are usually the dependants of earlier ones. */
  for (uint32_t slot = high; slot-- > 0;) {
    tr__qsbr_foreign_enter(&sys->sched.qsbr);
    tr_actor_t *a = tr__table_at(&sys->table, slot);
    tr_pid_t pid = TR_PID_NONE;
    if (a && !(atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_CLIENT))
      pid = a->pid;
    tr__qsbr_foreign_exit(&sys->sched.qsbr);
    if (!tr_pid_is_none(pid))
      tr__signal_send(&sys->ctx, pid, TR_SIG_EXIT, TR_EXITF_FORCED, 0, &r);
  }
}

bool tr__system_begin_stop(tr_system_t *sys) {
  int expect = TR_SYS_RUNNING;
  return atomic_compare_exchange_strong_explicit(&sys->state, &expect, TR_SYS_STOPPING,
                                                 memory_order_acq_rel, memory_order_acquire);
}

void tr__system_stop_actors(tr_system_t *sys) {
  /* Spawns fail from here on, so the set of actors only shrinks. Signals already sent are
   * handled; an actor that ignores nothing cannot outlive its exit signal. */
  for (;;) {
    shutdown_all(sys);
    if (tr_system_await(sys, 1000) == 0)
      break;
    tr_log(TR_LOG_WARN, "stopping: %llu actors still alive after 1 s, signalling again",
           (unsigned long long)live_actors(sys));
  }
}

void tr__system_end_stop(tr_system_t *sys) {
  tr__clients_stop(sys);
  tr__sched_stop(&sys->sched);
  atomic_store_explicit(&sys->state, TR_SYS_STOPPED, memory_order_release);
}

bool tr__system_stopped(tr_system_t *sys) {
  return atomic_load_explicit(&sys->state, memory_order_acquire) == TR_SYS_STOPPED;
}

void tr__system_destroy(tr_system_t *sys) {
  tr__clients_close_all(sys);
  tr__sched_destroy(&sys->sched);
  tr__groups_destroy(&sys->groups);
  tr__registry_destroy(&sys->reg);
  tr__atoms_destroy(&sys->atoms);
  tr__table_destroy(&sys->table);
  tr__alloc_destroy(&sys->alloc);
  pthread_mutex_destroy(&sys->clients_mu);
  pthread_mutex_destroy(&sys->node_mu);
  free(sys->locals);
  free(sys);
}

tr_ctx_t *tr_system_ctx(tr_system_t *sys) { return &sys->ctx; }
tr_pid_t tr_self(const tr_ctx_t *ctx) { return tr__self(ctx); }
tr_system_t *tr_ctx_system(const tr_ctx_t *ctx) { return ctx->sys; }
bool tr_ctx_in_handler(const tr_ctx_t *ctx) { return tr__in_handler(ctx); }
void tr_stop(tr_ctx_t *ctx) {
  ctx->stop = true;
  tr_reason_set(&ctx->stop_reason, TR_REASON_NORMAL, 0, NULL);
}

void tr_stop_reason(tr_ctx_t *ctx, const tr_reason_t *reason) {
  ctx->stop = true;
  ctx->stop_reason = *reason;
}

tr_atom_t tr_atom(tr_system_t *sys, const char *name) {
  return name ? tr__atoms_intern(&sys->atoms, name, strlen(name)) : 0;
}
int tr_atoms(tr_system_t *sys, const tr_atom_def_t *defs, size_t n) {
  if (!sys || (n && !defs))
    return TR_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (!defs[i].name || !defs[i].atom)
      return TR_EINVAL;
    size_t len = strlen(defs[i].name);
    if (len == 0 || len > TR_ATOM_MAX_LEN)
      return TR_EINVAL;
    if ((*defs[i].atom = tr_atom(sys, defs[i].name)) == 0)
      return TR_ELIMIT;
  }
  return 0;
}

tr_atom_t tr_atom_find(tr_system_t *sys, const char *name, size_t len) {
  return tr__atoms_find(&sys->atoms, name, len);
}
const char *tr_atom_name(tr_system_t *sys, tr_atom_t atom) {
  return tr__atoms_name(&sys->atoms, atom);
}
