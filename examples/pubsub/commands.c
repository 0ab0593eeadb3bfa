/* The command table and dispatch, which makes Redis's checks in Redis's order (processCommand):
 * unknown command or subcommand, argument count, authentication, the RESP2 subscribed
 * context; and the connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

/* Flags of a command. */
enum {
  PS_NOAUTH = 1u << 0, /* runs before AUTH */
  PS_SUBCTX = 1u << 1, /* allowed in the RESP2 subscribed context */
};

typedef struct ps_command {
  const char *name; /* lower case */
  int arity;        /* as Redis: exactly n arguments, or at least -n when negative */
  unsigned flags;
  void (*run)(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c);
  const struct ps_command *subs; /* a container's subcommands (CLIENT, COMMAND, PUBSUB) */
} ps_command_t;

bool ps_is_publish(const tr_resp_arg_t *name) {
  return ps_is(name, "publish") || ps_is(name, "spublish");
}

bool ps_is(const tr_resp_arg_t *a, const char *word) {
  size_t n = strlen(word);
  if (a->len != n)
    return false;
  const unsigned char *p = a->data;
  for (size_t i = 0; i < n; i++)
    if (tolower(p[i]) != tolower((unsigned char)word[i]))
      return false;
  return true;
}

void ps_error(session_t *s, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (char *p = text; *p; p++)
    if (*p == '\r' || *p == '\n')
      *p = ' ';
  tr_resp_error(&s->out, text);
}

void ps_wrong_args(session_t *s, const char *name) {
  ps_error(s, "ERR wrong number of arguments for '%s' command", name);
}

void ps_unknown_subcommand(session_t *s, const ps_cmd_t *c) {
  char container[32] = "";
  size_t n = c->argv[0].len < sizeof container - 1 ? c->argv[0].len : sizeof container - 1;
  for (size_t i = 0; i < n; i++)
    container[i] = (char)toupper(((const unsigned char *)c->argv[0].data)[i]);
  container[n] = '\0';
  size_t sn = c->argc > 1 ? (c->argv[1].len < 128 ? c->argv[1].len : 128) : 0;
  ps_error(s, "ERR unknown subcommand '%.*s'. Try %s HELP.", (int)sn,
           sn ? (const char *)c->argv[1].data : "", container);
}

/* ---- connection commands ---- */

static void cmd_ping(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)ctx;
  if (c->argc > 2) {
    ps_wrong_args(s, "ping");
  } else if (ps_proto(s) == 2 && ps_subscribed(s)) { /* as Redis: a pong push */
    tr_resp_array(&s->out, 2);
    tr_resp_bulk(&s->out, "pong", 4);
    tr_resp_bulk(&s->out, c->argc > 1 ? c->argv[1].data : "", c->argc > 1 ? c->argv[1].len : 0);
  } else if (c->argc > 1) {
    tr_resp_bulk(&s->out, c->argv[1].data, c->argv[1].len);
  } else {
    tr_resp_simple(&s->out, "PONG");
  }
}

static void cmd_echo(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)ctx;
  tr_resp_bulk(&s->out, c->argv[1].data, c->argv[1].len);
}

static void cmd_quit(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)ctx;
  (void)c;
  tr_resp_simple(&s->out, "OK");
  s->closing = true;
}

void ps_reset(tr_ctx_t *ctx, session_t *s) {
  for (int k = 0; k < 3; k++)
    ps_leave_all(ctx, s, (ps_kind_t)k, false);
  s->out.proto = 2;
  s->authed = ps_server.requirepass == NULL;
  if (s->client) {
    pthread_mutex_lock(&ps_server.mu);
    s->client->name[0] = '\0';
    pthread_mutex_unlock(&ps_server.mu);
    atomic_store_explicit(&s->client->resp, 2, memory_order_relaxed);
    atomic_store_explicit(&s->client->db, 0, memory_order_relaxed);
    atomic_store_explicit(&s->client->no_evict, false, memory_order_relaxed);
    atomic_store_explicit(&s->client->no_touch, false, memory_order_relaxed);
  }
}

static void cmd_reset(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)c;
  ps_reset(ctx, s);
  tr_resp_simple(&s->out, "RESET");
}

