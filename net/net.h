/* Private: the net layer, TCP listeners and connections on the I/O thread
 * (include/troupe/net.h). The files share this header:
 *   net.c     the layer's state, its part of the loop (io/io.h), options
 *   addr.c    addresses as text: parsing and printing
 *   conn.c    a connection's life: creating, delivering to the owner, closing, freeing
 *   stream.c  a connection's data: reading with backpressure, writing with the output limit
 *   listen.c  listeners;  accept.c  accepting (also the cluster's), out of descriptors too
 *   dial.c    outgoing connections
 *   sweep.c   closing what an exited owner left open;  conns.c  the console's view
 *   msgs.c    decoding the messages an owner receives
 *
 * Threads. Everything here belongs to the I/O thread, except the `shared` part of tr_net_t:
 * the map from each open connection to its owner and the map from each listener to its
 * port, which any thread reads under `mu` (tr_conn_write checks ownership there, at once,
 * so it can answer TR_ENOENT). The I/O thread reads actors (their mailbox counters, to
 * deliver and to apply backpressure) only between tr__net_enter and tr__net_leave, as every
 * other callback of the I/O thread does (io/io.h); commands already run inside them.
 *
 * A connection's life on the I/O thread:
 *   1. created: by an accept (OPEN at once) or a dial command (DIALING: resolving,
 *      connecting, perhaps to several addresses in turn, under an optional timeout);
 *   2. OPEN: TR_ATOM_TCP_OPEN delivered, reading, writing;
 *   3. CLOSING: it left the id maps (writes now get TR_ENOENT or are dropped), its owner got
 *      or is about to get TR_ATOM_TCP_CLOSED, and its handles are closing;
 *   4. freed, once every libuv handle and request that points at it has called back
 *      (`refs`: one for being open, one per handle, one per name lookup in flight).
 * When the system stops, the part's discard hook closes whatever is left without telling
 * anyone (every actor has exited by then), and its free hook frees the state once the loop
 * has run the close callbacks. */
#ifndef TR_NET_NET_H
#define TR_NET_NET_H

#include <pthread.h>
#include <uv.h>

#include "base/u64map.h"
#include "io/io.h"
#include "net/codec.h"
#include "troupe/net.h"

/* Bytes of one read: the most input a paused connection parks besides its codec buffer. */
#define TR_NET_READ_CHUNK ((size_t)64 << 10)
/* How often the I/O thread looks for connections and listeners whose owner has exited, while
 * there are any: their sockets close within this long after the owner is gone. */
#define TR_NET_SWEEP_MS 100u
/* How often a paused connection looks at its owner's mailbox again: short, because reading
 * resumes no sooner; it runs only while some connection is paused. */
#define TR_NET_RESUME_MS 1u
/* Defaults of tr_conn_opts_t (net.h). */
#define TR_NET_OUT_LIMIT ((size_t)1 << 20)
/* The floor of the default node-wide output budget (tr_config_t.out_budget). */
#define TR_NET_OUT_BUDGET_MIN ((size_t)64 << 20)
#define TR_NET_HIGH_WATER 256u
#define TR_NET_LINGER_MS 5000u
/* The listen backlog when none is given: the kernel's somaxconn (which caps whatever is asked
 * for), or Redis's default of 511 where that cannot be read. 128, the old default, lost most
 * of a burst of 2,000 connections in one test. */
#define TR_NET_BACKLOG 511
/* Out of file descriptors, a listener tries to accept again this often (and whenever one of
 * the layer's connections closes). */
#define TR_NET_ACCEPT_RETRY_MS 100u
/* Connections accepted in one go before the loop sees to other sockets. */
#define TR_NET_ACCEPT_BATCH 256u

enum { TR_CONN_DIALING = 0, TR_CONN_OPEN, TR_CONN_CLOSING };

typedef struct tr_net tr_net_t;
typedef struct tr_net_write tr_net_write_t;

/* What a connection's owner and the I/O thread share, so that the owner can write to the
 * socket itself (write.c). Found from the connection's id in the owners map (under net->mu),
 * kept alive by references: the map's, the connection's, and one per write under way. */
typedef struct tr_conn_shared {
  pthread_mutex_t mu;    /* the owner's writes and the I/O thread's open, close, completions */
  _Atomic uint32_t refs; /* acq_rel decrements: the last one frees (after every use of it) */
  tr_pid_t owner;        /* immutable */
  bool framed;           /* immutable: TR_CODEC_FRAMES, whose writes get a length prefix */
  int fd;                /* the socket, while `open`; guarded by mu */
  bool open;             /* guarded by mu: the owner may write to fd itself */
  uint32_t queued;       /* guarded by mu: writes handed to the I/O thread, not yet done */
  _Atomic uint64_t bytes_direct; /* written by the owner itself (statistics, relaxed) */
} tr_conn_shared_t;

