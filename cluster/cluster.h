/* Private: the cluster (include/troupe/cluster.h). The files share this header:
 *   api.c        tr_cluster_start and the queries; the part of the loop (io/io.h)
 *   config.c     the configuration: defaults, checks, the cookie and its file
 *   wire.c       frames: kinds, building control frames, the SEND header, pids in payloads
 *   handshake.c  the challenge-response (HMAC-SHA256 over the cookie) and the tie-break
 *   conn.c       a connection: reading, framing, closing; a link going up and down
 *   out.c        a peer's output queue: appending under its lock, writing, busy and muting
 *   route.c      the actor layer's door (actors/remote.h) and tr_send_name
 *   inbound.c    the frames of an authenticated link, delivered to local actors
 *   records.c    the links and monitors that cross a link, for when it goes down
 *   dial.c       seeds, name resolution, reconnects with backoff, heartbeats
 *
 * Threads. Everything here runs on the I/O thread but the output path: any thread that sends
 * to a remote pid appends to the peer's queue under the peer's mutex (out.c) and may write it
 * to the socket itself when the I/O thread is not writing (a non-blocking send). What that
 * mutex guards is marked; the rest is the I/O thread's.
 *
 * Peers and the node table. A peer is one node name, for the life of the system: created
 * when the name is first heard of, never freed while the system runs, so a pointer to it
 * stays valid on every thread. Each incarnation of a peer gets its own index in the node
 * table (1..TR_NODES_MAX), which is the node field of its pids; an entry is written once, by
 * the I/O thread, with release stores, and read with acquire loads by any sender. */
#ifndef TR_CLUSTER_CLUSTER_H
#define TR_CLUSTER_CLUSTER_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <uv.h>

#include "actors/remote.h"
#include "base/u64map.h"
#include "io/io.h"
#include "net/net.h"
#include "troupe/cluster.h"

/* Node-table entries (the pid's node field has 12 bits; 0 is this node). */
#define TR_NODES_MAX 4095u
/* The protocol versions this build speaks. */
#define TR_PROTO_MIN 1u
#define TR_PROTO_MAX 1u
/* Before authentication: the largest frame, the time allowed, connections at once. */
#define TR_PREAUTH_FRAME 4096u
#define TR_PREAUTH_MS 5000u
#define TR_PREAUTH_CONNS 64u
/* The largest frame of an authenticated link: the largest message and its header. */
#define TR_FRAME_MAX (TR_LIMIT_DEFAULT_SIZE + 4096u)
/* Tag ids a link defines; tag names on a link, in bytes. */
#define TR_LINK_TAGS_MAX (1u << 20)
#define TR_TAG_NAME_MAX 255u
/* The heartbeat timer's period. */
#define TR_TICK_MS 250u
#define TR_REQ_GEN_MS 60000u
/* Learned peers are dialled until this long after they were last up. */
#define TR_FORGET_MS (10u * 60u * 1000u)
#define TR_NONCE_BYTES 32u
#define TR_MAC_BYTES 32u

/* Frame kinds (the byte after the length). */
enum {
  TR_F_HELLO = 1,
  TR_F_CHALLENGE = 2,
  TR_F_AUTH = 3,
  TR_F_AUTH_OK = 4,
  TR_F_REFUSE = 5,
  TR_F_PING = 8,
  TR_F_PONG = 9,
  TR_F_BYE = 10,
  TR_F_PEERS = 12,
  TR_F_SEND = 16,
  TR_F_NAME_SEND = 17,
  TR_F_TAG_DEF = 20,
  TR_F_LINK = 24,
  TR_F_UNLINK = 25,
  TR_F_EXIT = 27,
  TR_F_MONITOR = 28,
  TR_F_DEMONITOR = 29,
  TR_F_G_JOIN = 32,
  TR_F_G_LEAVE = 33,
  TR_F_G_SYNC = 34,
  TR_F_G_SEND = 35,
};

/* SEND's fixed header after the kind byte: to u64, from u64, ref u64, tag id u32, kind u8. */
#define TR_SEND_HEAD 29u
/* In SEND's kind byte: the payload's pids are in the wire form (TR_MSGF_PIDS). */
#define TR_SEND_PIDS 0x80u

