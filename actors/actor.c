/* Actor lifecycle: spawning, exiting and reclaiming (docs/lifecycle.md, L-1 to L-3).
 *
 * Spawn: allocate the actor with its state, reserve a slot, queue the init payload (if any)
 * as its first message, publish it in the table, and schedule it. Exit: run terminate, drop
 * its name, close its signal lane, unlink it from the table, drop what is queued, and retire
 * it; its memory is freed once no thread can still hold it. */
#include <string.h>

#include "actors/clock.h"

static void bump_spawned(tr_ctx_t *ctx) {
  if (ctx->w)
    tr__bump(&((tr_wlocal_t *)ctx->w->local)->spawned, 1);
  else
    atomic_fetch_add_explicit(&ctx->sys->f_spawned, 1, memory_order_relaxed);
}

/* Apply spawn options to a child that nobody can see yet. */
static int apply_opts(tr_ctx_t *ctx, tr_actor_t *a, const tr_spawn_opts_t *opts) {
  int rc = 0;
  if (opts->name && (rc = tr__registry_add_new(ctx->sys, a, opts->name)) != 0)
    return rc;
  if (opts->link && (rc = tr__link_new(ctx, a)) != 0)
    return rc;
  if (opts->monitor && (rc = tr__monitor_new(ctx, a, opts->monitor)) != 0)
    return rc;
  return 0;
}

/* Undo a spawn that failed before its actor was published. */
static void unmake(tr_ctx_t *ctx, tr_actor_t *a, size_t size) {
  tr_system_t *sys = ctx->sys;
  tr_wlocal_t *L = ctx->w ? ctx->w->local : NULL;
  tr__registry_drop(sys, a);
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (e) {
    if (ctx->self) { /* take back what apply_opts gave the parent */
      tr_actor_ext_t *pe = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
      uint64_t k, v;
      for (uint32_t i = 0; pe && tr__u64map_next(&e->watchers, &i, &k, &v);)
        tr__u64map_del(&pe->monitors, k, NULL);
      if (pe)
        tr__u64map_del(&pe->links, a->pid.id, NULL);
    }
    tr__u64map_free(&e->links);
    tr__u64map_free(&e->watchers);
    free(e);
  }
  tr__table_release(&sys->table, L ? &L->slots : NULL, a->pid);
  tr__alloc_free(&sys->alloc, L ? &L->alloc : NULL, a, size);
}

int tr__spawn(tr_ctx_t *ctx, const tr_behaviour_t *b, uint32_t flags, size_t state_size,
              tr_msg_t *init, const tr_spawn_opts_t *opts, tr_pid_t *out) {
  tr_system_t *sys = ctx->sys;
  if (atomic_load_explicit(&sys->state, memory_order_acquire) != TR_SYS_RUNNING)
    return TR_ESTOPPED;
  size_t size = tr__actor_size(state_size);
  tr_wlocal_t *L = ctx->w ? ctx->w->local : NULL;
  tr_actor_t *a = tr__alloc(&sys->alloc, L ? &L->alloc : NULL, size);
  if (!a)
    return TR_ENOMEM;
  tr_pid_t pid = tr__table_reserve(&sys->table, L ? &L->slots : NULL);
  if (tr_pid_is_none(pid)) {
    tr__alloc_free(&sys->alloc, L ? &L->alloc : NULL, a, size);
    return TR_ELIMIT;
  }
  memset(a->state, 0, size - sizeof(tr_actor_t));
  int orc = tr__overload_setup(sys, a, opts, &flags);
  if (orc != 0) {
    tr__table_release(&sys->table, L ? &L->slots : NULL, pid);
    tr__alloc_free(&sys->alloc, L ? &L->alloc : NULL, a, size);
    return orc;
  }
  /* Created scheduled, not idle: the spawner schedules it once, below, whatever arrives. */
  tr__mq_init(&a->mq, false);
  atomic_store_explicit(&a->sigs, NULL, memory_order_relaxed);
  a->pid = pid;
  a->beh = b;
  atomic_store_explicit(&a->ext, NULL, memory_order_relaxed);
  atomic_store_explicit(&a->flags, flags | (init ? TR_AF_INIT_MSG : 0u), memory_order_relaxed);
  atomic_store_explicit(&a->hwm, 0, memory_order_relaxed);
  atomic_store_explicit(&a->enq, 0, memory_order_relaxed); /* the init message is not counted */
  atomic_store_explicit(&a->deq, 0, memory_order_relaxed);
  atomic_store_explicit(&a->out, 0, memory_order_relaxed);
  atomic_store_explicit(&a->run_ticks, 0, memory_order_relaxed);
  if (opts) {
    int rc = apply_opts(ctx, a, opts);
    if (rc != 0) {
      unmake(ctx, a, size);
      return rc;
    }
  }
  if (init)
    tr__mq_push(&a->mq, &init->node);
  tr__table_publish(&sys->table, a, pid, a->ov != 0);
  if (!(flags & TR_AF_CLIENT)) { /* clients are not actors to count or schedule */
    bump_spawned(ctx);
    if (ctx->w)
      tr__sched_push_local(ctx->w, a);
    else
      tr__sched_inject(&sys->sched, a);
  }
  *out = pid; /* not `a`: from outside the pool, a may already be gone */
  return 0;
}

tr_actor_ext_t *tr__actor_ext(tr_actor_t *a) {
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_seq_cst); /* see below */
  if (e)
    return e;
  tr_actor_ext_t *n = calloc(1, sizeof *n);
  if (!n)
    return NULL;
  /* seq_cst: publishes the zeroed ext, and is half of the Dekker pair in tr__actor_die. */
  if (!atomic_compare_exchange_strong_explicit(&a->ext, &e, n, memory_order_seq_cst,
                                               memory_order_seq_cst)) {
    free(n);
    return e;
  }
  return n;
}

