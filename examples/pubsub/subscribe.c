/* The pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB.
 *
 * A subscription is membership of a process group (pubsub.h): SUBSCRIBE joins the channel's
 * group in the channel scope, PSUBSCRIBE the pattern's in the pattern scope, SSUBSCRIBE the
 * shard channel's in the shard scope; the session keeps the names in its own sets for
 * UNSUBSCRIBE without arguments and for its confirmations' counts. A PUBLISH formats its
 * push once and sends it to the channel's group, then to every pattern group whose pattern
 * matches, from the publisher itself, and replies with how many sessions it reached. */
#include <string.h>

#include "session.h"

static const char *const kind_sub[] = {"subscribe", "psubscribe", "ssubscribe"};
static const char *const kind_unsub[] = {"unsubscribe", "punsubscribe", "sunsubscribe"};

/* The count a confirmation carries: channels and patterns together, shard channels alone,
 * as Redis 7 counts them. */
static size_t confirm_count(const session_t *s, ps_kind_t kind) {
  return kind == PS_SHARD ? s->subs[PS_SHARD].count
                          : s->subs[PS_CHANNEL].count + s->subs[PS_PATTERN].count;
}

static void confirm(session_t *s, const char *what, const void *name, size_t len, size_t count) {
  tr_resp_push(&s->out, 3);
  tr_resp_bulk_str(&s->out, what);
  if (name)
    tr_resp_bulk(&s->out, name, len);
  else
    tr_resp_null(&s->out);
  tr_resp_integer(&s->out, (int64_t)count);
}

static void note_count(session_t *s, ps_kind_t kind) {
  if (s->client)
    atomic_store_explicit(&s->client->subs[kind], (uint32_t)s->subs[kind].count,
                          memory_order_relaxed);
}

void ps_cmd_subscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind) {
  for (size_t i = 1; i < c->argc; i++) {
    const tr_resp_arg_t *a = &c->argv[i];
    if (!ps_dict_find(&s->subs[kind], a->data, a->len)) {
      int rc = a->len > TR_GROUP_NAME_MAX
                   ? TR_EINVAL
                   : tr_group_join(ctx, ps_atoms.scope[kind], a->data, a->len);
      if (rc == 0 && !ps_dict_add(&s->subs[kind], a->data, a->len, NULL)) {
        tr_group_leave(ctx, ps_atoms.scope[kind], a->data, a->len);
        rc = TR_ENOMEM;
      }
      if (rc != 0) {
        ps_error(s, "ERR cannot subscribe: %s", tr_strerror(rc));
        continue;
      }
      note_count(s, kind);
    }
    confirm(s, kind_sub[kind], a->data, a->len, confirm_count(s, kind));
  }
}

static void leave(tr_ctx_t *ctx, session_t *s, ps_kind_t kind, ps_entry_t *e, bool reply) {
  size_t len = e->klen;
  unsigned char stack[256], *name = len <= sizeof stack ? stack : malloc(len);
  if (name)
    memcpy(name, e->key, len);
  tr_group_leave(ctx, ps_atoms.scope[kind], e->key, e->klen);
  ps_dict_del(&s->subs[kind], e);
  note_count(s, kind);
  if (reply && name)
    confirm(s, kind_unsub[kind], name, len, confirm_count(s, kind));
  if (name != stack)
    free(name);
}

void ps_leave_all(tr_ctx_t *ctx, session_t *s, ps_kind_t kind, bool reply) {
  ps_entry_t *e;
  while ((e = ps_dict_any(&s->subs[kind])) != NULL)
    leave(ctx, s, kind, e, reply);
}

void ps_cmd_unsubscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind) {
  if (c->argc == 1) {
    if (s->subs[kind].count == 0) /* nothing to leave: one confirmation of nothing */
      confirm(s, kind_unsub[kind], NULL, 0, confirm_count(s, kind));
    ps_leave_all(ctx, s, kind, true);
    return;
  }
  for (size_t i = 1; i < c->argc; i++) {
    const tr_resp_arg_t *a = &c->argv[i];
    ps_entry_t *e = ps_dict_find(&s->subs[kind], a->data, a->len);
    if (e)
      leave(ctx, s, kind, e, false);
    confirm(s, kind_unsub[kind], a->data, a->len, confirm_count(s, kind));
  }
}

/* ---- publishing ---- */

