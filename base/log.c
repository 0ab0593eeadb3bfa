/* Leveled logging to stderr, one write() per line, level from TROUPE_LOG. */
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/base.h"

/* -1 until the environment has been read; then a tr_log_level_t. Relaxed: a racing first
 * read by two threads computes the same value. */
static _Atomic int log_level = -1;

static int level_from_env(void) {
  const char *v = getenv("TROUPE_LOG");
  if (!v || !*v)
    return TR_LOG_WARN;
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcasecmp(v, names[i]) == 0)
      return i;
  return TR_LOG_WARN;
}

static int current_level(void) {
  int l = atomic_load_explicit(&log_level, memory_order_relaxed);
  if (l < 0) {
    l = level_from_env();
    atomic_store_explicit(&log_level, l, memory_order_relaxed);
  }
  return l;
}

bool tr_log_enabled(tr_log_level_t level) { return (int)level <= current_level(); }

void tr_log_set_level(tr_log_level_t level) {
  atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

void tr_log(tr_log_level_t level, const char *fmt, ...) {
  if (!tr_log_enabled(level))
    return;
  static const char *const tags[] = {"error", "warn", "info", "debug"};
  char line[1024];
  int n = snprintf(line, sizeof line, "troupe %s: ", tags[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w; /* nothing sensible to do when stderr is gone */
}

void tr__assert_fail(const char *expr, const char *file, int line, const char *func) {
  fprintf(stderr, "troupe: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
  abort();
}
