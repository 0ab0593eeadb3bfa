/* The cluster: several systems (nodes), in one process or many, on one machine or many,
 * joined over TCP into a full mesh, so that their actors send to each other, link to and
 * monitor each other, and share process groups, with the same calls as locally.
 *
 * A node has a name (unique in the cluster), a listen address, a cookie (the secret every
 * node of the cluster shares) and seeds (nodes to dial at start). It dials its seeds; the
 * first thing a peer tells a new link is the list of the others, which it dials in turn, so
 * one seed is enough for the mesh to form. There is no daemon (no epmd) and no global
 * registry.
 *
 * Pids. A remote actor's pid is an ordinary tr_pid_t: its node field indexes this node's
 * table of peers (name and incarnation: each start of a node is a new incarnation, so the
 * pids of a node that restarted stay dead). Sending to it, linking to it, monitoring it,
 * replying to it: all as locally. Inside payloads a pid travels with the 'p' format letter
 * (msg.h) of a call that takes a format (tr_sendf, tr_replyf): the links translate those;
 * other payloads cross untouched, and a pid packed as a plain integer means nothing on
 * another node. Tags travel by name and are looked up, never interned, where they arrive (a tag the
 * receiving node does not know makes the message a dead letter), so no peer can fill the
 * atom table. A pointer payload cannot go to another node (TR_ENOTLOCAL).
 *
 * Guarantees (as Erlang's): messages and signals from one actor to another arrive in the
 * order they were sent, at most once, while the link between their nodes lives. When it
 * breaks (the peer exits or is killed: at once; it stops answering: within down_after_ms),
 * whatever was queued for it is dropped and counted, its members leave every group, and
 * then every monitor of its actors delivers DOWN with reason noconnection and every link an
 * exit signal with reason noconnection (so an actor told of the loss that looks in a group
 * for a replacement finds only live nodes' members); the link is dialled again with
 * exponential backoff. A send that happens after the link is back may arrive although
 * earlier ones were lost; a stronger delivery is the application's (acknowledge and resend).
 *
 * Security. Peers authenticate each other with a challenge-response (HMAC-SHA256 keyed by a
 * hash of the cookie, over both sides' nonces, names, incarnations and versions), so the
 * cookie never crosses the wire and a recorded handshake proves nothing later. What follows
 * the handshake is not encrypted nor authenticated: run clusters on private networks or
 * tunnels (as Erlang distribution must be). Before authentication a connection may send
 * only small handshake frames, for a few seconds, from a bounded number of connections,
 * with a growing delay after failures from the same address.
 *
 * Threads: everything of the cluster runs on the system's I/O thread (heartbeats included,
 * so busy workers cannot make a node look dead), except what a sender does to queue a frame,
 * which happens on the sender's own thread. */
#ifndef TROUPE_CLUSTER_H
#define TROUPE_CLUSTER_H

#include "actor.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_NODE_NAME_MAX 64 /* bytes of a node's name */
/* Peers one node may know (its node table has 4095 entries; this is the cap of live ones). */
#define TR_CLUSTER_NODES_DEFAULT 64u
/* The shortest cookie accepted. */
#define TR_COOKIE_MIN 16u

/* How a system becomes a node (tr_cluster_start). Start from tr_cluster_config_init; every
 * zero field means its default. */
typedef struct {
  /* This node's name: 1..TR_NODE_NAME_MAX bytes of [A-Za-z0-9_.-]. Required. */
  const char *name;
  /* Where peers connect: "host:port" (an IPv4 or IPv6 literal; "[::1]:port" for IPv6).
   * NULL: "127.0.0.1:0", a free port on loopback (tr_cluster_port tells which). */
  const char *listen;
  /* The shared secret, at least TR_COOKIE_MIN bytes: given here, or read from cookie_file.
   * When neither is given, ~/.troupe/cookie is read, or created (32 random bytes from the
   * system's generator, mode 0400) when it does not exist. */
  const void *cookie;
  size_t cookie_len; /* bytes of cookie */
  const char *cookie_file;
  /* Nodes to dial at start: "host:port,host:port". A host may be a name with several
   * addresses (a headless service); it is resolved again at every reconnect, on the I/O
   * thread. NULL: none (others dial this one). */
  const char *seeds;
  /* Failure detection: a PING when nothing was sent for heartbeat_ms (0: 500); a peer from
   * which no byte came for down_after_ms is down (0: 2500). */
  uint32_t heartbeat_ms, down_after_ms;
  /* Reconnects wait a random time below min(backoff_cap_ms, backoff_base_ms * 2^n)
   * (0: 100 and 5000). */
  uint32_t backoff_base_ms, backoff_cap_ms;
  /* Per link: above busy_bytes queued, actors that send to it are muted until it drains
   * below half (0: 1 MiB; the overload policy of actor.h); above max_queue_bytes, sends to
   * it fail with TR_EBUSY and count as dead letters (0: 64 MiB); a link whose queue has not
   * moved for stall_ms is closed (0: 10000). */
  size_t busy_bytes, max_queue_bytes;
  uint32_t stall_ms;
  /* The most peers at once (0: TR_CLUSTER_NODES_DEFAULT). */
  uint32_t max_nodes;
} tr_cluster_config_t;

/* Fill cfg with the defaults, then with the environment: TROUPE_NODE (name), TROUPE_LISTEN,
 * TROUPE_SEEDS, TROUPE_COOKIE_FILE. Strings point into the environment. */
TR_API void tr_cluster_config_init(tr_cluster_config_t *cfg);

