/* Process groups (include/troupe/group.h): a read-mostly index that senders read without a
 * lock and joins and leaves change under a lock per shard.
 *
 * Layout. A scope holds GROUP_SHARDS shards; a group goes to the shard its name hashes to.
 * A shard's table is an open-addressing array of group pointers (linear probing; NULL ends a
 * probe, TOMB is a removed group that a probe steps over). A group's members are an
 * immutable array (members_t) that a join or leave replaces whole (copy on write).
 *
 * Readers. A reader on a worker (or the I/O thread) finds a group and reads its members with
 * acquire loads and may use them until its next quiescent point; an outside thread does the
 * same under the foreign lock. What writers replace (a members array, a group, a table) is
 * retired through the scheduler's reclamation (tr__retire), so no reader ever holds freed
 * memory and no reader takes a lock.
 *
 * Writers. Joins and leaves run on the member's own worker (an actor joins and leaves only
 * itself) under the shard's mutex. A table is rebuilt (a new array, the old one retired)
 * only when it fills up with live groups and tombstones; otherwise an insert fills a slot
 * and a removal writes TOMB in place, both with release stores that a probing reader's
 * acquire loads pair with. Every member keeps the groups it is in (its ext block), so its
 * exit leaves them without a search. */
#include <string.h>

#include "actors/remote.h"
#include "troupe/group.h"

/* Shards of a scope: joins to different groups rarely share a lock, and a walk of a small
 * scope (a pub/sub server's patterns, on every PUBLISH) visits few empty tables. */
#define GROUP_SHARDS 16u
/* Smallest table: a power of two. */
#define TABLE_MIN 8u

typedef struct members {
  tr_retired_t r;
  uint32_t n;
  uint32_t remote; /* members that are actors of other nodes (the cluster's) */
  tr_pid_t pid[];
} members_t;

struct tr_group {
  tr_retired_t r;
  struct tr_gscope *scope;
  uint64_t hash;
  uint32_t len;
  _Atomic(members_t *) members; /* never NULL while the group is in its table */
  unsigned char name[];
};

/* A removed group: probes go on past it. */
#define TOMB ((tr_group_t *)(uintptr_t)1)

typedef struct table {
  tr_retired_t r;
  uint32_t cap;  /* a power of two */
  uint32_t used; /* slots not NULL: live groups and tombstones */
  uint32_t live;
  _Atomic(tr_group_t *) slot[];
} table_t;

typedef struct {
  alignas(TR_CACHE_LINE) pthread_mutex_t mu; /* writers of this shard */
  _Atomic(table_t *) table;                  /* NULL until the first group */
} shard_t;

struct tr_gscope {
  tr_atom_t atom;
  _Atomic uint64_t groups; /* statistics: groups now (relaxed) */
  shard_t shards[GROUP_SHARDS];
};

/* ---- hashing, freeing ---- */

