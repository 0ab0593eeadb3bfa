/* CLIENT and its subcommands, as Redis 7.2 answers them: ID, GETNAME, SETNAME, INFO, LIST,
 * SETINFO, NO-EVICT, NO-TOUCH, KILL, REPLY and HELP. */
#include <stdio.h>
#include <string.h>

#include "session.h"

bool ps_valid_name(const tr_resp_arg_t *a) {
  const unsigned char *p = a->data;
  for (size_t i = 0; i < a->len; i++)
    if (p[i] < '!' || p[i] > '~') /* as Redis's validateClientAttr */
      return false;
  return true;
}

static void copy_attr(char *dst, const tr_resp_arg_t *a) {
  size_t n = a->len < PS_NAME_MAX ? a->len : PS_NAME_MAX;
  pthread_mutex_lock(&ps_server.mu);
  memcpy(dst, a->data, n);
  dst[n] = '\0';
  pthread_mutex_unlock(&ps_server.mu);
}

void ps_set_name(session_t *s, const tr_resp_arg_t *a) {
  if (s->client)
    copy_attr(s->client->name, a);
}

static const char *const client_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID id [id ...]",
    "      Return clients of specified IDs only.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
};

/* CLIENT LIST [TYPE type] [ID id ...]: which clients to show. */
typedef struct {
  int type; /* -1 any, 0 normal, 1 pubsub, 2 none (master, replica) */
  const tr_resp_arg_t *ids;
  size_t nids;
} filter_t;

static bool parse_id(const tr_resp_arg_t *a, uint64_t *out) {
  char v[24] = "";
  if (a->len == 0 || a->len > 20)
    return false;
  memcpy(v, a->data, a->len);
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (*end || v[0] == '-' || x == 0)
    return false;
  *out = x;
  return true;
}

static int parse_list(session_t *s, const ps_cmd_t *c, filter_t *f) {
  *f = (filter_t){.type = -1};
  for (size_t j = 2; j < c->argc; j++) {
    const tr_resp_arg_t *a = &c->argv[j];
    if (ps_is(a, "type") && j + 1 < c->argc) {
      const tr_resp_arg_t *t = &c->argv[++j];
      if (ps_is(t, "normal"))
        f->type = 0;
      else if (ps_is(t, "pubsub"))
        f->type = 1;
      else if (ps_is(t, "master") || ps_is(t, "replica") || ps_is(t, "slave"))
        f->type = 2;
      else {
        ps_error(s, "ERR Unknown client type '%.*s'", (int)t->len, (const char *)t->data);
        return -1;
      }
    } else if (ps_is(a, "id") && j + 1 < c->argc) {
      f->ids = &c->argv[j + 1];
      f->nids = c->argc - j - 1;
      for (size_t k = 0; k < f->nids; k++) {
        uint64_t id;
        if (!parse_id(&f->ids[k], &id)) {
          tr_resp_error(&s->out, "ERR Invalid client ID");
          return -1;
        }
      }
      break;
    } else {
      tr_resp_error(&s->out, "ERR syntax error");
      return -1;
    }
  }
  return 0;
}

static bool shown(const filter_t *f, const ps_client_t *c) {
  bool pubsub = atomic_load_explicit(&c->subs[0], memory_order_relaxed) ||
                atomic_load_explicit(&c->subs[1], memory_order_relaxed) ||
                atomic_load_explicit(&c->subs[2], memory_order_relaxed);
  if (f->type == 2 || (f->type == 0 && pubsub) || (f->type == 1 && !pubsub))
    return false;
  if (!f->ids)
    return true;
  for (size_t k = 0; k < f->nids; k++) {
    uint64_t id;
    if (parse_id(&f->ids[k], &id) && id == c->id)
      return true;
  }
  return false;
}