/* A password check, as Redis's ACLCheckUserCredentials for the default user. */
static bool password_ok(const tr_resp_arg_t *user, const tr_resp_arg_t *pass) {
  if (user && !ps_is(user, "default"))
    return false;
  const char *want = ps_server.requirepass;
  if (!want) /* the default user has no password: any will do */
    return true;
  return pass->len == strlen(want) && memcmp(pass->data, want, pass->len) == 0;
}

static void cmd_auth(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)ctx;
  if (c->argc > 3) {
    tr_resp_error(&s->out, "ERR syntax error");
    return;
  }
  if (c->argc == 2 && !ps_server.requirepass) {
    tr_resp_error(&s->out, "ERR AUTH <password> called without any password configured for "
                           "the default user. Are you sure your configuration is correct?");
    return;
  }
  if (!password_ok(c->argc == 3 ? &c->argv[1] : NULL, &c->argv[c->argc - 1])) {
    tr_resp_error(&s->out, "WRONGPASS invalid username-password pair or user is disabled.");
    return;
  }
  s->authed = true;
  tr_resp_simple(&s->out, "OK");
}

static void hello_reply(session_t *s) {
  tr_resp_buf_t *b = &s->out;
  tr_resp_map(b, 7);
  tr_resp_bulk_str(b, "server");
  tr_resp_bulk_str(b, "redis");
  tr_resp_bulk_str(b, "version");
  tr_resp_bulk_str(b, PS_REDIS_VERSION);
  tr_resp_bulk_str(b, "proto");
  tr_resp_integer(b, ps_proto(s));
  tr_resp_bulk_str(b, "id");
  tr_resp_integer(b, s->client ? (int64_t)s->client->id : 0);
  tr_resp_bulk_str(b, "mode");
  tr_resp_bulk_str(b, "standalone");
  tr_resp_bulk_str(b, "role");
  tr_resp_bulk_str(b, "master");
  tr_resp_bulk_str(b, "modules");
  tr_resp_array(b, 0);
}

/* HELLO [protover [AUTH username password] [SETNAME clientname]], as Redis's helloCommand. */
static void cmd_hello(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)ctx;
  int proto = ps_proto(s);
  if (c->argc >= 2) {
    char v[24] = "";
    char *end;
    memcpy(v, c->argv[1].data, c->argv[1].len < 23 ? c->argv[1].len : 23);
    long long ver = strtoll(v, &end, 10);
    if (c->argv[1].len == 0 || c->argv[1].len > 20 || *end) {
      tr_resp_error(&s->out, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (ver < 2 || ver > 3) {
      tr_resp_error(&s->out, "NOPROTO unsupported protocol version");
      return;
    }
    proto = (int)ver;
  }
  const tr_resp_arg_t *user = NULL, *pass = NULL, *name = NULL;
  for (size_t j = 2; j < c->argc; j++) {
    size_t more = c->argc - j - 1;
    if (ps_is(&c->argv[j], "AUTH") && more >= 2) {
      user = &c->argv[j + 1];
      pass = &c->argv[j + 2];
      j += 2;
    } else if (ps_is(&c->argv[j], "SETNAME") && more >= 1) {
      name = &c->argv[j + 1];
      if (!ps_valid_name(name)) {
        tr_resp_error(&s->out, "ERR Client names cannot contain spaces, newlines or special "
                               "characters.");
        return;
      }
      j++;
    } else {
      ps_error(s, "ERR Syntax error in HELLO option '%.*s'", (int)c->argv[j].len,
               (const char *)c->argv[j].data);
      return;
    }
  }
  if (user && !password_ok(user, pass)) {
    tr_resp_error(&s->out, "WRONGPASS invalid username-password pair or user is disabled.");
    return;
  }
  if (user)
    s->authed = true;
  if (!s->authed) {
    tr_resp_error(&s->out,
                  "NOAUTH HELLO must be called with the client already authenticated, otherwise "
                  "the HELLO AUTH <user> <pass> option can be used to authenticate the "
                  "client and select the RESP protocol version at the same time");
    return;
  }
  if (name)
    ps_set_name(s, name);
  s->out.proto = proto;
  if (s->client)
    atomic_store_explicit(&s->client->resp, proto, memory_order_relaxed);
  hello_reply(s);
}

static void cmd_select(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)ctx;
  char v[24] = "";
  char *end;
  memcpy(v, c->argv[1].data, c->argv[1].len < 23 ? c->argv[1].len : 23);
  long long db = strtoll(v, &end, 10);
  if (c->argv[1].len == 0 || c->argv[1].len > 20 || *end || v[0] == ' ' || v[0] == '+') {
    tr_resp_error(&s->out, "ERR value is not an integer or out of range");
  } else if (db < 0 || db >= PS_DATABASES) {
    tr_resp_error(&s->out, "ERR DB index is out of range");
  } else {
    if (s->client)
      atomic_store_explicit(&s->client->db, (int)db, memory_order_relaxed);
    tr_resp_simple(&s->out, "OK");
  }
}

