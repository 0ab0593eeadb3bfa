/* Logging: leveled lines to stderr. The level comes from the TROUPE_LOG environment variable
 * (error, warn, info, debug; default warn), read once when the first system starts. */
#ifndef TROUPE_LOG_H
#define TROUPE_LOG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The levels, most severe first: a level writes its own lines and those of the levels
 * before it. */
typedef enum {
  TR_LOG_ERROR = 0, /* this node failed at something: out of memory, a bad configuration */
  TR_LOG_WARN,      /* something went wrong around it: a node down, a wrong cookie */
  TR_LOG_INFO,      /* the life of a node: listening, links up, a cookie created */
  TR_LOG_DEBUG      /* detail: exits, dead letters */
} tr_log_level_t;

/* Write one line at a level (dropped when above the current level). Any thread; a line is
 * written with one write() so lines from threads do not interleave. */
TR_API void tr_log(tr_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Whether a line at `level` would be written, to skip building one that would not. Any
 * thread. */
TR_API bool tr_log_enabled(tr_log_level_t level);
/* Set the level for the whole process, over what TROUPE_LOG says. Any thread. */
TR_API void tr_log_set_level(tr_log_level_t level);

#ifdef __cplusplus
}
#endif
#endif