static void client_list(session_t *s, const ps_cmd_t *c) {
  filter_t f;
  if (parse_list(s, c, &f) != 0)
    return;
  tr_resp_buf_t text = {0};
  pthread_mutex_lock(&ps_server.mu);
  for (const ps_client_t *cl = ps_server.clients; cl; cl = cl->next)
    if (shown(&f, cl))
      ps_client_line(&text, cl);
  pthread_mutex_unlock(&ps_server.mu);
  tr_resp_verbatim(&s->out, "txt", text.data ? (const char *)text.data : "", text.len);
  if (text.err)
    s->out.err = text.err;
  tr_resp_buf_free(&text);
}

static void on_off(session_t *s, const tr_resp_arg_t *a, _Atomic bool *flag) {
  if (ps_is(a, "on") || ps_is(a, "off")) {
    atomic_store_explicit(flag, ps_is(a, "on"), memory_order_relaxed);
    tr_resp_simple(&s->out, "OK");
  } else {
    tr_resp_error(&s->out, "ERR syntax error");
  }
}

static void setinfo(session_t *s, const ps_cmd_t *c) {
  const tr_resp_arg_t *opt = &c->argv[2], *val = &c->argv[3];
  bool name = ps_is(opt, "lib-name"), ver = ps_is(opt, "lib-ver");
  if (!name && !ver) {
    ps_error(s, "ERR Unrecognized option '%.*s'", (int)opt->len, (const char *)opt->data);
  } else if (!ps_valid_name(val)) {
    ps_error(s, "ERR %s cannot contain spaces, newlines or special characters.",
             name ? "lib-name" : "lib-ver");
  } else {
    if (s->client)
      copy_attr(name ? s->client->lib_name : s->client->lib_ver, val);
    tr_resp_simple(&s->out, "OK");
  }
}

/* What CLIENT KILL's new form matches (every given option must match). */
typedef struct {
  const tr_resp_arg_t *addr, *laddr, *user;
  uint64_t id;
  int type; /* -1 any, 0 normal, 1 pubsub, 2 none */
  bool skipme;
} kill_t;

static bool arg_eq(const tr_resp_arg_t *a, const char *s) {
  return a->len == strlen(s) && memcmp(a->data, s, a->len) == 0;
}

static bool kill_matches(const kill_t *k, const ps_client_t *c, const ps_client_t *me) {
  filter_t f = {.type = k->type};
  if (k->skipme && c == me)
    return false;
  return (!k->addr || arg_eq(k->addr, c->addr)) && (!k->laddr || arg_eq(k->laddr, c->laddr)) &&
         (!k->user || ps_is(k->user, "default")) && (!k->id || k->id == c->id) && shown(&f, c);
}

static int parse_kill(session_t *s, const ps_cmd_t *c, kill_t *k) {
  *k = (kill_t){.type = -1, .skipme = true};
  for (size_t j = 2; j < c->argc; j += 2) {
    const tr_resp_arg_t *o = &c->argv[j], *v = j + 1 < c->argc ? &c->argv[j + 1] : NULL;
    filter_t f;
    ps_cmd_t one = {c->argv + j - 2, 4}; /* "client list type X", for the type's parser */
    if (!v) {
      tr_resp_error(&s->out, "ERR syntax error");
      return -1;
    } else if (ps_is(o, "addr")) {
      k->addr = v;
    } else if (ps_is(o, "laddr")) {
      k->laddr = v;
    } else if (ps_is(o, "user")) {
      k->user = v;
    } else if (ps_is(o, "id")) {
      if (!parse_id(v, &k->id)) {
        tr_resp_error(&s->out, "ERR client-id should be greater than 0");
        return -1;
      }
    } else if (ps_is(o, "type")) {
      if (parse_list(s, &one, &f) != 0)
        return -1;
      k->type = f.type;
    } else if (ps_is(o, "skipme")) {
      if (!ps_is(v, "yes") && !ps_is(v, "no")) {
        tr_resp_error(&s->out, "ERR syntax error");
        return -1;
      }
      k->skipme = ps_is(v, "yes");
    } else {
      tr_resp_error(&s->out, "ERR syntax error");
      return -1;
    }
  }
  return 0;
}

