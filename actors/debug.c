/* The runtime's debugging hooks, which the console (net/console.c) is built on: inspecting
 * an actor's state, and tracing the messages it handles and sends.
 *
 * Both travel on the signal lane (links.c), so the target answers them itself, on its own
 * worker, between two messages: an inspect callback never races the actor's handlers, and
 * what it reads of the owner-only ext block (links, monitors, timers) needs no lock.
 *
 * Trace events and inspect replies are built and delivered here directly, never through
 * tr__send, so they are not counted as the actor's sends and never traced themselves. While
 * nobody traces, the only cost on the hot paths is one predictable branch on ctx->traced
 * (turn.c, send.c). */
#include <string.h>

#include "actors/clock.h"

/* Bytes of a message's payload copied into a trace event. */
#define TRACE_DATA_MAX 256u

/* Build and deliver a message without counting or tracing it. False when `to` is gone.
 * sig: TR_MSGF_PIDS when the payload's pids are ext values (so another node maps them). */
static bool post_quiet(tr_ctx_t *ctx, tr_pid_t to, tr_atom_t tag, const void *data, size_t len,
                       uint64_t ref, uint8_t kind, uint16_t sig) {
  tr_msg_t *m = tr__msg_alloc(tr__ctx_pool(ctx));
  if (!m)
    return true; /* out of memory: this one is lost, the tracer is not known to be gone */
  if (tr__msg_fill(m, tag, tr_self(ctx), data, len) != 0) {
    tr__msg_recycle(tr__ctx_pool(ctx), m);
    return true;
  }
  m->ref = ref;
  m->kind = kind;
  m->sig = sig;
  return tr__deliver(ctx, to, m);
}

static void set_traced(tr_ctx_t *ctx, tr_actor_t *a, bool on) {
  /* Owner-only write (flags: see actor.h); ctx->traced mirrors it for this turn. */
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  atomic_store_explicit(&a->flags, on ? f | TR_AF_TRACED : f & ~(uint32_t)TR_AF_TRACED,
                        memory_order_relaxed);
  if (ctx->self == a)
    ctx->traced = on;
}

/* A pid as the 'p' format letter packs it (msg.h), so a tracer on another node gets it as
 * one of its own pids. */
static void pack_pid(msgpack_packer *pk, tr_pid_t pid) {
  unsigned char be[8];
  tr__put_be64(be, pid.id);
  msgpack_pack_ext(pk, 8, TR_EXT_PID);
  msgpack_pack_ext_body(pk, be, 8);
}

void tr__trace_event(tr_ctx_t *ctx, tr_actor_t *a, int dir, tr_pid_t peer, const tr_msg_t *m) {
  static const char *const dirs[] = {"in", "out", "drop"};
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (!e || tr_pid_is_none(e->tracer)) {
    set_traced(ctx, a, false);
    return;
  }
  size_t len = 0;
  const void *data = m->store == TR_STORE_PTR ? NULL : tr_msg_data(m, &len);
  const char *tag = tr_atom_name(ctx->sys, m->tag);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 6);
  msgpack_pack_str_with_body(&pk, dirs[dir], strlen(dirs[dir]));
  pack_pid(&pk, a->pid);
  pack_pid(&pk, peer);
  if (!tag)
    tag = "?";
  msgpack_pack_str_with_body(&pk, tag, strlen(tag));
  size_t n = len < TRACE_DATA_MAX ? len : TRACE_DATA_MAX;
  msgpack_pack_bin_with_body(&pk, data ? data : "", data ? n : 0);
  msgpack_pack_uint64(&pk, len);
  bool alive = sb.data && post_quiet(ctx, e->tracer, TR_ATOM_TRACE, sb.data, sb.size, 0,
                                     TR_KIND_USER, TR_MSGF_PIDS);
  msgpack_sbuffer_destroy(&sb);
  if (!alive) { /* the tracer is gone: stop paying for events nobody reads */
    e->tracer = TR_PID_NONE;
    set_traced(ctx, a, false);
  }
}

/* A linked actor that looks like our supervisor: one running the supervisor behaviour, else
 * the first linked actor that traps exits. Read on the owner's worker (a lock-free reader). */
static tr_pid_t supervisor_of(tr_ctx_t *ctx, tr_actor_ext_t *e) {
  tr_pid_t found = TR_PID_NONE;
  uint64_t k, v;
  for (uint32_t i = 0; tr__u64map_next(&e->links, &i, &k, &v);) {
    tr_actor_t *p = tr__table_get(&ctx->sys->table, (tr_pid_t){k});
    if (!p)
      continue;
    if (p->beh->name && strcmp(p->beh->name, "supervisor") == 0)
      return p->pid;
    if (tr_pid_is_none(found) &&
        (atomic_load_explicit(&p->flags, memory_order_relaxed) & TR_AF_TRAP))
      found = p->pid;
  }
  return found;
}

static void pack_key(msgpack_packer *pk, const char *k) {
  msgpack_pack_str_with_body(pk, k, strlen(k));
}

/* Pids shown per list of the meta map (links, monitors, watchers): the counts say how many
 * there are in all. */
#define META_PIDS_MAX 32u

