/* INFO: the sections of Redis 7.2's INFO that clients and tools read, with troupe-pubsub's own
 * figures. ioredis waits for "loading:0" before it calls a connection ready; monitoring
 * reads redis_version, uptime, connected_clients, used_memory and the pubsub counters. The
 * text is Redis's format: "# Section" headers, "key:value" lines ending in "\r\n", a blank
 * line between sections; RESP3 gets it as a verbatim string, as Redis sends it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "session.h"

typedef struct {
  tr_resp_buf_t text;
  bool any; /* a section was written (the next one needs a blank line first) */
} info_t;

static void line(info_t *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(info_t *in, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 2, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  size_t len = (size_t)n < sizeof buf - 2 ? (size_t)n : sizeof buf - 3;
  memcpy(buf + len, "\r\n", 2);
  tr_resp_raw(&in->text, buf, len + 2);
}

static void header(info_t *in, const char *name) {
  if (in->any)
    tr_resp_raw(&in->text, "\r\n", 2);
  in->any = true;
  line(in, "# %s", name);
}

/* Resident memory of the process, in bytes (0 when /proc cannot tell). */
static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long pages = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%llu %llu", &pages, &rss) != 2)
      rss = 0;
    fclose(f);
  }
  return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void human(char *out, size_t cap, uint64_t bytes) {
  const char *units = "BKMGT";
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, cap, "%lluB", (unsigned long long)bytes);
  else
    snprintf(out, cap, "%.2f%c", v, units[u]);
}

