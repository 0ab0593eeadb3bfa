/* The rooms manager: the one actor that creates rooms, so that two clients joining a new
 * channel at the same moment end up in the same room. Every JOIN passes through it: it finds
 * the room by its lower-cased name (spawning it, linked and registered, on first use) and
 * forwards the join there, counting what it forwarded.
 *
 * It also retires empty rooms (see room.c: a room that is empty reports the joins it has
 * seen; when that matches the count forwarded no join is on its way, so the manager drops
 * the name and closes the room), and answers LIST from the sizes and topics rooms report.
 *
 * It traps exits: a room that crashes is forgotten (its members' sessions monitor it), while
 * an exit signal from anyone else, such as its supervisor stopping it, is obeyed.
 *
 * In a cluster, each channel's room lives on one node. A JOIN from a session of this node
 * for a channel that has no room here goes to the manager of the node whose room it is (a
 * member of the room's cluster-wide group), or, when the channel has no room anywhere yet,
 * to the manager of the node its name hashes to among the managers (rendezvous hashing, so
 * every node picks the same one); that manager creates and counts it as for its own
 * sessions. A JOIN that came from another node's session is never passed on again, so a
 * join cannot go round in circles while the groups catch up.
 *
 * Nicks. Two nodes that were apart may each have given a nick away. A second after a node
 * comes up (its groups have arrived by then), the manager looks for nicks held on this node
 * and another: the user on the node with the greater name keeps it, the other is renamed
 * (its session is told, and changes nick as if its client had sent NICK). Both nodes apply
 * the same rule to the same pair, so exactly one side renames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "irc.h"

typedef struct entry {
  struct entry *next;
  tr_pid_t pid;
  uint64_t forwarded; /* joins sent to this room */
  uint64_t members;   /* as last reported */
  char key[IRC_CHAN_MAX + 1];
  char name[IRC_CHAN_MAX + 1];
  char topic[IRC_TOPIC_MAX + 1];
} entry_t;

typedef struct {
  entry_t **buckets; /* chained hash table by key */
  size_t nbuckets;   /* a power of two */
  size_t count;
} rooms_t;

static size_t bucket(const rooms_t *t, const char *key) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (const char *p = key; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211u;
  return (size_t)(h & (t->nbuckets - 1));
}

static entry_t **find(rooms_t *t, const char *key) {
  entry_t **pp = &t->buckets[bucket(t, key)];
  while (*pp && strcmp((*pp)->key, key) != 0)
    pp = &(*pp)->next;
  return pp;
}

/* Double the table once the chains average two entries; on no memory keep longer chains. */
static void grow(rooms_t *t) {
  size_t n = t->nbuckets * 2;
  entry_t **b = calloc(n, sizeof *b);
  if (!b)
    return;
  entry_t **old = t->buckets;
  size_t oldn = t->nbuckets;
  t->buckets = b;
  t->nbuckets = n;
  for (size_t i = 0; i < oldn; i++) {
    for (entry_t *e = old[i], *next; e; e = next) {
      next = e->next;
      entry_t **pp = &b[bucket(t, e->key)];
      e->next = *pp;
      *pp = e;
    }
  }
  free(old);
}

