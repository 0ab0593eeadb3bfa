/* Messages: atoms (interned tags), envelopes as a handler sees them, and the msgpack
 * convenience layer used to build and read payloads in one call each.
 *
 * A message is a tag (atom) + a msgpack payload + the sender's pid (+ a request reference
 * for replies). A handler receives `const tr_msg_t *`; the envelope and its payload belong
 * to the runtime and are valid until the handler returns.
 *
 * Format strings (tr_pack, tr_unpack, tr_sendf, tr_msg_unpack), one letter per value:
 *
 *   letter  packs (argument)              unpacks into (argument)
 *   i       int64_t                       int64_t *       any msgpack integer that fits
 *   u       uint64_t                      uint64_t *      any non-negative integer
 *   d       double                        double *        float32 or float64
 *   b       int (0 = false)               bool *
 *   n       (none)                        (none)          nil
 *   s       const char * (NUL-terminated) const char **, size_t *   str; points into the
 *                                                                   payload, not NUL-terminated
 *   x       const void *, size_t          const void **, size_t *   bin; points into the payload
 *   p       tr_pid_t                      tr_pid_t *      a pid: an ext value (TR_EXT_PID) that
 *                                                         the cluster's links translate, so
 *                                                         it names the same actor on every
 *                                                         node (cluster.h)
 *   [ ... ] an array of the enclosed values; unpacking requires exactly that many elements
 *   { ... } a map; the enclosed letters alternate key, value; unpacking requires exactly
 *           that many pairs
 *
 * Spaces in a format are ignored. Reading untrusted bytes is bounded: see tr_limits_t. For
 * payloads whose shape is only known at run time (variable-length arrays), build them with
 * msgpack-c's msgpack_packer and send the bytes with tr_send; read them with tr_msgpack_parse. */
#ifndef TROUPE_MSG_H
#define TROUPE_MSG_H

#include <stdarg.h>

#include <msgpack.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Atoms the runtime defines in every system, with fixed values. */
enum {
  TR_ATOM_INIT = 1,       /* the init message of a spawn */
  TR_ATOM_REPLY = 2,      /* default tag of a reply */
  TR_ATOM_EXIT = 3,       /* an exit signal delivered to an actor that traps exits */
  TR_ATOM_DOWN = 4,       /* a monitor's DOWN message */
  TR_ATOM_TIMEOUT = 5,    /* a receive timeout or request timeout */
  TR_ATOM_TCP_OPEN = 6,   /* a connection is open (net.h) */
  TR_ATOM_TCP_DATA = 7,   /* bytes, a line or a frame from a connection (net.h) */
  TR_ATOM_TCP_CLOSED = 8, /* a connection closed (net.h) */
  TR_ATOM_TRACE = 9,      /* a trace event (tr_trace, actor.h) */
  TR_ATOM_TCP_EOF = 10,   /* a connection's peer will send no more (net.h) */
  TR_ATOM_NODEUP = 11,    /* a link to another node came up (cluster.h) */
  TR_ATOM_NODEDOWN = 12,  /* a link to another node went down (cluster.h) */
  TR_ATOM_FIRST_USER = 16 /* the first value tr_atom gives out; those below are reserved */
};

/* The msgpack extension type of a pid packed with 'p': fixext 8 holding the pid's id,
 * big-endian. On the wire between nodes it travels as fixext 16 (the incarnation of its node,
 * then its id on that node), which the links write and read; a program never sees that form. */
#define TR_EXT_PID 1

#define TR_ATOM_MAX_LEN 255 /* bytes of an atom's name */

/* Intern `name` in the system's atom table and return its atom (stable for the life of the
 * system), or 0 if the name is empty, longer than TR_ATOM_MAX_LEN, or the table is full.
 * Any thread; takes a lock, so intern at start-up and keep the values rather than interning
 * per message. */
TR_API tr_atom_t tr_atom(tr_system_t *sys, const char *name);

/* One entry of a table of atoms to intern at start-up (tr_atoms). */
typedef struct {
  const char *name; /* the name to intern */
  tr_atom_t *atom;  /* where its value goes */
} tr_atom_def_t;

/* Intern every name of defs[0..n) and store each atom where its entry points, so that a
 * program's tags are one table:
 *   static tr_atom_t PING, PONG;
 *   static const tr_atom_def_t tags[] = {{"ping", &PING}, {"pong", &PONG}};
 *   tr_atoms(sys, tags, sizeof tags / sizeof tags[0]);
 * Any thread. Returns 0, or TR_EINVAL (a NULL name or pointer, or a name tr_atom refuses:
 * the entries before it are stored) or TR_ELIMIT (the table is full). */
TR_API int tr_atoms(tr_system_t *sys, const tr_atom_def_t *defs, size_t n);

/* Look a name up without interning it (for names from untrusted sources: the table never
 * grows). Returns 0 when the name is unknown. Any thread. */
TR_API tr_atom_t tr_atom_find(tr_system_t *sys, const char *name, size_t len);

/* The name of an atom, or NULL for an unknown one. The string lives as long as the system.
 * Any thread, lock-free. */
TR_API const char *tr_atom_name(tr_system_t *sys, tr_atom_t atom);