static void cmd_subscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_subscribe(ctx, s, c, PS_CHANNEL);
}
static void cmd_psubscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_subscribe(ctx, s, c, PS_PATTERN);
}
static void cmd_ssubscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_subscribe(ctx, s, c, PS_SHARD);
}
static void cmd_unsubscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_unsubscribe(ctx, s, c, PS_CHANNEL);
}
static void cmd_punsubscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_unsubscribe(ctx, s, c, PS_PATTERN);
}
static void cmd_sunsubscribe(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_unsubscribe(ctx, s, c, PS_SHARD);
}
static void cmd_publish(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_publish(ctx, s, c, PS_CHANNEL);
}
static void cmd_spublish(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  ps_cmd_publish(ctx, s, c, PS_SHARD);
}

/* ---- the table ---- */

/* Subcommands run through their container's handler, which looks at argv[1] itself. */
#define SUB(n, a)                                                                                  \
  { .name = n, .arity = a }

static const ps_command_t client_subs[] = {
    SUB("getname", 2), SUB("setname", 3), SUB("id", 2),       SUB("info", 2),
    SUB("list", -2),   SUB("setinfo", 4), SUB("no-evict", 3), SUB("no-touch", 3),
    SUB("help", 2),    SUB("kill", -3),   SUB("reply", 3),    {0}};
static const ps_command_t command_subs[] = {SUB("count", 2), SUB("docs", -2), SUB("info", -2),
                                            SUB("list", -2), SUB("help", 2),  {0}};
static const ps_command_t pubsub_subs[] = {SUB("channels", -2),
                                           SUB("numpat", 2),
                                           SUB("numsub", -2),
                                           SUB("shardchannels", -2),
                                           SUB("shardnumsub", -2),
                                           SUB("help", 2),
                                           {0}};

static const ps_command_t commands[] = {
    {"auth", -2, PS_NOAUTH, cmd_auth, NULL},
    {"client", -2, 0, ps_cmd_client, client_subs},
    {"command", -1, 0, ps_cmd_command, command_subs},
    {"echo", 2, 0, cmd_echo, NULL},
    {"hello", -1, PS_NOAUTH, cmd_hello, NULL},
    {"info", -1, 0, ps_cmd_info, NULL},
    {"ping", -1, PS_SUBCTX, cmd_ping, NULL},
    {"psubscribe", -2, PS_SUBCTX, cmd_psubscribe, NULL},
    {"publish", 3, 0, cmd_publish, NULL},
    {"pubsub", -2, 0, ps_cmd_pubsub, pubsub_subs},
    {"punsubscribe", -1, PS_SUBCTX, cmd_punsubscribe, NULL},
    {"quit", -1, PS_NOAUTH | PS_SUBCTX, cmd_quit, NULL},
    {"reset", 1, PS_NOAUTH | PS_SUBCTX, cmd_reset, NULL},
    {"select", 2, 0, cmd_select, NULL},
    {"spublish", 3, 0, cmd_spublish, NULL},
    {"ssubscribe", -2, PS_SUBCTX, cmd_ssubscribe, NULL},
    {"subscribe", -2, PS_SUBCTX, cmd_subscribe, NULL},
    {"sunsubscribe", -1, PS_SUBCTX, cmd_sunsubscribe, NULL},
    {"unsubscribe", -1, PS_SUBCTX, cmd_unsubscribe, NULL},
    {0},
};

size_t ps_command_count(void) { return sizeof commands / sizeof commands[0] - 1; }