typedef struct tr_cluster tr_cluster_t;
typedef struct tr_peer tr_peer_t;
typedef struct tr_cconn tr_cconn_t;

/* A growable byte buffer: bytes [off, len) are pending. */
typedef struct {
  uint8_t *p;
  size_t off, len, cap;
} tr_cbuf_t;

int tr__cbuf_reserve(tr_cbuf_t *b, size_t more);
void tr__cbuf_reset(tr_cbuf_t *b); /* empty; a big buffer is given back */
static inline size_t tr__cbuf_pending(const tr_cbuf_t *b) { return b->len - b->off; }

/* A set of (a, b) pid pairs: the links that cross one peer's link (records.c). */
typedef struct {
  struct tr_pair {
    uint64_t a, b;
  } * slot;
  uint32_t cap, used, count;
} tr_pairs_t;

int tr__pairs_add(tr_pairs_t *s, uint64_t a, uint64_t b);
bool tr__pairs_del(tr_pairs_t *s, uint64_t a, uint64_t b);
void tr__pairs_free(tr_pairs_t *s);

/* Handshake states of a connection. */
enum {
  TR_HS_HELLO_SENT = 1, /* dialler: waits for CHALLENGE */
  TR_HS_AUTH_SENT,      /* dialler: waits for AUTH_OK */
  TR_HS_WAIT_HELLO,     /* acceptor */
  TR_HS_WAIT_AUTH,      /* acceptor: CHALLENGE sent */
  TR_HS_UP,             /* authenticated: the peer's link */
  TR_HS_CLOSING,
};

struct tr_cconn {
  tr_cluster_t *cl;
  uv_tcp_t tcp;
  uv_timer_t hs_timer; /* the handshake's deadline; the close after a refusal */
  int state;
  bool dialled;
  bool paused;     /* reading stopped: a local mailbox it filled is draining */
  bool refused;    /* a refusal was sent: read nothing more, close soon */
  bool in_preauth; /* counted in cl->preauth */
  bool timer_open;
  bool connecting;      /* dialled, and the TCP connect has not completed yet */
  uint64_t started_ms;  /* when it was made: a failed dial's backoff counts from here */
  int handles_open;     /* uv handles still to close before it is freed */
  tr_peer_t *peer;      /* known once the handshake names it */
  struct tr_seed *seed; /* the seed this dial was for, or NULL */
  char ip[64];          /* the remote address as text */
  struct sockaddr_storage addr;
  /* The handshake. */
  uint8_t nonce[TR_NONCE_BYTES];
  tr_cbuf_t transcript; /* HELLO ‖ CHALLENGE, as sent and received */
  uint8_t mac_a[TR_MAC_BYTES];
  char peer_name[TR_NODE_NAME_MAX + 1];
  uint64_t peer_inc;
  char peer_listen[64];
  /* Reading. */
  tr_cbuf_t in;
  /* Tags the peer defined on this connection: id -> this node's atom (0: unknown here). */
  tr_atom_t *rtags;
  char **rtag_names;          /* kept for the ones unknown here, retried on each use */
  uint32_t nrtags, rtags_cap; /* ids defined (1..nrtags-1), and room */
  size_t rtag_bytes;
  tr_cconn_t *next; /* in cl->conns */
};

