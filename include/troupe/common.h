/* Basic types shared by every part of the public API: the export macro, pids and atoms. */
#ifndef TROUPE_COMMON_H
#define TROUPE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Marks the functions the library exports: default visibility while the library itself is
 * built (everything else is hidden), nothing for a program that includes the headers. */
#if defined(TROUPE_BUILDING) && defined(__GNUC__)
#define TR_API __attribute__((visibility("default")))
#else
#define TR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A pid names one actor for its whole life and never another one: it packs the node id,
 * the slot in the node's actor table and the slot's generation. A typed struct, so a pid
 * and an integer (or two swapped arguments) cannot be confused. The zero pid names nobody. */
typedef struct {
  uint64_t id; /* node, slot and generation, packed; compare pids with tr_pid_eq */
} tr_pid_t;

/* The zero pid: nobody (no sender, not found, no owner). */
#define TR_PID_NONE ((tr_pid_t){0})

/* Whether two pids name the same actor. Any thread. */
static inline bool tr_pid_eq(tr_pid_t a, tr_pid_t b) { return a.id == b.id; }
/* Whether p is TR_PID_NONE. Any thread. */
static inline bool tr_pid_is_none(tr_pid_t p) { return p.id == 0; }

/* An atom is an interned name, the tag of every message. Its numeric value is local to one
 * system; names travel between nodes. 0 is never a valid atom. */
typedef uint32_t tr_atom_t;

typedef struct tr_system tr_system_t; /* one actor runtime: workers, actor table, registry */
typedef struct tr_ctx tr_ctx_t; /* who is acting: an actor in a handler, or an outside thread */
typedef struct tr_msg tr_msg_t; /* a message envelope */

#ifdef __cplusplus
}
#endif
#endif