static uint64_t hash_name(tr_atom_t scope, const void *name, size_t len) {
  /* FNV-1a over the scope and the name, then a final mix so that the low bits (the shard)
   * and the high bits (the slot) both depend on every byte. */
  uint64_t h = 14695981039346656037ull ^ scope;
  const unsigned char *p = name;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

static void free_plain(tr_retired_t *r) { free(r); }

static void free_group(tr_retired_t *r) {
  tr_group_t *g = (tr_group_t *)r;
  free(atomic_load_explicit(&g->members, memory_order_relaxed));
  free(g);
}

static members_t *members_new(uint32_t n, uint32_t remote) {
  members_t *m = malloc(sizeof *m + n * sizeof m->pid[0]);
  if (m) {
    m->r.free = free_plain;
    m->n = n;
    m->remote = remote;
  }
  return m;
}

/* ---- scopes ---- */

static tr_gscope_t *scope_find(tr_groups_t *gs, tr_atom_t atom) {
  /* acquire: pairs with the release store in scope_get, so the scope is initialised. */
  uint32_t n = atomic_load_explicit(&gs->nscopes, memory_order_acquire);
  for (uint32_t i = 0; i < n; i++)
    if (gs->scopes[i]->atom == atom)
      return gs->scopes[i];
  return NULL;
}

/* Add a scope (the lock held). */
static int scope_add(tr_groups_t *gs, tr_atom_t atom, tr_gscope_t **out) {
  uint32_t n = atomic_load_explicit(&gs->nscopes, memory_order_relaxed);
  if (n == TR_GROUP_SCOPES_MAX)
    return TR_ELIMIT;
  tr_gscope_t *sc = aligned_alloc(TR_CACHE_LINE, sizeof *sc);
  if (!sc)
    return TR_ENOMEM;
  memset(sc, 0, sizeof *sc);
  sc->atom = atom;
  for (uint32_t k = 0; k < GROUP_SHARDS; k++)
    pthread_mutex_init(&sc->shards[k].mu, NULL);
  gs->scopes[n] = sc;
  /* release: publishes the initialised scope to scope_find's acquire load. */
  atomic_store_explicit(&gs->nscopes, n + 1, memory_order_release);
  *out = sc;
  return 0;
}

static int scope_get(tr_groups_t *gs, tr_atom_t atom, tr_gscope_t **out) {
  if ((*out = scope_find(gs, atom)) != NULL)
    return 0;
  pthread_mutex_lock(&gs->mu);
  int rc = 0;
  tr_gscope_t *sc = scope_find(gs, atom); /* added meanwhile by another thread? */
  if (!sc)
    rc = scope_add(gs, atom, &sc);
  pthread_mutex_unlock(&gs->mu);
  *out = rc ? NULL : sc;
  return rc;
}

/* ---- tables ---- */

static shard_t *shard_of(tr_gscope_t *sc, uint64_t h) { return &sc->shards[h % GROUP_SHARDS]; }

static uint32_t first_slot(const table_t *t, uint64_t h) {
  return (uint32_t)(h >> 32) & (t->cap - 1);
}

/* The group named so in its shard, or NULL. Readers and writers alike. */
static tr_group_t *lookup(tr_gscope_t *sc, uint64_t h, const void *name, size_t len) {
  /* acquire (table, slots): pair with the release stores of publish_table and of the slot
   * writes in table_insert / table_remove, so a group found is a group initialised. */
  table_t *t = atomic_load_explicit(&shard_of(sc, h)->table, memory_order_acquire);
  if (!t)
    return NULL;
  for (uint32_t i = first_slot(t, h);; i = (i + 1) & (t->cap - 1)) {
    tr_group_t *g = atomic_load_explicit(&t->slot[i], memory_order_acquire);
    if (!g)
      return NULL;
    if (g != TOMB && g->hash == h && g->len == len && memcmp(g->name, name, len) == 0)
      return g;
  }
}

/* Put g in t, which has room (shard lock held). */
static void table_put(table_t *t, tr_group_t *g) {
  for (uint32_t i = first_slot(t, g->hash);; i = (i + 1) & (t->cap - 1)) {
    tr_group_t *s = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (s == NULL || s == TOMB) {
      t->used += s == NULL;
      t->live++;
      /* release: publishes the group's fields to lookup's acquire load. */
      atomic_store_explicit(&t->slot[i], g, memory_order_release);
      return;
    }
  }
}

static table_t *table_new(uint32_t cap) {
  table_t *t = calloc(1, sizeof *t + cap * sizeof t->slot[0]);
  if (t) {
    t->r.free = free_plain;
    t->cap = cap;
  }
  return t;
}

/* Insert g into its shard (lock held), rebuilding the table when it would be over 3/4 full
 * of groups and tombstones. Returns 0 or TR_ENOMEM. */
static int table_insert(tr_ctx_t *ctx, shard_t *sh, tr_group_t *g) {
  table_t *t = atomic_load_explicit(&sh->table, memory_order_relaxed);
  if (t && (t->used + 1) * 4 <= t->cap * 3) {
    table_put(t, g);
    return 0;
  }
  uint32_t cap = TABLE_MIN, live = t ? t->live + 1 : 1;
  while (live * 2 > cap)
    cap *= 2;
  table_t *n = table_new(cap);
  if (!n)
    return TR_ENOMEM;
  for (uint32_t i = 0; t && i < t->cap; i++) {
    tr_group_t *s = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (s && s != TOMB)
      table_put(n, s);
  }
  table_put(n, g);
  /* release: publishes the filled table to lookup's acquire load. */
  atomic_store_explicit(&sh->table, n, memory_order_release);
  if (t)
    tr__retire(ctx, &t->r);
  return 0;
}

static void table_remove(shard_t *sh, tr_group_t *g) {
  table_t *t = atomic_load_explicit(&sh->table, memory_order_relaxed);
  for (uint32_t i = first_slot(t, g->hash);; i = (i + 1) & (t->cap - 1)) {
    if (atomic_load_explicit(&t->slot[i], memory_order_relaxed) == g) {
      /* release: a reader that sees TOMB goes on probing; one that still sees g may use it
       * until its quiescent point (g is retired, not freed). */
      atomic_store_explicit(&t->slot[i], TOMB, memory_order_release);
      t->live--;
      return;
    }
  }
}

/* ---- the member's own list (its ext block, owner only) ---- */

static int mine_add(tr_actor_ext_t *x, tr_group_t *g) {
  if (x->ngroups == x->capgroups) {
    uint32_t cap = x->capgroups ? x->capgroups * 2 : 4;
    tr_group_t **a = realloc(x->groups, cap * sizeof *a);
    if (!a)
      return TR_ENOMEM;
    x->groups = a;
    x->capgroups = cap;
  }
  x->groups[x->ngroups++] = g;
  return 0;
}

static void mine_del(tr_actor_ext_t *x, tr_group_t *g) {
  for (uint32_t i = 0; i < x->ngroups; i++)
    if (x->groups[i] == g) {
      x->groups[i] = x->groups[--x->ngroups];
      return;
    }
}

/* ---- joining and leaving ---- */

static bool valid_name(const void *name, size_t len) {
  return name && len > 0 && len <= TR_GROUP_NAME_MAX;
}

static int index_of(const members_t *m, tr_pid_t pid) {
  for (uint32_t i = 0; i < m->n; i++)
    if (m->pid[i].id == pid.id)
      return (int)i;
  return -1;
}

/* Tell the other nodes that a local member joined or left (shard lock held: the deltas of
 * one group go out in the order they happen). */
static void notify(tr_ctx_t *ctx, tr_gscope_t *sc, const void *name, size_t len, tr_pid_t pid,
                   bool join) {
  const tr_remote_ops_t *ops = tr__remote(ctx->sys);
  if (ops && !tr__pid_remote(pid))
    ops->group_delta(ctx, sc->atom, name, len, pid, join);
}

/* Add pid to the group named so, creating it (shard lock held). *out: the group, or NULL
 * when pid was a member already. */
static int add_locked(tr_ctx_t *ctx, tr_gscope_t *sc, uint64_t h, const void *name, size_t len,
                      tr_pid_t self, tr_group_t **out) {
  uint32_t remote = tr__pid_remote(self);
  tr_group_t *g = lookup(sc, h, name, len);
  if (!g) {
    members_t *m = members_new(1, remote);
    if (!m || !(g = malloc(sizeof *g + len))) {
      free(m);
      return TR_ENOMEM;
    }
    m->pid[0] = self;
    g->r.free = free_group;
    g->scope = sc;
    g->hash = h;
    g->len = (uint32_t)len;
    atomic_store_explicit(&g->members, m, memory_order_relaxed);
    memcpy(g->name, name, len);
    if (table_insert(ctx, shard_of(sc, h), g) != 0) {
      free(m);
      free(g);
      return TR_ENOMEM;
    }
    atomic_fetch_add_explicit(&sc->groups, 1, memory_order_relaxed); /* statistics */
    notify(ctx, sc, name, len, self, true);
    *out = g;
    return 0;
  }
  members_t *old = atomic_load_explicit(&g->members, memory_order_relaxed);
  if (index_of(old, self) >= 0) {
    *out = NULL; /* a member already */
    return 0;
  }
  members_t *m = members_new(old->n + 1, old->remote + remote);
  if (!m)
    return TR_ENOMEM;
  memcpy(m->pid, old->pid, old->n * sizeof old->pid[0]);
  m->pid[old->n] = self;
  /* release: publishes the new array to the readers' acquire load of g->members. */
  atomic_store_explicit(&g->members, m, memory_order_release);
  tr__retire(ctx, &old->r);
  notify(ctx, sc, name, len, self, true);
  *out = g;
  return 0;
}

/* Add pid to the group (made when absent) under its shard's lock; *g: the group when pid
 * was not a member yet. */
static int join_as(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len, tr_pid_t pid,
                   tr_group_t **g) {
  tr_gscope_t *sc;
  int rc = scope_get(&ctx->sys->groups, scope, &sc);
  if (rc)
    return rc;
  uint64_t h = hash_name(scope, name, len);
  shard_t *sh = shard_of(sc, h);
  pthread_mutex_lock(&sh->mu);
  rc = add_locked(ctx, sc, h, name, len, pid, g);
  pthread_mutex_unlock(&sh->mu);
  return rc;
}

int tr_group_join(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len) {
  if (!tr__in_handler(ctx) || !valid_name(name, len))
    return TR_EINVAL;
  tr_actor_ext_t *x = tr__actor_ext(ctx->self);
  if (!x)
    return TR_ENOMEM;
  tr_group_t *g;
  int rc = join_as(ctx, scope, name, len, ctx->self->pid, &g);
  if (rc == 0 && g && mine_add(x, g) != 0) {
    tr__group_drop(ctx, g); /* cannot remember it, so do not stay in it */
    return TR_ENOMEM;
  }
  return rc;
}

/* Take pid out of g (shard lock held); g is retired when pid was its last member. */
static void del_locked(tr_ctx_t *ctx, shard_t *sh, tr_group_t *g, tr_pid_t self) {
  tr_gscope_t *sc = g->scope;
  members_t *old = atomic_load_explicit(&g->members, memory_order_relaxed);
  int i = index_of(old, self);
  if (i < 0)
    return;
  notify(ctx, sc, g->name, g->len, self, false); /* before g may be retired */
  if (old->n == 1) {
    table_remove(sh, g);
    atomic_fetch_sub_explicit(&sc->groups, 1, memory_order_relaxed); /* statistics */
    tr__retire(ctx, &g->r); /* with its last members array */
  } else {
    members_t *m = members_new(old->n - 1, old->remote - tr__pid_remote(self));
    if (!m) {
      /* Staying would keep a member that is gone, or that asked to go: a group must never
       * do that, and without memory for 8 bytes per member there is no sane way on. */
      tr_log(TR_LOG_ERROR, "out of memory leaving a group");
      abort();
    }
    memcpy(m->pid, old->pid, (size_t)i * sizeof old->pid[0]);
    memcpy(m->pid + i, old->pid + i + 1, (old->n - (uint32_t)i - 1) * sizeof old->pid[0]);
    /* release: publishes the new array (see join_locked). */
    atomic_store_explicit(&g->members, m, memory_order_release);
    tr__retire(ctx, &old->r);
  }
}

void tr__group_drop(tr_ctx_t *ctx, tr_group_t *g) {
  shard_t *sh = shard_of(g->scope, g->hash);
  pthread_mutex_lock(&sh->mu);
  del_locked(ctx, sh, g, ctx->self->pid);
  pthread_mutex_unlock(&sh->mu);
}

/* ---- members of other nodes (the cluster's, on the I/O thread) ---- */

static const members_t *members_of(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len);

int tr__group_remote_join(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                          tr_pid_t member) {
  if (!valid_name(name, len) || !tr__pid_remote(member))
    return TR_EINVAL;
  tr_group_t *g;
  return join_as(ctx, scope, name, len, member, &g);
}

void tr__group_remote_leave(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                            tr_pid_t member) {
  tr_gscope_t *sc = scope_find(&ctx->sys->groups, scope);
  if (!sc || !valid_name(name, len))
    return;
  uint64_t h = hash_name(scope, name, len);
  shard_t *sh = shard_of(sc, h);
  pthread_mutex_lock(&sh->mu);
  tr_group_t *g = lookup(sc, h, name, len);
  if (g)
    del_locked(ctx, sh, g, member);
  pthread_mutex_unlock(&sh->mu);
}

/* Call fn for every group of every scope, one shard at a time under its lock. fn may take
 * members out (del_locked writes tombstones in place and never rebuilds the table, so the
 * walk goes on over the same array). */
static void each_group_locked(tr_ctx_t *ctx,
                              void (*fn)(tr_ctx_t *ctx, tr_gscope_t *sc, shard_t *sh, tr_group_t *g,
                                         void *arg),
                              void *arg) {
  tr_groups_t *gs = &ctx->sys->groups;
  uint32_t n = atomic_load_explicit(&gs->nscopes, memory_order_acquire);
  for (uint32_t s = 0; s < n; s++) {
    tr_gscope_t *sc = gs->scopes[s];
    for (uint32_t k = 0; k < GROUP_SHARDS; k++) {
      shard_t *sh = &sc->shards[k];
      pthread_mutex_lock(&sh->mu);
      table_t *t = atomic_load_explicit(&sh->table, memory_order_relaxed);
      for (uint32_t i = 0; t && i < t->cap; i++) {
        tr_group_t *g = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (g && g != TOMB)
          fn(ctx, sc, sh, g, arg);
      }
      pthread_mutex_unlock(&sh->mu);
    }
  }
}

static void drop_node_in(tr_ctx_t *ctx, tr_gscope_t *sc, shard_t *sh, tr_group_t *g, void *arg) {
  (void)sc;
  uint32_t node = *(const uint32_t *)arg;
  const members_t *m = atomic_load_explicit(&g->members, memory_order_relaxed);
  for (uint32_t j = m->remote ? m->n : 0; j-- > 0;) {
    if (tr__pid_node(m->pid[j]) != node)
      continue;
    bool last = m->n == 1;
    del_locked(ctx, sh, g, m->pid[j]);
    if (last)
      break;
    /* The new array keeps pid[0..j) where it was: go on downwards. */
    m = atomic_load_explicit(&g->members, memory_order_relaxed);
  }
}

void tr__groups_drop_node(tr_ctx_t *ctx, uint32_t node) {
  each_group_locked(ctx, drop_node_in, &node);
}

void tr__group_members_local(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                             void (*fn)(void *arg, tr_pid_t member), void *arg) {
  if (!valid_name(name, len))
    return;
  TR_ASSERT(ctx->lockfree); /* the I/O thread: a participant */
  const members_t *m = members_of(ctx, scope, name, len);
  for (uint32_t i = 0; m && i < m->n; i++)
    if (!tr__pid_remote(m->pid[i]))
      fn(arg, m->pid[i]);
}

typedef struct {
  void (*fn)(void *arg, tr_atom_t scope, const void *name, size_t len, const tr_pid_t *members,
             size_t n);
  void *arg;
  tr_pid_t *buf; /* this node's members of a group that has others' too */
  size_t cap;
} snapshot_t;

static void snapshot_of(tr_ctx_t *ctx, tr_gscope_t *sc, shard_t *sh, tr_group_t *g, void *arg) {
  (void)ctx;
  (void)sh;
  snapshot_t *sn = arg;
  const members_t *m = atomic_load_explicit(&g->members, memory_order_relaxed);
  const tr_pid_t *local = m->pid;
  size_t nl = m->n;
  if (m->remote) { /* this node's members only */
    if (m->n > sn->cap) {
      tr_pid_t *b = realloc(sn->buf, m->n * sizeof *b);
      if (!b) {
        tr_log(TR_LOG_ERROR, "out of memory sending groups to a peer");
        abort();
      }
      sn->buf = b;
      sn->cap = m->n;
    }
    nl = 0;
    for (uint32_t j = 0; j < m->n; j++)
      if (!tr__pid_remote(m->pid[j]))
        sn->buf[nl++] = m->pid[j];
    local = sn->buf;
  }
  if (nl)
    sn->fn(sn->arg, sc->atom, g->name, g->len, local, nl);
}

void tr__groups_snapshot(tr_ctx_t *ctx,
                         void (*fn)(void *arg, tr_atom_t scope, const void *name, size_t len,
                                    const tr_pid_t *members, size_t n),
                         void *arg) {
  snapshot_t sn = {fn, arg, NULL, 0};
  each_group_locked(ctx, snapshot_of, &sn);
  free(sn.buf);
}

int tr_group_leave(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len) {
  if (!tr__in_handler(ctx) || !valid_name(name, len))
    return TR_EINVAL;
  tr_actor_ext_t *x = atomic_load_explicit(&ctx->self->ext, memory_order_acquire);
  tr_gscope_t *sc = scope_find(&ctx->sys->groups, scope);
  if (!x || !sc)
    return 0;
  uint64_t h = hash_name(scope, name, len);
  /* Our own groups are ours to look up: nobody else removes a group we are a member of. */
  for (uint32_t k = 0; k < x->ngroups; k++) {
    tr_group_t *g = x->groups[k];
    if (g->scope == sc && g->hash == h && g->len == len && memcmp(g->name, name, len) == 0) {
      mine_del(x, g);
      tr__group_drop(ctx, g);
      return 0;
    }
  }
  return 0;
}

void tr__groups_exit(tr_ctx_t *ctx, tr_actor_t *a) {
  tr_actor_ext_t *x = atomic_load_explicit(&a->ext, memory_order_acquire);
  if (!x)
    return;
  while (x->ngroups)
    tr__group_drop(ctx, x->groups[--x->ngroups]);
  free(x->groups);
  x->groups = NULL;
  x->capgroups = 0;
}

/* ---- reading ---- */

/* Bracket a read: nothing on a participant, the foreign lock elsewhere. */
static void read_begin(tr_ctx_t *ctx) {
  if (!ctx->lockfree)
    tr__qsbr_foreign_enter(&ctx->sys->sched.qsbr);
}
static void read_end(tr_ctx_t *ctx) {
  if (!ctx->lockfree)
    tr__qsbr_foreign_exit(&ctx->sys->sched.qsbr);
}

/* The members of a group, inside read_begin/read_end; NULL when there is no such group. */
static const members_t *members_of(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len) {
  tr_gscope_t *sc = scope_find(&ctx->sys->groups, scope);
  tr_group_t *g = sc ? lookup(sc, hash_name(scope, name, len), name, len) : NULL;
  /* acquire: pairs with the release stores that publish a members array. */
  return g ? atomic_load_explicit(&g->members, memory_order_acquire) : NULL;
}

size_t tr_group_size(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len) {
  if (!ctx || !valid_name(name, len))
    return 0;
  read_begin(ctx);
  const members_t *m = members_of(ctx, scope, name, len);
  size_t n = m ? m->n : 0;
  read_end(ctx);
  return n;
}

int tr_group_members(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len, tr_pid_t *out,
                     size_t cap, size_t *total) {
  if (!ctx || !valid_name(name, len) || !total || (cap && !out))
    return TR_EINVAL;
  read_begin(ctx);
  const members_t *m = members_of(ctx, scope, name, len);
  size_t n = m ? m->n : 0;
  if (n)
    memcpy(out, m->pid, (n < cap ? n : cap) * sizeof *out);
  read_end(ctx);
  *total = n;
  return 0;
}

/* Send to members pids[0..n), of which nremote are actors of other nodes: this node's
 * members one message each, and each other node that has members one message, which it
 * delivers to its own (actors/remote.h). */
/* One message for each other node with members among pids[0..n): that node delivers it to
 * its own members. Returns how many members of other nodes there were. */
static size_t send_nodes(tr_ctx_t *ctx, const tr_remote_ops_t *ops, tr_atom_t scope,
                         const void *name, size_t len, const tr_pid_t *pids, size_t n,
                         tr_atom_t tag, const void *data, size_t dlen) {
  uint32_t nodes[64], nn = 0; /* the other nodes with members, each once */
  size_t counted = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t node = tr__pid_node(pids[i]);
    if (!node)
      continue;
    counted++;
    uint32_t j = 0;
    while (j < nn && nodes[j] != node)
      j++;
    if (j < nn)
      continue;
    if (nn == 64) { /* many nodes: send to those seen, start again */
      for (j = 0; j < nn; j++)
        ops->group_send(ctx, nodes[j], scope, name, len, tag, data, dlen);
      nn = 0;
    }
    nodes[nn++] = node;
  }
  for (uint32_t j = 0; j < nn; j++)
    ops->group_send(ctx, nodes[j], scope, name, len, tag, data, dlen);
  return counted;
}

