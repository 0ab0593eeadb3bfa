/* Tests of the atom table (mailbox/atom.h): interning gives one stable value per name, the
 * built-in atoms have their fixed names, lookups never grow the table, bad names are
 * refused, the table keeps working across chunk and index growth, and threads interning
 * and reading names at once agree on every value. The same rules are checked once through
 * the public tr_atom functions of a running system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/atom.h"
#include "troupe/actor.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* Enough atoms to fill several name chunks (TR_ATOM_CHUNK each) and to double the index
 * (which starts at 256 buckets and grows at half full) several times. */
#define MANY_ATOMS (5u * TR_ATOM_CHUNK + 7u)
/* Threads interning at once, each with SHARED names all of them intern (in different
 * orders) and OWN names only it interns. */
#define THREADS 4u
#define SHARED 4000u
#define OWN 3000u
#define NAME_BUF 32

typedef struct atom_fixture atom_fixture_t;

typedef struct {
  atom_fixture_t *f;
  uint32_t id;
  pthread_t thread;
  tr_atom_t shared[SHARED]; /* the atom this thread got for each shared name */
  tr_atom_t own[OWN];
  uint32_t errors; /* names read back wrong, or interning failed */
} interner_t;

struct atom_fixture {
  tr_atoms_t t;
  interner_t threads[THREADS];
  _Atomic uint32_t finished; /* interners done; the reader stops when all are */
  uint32_t reader_errors, reader_seen;
};

static int setup(void **state) {
  atom_fixture_t *f = calloc(1, sizeof *f);
  if (!f)
    return -1;
  if (tr__atoms_init(&f->t) != 0) {
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  atom_fixture_t *f = *state;
  tr__atoms_destroy(&f->t);
  free(f);
  return 0;
}

static tr_atom_t intern(atom_fixture_t *f, const char *name) {
  return tr__atoms_intern(&f->t, name, strlen(name));
}

/* Guards against builtins shifted from their fixed values (every system must agree on
 * them) or missing from the name -> atom index. */
static void builtin_atoms_have_their_fixed_names(void **state) {
  atom_fixture_t *f = *state;
  static const struct {
    tr_atom_t atom;
    const char *name;
  } builtins[] = {{TR_ATOM_INIT, "init"},
                  {TR_ATOM_REPLY, "reply"},
                  {TR_ATOM_EXIT, "EXIT"},
                  {TR_ATOM_DOWN, "DOWN"},
                  {TR_ATOM_TIMEOUT, "timeout"}};
  for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) {
    assert_string_equal(tr__atoms_name(&f->t, builtins[i].atom), builtins[i].name);
    assert_int_equal(intern(f, builtins[i].name), builtins[i].atom);
    assert_int_equal(tr__atoms_find(&f->t, builtins[i].name, strlen(builtins[i].name)),
                     builtins[i].atom);
  }
  /* User atoms start after the reserved range. */
  assert_int_equal(intern(f, "first"), TR_ATOM_FIRST_USER);
}

/* Guards against a second intern of a name allocating a new atom, and against the table
 * keeping the caller's pointer instead of a copy. */
static void the_same_name_gives_the_same_atom_and_a_stable_name(void **state) {
  atom_fixture_t *f = *state;
  char buf[] = "hello";
  tr_atom_t a = tr__atoms_intern(&f->t, buf, 5);
  assert_int_not_equal(a, 0);
  const char *name = tr__atoms_name(&f->t, a);
  assert_string_equal(name, "hello");
  memcpy(buf, "jelly", 5); /* the table must not see the caller's buffer change */
  assert_string_equal(tr__atoms_name(&f->t, a), "hello");
  assert_int_equal(intern(f, "hello"), a);
  assert_ptr_equal(tr__atoms_name(&f->t, a), name); /* the name string never moves */
  /* A length prefix of a longer buffer names the same atom. */
  assert_int_equal(tr__atoms_intern(&f->t, "hello, world", 5), a);
}

