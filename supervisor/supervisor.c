/* Supervisors (include/troupe/supervisor.h), modelled on Erlang/OTP's supervisor. A
 * supervisor is an ordinary actor built only on the public API: it traps exits, links to
 * every child it spawns, and turns each child's EXIT message into a decision (restart
 * policy, then strategy, bounded by the restart intensity). Handlers never block, so
 * stopping children is a small state machine, the "sweep": children marked `to_stop` are
 * stopped one at a time, highest spec index first (reverse start order), each with an exit
 * signal `shutdown` and a private kill timer of shutdown_ms; the child's EXIT message (never
 * a guess) ends its wait, so a restarted child never overlaps the one it replaces and its
 * registered name is free again. When the sweep drains, the supervisor either restarts a
 * range of children or exits. A child that dies while a sweep runs is only marked stopped;
 * its restart, if due, waits (`pending`) until the sweep is over, so decisions are taken one
 * at a time, in the order the exits arrived.
 *
 * Children are identified by their spec index; "start order" is spec order, as in Erlang,
 * whatever order restarts happened in. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "troupe.h"

/* Nesting of supervisor specs that validation follows: deeper than any sensible tree, and
 * it turns a spec that contains itself (an infinite tree) into TR_EINVAL instead of a
 * stack overflow. */
#define SUP_MAX_DEPTH 16
/* Largest restart intensity accepted: the supervisor keeps intensity + 1 restart times, so
 * this bounds that array (80 KiB); more restarts per period than this is a restart loop. */
#define SUP_MAX_INTENSITY 10000u
/* Private tags: a client asking for a child's pid, a child's shutdown time running out, and
 * a failed restart being retried. '$' keeps them apart from application atoms. */
#define SUP_ATOM_WHICH "$sup.which"
#define SUP_ATOM_KILL "$sup.kill"
#define SUP_ATOM_RETRY "$sup.retry"
/* A supervisor started from outside tells its starter how the start of its children went. */
#define SUP_ATOM_STARTED "$sup.started"
/* A caller outside the pool asks a supervisor to stop (tr_supervisor_stop), and is told once
 * its children have stopped. */
#define SUP_ATOM_STOP "$sup.stop"
#define SUP_ATOM_STOPPED "$sup.stopped"
/* Stop callers told at the sweep's end; more (not a real use) learn it from the exit. */
#define SUP_STOP_WAITERS 4
/* How often a starter waiting for that answer checks that the supervisor still lives (one
 * killed before its init ran never answers). */
#define SUP_START_POLL_MS 100
#define SUP_NONE SIZE_MAX

typedef struct {
  const tr_child_spec_t *spec;
  tr_pid_t pid;      /* TR_PID_NONE while not running */
  uint64_t restarts; /* times started again after the first start (for inspect) */
  bool gone;         /* a temporary child that ended: never started again */
  bool to_stop;      /* to be stopped by the current sweep */
  bool pending;      /* died needing a restart while a sweep ran; handled after it */
  bool retry;        /* its restart failed; retried when the retry message arrives */
} child_t;

/* What happens when a sweep has stopped every child marked to_stop. */
typedef enum { AFTER_NONE, AFTER_RESTART, AFTER_EXIT } after_t;

typedef struct {
  const tr_supervisor_spec_t *spec;
  tr_pid_t parent; /* the linked caller of tr_supervisor_start, or none */
  tr_atom_t which, kill, retry, stop;
  tr_pid_t stop_waiters[SUP_STOP_WAITERS]; /* callers of tr_supervisor_stop to tell */
  size_t nstop_waiters;
  child_t *kids;  /* spec->nchildren */
  uint64_t *hist; /* ring of recent restart times (ns): spec->intensity + 1 slots */
  size_t hist_head, hist_len;
  after_t after;                   /* AFTER_NONE: no sweep is running */
  size_t restart_from, restart_to; /* AFTER_RESTART: the range [from, to) to start again */
  tr_reason_t final;               /* AFTER_EXIT: the reason to exit with */
  size_t current;                  /* the child the sweep waits for, or SUP_NONE */
  tr_timer_t timer;                /* current's kill timer, when armed */
  bool timer_armed;
} sup_t;

static const tr_behaviour_t sup_behaviour;
static void stop_next(tr_ctx_t *ctx, sup_t *s);

/* ---- validation and spawning ---- */