static int fan_out(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                   const tr_pid_t *pids, size_t n, size_t nremote, tr_pid_t except, tr_atom_t tag,
                   const void *data, size_t dlen, size_t *delivered) {
  int rc = tr__send_many(ctx, pids, n, except, nremote != 0, tag, data, dlen, delivered);
  const tr_remote_ops_t *ops = nremote ? tr__remote(ctx->sys) : NULL;
  if (rc || !ops)
    return rc;
  size_t counted = send_nodes(ctx, ops, scope, name, len, pids, n, tag, data, dlen);
  if (delivered)
    *delivered += counted; /* handed to their nodes' links */
  return 0;
}

static int send_group(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len, tr_pid_t except,
                      tr_atom_t tag, const void *data, size_t dlen, size_t *delivered) {
  if (delivered)
    *delivered = 0;
  if (!ctx || !valid_name(name, len) || (dlen && !data))
    return TR_EINVAL;
  if (!ctx->lockfree) {
    /* Outside the pool, delivering takes the foreign lock that reading holds: copy the
     * members out first. */
    size_t n;
    tr_pid_t few[64], *pids = few;
    int rc = tr_group_members(ctx, scope, name, len, few, 64, &n);
    if (rc == 0 && n > 64 && (pids = malloc(n * sizeof *pids)) != NULL)
      rc = tr_group_members(ctx, scope, name, len, pids, n, &n);
    if (rc == 0 && !pids)
      rc = TR_ENOMEM;
    size_t nremote = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
      nremote += tr__pid_remote(pids[i]);
    if (rc == 0)
      rc = fan_out(ctx, scope, name, len, pids, n, nremote, except, tag, data, dlen, delivered);
    if (pids != few)
      free(pids);
    return rc;
  }
  const members_t *m = members_of(ctx, scope, name, len);
  return m ? fan_out(ctx, scope, name, len, m->pid, m->n, m->remote, except, tag, data, dlen,
                     delivered)
           : 0;
}