struct tr_peer {
  tr_cluster_t *cl;
  char name[TR_NODE_NAME_MAX + 1];
  /* ---- guarded by mu ---- */
  pthread_mutex_t mu;
  bool up;              /* frames may be queued */
  uint32_t index;       /* the node-table index of the current incarnation (0: none yet) */
  uint64_t inc;         /* the current incarnation */
  int fd;               /* the socket, for a direct write (-1: none) */
  bool io_writing;      /* the I/O thread owns the socket's writes now (a uv_write in flight) */
  tr_cbuf_t out;        /* frames queued */
  tr_cbuf_t spare;      /* an empty buffer to take out's place when a write takes its bytes */
  size_t inflight;      /* bytes handed to the I/O thread's uv_write and not yet written */
  uint64_t progress_ns; /* when bytes last left the queue */
  tr_u64map_t tags;     /* atom -> tag id on the current connection */
  uint32_t next_tag;
  tr_u64map_t muted;                /* pids of actors muted on this link -> 1 */
  tr_pairs_t links;                 /* (local pid, remote pid) linked across this link */
  tr_u64map_t mon_out_w, mon_out_t; /* our monitors of its actors: ref -> watcher, target */
  tr_u64map_t mon_in_w, mon_in_t;   /* its monitors of our actors: ref -> watcher, target */
  /* Requests of our actors to its actors not answered yet: ref -> requester, in two
   * generations that the tick turns every TR_REQ_GEN_MS, so what was never answered (it
   * timed out) is forgotten within two turns. */
  tr_u64map_t reqs, reqs_old;
  uint64_t bytes_out, frames_out, dropped_full;
  /* ---- the I/O thread's ---- */
  tr_cconn_t *conn; /* the authenticated connection */
  char addr[64];    /* its listen address as it advertised it */
  bool known_addr;
  bool dialling; /* a dial (or a handshake of one) is under way */
  bool via_seed; /* a seed reaches it: the seed's dials, not ours */
  bool ever_up;
  uint32_t attempts;
  uint64_t next_dial_ms, last_up_ms;
  uint64_t last_rx_ms, last_ping_ms, ping_seq, ping_sent_us, rtt_us;
  uint64_t bytes_in, frames_in, dropped_down, dropped_unknown, reconnects;
  tr_down_reason_t last_down;
  uint64_t last_down_ms;
  tr_peer_t *next; /* in cl->peers */
};

typedef struct tr_seed {
  char host[256];
  uint16_t port;
  uv_getaddrinfo_t gai;
  bool resolving, dialling;
  uint32_t attempts;
  uint64_t next_dial_ms;
  tr_peer_t *peer; /* the node it reached last */
  struct tr_seed *next;
} tr_seed_t;

struct tr_cluster {
  tr_io_t *io;
  tr_system_t *sys;
  /* The configuration, with defaults filled in (config.c); strings owned. */
  char name[TR_NODE_NAME_MAX + 1];
  size_t name_len;
  char listen_host[64];
  uint16_t listen_port;
  char listen_text[80]; /* what HELLO advertises */
  uint8_t key[32];      /* crypto_hash_sha256(cookie) */
  uint32_t heartbeat_ms, down_after_ms, backoff_base_ms, backoff_cap_ms, stall_ms, max_nodes;
  size_t busy_bytes, max_queue_bytes;
  uint64_t inc; /* this start's incarnation */
  _Atomic bool started;
  _Atomic uint16_t port; /* bound */
  /* The node table. */
  struct tr_node_entry {
    _Atomic(tr_peer_t *) peer;
    _Atomic uint64_t inc;
  } nodes[TR_NODES_MAX + 1];
  uint32_t nodes_used; /* I/O thread */
  /* Peers by name: appended under peers_mu (any thread reads the list under it). */
  pthread_mutex_t peers_mu;
  tr_peer_t *peers;
  uint32_t npeers;
  /* The I/O thread's. */
  tr_acceptor_t listener; /* net/accept.c's, so that a lack of descriptors cannot spin */
  bool listener_open;
  uv_timer_t tick;
  bool tick_open;
  uint64_t last_tick_ms, reqs_turned_ms;
  tr_cconn_t *conns;
  uint32_t preauth;
  tr_u64map_t penalty; /* hash of a remote IP -> (failures << 40 | until_ms) */
  tr_seed_t *seeds;
  tr_u64map_t node_watchers; /* local pid -> 1: actors told of NODEUP / NODEDOWN */
  pthread_mutex_t watchers_mu;
  uint64_t rng;
  bool stopping;
  bool batching; /* in a read callback: the I/O thread's sends are written at its end */
  /* Counters (tr_cluster_stats). */
  _Atomic uint64_t refused_auth, dead_noconn, dropped_unknown, tags_unknown;
};

/* api.c */
tr_cluster_t *tr__cluster_of(tr_system_t *sys);
uint64_t tr__cl_now_ms(tr_cluster_t *cl);

/* config.c: validate cfg and fill cl (name, addresses, knobs, key). Logs what is wrong. */
int tr__cluster_configure(tr_cluster_t *cl, const tr_cluster_config_t *cfg);
bool tr__node_name_ok(const char *s, size_t len);
/* "host:port" or "[v6]:port": host (brackets kept) and port. TR_EINVAL when malformed. */
int tr__split_host_port(const char *s, size_t len, char *host, size_t hcap, uint16_t *port);

