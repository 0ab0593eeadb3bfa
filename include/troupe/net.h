/* TCP for actors. Sockets live on the system's I/O thread (libuv); actors see them as
 * messages and act on them with commands, never touching libuv.
 *
 * A connection belongs to one actor, its owner: the actor spawned for it by a listener, or
 * the actor that dialled it. The owner receives, in order:
 *   TR_ATOM_TCP_OPEN    once, when the connection is up: read it with tr_msg_tcp_open
 *   TR_ATOM_TCP_DATA    input cut by the connection's codec: raw bytes as they came, one
 *                       line (without its "\n" or "\r\n"), one msgpack frame's bytes, or
 *                       the Redis commands of one read (TR_CODEC_RESP, below) (tr_msg_data);
 *                       tr_msg_ref(m) is the connection's id
 *   TR_ATOM_TCP_EOF     at most once, after all the data: the peer shut down its sending
 *                       side (or closed); read it with tr_msg_tcp_eof
 *   TR_ATOM_TCP_CLOSED  once, last: read the reason with tr_msg_tcp_closed
 * When the owner exits, its connections close.
 *
 * Half-close. A peer that is done sending (shutdown(SHUT_WR), `nc -N`, a script piping into
 * a socket) may still be reading: the answers to what it sent are what it waits for. So the
 * peer's FIN does not close the connection. Everything it sent before is delivered first
 * (with the lines codec, a last line without its "\n" too: the FIN ends it), then
 * TR_ATOM_TCP_EOF; the connection stays writable. The owner answers what it has to and then
 * calls tr_conn_close, which writes the queued output and closes. An owner that does
 * nothing is closed for it: linger_ms after the EOF the connection closes as tr_conn_close
 * would. A peer that closed its socket outright cannot be told apart from one that only
 * shut its sending side until a write fails; then TR_ATOM_TCP_CLOSED comes with the write's
 * error. Servers that have nothing more to say close at the EOF.  Input that breaks the codec's
 * limits (a line over max, a frame over max or not valid msgpack) closes the connection with reason
 * TR_ELIMIT or TR_EPROTO: bad input never grows memory and never stops the node.
 *
 * Backpressure. Reading pauses while the owner's mailbox holds more than `high_water`
 * messages and resumes once it is below `low_water`, so a slow actor holds back its own
 * client and nothing else. Output that troupe holds for one connection (written by the
 * owner, not yet taken by the kernel's socket buffer, which is bounded on its own) is capped
 * at `out_limit` bytes; a client that stops reading is disconnected when it passes it
 * (reason TR_ELIMIT, with a log line), and no one else slows down. All connections together
 * hold at most the node's budget (tr_config_t.out_budget): past it, a write drops its
 * connection if that one holds more than its share (the budget over the open connections),
 * also with TR_ELIMIT and a log line, so that many peers that stop reading cannot take
 * their number times out_limit. */
#ifndef TROUPE_NET_H
#define TROUPE_NET_H

#include "actor.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A connection, named by its id: the owner gets it from tr_msg_tcp_open (or tr_dial) and
 * passes it to tr_conn_write, tr_conn_close, tr_conn_pause and tr_conn_resume. A value, not
 * a handle: a closed connection's id is never reused. */
typedef struct {
  uint64_t id; /* also tr_msg_ref of the connection's TR_ATOM_TCP_DATA messages */
} tr_conn_t;

/* How a connection's input is cut into TR_ATOM_TCP_DATA messages (and, for frames, how
 * tr_conn_write frames its output). */
typedef enum {
  TR_CODEC_RAW = 0, /* chunks as read, each at most `max` bytes */
  TR_CODEC_LINES,   /* lines ended by "\n" (a "\r" before it is dropped), each at most `max` */
  TR_CODEC_FRAMES,  /* a 4-byte big-endian length, then that many bytes of one msgpack value,
                       at most `max`; checked with tr_msgpack_check before delivery */
  TR_CODEC_RESP,    /* Redis commands: multibulk arrays of bulk strings, or inline lines
                       split on blanks with optional "..." / '...' quoting. A message holds
                       every whole command of one read, at once, in multibulk form (inline
                       ones converted); walk them with troupe/resp.h's reader. `max` bounds
                       one bulk string (default 8 MiB); a command has at most 65536
                       arguments and an inline line or a length line at most 64 KiB.
                       Malformed input does not close the connection at once: it yields one
                       last message holding Redis's reply to it ("-ERR Protocol error:
                       ...\r\n", which the reader reports as TR_EPROTO), after which input
                       is discarded, so the owner writes it and closes, as Redis does. */
} tr_codec_kind_t;