/* Spawn the room for key, linked to the manager and registered under its room name. */
static entry_t *open_room(tr_ctx_t *ctx, rooms_t *t, entry_t **slot, const char *name,
                          const char *key, int *err) {
  char reg[TR_NAME_MAX + 1], init[2 * IRC_CHAN_MAX + 16];
  size_t len;
  entry_t *e = calloc(1, sizeof *e);
  if (!e) {
    *err = TR_ENOMEM;
    return NULL;
  }
  chat_room_name(reg, key);
  tr_spawn_opts_t opts = {.link = true, .name = reg};
  *err = tr_pack_into(init, sizeof init, &len, "[ss]", name, key);
  if (*err == 0)
    *err = tr_spawn_opts(ctx, &chat_room_behaviour, init, len, &opts, &e->pid);
  if (*err != 0) {
    free(e);
    return NULL;
  }
  snprintf(e->key, sizeof e->key, "%s", key);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->next = *slot;
  *slot = e;
  if (++t->count > 2 * t->nbuckets)
    grow(t);
  return e;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

/* The score of node for key: the highest wins (rendezvous hashing). The two hashes are
 * mixed by splitmix64's finaliser, so no node wins most keys. */
static uint64_t rendezvous(const char *node, const char *key) {
  uint64_t h = fnv1a(node) ^ (fnv1a(key) * 0x9E3779B97F4A7C15u);
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9u;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBu;
  return h ^ (h >> 31);
}

/* The manager that should see a JOIN for key that has no room here: another node's, or
 * none (this one creates the room). */
static tr_pid_t elsewhere(tr_ctx_t *ctx, const char *key) {
  tr_system_t *sys = tr_ctx_system(ctx);
  char node[TR_NODE_NAME_MAX + 1];
  tr_pid_t managers[64];
  size_t n = 0;
  if (!tr_node_name(sys) || tr_group_members(ctx, chat_atoms.scope_mgr, CHAT_MGR_GROUP,
                                             strlen(CHAT_MGR_GROUP), managers, 64, &n) != 0)
    return TR_PID_NONE;
  if (n > 64)
    n = 64;
  /* A room exists on another node: its manager counts the joins it forwards. */
  tr_pid_t room = chat_find_room(ctx, key);
  if (tr_pid_is_remote(room)) {
    char want[TR_NODE_NAME_MAX + 1];
    tr_pid_node_name(sys, room, want);
    for (size_t i = 0; i < n; i++)
      if (strcmp(tr_pid_node_name(sys, managers[i], node), want) == 0)
        return managers[i];
    return TR_PID_NONE;
  }
  tr_pid_t best = tr_self(ctx);
  uint64_t top = rendezvous(tr_node_name(sys), key);
  for (size_t i = 0; i < n; i++) {
    uint64_t h = rendezvous(tr_pid_node_name(sys, managers[i], node), key);
    if (h > top) {
      top = h;
      best = managers[i];
    }
  }
  return tr_pid_is_remote(best) ? best : TR_PID_NONE;
}

/* A session's JOIN request: [nick, user, host, real, #chan]. Forwarded, so the room answers
 * the session itself (tr_forward keeps the sender and the request's reference). */
static void on_join(tr_ctx_t *ctx, rooms_t *t, const tr_msg_t *m) {
  const char *s[5];
  size_t n[5];
  if (tr_msg_unpack(m, "[sssss]", &s[0], &n[0], &s[1], &n[1], &s[2], &n[2], &s[3], &n[3], &s[4],
                    &n[4]) != 0)
    return;
  char name[IRC_CHAN_MAX + 1], key[IRC_CHAN_MAX + 1];
  chat_copy(name, sizeof name, s[4], n[4]);
  irc_lower(key, name, sizeof key);
  int err = TR_EINVAL;
  entry_t **slot = find(t, key), *e = *slot;
  if (!e && irc_chan_valid(name) && !tr_pid_is_remote(tr_msg_from(m))) {
    tr_pid_t there = elsewhere(ctx, key);
    if (!tr_pid_is_none(there) && tr_forward(ctx, there, m) == 0)
      return;
  }
  if (!e && irc_chan_valid(name))
    e = open_room(ctx, t, slot, name, key, &err);
  if (e && (err = tr_forward(ctx, e->pid, m)) == 0)
    e->forwarded++;
  else
    tr_replyf(ctx, m, chat_atoms.joinfail, "[si]", name, (int64_t)err);
}

static void forget(rooms_t *t, entry_t **slot) {
  entry_t *e = *slot;
  *slot = e->next;
  free(e);
  t->count--;
}

/* An empty room's [key, joins seen]: close it when no join is on its way to it. */
static void on_idle(tr_ctx_t *ctx, rooms_t *t, const tr_msg_t *m) {
  const char *k;
  size_t kl;
  uint64_t seen;
  char key[IRC_CHAN_MAX + 1];
  if (tr_msg_unpack(m, "[su]", &k, &kl, &seen) != 0)
    return;
  chat_copy(key, sizeof key, k, kl);
  entry_t **slot = find(t, key);
  if (!*slot || !tr_pid_eq((*slot)->pid, tr_msg_from(m)) || (*slot)->forwarded != seen)
    return;
  tr_pid_t pid = (*slot)->pid;
  /* Its name went when it emptied (room.c): the next JOIN makes a new room under it. */
  forget(t, slot);
  tr_send(ctx, pid, chat_atoms.close, NULL, 0);
}

/* A room's [key, members, topic], kept for LIST. */
static void on_status(rooms_t *t, const tr_msg_t *m) {
  const char *k, *topic;
  size_t kl, tl;
  uint64_t members;
  char key[IRC_CHAN_MAX + 1];
  if (tr_msg_unpack(m, "[sus]", &k, &kl, &members, &topic, &tl) != 0)
    return;
  chat_copy(key, sizeof key, k, kl);
  entry_t *e = *find(t, key);
  if (e && tr_pid_eq(e->pid, tr_msg_from(m))) {
    e->members = members;
    chat_copy(e->topic, sizeof e->topic, topic, tl);
  }
}

/* LIST: [[#chan, members, topic]...], the answer to the asker's request. */
static void on_list(tr_ctx_t *ctx, rooms_t *t, const tr_msg_t *m) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int rc = msgpack_pack_array(&pk, t->count);
  for (size_t i = 0; i < t->nbuckets; i++)
    for (entry_t *e = t->buckets[i]; e; e = e->next)
      rc |= msgpack_pack_array(&pk, 3) | chat_pack_str(&pk, e->name) |
            msgpack_pack_uint64(&pk, e->members) | chat_pack_str(&pk, e->topic);
  if (rc == 0)
    tr_reply(ctx, m, chat_atoms.listing, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

typedef struct {
  tr_ctx_t *ctx;
  const char *self; /* this node's name */
} clash_t;

static int check_clash(const tr_group_info_t *g, void *arg) {
  clash_t *c = arg;
  if (g->members < 2)
    return 0;
  tr_system_t *sys = tr_ctx_system(c->ctx);
  char low[IRC_NICK_MAX + 1], node[TR_NODE_NAME_MAX + 1];
  chat_copy(low, sizeof low, g->name, g->len);
  tr_pid_t members[8], local = TR_PID_NONE;
  size_t n = 0;
  if (tr_group_members(c->ctx, chat_atoms.scope_nick, g->name, g->len, members, 8, &n) != 0)
    return 0;
  bool loses = false;
  for (size_t i = 0; i < n && i < 8; i++) {
    if (!tr_pid_is_remote(members[i]))
      local = members[i];
    else if (strcmp(tr_pid_node_name(sys, members[i], node), c->self) > 0)
      loses = true; /* held on a node whose name is greater */
  }
  if (loses && !tr_pid_is_none(local))
    tr_send(c->ctx, local, chat_atoms.nickclash, NULL, 0);
  return 0;
}

static void on_exit_signal(tr_ctx_t *ctx, rooms_t *t, const tr_msg_t *m) {
  tr_pid_t from;
  tr_reason_t reason;
  if (tr_msg_exit(m, &from, &reason) != 0)
    return;
  for (size_t i = 0; i < t->nbuckets; i++) {
    for (entry_t **pp = &t->buckets[i]; *pp; pp = &(*pp)->next) {
      if (tr_pid_eq((*pp)->pid, from)) {
        if (reason.kind != TR_REASON_NORMAL && reason.kind != TR_REASON_SHUTDOWN)
          tr_log(TR_LOG_WARN, "chat: room %s exited: %s %s", (*pp)->name,
                 tr_reason_kind_name(reason.kind), reason.text);
        forget(t, pp);
        return;
      }
    }
  }
  if (reason.kind != TR_REASON_NORMAL)
    tr_stop_reason(ctx, &reason);
}

static int rooms_init(tr_ctx_t *ctx, void *state, const tr_msg_t *init) {
  (void)init;
  rooms_t *t = state;
  t->nbuckets = 64;
  t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
  if (!t->buckets)
    return TR_ENOMEM;
  if (tr_node_name(tr_ctx_system(ctx))) { /* the other nodes' managers find it */
    tr_group_join(ctx, chat_atoms.scope_mgr, CHAT_MGR_GROUP, strlen(CHAT_MGR_GROUP));
    tr_node_monitor(ctx, true);
  }
  return tr_trap_exit(ctx, true);
}

static int rooms_receive(tr_ctx_t *ctx, void *state, const tr_msg_t *m) {
  rooms_t *t = state;
  tr_atom_t tag = tr_msg_tag(m);
  if (tag == chat_atoms.join)
    on_join(ctx, t, m);
  else if (tag == chat_atoms.status)
    on_status(t, m);
  else if (tag == chat_atoms.idle)
    on_idle(ctx, t, m);
  else if (tag == chat_atoms.list)
    on_list(ctx, t, m);
  else if (tag == TR_ATOM_EXIT)
    on_exit_signal(ctx, t, m);
  else if (tag == TR_ATOM_NODEUP) /* its groups arrive right after it: look in a second */
    tr_send_after(ctx, 1000, tr_self(ctx), chat_atoms.clash, NULL, 0, NULL);
  else if (tag == chat_atoms.clash) {
    clash_t c = {ctx, tr_node_name(tr_ctx_system(ctx))};
    if (c.self)
      tr_group_foreach(ctx, chat_atoms.scope_nick, check_clash, &c);
  }
  return 0;
}

static void rooms_terminate(tr_ctx_t *ctx, void *state, const tr_reason_t *reason) {
  (void)ctx;
  (void)reason;
  rooms_t *t = state;
  for (size_t i = 0; t->buckets && i < t->nbuckets; i++)
    while (t->buckets[i])
      forget(t, &t->buckets[i]);
  free(t->buckets);
  t->buckets = NULL;
}

/* {rooms: count} for the console. */
static int rooms_inspect(const void *state, msgpack_packer *pk) {
  const rooms_t *t = state;
  int rc = msgpack_pack_map(pk, 1) | chat_pack_str(pk, "rooms");
  rc |= msgpack_pack_uint64(pk, t->count);
  return rc ? TR_ENOMEM : 0;
}

const tr_behaviour_t chat_rooms_behaviour = {
    .name = "chat.rooms",
    .state_size = sizeof(rooms_t),
    .init = rooms_init,
    .receive = rooms_receive,
    .terminate = rooms_terminate,
    .inspect = rooms_inspect,
};
