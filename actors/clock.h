/* Private: the clock the actor layer owns, and the owner's side of timers.
 *
 * Requests, receive timeouts and timers an actor starts all need time to pass on another
 * thread, which the actor layer does not have: the clock is an interface this layer owns and
 * a layer above installs (timers/, on the I/O thread's heap), as CAF's actor_clock is. So
 * actors/ never names the layer that keeps time, and an actor's exit cancels its timers
 * through the same interface.
 *
 * Owned timers. A timer started from a handler belongs to that actor. Its expiry reaches the
 * owner first, as a TR_KIND_TIMER envelope (ref = the timer's id, sig = its purpose, aux = 1
 * for an interval), and the owner decides at the moment it handles it: it keeps the ids of
 * its live timers in its ext block, and an envelope whose id is no longer there was
 * cancelled and is dropped. That is why a cancel from the owner is exact even when it races
 * with the expiry: both happen on the owner's own timeline. A timer for another actor is
 * forwarded by the owner when it handles the expiry. Everything below but the clock's own
 * functions runs on the owner's worker. */
#ifndef TR_ACTORS_CLOCK_H
#define TR_ACTORS_CLOCK_H

#include "actors/actor.h"

/* What an owned timer is for (the TIMER envelope's `sig`). */
enum { TR_TP_USER = 0, TR_TP_REQUEST = 1, TR_TP_RECV = 2 };

/* A timer to start. */
typedef struct {
  uint64_t id;        /* from TR__NEXT_REF */
  uint64_t ms;        /* first expiry after this long */
  uint64_t period_ms; /* then every this long; 0 for a one-shot */
  tr_pid_t owner;     /* the owning actor, or none: then the message goes straight to `to` */
  tr_pid_t to;        /* the target of an unowned timer */
  tr_atom_t tag;      /* the message's tag and payload (copied by start) */
  const void *data;
  size_t len;
  uint8_t purpose; /* TR_TP_* for an owned timer */
} tr_timer_req_t;

typedef struct tr_clock {
  /* Any thread (ctx: the caller's). Start a timer. Returns 0, TR_ENOMEM or TR_ESTOPPED. */
  int (*start)(tr_ctx_t *ctx, const tr_timer_req_t *req);
  /* Any thread. Drop pending timers by id; no answer. Expiries already on their way are
   * dropped by their owner (see above). */
  void (*cancel)(tr_ctx_t *ctx, const uint64_t *ids, uint32_t n);
} tr_clock_t;

/* Install the clock: before any actor runs (runtime/). */
void tr__clock_install(tr_system_t *sys, const tr_clock_t *clock);

/* ---- owned timers (timers.c) ---- */

/* Start a timer owned by the running actor; req->owner is set here. `value` is what the
 * owner records for it: the target pid's id (TR_TP_USER), the request reference
 * (TR_TP_REQUEST), 0 (TR_TP_RECV). On success *id holds req->id.
 * Errors: TR_ENOMEM, TR_ESTOPPED. */
int tr__owned_start(tr_ctx_t *ctx, tr_timer_req_t *req, uint64_t value);
/* Forget an owned timer and tell the clock. False when the running actor owns no such timer. */
bool tr__owned_drop(tr_ctx_t *ctx, uint64_t id);
/* A TIMER envelope reached its owner: true when it is to be handed to receive. */
bool tr__timer_admit(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m);
/* At exit: cancel every timer the actor owns. */
void tr__owned_exit(tr_ctx_t *ctx, tr_actor_t *a);

/* ---- requests (request.c) ---- */

/* Register a pending request of the running actor with a timeout; *ref gets its reference.
 * Errors: TR_ENOMEM, TR_ESTOPPED. */
int tr__request_begin(tr_ctx_t *ctx, uint64_t timeout_ms, uint64_t *ref);
/* Undo tr__request_begin for a request that could not be sent. */
void tr__request_abort(tr_ctx_t *ctx, uint64_t ref);
/* A reply reached an actor: true when it answers a pending request. */
bool tr__reply_admit(tr_ctx_t *ctx, tr_actor_t *a, const tr_msg_t *m);
/* The requests' timer expired (m: its TIMER envelope): the requests past their deadline
 * time out. True when m itself is to be handed to receive as the first TIMEOUT. */
bool tr__request_expired(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m);

/* ---- receive timeouts (receive_timeout.c) ---- */

/* The receive timeout's timer expired: true when the TIMEOUT message is due now. */
bool tr__recv_timeout_due(tr_ctx_t *ctx, tr_actor_t *a, tr_msg_t *m);
/* After a turn that handled messages, for actors with a receive timeout. */
void tr__recv_timeout_touch(tr_actor_t *a);

#endif
