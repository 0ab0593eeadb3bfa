/* Private: the RESP2 input codec (TR_CODEC_RESP, include/troupe/net.h), which net/codec.c
 * dispatches to. It cuts Redis commands (multibulk arrays of bulk strings, or inline lines)
 * from a byte stream read in pieces of any size, and hands each one out as a msgpack array
 * of bin, the payload documented in net.h.
 *
 * State. It uses the fields of tr_codec_state_t as follows: `buf` gathers the raw bytes of
 * a command split across reads (and, after them, the msgpack encoding of the unit handed
 * out); `reset` says that unit lives in buf; `hlen` is RESP_FAILED once a protocol error
 * was reported, after which all input is discarded. A split command is scanned again from
 * its start when more bytes come; the scan skips bulk data by its announced length, so that
 * costs O(arguments), not O(bytes), per read. */
#ifndef TR_NET_RESP_H
#define TR_NET_RESP_H

#include <stddef.h>

#include "net/codec.h"

/* Default of tr_codec_t.max for RESP: the longest bulk string. Redis allows 512 MiB, but a
 * command here travels as one actor message (at most TR_MSG_MAX) and a published payload is
 * copied into every subscriber's output, so 8 MiB keeps one client's cost bounded. */
#define TR_CODEC_RESP_MAX ((size_t)8 << 20)
/* Elements of one multibulk command: the default count limit of tr_msgpack_check
 * (TR_LIMIT_DEFAULT_COUNT), so any receiver can read every command with default limits. */
#define TR_RESP_ARGS_MAX 65536u
/* Longest inline command, and longest "*N" or "$N" header line before its "\r\n": Redis's
 * PROTO_INLINE_MAX_SIZE. A peer that sends no line end costs at most this. */
#define TR_RESP_INLINE_MAX ((size_t)64 << 10)
/* Raw bytes of one whole command: its message must fit TR_MSG_MAX (the msgpack form of a
 * multibulk command is never longer than its RESP form). */
#define TR_RESP_COMMAND_MAX TR_MSG_MAX

/* tr__codec_next for TR_CODEC_RESP (same contract). Malformed input is not an error return:
 * it yields one unit holding a msgpack str, Redis's error text ("Protocol error: ..."), and
 * then every later byte is consumed and dropped, so the owner can reply and close. Returns
 * TR_ENOMEM when a buffer cannot grow. */
int tr__resp_next(tr_codec_state_t *c, const void *in, size_t len, size_t *used, const void **out,
                  size_t *out_len);

#endif