/* A connection's codec: its kind and the size limit of what it delivers. */
typedef struct {
  tr_codec_kind_t kind; /* 0: TR_CODEC_RAW */
  size_t max;           /* 0: the default (raw 64 KiB, lines 8 KiB, frames 1 MiB, RESP 8 MiB) */
} tr_codec_t;

/* A connection's options (tr_listen_opts_t.conn, tr_dial); every zero field means its
 * default. */
typedef struct {
  tr_codec_t codec;    /* how its input is cut */
  size_t out_limit;    /* bytes queued for output before the peer is dropped; 0: 1 MiB */
  uint32_t high_water; /* pause reading above this many queued messages; 0: 256 */
  uint32_t low_water;  /* resume below this many; 0: high_water / 4 */
  /* The longest a connection stays up only to finish, in milliseconds; 0: 5000. Twice: after
   * the peer's EOF, for the owner to close (then it closes as by tr_conn_close), and after a
   * close, for the queued output to be taken by a peer that may not be reading (then what is
   * left is dropped and the connection closes with reason TR_ETIMEDOUT). */
  uint32_t linger_ms;
} tr_conn_opts_t;

/* What tr_listen binds, and what it spawns for each connection it accepts. */
typedef struct {
  const char *bind;                /* IPv4 or IPv6 literal address; NULL: "127.0.0.1" */
  uint16_t port;                   /* 0: any free port (see tr_listener_port) */
  int backlog;                     /* 0: the kernel's somaxconn (else 511), as Redis does */
  const tr_behaviour_t *behaviour; /* spawned for each accepted connection */
  const void *init;                /* init payload of each connection actor (copied by tr_listen) */
  size_t init_len;                 /* bytes of init (0: an empty payload) */
  tr_conn_opts_t conn;             /* the options of every accepted connection */
} tr_listen_opts_t;

/* A listener, named by its id (tr_listen, tr_console_start): for tr_listener_port and
 * tr_listener_close. */
typedef struct {
  uint64_t id; /* never reused by another listener of the system */
} tr_listener_t;

/* Listen for TCP connections. The listener belongs to the calling actor (it closes when the
 * actor exits) or, from an outside thread, to the system (it closes at stop). Each accepted
 * connection gets a new actor running opts->behaviour, which owns it. Blocks the caller
 * briefly, until the I/O thread has bound the socket, so errors come back here. Out of file
 * descriptors, the listener stops accepting (clients wait in the kernel's backlog) and tries
 * again when a connection closes and every 100 ms; it logs when that begins and when no
 * client waits any more, not per attempt.
 * Errors: TR_EINVAL (bad address or options), TR_EADDRINUSE, TR_ESYS (another socket error,
 * logged with its cause), TR_ENOMEM, TR_ESTOPPED. */
TR_API int tr_listen(tr_ctx_t *ctx, const tr_listen_opts_t *opts, tr_listener_t *out);
/* The port a listener is bound to (useful after port 0). Any thread. 0 when unknown. */
TR_API uint16_t tr_listener_port(tr_system_t *sys, tr_listener_t l);
/* Stop listening; connections already accepted stay. Any context. */
TR_API int tr_listener_close(tr_ctx_t *ctx, tr_listener_t l);

#define TR_ADDR_MAX 64 /* "[ipv6]:port" fits */

/* One open listener's counters (tr_listener_stats), since it started listening. */
typedef struct {
  tr_listener_t listener; /* which one (for tr_listener_port, tr_listener_close) */
  char addr[TR_ADDR_MAX]; /* the address it is bound to, as given */
  uint16_t port;          /* the port it is bound to */
  const char *behaviour;  /* the name of what it spawns per connection ("" for none) */
  uint64_t open;          /* connections open now */
  uint64_t accepted;      /* connections accepted */
  uint64_t refused;       /* accepts that failed (no memory, no actor), and shortages of fds */
  uint64_t bytes_in;      /* read from its connections */
  uint64_t bytes_out;     /* written to them (queued for the kernel) */
  uint64_t dropped_slow;  /* connections dropped for not reading their output (out_limit) */
} tr_listener_stats_t;

