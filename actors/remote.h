/* Private: the actor layer's door to other nodes. The cluster (cluster/), which sits above
 * this layer, installs a table of these operations when a system becomes a node; the send,
 * signal, overload and group paths call them for a pid whose node field is not 0 (this
 * node's own actors have node 0; another node's are indices into the cluster's node table).
 * Until a table is installed no such pid exists, and nothing here runs.
 *
 * Every operation may be called from any context that may send: a worker in a handler, the
 * I/O thread, an outside thread (those hold no lock of this layer when they call, except
 * group_delta, which runs under the group's shard lock). */
#ifndef TR_ACTORS_REMOTE_H
#define TR_ACTORS_REMOTE_H

#include "actors/actor.h"

typedef struct tr_remote_ops {
  /* An envelope (a user message, a reply, or one of the runtime's: a DOWN, a timer's) to a
   * pid of another node. Returns 0 having taken m: *delivered says whether it was queued on
   * a live link (otherwise it was counted as a dead letter). Returns TR_EBUSY, m still the
   * caller's, when the link refuses it (over its hard limit; an outside sender's wait for a
   * busy link ran out). May set ctx->mute_on (a busy link: see park). */
  int (*send)(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered);
  /* A signal (TR_SIG_EXIT, LINK, UNLINK, MONITOR, DEMONITOR) to a pid of another node that
   * appears to come from `from`. False when that node is not connected: nothing was sent. */
  bool (*signal)(tr_ctx_t *ctx, tr_pid_t to, tr_pid_t from, uint16_t sig, uint32_t aux,
                 uint64_t ref, const tr_reason_t *reason);
  /* A handler has returned: write out what its sends queued (ctx->rdirty). */
  void (*flush)(tr_ctx_t *ctx);
  /* Overload. `on` is a pid of the node whose link was busy when the running actor sent to
   * it (ctx->mute_on). busy: is that link still over its busy mark (else the actor need not
   * park)? park: the actor `self` has set its MUTED flag (so another worker may be running
   * it already: only its pid is passed); record it so that the link's drain releases it;
   * false when the link drained meanwhile (the caller releases it). */
  bool (*busy)(tr_system_t *sys, tr_pid_t on);
  bool (*park)(tr_ctx_t *ctx, tr_pid_t self, tr_pid_t on);
  /* A muter that is not a local actor (the reading of a link, paused by a full mailbox)
   * is released by the mailbox it waited on. */
  void (*release)(tr_ctx_t *ctx, tr_pid_t muter);
  /* A local actor joined (join true) or left a group: tell the other nodes. Under the
   * group's shard lock, so the deltas of one group go out in the order they happened. */
  void (*group_delta)(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len, tr_pid_t member,
                      bool join);
  /* Send one message for the members of a group on node `node` (an index of the node
   * table), which that node delivers to its own members. */
  void (*group_send)(tr_ctx_t *ctx, uint32_t node, tr_atom_t scope, const void *name, size_t len,
                     tr_atom_t tag, const void *data, size_t dlen);
} tr_remote_ops_t;

/* The installed table, or NULL. acquire: pairs with the release of tr__remote_install, so
 * the table and what it points at are seen whole. */
static inline const tr_remote_ops_t *tr__remote(const tr_system_t *sys) {
  return atomic_load_explicit(&sys->remote, memory_order_acquire);
}

/* Install the table (once, before any remote pid exists). */
void tr__remote_install(tr_system_t *sys, const tr_remote_ops_t *ops, void *arg);

/* Run fn(sys) once the system is a node: now (on the calling thread) when it is one
 * already, else on the thread that makes it one, when tr__node_started says so. A part
 * above the cluster uses it to start what only a node needs (the console's agent), in
 * whatever order the program started the two. Any thread but a worker inside a handler.
 * Returns TR_ENOMEM when TR_NODE_HOOKS_MAX hooks wait already. */
int tr__on_node(tr_system_t *sys, void (*fn)(tr_system_t *sys));
/* The cluster's: the system is a node now; run the hooks that waited for it. */
void tr__node_started(tr_system_t *sys);
/* The send path for a pid of another node (send.c): flushes the outbox first, so that a
 * handler's sends keep their order; then as tr_remote_ops_t.send, or a dead letter when no
 * table is installed. */
int tr__remote_send(tr_ctx_t *ctx, tr_pid_t to, tr_msg_t *m, bool *delivered);

/* Is pid an actor of another node? */
static inline bool tr__pid_remote(tr_pid_t pid) { return tr__pid_node(pid) != 0; }

/* Is m a request from an actor or client of this node (tr_request, tr_client_request), one
 * that tr__request_fail can answer when no reply can come? */
static inline bool tr__local_request(const tr_msg_t *m) {
  return m->kind == TR_KIND_USER && m->ref && !tr_pid_is_none(m->from) && !tr__pid_remote(m->from);
}

/* ---- what the actor layer offers the cluster ---- */

/* Push a signal from `from` (any pid, a remote one included) to a local actor; false when
 * it is gone. As the local signal paths: a muted target is released. */
bool tr__signal_push_from(tr_ctx_t *ctx, tr_pid_t to, tr_pid_t from, uint16_t sig, uint32_t aux,
                          uint64_t ref, const tr_reason_t *reason);
/* Deliver a DOWN message (monitor `ref` of `who` ended with r) to a local watcher. */
void tr__down_deliver(tr_ctx_t *ctx, tr_pid_t watcher, uint64_t ref, tr_pid_t who,
                      const tr_reason_t *r);
/* Release a local actor muted on something that is not an actor (a busy link). */
void tr__unmute_pid(tr_ctx_t *ctx, tr_pid_t pid);
/* May the running actor of ctx be muted by a send now (an actor in a handler, not
 * unmutable, not over its own high-water mark)? */
bool tr__may_mute(tr_ctx_t *ctx);
/* Groups, for the members of other nodes (the I/O thread's context): join or leave on a
 * remote pid's behalf; drop every member of node `node` (it went down); call fn for each of
 * this node's members of a group (a group send from another node, delivered here). */
int tr__group_remote_join(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                          tr_pid_t member);
void tr__group_remote_leave(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                            tr_pid_t member);
void tr__groups_drop_node(tr_ctx_t *ctx, uint32_t node);
void tr__group_members_local(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                             void (*fn)(void *arg, tr_pid_t member), void *arg);
/* Call fn for every local member of every group of every scope (a node's snapshot for a
 * peer that just came up), one shard at a time under its lock, so that no join or leave of
 * that shard falls between the snapshot and the deltas that follow it. */
void tr__groups_snapshot(tr_ctx_t *ctx,
                         void (*fn)(void *arg, tr_atom_t scope, const void *name, size_t len,
                                    const tr_pid_t *members, size_t n),
                         void *arg);

#endif