void tr__actor_drain(tr_actor_t *a, tr_pool_t *pool, tr_wlocal_t *L, tr_system_t *sys) {
  uint64_t dropped = 0;
  tr_mq_node_t *released, *n;
  while ((n = tr__mq_pop(&a->mq, &released)) != NULL) {
    if (released)
      tr__msg_recycle(pool, (tr_msg_t *)released);
    tr_msg_t *m = (tr_msg_t *)n;
    if (m->kind == TR_KIND_USER || m->kind == TR_KIND_REPLY)
      dropped++;
    tr__msg_release_payload(m);
  }
  if (!dropped)
    return;
  if (L)
    tr__bump(&L->dead_letters, dropped);
  else if (sys)
    atomic_fetch_add_explicit(&sys->f_dead_letters, dropped, memory_order_relaxed);
}

void tr__actor_die(tr_ctx_t *ctx, tr_actor_t *a, const tr_reason_t *reason, bool terminate,
                   tr_msg_t *pending) {
  tr_worker_t *w = ctx->w;
  tr_wlocal_t *L = w->local;
  tr_system_t *sys = ctx->sys;
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  /* seq_cst: a Dekker pair with tr_register, which creates the ext block (seq_cst CAS in
   * tr__actor_ext) and then reads DYING (seq_cst); tr__registry_drop reads ext after this.
   * Either register sees DYING and refuses, or drop sees the ext block and takes the lock. */
  atomic_store_explicit(&a->flags, f | TR_AF_DYING, memory_order_seq_cst);
  tr__outbox_done(ctx); /* what it sent before goes before its DOWNs and exit signals */
  ctx->self = a;
  if (terminate && a->beh->terminate)
    a->beh->terminate(ctx, a->state, reason);
  tr__outbox_done(ctx);
  if (tr_log_enabled(TR_LOG_DEBUG))
    tr_log(TR_LOG_DEBUG, "actor %016llx (%s) exits: %s", (unsigned long long)a->pid.id,
           a->beh->name ? a->beh->name : "?", tr_reason_kind_name(reason->kind));
  tr__registry_drop(sys, a);
  tr__owned_exit(ctx, a);
  tr__groups_exit(ctx, a);
  tr__signals_exit(ctx, a, pending, reason);
  tr__table_release(&sys->table, &L->slots, a->pid);
  /* The mailbox stays "scheduled" for good, so late pushes never schedule the dead actor;
   * drain what is there now, and what arrives until reclamation is drained then. */
  tr__actor_drain(a, &w->pool, L, sys);
  tr_mq_node_t *last = tr__mq_retire_tail(&a->mq);
  if (last)
    tr__msg_recycle(&w->pool, (tr_msg_t *)last);
  /* release: tr_system_await's acquire read of the count then sees everything this exit did
   * (its groups left, its links told), so tr_system_stop may free what that touched. */
  atomic_store_explicit(&L->exited, atomic_load_explicit(&L->exited, memory_order_relaxed) + 1,
                        memory_order_release);
  tr__qsbr_retire(&w->s->qsbr, w->qs, a, w);
}

void tr__actor_free(tr_system_t *sys, tr_worker_t *w, tr_actor_t *a) {
  tr_wlocal_t *L = w ? w->local : NULL;
  tr__alloc_free(&sys->alloc, L ? &L->alloc : NULL, a, tr__actor_size(a->beh->state_size));
}

void tr__retire(tr_ctx_t *ctx, tr_retired_t *obj) {
  TR_ASSERT(ctx->qs != NULL); /* a participant: a worker or the I/O thread */
  /* Bit 0 tells tr__actor_reclaim that this is not an actor (both are 8-byte aligned). */
  tr__qsbr_retire(&ctx->sys->sched.qsbr, ctx->qs, (void *)((uintptr_t)obj | 1u), ctx->w);
}

void tr__actor_reclaim(void *obj, void *arg) {
  if ((uintptr_t)obj & 1u) {
    tr_retired_t *r = (tr_retired_t *)((uintptr_t)obj & ~(uintptr_t)1);
    r->free(r);
    return;
  }
  tr_actor_t *a = obj;
  tr_worker_t *w = arg;
  tr_pool_t *pool = w ? &w->pool : NULL;
  /* Usually nothing arrived after the exit (tr__actor_die left the stub as the tail and head
   * still points at it): then the mailbox need not be walked. */
  if (atomic_load_explicit(&a->mq.head, memory_order_acquire) != (uintptr_t)&a->mq.stub) {
    tr__actor_drain(a, pool, w ? w->local : NULL, NULL);
    if (a->mq.tail != &a->mq.stub)
      tr__msg_recycle(pool, (tr_msg_t *)a->mq.tail);
  }
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (e) { /* the maps were emptied at exit; free what is left of them */
    tr__u64map_free(&e->links);
    tr__u64map_free(&e->watchers);
    tr__u64map_free(&e->monitors);
    tr__u64map_free(&e->timers);
    tr__u64map_free(&e->muters);
    free(e->requests.ring);
    free(e->remute);
    free(e);
  }
  if (w) {
    tr__actor_free(((tr_wlocal_t *)w->local)->ctx.sys, w, a);
  } else if (!TR_ALLOC_POOLED || tr__actor_size(a->beh->state_size) > TR_ALLOC_MAX) {
    free(a); /* at system teardown; pooled blocks go with their slabs */
  }
}
