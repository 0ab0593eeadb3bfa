/* The local registry: name -> pid, under one mutex (registration is rare next to sending).
 * An actor's name is kept in its ext block too, so its exit can drop it; the DYING flag,
 * read under the same mutex, keeps a name from being given to an actor that is exiting. */
#include <string.h>

#include "actors/actor.h"

typedef struct tr_name_entry {
  struct tr_name_entry *next;
  tr_pid_t pid;
  char name[TR_NAME_MAX + 1];
} tr_name_entry_t;

int tr__registry_init(tr_registry_t *r) {
  r->nbuckets = 64;
  r->count = 0;
  r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
  if (!r->buckets)
    return TR_ENOMEM;
  pthread_mutex_init(&r->mu, NULL);
  return 0;
}

void tr__registry_destroy(tr_registry_t *r) {
  if (!r->buckets)
    return;
  for (size_t i = 0; i < r->nbuckets; i++) {
    tr_name_entry_t *e = r->buckets[i];
    while (e) {
      tr_name_entry_t *n = e->next;
      free(e);
      e = n;
    }
  }
  free(r->buckets);
  r->buckets = NULL;
  pthread_mutex_destroy(&r->mu);
}

static size_t bucket(const tr_registry_t *r, const char *name) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (const char *p = name; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211u;
  return (size_t)(h & (r->nbuckets - 1));
}

/* Under mu. */
static tr_name_entry_t **find(tr_registry_t *r, const char *name) {
  tr_name_entry_t **pp = &r->buckets[bucket(r, name)];
  while (*pp && strcmp((*pp)->name, name) != 0)
    pp = &(*pp)->next;
  return pp;
}

/* Under mu: double the buckets when the chains get long. */
static void grow(tr_registry_t *r) {
  size_t n = r->nbuckets * 2;
  tr_name_entry_t **b = calloc(n, sizeof *b);
  if (!b)
    return; /* longer chains, still correct */
  tr_name_entry_t **old = r->buckets;
  size_t oldn = r->nbuckets;
  r->buckets = b;
  r->nbuckets = n;
  for (size_t i = 0; i < oldn; i++) {
    for (tr_name_entry_t *e = old[i], *next; e; e = next) {
      next = e->next;
      size_t k = bucket(r, e->name);
      e->next = b[k];
      b[k] = e;
    }
  }
  free(old);
}

static bool valid_name(const char *name) {
  size_t len = name ? strnlen(name, TR_NAME_MAX + 1) : 0;
  return len > 0 && len <= TR_NAME_MAX;
}

int tr_register(tr_system_t *sys, const char *name, tr_pid_t pid) {
  if (!valid_name(name))
    return TR_EINVAL;
  tr_registry_t *r = &sys->reg;
  bool foreign = !tr__on_worker(sys);
  if (foreign)
    tr__qsbr_foreign_enter(&sys->sched.qsbr);
  int rc = 0;
  tr_actor_t *a = tr__table_get(&sys->table, pid);
  tr_actor_ext_t *ext = a ? tr__actor_ext(a) : NULL;
  pthread_mutex_lock(&r->mu);
  tr_name_entry_t **pp;
  if (!a || (atomic_load_explicit(&a->flags, memory_order_seq_cst) & TR_AF_DYING))
    rc = TR_ENOENT;
  else if (!ext)
    rc = TR_ENOMEM;
  else if (ext->name[0] || *(pp = find(r, name)))
    rc = TR_EEXIST;
  else {
    tr_name_entry_t *e = calloc(1, sizeof *e);
    if (!e) {
      rc = TR_ENOMEM;
    } else {
      strcpy(e->name, name);
      e->pid = pid;
      *pp = e;
      strcpy(ext->name, name);
      if (++r->count > r->nbuckets * 2)
        grow(r);
    }
  }
  pthread_mutex_unlock(&r->mu);
  if (foreign)
    tr__qsbr_foreign_exit(&sys->sched.qsbr);
  return rc;
}

int tr__registry_add_new(tr_system_t *sys, tr_actor_t *a, const char *name) {
  if (!valid_name(name))
    return TR_EINVAL;
  tr_actor_ext_t *ext = tr__actor_ext(a);
  if (!ext)
    return TR_ENOMEM;
  tr_registry_t *r = &sys->reg;
  int rc = 0;
  pthread_mutex_lock(&r->mu);
  tr_name_entry_t **pp = find(r, name);
  tr_name_entry_t *e = *pp ? NULL : calloc(1, sizeof *e);
  if (*pp) {
    rc = TR_EEXIST;
  } else if (!e) {
    rc = TR_ENOMEM;
  } else {
    strcpy(e->name, name);
    e->pid = a->pid;
    *pp = e;
    strcpy(ext->name, name);
    if (++r->count > r->nbuckets * 2)
      grow(r);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

/* Under mu: remove name's entry; clear the owner's copy when the owner is given. */
static bool remove_name(tr_registry_t *r, const char *name) {
  tr_name_entry_t **pp = find(r, name);
  if (!*pp)
    return false;
  tr_name_entry_t *e = *pp;
  *pp = e->next;
  free(e);
  r->count--;
  return true;
}

int tr_unregister(tr_system_t *sys, const char *name) {
  if (!valid_name(name))
    return TR_EINVAL;
  tr_registry_t *r = &sys->reg;
  bool foreign = !tr__on_worker(sys);
  if (foreign)
    tr__qsbr_foreign_enter(&sys->sched.qsbr);
  pthread_mutex_lock(&r->mu);
  tr_name_entry_t *e = *find(r, name);
  tr_pid_t pid = e ? e->pid : TR_PID_NONE;
  bool found = remove_name(r, name);
  if (found) {
    tr_actor_t *a = tr__table_get(&sys->table, pid);
    tr_actor_ext_t *ext = a ? atomic_load_explicit(&a->ext, memory_order_acquire) : NULL;
    if (ext)
      ext->name[0] = '\0';
  }
  pthread_mutex_unlock(&r->mu);
  if (foreign)
    tr__qsbr_foreign_exit(&sys->sched.qsbr);
  return found ? 0 : TR_ENOENT;
}

tr_pid_t tr_whereis(tr_system_t *sys, const char *name) {
  if (!valid_name(name))
    return TR_PID_NONE;
  tr_registry_t *r = &sys->reg;
  pthread_mutex_lock(&r->mu);
  tr_name_entry_t *e = *find(r, name);
  tr_pid_t pid = e ? e->pid : TR_PID_NONE;
  pthread_mutex_unlock(&r->mu);
  return pid;
}

void tr__registry_drop(tr_system_t *sys, tr_actor_t *a) {
  tr_actor_ext_t *ext = atomic_load_explicit(&a->ext, memory_order_seq_cst); /* see actor.c */
  if (!ext)
    return; /* never named: a name needs the ext block, created before the DYING check */
  tr_registry_t *r = &sys->reg;
  pthread_mutex_lock(&r->mu);
  if (ext->name[0]) {
    remove_name(r, ext->name);
    ext->name[0] = '\0';
  }
  pthread_mutex_unlock(&r->mu);
}

void tr__registry_name_of(tr_system_t *sys, tr_actor_t *a, char *out) {
  out[0] = '\0';
  tr_actor_ext_t *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (!ext)
    return;
  pthread_mutex_lock(&sys->reg.mu);
  memcpy(out, ext->name, TR_NAME_MAX + 1);
  pthread_mutex_unlock(&sys->reg.mu);
}