/* The node table (api.c). */
/* The peer and incarnation of index i, or NULL. Any thread. */
static inline tr_peer_t *tr__node_peer(tr_cluster_t *cl, uint32_t i, uint64_t *inc) {
  if (i == 0 || i > TR_NODES_MAX)
    return NULL;
  tr_peer_t *p = atomic_load_explicit(&cl->nodes[i].peer, memory_order_acquire);
  if (p && inc)
    *inc = atomic_load_explicit(&cl->nodes[i].inc, memory_order_acquire);
  return p;
}
/* I/O thread: the index of (p, inc), assigning one for a new incarnation (0: table full of
 * live ones). */
uint32_t tr__node_index(tr_cluster_t *cl, tr_peer_t *p, uint64_t inc);
/* The index for incarnation inc (a pid's in a payload), 0 when none: this node's own
 * incarnation gives 0 too, with *self set. I/O thread. */
uint32_t tr__node_by_inc(tr_cluster_t *cl, uint64_t inc, bool *self);
/* Peers by name (created when absent unless create is false). Any thread. */
tr_peer_t *tr__peer_get(tr_cluster_t *cl, const char *name, size_t len, bool create);
/* The pseudo pid of a peer's link: a muter that is not an actor. */
static inline tr_pid_t tr__link_pid(uint32_t index) { return tr__pid_make(index, 0, 0); }

/* wire.c */
/* Append a frame: kind and a header packed by fmt (tr_pack letters), then payload. */
int tr__frame_put(tr_cbuf_t *b, uint8_t kind, const void *payload, size_t plen, const char *fmt,
                  ...);
int tr__frame_vput(tr_cbuf_t *b, uint8_t kind, const void *payload, size_t plen, const char *fmt,
                   va_list ap);
/* The header of a frame body (after its kind byte): unpack exactly fmt from the msgpack
 * array at body[0..), returning how many bytes it took in *used. */
int tr__frame_get(const uint8_t *body, size_t len, size_t *used, const char *fmt, ...);
/* Bytes of payload once its pids are in the wire form (or the node's), and the copy. */
typedef struct {
  tr_cluster_t *cl;
  uint32_t from_node; /* receiving: the index of the node the bytes came from */
  bool bad;           /* a pid that could not be mapped */
} tr_pidmap_t;
int tr__payload_out_size(const uint8_t *d, size_t len, size_t *out_len);
void tr__payload_out(tr_pidmap_t *pm, const uint8_t *d, size_t len, uint8_t *out);
int tr__payload_in_size(const uint8_t *d, size_t len, size_t *out_len);
void tr__payload_in(tr_pidmap_t *pm, const uint8_t *d, size_t len, uint8_t *out);
/* Header pids: for the peer (node field 0: the sender's own; TR_WIRE_YOURS: the receiver's
 * own; anything else cannot be named and goes as 0) and back. */
#define TR_WIRE_YOURS 0xFFFu
uint64_t tr__pid_to_wire(tr_pid_t pid, uint32_t peer_index);
tr_pid_t tr__pid_from_wire(uint64_t w, uint32_t peer_index);

/* handshake.c */
void tr__hs_start_dial(tr_cconn_t *c);
/* A frame before the link is up; false: close (logged, counted). */
bool tr__hs_frame(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len);
/* One connection per pair (CLUSTER.md B4): the connection dialled by the node with the
 * greater name survives a simultaneous dial; a new connection from the side that dialled
 * the live link (it saw that one break) or from a new incarnation replaces it. */
typedef enum { TR_TIE_NO_LINK, TR_TIE_LINK_OURS, TR_TIE_LINK_THEIRS } tr_tie_link_t;
typedef enum { TR_TIE_KEEP, TR_TIE_KEEP_CLOSE_CROSSING, TR_TIE_REFUSE } tr_tie_t;
/* For a connection that just authenticated: we_greater (this node's name is the greater),
 * new_ours (this node dialled it), the live link and who dialled it, whether the peer's
 * incarnation is the live link's, and whether a handshake the other way is under way. */
tr_tie_t tr__tie_break(bool we_greater, bool new_ours, tr_tie_link_t link, bool same_inc,
                       bool crossing);