/* Options with every default resolved. */
typedef struct {
  tr_codec_t codec;
  size_t out_limit;
  uint32_t high_water, low_water;
  uint32_t linger_ms;
} tr_net_opts_t;

/* A listener's counters (tr_listener_stats), the I/O thread's. The listener and every
 * connection it accepted hold a reference, so that a connection outliving its listener still
 * counts somewhere; the last one frees it. */
typedef struct tr_lstats {
  uint32_t refs;
  uint64_t open, accepted, bytes_in, bytes_out, dropped_slow, refused;
} tr_lstats_t;

typedef struct tr_tcp_conn {
  tr_io_cmd_t cmd; /* the dial command that brings a dialled connection to the I/O thread */
  tr_net_t *net;
  uint64_t id;
  tr_pid_t owner;
  uint8_t state;    /* TR_CONN_* */
  bool paused;      /* reading stopped for backpressure: in the paused list */
  bool held;        /* reading stopped by the owner (tr_conn_pause) */
  bool eof;         /* the peer sent its FIN: reading is over */
  bool timer_on;    /* `timer` is initialised and not closed */
  bool resolving;   /* `gai` is in flight */
  int close_reason; /* for a close waiting on its shutdown */
  uint32_t refs;
  uv_tcp_t *tcp;    /* the socket; NULL while a dial resolves */
  uv_timer_t timer; /* a dial's timeout; once open, the linger after EOF or a close */
  uv_shutdown_t shutdown;
  uv_connect_t connect;
  uv_getaddrinfo_t gai;
  tr_net_opts_t opts;
  tr_conn_shared_t *shared; /* (a reference) the owner's side of writing */
  tr_codec_state_t codec;
  unsigned char *stash; /* input read but not delivered when reading paused */
  size_t stash_off, stash_len;
  tr_net_write_t *pending, **pending_tail; /* writes queued while dialling */
  size_t pending_bytes;
  /* Output of this connection counted in the net's out_total (write.c); taken out of the
   * total at once when the connection begins to close, its writes about to end. */
  size_t out_held;
  struct tr_tcp_conn *prev, *next;             /* every connection not yet freed */
  struct tr_tcp_conn *pause_prev, *pause_next; /* paused connections */
  char *host;                                  /* a dial's target */
  uint16_t port;
  uint32_t timeout_ms;
  struct addrinfo *ai, *ai_next; /* a dial's resolved addresses, and the next to try */
  char peer[TR_ADDR_MAX], local[TR_ADDR_MAX];
  uint64_t bytes_in, bytes_out; /* read from the socket; queued for writing (console) */
  tr_lstats_t *lst;             /* (a reference) its listener's counters; NULL: dialled */
} tr_tcp_conn_t;

/* A listening socket that accept.c accepts from (not libuv's uv_listen: see there), for the
 * net layer's listeners and the cluster's. The owner sets take, closed, what, refused and
 * data; tr__acceptor_open does the rest. I/O thread only. */
typedef struct tr_acceptor tr_acceptor_t;
struct tr_acceptor {
  tr_net_t *net;
  int fd;                                /* the listening socket */
  uv_poll_t poll;                        /* watches fd while accepting */
  void (*take)(tr_acceptor_t *, int fd); /* an accepted socket: take it or close it */
  void (*closed)(tr_acceptor_t *);       /* after tr__acceptor_close (may be NULL) */
  const char *what;                      /* its log lines' prefix: "tcp", "cluster" */
  uint64_t *refused;                     /* counts shortages of descriptors (may be NULL) */
  void *data;                            /* the owner's */
  char name[TR_ADDR_MAX];                /* "addr:port", for the log */
  bool starved;  /* accept() lacked a descriptor: fd is not watched, the retry timer tries */
  bool short_of; /* since then, the backlog has not been emptied (logged once per shortage) */
  tr_acceptor_t *snext, *sprev; /* in net's starved list */
};

typedef struct tr_tcp_listener {
  tr_net_t *net;
  uint64_t id;
  tr_pid_t owner; /* TR_PID_NONE: the system's */
  tr_acceptor_t acc;
  const tr_behaviour_t *beh;
  void *init;
  size_t init_len;
  tr_net_opts_t opts;
  tr_lstats_t *st; /* (a reference) */
  char addr[TR_ADDR_MAX];
  uint16_t port;
} tr_tcp_listener_t;

