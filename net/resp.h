/* Private: the RESP input codec (TR_CODEC_RESP, include/troupe/net.h), which net/codec.c
 * dispatches to. It cuts Redis commands (multibulk arrays of bulk strings, or inline lines)
 * from a byte stream read in pieces of any size and hands them out in batches: every unit
 * is one or more whole commands in multibulk form, as troupe/resp.h's reader walks them.
 *
 * Work and memory. Commands that lie wholly inside the bytes just read are handed out in
 * place, all of them at once, without a copy. A command split across reads is gathered in
 * the codec's buffer, and scanning it resumes where it stopped (tr_resp_scan_t): every byte
 * is looked at once, whatever the packet boundaries, so a command of 65,536 arguments that
 * arrives one argument per read costs what it costs in one read. Inline commands are turned
 * into multibulk form. The buffer is given back after a unit of more than TR_RESP_KEEP
 * bytes, so one big command does not keep its memory for the life of the connection. */
#ifndef TR_NET_RESP_H
#define TR_NET_RESP_H

#include <stddef.h>

#include "net/codec.h"

/* Default of tr_codec_t.max for RESP: the longest bulk string. Redis allows 512 MiB, but a
 * command here travels as one actor message (at most TR_MSG_MAX) and a published payload is
 * copied into every subscriber's output, so 8 MiB keeps one client's cost bounded. */
#define TR_CODEC_RESP_MAX ((size_t)8 << 20)
/* Elements of one multibulk command: more than Redis's pub/sub commands ever need, and it
 * bounds what a command's bookkeeping can cost. */
#define TR_RESP_ARGS_MAX 65536u
/* Longest inline command, and longest "*N" or "$N" header line before its "\r\n": Redis's
 * PROTO_INLINE_MAX_SIZE. A peer that sends no line end costs at most this. */
#define TR_RESP_INLINE_MAX ((size_t)64 << 10)
/* Bytes of one whole command: its message must fit TR_MSG_MAX. */
#define TR_RESP_COMMAND_MAX TR_MSG_MAX
/* A gathering buffer bigger than this is freed once its unit is handed out. */
#define TR_RESP_KEEP ((size_t)16 << 10)

/* tr__codec_next for TR_CODEC_RESP (same contract). Malformed input is not an error return:
 * it yields one unit holding Redis's reply to it ("-ERR Protocol error: ...\r\n", which the
 * reader reports as TR_EPROTO), and then every later byte is consumed and dropped, so the
 * owner can reply and close. Returns TR_ENOMEM when a buffer cannot grow. */
int tr__resp_next(tr_codec_state_t *c, const void *in, size_t len, size_t *used, const void **out,
                  size_t *out_len);

#endif
