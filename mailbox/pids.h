/* Pids inside payloads: finding and rewriting the ext values that 'p' packs (msg.h), which
 * the cluster's links translate between a node's own form (fixext 8: the pid's id) and the
 * wire's (fixext 16: the incarnation of its node, then its id there).
 *
 * A payload is a sequence of msgpack values, and a value's elements follow its header in
 * the bytes, so the walk reads header after header to the end, with no recursion and no
 * stack: its cost is one header decode per value, and the bodies of strings and binaries
 * are skipped, not read. */
#ifndef TR_MAILBOX_PIDS_H
#define TR_MAILBOX_PIDS_H

#include <stddef.h>
#include <stdint.h>

/* The ext values of type TR_EXT_PID with `body` bytes of data (8 or 16) in d[0..len): their
 * number, or TR_EPROTO when the bytes are not a sequence of whole msgpack values (then the
 * caller treats the payload as opaque). A payload without the fixext header byte for that
 * size cannot hold one, which the caller may test first with memchr. */
int tr__pids_count(const uint8_t *d, size_t len, size_t body);

/* Copy d[0..len) (which tr__pids_count accepted) to out, replacing each pid ext value of
 * `from` data bytes with one of `to` bytes whose data map() writes from the old data. out
 * holds len + count * (to - from) bytes. from and to are 8 or 16 (fixext: the header is the
 * same size, so no container length changes). */
void tr__pids_copy(const uint8_t *d, size_t len, uint8_t *out, size_t from, size_t to,
                   void (*map)(void *arg, const uint8_t *old, uint8_t *out), void *arg);

#endif
