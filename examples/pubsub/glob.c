/* Redis's glob matching (stringmatchlen), for PSUBSCRIBE patterns and PUBSUB CHANNELS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub.h"

/* Deepest recursion of a glob match, as Redis bounds it: a pattern of many '*' cannot
 * exhaust the stack. */
#define GLOB_NESTING_MAX 1000

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
