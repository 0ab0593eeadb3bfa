/* COMMAND, COMMAND COUNT / INFO / DOCS / LIST / HELP, from the table in docs_table.c. redis-cli
 * asks for COMMAND DOCS when it starts interactively, for its hints and completion. */
#include <string.h>

#include "docs.h"
#include "session.h"

/* Write a value in the client's protocol. */
static void put(tr_resp_buf_t *b, const ps_val_t *v) {
  switch (v->t) {
  case 'm':
    tr_resp_map(b, v->n);
    for (uint32_t i = 0; i < 2 * v->n; i++)
      put(b, &v->v[i]);
    break;
  case 'a':
  case 's':
    if (v->t == 'a')
      tr_resp_array(b, v->n);
    else
      tr_resp_set(b, v->n);
    for (uint32_t i = 0; i < v->n; i++)
      put(b, &v->v[i]);
    break;
  case 'b':
    tr_resp_bulk_str(b, v->s);
    break;
  case '+':
    tr_resp_simple(b, v->s);
    break;
  case 'i':
    tr_resp_integer(b, v->i);
    break;
  default:
    tr_resp_null(b);
    break;
  }
}

static const ps_command_doc_t *lookup(const tr_resp_arg_t *name) {
  size_t n;
  const ps_command_doc_t *d = ps_command_docs(&n);
  for (size_t i = 0; i < n; i++)
    if (ps_is(name, d[i].name))
      return &d[i];
  return NULL;
}

static bool top_level(const ps_command_doc_t *d) { return strchr(d->name, '|') == NULL; }

static void all_infos(session_t *s) {
  size_t n;
  const ps_command_doc_t *d = ps_command_docs(&n);
  tr_resp_array(&s->out, ps_command_count());
  for (size_t i = 0; i < n; i++)
    if (top_level(&d[i]))
      put(&s->out, d[i].info);
}

static void infos(session_t *s, const ps_cmd_t *c) {
  if (c->argc == 2) {
    all_infos(s);
    return;
  }
  tr_resp_array(&s->out, c->argc - 2);
  for (size_t i = 2; i < c->argc; i++) {
    const ps_command_doc_t *d = lookup(&c->argv[i]);
    if (d)
      put(&s->out, d->info);
    else
      tr_resp_null(&s->out);
  }
}

static void docs(session_t *s, const ps_cmd_t *c) {
  size_t n, found = 0;
  const ps_command_doc_t *d = ps_command_docs(&n);
  if (c->argc == 2) {
    tr_resp_map(&s->out, ps_command_count());
    for (size_t i = 0; i < n; i++)
      if (top_level(&d[i]) && d[i].docs) {
        tr_resp_bulk_str(&s->out, d[i].name);
        put(&s->out, d[i].docs);
      }
    return;
  }
  for (size_t i = 2; i < c->argc; i++)
    found += lookup(&c->argv[i]) != NULL;
  tr_resp_map(&s->out, found);
  for (size_t i = 2; i < c->argc; i++) {
    const ps_command_doc_t *e = lookup(&c->argv[i]);
    if (e) {
      tr_resp_bulk_str(&s->out, e->name);
      put(&s->out, e->docs);
    }
  }
}

/* COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern] */
static void list(session_t *s, const ps_cmd_t *c) {
  const tr_resp_arg_t *how = NULL, *what = NULL;
  if (c->argc == 5 && ps_is(&c->argv[2], "filterby")) {
    how = &c->argv[3];
    what = &c->argv[4];
  } else if (c->argc != 2) {
    tr_resp_error(&s->out, "ERR syntax error");
    return;
  }
  size_t n, count = 0;
  const ps_command_doc_t *d = ps_command_docs(&n);
  tr_resp_buf_t names = {0};
  for (size_t i = 0; i < n; i++) {
    bool keep = !how;
    if (how && ps_is(how, "pattern"))
      keep = ps_glob_match(what->data, what->len, d[i].name, strlen(d[i].name));
    else if (how && ps_is(how, "aclcat"))
      for (uint32_t k = 0; k < d[i].info->v[6].n && !keep; k++)
        keep = ps_is(what, d[i].info->v[6].v[k].s + 1); /* "@pubsub" */
    if (keep) {
      tr_resp_bulk_str(&names, d[i].name);
      count++;
    }
  }
  tr_resp_array(&s->out, count);
  tr_resp_raw(&s->out, names.data, names.len);
  tr_resp_buf_free(&names);
}

static const char *const command_help[] = {
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "HELP",
    "    Prints this help.",
};

void ps_cmd_command(tr_ctx_t *ctx, session_t *s, const ps_cmd_t *c) {
  (void)ctx;
  if (c->argc == 1) {
    all_infos(s);
    return;
  }
  const tr_resp_arg_t *sub = &c->argv[1];
  if (ps_is(sub, "count")) {
    tr_resp_integer(&s->out, (int64_t)ps_command_count());
  } else if (ps_is(sub, "info")) {
    infos(s, c);
  } else if (ps_is(sub, "docs")) {
    docs(s, c);
  } else if (ps_is(sub, "list")) {
    list(s, c);
  } else {
    size_t n = sizeof command_help / sizeof command_help[0];
    tr_resp_array(&s->out, n);
    for (size_t i = 0; i < n; i++)
      tr_resp_simple(&s->out, command_help[i]);
  }
}