/* The counters of every open listener: the first min(total, cap) into out[], their number
 * into *total. Any thread but the I/O thread; the I/O thread takes the snapshot while the
 * caller waits (a worker waits too: briefly, as for a tr_listen). Counters of connections
 * that outlive their listener are left out with it. Errors: TR_EINVAL, TR_ESTOPPED. */
TR_API int tr_listener_stats(tr_system_t *sys, tr_listener_stats_t *out, size_t cap, size_t *total);

/* Dial host:port (an IPv4 or IPv6 literal, or a name resolved by the I/O thread) from a
 * handler; the calling actor owns the connection. The result arrives as a message:
 * TR_ATOM_TCP_OPEN on success, or TR_ATOM_TCP_CLOSED with the reason (TR_ETIMEDOUT after
 * timeout_ms, or the connect error, e.g. TR_ECONNREFUSED; a name that does not resolve
 * gives TR_ESYS, logged with its cause). A name's addresses are tried in turn.
 * timeout_ms 0: no timeout but the system's own. The connection's id is stored in *out at
 * once, and writes may be queued on it at once: they go out when it is up.
 * Errors: TR_EINVAL (not from a handler, bad arguments), TR_ENOMEM, TR_ESTOPPED. */
TR_API int tr_dial(tr_ctx_t *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                   const tr_conn_opts_t *opts, tr_conn_t *out);

/* Queue bytes for a connection (copied). For TR_CODEC_FRAMES the 4-byte length is added.
 * From its owner's handlers, in order; does not block. Returns 0, or TR_ENOENT when the
 * connection is closed or not the caller's (checked at once; a write that races with a
 * close the I/O thread is making is dropped, and TR_ATOM_TCP_CLOSED tells the owner).
 * Also TR_EINVAL (bad arguments), TR_EMSGSIZE (len over TR_MSG_MAX), TR_ENOMEM,
 * TR_ESTOPPED. Passing out_limit closes the connection (see above); that is reported by
 * TR_ATOM_TCP_CLOSED, not here. */
TR_API int tr_conn_write(tr_ctx_t *ctx, tr_conn_t c, const void *data, size_t len);
/* Close after the queued output is written (within linger_ms). TR_ATOM_TCP_CLOSED follows:
 * reason 0, or TR_ETIMEDOUT when the peer did not take the output in time. From its owner;
 * errors as tr_conn_write's. */
TR_API int tr_conn_close(tr_ctx_t *ctx, tr_conn_t c);

/* Stop delivering input from c until tr_conn_resume: for an owner that queues what it cannot
 * handle yet (a command waiting on another actor's answer) and must not queue without
 * bound. Input already delivered still arrives, and so may the rest of one read (at most
 * 64 KiB) that was under way; after that the peer's bytes wait in the kernel, and TCP
 * slows the peer down. Pausing twice is the same as once. From its owner; errors as
 * tr_conn_write's. */
TR_API int tr_conn_pause(tr_ctx_t *ctx, tr_conn_t c);
/* Deliver input again (subject to the mailbox backpressure above). */
TR_API int tr_conn_resume(tr_ctx_t *ctx, tr_conn_t c);

/* Decode TR_ATOM_TCP_OPEN: the connection, the peer's and our address as text. */
TR_API int tr_msg_tcp_open(const tr_msg_t *m, tr_conn_t *c, char peer[TR_ADDR_MAX],
                           char local[TR_ADDR_MAX]);
/* Decode TR_ATOM_TCP_EOF: the connection. */
TR_API int tr_msg_tcp_eof(const tr_msg_t *m, tr_conn_t *c);
/* Decode TR_ATOM_TCP_CLOSED: the connection and why (0: closed by us or by the peer in
 * order; else a TR_E* code). */
TR_API int tr_msg_tcp_closed(const tr_msg_t *m, tr_conn_t *c, int *reason);

#ifdef __cplusplus
}
#endif
#endif
