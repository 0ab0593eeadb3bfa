/* The text of GET /metrics: the Prometheus exposition format 0.0.4, every series labelled
 * with the node's name. Counters come from where the runtime already keeps them (the
 * workers' own counters, the actors' as tr_actor_foreach reads them, the listeners' and the
 * timers' on the I/O thread, the cluster's links); nothing is counted here. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/io.h"
#include "metrics/metrics.h"
#include "troupe/cluster.h"
#include "troupe/net.h"
#include "troupe/version.h"

/* The deepest mailboxes shown one by one. */
#define TOP_N 10u
/* Listeners and links read per scrape. */
#define LISTENERS_MAX 64u
#define LINKS_MAX 256u

/* ---- text ---- */

void tr__text_bytes(tr_text_t *t, const void *p, size_t n) {
  if (t->oom)
    return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + n + 1)
      cap *= 2;
    char *grown = realloc(t->p, cap);
    if (!grown) {
      t->oom = true;
      return;
    }
    t->p = grown;
    t->cap = cap;
  }
  memcpy(t->p + t->len, p, n);
  t->len += n;
  t->p[t->len] = '\0';
}

void tr__text_add(tr_text_t *t, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    tr__text_bytes(t, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    t->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  tr__text_bytes(t, big, (size_t)n);
  free(big);
}

void tr__text_free(tr_text_t *t) {
  free(t->p);
  memset(t, 0, sizeof *t);
}

/* ---- the exposition ---- */

typedef struct {
  tr_text_t *t;
  char node[TR_NODE_NAME_MAX + 16]; /* `node="..."` */
} out_t;

static void family(out_t *o, const char *name, const char *type, const char *help) {
  tr__text_add(o->t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample; `labels` are more labels ("" for none), already escaped. */
static void sample(out_t *o, const char *name, const char *labels, uint64_t v) {
  tr__text_add(o->t, "%s{%s%s%s} %" PRIu64 "\n", name, o->node, *labels ? "," : "", labels, v);
}

static void sample_f(out_t *o, const char *name, const char *labels, double v) {
  tr__text_add(o->t, "%s{%s%s%s} %.6f\n", name, o->node, *labels ? "," : "", labels, v);
}

static void one(out_t *o, const char *name, const char *type, const char *help, uint64_t v) {
  family(o, name, type, help);
  sample(o, name, "", v);
}

/* A label value with \, " and newlines escaped, as the format wants; cut to fit. */
static void escape(char *out, size_t cap, const char *in) {
  size_t n = 0;
  for (; *in && n + 3 < cap; in++) {
    if (*in == '\\' || *in == '"' || *in == '\n') {
      out[n++] = '\\';
      out[n++] = *in == '\n' ? 'n' : *in;
    } else {
      out[n++] = *in;
    }
  }
  out[n] = '\0';
}

/* ---- actors ---- */

typedef struct {
  uint64_t queued, muted, max_depth;
  tr_actor_info_t top[TOP_N];
  uint32_t ntop;
} walk_t;

static int visit(const tr_actor_info_t *a, void *arg) {
  walk_t *w = arg;
  w->queued += a->mailbox;
  w->muted += a->muted;
  if (a->mailbox > w->max_depth)
    w->max_depth = a->mailbox;
  if (a->mailbox == 0)
    return 0;
  /* Keep the TOP_N deepest, deepest first. */
  uint32_t at = w->ntop;
  while (at > 0 && w->top[at - 1].mailbox < a->mailbox)
    at--;
  if (at == TOP_N)
    return 0;
  uint32_t keep = w->ntop < TOP_N ? w->ntop : TOP_N - 1;
  memmove(&w->top[at + 1], &w->top[at], (keep - at) * sizeof w->top[0]);
  w->top[at] = *a;
  if (w->ntop < TOP_N)
    w->ntop++;
  return 0;
}

static void actors(tr_ctx_t *ctx, out_t *o) {
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_stats_t st;
  tr_system_stats(sys, &st);
  uint64_t sent = 0;
  for (unsigned k = 0; k < sys->sched.n; k++)
    sent += atomic_load_explicit(&sys->locals[k].sent, memory_order_relaxed);
  one(o, "troupe_actors", "gauge", "Actors alive.", st.actors);
  one(o, "troupe_actors_spawned_total", "counter", "Actors spawned.", st.spawned);
  one(o, "troupe_actors_exited_total", "counter", "Actors that exited.", st.exited);
  one(o, "troupe_messages_handled_total", "counter", "Messages handlers took from mailboxes.",
      st.messages);
  one(o, "troupe_messages_sent_total", "counter", "Messages sent by handlers.", sent);
  family(o, "troupe_dead_letters_total", "counter",
         "Messages that reached no actor, by where they were lost.");
  sample(o, "troupe_dead_letters_total", "where=\"local\"", st.dead_letters);
  tr_cluster_stats_t cs;
  if (tr_cluster_stats(sys, &cs) == 0) {
    sample(o, "troupe_dead_letters_total", "where=\"no_connection\"", cs.dead_noconn);
    sample(o, "troupe_dead_letters_total", "where=\"unknown_tag\"", cs.dropped_unknown);
  }
  one(o, "troupe_memory_bytes", "gauge", "Bytes held by actors, envelopes and tables (approx.).",
      st.memory);

  walk_t w = {0};
  tr_actor_foreach(sys, visit, &w);
  one(o, "troupe_mailbox_messages", "gauge", "Messages queued in all mailboxes.", w.queued);
  one(o, "troupe_mailbox_depth_max", "gauge", "The deepest mailbox.", w.max_depth);
  family(o, "troupe_mailbox_depth", "gauge", "The deepest mailboxes, one series each.");
  for (uint32_t i = 0; i < w.ntop; i++) {
    char name[2 * TR_NAME_MAX + 4], beh[128], labels[400];
    escape(name, sizeof name, w.top[i].name[0] ? w.top[i].name : "-");
    escape(beh, sizeof beh, w.top[i].behaviour);
    snprintf(labels, sizeof labels, "pid=\"0x%" PRIx64 "\",name=\"%s\",behaviour=\"%s\"",
             w.top[i].pid.id, name, beh);
    sample(o, "troupe_mailbox_depth", labels, w.top[i].mailbox);
  }
  one(o, "troupe_actors_muted", "gauge", "Actors muted by an overloaded mailbox or link.", w.muted);
}

/* ---- scheduler ---- */

static void scheduler(tr_ctx_t *ctx, out_t *o) {
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_sched_t *s = &sys->sched;
  static const struct {
    const char *name, *help;
  } per[] = {
      {"troupe_worker_turns_total", "Actor turns a worker ran."},
      {"troupe_worker_steals_total", "Successful steals by a worker."},
      {"troupe_worker_parks_total", "Times a worker went to sleep."},
      {"troupe_worker_busy_seconds_total", "Time a worker spent in callbacks (sampled)."},
  };
  for (unsigned f = 0; f < sizeof per / sizeof per[0]; f++) {
    family(o, per[f].name, "counter", per[f].help);
    for (unsigned k = 0; k < s->n; k++) {
      char labels[32];
      snprintf(labels, sizeof labels, "worker=\"%u\"", k);
      tr_worker_t *w = &s->workers[k];
      if (f == 3)
        sample_f(o, per[f].name, labels,
                 (double)tr__ticks_to_ns(
                     atomic_load_explicit(&sys->locals[k].busy_ticks, memory_order_relaxed)) /
                     1e9);
      else
        sample(o, per[f].name, labels,
               atomic_load_explicit(f == 0   ? &w->turns
                                    : f == 1 ? &w->steals
                                             : &w->parks,
                                    memory_order_relaxed));
    }
  }
  one(o, "troupe_scheduler_injected_total", "counter",
      "Actors made runnable from outside the pool.",
      atomic_load_explicit(&s->injected, memory_order_relaxed));
}

/* ---- the I/O thread's: timers ---- */

static int count_timers(tr_io_t *io, void *arg) {
  *(uint64_t *)arg = io->heap.n;
  return 0;
}

static void timers(tr_ctx_t *ctx, out_t *o) {
  uint64_t n = 0;
  if (tr__io_call(tr_ctx_system(ctx)->io, ctx, count_timers, &n) == 0)
    one(o, "troupe_timers_pending", "gauge", "Timers waiting to fire (the I/O thread's heap).", n);
}

/* ---- listeners ---- */

static void listeners(tr_ctx_t *ctx, out_t *o) {
  tr_listener_stats_t v[LISTENERS_MAX];
  size_t total = 0;
  if (tr_listener_stats(tr_ctx_system(ctx), v, LISTENERS_MAX, &total) != 0)
    return;
  size_t n = total < LISTENERS_MAX ? total : LISTENERS_MAX;
  static const struct {
    const char *name, *type, *help;
  } per[] = {
      {"troupe_listener_connections", "gauge", "Connections open now."},
      {"troupe_listener_accepted_total", "counter", "Connections accepted."},
      {"troupe_listener_refused_total", "counter", "Accepts that failed (no fd, memory, actor)."},
      {"troupe_listener_received_bytes_total", "counter", "Bytes read from its connections."},
      {"troupe_listener_sent_bytes_total", "counter", "Bytes written to its connections."},
      {"troupe_listener_slow_dropped_total", "counter",
       "Connections dropped for not reading their output."},
  };
  for (unsigned f = 0; f < sizeof per / sizeof per[0]; f++) {
    family(o, per[f].name, per[f].type, per[f].help);
    for (size_t i = 0; i < n; i++) {
      char addr[2 * TR_ADDR_MAX], beh[128], labels[400];
      escape(addr, sizeof addr, v[i].addr);
      escape(beh, sizeof beh, v[i].behaviour);
      snprintf(labels, sizeof labels, "listener=\"%s:%u\",behaviour=\"%s\"", addr, v[i].port, beh);
      uint64_t x = f == 0   ? v[i].open
                   : f == 1 ? v[i].accepted
                   : f == 2 ? v[i].refused
                   : f == 3 ? v[i].bytes_in
                   : f == 4 ? v[i].bytes_out
                            : v[i].dropped_slow;
      sample(o, per[f].name, labels, x);
    }
  }
}

/* ---- the cluster ---- */

static void cluster(tr_ctx_t *ctx, out_t *o) {
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_cluster_stats_t cs;
  if (tr_cluster_stats(sys, &cs) != 0)
    return; /* not a node */
  tr_link_info_t *v = malloc(LINKS_MAX * sizeof *v);
  size_t total = 0;
  if (!v || tr_cluster_links(sys, v, LINKS_MAX, &total) != 0) {
    free(v);
    return;
  }
  size_t n = total < LINKS_MAX ? total : LINKS_MAX;
  one(o, "troupe_cluster_refused_auth_total", "counter", "Handshakes refused.", cs.refused_auth);
  static const struct {
    const char *name, *type, *help;
  } per[] = {
      {"troupe_cluster_link_up", "gauge", "1 while the link to the peer is up."},
      {"troupe_cluster_link_rtt_seconds", "gauge", "The last heartbeat's round trip."},
      {"troupe_cluster_link_received_bytes_total", "counter", "Bytes read from the peer."},
      {"troupe_cluster_link_sent_bytes_total", "counter", "Bytes written to the peer."},
      {"troupe_cluster_link_received_frames_total", "counter", "Frames received."},
      {"troupe_cluster_link_sent_frames_total", "counter", "Frames queued for the peer."},
      {"troupe_cluster_link_queue_bytes", "gauge", "Bytes queued to be written."},
      {"troupe_cluster_link_muted", "gauge", "Actors muted on the link now."},
      {"troupe_cluster_link_dropped_total", "counter", "Frames or messages dropped, by reason."},
      {"troupe_cluster_link_reconnects_total", "counter", "Times the link came up again."},
  };
  for (unsigned f = 0; f < sizeof per / sizeof per[0]; f++) {
    family(o, per[f].name, per[f].type, per[f].help);
    for (size_t i = 0; i < n; i++) {
      const tr_link_info_t *l = &v[i];
      char labels[160];
      snprintf(labels, sizeof labels, "peer=\"%s\"", l->name); /* names are [A-Za-z0-9_.-] */
      if (f == 1) {
        sample_f(o, per[f].name, labels, (double)l->rtt_us / 1e6);
      } else if (f == 8) {
        static const char *const why[] = {"down", "full", "unknown_tag"};
        uint64_t x[] = {l->dropped_down, l->dropped_full, l->dropped_unknown};
        for (unsigned r = 0; r < 3; r++) {
          char more[200];
          snprintf(more, sizeof more, "%s,reason=\"%s\"", labels, why[r]);
          sample(o, per[f].name, more, x[r]);
        }
      } else {
        uint64_t x = f == 0   ? l->state == TR_LINK_UP
                     : f == 2 ? l->bytes_in
                     : f == 3 ? l->bytes_out
                     : f == 4 ? l->frames_in
                     : f == 5 ? l->frames_out
                     : f == 6 ? l->queue_bytes
                     : f == 7 ? l->muted
                              : l->reconnects;
        sample(o, per[f].name, labels, x);
      }
    }
  }
  free(v);
}

void tr__metrics_render(tr_ctx_t *ctx, tr_text_t *t) {
  tr_system_t *sys = tr_ctx_system(ctx);
  out_t o = {.t = t};
  const char *node = tr_node_name(sys);
  snprintf(o.node, sizeof o.node, "node=\"%s\"", node ? node : "");
  family(&o, "troupe_build_info", "gauge", "The troupe library serving these metrics.");
  tr__text_add(t, "troupe_build_info{%s,version=\"%s\"} 1\n", o.node, TR_VERSION_STRING);
  family(&o, "troupe_uptime_seconds", "gauge", "Seconds since the system started.");
  sample_f(&o, "troupe_uptime_seconds", "", (double)(tr__now_ns() - sys->start_ns) / 1e9);
  actors(ctx, &o);
  scheduler(ctx, &o);
  timers(ctx, &o);
  listeners(ctx, &o);
  cluster(ctx, &o);
}
