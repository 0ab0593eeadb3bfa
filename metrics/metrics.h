/* Private: the metrics server's parts (include/troupe/metrics.h): the text of /metrics
 * (prom.c), HTTP requests (http.h), the server and its sessions (server.c), and the page it
 * serves (page.c, generated from web/ at build time). */
#ifndef TR_METRICS_METRICS_H
#define TR_METRICS_METRICS_H

#include "actors/actor.h"
#include "troupe/metrics.h"

/* A growing text buffer; on no memory it stops growing and remembers it. */
typedef struct {
  char *p;
  size_t len, cap;
  bool oom;
} tr_text_t;

void tr__text_add(tr_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tr__text_bytes(tr_text_t *t, const void *p, size_t n);
void tr__text_free(tr_text_t *t);

/* prom.c: the Prometheus text exposition (format 0.0.4) of sys, into t. From a handler
 * (it walks the actors and asks the I/O thread for the listeners and timers). */
void tr__metrics_render(tr_ctx_t *ctx, tr_text_t *t);

/* page.c (generated): the web view, one HTML document with its script and style inline. */
extern const unsigned char tr__metrics_page[];
extern const size_t tr__metrics_page_len;

#endif