/* Guards against prefix matches (strncmp without the terminator check) merging names. */
static void names_that_share_a_prefix_are_different_atoms(void **state) {
  atom_fixture_t *f = *state;
  tr_atom_t ab = intern(f, "ab"), abc = intern(f, "abc"), a = intern(f, "a");
  assert_int_not_equal(ab, 0);
  assert_int_not_equal(abc, 0);
  assert_int_not_equal(a, 0);
  assert_int_not_equal(ab, abc);
  assert_int_not_equal(ab, a);
  assert_int_not_equal(abc, a);
  assert_string_equal(tr__atoms_name(&f->t, ab), "ab");
  assert_string_equal(tr__atoms_name(&f->t, abc), "abc");
  assert_string_equal(tr__atoms_name(&f->t, a), "a");
}

/* Guards against find interning what it looks up: names from the network must never grow
 * the table (atom exhaustion). */
static void find_never_interns(void **state) {
  atom_fixture_t *f = *state;
  uint32_t before = f->t.count;
  char name[NAME_BUF];
  for (uint32_t i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "unknown-%u", (unsigned)i);
    assert_int_equal(tr__atoms_find(&f->t, name, strlen(name)), 0);
  }
  assert_int_equal(f->t.count, before);
  assert_null(tr__atoms_name(&f->t, (tr_atom_t)before)); /* no atom was made */
  tr_atom_t a = intern(f, "unknown-7");
  assert_int_equal(tr__atoms_find(&f->t, "unknown-7", 9), a);
  assert_int_equal(f->t.count, before + 1);
}

/* Guards against accepting names a peer cannot send back (empty, over TR_ATOM_MAX_LEN,
 * with a NUL inside) and against the length check being off by one. */
static void bad_names_are_refused_and_the_longest_is_accepted(void **state) {
  atom_fixture_t *f = *state;
  char longest[TR_ATOM_MAX_LEN + 2];
  memset(longest, 'x', sizeof longest);
  uint32_t before = f->t.count;
  assert_int_equal(tr__atoms_intern(&f->t, "", 0), 0);
  assert_int_equal(tr__atoms_intern(&f->t, NULL, 3), 0);
  assert_int_equal(tr__atoms_intern(&f->t, longest, TR_ATOM_MAX_LEN + 1), 0);
  assert_int_equal(tr__atoms_intern(&f->t, "a\0b", 3), 0);
  assert_int_equal(tr__atoms_find(&f->t, "", 0), 0);
  assert_int_equal(tr__atoms_find(&f->t, longest, TR_ATOM_MAX_LEN + 1), 0);
  assert_int_equal(tr__atoms_find(&f->t, "a\0b", 3), 0);
  assert_int_equal(f->t.count, before);
  tr_atom_t a = tr__atoms_intern(&f->t, longest, TR_ATOM_MAX_LEN);
  assert_int_not_equal(a, 0);
  assert_int_equal(strlen(tr__atoms_name(&f->t, a)), TR_ATOM_MAX_LEN);
  assert_int_equal(tr__atoms_find(&f->t, longest, TR_ATOM_MAX_LEN), a);
}

/* Guards against name lookups reading outside the table for values never handed out. */
static void unknown_atoms_have_no_name(void **state) {
  atom_fixture_t *f = *state;
  assert_null(tr__atoms_name(&f->t, 0));
  assert_null(tr__atoms_name(&f->t, f->t.count));
  assert_null(tr__atoms_name(&f->t, TR_ATOM_CHUNK * 3u));
  assert_null(tr__atoms_name(&f->t, TR_ATOMS_MAX));
  assert_null(tr__atoms_name(&f->t, UINT32_MAX));
}

/* Guards against index growth losing or misplacing entries, and against a new name chunk
 * hiding the names of earlier ones. */
static void thousands_of_atoms_survive_chunk_and_index_growth(void **state) {
  atom_fixture_t *f = *state;
  tr_atom_t *atoms = calloc(MANY_ATOMS, sizeof *atoms);
  assert_non_null(atoms);
  char name[NAME_BUF];
  for (uint32_t i = 0; i < MANY_ATOMS; i++) {
    snprintf(name, sizeof name, "atom-%u", (unsigned)i);
    atoms[i] = intern(f, name);
    assert_int_not_equal(atoms[i], 0);
    if (i > 0) /* values are handed out in order, so all of them differ */
      assert_true(atoms[i] > atoms[i - 1]);
  }
  assert_true(atoms[MANY_ATOMS - 1] >= 5u * TR_ATOM_CHUNK);
  for (uint32_t i = 0; i < MANY_ATOMS; i++) {
    snprintf(name, sizeof name, "atom-%u", (unsigned)i);
    assert_string_equal(tr__atoms_name(&f->t, atoms[i]), name);
    assert_int_equal(tr__atoms_find(&f->t, name, strlen(name)), atoms[i]);
    assert_int_equal(intern(f, name), atoms[i]);
  }
  free(atoms);
}

