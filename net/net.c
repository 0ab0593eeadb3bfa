/* The net layer's state and its part of the I/O thread's loop (io/io.h): created when the
 * system starts (runtime/), its timers started on the loop's thread, and, when the system
 * stops, every socket closed silently and the state freed. Also the connection options. */
#include <string.h>
#include <unistd.h>

#include "net/net.h"

/* tr_config_t.out_budget, or its default: an eighth of the machine's memory. */
static size_t out_budget(const tr_system_t *sys) {
  if (sys->cfg.out_budget)
    return sys->cfg.out_budget;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  size_t ram = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
  return ram / 8 > TR_NET_OUT_BUDGET_MIN ? ram / 8 : TR_NET_OUT_BUDGET_MIN;
}

static void *create(tr_io_t *io) {
  tr_net_t *net = calloc(1, sizeof *net);
  if (!net)
    return NULL;
  net->io = io;
  net->out_budget = out_budget(io->sys);
  pthread_mutex_init(&net->mu, NULL);
  return net;
}

static int start(tr_io_t *io, void *state) {
  tr_net_t *net = state;
  uv_timer_init(&io->loop, &net->sweep);
  uv_timer_init(&io->loop, &net->resume);
  uv_timer_init(&io->loop, &net->accept_retry);
  net->sweep.data = net;
  net->resume.data = net;
  net->accept_retry.data = net;
  return 0;
}

static void discard(tr_io_t *io, void *state) {
  (void)io;
  tr_net_t *net = state;
  net->stopping = true;
  uint64_t k, v;
  for (uint32_t i = 0; tr__u64map_next(&net->listeners, &i, &k, &v);)
    tr__net_listener_close((tr_tcp_listener_t *)(uintptr_t)v);
  /* Closing may free c at once (when it holds no handle), so step before. */
  for (tr_tcp_conn_t *c = net->all, *next; c; c = next) {
    next = c->next;
    if (c->state != TR_CONN_CLOSING)
      tr__net_conn_close(c, 0, false);
    else if (c->tcp && !uv_is_closing((uv_handle_t *)c->tcp))
      tr__net_close_tcp(c->tcp); /* its shutdown is cancelled */
  }
}

static void destroy(tr_io_t *io, void *state) {
  (void)io;
  tr_net_t *net = state;
  /* The loop has run every close callback: nothing is left. */
  TR_ASSERT(net->all == NULL);
  tr__u64map_free(&net->owners);
  tr__u64map_free(&net->ports);
  tr__u64map_free(&net->conns);
  tr__u64map_free(&net->listeners);
  pthread_mutex_destroy(&net->mu);
  free(net);
}

static const tr_io_part_t net_part = {
    .name = "net", .create = create, .start = start, .discard = discard, .free = destroy};

int tr__net_attach(tr_system_t *sys) {
  void *state;
  return tr__io_attach(sys->io, &net_part, &state);
}

tr_net_t *tr__net_of(const tr_ctx_t *ctx) { return tr__io_part(ctx->sys->io, &net_part); }

/* ---- options ---- */

int tr__net_default_backlog(void) {
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
  int n = 0;
  if (f) {
    if (fscanf(f, "%d", &n) != 1)
      n = 0;
    fclose(f);
  }
  return n > 0 ? n : TR_NET_BACKLOG;
}

int tr__net_opts(const tr_conn_opts_t *in, tr_net_opts_t *out) {
  tr_conn_opts_t z = {0};
  if (!in)
    in = &z;
  if (!tr__codec_valid(&in->codec))
    return TR_EINVAL;
  out->codec.kind = in->codec.kind;
  out->codec.max = tr__codec_max(&in->codec);
  out->out_limit = in->out_limit ? in->out_limit : TR_NET_OUT_LIMIT;
  out->high_water = in->high_water ? in->high_water : TR_NET_HIGH_WATER;
  out->low_water = in->low_water ? in->low_water : out->high_water / 4;
  out->linger_ms = in->linger_ms ? in->linger_ms : TR_NET_LINGER_MS;
  if (out->low_water == 0)
    out->low_water = 1; /* "below 0" would never resume */
  return out->low_water > out->high_water ? TR_EINVAL : 0;
}