/* Make sys a node of a cluster: bind the listener (on the I/O thread, while the caller
 * waits, so a bind error comes back here) and start dialling the seeds. Once per system,
 * from outside the workers. Errors: TR_EINVAL (a bad name, address, seeds or knob; a cookie
 * under TR_COOKIE_MIN bytes; started already), TR_EADDRINUSE, TR_ESYS (the cookie file
 * cannot be read or made, logged with the cause; another socket error), TR_ENOMEM,
 * TR_ESTOPPED. */
TR_API int tr_cluster_start(tr_system_t *sys, const tr_cluster_config_t *cfg);

/* The port the node listens on (0 when it is not a node). Any thread. */
TR_API uint16_t tr_cluster_port(tr_system_t *sys);
/* This node's name, or NULL when it is not a node. Any thread. */
TR_API const char *tr_node_name(tr_system_t *sys);
/* The name of the node a pid belongs to: this node's own for a local pid, "" for an index
 * this node does not know. Returns out. Any thread. */
TR_API char *tr_pid_node_name(tr_system_t *sys, tr_pid_t pid, char out[TR_NODE_NAME_MAX + 1]);
/* Is pid an actor of another node? */
TR_API bool tr_pid_is_remote(tr_pid_t pid);

/* Send to the actor registered as `name` on `node` (NULL or this node's name: here). The
 * name is looked up where the message arrives; none there makes it a dead letter on that
 * node. Otherwise as tr_send; TR_ENOENT when no such node is connected (the message is a
 * dead letter, counted). */
TR_API int tr_send_name(tr_ctx_t *ctx, const char *node, const char *name, tr_atom_t tag,
                        const void *data, size_t len);

/* Node events for the calling actor (from a handler), on or off: TR_ATOM_NODEUP when a link
 * to a peer comes up, TR_ATOM_NODEDOWN when it goes down; read both with tr_msg_node. */
TR_API int tr_node_monitor(tr_ctx_t *ctx, bool on);

/* Why a link went down. */
typedef enum {
  TR_DOWN_NONE = 0, /* no reason: the link has not gone down */
  TR_DOWN_EOF,      /* the peer closed the connection (or exited, or was killed) */
  TR_DOWN_TIMEOUT,  /* no byte for down_after_ms */
  TR_DOWN_STALLED,  /* the peer did not read for stall_ms */
  TR_DOWN_PROTOCOL, /* the peer sent something this node cannot accept */
  TR_DOWN_REPLACED, /* a new connection to the same node replaced it */
  TR_DOWN_BYE,      /* the peer stopped in order */
  TR_DOWN_ERROR,    /* a socket error */
} tr_down_reason_t;

/* The reason's name ("none", "eof", "timeout", "stalled", "protocol", "replaced", "bye",
 * "error"; "?" for another value), for logs and the console. Any thread; a static string. */
TR_API const char *tr_down_reason_name(tr_down_reason_t r);

/* Decode TR_ATOM_NODEUP or TR_ATOM_NODEDOWN: the peer's name, and why it went down. */
TR_API int tr_msg_node(const tr_msg_t *m, char name[TR_NODE_NAME_MAX + 1],
                       tr_down_reason_t *reason);

/* Where a link is (tr_link_info_t.state). */
typedef enum {
  TR_LINK_CONNECTING, /* a dial or its handshake is under way */
  TR_LINK_UP,         /* authenticated: frames flow */
  TR_LINK_DOWN        /* no connection: dialled again after the backoff, or by the peer */
} tr_link_state_t;

/* One link as tr_cluster_links reports it. */
typedef struct {
  char name[TR_NODE_NAME_MAX + 1]; /* the peer's node name */
  char addr[64];                   /* the peer's listen address */
  uint64_t incarnation;            /* of the peer's current start (0 before the first handshake) */
  tr_link_state_t state;           /* now */
  bool dialled;                    /* this node dialled it (else it was accepted) */
  uint64_t rtt_us;                 /* the last PING's round trip */
  /* Traffic since this node first heard of the peer, over all its connections and starts:
   * bytes read and written on the socket, frames received and queued. */
  uint64_t bytes_in, bytes_out, frames_in, frames_out;
  uint64_t queue_bytes;       /* queued to be written */
  uint32_t muted;             /* actors muted on it now */
  uint64_t dropped_down;      /* frames dropped when it went down */
  uint64_t dropped_full;      /* sends refused over max_queue_bytes */
  uint64_t dropped_unknown;   /* messages in with a tag this node does not know */
  uint64_t reconnects;        /* times it came up after the first */
  tr_down_reason_t last_down; /* why it last went down (TR_DOWN_NONE: never) */
  uint64_t last_down_ms;      /* when, in ms since the system started (0: never) */
} tr_link_info_t;

/* The links, into out[0..cap); *total gets how many there are. Any thread but the I/O
 * thread (it asks it). Returns 0, or TR_EINVAL / TR_ESTOPPED. */
TR_API int tr_cluster_links(tr_system_t *sys, tr_link_info_t *out, size_t cap, size_t *total);

/* Counters of the node as a whole. */
typedef struct {
  uint64_t refused_auth;    /* handshakes refused (wrong cookie, bad frames, too many) */
  uint64_t dead_noconn;     /* messages to nodes not connected */
  uint64_t dropped_unknown; /* messages with unknown tags, all links */
  uint64_t tags_unknown;    /* tag names from peers this node did not know */
} tr_cluster_stats_t;

/* Fill *out with the node's counters (each read on its own, so they may be of slightly
 * different moments). Any thread. Errors: TR_EINVAL (out NULL, or sys is not a node). */
TR_API int tr_cluster_stats(tr_system_t *sys, tr_cluster_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