static bool valid_child(const tr_child_spec_t *c, const tr_child_spec_t *kids, size_t k) {
  if (!c->id || !*c->id || (!c->behaviour) == (!c->supervisor))
    return false;
  if (c->behaviour && !c->behaviour->receive)
    return false;
  if ((unsigned)c->restart > TR_RESTART_TEMPORARY || (c->init_len && !c->init))
    return false;
  if (c->name && (!*c->name || strlen(c->name) > TR_NAME_MAX))
    return false;
  for (size_t j = 0; j < k; j++) /* ids name children: they must be unique */
    if (strcmp(kids[j].id, c->id) == 0)
      return false;
  return true;
}

static bool valid_spec(const tr_supervisor_spec_t *spec, unsigned depth) {
  if (!spec || depth > SUP_MAX_DEPTH || (unsigned)spec->strategy > TR_REST_FOR_ONE)
    return false;
  if (spec->intensity > SUP_MAX_INTENSITY || spec->period_ms == 0)
    return false;
  if (spec->nchildren && !spec->children)
    return false;
  for (size_t k = 0; k < spec->nchildren; k++) {
    const tr_child_spec_t *c = &spec->children[k];
    if (!valid_child(c, spec->children, k))
      return false;
    if (c->supervisor && !valid_spec(c->supervisor, depth + 1))
      return false;
  }
  return true;
}

/* The init payload carries the spec pointer, the parent's pid (none when unlinked) and the
 * starter's (a client waiting for SUP_ATOM_STARTED, or none). */
static int spawn_sup(tr_ctx_t *ctx, const tr_supervisor_spec_t *spec, const tr_spawn_opts_t *opts,
                     tr_pid_t parent, tr_pid_t starter, tr_pid_t *out) {
  unsigned char buf[48];
  size_t len;
  int rc = tr_pack_into(buf, sizeof buf, &len, "[uuu]", (uint64_t)(uintptr_t)spec, parent.id,
                        starter.id);
  /* A supervisor is never muted: a full child mailbox must not stop it restarting others. */
  tr_spawn_opts_t o = *opts;
  o.unmutable = true;
  return rc ? rc : tr_spawn_opts(ctx, &sup_behaviour, buf, len, &o, out);
}

/* Spawn a supervisor for spec from a handler, registered under name when not NULL, and
 * linked to the caller. */
static int start_sup(tr_ctx_t *ctx, const tr_supervisor_spec_t *spec, const char *name,
                     tr_pid_t *out) {
  tr_spawn_opts_t opts = {.link = true, .name = name};
  return spawn_sup(ctx, spec, &opts, tr_self(ctx), TR_PID_NONE, out);
}

/* The start's answer, from a client that waits for it; TR_ENOENT when the supervisor is gone
 * without answering. */
/* Wait on client c for the supervisor pid's answer `tag` (an error code) and return it;
 * `gone` when the supervisor is found gone first (looked for every SUP_START_POLL_MS). */
static int await_answer(tr_system_t *sys, tr_client_t *c, tr_pid_t pid, tr_atom_t tag, int gone) {
  for (;;) {
    tr_msg_t *m = NULL;
    int rc = tr_client_receive(c, SUP_START_POLL_MS, &m);
    if (rc == TR_ETIMEDOUT) {
      tr_actor_info_t info;
      if (tr_actor_info(sys, pid, &info) == TR_ENOENT)
        return gone;
      continue;
    }
    if (rc != 0)
      return rc;
    int64_t result = TR_EPROTO;
    bool answer = tr_msg_tag(m) == tag && tr_msg_unpack(m, "i", &result) == 0;
    tr_msg_free(m);
    if (answer)
      return (int)result;
  }
}

/* From outside the pool: spawn the supervisor and wait until it has started its children,
 * as OTP's start_link does. */
static int start_and_wait(tr_ctx_t *ctx, const tr_supervisor_spec_t *spec, tr_pid_t *out) {
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_atom_t started = tr_atom(sys, SUP_ATOM_STARTED);
  if (!started)
    return TR_ELIMIT;
  tr_client_t *c;
  int rc = tr_client_open(sys, &c);
  if (rc)
    return rc;
  tr_pid_t pid;
  tr_spawn_opts_t opts = {0};
  rc = spawn_sup(ctx, spec, &opts, TR_PID_NONE, tr_client_pid(c), &pid);
  if (rc == 0)
    rc = await_answer(sys, c, pid, started, TR_ENOENT);
  tr_client_close(c);
  if (rc == 0 && out)
    *out = pid;
  return rc;
}

