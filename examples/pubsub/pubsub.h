/* troupe-pubsub: a pub/sub server that speaks the Redis protocol (README.md, "Pub/sub
 * server"), to the replies of Redis 7.2 for every command it serves.
 *
 * It is one actor per client connection (session.c) and nothing else: no actor sits between
 * a publisher and its subscribers. Subscriptions are process groups (troupe/group.h) in three
 * scopes, channels, patterns and shard channels; a session joins the group of each channel
 * it subscribes to. A PUBLISH is handled by the publisher's own session, which formats the
 * push once and sends it to the channel's group, then walks the pattern groups and sends
 * to those that match: the index is read without a lock, the push is one shared copy, and
 * the reply counts exactly the receivers the push was delivered to. Because the publisher
 * itself sends to every subscriber, everything one connection publishes reaches each
 * subscriber in the order it was published, across channels and patterns, and a subscriber
 * of a channel and of a matching pattern gets the message before the pmessage, as in Redis.
 *
 * A session gathers its output (replies and pushes) during a turn and writes it once at the
 * turn's end (the behaviour's flush), so a burst costs one write. A client that stops
 * reading is dropped at its connection's out_limit, and publishers never wait for it.
 *
 * Shared by every session: the server's configuration, counters and its list of clients
 * (server.c), for INFO and CLIENT LIST. */
#ifndef PUBSUB_PUBSUB_H
#define PUBSUB_PUBSUB_H

#include <pthread.h>
#include <stdatomic.h>

#include <troupe.h>
#include <troupe/resp.h>

/* The Redis release whose replies troupe-pubsub gives (HELLO, INFO). */
#define PS_REDIS_VERSION "7.2.4"
/* Databases SELECT accepts, as Redis's default `databases 16`. */
#define PS_DATABASES 16
/* Longest client name and library name/version kept. */
#define PS_NAME_MAX 128

/* The three kinds of subscription. */
typedef enum { PS_CHANNEL = 0, PS_PATTERN = 1, PS_SHARD = 2 } ps_kind_t;

/* Interned once in main() before any actor runs. */
typedef struct {
  tr_atom_t push;     /* a RESP2 push, ready to write: publisher -> subscriber's session */
  tr_atom_t scope[3]; /* the group scopes of ps_kind_t */
} ps_atoms_t;

extern ps_atoms_t ps_atoms;

/* One client, as CLIENT LIST and CLIENT INFO show it. Written by its session (strings under
 * the server's lock, counters as relaxed atomics), read by any session under the lock. */
typedef struct ps_client {
  struct ps_client *prev, *next;
  uint64_t id;
  tr_pid_t pid; /* its session, for CLIENT KILL */
  char addr[TR_ADDR_MAX], laddr[TR_ADDR_MAX];
  char name[PS_NAME_MAX + 1], lib_name[PS_NAME_MAX + 1], lib_ver[PS_NAME_MAX + 1];
  _Atomic uint32_t last_cmd; /* the last command (ps_command_name's code) */
  uint64_t created_ms;
  _Atomic uint64_t last_ms; /* the last command's time */
  _Atomic uint32_t subs[3]; /* subscriptions of each ps_kind_t */
  _Atomic int db, resp;
  _Atomic bool no_evict, no_touch;
} ps_client_t;

typedef struct {
  /* Configuration: set before the listener opens, read-only afterwards. */
  _Atomic uint16_t port;   /* the one listened on */
  const char *requirepass; /* NULL: no password */
  char run_id[41];
  char executable[256];
  uint64_t start_ms, start_unix_us;
  /* Counters (relaxed: statistics). */
  _Atomic uint64_t connections, commands, messages;
  _Atomic uint64_t next_client_id;
  /* The clients, under mu. */
  pthread_mutex_t mu;
  ps_client_t *clients;
  size_t nclients;
} ps_server_t;

extern ps_server_t ps_server;

/* server.c */
/* Set up the server state (atoms included). Returns 0 or a TR_E* code. */
int ps_server_init(tr_system_t *sys, uint16_t port, const char *requirepass);
/* Milliseconds on the monotonic clock (ages, idle times). */
uint64_t ps_now_ms(void);
/* A new client entry, listed; NULL when out of memory. */
ps_client_t *ps_client_add(tr_pid_t pid, const char *addr, const char *laddr);
void ps_client_remove(ps_client_t *c);
/* One client's line of CLIENT LIST / CLIENT INFO (with its "\n"), appended to b. */
void ps_client_line(tr_resp_buf_t *b, const ps_client_t *c);
/* commands.c: the name of a command by the code dispatch records for CLIENT LIST. */
void ps_command_name(uint32_t code, char *out, size_t cap);

/* The session behaviour, spawned by the listener for each connection (no init payload). */
extern const tr_behaviour_t ps_session_behaviour;

/* glob.c: Redis's glob matching (stringmatchlen): * ? [abc] [^a] [a-z] and \ escapes. */
bool ps_glob_match(const void *pattern, size_t plen, const void *str, size_t slen);

#endif
