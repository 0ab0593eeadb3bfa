/* Private to the session's files (session.c, commands.c, subscribe.c): a client's state and
 * how its replies are kept in order.
 *
 * Ordering. Some replies need an answer from another actor first: a SUBSCRIBE confirmation
 * waits until the topic has the subscriber (so a message published after the client saw it
 * reaches the client), a PUBLISH reply waits for the receiver counts, PUBSUB for its
 * figures. Each such reply is a `pending_t` in a FIFO; output produced while any is pending
 * (later replies, pushes) is appended to the newest one's `tail`, and the FIFO is written
 * out from its head as answers complete. With nothing pending, output goes straight out. */
#ifndef PUBSUB_SESSION_H
#define PUBSUB_SESSION_H

#include "dict.h"
#include "pubsub.h"

/* What a pending reply waits for. */
typedef enum {
  WAIT_ACK,    /* acks (tokens) from a topic or the index: `head` is ready already */
  WAIT_COUNT,  /* request replies with receiver counts: `head` becomes their sum */
  WAIT_ANSWER, /* one request reply carrying RESP bytes: they become `head` */
} wait_t;

typedef struct pending {
  struct pending *next;
  wait_t kind;
  uint64_t key[2]; /* tokens or request references still awaited */
  unsigned waiting;
  uint64_t count;
  tr_resp_buf_t head; /* this reply */
  tr_resp_buf_t tail; /* output that came after it */
} pending_t;

typedef struct {
  tr_conn_t conn;
  bool open;
  bool quitting;      /* QUIT: close once the replies before it are out */
  ps_dict_t channels; /* channel -> NULL */
  ps_dict_t patterns; /* pattern -> NULL */
  pending_t *first, *last;
  uint64_t tokens;    /* the last token used */
  tr_resp_buf_t out;  /* scratch for replies */
  tr_resp_buf_t wbuf; /* output gathered for the next write */
  bool flush_due;     /* a flush message to ourselves is on its way */
} session_t;

/* Send the bytes to the client now, or after the pending replies. */
void ps_emit(tr_ctx_t *ctx, session_t *s, const void *data, size_t len);
/* Emit s->out and clear it. */
void ps_emit_out(tr_ctx_t *ctx, session_t *s);
/* Append a pending reply of that kind (NULL when out of memory). */
pending_t *ps_pending(session_t *s, wait_t kind);
/* Write out the pending replies that are complete, in order. */
void ps_settle(tr_ctx_t *ctx, session_t *s);

/* Handle one command. Returns 0 or an error that ends the session. */
int ps_command(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
               size_t argc);
/* Reply "-<text>" (printf-style), with "\r" and "\n" turned into spaces as Redis does. */
void ps_error(tr_ctx_t *ctx, session_t *s, const char *fmt, ...);

/* SUBSCRIBE / PSUBSCRIBE and UNSUBSCRIBE / PUNSUBSCRIBE (argv[1..] are the names). */
int ps_subscribe(tr_ctx_t *ctx, session_t *s, const tr_resp_arg_t *argv, size_t argc, bool pattern);
int ps_unsubscribe(tr_ctx_t *ctx, session_t *s, const tr_resp_arg_t *argv, size_t argc,
                   bool pattern);
/* Leave every channel and pattern; with `reply`, confirm each as UNSUBSCRIBE does. */
void ps_leave_all(tr_ctx_t *ctx, session_t *s, bool pattern, bool reply);
/* Subscriptions, channels and patterns together (Redis's count in confirmations). */
size_t ps_subscriptions(const session_t *s);

#endif