void ps_command_name(uint32_t code, char *out, size_t cap) {
  size_t i = (code >> 8) - 1, j = code & 0xff; /* code 0: no command yet */
  if (code >> 8 == 0 || i >= ps_command_count() || (j && !commands[i].subs)) {
    snprintf(out, cap, "NULL");
    return;
  }
  if (j)
    snprintf(out, cap, "%s|%s", commands[i].name, commands[i].subs[j - 1].name);
  else
    snprintf(out, cap, "%s", commands[i].name);
}

static const ps_command_t *find(const ps_command_t *table, const tr_resp_arg_t *name) {
  for (const ps_command_t *c = table; c->name; c++)
    if (ps_is(name, c->name))
      return c;
  return NULL;
}

/* Redis's reply to an unknown command: its name and the start of its arguments. */
static void unknown_command(session_t *s, const ps_cmd_t *c) {
  char args[200] = "";
  size_t n = 0;
  for (size_t i = 1; i < c->argc && n < 128; i++) {
    int room = 128 - (int)n;
    int w = snprintf(args + n, sizeof args - n, "'%.*s' ",
                     (int)(c->argv[i].len < (size_t)room ? c->argv[i].len : (size_t)room),
                     (const char *)c->argv[i].data);
    n += w > 0 ? (size_t)w : 0;
  }
  ps_error(s, "ERR unknown command '%.*s', with args beginning with: %s",
           (int)(c->argv[0].len < 128 ? c->argv[0].len : 128), (const char *)c->argv[0].data, args);
}

static bool arity_ok(int arity, size_t argc) {
  return arity > 0 ? argc == (size_t)arity : argc >= (size_t)-arity;
}

static int dispatch(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *cp);

/* CLIENT REPLY OFF or SKIP: drop the reply a command just appended (pushes from other
 * sessions never come in the middle of a command, so everything after `mark` is its). */
static void suppress(session_t *s, size_t mark) {
  if (s->reply == PS_REPLY_SKIP) {
    s->out.len = mark;
    s->reply = PS_REPLY_ON;
  } else if (s->reply == PS_REPLY_SKIP_NEXT) {
    s->reply = PS_REPLY_SKIP; /* CLIENT REPLY SKIP has no reply itself; the next one goes */
  } else if (s->reply == PS_REPLY_OFF) {
    s->out.len = mark;
  }
}

int ps_dispatch(tr_ctx_t *ctx, session_t *s, const tr_resp_arg_t *argv, size_t argc) {
  ps_cmd_t c = {argv, argc};
  size_t mark = s->out.len;
  int rc = dispatch(ctx, s, &c);
  suppress(s, mark);
  return rc;
}

static int dispatch(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *cp) {
  const ps_cmd_t *c = cp;
  s->commands++;
  const ps_command_t *cmd = find(commands, &c->argv[0]), *sub = NULL;
  if (!cmd) {
    unknown_command(s, c);
    return s->out.err;
  }
  if (cmd->subs && c->argc >= 2 && !(sub = find(cmd->subs, &c->argv[1]))) {
    ps_unknown_subcommand(s, c);
    return s->out.err;
  }
  if (s->client) /* what CLIENT LIST shows: relaxed, statistics */
    atomic_store_explicit(&s->client->last_cmd,
                          (uint32_t)((cmd - commands + 1) << 8 | (sub ? sub - cmd->subs + 1 : 0)),
                          memory_order_relaxed);
  bool subctx = ps_proto(s) == 2 && ps_subscribed(s) && !(cmd->flags & PS_SUBCTX);
  if (arity_ok(sub ? sub->arity : cmd->arity, c->argc) && s->authed && !subctx) {
    cmd->run(ctx, s, c);
    return s->out.err;
  }
  char fullname[64]; /* the name Redis's errors give: "client|setname" */
  snprintf(fullname, sizeof fullname, sub ? "%s|%s" : "%s", cmd->name, sub ? sub->name : "");
  if (!arity_ok(sub ? sub->arity : cmd->arity, c->argc)) {
    ps_wrong_args(s, fullname);
  } else if (!s->authed && !(cmd->flags & PS_NOAUTH)) {
    tr_resp_error(&s->out, "NOAUTH Authentication required.");
  } else if (subctx) {
    ps_error(s,
             "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
             "RESET are allowed in this context",
             fullname);
  } else {
    cmd->run(ctx, s, c); /* a command that runs before AUTH */
  }
  return s->out.err;
}