int tr_supervisor_start(tr_ctx_t *ctx, const tr_supervisor_spec_t *spec, tr_pid_t *out) {
  if (!ctx || !valid_spec(spec, 0))
    return TR_EINVAL;
  /* Linked only to an actor: a client has a pid but no handler to link from. */
  return tr_ctx_in_handler(ctx) ? start_sup(ctx, spec, NULL, out) : start_and_wait(ctx, spec, out);
}

static int start_child(tr_ctx_t *ctx, child_t *c) {
  const tr_child_spec_t *cs = c->spec;
  tr_pid_t pid;
  int rc;
  if (cs->supervisor) {
    rc = start_sup(ctx, cs->supervisor, cs->name, &pid); /* valid: checked with its parent */
  } else {
    tr_spawn_opts_t opts = {.link = true, .name = cs->name};
    rc = tr_spawn_opts(ctx, cs->behaviour, cs->init, cs->init_len, &opts, &pid);
  }
  if (rc == 0)
    c->pid = pid;
  return rc;
}

/* ---- restart decisions ---- */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Record one restart now. False when that makes more than `intensity` restarts within
 * `period_ms` (Erlang's reached_max_restart_intensity). */
static bool add_restart(sup_t *s) {
  size_t cap = (size_t)s->spec->intensity + 1;
  uint64_t now = now_ns(), period = (uint64_t)s->spec->period_ms * 1000000u;
  while (s->hist_len && now - s->hist[s->hist_head] >= period) {
    s->hist_head = (s->hist_head + 1) % cap;
    s->hist_len--;
  }
  if (s->hist_len == cap - 1)
    return false;
  s->hist[(s->hist_head + s->hist_len) % cap] = now;
  s->hist_len++;
  return true;
}

static bool wants_restart(tr_restart_t restart, const tr_reason_t *reason) {
  switch (restart) {
  case TR_RESTART_PERMANENT:
    return true;
  case TR_RESTART_TRANSIENT:
    return reason->kind != TR_REASON_NORMAL && reason->kind != TR_REASON_SHUTDOWN;
  default:
    return false;
  }
}

/* Start the non-running, not gone children of [from, to) in start order. A failed start
 * ends the range: the child is retried through a message (counting against the intensity
 * again), unless the whole system is stopping, when there is nothing left to do. */
static void restart_range(tr_ctx_t *ctx, sup_t *s, size_t from, size_t to) {
  for (size_t j = from; j < to; j++) {
    child_t *c = &s->kids[j];
    c->pending = false;
    if (c->gone || !tr_pid_is_none(c->pid))
      continue;
    int rc = start_child(ctx, c);
    if (rc == TR_ESTOPPED)
      return;
    if (rc != 0) {
      tr_log(TR_LOG_WARN, "supervisor %016" PRIx64 ": restarting child %s failed: %s",
             tr_self(ctx).id, c->spec->id, tr_strerror(rc));
      c->retry = true;
      tr_send(ctx, tr_self(ctx), s->retry, NULL, 0);
      return;
    }
    c->restarts++;
  }
}

/* Begin a sweep stopping the running children of [from, to) (all but `except`). */
static void sweep(tr_ctx_t *ctx, sup_t *s, size_t from, size_t to, size_t except, after_t after) {
  for (size_t j = from; j < to; j++)
    if (j != except && !tr_pid_is_none(s->kids[j].pid))
      s->kids[j].to_stop = true;
  s->after = after;
  stop_next(ctx, s);
}

/* Stop every child, then exit with `reason`. A sweep already running is taken over: the
 * child it waits for is still waited for, and restarts it planned are dropped. */
static void shut_down(tr_ctx_t *ctx, sup_t *s, const tr_reason_t *reason) {
  if (s->after == AFTER_EXIT)
    return;
  s->final = *reason;
  for (size_t j = 0; j < s->spec->nchildren; j++)
    s->kids[j].pending = s->kids[j].retry = false;
  sweep(ctx, s, 0, s->spec->nchildren, SUP_NONE, AFTER_EXIT);
}

/* Child i exited and its policy wants a restart: count it, then apply the strategy. */
static void restart(tr_ctx_t *ctx, sup_t *s, size_t i) {
  const tr_supervisor_spec_t *spec = s->spec;
  if (!add_restart(s)) {
    tr_log(TR_LOG_WARN,
           "supervisor %016" PRIx64 ": more than %" PRIu32 " restarts in %" PRIu32
           " ms (last: child %s); shutting down",
           tr_self(ctx).id, spec->intensity, spec->period_ms, s->kids[i].spec->id);
    tr_reason_t r;
    shut_down(ctx, s, tr_reason_set(&r, TR_REASON_SHUTDOWN, 0, "restart intensity reached"));
    return;
  }
  switch (spec->strategy) {
  case TR_ONE_FOR_ONE:
    restart_range(ctx, s, i, i + 1);
    return;
  case TR_ONE_FOR_ALL:
    s->restart_from = 0;
    break;
  case TR_REST_FOR_ONE:
    s->restart_from = i;
    break;
  }
  s->restart_to = spec->nchildren;
  sweep(ctx, s, s->restart_from, spec->nchildren, i, AFTER_RESTART);
}

/* Restarts that came due while a sweep ran, in spec order, while no sweep runs. */
static void run_pending(tr_ctx_t *ctx, sup_t *s) {
  for (size_t j = 0; j < s->spec->nchildren && s->after == AFTER_NONE; j++) {
    if (s->kids[j].pending) {
      s->kids[j].pending = false;
      restart(ctx, s, j);
    }
  }
}

/* ---- the sweep ---- */

static void sweep_done(tr_ctx_t *ctx, sup_t *s) {
  after_t after = s->after;
  s->after = AFTER_NONE;
  if (after == AFTER_EXIT) {
    s->after = AFTER_EXIT; /* stay put until the exit takes effect */
    tr_atom_t stopped = tr_atom(tr_ctx_system(ctx), SUP_ATOM_STOPPED);
    for (size_t k = 0; stopped && k < s->nstop_waiters; k++)
      tr_sendf(ctx, s->stop_waiters[k], stopped, "i", (int64_t)0);
    tr_stop_reason(ctx, &s->final);
    return;
  }
  if (after == AFTER_RESTART)
    restart_range(ctx, s, s->restart_from, s->restart_to);
  run_pending(ctx, s);
}

/* Send the exit signal that stops child j; on shutdown_ms > 0 arm its kill timer. */
static int signal_stop(tr_ctx_t *ctx, sup_t *s, size_t j) {
  child_t *c = &s->kids[j];
  tr_reason_t r;
  s->timer_armed = false;
  if (c->spec->shutdown_ms > 0) {
    unsigned char buf[32];
    size_t len;
    if (tr_pack_into(buf, sizeof buf, &len, "[uu]", (uint64_t)j, c->pid.id) == 0 &&
        tr_send_after(ctx, c->spec->shutdown_ms, tr_self(ctx), s->kill, buf, len, &s->timer) == 0)
      s->timer_armed = true;
  }
  /* Without a timer nothing would end a wait for a child that ignores shutdown: kill. */
  tr_reason_kind_t kind = s->timer_armed ? TR_REASON_SHUTDOWN : TR_REASON_KILLED;
  return tr_exit(ctx, c->pid, tr_reason_set(&r, kind, 0, NULL));
}

/* Stop the highest-indexed child still marked, or finish the sweep when none is left. One
 * child at a time: nothing happens while the sweep waits for the current one's EXIT. */
static void stop_next(tr_ctx_t *ctx, sup_t *s) {
  if (s->current != SUP_NONE)
    return;
  size_t j = s->spec->nchildren;
  while (j > 0 && !(s->kids[j - 1].to_stop && !tr_pid_is_none(s->kids[j - 1].pid)))
    j--;
  if (j == 0) {
    for (size_t k = 0; k < s->spec->nchildren; k++)
      s->kids[k].to_stop = false;
    sweep_done(ctx, s);
    return;
  }
  child_t *c = &s->kids[j - 1];
  c->to_stop = false;
  s->current = j - 1;
  /* Only a stopped system (which ends the child itself) or a lack of memory refuses the
   * signal. Either way the child's EXIT, which its link guarantees, still ends the wait;
   * forgetting the child instead would turn that EXIT into a stranger's. */
  int rc = signal_stop(ctx, s, j - 1);
  if (rc != 0)
    tr_log(TR_LOG_WARN, "supervisor %016" PRIx64 ": cannot signal child %s: %s", tr_self(ctx).id,
           c->spec->id, tr_strerror(rc));
}

/* ---- messages ---- */

static void on_child_exit(tr_ctx_t *ctx, sup_t *s, size_t i, const tr_reason_t *reason) {
  child_t *c = &s->kids[i];
  bool again = wants_restart(c->spec->restart, reason);
  c->pid = TR_PID_NONE;
  if (c->spec->restart == TR_RESTART_TEMPORARY)
    c->gone = true;
  if (s->current == i) { /* the child the sweep stopped */
    if (s->timer_armed)
      tr_timer_cancel(ctx, s->timer);
    s->timer_armed = false;
    s->current = SUP_NONE;
    stop_next(ctx, s);
    return;
  }
  if (c->to_stop) { /* it went before its turn; the sweep's restart covers it */
    c->to_stop = false;
    return;
  }
  if (!again || s->after == AFTER_EXIT)
    return;
  if (s->after == AFTER_RESTART)
    c->pending = true;
  else
    restart(ctx, s, i);
}

static size_t find_pid(const sup_t *s, tr_pid_t pid) {
  for (size_t j = 0; j < s->spec->nchildren; j++)
    if (tr_pid_eq(s->kids[j].pid, pid))
      return j;
  return SUP_NONE;
}

/* An exit signal: from a child, from the parent (stop everything, exit shutdown), or from
 * anyone else: ignored when normal, else obeyed after stopping the children in order, with
 * its reason, as an actor that did not trap exits would (tr_exit(sup, shutdown) stops a
 * tree cleanly). */
static void on_exit_msg(tr_ctx_t *ctx, sup_t *s, const tr_msg_t *m) {
  tr_pid_t from;
  tr_reason_t reason;
  if (tr_msg_exit(m, &from, &reason) != 0)
    return;
  size_t i = tr_pid_is_none(from) ? SUP_NONE : find_pid(s, from);
  if (i != SUP_NONE) {
    on_child_exit(ctx, s, i, &reason);
    return;
  }
  if (!tr_pid_is_none(from) && tr_pid_eq(from, s->parent))
    tr_reason_set(&reason, TR_REASON_SHUTDOWN, 0, "parent exited");
  else if (reason.kind == TR_REASON_NORMAL)
    return;
  shut_down(ctx, s, &reason);
}

/* The kill timer of the child the sweep waits for: it ignored shutdown for shutdown_ms. */
static void on_kill(tr_ctx_t *ctx, sup_t *s, const tr_msg_t *m) {
  uint64_t j, pid;
  if (tr_msg_unpack(m, "[uu]", &j, &pid) != 0 || j >= s->spec->nchildren || j != s->current ||
      s->kids[j].pid.id != pid)
    return;
  s->timer_armed = false;
  tr_log(TR_LOG_INFO,
         "supervisor %016" PRIx64 ": child %s ignored shutdown for %" PRIu32 " ms; killing it",
         tr_self(ctx).id, s->kids[j].spec->id, s->kids[j].spec->shutdown_ms);
  tr_reason_t r;
  tr_exit(ctx, s->kids[j].pid, tr_reason_set(&r, TR_REASON_KILLED, 0, NULL));
}

static void on_retry(tr_ctx_t *ctx, sup_t *s) {
  if (s->after == AFTER_EXIT)
    return;
  for (size_t j = 0; j < s->spec->nchildren; j++) {
    if (s->kids[j].retry) {
      s->kids[j].retry = false;
      s->kids[j].pending = true;
    }
  }
  if (s->after == AFTER_NONE)
    run_pending(ctx, s);
}

/* tr_supervisor_child's request: reply [error, pid]. */
static void on_which(tr_ctx_t *ctx, const sup_t *s, const tr_msg_t *m) {
  const char *id;
  size_t len;
  if (tr_msg_unpack(m, "s", &id, &len) != 0) {
    tr_replyf(ctx, m, 0, "[iu]", (int64_t)TR_EINVAL, (uint64_t)0);
    return;
  }
  for (size_t j = 0; j < s->spec->nchildren; j++) {
    const char *cid = s->kids[j].spec->id;
    if (strlen(cid) == len && memcmp(cid, id, len) == 0) {
      tr_replyf(ctx, m, 0, "[iu]", (int64_t)0, s->kids[j].pid.id);
      return;
    }
  }
  tr_replyf(ctx, m, 0, "[iu]", (int64_t)TR_ENOENT, (uint64_t)0);
}

/* ---- the behaviour ---- */

/* Tell a waiting starter (if any) how the start went. */
static void answer_starter(tr_ctx_t *ctx, tr_pid_t starter, int rc) {
  tr_atom_t started = tr_atom(tr_ctx_system(ctx), SUP_ATOM_STARTED);
  if (!tr_pid_is_none(starter) && started)
    tr_sendf(ctx, starter, started, "i", (int64_t)rc);
}

static int sup_setup(tr_ctx_t *ctx, void *state, const tr_supervisor_spec_t *spec,
                     tr_pid_t parent) {
  tr_system_t *sys = tr_ctx_system(ctx);
  sup_t *s = calloc(1, sizeof *s);
  if (!s)
    return TR_ENOMEM;
  s->kids = calloc(spec->nchildren ? spec->nchildren : 1, sizeof *s->kids);
  s->hist = calloc((size_t)spec->intensity + 1, sizeof *s->hist);
  s->which = tr_atom(sys, SUP_ATOM_WHICH);
  s->kill = tr_atom(sys, SUP_ATOM_KILL);
  s->retry = tr_atom(sys, SUP_ATOM_RETRY);
  s->stop = tr_atom(sys, SUP_ATOM_STOP);
  if (!s->kids || !s->hist || !s->which || !s->kill || !s->retry || !s->stop) {
    free(s->kids);
    free(s->hist);
    free(s);
    return TR_ENOMEM;
  }
  *(sup_t **)state = s;
  s->spec = spec;
  s->parent = parent;
  s->current = SUP_NONE;
  for (size_t j = 0; j < spec->nchildren; j++)
    s->kids[j].spec = &spec->children[j];
  return 0;
}

static int sup_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  uint64_t spec_u, parent, starter;
  if (tr_msg_unpack(init, "[uuu]", &spec_u, &parent, &starter) != 0)
    return TR_EINVAL;
  const tr_supervisor_spec_t *spec = (const tr_supervisor_spec_t *)(uintptr_t)spec_u;
  int rc = sup_setup(ctx, state, spec, (tr_pid_t){parent});
  if (rc != 0) {
    answer_starter(ctx, (tr_pid_t){starter}, rc);
    return rc;
  }
  sup_t *s = *(sup_t **)state;
  tr_trap_exit(ctx, true);
  for (size_t j = 0; j < spec->nchildren && rc == 0; j++) {
    if ((rc = start_child(ctx, &s->kids[j])) != 0) {
      tr_log(TR_LOG_WARN, "supervisor %016" PRIx64 ": starting child %s failed: %s",
             tr_self(ctx).id, spec->children[j].id, tr_strerror(rc));
      tr_reason_t r;
      shut_down(ctx, s, tr_reason_set(&r, TR_REASON_ERROR, rc, "a child failed to start"));
    }
  }
  answer_starter(ctx, (tr_pid_t){starter}, rc);
  return 0;
}

