/* Atom interning: a hash index under a mutex for name -> atom, and a chunked array that any
 * thread reads without a lock for atom -> name. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "mailbox/atom.h"

static const char *const builtin[] = {
    [TR_ATOM_INIT] = "init",         [TR_ATOM_REPLY] = "reply",
    [TR_ATOM_EXIT] = "EXIT",         [TR_ATOM_DOWN] = "DOWN",
    [TR_ATOM_TIMEOUT] = "timeout",   [TR_ATOM_TCP_OPEN] = "tcp_open",
    [TR_ATOM_TCP_DATA] = "tcp_data", [TR_ATOM_TCP_CLOSED] = "tcp_closed",
    [TR_ATOM_TRACE] = "trace",       [TR_ATOM_TCP_EOF] = "tcp_eof",
    [TR_ATOM_NODEUP] = "nodeup",     [TR_ATOM_NODEDOWN] = "nodedown",
};

static uint32_t hash(const char *s, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static const char *name_of(tr_atoms_t *t, tr_atom_t a) {
  if (a == 0 || a >= TR_ATOMS_MAX)
    return NULL;
  /* acquire: pairs with the release stores in add(), which publish the chunk and the name. */
  char *_Atomic *chunk =
      atomic_load_explicit(&t->chunks[a >> TR_ATOM_CHUNK_BITS], memory_order_acquire);
  if (!chunk)
    return NULL;
  return atomic_load_explicit(&chunk[a & (TR_ATOM_CHUNK - 1)], memory_order_acquire);
}

static bool same(const char *n, const char *s, size_t len) {
  return n && strncmp(n, s, len) == 0 && n[len] == '\0';
}

/* Under mu. The bucket holding s, or the empty bucket where it would go. */
static uint32_t probe(tr_atoms_t *t, const char *s, size_t len) {
  uint32_t mask = t->index_cap - 1, i = hash(s, len) & mask;
  while (t->index[i] && !same(name_of(t, t->index[i]), s, len))
    i = (i + 1) & mask;
  return i;
}

static int grow(tr_atoms_t *t) {
  uint32_t cap = t->index_cap ? t->index_cap * 2 : 256;
  tr_atom_t *old = t->index;
  uint32_t old_cap = t->index_cap;
  t->index = calloc(cap, sizeof *t->index);
  if (!t->index) {
    t->index = old;
    return TR_ENOMEM;
  }
  t->index_cap = cap;
  for (uint32_t i = 0; i < old_cap; i++) {
    if (old[i]) {
      const char *n = name_of(t, old[i]);
      t->index[probe(t, n, strlen(n))] = old[i];
    }
  }
  free(old);
  return 0;
}

/* Under mu. Append a name as atom t->count. */
static tr_atom_t add(tr_atoms_t *t, const char *s, size_t len) {
  if (t->count >= TR_ATOMS_MAX)
    return 0;
  if ((t->count + 1) * 2 > t->index_cap && grow(t) != 0)
    return 0;
  tr_atom_t a = t->count;
  uint32_t c = a >> TR_ATOM_CHUNK_BITS;
  char *_Atomic *chunk = atomic_load_explicit(&t->chunks[c], memory_order_relaxed);
  if (!chunk) {
    chunk = calloc(TR_ATOM_CHUNK, sizeof *chunk);
    if (!chunk)
      return 0;
    atomic_store_explicit(&t->chunks[c], chunk, memory_order_release);
  }
  char *copy = malloc(len + 1);
  if (!copy)
    return 0;
  memcpy(copy, s, len);
  copy[len] = '\0';
  uint32_t slot = probe(t, s, len);
  /* release: readers that load this pointer see the copied bytes. */
  atomic_store_explicit(&chunk[a & (TR_ATOM_CHUNK - 1)], copy, memory_order_release);
  t->index[slot] = a;
  t->count++;
  return a;
}

int tr__atoms_init(tr_atoms_t *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mu, NULL);
  t->count = 1;
  if (grow(t) != 0)
    return TR_ENOMEM;
  /* Built-in atoms get their fixed values; the gaps up to TR_ATOM_FIRST_USER are reserved. */
  for (tr_atom_t a = 1; a < TR_ATOM_FIRST_USER; a++) {
    char reserved[16];
    const char *n = a < sizeof builtin / sizeof *builtin && builtin[a] ? builtin[a] : NULL;
    if (!n) {
      snprintf(reserved, sizeof reserved, "$reserved%u", (unsigned)a);
      n = reserved;
    }
    if (add(t, n, strlen(n)) != a)
      return TR_ENOMEM;
  }
  return 0;
}

void tr__atoms_destroy(tr_atoms_t *t) {
  for (uint32_t c = 0; c < TR_ATOMS_MAX / TR_ATOM_CHUNK; c++) {
    char *_Atomic *chunk = atomic_load_explicit(&t->chunks[c], memory_order_relaxed);
    if (!chunk)
      break;
    for (uint32_t i = 0; i < TR_ATOM_CHUNK; i++)
      free(atomic_load_explicit(&chunk[i], memory_order_relaxed));
    free(chunk);
  }
  free(t->index);
  pthread_mutex_destroy(&t->mu);
}

static bool valid(const char *s, size_t len) {
  return s && len > 0 && len <= TR_ATOM_MAX_LEN && memchr(s, '\0', len) == NULL;
}

tr_atom_t tr__atoms_intern(tr_atoms_t *t, const char *name, size_t len) {
  if (!valid(name, len))
    return 0;
  pthread_mutex_lock(&t->mu);
  tr_atom_t a = t->index[probe(t, name, len)];
  if (!a)
    a = add(t, name, len);
  pthread_mutex_unlock(&t->mu);
  return a;
}

tr_atom_t tr__atoms_find(tr_atoms_t *t, const char *name, size_t len) {
  if (!valid(name, len))
    return 0;
  pthread_mutex_lock(&t->mu);
  tr_atom_t a = t->index[probe(t, name, len)];
  pthread_mutex_unlock(&t->mu);
  return a;
}

const char *tr__atoms_name(tr_atoms_t *t, tr_atom_t a) { return name_of(t, a); }