/* ---- reading a received message (valid inside the handler that received it) ---- */

/* The message's tag. */
TR_API tr_atom_t tr_msg_tag(const tr_msg_t *m);
/* Who sent it: the sending actor or client (a forwarded message keeps its first sender), the
 * actor that exited for TR_ATOM_DOWN and TR_ATOM_EXIT; TR_PID_NONE for a send from
 * tr_system_ctx, a timer's expiry and a connection's events. */
TR_API tr_pid_t tr_msg_from(const tr_msg_t *m);
/* The request reference the message carries (0 when it is not a request or reply). */
TR_API uint64_t tr_msg_ref(const tr_msg_t *m);
/* The msgpack payload and its length. For a pointer payload (tr_send_ptr) returns NULL. */
TR_API const void *tr_msg_data(const tr_msg_t *m, size_t *len);
/* The pointer of a pointer payload, or NULL. Ownership stays with the runtime, which calls
 * the free function after the handler returns, unless the handler takes it with
 * tr_msg_take_ptr (then the handler owns the pointer and must free it). */
TR_API void *tr_msg_ptr(const tr_msg_t *m);
/* Take the pointer of a pointer payload (NULL for any other message): from then on the
 * handler owns it, and the runtime will not call the free function. Taking it twice gives
 * NULL the second time. Only from the handler that received the message. */
TR_API void *tr_msg_take_ptr(const tr_msg_t *m);
/* Read the payload by format (see above). Returns 0, TR_ETYPE when the payload does not
 * match the format, TR_EPROTO when it is not valid msgpack, TR_ELIMIT past the default limits. */
TR_API int tr_msg_unpack(const tr_msg_t *m, const char *fmt, ...);

/* As tr_msg_unpack(m, "u", out): the payload is exactly one unsigned integer (tr_send_uint,
 * or a format of "u"), read without the varargs and the format. Errors: those of
 * tr_msg_unpack (TR_EINVAL when out is NULL). */
TR_API int tr_msg_uint(const tr_msg_t *m, uint64_t *out);

/* Free a message that the runtime handed over to the caller (tr_client_receive,
 * tr_client_request). Messages passed to handlers are never freed by the handler. */
TR_API void tr_msg_free(tr_msg_t *m);

/* ---- the msgpack convenience layer ---- */

/* Bounds for decoding untrusted bytes. A zero field means the default. */
typedef struct {
  size_t max_size;    /* total bytes of one value; default 16 MiB */
  uint32_t max_depth; /* nesting of arrays and maps; default 32 */
  uint32_t max_count; /* elements of one array or pairs of one map; default 65536 */
} tr_limits_t;

#define TR_LIMIT_DEFAULT_SIZE ((size_t)16 << 20) /* tr_limits_t.max_size when 0: 16 MiB */
#define TR_LIMIT_DEFAULT_DEPTH 32u               /* tr_limits_t.max_depth when 0 */
#define TR_LIMIT_DEFAULT_COUNT 65536u            /* tr_limits_t.max_count when 0 */

/* Check that data[0..len) holds exactly one well-formed msgpack value within the limits
 * (lim may be NULL for the defaults), without allocating. Returns 0, TR_EPROTO (truncated,
 * trailing bytes, reserved type byte), or TR_ELIMIT. Any thread. */
TR_API int tr_msgpack_check(const void *data, size_t len, const tr_limits_t *lim);

/* Check (as above) and then unpack one value into a msgpack-c object whose memory lives in
 * `zone` (the caller's msgpack_zone, which owns it afterwards). Returns 0 or an error of
 * tr_msgpack_check, or TR_ENOMEM. */
TR_API int tr_msgpack_parse(const void *data, size_t len, const tr_limits_t *lim,
                            msgpack_zone *zone, msgpack_object *out);

/* Pack values by format into a fixed buffer. On success stores the length in *len and
 * returns 0; returns TR_EMSGSIZE when buf is too small (nothing useful is left in buf),
 * TR_EINVAL for a bad format. Any thread. */
TR_API int tr_pack_into(void *buf, size_t cap, size_t *len, const char *fmt, ...);
TR_API int tr_vpack_into(void *buf, size_t cap, size_t *len, const char *fmt, va_list ap);

/* Pack values by format into a new buffer from malloc; the caller owns *out and frees it
 * with free(). Returns 0, TR_ENOMEM or TR_EINVAL. */
TR_API int tr_pack(void **out, size_t *len, const char *fmt, ...);
TR_API int tr_vpack(void **out, size_t *len, const char *fmt, va_list ap);

/* Read data[0..len) by format (see above), bounded by lim (NULL: defaults). The whole buffer
 * must be consumed by the format. Strings and binaries point into data. Returns 0, TR_ETYPE,
 * TR_EPROTO, TR_ELIMIT or TR_EINVAL (bad format). On error the outputs are unspecified. */
TR_API int tr_unpack(const void *data, size_t len, const tr_limits_t *lim, const char *fmt, ...);
TR_API int tr_vunpack(const void *data, size_t len, const tr_limits_t *lim, const char *fmt,
                      va_list ap);

#ifdef __cplusplus
}
#endif
#endif
