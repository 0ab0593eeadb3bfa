/* A small actor for the tests that inspect, trace and watch actors (debug, console): it
 * counts "inc" messages, answers "ping" with "pong", and sleeps in its handler on "slow"
 * (20 ms) and "block" (400 ms), which is how a test makes an actor busy or stuck. Its state
 * inspects as {"count": N}; plain_b is the same without an inspect callback. Tags are read
 * by name, so a test need not hand the actor its atoms. */
#ifndef TR_TESTS_SUPPORT_COUNTER_H
#define TR_TESTS_SUPPORT_COUNTER_H

#include "support/support.h"

#define COUNTER_SLOW_MS 20u
#define COUNTER_BLOCK_MS 400u

typedef struct {
  uint64_t count;
} counter_t;

static inline bool counter_tag_is(tr_ctx_t *ctx, const tr_msg_t *m, const char *name) {
  const char *n = tr_atom_name(tr_ctx_system(ctx), tr_msg_tag(m));
  return n && strcmp(n, name) == 0;
}

static inline int counter_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  counter_t *s = state;
  if (counter_tag_is(ctx, m, "inc"))
    s->count++;
  else if (counter_tag_is(ctx, m, "ping"))
    tr_send(ctx, tr_msg_from(m), tr_atom(tr_ctx_system(ctx), "pong"), NULL, 0);
  else if (counter_tag_is(ctx, m, "slow"))
    sup_sleep_ms(COUNTER_SLOW_MS);
  else if (counter_tag_is(ctx, m, "block"))
    sup_sleep_ms(COUNTER_BLOCK_MS);
  return 0;
}

static inline int counter_inspect(const void *state, msgpack_packer *pk) {
  const counter_t *s = state;
  msgpack_pack_map(pk, 1);
  msgpack_pack_str_with_body(pk, "count", 5);
  msgpack_pack_uint64(pk, s->count);
  return 0;
}

static const tr_behaviour_t counter_b = {.name = "counter",
                                         .state_size = sizeof(counter_t),
                                         .receive = counter_receive,
                                         .inspect = counter_inspect};
static const tr_behaviour_t plain_b = {.name = "plain", .receive = counter_receive};

#endif
