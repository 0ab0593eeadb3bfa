/* Pieces the server's actors share: the atoms, topic names, Redis's glob matching and the
 * formatting of message pushes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub.h"

ps_atoms_t ps_atoms;

/* Deepest recursion of a glob match, as Redis bounds it: a pattern of many '*' cannot
 * exhaust the stack. */
#define GLOB_NESTING_MAX 1000

int ps_atoms_init(tr_system_t *sys) {
  const tr_atom_def_t all[] = {{"ps.sub", &ps_atoms.sub},       {"ps.unsub", &ps_atoms.unsub},
                               {"ps.psub", &ps_atoms.psub},     {"ps.punsub", &ps_atoms.punsub},
                               {"ps.ack", &ps_atoms.ack},       {"ps.pub", &ps_atoms.pub},
                               {"ps.msg", &ps_atoms.msg},       {"ps.pmsg", &ps_atoms.pmsg},
                               {"ps.retire", &ps_atoms.retire}, {"ps.channels", &ps_atoms.channels},
                               {"ps.numsub", &ps_atoms.numsub}, {"ps.numpat", &ps_atoms.numpat},
                               {"ps.flush", &ps_atoms.flush}};
  _Static_assert(sizeof all / sizeof all[0] == sizeof(ps_atoms_t) / sizeof(tr_atom_t),
                 "every atom of ps_atoms_t has a name");
  return tr_atoms(sys, all, sizeof all / sizeof all[0]);
}

void ps_topic_name(char out[TR_NAME_MAX + 1], const void *channel, size_t len) {
  static const char prefix[] = "topic:";
  if (len <= TR_NAME_MAX - (sizeof prefix - 1) && len > 0 && !memchr(channel, 0, len)) {
    memcpy(out, prefix, sizeof prefix - 1);
    memcpy(out + sizeof prefix - 1, channel, len);
    out[sizeof prefix - 1 + len] = 0;
    return;
  }
  uint64_t h = 14695981039346656037ull; /* FNV-1a */
  const unsigned char *p = channel;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  snprintf(out, TR_NAME_MAX + 1, "%s#%016llx", prefix, (unsigned long long)h);
}

/* One bracket class "[...]" at p (just after the "["), against byte c: whether it matches,
 * and where the pattern goes on (after the "]", or at its end when the class is open). */
static bool glob_class(const unsigned char **pp, const unsigned char *pe, unsigned char c) {
  const unsigned char *p = *pp;
  bool neg = p < pe && *p == '^', hit = false;
  p += neg;
  for (; p < pe && *p != ']'; p++) {
    if (*p == '\\' && pe - p >= 2) {
      p++;
      hit |= *p == c;
    } else if (pe - p >= 3 && p[1] == '-') {
      unsigned char lo = p[0] < p[2] ? p[0] : p[2], hi = p[0] < p[2] ? p[2] : p[0];
      hit |= c >= lo && c <= hi;
      p += 2;
    } else {
      hit |= *p == c;
    }
  }
  /* An unclosed class ends the pattern, as in Redis (its last byte acts as the "]"). */
  *pp = p < pe ? p : pe - 1;
  return neg ? !hit : hit;
}

static bool glob(const unsigned char *p, const unsigned char *pe, const unsigned char *s,
                 const unsigned char *se, bool *give_up, int nesting) {
  if (nesting > GLOB_NESTING_MAX)
    return false;
  while (p < pe && s < se) {
    if (*p == '*') {
      while (pe - p > 1 && p[1] == '*')
        p++;
      if (pe - p == 1)
        return true;
      for (; s < se; s++) {
        if (glob(p + 1, pe, s, se, give_up, nesting + 1))
          return true;
        if (*give_up)
          return false;
      }
      /* The rest matches nowhere in the rest of the string, so no earlier '*' can help by
       * matching more: stop (Redis's skipLongerMatches, against exponential patterns). */
      *give_up = true;
      return false;
    }
    if (*p == '[') {
      p++;
      if (!glob_class(&p, pe, *s))
        return false;
    } else if (*p != '?') {
      if (*p == '\\' && pe - p >= 2)
        p++;
      if (*p != *s)
        return false;
    }
    s++;
    p++;
    if (s == se) { /* as Redis: trailing stars match the empty rest (not an empty string) */
      while (p < pe && *p == '*')
        p++;
      break;
    }
  }
  return p == pe && s == se;
}

bool ps_glob_match(const void *pattern, size_t plen, const void *str, size_t slen) {
  const unsigned char *p = pattern, *s = str;
  bool give_up = false;
  return glob(p, p + plen, s, s + slen, &give_up, 0);
}

int ps_push(tr_resp_buf_t *b, const char *kind, const void *pattern, size_t plen, const void *name,
            size_t nlen, const void *payload, size_t len) {
  tr_resp_array(b, pattern ? 4 : 3);
  tr_resp_bulk(b, kind, strlen(kind));
  if (pattern)
    tr_resp_bulk(b, pattern, plen);
  tr_resp_bulk(b, name, nlen);
  return tr_resp_bulk(b, payload, len);
}

int ps_pids_add(ps_pids_t *set, tr_pid_t pid) {
  for (size_t i = 0; i < set->n; i++)
    if (tr_pid_eq(set->pid[i], pid))
      return 0;
  if (set->n == set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 4;
    tr_pid_t *p = realloc(set->pid, cap * sizeof *p);
    if (!p)
      return TR_ENOMEM;
    set->pid = p;
    set->cap = cap;
  }
  set->pid[set->n++] = pid;
  return 0;
}

void ps_pids_del(ps_pids_t *set, tr_pid_t pid) {
  for (size_t i = 0; i < set->n; i++)
    if (tr_pid_eq(set->pid[i], pid)) {
      set->pid[i] = set->pid[--set->n];
      return;
    }
}