/* CLIENT KILL ip:port (+OK, or an error when nobody has that address), or the new form
 * CLIENT KILL <option> <value> ... (the number killed). A killed session gets an exit
 * signal: its terminate leaves its subscriptions and its connection closes. */
static void kill_clients(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  kill_t k;
  bool old = c->argc == 3;
  if (old)
    k = (kill_t){.addr = &c->argv[2], .type = -1};
  else if (parse_kill(s, c, &k) != 0)
    return;
  tr_pid_t victims[64];
  size_t n = 0, total = 0;
  bool self = false;
  pthread_mutex_lock(&ps_server.mu);
  for (const ps_client_t *cl = ps_server.clients; cl; cl = cl->next) {
    if (!kill_matches(&k, cl, s->client))
      continue;
    total++;
    if (cl == s->client)
      self = true;
    else if (n < sizeof victims / sizeof victims[0])
      victims[n++] = cl->pid;
  }
  pthread_mutex_unlock(&ps_server.mu);
  tr_reason_t why;
  tr_reason_set(&why, TR_REASON_KILLED, 0, "CLIENT KILL");
  for (size_t i = 0; i < n; i++)
    tr_exit(ctx, victims[i], &why);
  if (old && total == 0)
    tr_resp_error(&s->out, "ERR No such client");
  else if (old)
    tr_resp_simple(&s->out, "OK");
  else
    tr_resp_integer(&s->out, (int64_t)total);
  if (self)
    s->closing = true; /* after this reply, as Redis closes a client that killed itself */
}

void ps_cmd_client(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  const tr_resp_arg_t *sub = &c->argv[1];
  ps_client_t *me = s->client;
  if (ps_is(sub, "id")) {
    tr_resp_integer(&s->out, me ? (int64_t)me->id : 0);
  } else if (ps_is(sub, "getname")) {
    if (me && me->name[0])
      tr_resp_bulk_str(&s->out, me->name);
    else
      tr_resp_null(&s->out);
  } else if (ps_is(sub, "setname")) {
    if (!ps_valid_name(&c->argv[2])) {
      tr_resp_error(&s->out,
                    "ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    ps_set_name(s, &c->argv[2]);
    tr_resp_simple(&s->out, "OK");
  } else if (ps_is(sub, "info")) {
    tr_resp_buf_t text = {0};
    if (me) {
      pthread_mutex_lock(&ps_server.mu);
      ps_client_line(&text, me);
      pthread_mutex_unlock(&ps_server.mu);
    }
    tr_resp_verbatim(&s->out, "txt", text.data ? (const char *)text.data : "", text.len);
    tr_resp_buf_free(&text);
  } else if (ps_is(sub, "list")) {
    client_list(s, c);
  } else if (ps_is(sub, "setinfo")) {
    setinfo(s, c);
  } else if (ps_is(sub, "no-evict") && me) {
    on_off(s, &c->argv[2], &me->no_evict);
  } else if (ps_is(sub, "no-touch") && me) {
    on_off(s, &c->argv[2], &me->no_touch);
  } else if (ps_is(sub, "reply")) {
    const tr_resp_arg_t *m = &c->argv[2];
    if (ps_is(m, "on")) {
      s->reply = PS_REPLY_ON;
      tr_resp_simple(&s->out, "OK");
    } else if (ps_is(m, "off") || ps_is(m, "skip")) {
      s->reply = ps_is(m, "off") ? PS_REPLY_OFF : PS_REPLY_SKIP_NEXT; /* this one: no reply */
    } else {
      tr_resp_error(&s->out, "ERR syntax error");
    }
  } else if (ps_is(sub, "kill")) {
    kill_clients(ctx, s, c);
  } else if (ps_is(sub, "help")) {
    size_t n = sizeof client_help / sizeof client_help[0];
    tr_resp_array(&s->out, n);
    for (size_t i = 0; i < n; i++)
      tr_resp_simple(&s->out, client_help[i]);
  } else {
    ps_unknown_subcommand(s, c);
  }
}
