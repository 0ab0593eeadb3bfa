/* Private to docs.c and docs_table.c: the tree of RESP3 values COMMAND answers from. */
#ifndef PUBSUB_DOCS_H
#define PUBSUB_DOCS_H

#include <stddef.h>
#include <stdint.h>

/* One RESP3 value: t is 'm' (a map of n pairs: v holds 2n values), 'a' (an array of n), 's'
 * (a set of n), 'b' (a bulk string s), '+' (a simple string s), 'i' (the integer i) or 'n'
 * (the null). */
typedef struct ps_val {
  char t;
  uint32_t n;
  int64_t i;
  const char *s;
  const struct ps_val *v;
} ps_val_t;

/* A command or subcommand ("client|setname"), its COMMAND INFO entry and its docs. */
typedef struct {
  const char *name;
  const ps_val_t *info, *docs;
} ps_command_doc_t;

/* Every command and subcommand served, sorted by name. */
const ps_command_doc_t *ps_command_docs(size_t *n);

#endif
