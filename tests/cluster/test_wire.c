/* The cluster's wire, without sockets (cluster/wire.c): control frames round-trip through
 * their exact formats and malformed headers are errors; header pids are relative to the
 * link; pids inside payloads go to the wire form (incarnation + id) and come back as the
 * same actors, a third node's included, and an unknown incarnation names nobody; bytes that
 * are not msgpack pass untouched. */
#include "cluster/cluster.h"
#include "support/support.h"

#define SHIFT (TR_PID_SLOT_BITS + TR_PID_GEN_BITS)

static void test_frames(void **st) {
  (void)st;
  tr_cbuf_t b = {0};
  assert_int_equal(
      tr__frame_put(&b, TR_F_PEERS, "xyz", 3, "[ssu]", "node-b", "10.0.0.2:7000", (uint64_t)77), 0);
  assert_true(b.len > 7);
  assert_int_equal(tr__get_be32(b.p), b.len - 4);
  assert_int_equal(b.p[4], TR_F_PEERS);
  const char *name, *addr;
  size_t nn, an, used;
  uint64_t inc;
  assert_int_equal(tr__frame_get(b.p + 5, b.len - 5, &used, "[ssu]", &name, &nn, &addr, &an, &inc),
                   0);
  assert_int_equal(nn, 6);
  assert_memory_equal(name, "node-b", 6);
  assert_int_equal(an, 13);
  assert_int_equal(inc, 77);
  assert_int_equal(b.len - 5 - used, 3); /* the payload follows the header */
  assert_memory_equal(b.p + 5 + used, "xyz", 3);
  /* The wrong shape, a header longer than the frame, a truncated one: errors. */
  assert_true(tr__frame_get(b.p + 5, b.len - 5, &used, "[uuu]", &inc, &inc, &inc) < 0);
  uint8_t bad[] = {0x00, 0x40, 0x93};
  assert_int_equal(tr__frame_get(bad, sizeof bad, &used, "[u]", &inc), TR_EPROTO);
  assert_int_equal(tr__frame_get(bad, 1, &used, "[u]", &inc), TR_EPROTO);
  uint8_t deep[] = {0x00, 0x06, 0x91, 0x91, 0x91, 0x91, 0x91, 0x01};
  assert_true(tr__frame_get(deep, sizeof deep, &used, "[u]", &inc) < 0);
  free(b.p);
}

static void test_header_pids(void **st) {
  (void)st;
  tr_pid_t local = tr__pid_make(0, 5, 9), theirs = tr__pid_make(3, 7, 11),
           third = tr__pid_make(4, 1, 1);
  /* Sent to the node at index 3: ours go with node 0, its own with "yours", a third none. */
  uint64_t w = tr__pid_to_wire(local, 3);
  assert_int_equal(w, local.id);
  tr_pid_t back = tr__pid_from_wire(w, 6); /* it arrives where we are index 6 */
  assert_int_equal(tr__pid_node(back), 6);
  assert_int_equal(back.id & ((UINT64_C(1) << SHIFT) - 1), local.id);
  w = tr__pid_to_wire(theirs, 3);
  back = tr__pid_from_wire(w, 6);
  assert_int_equal(tr__pid_node(back), 0);
  assert_int_equal(back.id, tr__pid_make(0, 7, 11).id);
  assert_int_equal(tr__pid_to_wire(third, 3), 0);
  assert_true(tr_pid_is_none(tr__pid_from_wire(0, 6)));
  assert_true(tr_pid_is_none(tr__pid_from_wire((UINT64_C(5) << SHIFT) | 1, 6)));
}

static void test_payload_pids(void **st) {
  (void)st;
  tr_cluster_t *cl = calloc(1, sizeof *cl);
  tr_peer_t *peer = calloc(1, sizeof *peer);
  cl->inc = 1001;
  cl->nodes_used = 3;
  atomic_store(&cl->nodes[2].peer, peer);
  atomic_store(&cl->nodes[2].inc, 2002);
  atomic_store(&cl->nodes[3].peer, peer);
  atomic_store(&cl->nodes[3].inc, 3003);
  tr_pid_t mine = tr__pid_make(0, 4, 8), at2 = tr__pid_make(2, 1, 2), at3 = tr__pid_make(3, 5, 6);
  uint8_t in[128], wire[256], out[128];
  size_t len, wlen, olen;
  assert_int_equal(
      tr_pack_into(in, sizeof in, &len, "[pspup]", mine, "text", at2, (uint64_t)0xd7, at3), 0);
  assert_int_equal(tr__payload_out_size(in, len, &wlen), 3);
  assert_int_equal(wlen, len + 3 * 8);
  tr_pidmap_t pm = {.cl = cl};
  tr__payload_out(&pm, in, len, wire);
  assert_false(pm.bad);
  /* The first pid on the wire: this node's incarnation, then its id. */
  assert_int_equal(wire[1], 0xd8);
  assert_int_equal(tr__get_be64(wire + 3), 1001);
  assert_int_equal(tr__get_be64(wire + 11), mine.id);
  /* Back on the same node (as if it had gone and come back): the same pids. */
  assert_int_equal(tr__payload_in_size(wire, wlen, &olen), 3);
  assert_int_equal(olen, len);
  tr__payload_in(&pm, wire, wlen, out);
  tr_pid_t p1, p2, p3;
  const char *s;
  size_t n;
  uint64_t u;
  assert_int_equal(tr_unpack(out, olen, NULL, "[pspup]", &p1, &s, &n, &p2, &u, &p3), 0);
  assert_true(tr_pid_eq(p1, mine) && tr_pid_eq(p2, at2) && tr_pid_eq(p3, at3));
  assert_int_equal(u, 0xd7); /* a 0xd7 byte that is not a pid stays what it was */
  /* An incarnation this node never met names nobody, and says so. */
  tr__put_be64(wire + 3, 999);
  pm.bad = false;
  tr__payload_in(&pm, wire, wlen, out);
  assert_true(pm.bad);
  assert_int_equal(tr_unpack(out, olen, NULL, "[pspup]", &p1, &s, &n, &p2, &u, &p3), 0);
  assert_true(tr_pid_is_none(p1) && tr_pid_eq(p2, at2));
  /* Not msgpack: carried as it is. */
  uint8_t junk[] = {0xd7, 0x01, 0x02};
  assert_int_equal(tr__payload_out_size(junk, sizeof junk, &wlen), 0);
  assert_int_equal(wlen, sizeof junk);
  free(peer);
  free(cl);
}

