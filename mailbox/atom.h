/* The atom table of one system: interned names <-> small integers. Interning takes a lock
 * (it happens at start-up); id -> name is lock-free. The table is bounded (TR_ATOMS_MAX) so
 * that nothing from outside can exhaust memory through it. */
#ifndef TR_MAILBOX_ATOM_H
#define TR_MAILBOX_ATOM_H

#include <pthread.h>
#include <stdatomic.h>

#include "troupe/msg.h"

#define TR_ATOM_CHUNK_BITS 10
#define TR_ATOM_CHUNK (1u << TR_ATOM_CHUNK_BITS)
#define TR_ATOMS_MAX (1u << 20) /* a million names is far beyond any program's vocabulary */

typedef struct tr_atoms {
  pthread_mutex_t mu;
  /* Open-addressing index name -> atom, guarded by mu. 0 marks an empty bucket. */
  tr_atom_t *index;
  uint32_t index_cap;
  uint32_t count; /* next atom value; guarded by mu */
  /* atom -> name: written under mu, read lock-free (acquire) by any thread. */
  _Atomic(char *_Atomic *) chunks[TR_ATOMS_MAX / TR_ATOM_CHUNK];
} tr_atoms_t;

int tr__atoms_init(tr_atoms_t *t);
void tr__atoms_destroy(tr_atoms_t *t);
tr_atom_t tr__atoms_intern(tr_atoms_t *t, const char *name, size_t len);
tr_atom_t tr__atoms_find(tr_atoms_t *t, const char *name, size_t len);
const char *tr__atoms_name(tr_atoms_t *t, tr_atom_t a);

#endif
