/* Private to the session's files: a client's state, and the commands' entry points.
 *   session.c   the actor: reading commands, gathering output, writing it once per turn
 *   commands.c  the command table, dispatch (Redis's checks in Redis's order), connection
 *               commands (PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT)
 *   client.c    CLIENT and its subcommands
 *   subscribe.c SUBSCRIBE and the other pub/sub commands
 *   info.c      INFO;  docs.c  COMMAND (INFO, DOCS, COUNT, LIST)
 *
 * Ordering. Every command is handled to its end inside the turn that reads it (nothing waits
 * for another actor), so replies go out in the order the commands came, each command sees
 * the effects of the ones before it, and a SUBSCRIBE's confirmation is written only once
 * the subscription is in the group, where a PUBLISH that follows it will find it. */
#ifndef PUBSUB_SESSION_H
#define PUBSUB_SESSION_H

#include "dict.h"
#include "pubsub.h"

/* One subscriber's pushes gathered by a publisher (fanout.c). */
typedef struct {
  tr_pid_t to;
  tr_resp_buf_t buf; /* RESP2 pushes, in publish order */
  uint32_t *pubs;    /* the gathered publish each push belongs to */
  uint32_t npubs, cappubs;
} ps_fan_t;

/* The publishes of one read not yet sent, and their pending replies (fanout.c). */
typedef struct {
  ps_fan_t *fan;
  uint32_t n, cap;
  uint32_t *idx; /* open addressing: subscriber pid -> fan index + 1 */
  uint32_t nidx;
  uint32_t *counts; /* receivers of each gathered publish */
  uint32_t npub, cappub;
  size_t bytes;
  size_t hint; /* the size of the last buffer sent: the next one's first allocation */
} ps_fanout_t;

/* CLIENT REPLY: replies on, off, or off for the next command only. */
enum { PS_REPLY_ON = 0, PS_REPLY_OFF, PS_REPLY_SKIP_NEXT, PS_REPLY_SKIP };

typedef struct {
  tr_conn_t conn;
  bool open;
  bool closing;      /* QUIT: nothing more is read, the connection closes after the replies */
  bool authed;       /* AUTH (or HELLO AUTH) succeeded, or no password is set */
  int reply;         /* PS_REPLY_* */
  uint64_t commands; /* run since the last read, added to the server's count after it */
  ps_dict_t subs[3]; /* names subscribed to, per ps_kind_t */
  ps_client_t *client;
  tr_resp_buf_t out;     /* replies and pushes gathered for this turn's write */
  tr_resp_buf_t scratch; /* a push being formatted */
  ps_fanout_t fanout;    /* publishes gathered from the current read */
} session_t;

/* A command, as dispatch hands it to its handler: argv[0] is its name as sent. */
typedef struct {
  const tr_resp_arg_t *argv;
  size_t argc;
} ps_cmd_t;

/* The protocol of the session's replies. */
static inline int ps_proto(const session_t *s) { return s->out.proto == 3 ? 3 : 2; }
/* Subscriptions of every kind (the RESP2 subscribed context). */
static inline size_t ps_subscribed(const session_t *s) {
  return s->subs[0].count + s->subs[1].count + s->subs[2].count;
}

/* Is this command a PUBLISH or SPUBLISH (which gather their fan-out; fanout.c)? */
bool ps_is_publish(const tr_resp_arg_t *name);
/* Is the argument this word, ignoring case? */
bool ps_is(const tr_resp_arg_t *a, const char *word);

/* session.c */
/* Write what the session gathered (the turn's flush; also before a close). */
int ps_session_flush(tr_ctx_t *ctx, void *state);

/* commands.c */
/* Handle one command. Returns 0, or an error that ends the session (out of memory). */
int ps_dispatch(tr_ctx_t *ctx, session_t *s, const tr_resp_arg_t *argv, size_t argc);
/* "-<text>" (printf-style), with "\r" and "\n" turned into spaces as Redis does. */
void ps_error(session_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Redis's errors for a container command's unknown subcommand and a wrong argument count. */
void ps_unknown_subcommand(session_t *s, const ps_cmd_t *c);
void ps_wrong_args(session_t *s, const char *name);
/* RESET and the session's end: leave every subscription, back to RESP2, no name. */
void ps_reset(tr_ctx_t *ctx, session_t *s);

/* client.c */
void ps_cmd_client(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c);
/* A client name CLIENT SETNAME and HELLO SETNAME accept (no spaces or control bytes). */
bool ps_valid_name(const tr_resp_arg_t *a);
void ps_set_name(session_t *s, const tr_resp_arg_t *a);

/* subscribe.c */
void ps_cmd_subscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind);
void ps_cmd_unsubscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind);
void ps_cmd_publish(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind);
void ps_cmd_pubsub(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c);
/* Leave every subscription of a kind; with `reply`, confirm each as UNSUBSCRIBE does. */
void ps_leave_all(tr_ctx_t *ctx, session_t *s, ps_kind_t kind, bool reply);

/* fanout.c */
/* A new gathered publish: its index, or UINT32_MAX when out of memory. */
uint32_t ps_fanout_publish(ps_fanout_t *f);
/* Gather a push of publish `pub` for subscriber `to`; false when out of memory. */
bool ps_fanout_add(ps_fanout_t *f, uint32_t pub, tr_pid_t to, const void *push, size_t len);
/* Enough is gathered that it should be sent now. */
bool ps_fanout_full(const ps_fanout_t *f);
/* Send every buffer, then write the gathered publishes' replies, in order. */
void ps_fanout_flush(tr_ctx_t *ctx, session_t *s);
static inline bool ps_fanout_pending(const session_t *s) { return s->fanout.npub > 0; }
void ps_fanout_free(ps_fanout_t *f);

/* info.c */
void ps_cmd_info(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c);

/* docs.c */
void ps_cmd_command(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c);
/* The number of commands served (COMMAND COUNT). */
size_t ps_command_count(void);

#endif