/* ---- threads ---- */

static void shared_name(char *buf, uint32_t i) {
  snprintf(buf, NAME_BUF, "shared-%u", (unsigned)i);
}

static void own_name(char *buf, uint32_t thread, uint32_t i) {
  snprintf(buf, NAME_BUF, "own-%u-%u", (unsigned)thread, (unsigned)i);
}

static void *intern_many(void *arg) {
  interner_t *me = arg;
  tr_atoms_t *t = &me->f->t;
  char name[NAME_BUF];
  for (uint32_t k = 0; k < SHARED || k < OWN; k++) {
    if (k < OWN) {
      own_name(name, me->id, k);
      me->own[k] = tr__atoms_intern(t, name, strlen(name));
      const char *n = tr__atoms_name(t, me->own[k]);
      if (!me->own[k] || !n || strcmp(n, name) != 0)
        me->errors++;
    }
    if (k < SHARED) {
      /* Odd threads walk the shared names backwards, so they meet the others mid-way. */
      uint32_t i = me->id % 2 ? SHARED - 1 - k : k;
      shared_name(name, i);
      me->shared[i] = tr__atoms_intern(t, name, strlen(name));
      const char *n = tr__atoms_name(t, me->shared[i]);
      if (!me->shared[i] || !n || strcmp(n, name) != 0)
        me->errors++;
    }
  }
  /* release: nothing to publish; the reader only needs to know when to stop. */
  atomic_fetch_add_explicit(&me->f->finished, 1, memory_order_release);
  return NULL;
}

/* Reads names without the lock while the interners add them: any name it finds must be
 * complete (one of the two patterns). */
static void *read_names(void *arg) {
  atom_fixture_t *f = arg;
  for (;;) {
    bool last = atomic_load_explicit(&f->finished, memory_order_acquire) == THREADS;
    for (tr_atom_t a = TR_ATOM_FIRST_USER; a < TR_ATOM_FIRST_USER + THREADS * OWN + SHARED; a++) {
      const char *n = tr__atoms_name(&f->t, a);
      if (!n)
        continue;
      f->reader_seen++;
      unsigned x, y;
      char tail;
      if (sscanf(n, "shared-%u%c", &x, &tail) != 1 && sscanf(n, "own-%u-%u%c", &x, &y, &tail) != 2)
        f->reader_errors++;
    }
    if (last)
      return NULL;
  }
}

/* Guards against two threads interning the same name getting different atoms, against a
 * lock-free name read seeing a half-written chunk or string, and against growth under
 * concurrency losing a name. */
static void threads_interning_at_once_agree_on_every_atom(void **state) {
  atom_fixture_t *f = *state;
  pthread_t reader;
  assert_int_equal(pthread_create(&reader, NULL, read_names, f), 0);
  for (uint32_t k = 0; k < THREADS; k++) {
    f->threads[k].f = f;
    f->threads[k].id = k;
    assert_int_equal(pthread_create(&f->threads[k].thread, NULL, intern_many, &f->threads[k]), 0);
  }
  for (uint32_t k = 0; k < THREADS; k++)
    assert_int_equal(pthread_join(f->threads[k].thread, NULL), 0);
  assert_int_equal(pthread_join(reader, NULL), 0);

  print_message("the reader saw %u names while the table grew\n", (unsigned)f->reader_seen);
  assert_int_equal(f->reader_errors, 0);
  assert_true(f->reader_seen > 0);
  for (uint32_t k = 0; k < THREADS; k++)
    assert_int_equal(f->threads[k].errors, 0);
  for (uint32_t i = 0; i < SHARED; i++)
    for (uint32_t k = 1; k < THREADS; k++)
      assert_int_equal(f->threads[k].shared[i], f->threads[0].shared[i]);
  /* Every name got its own atom: the table holds exactly the builtins plus these. */
  assert_int_equal(f->t.count, TR_ATOM_FIRST_USER + SHARED + THREADS * OWN);
  char name[NAME_BUF];
  for (uint32_t k = 0; k < THREADS; k++) {
    for (uint32_t i = 0; i < OWN; i++) {
      own_name(name, k, i);
      assert_int_equal(tr__atoms_find(&f->t, name, strlen(name)), f->threads[k].own[i]);
    }
  }
}

