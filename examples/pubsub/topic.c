/* A topic: one channel's subscribers, and the fan-out of every message published on it.
 *
 * The directory (topics.c) spawns it on the channel's first subscription and forwards it
 * every subscription and unsubscription, so its set is exact. When the last subscriber
 * leaves, the directory drops its name and sends `retire`: the topic lingers a moment,
 * answering publishers that looked it up just before (0 receivers), then stops. */
#include <stdlib.h>
#include <string.h>

#include "pubsub.h"

/* How long a retired topic keeps answering requests already on their way to it. */
#define LINGER_MS 200u

typedef struct {
  unsigned char *channel;
  size_t len;
  ps_pids_t subs;
  bool retired;
} topic_t;

static int topic_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)ctx;
  topic_t *t = state;
  const void *ch;
  int rc = tr_msg_unpack(init, "x", &ch, &t->len);
  if (rc)
    return rc;
  t->channel = malloc(t->len ? t->len : 1);
  if (!t->channel)
    return TR_ENOMEM;
  memcpy(t->channel, ch, t->len);
  return 0;
}

/* Send the message to every subscriber, formatted once. Returns the receivers. */
static size_t fan_out(tr_ctx_t *ctx, topic_t *t, const void *msg, size_t len) {
  if (t->subs.n == 0)
    return 0;
  tr_resp_buf_t b = {0};
  if (ps_push(&b, "message", NULL, 0, t->channel, t->len, msg, len) == 0)
    for (size_t i = 0; i < t->subs.n; i++)
      tr_sendf(ctx, t->subs.pid[i], ps_atoms.msg, "[x x]", t->channel, t->len, b.data, b.len);
  tr_resp_buf_free(&b);
  return t->subs.n;
}

static int topic_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  topic_t *t = state;
  tr_atom_t tag = tr_msg_tag(m);
  const void *a, *b;
  size_t alen, blen;
  uint64_t who, token;
  if (tag == ps_atoms.sub && tr_msg_unpack(m, "[u x u]", &who, &a, &alen, &token) == 0) {
    int rc = ps_pids_add(&t->subs, (tr_pid_t){who});
    return rc ? rc : tr_sendf(ctx, (tr_pid_t){who}, ps_atoms.ack, "u", token);
  }
  if (tag == ps_atoms.unsub && tr_msg_unpack(m, "[u x]", &who, &a, &alen) == 0)
    ps_pids_del(&t->subs, (tr_pid_t){who});
  else if (tag == ps_atoms.pub && tr_msg_unpack(m, "[x x]", &a, &alen, &b, &blen) == 0)
    tr_replyf(ctx, m, 0, "u", (uint64_t)fan_out(ctx, t, b, blen));
  else if (tag == ps_atoms.retire) {
    t->retired = true;
    tr_set_receive_timeout(ctx, LINGER_MS);
  } else if (tag == TR_ATOM_TIMEOUT && t->retired)
    tr_stop(ctx);
  return 0;
}

static void topic_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)ctx;
  (void)reason;
  topic_t *t = state;
  free(t->channel);
  free(t->subs.pid);
}

static int topic_inspect(const void *state, msgpack_packer *pk) {
  const topic_t *t = state;
  msgpack_pack_map(pk, 3);
  msgpack_pack_str_with_body(pk, "channel", 7);
  msgpack_pack_bin_with_body(pk, t->channel, t->len);
  msgpack_pack_str_with_body(pk, "subscribers", 11);
  msgpack_pack_uint64(pk, t->subs.n);
  msgpack_pack_str_with_body(pk, "retired", 7);
  return t->retired ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

const tr_behaviour_t ps_topic_behaviour = {.name = "pubsub.topic",
                                           .state_size = sizeof(topic_t),
                                           .init = topic_init,
                                           .receive = topic_receive,
                                           .terminate = topic_terminate,
                                           .inspect = topic_inspect};
