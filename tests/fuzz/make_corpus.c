/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): real protocol
 * examples, the binary ones made with the library's own encoders (tr_pack for msgpack
 * values, tr__frame_put and the SEND header for cluster frames, tr__codec_frame_header for
 * the frame codec), each with the layout its target reads (fuzz.h: split point, option
 * bytes, body). Not a fuzz target: built with them, run by hand when a seed is added:
 *   build-fuzz/tests/fuzz/make_corpus tests/fuzz/corpus
 * It writes only the files it names (the crash regressions kept beside them are left as
 * they are), and the same bytes every time. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "cluster/cluster.h"
#include "fuzz.h"
#include "net/codec.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, target);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    perror(path);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* A growable byte string. */
typedef struct {
  uint8_t b[16384];
  size_t n;
} bytes_t;

static void add(bytes_t *s, const void *p, size_t n) {
  if (n == 0)
    return;
  FUZZ_CHECK(s->n + n <= sizeof s->b, "a seed too big");
  memcpy(s->b + s->n, p, n);
  s->n += n;
}

static void adds(bytes_t *s, const char *text) { add(s, text, strlen(text)); }

/* A streaming target's seed: the split point, the option bytes, then the body. */
static void stream(const char *target, const char *name, unsigned cut, const uint8_t *opt,
                   size_t nopt, const void *body, size_t n) {
  bytes_t s = {.n = 0};
  uint8_t head[2] = {(uint8_t)(cut >> 8), (uint8_t)cut};
  add(&s, head, 2);
  add(&s, opt, nopt);
  add(&s, body, n);
  put(target, name, s.b, s.n);
}

static void stream_text(const char *target, const char *name, unsigned cut, int opt,
                        const char *text) {
  uint8_t o = (uint8_t)opt;
  stream(target, name, cut, &o, opt < 0 ? 0 : 1, text, strlen(text));
}

/* ---- text protocols ---- */

static const char irssi_hello[] =
    "CAP LS 302\r\nNICK alice\r\nUSER alice alice 127.0.0.1 :Alice\r\n"
    "CAP END\r\n";

