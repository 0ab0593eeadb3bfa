/* Private: the incremental input codecs of a TCP connection (raw chunks, lines, msgpack
 * frames; include/troupe/net.h). A codec cuts a byte stream, read in pieces of any size,
 * into the units delivered to the connection's actor.
 *
 * It is driven by one thread at a time (the I/O thread for a live connection). Units that
 * lie wholly inside the bytes just read are handed out in place, without a copy; only a
 * unit split across reads is gathered in the codec's own buffer, which never grows past
 * the codec's max (+ 1 byte for a line's "\r"). That buffer plus at most one read chunk
 * parked by a paused connection (net/conn.c) is all the input memory a connection holds. */
#ifndef TR_NET_CODEC_H
#define TR_NET_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/net.h"

/* Defaults of tr_codec_t.max (net.h). */
#define TR_CODEC_RAW_MAX ((size_t)64 << 10)
#define TR_CODEC_LINES_MAX ((size_t)8 << 10)
#define TR_CODEC_FRAMES_MAX ((size_t)1 << 20)
/* A frame's length prefix: 4 bytes, big-endian. */
#define TR_FRAME_HEADER 4u

/* Where the RESP codec's scan of the command being gathered stands (net/resp.c). */
typedef struct tr_resp_scan {
  uint8_t phase;  /* what the next byte is */
  bool bad;       /* the number being read is not a valid one */
  bool neg;       /* ... it started with '-' */
  uint8_t digits; /* ... digits so far */
  uint64_t num;   /* ... its value so far */
  uint32_t left;  /* arguments still to come */
  uint64_t data;  /* bytes of the current bulk still to come */
  size_t line;    /* bytes of the current header or inline line so far */
  size_t total;   /* bytes of the command so far */
} tr_resp_scan_t;

typedef struct tr_codec_state {
  tr_codec_kind_t kind;
  size_t max;         /* resolved: never 0 */
  unsigned char *buf; /* a unit split across reads, gathered here */
  size_t len, cap;
  bool reset;   /* the unit last returned lives in buf: empty it on the next call */
  uint8_t hlen; /* frames: bytes of the length prefix seen so far */
  unsigned char hdr[TR_FRAME_HEADER];
  size_t need; /* frames: the body's length, once the prefix is complete */
  bool failed; /* RESP: a protocol error was reported; the rest is dropped */
  tr_resp_scan_t resp;
} tr_codec_state_t;

/* The max a spec means (its default for 0). */
size_t tr__codec_max(const tr_codec_t *spec);
/* Is the spec acceptable (a known kind, max at most TR_MSG_MAX)? */
bool tr__codec_valid(const tr_codec_t *spec);

void tr__codec_init(tr_codec_state_t *c, const tr_codec_t *spec);
void tr__codec_free(tr_codec_state_t *c);

/* Cut the next unit. `in[0..len)` are bytes not yet given to the codec; *used receives how
 * many of them this call consumed (the caller passes the rest next time). Returns
 *   1  a unit: *out, *out_len (it points into `in` or into the codec's buffer, and is valid
 *      until the next call or until `in` goes away, whichever comes first);
 *   0  every byte of `in` was consumed and no unit is complete yet;
 *   TR_ELIMIT  a line or frame over max;
 *   TR_EPROTO  a frame that is not exactly one valid msgpack value;
 *   TR_ENOMEM  the buffer for a split unit could not grow.
 * After an error the codec is unusable (the connection closes). */
int tr__codec_next(tr_codec_state_t *c, const void *in, size_t len, size_t *used, const void **out,
                   size_t *out_len);

/* The input ended (the peer's FIN): a line still being gathered is a unit of its own, which
 * this hands out as tr__codec_next does (returns 1); anything else that is incomplete is
 * dropped (returns 0). */
int tr__codec_end(tr_codec_state_t *c, const void **out, size_t *out_len);

/* Bytes the codec holds between calls (for tests of the memory bound). */
size_t tr__codec_buffered(const tr_codec_state_t *c);

/* Write a frame's length prefix. */
void tr__codec_frame_header(uint32_t len, unsigned char hdr[TR_FRAME_HEADER]);

#endif