/* A RESP2 push: [kind, (pattern,) channel, message]. */
static void format_push(tr_resp_buf_t *b, const char *kind, const tr_resp_arg_t *pattern,
                        const tr_resp_arg_t *channel, const tr_resp_arg_t *message) {
  b->len = 0;
  tr_resp_array(b, pattern ? 4 : 3);
  tr_resp_bulk_str(b, kind);
  if (pattern)
    tr_resp_bulk(b, pattern->data, pattern->len);
  tr_resp_bulk(b, channel->data, channel->len);
  tr_resp_bulk(b, message->data, message->len);
}

typedef struct {
  tr_ctx_t *ctx;
  session_t *s;
  const tr_resp_arg_t *channel, *message;
  size_t receivers;
} publish_t;

/* Send the push in s->scratch to a group: the other members through their mailboxes, and,
 * when the publisher is a member itself (a RESP3 client may be), into its own output at
 * once, before its reply, where Redis puts it. */
static size_t deliver(tr_ctx_t *ctx, session_t *s, ps_kind_t kind, const void *name, size_t len) {
  size_t d = 0;
  if (s->scratch.err)
    return 0;
  tr_group_send_others(ctx, ps_atoms.scope[kind], name, len, ps_atoms.push, s->scratch.data,
                       s->scratch.len, &d);
  if (ps_dict_find(&s->subs[kind], name, len)) {
    size_t at = s->out.len;
    tr_resp_raw(&s->out, s->scratch.data, s->scratch.len);
    if (!s->out.err && ps_proto(s) == 3)
      s->out.data[at] = '>';
    d++;
  }
  return d;
}

static int match_pattern(const tr_group_info_t *g, void *arg) {
  publish_t *p = arg;
  if (!ps_glob_match(g->name, g->len, p->channel->data, p->channel->len))
    return 0;
  tr_resp_arg_t pattern = {g->name, g->len};
  format_push(&p->s->scratch, "pmessage", &pattern, p->channel, p->message);
  p->receivers += deliver(p->ctx, p->s, PS_PATTERN, g->name, g->len);
  return 0;
}

/* Is the publisher itself a receiver of this channel (a RESP3 client may subscribe and
 * publish)? Then its own push goes into its own output before its reply, as in Redis, so
 * this publish is not gathered. */
static bool self_receives(const session_t *s, ps_kind_t kind, const tr_resp_arg_t *ch) {
  if (ps_dict_find(&s->subs[kind], ch->data, ch->len))
    return true;
  if (kind != PS_CHANNEL)
    return false;
  for (size_t i = 0; i < s->subs[PS_PATTERN].cap; i++) {
    const ps_entry_t *e = &s->subs[PS_PATTERN].slot[i];
    if (e->key && ps_glob_match(e->key, e->klen, ch->data, ch->len))
      return true;
  }
  return false;
}

/* Gather the push in s->scratch for every member of the group. */
static void gather(tr_ctx_t *ctx, session_t *s, uint32_t pub, ps_kind_t kind, const void *name,
                   size_t len) {
  tr_pid_t few[64], *pids = few;
  size_t n = 0;
  if (s->scratch.err || tr_group_members(ctx, ps_atoms.scope[kind], name, len, few, 64, &n) != 0)
    return;
  if (n > 64 && (pids = malloc(n * sizeof *pids)) != NULL &&
      tr_group_members(ctx, ps_atoms.scope[kind], name, len, pids, n, &n) != 0)
    n = 0;
  bool remote = false;
  for (size_t i = 0; pids && i < n; i++) {
    if (tr_pid_is_remote(pids[i]))
      remote = true; /* another node's subscriber: that node delivers, below */
    else
      ps_fanout_add(&s->fanout, pub, pids[i], s->scratch.data, s->scratch.len);
  }
  if (pids != few)
    free(pids);
  /* In a cluster: one copy per node with subscribers, whatever their number there. */
  size_t others = 0;
  if (remote && tr_group_send_nodes(ctx, ps_atoms.scope[kind], name, len, ps_atoms.push,
                                    s->scratch.data, s->scratch.len, &others) == 0)
    s->fanout.counts[pub] += (uint32_t)others; /* PUBLISH counts the whole cluster's */
}

typedef struct {
  tr_ctx_t *ctx;
  session_t *s;
  uint32_t pub;
  const tr_resp_arg_t *channel, *message;
} gather_t;

static int gather_pattern(const tr_group_info_t *g, void *arg) {
  gather_t *p = arg;
  if (!ps_glob_match(g->name, g->len, p->channel->data, p->channel->len))
    return 0;
  tr_resp_arg_t pattern = {g->name, g->len};
  format_push(&p->s->scratch, "pmessage", &pattern, p->channel, p->message);
  gather(p->ctx, p->s, p->pub, PS_PATTERN, g->name, g->len);
  return 0;
}

