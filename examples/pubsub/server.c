/* The server's shared state (pubsub.h): its configuration, counters and the list of clients
 * that CLIENT LIST, CLIENT KILL and INFO read, and the atoms every session uses. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pubsub.h"

ps_atoms_t ps_atoms;
ps_server_t ps_server;

uint64_t ps_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A run id as Redis's: 40 random hex digits. */
static void make_run_id(char out[41]) {
  unsigned char raw[20] = {0};
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
    uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32; /* identifies, secures nothing */
    memcpy(raw, &x, sizeof x);
  }
  if (fd >= 0)
    close(fd);
  for (int i = 0; i < 20; i++)
    snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

int ps_server_init(tr_system_t *sys, uint16_t port, const char *requirepass) {
  const tr_atom_def_t atoms[] = {{"ps.push", &ps_atoms.push},
                                 {"pubsub.channel", &ps_atoms.scope[PS_CHANNEL]},
                                 {"pubsub.pattern", &ps_atoms.scope[PS_PATTERN]},
                                 {"pubsub.shard", &ps_atoms.scope[PS_SHARD]}};
  int rc = tr_atoms(sys, atoms, sizeof atoms / sizeof atoms[0]);
  if (rc)
    return rc;
  atomic_store_explicit(&ps_server.port, port, memory_order_relaxed);
  ps_server.requirepass = requirepass;
  make_run_id(ps_server.run_id);
  ssize_t n = readlink("/proc/self/exe", ps_server.executable, sizeof ps_server.executable - 1);
  ps_server.executable[n > 0 ? n : 0] = '\0';
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  ps_server.start_unix_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
  ps_server.start_ms = ps_now_ms();
  atomic_store_explicit(&ps_server.next_client_id, 1, memory_order_relaxed);
  pthread_mutex_init(&ps_server.mu, NULL);
  return 0;
}

ps_client_t *ps_client_add(tr_pid_t pid, const char *addr, const char *laddr) {
  ps_client_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->id = atomic_fetch_add_explicit(&ps_server.next_client_id, 1, memory_order_relaxed);
  c->pid = pid;
  snprintf(c->addr, sizeof c->addr, "%s", addr);
  snprintf(c->laddr, sizeof c->laddr, "%s", laddr);
  c->created_ms = ps_now_ms();
  atomic_store_explicit(&c->last_ms, c->created_ms, memory_order_relaxed);
  atomic_store_explicit(&c->resp, 2, memory_order_relaxed);
  pthread_mutex_lock(&ps_server.mu);
  c->next = ps_server.clients;
  if (c->next)
    c->next->prev = c;
  ps_server.clients = c;
  ps_server.nclients++;
  pthread_mutex_unlock(&ps_server.mu);
  return c;
}

void ps_client_remove(ps_client_t *c) {
  pthread_mutex_lock(&ps_server.mu);
  if (c->prev)
    c->prev->next = c->next;
  else
    ps_server.clients = c->next;
  if (c->next)
    c->next->prev = c->prev;
  ps_server.nclients--;
  pthread_mutex_unlock(&ps_server.mu);
  free(c);
}

/* The line of Redis 7.2's CLIENT LIST for a pub/sub client. Fields troupe has no use for
 * (transactions, watched keys, query buffer internals) are given the values an idle Redis
 * client shows, so parsers of the line keep working; fd is -1, as Redis shows for a client
 * without a socket of its own, because a connection's descriptor stays on the I/O thread.
 * Under ps_server.mu. */
void ps_client_line(tr_resp_buf_t *b, const ps_client_t *c) {
  uint64_t now = ps_now_ms();
  uint32_t subs = atomic_load_explicit(&c->subs[0], memory_order_relaxed);
  uint32_t psubs = atomic_load_explicit(&c->subs[1], memory_order_relaxed);
  uint32_t ssubs = atomic_load_explicit(&c->subs[2], memory_order_relaxed);
  char flags[8] = "", cmd[64];
  size_t nf = 0;
  if (subs || psubs || ssubs)
    flags[nf++] = 'P';
  if (atomic_load_explicit(&c->no_evict, memory_order_relaxed))
    flags[nf++] = 'e';
  if (atomic_load_explicit(&c->no_touch, memory_order_relaxed))
    flags[nf++] = 'T';
  if (nf == 0)
    flags[nf++] = 'N';
  ps_command_name(atomic_load_explicit(&c->last_cmd, memory_order_relaxed), cmd, sizeof cmd);
  char line[1024];
  int n = snprintf(
      line, sizeof line,
      "id=%llu addr=%s laddr=%s fd=-1 name=%s age=%llu idle=%llu flags=%s db=%d sub=%u "
      "psub=%u ssub=%u multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 "
      "rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=default redir=-1 resp=%d "
      "lib-name=%s lib-ver=%s\n",
      (unsigned long long)c->id, c->addr, c->laddr, c->name,
      (unsigned long long)((now - c->created_ms) / 1000u),
      (unsigned long long)((now - atomic_load_explicit(&c->last_ms, memory_order_relaxed)) / 1000u),
      flags, atomic_load_explicit(&c->db, memory_order_relaxed), (unsigned)subs, (unsigned)psubs,
      (unsigned)ssubs, cmd, atomic_load_explicit(&c->resp, memory_order_relaxed), c->lib_name,
      c->lib_ver);
  if (n > 0)
    tr_resp_raw(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