/* tr_supervisor_stop's request, [the caller's client pid]: stop everything, exit shutdown,
 * and tell the caller once the children have stopped. */
static void on_stop(tr_ctx_t *ctx, sup_t *s, const tr_msg_t *m) {
  uint64_t waiter;
  if (tr_msg_unpack(m, "u", &waiter) == 0 && s->nstop_waiters < SUP_STOP_WAITERS)
    s->stop_waiters[s->nstop_waiters++] = (tr_pid_t){waiter};
  tr_reason_t reason;
  shut_down(ctx, s, tr_reason_set(&reason, TR_REASON_SHUTDOWN, 0, "stopped"));
}

static int sup_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  sup_t *s = *(sup_t **)state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == TR_ATOM_EXIT)
    on_exit_msg(ctx, s, m);
  else if (tag == s->which)
    on_which(ctx, s, m);
  else if (tag == s->kill)
    on_kill(ctx, s, m);
  else if (tag == s->retry)
    on_retry(ctx, s);
  else if (tag == s->stop)
    on_stop(ctx, s, m);
  return 0;
}

static void sup_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)ctx;
  (void)reason;
  sup_t *s = *(sup_t **)state;
  if (!s)
    return;
  free(s->kids);
  free(s->hist);
  free(s);
  *(sup_t **)state = NULL;
}

