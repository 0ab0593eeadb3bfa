/* The topics directory: the one actor that creates and retires topics, and through which
 * every subscription and unsubscription of a channel passes, in order.
 *
 * Because it counts each channel's subscribers itself, it knows the moment a topic becomes
 * empty, and no subscription can slip in between that moment and the retirement: the next
 * SUBSCRIBE simply makes a new topic. It also answers PUBSUB CHANNELS and NUMSUB from its
 * counts. A channel whose name does not fit the registry is named by its hash; if two such
 * channels ever collide, the second topic runs unnamed and its publishers find no topic
 * (a known limit, logged). */
#include <stdlib.h>

#include "dict.h"
#include "pubsub.h"

typedef struct {
  tr_pid_t pid;
  size_t subs;
  bool named; /* it holds its registry name */
} entry_t;

typedef struct {
  ps_dict_t topics; /* channel -> entry_t */
} topics_t;

static entry_t *open_topic(tr_ctx_t *ctx, topics_t *d, const void *ch, size_t len) {
  ps_entry_t *e = ps_dict_find(&d->topics, ch, len);
  if (e)
    return e->val;
  entry_t *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  char name[TR_NAME_MAX + 1];
  ps_topic_name(name, ch, len);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_bin_with_body(&pk, ch, len);
  tr_spawn_opts_t so = {.link = true, .name = name};
  int rc = tr_spawn_opts(ctx, &ps_topic_behaviour, sb.data, sb.size, &so, &t->pid);
  if (rc == TR_EEXIST) {
    tr_log(TR_LOG_WARN, "pubsub: topic name %s collides; running it unnamed", name);
    so.name = NULL;
    rc = tr_spawn_opts(ctx, &ps_topic_behaviour, sb.data, sb.size, &so, &t->pid);
  } else {
    t->named = rc == 0;
  }
  msgpack_sbuffer_destroy(&sb);
  if (rc || !ps_dict_add(&d->topics, ch, len, t)) {
    if (rc == 0)
      tr_exit(ctx, t->pid, &(tr_reason_t){.kind = TR_REASON_SHUTDOWN});
    free(t);
    return NULL;
  }
  return t;
}

static int subscribe(tr_ctx_t *ctx, topics_t *d, const tr_msg_t *m) {
  const void *ch;
  size_t len, dlen;
  uint64_t who, token;
  if (tr_msg_unpack(m, "[u x u]", &who, &ch, &len, &token))
    return 0;
  entry_t *t = open_topic(ctx, d, ch, len);
  if (!t)
    return TR_ENOMEM; /* the supervisor restarts us; sessions see their acks time out */
  t->subs++;
  const void *data = tr_msg_data(m, &dlen);
  return tr_send(ctx, t->pid, ps_atoms.sub, data, dlen);
}

static int unsubscribe(tr_ctx_t *ctx, topics_t *d, const tr_msg_t *m) {
  const void *ch;
  size_t len, dlen;
  uint64_t who;
  if (tr_msg_unpack(m, "[u x]", &who, &ch, &len))
    return 0;
  ps_entry_t *e = ps_dict_find(&d->topics, ch, len);
  if (!e)
    return 0;
  entry_t *t = e->val;
  const void *data = tr_msg_data(m, &dlen);
  tr_send(ctx, t->pid, ps_atoms.unsub, data, dlen);
  if (--t->subs > 0)
    return 0;
  char name[TR_NAME_MAX + 1];
  ps_topic_name(name, ch, len);
  if (t->named)
    tr_unregister(tr_ctx_system(ctx), name);
  tr_send(ctx, t->pid, ps_atoms.retire, NULL, 0);
  ps_dict_del(&d->topics, e);
  free(t);
  return 0;
}

/* PUBSUB CHANNELS [pattern] and PUBSUB NUMSUB [channel...]: the payload is the session's
 * own command (troupe/resp.h); the reply is RESP bytes. */
static int query(tr_ctx_t *ctx, topics_t *d, const tr_msg_t *m, bool numsub) {
  size_t len, argc;
  const void *data = tr_msg_data(m, &len);
  if (tr_resp_argv(data, len, NULL, 0, &argc) != 0)
    return 0;
  tr_resp_arg_t *argv = malloc(argc * sizeof *argv);
  tr_resp_buf_t b = {0};
  if (!argv)
    return TR_ENOMEM;
  tr_resp_argv(data, len, argv, argc, &argc);
  if (numsub) {
    tr_resp_array(&b, 2 * (argc - 2));
    for (size_t i = 2; i < argc; i++) {
      ps_entry_t *e = ps_dict_find(&d->topics, argv[i].data, argv[i].len);
      tr_resp_bulk(&b, argv[i].data, argv[i].len);
      tr_resp_integer(&b, e ? (int64_t)((entry_t *)e->val)->subs : 0);
    }
  } else {
    size_t n = 0;
    tr_resp_buf_t items = {0};
    for (size_t i = 0; i < d->topics.cap; i++) {
      ps_entry_t *e = &d->topics.slot[i];
      if (e->key && (argc < 3 || ps_glob_match(argv[2].data, argv[2].len, e->key, e->klen))) {
        tr_resp_bulk(&items, e->key, e->klen);
        n++;
      }
    }
    tr_resp_array(&b, n);
    tr_resp_raw(&b, items.data, items.len);
    tr_resp_buf_free(&items);
  }
  int rc = b.err ? b.err : tr_replyf(ctx, m, 0, "x", b.data, b.len);
  tr_resp_buf_free(&b);
  free(argv);
  return rc;
}

static int topics_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  topics_t *d = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == ps_atoms.sub)
    return subscribe(ctx, d, m);
  if (tag == ps_atoms.unsub)
    return unsubscribe(ctx, d, m);
  if (tag == ps_atoms.channels || tag == ps_atoms.numsub)
    return query(ctx, d, m, tag == ps_atoms.numsub);
  return 0;
}

static void topics_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)ctx;
  (void)reason;
  topics_t *d = state;
  for (size_t i = 0; i < d->topics.cap; i++)
    free(d->topics.slot[i].val);
  ps_dict_free(&d->topics);
}

static int topics_inspect(const void *state, msgpack_packer *pk) {
  const topics_t *d = state;
  msgpack_pack_map(pk, 1);
  msgpack_pack_str_with_body(pk, "topics", 6);
  return msgpack_pack_uint64(pk, d->topics.count);
}

const tr_behaviour_t ps_topics_behaviour = {.name = "pubsub.topics",
                                            .state_size = sizeof(topics_t),
                                            .receive = topics_receive,
                                            .terminate = topics_terminate,
                                            .inspect = topics_inspect};
