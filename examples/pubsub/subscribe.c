/* SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE and PUNSUBSCRIBE for a session. The session's own
 * sets decide at once what the client holds (so the counts in confirmations are Redis's);
 * the topics directory (channels) or the index (patterns) is told, and a new subscription's
 * confirmation waits for its ack (session.h). */
#include <string.h>

#include "session.h"

static const char *kind(bool pattern, bool sub) {
  return pattern ? (sub ? "psubscribe" : "punsubscribe") : (sub ? "subscribe" : "unsubscribe");
}

size_t ps_subscriptions(const session_t *s) { return s->channels.count + s->patterns.count; }

/* The confirmation [kind, name or nil, count] into b. */
static void confirm(tr_resp_buf_t *b, const char *k, const void *name, size_t len, size_t count) {
  tr_resp_array(b, 3);
  tr_resp_bulk(b, k, strlen(k));
  if (name)
    tr_resp_bulk(b, name, len);
  else
    tr_resp_null(b);
  tr_resp_integer(b, (int64_t)count);
}

/* Tell the directory or the index: [session, name] or [session, name, token]. */
static int tell(tr_ctx_t *ctx, bool pattern, bool sub, const void *name, size_t len,
                uint64_t token) {
  tr_system_t *sys = tr_ctx_system(ctx);
  tr_pid_t to = tr_whereis(sys, pattern ? PS_PATTERNS_NAME : PS_TOPICS_NAME);
  uint64_t me = tr_self(ctx).id;
  if (tr_pid_is_none(to))
    return TR_ENOENT;
  tr_atom_t tag =
      pattern ? (sub ? ps_atoms.psub : ps_atoms.punsub) : (sub ? ps_atoms.sub : ps_atoms.unsub);
  return sub ? tr_sendf(ctx, to, tag, "[u x u]", me, name, len, token)
             : tr_sendf(ctx, to, tag, "[u x]", me, name, len);
}

int ps_subscribe(tr_ctx_t *ctx, session_t *s, const tr_resp_arg_t *argv, size_t argc,
                 bool pattern) {
  ps_dict_t *set = pattern ? &s->patterns : &s->channels;
  for (size_t i = 1; i < argc; i++) {
    if (ps_dict_find(set, argv[i].data, argv[i].len)) { /* held already: confirm at once */
      confirm(&s->out, kind(pattern, true), argv[i].data, argv[i].len, ps_subscriptions(s));
      ps_emit_out(ctx, s);
      continue;
    }
    if (!ps_dict_add(set, argv[i].data, argv[i].len, NULL))
      return TR_ENOMEM;
    uint64_t token = ++s->tokens;
    pending_t *p = NULL;
    if (tell(ctx, pattern, true, argv[i].data, argv[i].len, token) == 0 &&
        (p = ps_pending(s, WAIT_ACK)) != NULL) {
      p->key[0] = token;
      p->waiting = 1;
    }
    confirm(p ? &p->head : &s->out, kind(pattern, true), argv[i].data, argv[i].len,
            ps_subscriptions(s));
    if (!p)
      ps_emit_out(ctx, s);
  }
  return 0;
}

/* Drop one held name: tell the directory or index, and confirm when asked. */
static void leave(tr_ctx_t *ctx, session_t *s, bool pattern, ps_entry_t *e, bool reply) {
  ps_dict_t *set = pattern ? &s->patterns : &s->channels;
  tell(ctx, pattern, false, e->key, e->klen, 0);
  if (reply)
    confirm(&s->out, kind(pattern, false), e->key, e->klen, ps_subscriptions(s) - 1);
  ps_dict_del(set, e);
  if (reply)
    ps_emit_out(ctx, s);
}

void ps_leave_all(tr_ctx_t *ctx, session_t *s, bool pattern, bool reply) {
  ps_dict_t *set = pattern ? &s->patterns : &s->channels;
  for (ps_entry_t *e; (e = ps_dict_any(set)) != NULL;)
    leave(ctx, s, pattern, e, reply);
}

int ps_unsubscribe(tr_ctx_t *ctx, session_t *s, const tr_resp_arg_t *argv, size_t argc,
                   bool pattern) {
  ps_dict_t *set = pattern ? &s->patterns : &s->channels;
  if (argc == 1 && set->count == 0) { /* nothing to leave: [kind, nil, count] */
    confirm(&s->out, kind(pattern, false), NULL, 0, ps_subscriptions(s));
    ps_emit_out(ctx, s);
  } else if (argc == 1) {
    ps_leave_all(ctx, s, pattern, true);
  }
  for (size_t i = 1; i < argc; i++) {
    ps_entry_t *e = ps_dict_find(set, argv[i].data, argv[i].len);
    if (e) {
      leave(ctx, s, pattern, e, true);
      continue;
    }
    confirm(&s->out, kind(pattern, false), argv[i].data, argv[i].len, ps_subscriptions(s));
    ps_emit_out(ctx, s);
  }
  return 0;
}