int tr_group_send_nodes(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len, tr_atom_t tag,
                        const void *data, size_t dlen, size_t *members) {
  if (members)
    *members = 0;
  if (!ctx || !valid_name(name, len) || (dlen && !data))
    return TR_EINVAL;
  int rc = tag == 0 ? TR_EINVAL : dlen > TR_MSG_MAX ? TR_EMSGSIZE : 0;
  const tr_remote_ops_t *ops = tr__remote(ctx->sys);
  if (rc || !ops)
    return rc;
  size_t n = 0, counted = 0;
  tr_pid_t few[64], *pids = few;
  if (!ctx->lockfree) {
    rc = tr_group_members(ctx, scope, name, len, few, 64, &n);
    if (rc == 0 && n > 64 && (pids = malloc(n * sizeof *pids)) != NULL)
      rc = tr_group_members(ctx, scope, name, len, pids, n, &n);
    if (rc == 0 && !pids)
      rc = TR_ENOMEM;
    if (rc == 0)
      counted = send_nodes(ctx, ops, scope, name, len, pids, n, tag, data, dlen);
    if (pids != few)
      free(pids);
  } else {
    const members_t *m = members_of(ctx, scope, name, len);
    if (m && m->remote)
      counted = send_nodes(ctx, ops, scope, name, len, m->pid, m->n, tag, data, dlen);
  }
  if (members)
    *members = counted;
  return rc;
}