/* ---- through the public API ---- */

/* Guards against the public wrappers bypassing validation (a NULL or empty name) or
 * tr_atom_find interning, on a running system's own table. */
static void public_atom_functions_follow_the_same_rules(void **state) {
  (void)state;
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 1;
  tr_system_t *sys;
  assert_int_equal(tr_system_new(&cfg, &sys), 0);
  assert_int_equal(tr_atom(sys, NULL), 0);
  assert_int_equal(tr_atom(sys, ""), 0);
  char longest[TR_ATOM_MAX_LEN + 2];
  memset(longest, 'y', sizeof longest - 1);
  longest[sizeof longest - 1] = '\0';
  assert_int_equal(tr_atom(sys, longest), 0); /* TR_ATOM_MAX_LEN + 1 bytes */
  assert_int_equal(tr_atom_find(sys, "ping", 4), 0);
  assert_int_equal(tr_atom_find(sys, "ping", 4), 0); /* the first find did not intern it */
  tr_atom_t ping = tr_atom(sys, "ping");
  assert_true(ping >= TR_ATOM_FIRST_USER);
  assert_int_equal(tr_atom(sys, "ping"), ping);
  assert_int_equal(tr_atom_find(sys, "ping", 4), ping);
  assert_string_equal(tr_atom_name(sys, ping), "ping");
  assert_string_equal(tr_atom_name(sys, TR_ATOM_REPLY), "reply");
  assert_null(tr_atom_name(sys, 0));
  tr_system_free(sys);
}

/* Guards against tr_atoms storing atoms in the wrong entries, or accepting a table with a
 * hole in it (a NULL name or destination) as if it were whole. */
static void a_table_of_atoms_is_interned_in_one_call(void **state) {
  (void)state;
  tr_config_t cfg;
  tr_config_init(&cfg);
  cfg.workers = 1;
  tr_system_t *sys;
  assert_int_equal(tr_system_new(&cfg, &sys), 0);
  tr_atom_t ping = 0, pong = 0, again = 0;
  const tr_atom_def_t tags[] = {{"ping", &ping}, {"pong", &pong}, {"ping", &again}};
  assert_int_equal(tr_atoms(sys, tags, 3), 0);
  assert_true(ping >= TR_ATOM_FIRST_USER && pong >= TR_ATOM_FIRST_USER && ping != pong);
  assert_int_equal(again, ping);
  assert_string_equal(tr_atom_name(sys, pong), "pong");
  tr_atom_t x = 0;
  const tr_atom_def_t holes[][2] = {
      {{"x", &x}, {NULL, &x}}, {{"x", &x}, {"y", NULL}}, {{"x", &x}, {"", &x}}};
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(tr_atoms(sys, holes[i], 2), TR_EINVAL);
  assert_int_equal(tr_atoms(sys, NULL, 1), TR_EINVAL);
  assert_int_equal(tr_atoms(sys, NULL, 0), 0);
  tr_system_free(sys);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(builtin_atoms_have_their_fixed_names, setup, teardown),
      cmocka_unit_test_setup_teardown(the_same_name_gives_the_same_atom_and_a_stable_name, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(names_that_share_a_prefix_are_different_atoms, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(find_never_interns, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_names_are_refused_and_the_longest_is_accepted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(unknown_atoms_have_no_name, setup, teardown),
      cmocka_unit_test_setup_teardown(thousands_of_atoms_survive_chunk_and_index_growth, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(threads_interning_at_once_agree_on_every_atom, setup,
                                      teardown),
      cmocka_unit_test(public_atom_functions_follow_the_same_rules),
      cmocka_unit_test(a_table_of_atoms_is_interned_in_one_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
