/* Timers. They run on the system's I/O thread (a libuv loop); an expiry becomes an ordinary
 * message. Requests and receive timeouts, which are timers too, are in actor.h.
 *
 * Ownership. A timer started from inside a handler belongs to that actor: it dies with it,
 * and cancelling it from that actor is exact: once tr_timer_cancel returns, the timer's
 * message is never delivered, even if the timer had already expired and its message was
 * on its way (the owner drops it). A timer started from outside the pool (tr_system_ctx, a
 * client) has no owner; cancelling it succeeds only if it has not expired yet.
 *
 * Expiry. A timer never fires early: its message is sent no sooner than `ms` after the call,
 * usually within a millisecond after. Intervals keep their period (each expiry is scheduled
 * from the previous due time, not from when it ran); an interval that falls behind by more
 * than a period skips the missed expiries rather than bursting. */
#ifndef TROUPE_TIMER_H
#define TROUPE_TIMER_H

#include "actor.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A timer, named by its id (tr_send_after, tr_send_interval): what tr_timer_cancel takes. */
typedef struct {
  uint64_t id; /* never 0 for a started timer */
} tr_timer_t;

/* Send (tag, data) to `to` after `ms` milliseconds. The payload is copied now. On success
 * stores the timer in *out (may be NULL). Any context.
 * Errors: TR_EINVAL (ms over TR_TIMER_MAX_MS, bad tag), TR_EMSGSIZE, TR_ENOMEM, TR_ESTOPPED. */
TR_API int tr_send_after(tr_ctx_t *ctx, uint64_t ms, tr_pid_t to, tr_atom_t tag, const void *data,
                         size_t len, tr_timer_t *out);
/* Send (tag, data) to `to` every `ms` milliseconds (ms >= 1) until cancelled (or the owner
 * exits). Otherwise as tr_send_after. */
TR_API int tr_send_interval(tr_ctx_t *ctx, uint64_t ms, tr_pid_t to, tr_atom_t tag,
                            const void *data, size_t len, tr_timer_t *out);
/* Cancel a timer. From its owner: always effective (see above); returns TR_ENOENT when the
 * timer is not (or no longer) the caller's (a one-shot whose message was handled, or an
 * unknown timer). From outside: TR_ENOENT when it has expired already (a one-shot) or is
 * unknown. */
TR_API int tr_timer_cancel(tr_ctx_t *ctx, tr_timer_t t);

#ifdef __cplusplus
}
#endif
#endif