int tr_group_send(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len, tr_atom_t tag,
                  const void *data, size_t dlen, size_t *delivered) {
  return send_group(ctx, scope, name, len, TR_PID_NONE, tag, data, dlen, delivered);
}

int tr_group_send_others(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                         tr_atom_t tag, const void *data, size_t dlen, size_t *delivered) {
  return send_group(ctx, scope, name, len, ctx ? tr_self(ctx) : TR_PID_NONE, tag, data, dlen,
                    delivered);
}

static size_t walk(tr_gscope_t *sc, int (*fn)(const tr_group_info_t *g, void *arg), void *arg) {
  size_t n = 0;
  for (uint32_t k = 0; k < GROUP_SHARDS; k++) {
    table_t *t = atomic_load_explicit(&sc->shards[k].table, memory_order_acquire);
    for (uint32_t i = 0; t && i < t->cap; i++) {
      tr_group_t *g = atomic_load_explicit(&t->slot[i], memory_order_acquire);
      if (!g || g == TOMB)
        continue;
      const members_t *m = atomic_load_explicit(&g->members, memory_order_acquire);
      tr_group_info_t info = {sc->atom, g->name, g->len, m->n};
      n++;
      if (fn && fn(&info, arg) != 0)
        return n;
    }
  }
  return n;
}

