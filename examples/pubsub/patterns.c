/* The pattern index: every pattern some session subscribed to (PSUBSCRIBE), with its
 * subscribers. Each PUBLISH asks it, as a request, to fan the message out to the sessions
 * whose patterns match the channel (Redis's glob) and to answer how many received it.
 * A pattern leaves the index with its last subscriber. */
#include <stdlib.h>

#include "dict.h"
#include "pubsub.h"

typedef struct {
  ps_dict_t patterns; /* pattern -> ps_pids_t */
} patterns_t;

static int psubscribe(tr_ctx_t *ctx, patterns_t *x, const tr_msg_t *m) {
  const void *pat;
  size_t len;
  uint64_t who, token;
  if (tr_msg_unpack(m, "[u x u]", &who, &pat, &len, &token))
    return 0;
  ps_entry_t *e = ps_dict_find(&x->patterns, pat, len);
  if (!e) {
    ps_pids_t *set = calloc(1, sizeof *set);
    if (!set || !(e = ps_dict_add(&x->patterns, pat, len, set))) {
      free(set);
      return TR_ENOMEM;
    }
  }
  int rc = ps_pids_add(e->val, (tr_pid_t){who});
  return rc ? rc : tr_sendf(ctx, (tr_pid_t){who}, ps_atoms.ack, "u", token);
}

static void punsubscribe(patterns_t *x, const tr_msg_t *m) {
  const void *pat;
  size_t len;
  uint64_t who;
  if (tr_msg_unpack(m, "[u x]", &who, &pat, &len))
    return;
  ps_entry_t *e = ps_dict_find(&x->patterns, pat, len);
  if (!e)
    return;
  ps_pids_t *set = e->val;
  ps_pids_del(set, (tr_pid_t){who});
  if (set->n == 0) {
    free(set->pid);
    free(set);
    ps_dict_del(&x->patterns, e);
  }
}

/* Fan a published message out to the matching patterns' sessions; reply the receivers. */
static int publish(tr_ctx_t *ctx, patterns_t *x, const tr_msg_t *m) {
  const void *ch, *msg;
  size_t clen, mlen;
  uint64_t n = 0;
  if (tr_msg_unpack(m, "[x x]", &ch, &clen, &msg, &mlen))
    return 0;
  tr_resp_buf_t b = {0};
  for (size_t i = 0; i < x->patterns.cap; i++) {
    ps_entry_t *e = &x->patterns.slot[i];
    if (!e->key || !ps_glob_match(e->key, e->klen, ch, clen))
      continue;
    ps_pids_t *set = e->val;
    b.len = 0;
    if (ps_push(&b, "pmessage", e->key, e->klen, ch, clen, msg, mlen))
      break;
    for (size_t k = 0; k < set->n; k++)
      tr_sendf(ctx, set->pid[k], ps_atoms.pmsg, "[x x]", e->key, e->klen, b.data, b.len);
    n += set->n;
  }
  tr_resp_buf_free(&b);
  return tr_replyf(ctx, m, 0, "u", n);
}

static int patterns_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  patterns_t *x = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == ps_atoms.pub)
    return publish(ctx, x, m);
  if (tag == ps_atoms.psub)
    return psubscribe(ctx, x, m);
  if (tag == ps_atoms.punsub)
    punsubscribe(x, m);
  else if (tag == ps_atoms.numpat) {
    /* Redis 7 counts distinct patterns. */
    tr_resp_buf_t b = {0};
    tr_resp_integer(&b, (int64_t)x->patterns.count);
    int rc = b.err ? b.err : tr_replyf(ctx, m, 0, "x", b.data, b.len);
    tr_resp_buf_free(&b);
    return rc;
  }
  return 0;
}

static void patterns_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)ctx;
  (void)reason;
  patterns_t *x = state;
  for (size_t i = 0; i < x->patterns.cap; i++) {
    ps_pids_t *set = x->patterns.slot[i].val;
    if (x->patterns.slot[i].key) {
      free(set->pid);
      free(set);
    }
  }
  ps_dict_free(&x->patterns);
}

static int patterns_inspect(const void *state, msgpack_packer *pk) {
  const patterns_t *x = state;
  msgpack_pack_map(pk, 1);
  msgpack_pack_str_with_body(pk, "patterns", 8);
  return msgpack_pack_uint64(pk, x->patterns.count);
}

const tr_behaviour_t ps_patterns_behaviour = {.name = "pubsub.patterns",
                                              .state_size = sizeof(patterns_t),
                                              .receive = patterns_receive,
                                              .terminate = patterns_terminate,
                                              .inspect = patterns_inspect};
