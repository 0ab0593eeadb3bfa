/* The commands a session understands, with Redis 7's checks in Redis's order: unknown
 * command, then arity, then the subscribed-mode restriction (RESP2). Replies and errors
 * copy Redis's shapes and texts, so clients and their tests cannot tell the difference. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "session.h"

/* Room for one error line; Redis caps the names it quotes at 128 bytes, so this fits. */
#define ERR_MAX 512
/* The most argument text an unknown-command error quotes (Redis's 128). */
#define QUOTE_MAX 128

typedef int (*handler_t)(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                         size_t argc);

typedef struct {
  const char *name;
  int arity;      /* as Redis: n exactly, -n at least n */
  bool in_pubsub; /* allowed while subscribed */
  handler_t fn;
} command_t;

void ps_error(tr_ctx_t *ctx, session_t *s, const char *fmt, ...) {
  char text[ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (char *c = text; *c; c++)
    if (*c == '\r' || *c == '\n')
      *c = ' ';
  tr_resp_error(&s->out, text);
  ps_emit_out(ctx, s);
}

static bool is(const tr_resp_arg_t *a, const char *name) {
  return a->len == strlen(name) && strncasecmp(a->data, name, a->len) == 0;
}

/* An argument as printf's "%.*s" wants it: up to its first NUL, at most max bytes. */
static int plen(const tr_resp_arg_t *a, size_t max) {
  const char *nul = memchr(a->data, 0, a->len);
  size_t n = nul ? (size_t)(nul - (const char *)a->data) : a->len;
  return (int)(n < max ? n : max);
}

static int cmd_ping(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                    size_t argc) {
  (void)m;
  if (argc > 2) {
    ps_error(ctx, s, "ERR wrong number of arguments for 'ping' command");
    return 0;
  }
  if (ps_subscriptions(s) > 0) { /* RESP2 subscribed mode: ["pong", message or ""] */
    tr_resp_array(&s->out, 2);
    tr_resp_bulk(&s->out, "pong", 4);
    tr_resp_bulk(&s->out, argc == 2 ? argv[1].data : "", argc == 2 ? argv[1].len : 0);
  } else if (argc == 2) {
    tr_resp_bulk(&s->out, argv[1].data, argv[1].len);
  } else {
    tr_resp_simple(&s->out, "PONG");
  }
  ps_emit_out(ctx, s);
  return 0;
}

static int cmd_echo(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                    size_t argc) {
  (void)m;
  (void)argc;
  tr_resp_bulk(&s->out, argv[1].data, argv[1].len);
  ps_emit_out(ctx, s);
  return 0;
}

static int cmd_quit(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                    size_t argc) {
  (void)m, (void)argv, (void)argc;
  tr_resp_simple(&s->out, "OK");
  ps_emit_out(ctx, s);
  s->quitting = true;
  ps_settle(ctx, s);
  return 0;
}

static int cmd_reset(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                     size_t argc) {
  (void)m, (void)argv, (void)argc;
  ps_leave_all(ctx, s, false, false);
  ps_leave_all(ctx, s, true, false);
  tr_resp_simple(&s->out, "RESET");
  ps_emit_out(ctx, s);
  return 0;
}

static int cmd_hello(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                     size_t argc) {
  (void)m;
  if (argc >= 2 && !is(&argv[1], "2")) {
    bool number =
        argv[1].len > 0 && argv[1].len < 20 && strspn(argv[1].data, "0123456789") >= argv[1].len;
    ps_error(ctx, s,
             number ? "NOPROTO unsupported protocol version"
                    : "ERR Protocol version is not an integer or out of range");
    return 0;
  }
  if (argc > 2) {
    ps_error(ctx, s, "ERR Syntax error in HELLO option '%.*s'", plen(&argv[2], QUOTE_MAX),
             (const char *)argv[2].data);
    return 0;
  }
  static const char *const info[] = {"server", "troupe-pubsub", "version", "0.1.0", "proto"};
  tr_resp_array(&s->out, 14); /* a RESP3 map, flattened for RESP2 */
  for (size_t i = 0; i < sizeof info / sizeof info[0]; i++)
    tr_resp_bulk(&s->out, info[i], strlen(info[i]));
  tr_resp_integer(&s->out, 2);
  tr_resp_bulk(&s->out, "id", 2);
  tr_resp_integer(&s->out, (int64_t)s->conn.id);
  static const char *const rest[] = {"mode", "standalone", "role", "master", "modules"};
  for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
    tr_resp_bulk(&s->out, rest[i], strlen(rest[i]));
  tr_resp_array(&s->out, 0);
  ps_emit_out(ctx, s);
  return 0;
}

static int cmd_publish(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                       size_t argc) {
  (void)m, (void)argc;
  tr_system_t *sys = tr_ctx_system(ctx);
  char name[TR_NAME_MAX + 1];
  ps_topic_name(name, argv[1].data, argv[1].len);
  tr_pid_t to[2] = {tr_whereis(sys, name), tr_whereis(sys, PS_PATTERNS_NAME)};
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_bin_with_body(&pk, argv[1].data, argv[1].len);
  msgpack_pack_bin_with_body(&pk, argv[2].data, argv[2].len);
  pending_t *p = ps_pending(s, WAIT_COUNT);
  int rc = p ? 0 : TR_ENOMEM;
  for (int i = 0; i < 2 && rc == 0; i++)
    if (!tr_pid_is_none(to[i]) && tr_request(ctx, to[i], ps_atoms.pub, sb.data, sb.size,
                                             PS_REQUEST_MS, &p->key[p->waiting]) == 0)
      p->waiting++;
  msgpack_sbuffer_destroy(&sb);
  if (p)
    ps_settle(ctx, s);
  return rc;
}

/* PUBSUB CHANNELS / NUMSUB (the directory) and NUMPAT (the index): forward the command. */
static int cmd_pubsub(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                      size_t argc) {
  bool numpat = is(&argv[1], "numpat");
  if (numpat && argc != 2) {
    ps_error(ctx, s, "ERR wrong number of arguments for 'pubsub|numpat' command");
    return 0;
  }
  tr_atom_t tag = numpat                     ? ps_atoms.numpat
                  : is(&argv[1], "channels") ? ps_atoms.channels
                  : is(&argv[1], "numsub")   ? ps_atoms.numsub
                                             : 0;
  if (!tag) {
    ps_error(ctx, s, "ERR unknown subcommand '%.*s'. Try PUBSUB HELP.", plen(&argv[1], QUOTE_MAX),
             (const char *)argv[1].data);
    return 0;
  }
  tr_pid_t to = tr_whereis(tr_ctx_system(ctx), numpat ? PS_PATTERNS_NAME : PS_TOPICS_NAME);
  size_t len;
  const void *data = tr_msg_data(m, &len);
  pending_t *p = ps_pending(s, WAIT_ANSWER);
  if (!p)
    return TR_ENOMEM;
  if (tr_pid_is_none(to) || tr_request(ctx, to, tag, data, len, PS_REQUEST_MS, &p->key[0]) != 0)
    tr_resp_error(&p->head, "ERR the pub/sub index is not running");
  else
    p->waiting = 1;
  ps_settle(ctx, s);
  return 0;
}

static int cmd_sub(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                   size_t argc) {
  (void)m;
  return ps_subscribe(ctx, s, argv, argc, tolower(*(const char *)argv[0].data) == 'p');
}

static int cmd_unsub(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
                     size_t argc) {
  (void)m;
  return ps_unsubscribe(ctx, s, argv, argc, tolower(*(const char *)argv[0].data) == 'p');
}

static const command_t commands[] = {
    {"subscribe", -2, true, cmd_sub},  {"unsubscribe", -1, true, cmd_unsub},
    {"psubscribe", -2, true, cmd_sub}, {"punsubscribe", -1, true, cmd_unsub},
    {"ping", -1, true, cmd_ping},      {"quit", -1, true, cmd_quit},
    {"reset", 1, true, cmd_reset},     {"publish", 3, false, cmd_publish},
    {"pubsub", -2, false, cmd_pubsub}, {"echo", 2, false, cmd_echo},
    {"hello", -1, false, cmd_hello},
};

static void unknown(tr_ctx_t *ctx, session_t *s, const tr_resp_arg_t *argv, size_t argc) {
  char args[QUOTE_MAX + QUOTE_MAX / 2] = "";
  size_t n = 0;
  for (size_t i = 1; i < argc && n < QUOTE_MAX; i++)
    n += (size_t)snprintf(args + n, sizeof args - n, "'%.*s' ", plen(&argv[i], QUOTE_MAX - n),
                          (const char *)argv[i].data);
  ps_error(ctx, s, "ERR unknown command '%.*s', with args beginning with: %s",
           plen(&argv[0], QUOTE_MAX), (const char *)argv[0].data, args);
}

int ps_command(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m, const tr_resp_arg_t *argv,
               size_t argc) {
  const command_t *c = NULL;
  for (size_t i = 0; !c && i < sizeof commands / sizeof commands[0]; i++)
    if (is(&argv[0], commands[i].name))
      c = &commands[i];
  if (!c) {
    unknown(ctx, s, argv, argc);
    return 0;
  }
  if (c->arity > 0 ? argc != (size_t)c->arity : argc < (size_t)-c->arity) {
    ps_error(ctx, s, "ERR wrong number of arguments for '%s' command", c->name);
    return 0;
  }
  if (!c->in_pubsub && ps_subscriptions(s) > 0) {
    char full[64];
    if (c->fn == cmd_pubsub)
      snprintf(full, sizeof full, "pubsub|%.*s", plen(&argv[1], 16), (const char *)argv[1].data);
    else
      snprintf(full, sizeof full, "%s", c->name);
    for (char *p = full; *p; p++)
      *p = (char)tolower((unsigned char)*p);
    ps_error(ctx, s,
             "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
             "RESET are allowed in this context",
             full);
    return 0;
  }
  return c->fn(ctx, s, m, argv, argc);
}
