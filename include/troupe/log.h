/* Logging: leveled lines to stderr. The level comes from the TROUPE_LOG environment variable
 * (error, warn, info, debug; default warn), read once when the first system starts. */
#ifndef TROUPE_LOG_H
#define TROUPE_LOG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TR_LOG_ERROR = 0, TR_LOG_WARN, TR_LOG_INFO, TR_LOG_DEBUG } tr_log_level_t;

/* Write one line at a level (dropped when above the current level). Any thread; a line is
 * written with one write() so lines from threads do not interleave. */
TR_API void tr_log(tr_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
TR_API bool tr_log_enabled(tr_log_level_t level);
TR_API void tr_log_set_level(tr_log_level_t level);

#ifdef __cplusplus
}
#endif
#endif