struct tr_net {
  tr_io_t *io;
  /* Shared: any thread, under mu. Written by the I/O thread, and by tr_dial (which records a
   * connection's owner before the I/O thread first hears of it). */
  pthread_mutex_t mu;
  tr_u64map_t owners; /* open connection id -> its tr_conn_shared_t (the map's reference) */
  tr_u64map_t ports;  /* listener id -> bound port */
  /* The I/O thread's own. */
  tr_u64map_t conns;     /* id -> tr_tcp_conn_t * of connections not closing */
  tr_u64map_t listeners; /* id -> tr_tcp_listener_t * of listeners not closing */
  tr_tcp_conn_t *all;    /* every connection not yet freed */
  tr_tcp_conn_t *paused;
  uv_timer_t sweep, resume;
  uv_timer_t accept_retry; /* runs while some acceptor is starved */
  tr_acceptor_t *starved;  /* acceptors waiting for a descriptor */
  bool stopping;           /* the part is being discarded: deliver nothing, read no actor */
  size_t out_budget;       /* tr_config_t.out_budget, resolved */
  size_t out_total;        /* output the connections not closing hold (libuv's or pending) */
  unsigned char rbuf[TR_NET_READ_CHUNK]; /* every read lands here (one read at a time) */
};

/* ---- net.c ---- */

/* Attach the net layer to the system's loop (runtime/, at start). 0 or a TR_E* code. */
int tr__net_attach(tr_system_t *sys);
/* The net layer of ctx's system (attached at start, so never NULL while it runs). */
tr_net_t *tr__net_of(const tr_ctx_t *ctx);
/* Any thread: validate options and fill in the defaults. Returns 0 or TR_EINVAL. */
int tr__net_opts(const tr_conn_opts_t *in, tr_net_opts_t *out);

/* Bracket a libuv callback that may read actors (see above). False once the part is being
 * discarded: then the callback only releases what it holds. */
static inline bool tr__net_enter(tr_net_t *n) {
  if (n->stopping)
    return false;
  tr__io_enter(n->io);
  return true;
}
static inline void tr__net_leave(tr_net_t *n) {
  if (!n->stopping)
    tr__io_leave(n->io);
}

/* Messages queued for an actor (handled ones are subtracted at the end of each turn). */
static inline uint64_t tr__net_depth(tr_actor_t *a) {
  uint64_t deq = atomic_load_explicit(&a->deq, memory_order_relaxed);
  uint64_t enq = atomic_load_explicit(&a->enq, memory_order_relaxed);
  return enq > deq ? enq - deq : 0;
}

/* The default listen backlog (see TR_NET_BACKLOG). Any thread. */
int tr__net_default_backlog(void);

/* ---- addr.c (any thread) ---- */

/* "a.b.c.d:port" or "[v6]:port" of a socket address ("?" when it is neither). */
void tr__net_addr_text(const struct sockaddr *sa, char out[TR_ADDR_MAX]);
/* Parse an IPv4 or IPv6 literal (an IPv6 one may be in brackets). Returns 0 or TR_EINVAL. */
int tr__net_parse_addr(const char *host, uint16_t port, struct sockaddr_storage *out);
/* A listen spec as the servers' flags take it: "PORT", "HOST:PORT" or "[V6]:PORT" (HOST
 * 127.0.0.1 when left out) into addr and *port. Returns 0 or TR_EINVAL; the address itself
 * is checked when bound. */
int tr__net_split_spec(const char *spec, char addr[TR_ADDR_MAX], uint16_t *port);

/* ---- conn.c ---- */

/* Any thread: a connection with its options, not yet known to the I/O thread. */
tr_tcp_conn_t *tr__net_conn_new(tr_net_t *net, const tr_net_opts_t *opts);
/* Free a connection that never reached the I/O thread. */
void tr__net_conn_free(tr_tcp_conn_t *c);
/* Make it the I/O thread's: list it and, as `id`, in the conns map. 0 or TR_ENOMEM. */
int tr__net_conn_adopt(tr_tcp_conn_t *c);
/* A socket handle for c (counted in refs). NULL when out of memory. */
uv_tcp_t *tr__net_tcp_new(tr_tcp_conn_t *c);
/* Close a socket handle of a connection; its close callback frees it and drops its ref. */
void tr__net_close_tcp(uv_tcp_t *tcp);
void tr__net_unref(tr_tcp_conn_t *c);
/* Record the peer's and our address of c's socket. */
void tr__net_conn_names(tr_tcp_conn_t *c);
/* Deliver a message about c to its owner (ref = c's id). Returns the owner, or NULL when it
 * is gone (nothing is delivered; the caller closes c). */