/* The tie-break table (CLUSTER.md B4): both ends of a pair, seeing the same two
 * connections, must keep the same one. */
static void test_tie_break(void **st) {
  (void)st;
  /* No link, no crossing handshake: keep whatever authenticated. */
  for (int g = 0; g < 2; g++)
    for (int o = 0; o < 2; o++)
      assert_int_equal(tr__tie_break(g, o, TR_TIE_NO_LINK, true, false), TR_TIE_KEEP);
  /* Simultaneous dial: X (greater) and Y each dialled; each end sees its own dial and the
   * other's. The one dialled by X survives at both ends. */
  assert_int_equal(tr__tie_break(true, true, TR_TIE_NO_LINK, true, true),
                   TR_TIE_KEEP_CLOSE_CROSSING); /* X: its own dial authenticated */
  assert_int_equal(tr__tie_break(true, false, TR_TIE_NO_LINK, true, true),
                   TR_TIE_REFUSE); /* X: Y's dial */
  assert_int_equal(tr__tie_break(false, false, TR_TIE_NO_LINK, true, true),
                   TR_TIE_KEEP_CLOSE_CROSSING); /* Y: X's dial */
  assert_int_equal(tr__tie_break(false, true, TR_TIE_NO_LINK, true, true),
                   TR_TIE_REFUSE); /* Y: its own dial */
  /* The link is up and the other side of it dials again: the link it had was dialled by
   * the same side, so that side saw it break: replace. */
  assert_int_equal(tr__tie_break(true, false, TR_TIE_LINK_THEIRS, true, false), TR_TIE_KEEP);
  assert_int_equal(tr__tie_break(false, true, TR_TIE_LINK_OURS, true, false), TR_TIE_KEEP);
  /* Up, same incarnation, dialled the other way: the rule by name, as for a crossing. */
  assert_int_equal(tr__tie_break(true, true, TR_TIE_LINK_THEIRS, true, false), TR_TIE_KEEP);
  assert_int_equal(tr__tie_break(true, false, TR_TIE_LINK_OURS, true, false), TR_TIE_REFUSE);
  assert_int_equal(tr__tie_break(false, false, TR_TIE_LINK_OURS, true, false), TR_TIE_KEEP);
  assert_int_equal(tr__tie_break(false, true, TR_TIE_LINK_THEIRS, true, false), TR_TIE_REFUSE);
  /* A new incarnation always replaces the link, whoever dialled. */
  for (int g = 0; g < 2; g++)
    for (int o = 0; o < 2; o++) {
      assert_int_equal(tr__tie_break(g, o, TR_TIE_LINK_OURS, false, false), TR_TIE_KEEP);
      assert_int_equal(tr__tie_break(g, o, TR_TIE_LINK_THEIRS, false, false), TR_TIE_KEEP);
    }
}

static void test_host_port(void **st) {
  (void)st;
  char host[64];
  uint16_t port;
  assert_int_equal(tr__split_host_port("10.1.2.3:7000", 13, host, sizeof host, &port), 0);
  assert_string_equal(host, "10.1.2.3");
  assert_int_equal(port, 7000);
  assert_int_equal(tr__split_host_port("[::1]:80", 8, host, sizeof host, &port), 0);
  assert_string_equal(host, "[::1]");
  const char *bad[] = {"nohost", ":80", "h:", "h:99999", "h:8x", "::1:80", "h:123456"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(tr__split_host_port(bad[i], strlen(bad[i]), host, sizeof host, &port),
                     TR_EINVAL);
  assert_true(tr__node_name_ok("a.b-c_9", 7));
  assert_false(tr__node_name_ok("a b", 3));
  assert_false(tr__node_name_ok("", 0));
}

int main(void) {
  sup_filter_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frames),       cmocka_unit_test(test_header_pids),
      cmocka_unit_test(test_payload_pids), cmocka_unit_test(test_tie_break),
      cmocka_unit_test(test_host_port),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