/* The values (by_key false) or keys of a map of pids, at most META_PIDS_MAX, as an array. */
static void pack_pids(msgpack_packer *pk, const tr_u64map_t *m, bool by_key) {
  uint32_t n = m->count < META_PIDS_MAX ? m->count : META_PIDS_MAX, k = 0;
  msgpack_pack_array(pk, n);
  uint64_t key, val;
  for (uint32_t i = 0; k < n && tr__u64map_next(m, &i, &key, &val); k++)
    msgpack_pack_uint64(pk, by_key ? key : val);
}

/* The owner's counts, as a map, and the first pids of its links and monitors. */
static void pack_meta(tr_ctx_t *ctx, tr_actor_t *a, msgpack_packer *pk) {
  tr_actor_ext_t *e = atomic_load_explicit(&a->ext, memory_order_acquire);
  msgpack_pack_map(pk, 10);
  pack_key(pk, "links");
  msgpack_pack_uint32(pk, e ? e->links.count : 0);
  pack_key(pk, "monitors");
  msgpack_pack_uint32(pk, e ? e->monitors.count : 0);
  pack_key(pk, "watchers");
  msgpack_pack_uint32(pk, e ? e->watchers.count : 0);
  pack_key(pk, "timers");
  msgpack_pack_uint32(pk, e ? e->timers.count : 0);
  pack_key(pk, "requests");
  msgpack_pack_uint32(pk, e ? e->requests.live : 0);
  pack_key(pk, "supervisor");
  tr_pid_t sup = e ? supervisor_of(ctx, e) : TR_PID_NONE;
  if (tr_pid_is_none(sup))
    msgpack_pack_nil(pk);
  else
    msgpack_pack_uint64(pk, sup.id);
  pack_key(pk, "traced");
  if (atomic_load_explicit(&a->flags, memory_order_relaxed) & TR_AF_TRACED)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
  static const tr_u64map_t none = {0};
  pack_key(pk, "linked");
  pack_pids(pk, e ? &e->links : &none, true);
  pack_key(pk, "monitoring");
  pack_pids(pk, e ? &e->monitors : &none, false);
  pack_key(pk, "watched_by");
  pack_pids(pk, e ? &e->watchers : &none, false);
}

static void answer_inspect(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *s) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  uint32_t f = atomic_load_explicit(&a->flags, memory_order_relaxed);
  if (s->aux == TR_INSPECT_META) {
    pack_meta(ctx, a, &pk);
  } else if (a->beh->inspect && !(f & TR_AF_INIT_PENDING)) {
    /* A failing callback, or one that packed nothing valid, answers nil. */
    if (a->beh->inspect(a->state, &pk) != 0 || !sb.data ||
        tr_msgpack_check(sb.data, sb.size, NULL) != 0) {
      sb.size = 0;
      msgpack_pack_nil(&pk);
    }
  } else {
    msgpack_pack_nil(&pk);
  }
  if (sb.data)
    post_quiet(ctx, s->from, TR_ATOM_REPLY, sb.data, sb.size, s->ref, TR_KIND_REPLY, 0);
  msgpack_sbuffer_destroy(&sb);
}

void tr__debug_signal(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *s) {
  if (s->sig == TR_SIG_INSPECT) {
    answer_inspect(ctx, a, s);
    return;
  }
  if (s->sig != TR_SIG_TRACE)
    return;
  bool on = s->aux != 0;
  tr_actor_ext_t *e = tr__actor_ext(a);
  if (!e) {
    tr_log(TR_LOG_WARN, "out of memory turning tracing on");
    return;
  }
  if (!on && e->tracer.id != s->ref)
    return; /* an old tracer's "off" must not end a newer tracer's trace */
  e->tracer = on ? (tr_pid_t){s->ref} : TR_PID_NONE;
  set_traced(ctx, a, on);
}

/* ---- the public calls ---- */

int tr_trace(tr_ctx_t *ctx, tr_pid_t pid, tr_pid_t tracer, bool on) {
  if (!ctx || tr_pid_is_none(pid) || tr_pid_is_none(tracer) || tr_pid_eq(pid, tracer))
    return TR_EINVAL;
  if (atomic_load_explicit(&ctx->sys->state, memory_order_relaxed) == TR_SYS_STOPPED)
    return TR_ESTOPPED;
  return tr__signal_send(ctx, pid, TR_SIG_TRACE, on ? 1u : 0u, tracer.id, NULL) ? 0 : TR_ENOENT;
}

int tr__inspect(tr_ctx_t *ctx, tr_pid_t pid, uint32_t what, uint64_t timeout_ms, uint64_t *ref) {
  if (!tr__in_handler(ctx) || !ref || timeout_ms > TR_TIMER_MAX_MS)
    return TR_EINVAL;
  uint64_t r;
  int rc = tr__request_begin(ctx, timeout_ms, &r);
  if (rc)
    return rc;
  if (!tr__signal_send(ctx, pid, TR_SIG_INSPECT, what, r, NULL)) {
    tr__request_abort(ctx, r);
    return TR_ENOENT;
  }
  *ref = r;
  return 0;
}

int tr_inspect(tr_ctx_t *ctx, tr_pid_t pid, uint64_t timeout_ms, uint64_t *ref) {
  return tr__inspect(ctx, pid, TR_INSPECT_STATE, timeout_ms, ref);
}
