/* Reading counters while the system runs: one actor, all actors, the whole system. Nothing
 * here stops a worker; readers see each counter's latest published value (relaxed loads of
 * single-writer counters), so figures taken together may be a few messages apart. */
#include <string.h>

#include "actors/actor.h"

/* now - then on the wrapping coarse clock, 0 when then is not before now. */
static uint64_t age(uint32_t now, uint32_t then) {
  int32_t d = (int32_t)(now - then);
  return d > 0 ? (uint64_t)d : 0;
}

/* The console's ages (actor.h: last_run_ms, woke_ms). All relaxed: estimates, read racily
 * against the owner's and senders' stores, ordering nothing. */
static void fill_ages(tr_system_t *sys, tr_actor_t *a, tr_actor_info_t *out) {
  out->running_ms = out->waiting_ms = 0;
  if (!atomic_load_explicit(&sys->clock_on, memory_order_relaxed))
    return;
  uint32_t now = atomic_load_explicit(&sys->coarse_ms, memory_order_relaxed);
  uint32_t run = atomic_load_explicit(&a->last_run_ms, memory_order_relaxed);
  if (out->status == TR_STATUS_RUNNING) {
    out->running_ms = age(now, run);
  } else if (out->mailbox > 0 && out->status != TR_STATUS_EXITING) {
    uint32_t woke = atomic_load_explicit(&a->woke_ms, memory_order_relaxed);
    /* The later of the two: messages queued before the last turn started were looked at. */
    out->waiting_ms = age(now, (int32_t)(woke - run) > 0 ? woke : run);
  }
}

/* Under the protection that keeps a valid (worker, or foreign lock). */
static void fill_info(tr_system_t *sys, tr_actor_t *a, tr_actor_info_t *out) {
  memset(out, 0, sizeof *out);
  out->pid = a->pid;
  out->behaviour = a->beh->name ? a->beh->name : "";
  tr__registry_name_of(sys, a, out->name);
  uint64_t deq = atomic_load_explicit(&a->deq, memory_order_relaxed);
  uint64_t enq = atomic_load_explicit(&a->enq, memory_order_relaxed);
  out->msgs_in = deq;
  out->msgs_out = atomic_load_explicit(&a->out, memory_order_relaxed);
  out->mailbox = enq > deq ? enq - deq : 0;
  tr__raise_hwm(a, out->mailbox);
  out->mailbox_hwm = atomic_load_explicit(&a->hwm, memory_order_relaxed);
  out->run_ns = tr__ticks_to_ns(atomic_load_explicit(&a->run_ticks, memory_order_relaxed));
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  out->status = (f & TR_AF_DYING)     ? TR_STATUS_EXITING
                : (f & TR_AF_RUNNING) ? TR_STATUS_RUNNING
                : out->mailbox        ? TR_STATUS_RUNNABLE
                                      : TR_STATUS_WAITING;
  fill_ages(sys, a, out);
  out->high_water = a->high;
  out->low_water = a->low;
  out->policy = a->high == 0           ? TR_OVERLOAD_OFF
                : (a->ov & TR_OV_DROP) ? TR_OVERLOAD_DROP
                : (a->ov & TR_OV_FAIL) ? TR_OVERLOAD_FAIL
                                       : TR_OVERLOAD_MUTE;
  out->muted = (f & TR_AF_MUTED) != 0;
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (e) {
    if (out->muted)
      out->muted_by.id = atomic_load_explicit(&e->muted_by, memory_order_relaxed);
    out->mutes = atomic_load_explicit(&e->mutes, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&e->dropped, memory_order_relaxed);
    out->refused = atomic_load_explicit(&e->refused, memory_order_relaxed);
  }
}

int tr_actor_info(tr_system_t *sys, tr_pid_t pid, tr_actor_info_t *out) {
  if (!sys || !out)
    return TR_EINVAL;
  bool foreign = !tr__on_worker(sys);
  if (foreign)
    tr__qsbr_foreign_enter(&sys->sched.qsbr);
  tr_actor_t *a = tr__table_get(&sys->table, pid);
  bool client = a && (atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_CLIENT);
  if (a && !client)
    fill_info(sys, a, out);
  if (foreign)
    tr__qsbr_foreign_exit(&sys->sched.qsbr);
  return a && !client ? 0 : TR_ENOENT;
}

/* Slots read per hold of the foreign lock: amortises the lock without making reclamation
 * wait long. */
#define WALK_STRIDE 256u

size_t tr_actor_foreach(tr_system_t *sys, int (*fn)(const tr_actor_info_t *, void *), void *arg) {
  if (!sys || !fn)
    return 0;
  bool foreign = !tr__on_worker(sys);
  uint32_t high = tr__table_high(&sys->table);
  size_t visited = 0;
  tr_actor_info_t *batch = malloc(WALK_STRIDE * sizeof *batch);
  if (!batch)
    return 0;
  for (uint32_t base = 0; base < high; base += WALK_STRIDE) {
    uint32_t n = 0;
    if (foreign)
      tr__qsbr_foreign_enter(&sys->sched.qsbr);
    for (uint32_t s = base; s < base + WALK_STRIDE && s < high; s++) {
      tr_actor_t *a = tr__table_at(&sys->table, s);
      if (a && !(atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_CLIENT))
        fill_info(sys, a, &batch[n++]);
    }
    if (foreign)
      tr__qsbr_foreign_exit(&sys->sched.qsbr);
    for (uint32_t i = 0; i < n; i++) {
      visited++;
      if (fn(&batch[i], arg) != 0) {
        free(batch);
        return visited;
      }
    }
  }
  free(batch);
  return visited;
}

static uint64_t rd(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

void tr_system_stats(tr_system_t *sys, tr_stats_t *out) {
  memset(out, 0, sizeof *out);
  tr_sched_t *s = &sys->sched;
  out->workers = s->n;
  /* exited with acquire: pairs with tr__actor_die's release (tr_system_await relies on it). */
  uint64_t spawned = rd(&sys->f_spawned),
           exited = atomic_load_explicit(&sys->f_exited, memory_order_acquire);
  out->dead_letters = rd(&sys->f_dead_letters);
  for (unsigned k = 0; k < s->n; k++) {
    tr_wlocal_t *L = &sys->locals[k];
    tr_worker_t *w = &s->workers[k];
    spawned += rd(&L->spawned);
    exited += atomic_load_explicit(&L->exited, memory_order_acquire);
    out->messages += rd(&L->messages);
    out->dead_letters += rd(&L->dead_letters);
    out->turns += rd(&w->turns);
    out->steals += rd(&w->steals);
    out->parks += rd(&w->parks);
  }
  out->spawned = spawned;
  out->exited = exited;
  /* Counters of different threads are read at slightly different moments. */
  out->actors = spawned > exited ? spawned - exited : 0;
  out->injected = rd(&s->injected);
  out->memory = out->actors * (sizeof(tr_actor_t) + 16) +
                rd(&s->depot.envelopes) * (sizeof(tr_msg_t) + 16) + rd(&sys->table.chunks_bytes) +
                s->n * sizeof(tr_worker_t);
}
