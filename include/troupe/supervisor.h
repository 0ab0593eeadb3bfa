/* Supervisors, as in Erlang/OTP: an actor that starts children from specs, restarts them
 * by a strategy when they exit, and gives up (exits itself) past a restart intensity.
 *
 * Specs are plain constant data and are not copied: a spec, its children array, nested
 * specs, behaviours, names and init payloads must stay valid while the supervisor runs
 * (static const data in practice). */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include "actor.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* When a child is started again after it exits (tr_child_spec_t.restart). */
typedef enum {
  TR_RESTART_PERMANENT, /* always restarted */
  TR_RESTART_TRANSIENT, /* restarted only after an abnormal exit (not normal or shutdown) */
  TR_RESTART_TEMPORARY, /* never restarted */
} tr_restart_t;

/* Which children a supervisor restarts when one of them exits and must be restarted. */
typedef enum {
  TR_ONE_FOR_ONE,  /* restart the child that exited */
  TR_ONE_FOR_ALL,  /* stop all others (reverse start order), restart all (start order) */
  TR_REST_FOR_ONE, /* stop the children started after it (reverse order), restart them */
} tr_strategy_t;

struct tr_supervisor_spec;

/* One child of a supervisor: what it runs, when it is restarted and how it is stopped. */
typedef struct {
  const char *id;                              /* names the child in logs and the console */
  const tr_behaviour_t *behaviour;             /* what the child runs ... */
  const struct tr_supervisor_spec *supervisor; /* ... or, when set, a nested supervisor */
  const void *init;                            /* init payload for each (re)start; may be NULL */
  size_t init_len;                             /* bytes of init */
  tr_restart_t restart;                        /* when it is restarted */
  uint32_t shutdown_ms; /* on stop: wait this long after the shutdown signal, then kill it;
                           0 kills it at once */
  const char *name;     /* if not NULL, registered for the child at each (re)start */
} tr_child_spec_t;

/* A supervisor: its strategy, its restart intensity and its children (tr_supervisor_start). */
typedef struct tr_supervisor_spec {
  tr_strategy_t strategy;          /* which children a restart takes */
  uint32_t intensity;              /* at most this many restarts ... */
  uint32_t period_ms;              /* ... within this many milliseconds; one more ends it */
  const tr_child_spec_t *children; /* started in this order, stopped in the reverse */
  size_t nchildren;                /* entries of children */
} tr_supervisor_spec_t;

/* Start a supervisor: it starts its children in order (each linked to it) before it handles
 * anything else.
 *  - From outside the pool (tr_system_ctx, a client's ctx) the call returns once the
 *    supervisor has started every child, as OTP's start_link does: each child is spawned and
 *    registered under its name, so a message sent to it after the return is handled after
 *    its init. If a child fails to start, the supervisor stops the ones it started, exits,
 *    and the call returns that child's error (nothing in *out). Blocks the caller for as long
 *    as the starts take.
 *  - From a handler it returns at once (a handler must not wait); the supervisor is linked to
 *    the caller, and stops (children first, in reverse start order) when the caller exits.
 * Errors: TR_EINVAL (bad spec), those of tr_spawn, a child's start error, TR_ENOENT (the
 * supervisor was killed before it could start its children). */
TR_API int tr_supervisor_start(tr_ctx_t *ctx, const tr_supervisor_spec_t *spec, tr_pid_t *out);

/* Stop a supervisor from outside the pool (tr_system_ctx, a client's ctx), as OTP's
 * supervisor:stop: it stops its children one at a time in reverse start order (each with its
 * shutdown_ms, then killed), then exits with reason shutdown. Returns once its children have
 * stopped (0 at once for a supervisor already gone); blocks the caller that long, which the
 * children's shutdown_ms bound. From a handler: TR_EINVAL (a handler must not wait;
 * tr_exit(sup, shutdown) stops it without waiting). Errors: TR_EINVAL, TR_ELIMIT, those of
 * tr_client_open. */
TR_API int tr_supervisor_stop(tr_ctx_t *ctx, tr_pid_t sup);

/* The pid of a supervisor's child by id, asked from outside (blocking request through a
 * client, up to timeout_ms). TR_PID_NONE in *out when the child is not running.
 * Errors: TR_ENOENT (no such child id, or `sup` is not alive), TR_ETIMEDOUT. */
TR_API int tr_supervisor_child(tr_client_t *c, tr_pid_t sup, const char *id, int timeout_ms,
                               tr_pid_t *out);

#ifdef __cplusplus
}
#endif
#endif