/* ---- inspect ---- */

static int pack_str(msgpack_packer *pk, const char *str) {
  size_t n = strlen(str);
  return msgpack_pack_str(pk, n) | msgpack_pack_str_body(pk, str, n);
}

static int pack_child(msgpack_packer *pk, const child_t *c) {
  static const char *const restarts[] = {"permanent", "transient", "temporary"};
  const char *status = !tr_pid_is_none(c->pid) ? "running" : c->gone ? "gone" : "stopped";
  int rc = msgpack_pack_map(pk, 6);
  rc |= pack_str(pk, "id") | pack_str(pk, c->spec->id);
  rc |= pack_str(pk, "pid") | msgpack_pack_uint64(pk, c->pid.id);
  rc |= pack_str(pk, "status") | pack_str(pk, status);
  rc |= pack_str(pk, "restart") | pack_str(pk, restarts[c->spec->restart]);
  rc |= pack_str(pk, "restarts") | msgpack_pack_uint64(pk, c->restarts);
  rc |= pack_str(pk, "supervisor");
  rc |= c->spec->supervisor ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  return rc;
}

static int sup_inspect(const void *state, msgpack_packer *pk) {
  static const char *const strategies[] = {"one_for_one", "one_for_all", "rest_for_one"};
  static const char *const phases[] = {"running", "restarting", "shutting_down"};
  const sup_t *s = *(sup_t *const *)state;
  if (!s)
    return msgpack_pack_nil(pk);
  int rc = msgpack_pack_map(pk, 6);
  rc |= pack_str(pk, "strategy") | pack_str(pk, strategies[s->spec->strategy]);
  rc |= pack_str(pk, "intensity") | msgpack_pack_uint32(pk, s->spec->intensity);
  rc |= pack_str(pk, "period_ms") | msgpack_pack_uint32(pk, s->spec->period_ms);
  rc |= pack_str(pk, "recent_restarts") | msgpack_pack_uint64(pk, s->hist_len);
  rc |= pack_str(pk, "phase") | pack_str(pk, phases[s->after]);
  rc |= pack_str(pk, "children") | msgpack_pack_array(pk, s->spec->nchildren);
  for (size_t j = 0; j < s->spec->nchildren; j++)
    rc |= pack_child(pk, &s->kids[j]);
  return rc ? TR_ENOMEM : 0;
}