tr_actor_t *tr__net_deliver(tr_tcp_conn_t *c, tr_atom_t tag, const void *data, size_t len);
/* c is up (accepted or connected, its names recorded): tell its owner and start reading. */
void tr__net_conn_opened(tr_tcp_conn_t *c);
/* Close c, once: graceful (after queued writes, with a shutdown) or at once, then
 * TR_ATOM_TCP_CLOSED with `reason` to its owner. */
void tr__net_conn_close(tr_tcp_conn_t *c, int reason, bool graceful);
/* (Re)start c's one timer: fire `cb` once after ms. */
void tr__net_arm_timer(tr_tcp_conn_t *c, uint64_t ms, uv_timer_cb cb);
/* Close c's timer, if it is open. */
void tr__net_stop_timer(tr_tcp_conn_t *c);
/* The open (not closing) connection with this id, or NULL. */
tr_tcp_conn_t *tr__net_find(tr_net_t *net, uint64_t id);

/* ---- stream.c ---- */

/* Start reading c. */
void tr__net_read_start(tr_tcp_conn_t *c);
/* Drop c from the paused list and its parked input. */
void tr__net_unpause(tr_tcp_conn_t *c);
void tr__net_on_resume(uv_timer_t *t);
/* The owner's tr_conn_pause and tr_conn_resume, on the I/O thread. */
void tr__net_hold(tr_tcp_conn_t *c, bool hold);

/* ---- write.c ---- */

/* Any thread: a shared record for a new connection of `owner` (one reference, the caller's),
 * or NULL when out of memory. */
tr_conn_shared_t *tr__net_shared_new(tr_pid_t owner, const tr_net_opts_t *opts);
void tr__net_shared_ref(tr_conn_shared_t *sh);
void tr__net_shared_unref(tr_conn_shared_t *sh);
/* Any thread: put connection `id` in the owners map, which takes a new reference. 0 or
 * TR_ENOMEM. */
int tr__net_owner_add(tr_net_t *net, uint64_t id, tr_conn_shared_t *sh);
/* Take connection `id` out of the owners map and stop the owner's own writes. Any thread. */
void tr__net_owner_del(tr_net_t *net, uint64_t id);
/* I/O thread: c's socket is up; from now on its owner may write to it itself. */
void tr__net_direct_open(tr_tcp_conn_t *c);
/* Write what was queued while dialling; free it instead when `discard`. */
void tr__net_flush_pending(tr_tcp_conn_t *c, bool discard);
/* c has just become TR_CONN_CLOSING: its output no longer counts against the node's budget
 * (write.c). Once per connection. */
void tr__net_out_forget(tr_tcp_conn_t *c);

/* ---- listen.c ---- */

void tr__net_listener_close(tr_tcp_listener_t *l);

/* ---- accept.c ---- */

/* Bind a listening socket to addr and start accepting (a->take gets each new socket).
 * Returns the bound port, or a libuv error code (then nothing is left open). */
int tr__acceptor_open(tr_acceptor_t *a, tr_net_t *net, const struct sockaddr *addr, int backlog);
/* Stop accepting; the socket closes, then a->closed runs. */
void tr__acceptor_close(tr_acceptor_t *a);
/* Starved acceptors try to accept again (the retry timer). */
void tr__net_on_accept_retry(uv_timer_t *t);
/* A descriptor may have freed (a socket closed): starved acceptors try at once. */
void tr__net_accept_kick(tr_net_t *net);

/* ---- sweep.c ---- */

/* Start the owner sweep if it is not running. */
void tr__net_watch(tr_net_t *net);
void tr__net_on_sweep(uv_timer_t *t);

/* ---- conns.c: the console's view of the open connections ---- */

typedef struct {
  uint64_t id;
  tr_pid_t owner;
  char peer[TR_ADDR_MAX], local[TR_ADDR_MAX];
  uint64_t bytes_in, bytes_out; /* since it opened */
  uint64_t buffered;            /* output queued by troupe, not yet taken by the kernel */
  bool dialing;
} tr_conn_info_t;
/* Any thread but the I/O thread (ctx: the caller's); blocks until the I/O thread has
 * answered. Fills out[0..cap) and stores the number of connections (possibly more than
 * cap) in *total. Returns 0, TR_ESTOPPED or TR_ENOMEM. */
int tr__net_conns(tr_ctx_t *ctx, tr_conn_info_t *out, size_t cap, size_t *total);

/* Let go of a reference to a listener's counters (I/O thread). */
void tr__lstats_unref(tr_lstats_t *st);

#endif