/* Per-IP penalties after failures. */
bool tr__hs_penalised(tr_cluster_t *cl, const struct sockaddr *sa);
void tr__hs_penalise(tr_cluster_t *cl, const struct sockaddr *sa);
void tr__hs_forgive(tr_cluster_t *cl, const struct sockaddr *sa); /* it authenticated */

/* conn.c */
/* A dialled one gets TR_PREAUTH_MS to connect (the kernel's SYN retries would take minutes
 * against a silent address), then as long again for the handshake. */
tr_cconn_t *tr__conn_new(tr_cluster_t *cl, bool dialled);
/* Start reading (and the handshake deadline). */
int tr__conn_open(tr_cconn_t *c);
/* Write handshake bytes directly (the link is not up, no queue yet). */
void tr__conn_write_raw(tr_cconn_t *c, const tr_cbuf_t *b);
/* Close (a down for its peer when it was the link). */
void tr__conn_close(tr_cconn_t *c, tr_down_reason_t why);
/* Close after delay ms, reading nothing more (a refusal the peer should read first). */
void tr__conn_close_later(tr_cconn_t *c, uint32_t delay_ms);
/* The handshake succeeded: c becomes p's link (replacing what was). */
void tr__link_up(tr_cconn_t *c, tr_peer_t *p, uint64_t inc);
/* p's link is gone: everything that depended on it ends (records, groups, queue). */
void tr__link_down(tr_peer_t *p, tr_down_reason_t why);
void tr__conn_resume(tr_cluster_t *cl, uint32_t index);

/* out.c: queueing (peer mu held) and writing. */
void tr__out_lock(tr_peer_t *p);
void tr__out_unlock(tr_peer_t *p);
/* Queue a frame without payload on p (mu held), counted in frames_out. */
int tr__out_frame(tr_peer_t *p, uint8_t kind, const char *fmt, ...);
/* The tag id of atom on p's current connection, queueing TAG_DEF when new (mu held); 0 when
 * out of memory. */
uint32_t tr__out_tag(tr_peer_t *p, tr_atom_t atom);
/* What a send does after queueing (mu held): remember to write at the handler's end, or
 * write now; mute the sender when the link is busy. */
void tr__out_queued(tr_ctx_t *ctx, tr_peer_t *p, bool data);
/* Write what is queued (the flush at a handler's end; outside senders at once). */
void tr__out_flush(tr_ctx_t *ctx, tr_peer_t *p);
size_t tr__out_queue_bytes(const tr_peer_t *p); /* mu held */
/* The link went down: drop the queue and release the muted (mu held for drop). */
uint64_t tr__out_drop(tr_peer_t *p);
void tr__out_release_muted(tr_peer_t *p);
/* I/O thread: a kick of the peer at index (posted by a partial direct write). */
void tr__out_kick(tr_io_t *io, uint64_t peer_ptr);

/* route.c */
extern const tr_remote_ops_t tr__cluster_ops;
/* Node monitors: tell every watcher. */
void tr__node_event(tr_cluster_t *cl, tr_peer_t *p, bool up, tr_down_reason_t why);

/* inbound.c: a frame of an authenticated link; false: protocol error (close). */
bool tr__inbound(tr_cconn_t *c, uint8_t kind, const uint8_t *body, size_t len);
/* The G_SYNC snapshot for a peer that just came up (mu not held). */
void tr__groups_sync_to(tr_peer_t *p);

/* records.c */
void tr__records_down(tr_peer_t *p, tr_ctx_t *ctx);
/* Fail a request of a local requester at once, as if its target's node had answered
 * "noconnection": a TIMEOUT reply with its reference, marked so that a client's
 * tr_client_request returns TR_ENOCONN. */
void tr__request_noconn(tr_ctx_t *ctx, tr_pid_t requester, uint64_t ref);

/* dial.c */
int tr__dial_start(tr_cluster_t *cl, const char *seeds);
void tr__dial_tick(tr_cluster_t *cl, uint64_t now_ms);
/* A peer learned from PEERS (or a handshake): dial it when it is not up. */
void tr__dial_learn(tr_cluster_t *cl, const char *name, size_t nlen, const char *addr, size_t alen);
uint64_t tr__backoff_ms(tr_cluster_t *cl, uint32_t attempts);
void tr__heartbeat_tick(tr_cluster_t *cl, uint64_t now_ms);

#endif