static const tr_behaviour_t sup_behaviour = {
    .name = "supervisor",
    .state_size = sizeof(sup_t *),
    .init = sup_init,
    .receive = sup_receive,
    .terminate = sup_terminate,
    .inspect = sup_inspect,
};

/* ---- asking from outside ---- */

int tr_supervisor_stop(tr_ctx_t *ctx, tr_pid_t sup) {
  if (!ctx || tr_ctx_in_handler(ctx))
    return TR_EINVAL; /* a handler must not wait: tr_exit(sup, shutdown) does it unwaited */
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_atom_t stop = tr_atom(sys, SUP_ATOM_STOP), stopped = tr_atom(sys, SUP_ATOM_STOPPED);
  if (!stop || !stopped)
    return TR_ELIMIT;
  tr_client_t *c;
  int rc = tr_client_open(sys, &c);
  if (rc)
    return rc;
  rc = tr_sendf(tr_client_ctx(c), sup, stop, "u", tr_client_pid(c).id);
  if (rc == 0)
    rc = await_answer(sys, c, sup, stopped, 0); /* gone already, or stopped: done either way */
  tr_client_close(c);
  return rc;
}

int tr_supervisor_child(tr_client_t *c, tr_pid_t sup, const char *id, int timeout_ms,
                        tr_pid_t *out) {
  if (!c || !id || !out)
    return TR_EINVAL;
  *out = TR_PID_NONE;
  tr_atom_t which = tr_atom(tr_ctx_system(tr_client_ctx(c)), SUP_ATOM_WHICH);
  if (!which)
    return TR_ELIMIT;
  void *buf;
  size_t len;
  int rc = tr_pack(&buf, &len, "s", id);
  if (rc)
    return rc;
  tr_msg_t *reply = NULL;
  rc = tr_client_request(c, sup, which, buf, len, timeout_ms, &reply);
  free(buf);
  if (rc)
    return rc;
  int64_t err;
  uint64_t pid;
  rc = tr_msg_unpack(reply, "[iu]", &err, &pid);
  tr_msg_free(reply);
  if (rc)
    return rc;
  if (err)
    return (int)err;
  *out = (tr_pid_t){pid};
  return 0;
}
