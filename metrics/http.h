/* Private: HTTP/1.1 requests (RFC 9112) cut from a connection's bytes, for the metrics
 * server (server.c), which serves GET and HEAD only and takes no request body.
 *
 * A request's head (request line and header fields) is gathered until its empty line, at
 * most TR_HTTP_HEAD_MAX bytes, scanning each byte once (its request line checked as soon as
 * it is whole, so that garbage is refused at its first line end), then parsed whole and
 * strictly: a token for the method, an origin-form target of visible ASCII, HTTP/1.0 or
 * HTTP/1.1, field lines of a token, ":" and a value without control characters; no line
 * folding; Host required in HTTP/1.1; a body (Content-Length above 0, or Transfer-Encoding)
 * refused. Lines may end with CRLF or a bare LF (RFC 9112 2.2 allows a recipient to take LF). */
#ifndef TR_METRICS_HTTP_H
#define TR_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* The most bytes of request line and header fields together, and of the target. */
#define TR_HTTP_HEAD_MAX 8192u
#define TR_HTTP_URL_MAX 2048u

typedef enum { TR_HTTP_OTHER = 0, TR_HTTP_GET, TR_HTTP_HEAD } tr_http_method_t;

typedef struct {
  char head[TR_HTTP_HEAD_MAX];
  size_t len;      /* bytes of the head gathered */
  int error;       /* the status to answer and then close (400, 413, 414, 431, 505); 0: none */
  bool complete;   /* a whole request is parsed (tr__http_next goes on to the next) */
  bool line_seen;  /* the request line is whole and was checked */
  bool keep_alive; /* the client may send another request on this connection */
  tr_http_method_t method;
  char url[TR_HTTP_URL_MAX + 1];
} tr_http_t;

void tr__http_init(tr_http_t *h);
/* Take bytes of the head; returns how many were taken. It stops after a whole request's
 * head (h->complete) or at an error (h->error); what was not taken is the caller's, to feed
 * again after tr__http_next (a pipelined request) or to drop (after an error). */
size_t tr__http_feed(tr_http_t *h, const char *data, size_t len);
/* The request was answered: start on the next. */
void tr__http_next(tr_http_t *h);
/* The path of the request (its target without the query) into out; false when it does not
 * fit. */
bool tr__http_path(const tr_http_t *h, char *out, size_t cap);
/* The value of query parameter `name`, percent-decoded ("+" as a space), into out; false when
 * it is missing, too long, malformed, or holds a NUL. */
bool tr__http_query(const tr_http_t *h, const char *name, char *out, size_t cap);

#endif