static void lines(void) {
  stream_text("codec_lines", "irssi-register", 13, 0, irssi_hello);
  stream_text("codec_lines", "lf-only", 4, 0, "one\ntwo\n\nthree");
  stream_text("codec_lines", "cr-split", 8, 8, "12345678\r\n123456789\r\nx");
  stream_text("codec_lines", "over-max", 3, 4, "abcd\r\nabcde\nab");
  stream_text("codec_lines", "cr-at-eof", 5, 5, "hello\r");
  stream_text("codec_raw", "bytes", 7, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  stream_text("codec_raw", "small-max", 3, 5, "0123456789abcdef");
}

static void resp(void) {
  /* As redis-cli sends them: every command a multibulk array of bulk strings. */
  stream_text("resp", "ping", 3, 0, "*1\r\n$4\r\nPING\r\n");
  stream_text("resp", "subscribe", 20, 0,
              "*3\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n$6\r\nsports\r\n");
  stream_text("resp", "publish-pipeline", 31, 0,
              "*3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
              "*2\r\n$7\r\nPSUBSCRIBE\r\n$2\r\nn*\r\n*1\r\n$4\r\nPING\r\n");
  stream_text("resp", "hello3", 9, 0, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
  stream_text("resp", "client-setname", 17, 0,
              "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\ncli\r\n");
  /* Inline, as from telnet or nc, with Redis's quoting. */
  stream_text("resp", "inline", 2, 0, "PING\r\nECHO hi there\r\n");
  stream_text("resp", "inline-quotes", 11, 0,
              "SET \"a b\" 'c\\'d' \"\\x41\\n\\t\\\\\"\r\nECHO \"unbalanced\r\n");
  stream_text("resp", "empty-commands", 4, 0, "*0\r\n*-1\r\n\r\n*1\r\n$1\r\nx\r\n");
  stream_text("resp", "bad-bulk-length", 6, 4, "*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n");
  stream_text("resp", "bad-dollar", 5, 0, "*1\r\n:4\r\nPING\r\n");
  stream_text("resp", "bad-crlf", 12, 0, "*1\r\n$4\r\nPINGxx");
  stream_text("resp", "negative-count", 2, 0, "*-5\r\n*01\r\n$-1\r\n");
}

static void irc_lines(void) {
  static const char *const l[][2] = {
      {"privmsg", "PRIVMSG #lobby :hello there, how are you?"},
      {"prefix", ":alice!alice@127.0.0.1 PRIVMSG bob :hi"},
      {"join-keys", "JOIN #a,#b,#c key1,key2"},
      {"mode", "MODE #test +ov-k bob alice secret"},
      {"fifteen", "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"},
      {"user", "USER alice alice 127.0.0.1 :Alice Liddell"},
      {"utf8", "PRIVMSG #c :h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"stray-cr", "PRIVMSG #c :one\rtwo"},
      {"blank", "   "},
  };
  for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
    put("irc", l[i][0], l[i][1], strlen(l[i][1]));
}

static void chat(void) {
  /* irssi's registration, then what its user types. */
  bytes_t s = {.n = 0};
  adds(&s, irssi_hello);
  adds(&s, "JOIN #lobby\r\nMODE #lobby\r\nWHO #lobby\r\nPRIVMSG #lobby :hi all\r\n"
           "PING :troupe-chat\r\nQUIT :bye\r\n");
  stream("chat_session", "irssi-lobby", 40, NULL, 0, s.b, s.n);
  s.n = 0;
  adds(&s, "NICK carol\r\nUSER carol 0 * :Carol\r\nJOIN #test,#new key\r\n"
           "TOPIC #new :a topic\r\nNAMES #test\r\nLIST\r\nWHOIS bob\r\nPRIVMSG bob :psst\r\n"
           "NOTICE #test :notice\r\nAWAY :gone\r\nISON bob carol nobody\r\nUSERHOST bob carol\r\n"
           "MODE #new +ik secret\r\nMODE #new +o bob\r\nKICK #new bob :out\r\nNICK carol2\r\n"
           "PART #new :later\r\nMOTD\r\nMODE carol2 +iw\r\nWHO bob\r\n");
  stream("chat_session", "irc-commands", 100, NULL, 0, s.b, s.n);
  stream_text("chat_session", "plain", 6, -1,
              "dave\nhello everyone\n/me waves\n/msg bob hi bob\n/names\n//slash\n/quit\n");
  stream_text("chat_session", "no-eol", 3, -1, "NICK eve\r\nUSER eve 0 * :Eve\r\nJOIN #x");
  stream_text("chat_session", "errors", 9, -1,
              "NICK\r\nNICK 1bad\r\nUSER x\r\nJOIN\r\nJOIN nochan\r\nPRIVMSG\r\nKICK #x\r\n"
              "FOO bar\r\nNICK bob\r\n");
}

static void console(void) {
  static const char all[] =
      "help\nstats\nactors --sort mailbox --limit 5\nactors --sort time --cluster\n"
      "info victim.a\nstate victim.a\nstate victim.b\nnames\ngroups\nconns\nnodes\n"
      "send victim.a hello {\"x\":[1,2.5,null,true,\"s\"]}\nsend victim.b tick 7\n"
      "trace victim.a on\nsend victim.a ping []\ntrace victim.a off\nstuck 10\n"
      "kill victim.b\nkill victim.a shutdown\nkill nobody\nbogus\n\n   \n";
  bytes_t s = {.n = 0};
  for (uint8_t opt = 0; opt < 3; opt++) {
    static const char *const names[] = {"json-agent", "text-agent", "json-session"};
    s.n = 0;
    add(&s, &opt, 1);
    adds(&s, all);
    if (opt == 1)
      adds(&s, "json on\nnames\njson off\n");
    if (opt == 2)
      adds(&s, "actors @fuzz\ninfo victim.a@local\nactors @elsewhere\njson on @x\n"
               "info victim.a@fuzz\n");
    put("console", names[opt], s.b, s.n);
  }
}

/* ---- msgpack ---- */

static void value(const char *target, const char *name, uint8_t opt, const char *fmt, ...) {
  uint8_t buf[4096];
  size_t n;
  va_list ap;
  va_start(ap, fmt);
  int rc = tr_vpack_into(buf + 1, sizeof buf - 1, &n, fmt, ap);
  va_end(ap);
  FUZZ_CHECK(rc == 0, "pack %s", fmt);
  buf[0] = opt;
  put(target, name, buf, n + 1);
}

static void msgpack(void) {
  uint8_t nonce[TR_NONCE_BYTES];
  memset(nonce, 0x5a, sizeof nonce);
  tr_pid_t pid = {UINT64_C(0x0000012300000045)};
  for (int t = 0; t < 2; t++) {
    const char *target = t ? "msgpack_check" : "unpack";
    value(target, "hello", 0, "[uusuxs]", (uint64_t)1, (uint64_t)1, "node-a", (uint64_t)77, nonce,
          sizeof nonce, "127.0.0.1:7001");
    value(target, "exit", 0, "[uuuuiis]", (uint64_t)5, (uint64_t)6, (uint64_t)1,
          (uint64_t)0x1234567890, (int64_t)3, (int64_t)-2147483648, "killed from the console");
    value(target, "map", 0, "{sdsbsn}", "rate", 2.5, "on", 1, "none");
    value(target, "nested", 0, "[[ip]{sx}n[[[u]]]]", (int64_t)-1, pid, "k", "\x00\x01", (size_t)2,
          (uint64_t)UINT64_MAX);
    value(target, "sequence", 0, "i s u", (int64_t)-100000, "text", (uint64_t)300);
    value(target, "tight-limits", 0x15, "[[[[u]]]]", (uint64_t)1);
    value(target, "chat-join", 0, "[sssss]", "alice", "alice", "127.0.0.1", "Alice", "#lobby");
    value(target, "pids", 0, "[ppsp]", pid, pid, "x", (tr_pid_t){0});
  }
  /* Encodings tr_pack never writes: float32, str8/16, bin16, ext8, map16, array32. */
  static const uint8_t wide[] = {0x00, 0xdd, 0x00, 0x00, 0x00, 0x06, 0xca, 0x3f, 0x80,
                                 0x00, 0x00, 0xd9, 0x02, 'h',  'i',  0xda, 0x00, 0x01,
                                 'x',  0xc5, 0x00, 0x01, 0xff, 0xc7, 0x02, 0x05, 0xaa,
                                 0xbb, 0xde, 0x00, 0x01, 0xa1, 'k',  0xc0};
  put("unpack", "wide-encodings", wide, sizeof wide);
  put("msgpack_check", "wide-encodings", wide, sizeof wide);
}

/* ---- frames ---- */

static void frames(void) {
  uint8_t buf[1024];
  size_t n;
  bytes_t s = {.n = 0};
  static const char *const fmts[] = {"[us]", "{si}", "i", "[[s]x]"};
  for (size_t i = 0; i < 4; i++) {
    int rc = i == 0   ? tr_pack_into(buf, sizeof buf, &n, fmts[0], (uint64_t)3, "three")
             : i == 1 ? tr_pack_into(buf, sizeof buf, &n, fmts[1], "n", (int64_t)42)
             : i == 2 ? tr_pack_into(buf, sizeof buf, &n, fmts[2], (int64_t)-7)
                      : tr_pack_into(buf, sizeof buf, &n, fmts[3], "a", "\x01\x02", (size_t)2);
    FUZZ_CHECK(rc == 0, "pack");
    uint8_t hdr[TR_FRAME_HEADER];
    tr__codec_frame_header((uint32_t)n, hdr);
    add(&s, hdr, sizeof hdr);
    add(&s, buf, n);
  }
  uint8_t opt = 0;
  stream("codec_frames", "four-frames", 9, &opt, 1, s.b, s.n);
  opt = 2; /* max 8 bytes: the last frames are over it */
  stream("codec_frames", "over-max", 5, &opt, 1, s.b, s.n);
  static const uint8_t bad[] = {0, 0, 0, 2, 0x91, 0xc1, 0, 0, 0, 0};
  opt = 0;
  stream("codec_frames", "bad-value", 3, &opt, 1, bad, sizeof bad);
}

/* Cluster frames as the nodes write them. */
static void cluster_frames(void) {
  uint8_t nonce[TR_NONCE_BYTES], mac[TR_MAC_BYTES];
  memset(nonce, 0x11, sizeof nonce);
  memset(mac, 0x22, sizeof mac);
  tr_cbuf_t b = {0};
#define FRAME(...) FUZZ_CHECK(tr__frame_put(&b, __VA_ARGS__) == 0, "frame")
  FRAME(TR_F_HELLO, NULL, 0, "[uusuxs]", (uint64_t)TR_PROTO_MIN, (uint64_t)TR_PROTO_MAX, "node-b",
        (uint64_t)0xb0b, nonce, sizeof nonce, "127.0.0.1:7002");
  size_t hello = b.len;
  FRAME(TR_F_AUTH, NULL, 0, "[x]", mac, sizeof mac);
  uint8_t opt = 0; /* the connecting peer: HELLO, then a wrong AUTH */
  stream("handshake", "hello-auth", (unsigned)hello - 3, &opt, 1, b.p, b.len);
  stream("handshake", "hello", 7, &opt, 1, b.p, hello);
  b.len = 0;
  FRAME(TR_F_HELLO, NULL, 0, "[uusuxs]", (uint64_t)2, (uint64_t)9, "node-c", (uint64_t)1, nonce,
        sizeof nonce, "0.0.0.0:7003");
  stream("handshake", "hello-no-version", 10, &opt, 1, b.p, b.len);
  b.len = 0;
  FRAME(TR_F_CHALLENGE, NULL, 0, "[usuxs]", (uint64_t)0, "node-b", (uint64_t)0xb0b, nonce,
        sizeof nonce, "[::1]:7002");
  size_t challenge = b.len;
  FRAME(TR_F_AUTH_OK, NULL, 0, "[x]", mac, sizeof mac);
  opt = 1; /* the peer this node dialled: CHALLENGE, then a wrong AUTH_OK */
  stream("handshake", "challenge-authok", (unsigned)challenge, &opt, 1, b.p, b.len);
  b.len = challenge;
  FRAME(TR_F_REFUSE, NULL, 0, "[s]", "simultaneous");
  stream("handshake", "challenge-refuse", 4, &opt, 1, b.p, b.len);

  /* An authenticated link's traffic, for the frame decoder. */
  b.len = 0;
  FRAME(TR_F_TAG_DEF, NULL, 0, "[us]", (uint64_t)1, "chat.say");
  FRAME(TR_F_PEERS, NULL, 0, "[ssu]", "node-c", "127.0.0.1:7003", (uint64_t)0xc0c);
  FRAME(TR_F_LINK, NULL, 0, "[uuuuiis]", (uint64_t)5, (uint64_t)6, (uint64_t)0, (uint64_t)0,
        (int64_t)0, (int64_t)0, "");
  FRAME(TR_F_EXIT, NULL, 0, "[uuuuiis]", (uint64_t)5, (uint64_t)6, (uint64_t)1, (uint64_t)9,
        (int64_t)4, (int64_t)-1, "crashed");
  FRAME(TR_F_G_JOIN, NULL, 0, "[sxu]", "chat.g.room", "#lobby", (size_t)6, (uint64_t)7);
  FRAME(TR_F_PING, NULL, 0, "[uu]", (uint64_t)1, (uint64_t)123456);
  uint8_t payload[64];
  size_t plen;
  FUZZ_CHECK(tr_pack_into(payload, sizeof payload, &plen, "[su]", "hi", (uint64_t)1) == 0, "pack");
  FRAME(TR_F_NAME_SEND, payload, plen, "[suu]", "chat.rooms", (uint64_t)6, (uint64_t)1);
  FRAME(TR_F_G_SEND, payload, plen, "[sxuu]", "chat.g.nick", "bob", (size_t)3, (uint64_t)6,
        (uint64_t)1);
  /* A SEND: its fixed header, then a payload whose pids are in the wire form. */
  static tr_peer_t peer;
  tr_cluster_t *cl = calloc(1, sizeof *cl);
  FUZZ_CHECK(cl != NULL, "out of memory");
  cl->inc = 1001;
  cl->nodes_used = 2;
  atomic_store(&cl->nodes[2].peer, &peer);
  atomic_store(&cl->nodes[2].inc, 3003);
  tr_pid_t mine = tr__pid_make(0, 4, 8), theirs = tr__pid_make(2, 1, 2);
  FUZZ_CHECK(tr_pack_into(payload, sizeof payload, &plen, "[psp]", mine, "x", theirs) == 0, "pack");
  size_t wlen;
  FUZZ_CHECK(tr__payload_out_size(payload, plen, &wlen) == 2, "pids");
  uint8_t wire[128], head[TR_SEND_HEAD];
  tr_pidmap_t pm = {.cl = cl};
  tr__payload_out(&pm, payload, plen, wire);
  tr__put_be64(head, tr__pid_to_wire(mine, 2));
  tr__put_be64(head + 8, tr__pid_to_wire(theirs, 2));
  tr__put_be64(head + 16, 77);
  tr__put_be32(head + 24, 1);
  head[28] = TR_SEND_PIDS;
  FUZZ_CHECK(tr__cbuf_reserve(&b, 5 + sizeof head + wlen) == 0, "out of memory");
  tr__put_be32(b.p + b.len, (uint32_t)(1 + sizeof head + wlen));
  b.p[b.len + 4] = TR_F_SEND;
  memcpy(b.p + b.len + 5, head, sizeof head);
  memcpy(b.p + b.len + 5 + sizeof head, wire, wlen);
  b.len += 5 + sizeof head + wlen;
  FRAME(TR_F_BYE, NULL, 0, "[]", NULL);
#undef FRAME
  stream("cluster_wire", "link-traffic", 50, NULL, 0, b.p, b.len);
  free(b.p);
  free(cl);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  root = argv[1];
  lines();
  resp();
  irc_lines();
  chat();
  console();
  msgpack();
  frames();
  cluster_frames();
  return 0;
}