size_t tr_group_foreach(tr_ctx_t *ctx, tr_atom_t scope,
                        int (*fn)(const tr_group_info_t *g, void *arg), void *arg) {
  if (!ctx)
    return 0;
  read_begin(ctx);
  tr_gscope_t *sc = scope_find(&ctx->sys->groups, scope);
  size_t n = sc ? walk(sc, fn, arg) : 0;
  read_end(ctx);
  return n;
}

size_t tr_group_count(tr_ctx_t *ctx, tr_atom_t scope) {
  tr_gscope_t *sc = ctx ? scope_find(&ctx->sys->groups, scope) : NULL;
  return sc ? (size_t)atomic_load_explicit(&sc->groups, memory_order_relaxed) : 0;
}

size_t tr_group_scopes(tr_ctx_t *ctx, tr_atom_t *out, size_t cap) {
  if (!ctx)
    return 0;
  tr_groups_t *gs = &ctx->sys->groups;
  uint32_t n = atomic_load_explicit(&gs->nscopes, memory_order_acquire);
  for (uint32_t i = 0; i < n && i < cap; i++)
    out[i] = gs->scopes[i]->atom;
  return n;
}

/* ---- the system's groups ---- */

void tr__groups_init(tr_groups_t *gs) {
  memset(gs, 0, sizeof *gs);
  pthread_mutex_init(&gs->mu, NULL);
}

void tr__groups_destroy(tr_groups_t *gs) {
  /* Every actor has exited (and left): what is left are groups of other nodes' members. */
  uint32_t n = atomic_load_explicit(&gs->nscopes, memory_order_relaxed);
  for (uint32_t i = 0; i < n; i++) {
    tr_gscope_t *sc = gs->scopes[i];
    for (uint32_t k = 0; k < GROUP_SHARDS; k++) {
      table_t *t = atomic_load_explicit(&sc->shards[k].table, memory_order_relaxed);
      for (uint32_t j = 0; t && j < t->cap; j++) {
        tr_group_t *g = atomic_load_explicit(&t->slot[j], memory_order_relaxed);
        if (g && g != TOMB)
          free_group(&g->r);
      }
      free(t);
      pthread_mutex_destroy(&sc->shards[k].mu);
    }
    free(sc);
  }
  pthread_mutex_destroy(&gs->mu);
}