static void server(info_t *in) {
  struct utsname u;
  uname(&u);
  uint64_t up = (ps_now_ms() - ps_server.start_ms) / 1000u;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  header(in, "Server");
  line(in, "redis_version:%s", PS_REDIS_VERSION);
  line(in, "redis_git_sha1:00000000");
  line(in, "redis_git_dirty:0");
  line(in, "redis_build_id:0");
  line(in, "redis_mode:standalone");
  line(in, "os:%s %s %s", u.sysname, u.release, u.machine);
  line(in, "arch_bits:%d", (int)(8 * sizeof(void *)));
  line(in, "monotonic_clock:POSIX clock_gettime");
  line(in, "multiplexing_api:epoll");
  line(in, "atomicvar_api:c11-builtin");
  line(in, "gcc_version:%d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
  line(in, "process_id:%d", (int)getpid());
  line(in, "process_supervised:no");
  line(in, "run_id:%s", ps_server.run_id);
  line(in, "tcp_port:%u", (unsigned)atomic_load_explicit(&ps_server.port, memory_order_relaxed));
  line(in, "server_time_usec:%llu",
       (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000u);
  line(in, "uptime_in_seconds:%llu", (unsigned long long)up);
  line(in, "uptime_in_days:%llu", (unsigned long long)(up / 86400u));
  line(in, "hz:10");
  line(in, "configured_hz:10");
  line(in, "executable:%s", ps_server.executable);
  line(in, "config_file:");
  line(in, "io_threads_active:0");
}

static void clients(info_t *in) {
  pthread_mutex_lock(&ps_server.mu);
  size_t n = ps_server.nclients, pubsub = 0;
  for (const ps_client_t *c = ps_server.clients; c; c = c->next)
    pubsub += atomic_load_explicit(&c->subs[0], memory_order_relaxed) ||
              atomic_load_explicit(&c->subs[1], memory_order_relaxed) ||
              atomic_load_explicit(&c->subs[2], memory_order_relaxed);
  pthread_mutex_unlock(&ps_server.mu);
  header(in, "Clients");
  line(in, "connected_clients:%zu", n);
  line(in, "cluster_connections:0");
  line(in, "maxclients:10000");
  line(in, "client_recent_max_input_buffer:0");
  line(in, "client_recent_max_output_buffer:0");
  line(in, "blocked_clients:0");
  line(in, "tracking_clients:0");
  line(in, "pubsub_clients:%zu", pubsub);
  line(in, "clients_in_timeout_table:0");
}

static void memory(info_t *in, tr_ctx_t *ctx) {
  tr_stats_t st;
  tr_system_stats(tr_ctx_system(ctx), &st);
  uint64_t rss = rss_bytes();
  char h1[32], h2[32];
  human(h1, sizeof h1, st.memory);
  human(h2, sizeof h2, rss);
  header(in, "Memory");
  line(in, "used_memory:%llu", (unsigned long long)st.memory);
  line(in, "used_memory_human:%s", h1);
  line(in, "used_memory_rss:%llu", (unsigned long long)rss);
  line(in, "used_memory_rss_human:%s", h2);
  line(in, "maxmemory:0");
  line(in, "maxmemory_human:0B");
  line(in, "maxmemory_policy:noeviction");
  line(in, "mem_allocator:libc");
}

static void persistence(info_t *in) {
  header(in, "Persistence");
  line(in, "loading:0");
  line(in, "async_loading:0");
  line(in, "rdb_changes_since_last_save:0");
  line(in, "rdb_bgsave_in_progress:0");
  line(in, "rdb_last_save_time:%llu", (unsigned long long)(ps_server.start_unix_us / 1000000u));
  line(in, "rdb_last_bgsave_status:ok");
  line(in, "aof_enabled:0");
  line(in, "aof_rewrite_in_progress:0");
  line(in, "aof_last_write_status:ok");
}

static void stats(info_t *in, tr_ctx_t *ctx) {
  header(in, "Stats");
  line(in, "total_connections_received:%llu",
       (unsigned long long)atomic_load_explicit(&ps_server.connections, memory_order_relaxed));
  line(in, "total_commands_processed:%llu",
       (unsigned long long)atomic_load_explicit(&ps_server.commands, memory_order_relaxed));
  line(in, "instantaneous_ops_per_sec:0");
  line(in, "rejected_connections:0");
  line(in, "expired_keys:0");
  line(in, "evicted_keys:0");
  line(in, "keyspace_hits:0");
  line(in, "keyspace_misses:0");
  line(in, "pubsub_channels:%zu", tr_group_count(ctx, ps_atoms.scope[PS_CHANNEL]));
  line(in, "pubsub_patterns:%zu", tr_group_count(ctx, ps_atoms.scope[PS_PATTERN]));
  line(in, "pubsubshard_channels:%zu", tr_group_count(ctx, ps_atoms.scope[PS_SHARD]));
  line(in, "pubsub_messages_delivered:%llu",
       (unsigned long long)atomic_load_explicit(&ps_server.messages, memory_order_relaxed));
}

static void replication(info_t *in) {
  header(in, "Replication");
  line(in, "role:master");
  line(in, "connected_slaves:0");
  line(in, "master_failover_state:no-failover");
  line(in, "master_replid:%s", ps_server.run_id);
  line(in, "master_repl_offset:0");
}

static void cpu(info_t *in) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  header(in, "CPU");
  line(in, "used_cpu_sys:%ld.%06ld", (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
  line(in, "used_cpu_user:%ld.%06ld", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
  line(in, "used_cpu_sys_children:0.000000");
  line(in, "used_cpu_user_children:0.000000");
}

/* The sections, in Redis's order; `dflt` ones are those of a plain INFO. */
static const struct {
  const char *name;
  bool dflt;
} sections[] = {{"server", true},      {"clients", true}, {"memory", true},
                {"persistence", true}, {"stats", true},   {"replication", true},
                {"cpu", true},         {"modules", true}, {"errorstats", true},
                {"cluster", true},     {"keyspace", true}};

static void section(info_t *in, tr_ctx_t *ctx, size_t k) {
  switch (k) {
  case 0:
    server(in);
    break;
  case 1:
    clients(in);
    break;
  case 2:
    memory(in, ctx);
    break;
  case 3:
    persistence(in);
    break;
  case 4:
    stats(in, ctx);
    break;
  case 5:
    replication(in);
    break;
  case 6:
    cpu(in);
    break;
  case 7:
    header(in, "Modules");
    break;
  case 8:
    header(in, "Errorstats");
    break;
  case 9:
    header(in, "Cluster");
    line(in, "cluster_enabled:0");
    break;
  default:
    header(in, "Keyspace");
    break;
  }
}

void ps_cmd_info(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  size_t n = sizeof sections / sizeof sections[0];
  bool want[sizeof sections / sizeof sections[0]] = {false};
  for (size_t k = 0; k < n; k++)
    want[k] = c->argc == 1 && sections[k].dflt;
  for (size_t i = 1; i < c->argc; i++) {
    const tr_resp_arg_t *a = &c->argv[i];
    bool every = ps_is(a, "all") || ps_is(a, "everything") || ps_is(a, "default");
    for (size_t k = 0; k < n; k++)
      want[k] |= every || ps_is(a, sections[k].name);
  }
  info_t in = {0};
  for (size_t k = 0; k < n; k++)
    if (want[k])
      section(&in, ctx, k);
  tr_resp_verbatim(&s->out, "txt", in.text.data ? (const char *)in.text.data : "", in.text.len);
  if (in.text.err)
    s->out.err = in.text.err;
  tr_resp_buf_free(&in.text);
}