void ps_cmd_publish(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind) {
  const tr_resp_arg_t *ch = &c->argv[1], *msg = &c->argv[2];
  const char *what = kind == PS_SHARD ? "smessage" : "message";
  uint32_t pub = ch->len <= TR_GROUP_NAME_MAX && !self_receives(s, kind, ch)
                     ? ps_fanout_publish(&s->fanout)
                     : UINT32_MAX;
  if (pub != UINT32_MAX) { /* the common case: gathered, replied when the buffers go */
    format_push(&s->scratch, what, NULL, ch, msg);
    gather(ctx, s, pub, kind, ch->data, ch->len);
    gather_t g = {ctx, s, pub, ch, msg};
    if (kind == PS_CHANNEL) /* then the patterns, so a subscriber of both gets message first */
      tr_group_foreach(ctx, ps_atoms.scope[PS_PATTERN], gather_pattern, &g);
    return;
  }
  /* Sent at once: the replies gathered so far go first. */
  if (ps_fanout_pending(s))
    ps_fanout_flush(ctx, s);
  publish_t p = {ctx, s, ch, msg, 0};
  if (ch->len <= TR_GROUP_NAME_MAX) {
    format_push(&s->scratch, what, NULL, ch, msg);
    p.receivers = deliver(ctx, s, kind, ch->data, ch->len);
    if (kind == PS_CHANNEL)
      tr_group_foreach(ctx, ps_atoms.scope[PS_PATTERN], match_pattern, &p);
  }
  atomic_fetch_add_explicit(&ps_server.messages, p.receivers, memory_order_relaxed);
  tr_resp_integer(&s->out, (int64_t)p.receivers);
}

/* ---- PUBSUB ---- */

typedef struct {
  session_t *s;
  const tr_resp_arg_t *pattern; /* NULL: every channel */
  tr_resp_buf_t names;          /* the matching names, as bulk strings */
  size_t n;
} listing_t;

static int list_channel(const tr_group_info_t *g, void *arg) {
  listing_t *l = arg;
  if (l->pattern && !ps_glob_match(l->pattern->data, l->pattern->len, g->name, g->len))
    return 0;
  tr_resp_bulk(&l->names, g->name, g->len);
  l->n++;
  return 0;
}

static void channels(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind) {
  if (c->argc > 3) { /* Redis's own check, past the subcommand's arity */
    ps_error(s, "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try PUBSUB HELP.",
             (int)(c->argv[1].len < 128 ? c->argv[1].len : 128), (const char *)c->argv[1].data);
    return;
  }
  listing_t l = {.s = s, .pattern = c->argc == 3 ? &c->argv[2] : NULL};
  tr_group_foreach(ctx, ps_atoms.scope[kind], list_channel, &l);
  tr_resp_array(&s->out, l.n);
  tr_resp_raw(&s->out, l.names.data, l.names.len);
  if (l.names.err)
    s->out.err = l.names.err;
  tr_resp_buf_free(&l.names);
}

static void numsub(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c, ps_kind_t kind) {
  tr_resp_array(&s->out, 2 * (c->argc - 2));
  for (size_t i = 2; i < c->argc; i++) {
    const tr_resp_arg_t *a = &c->argv[i];
    size_t n = a->len && a->len <= TR_GROUP_NAME_MAX
                   ? tr_group_size(ctx, ps_atoms.scope[kind], a->data, a->len)
                   : 0;
    tr_resp_bulk(&s->out, a->data, a->len);
    tr_resp_integer(&s->out, (int64_t)n);
  }
}

static const char *const pubsub_help[] = {
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
};

void ps_cmd_pubsub(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  const tr_resp_arg_t *sub = &c->argv[1];
  if (ps_is(sub, "channels")) {
    channels(ctx, s, c, PS_CHANNEL);
  } else if (ps_is(sub, "shardchannels")) {
    channels(ctx, s, c, PS_SHARD);
  } else if (ps_is(sub, "numsub")) {
    numsub(ctx, s, c, PS_CHANNEL);
  } else if (ps_is(sub, "shardnumsub")) {
    numsub(ctx, s, c, PS_SHARD);
  } else if (ps_is(sub, "numpat")) {
    tr_resp_integer(&s->out, (int64_t)tr_group_count(ctx, ps_atoms.scope[PS_PATTERN]));
  } else {
    size_t n = sizeof pubsub_help / sizeof pubsub_help[0];
    tr_resp_array(&s->out, n);
    for (size_t i = 0; i < n; i++)
      tr_resp_simple(&s->out, pubsub_help[i]);
  }
}
