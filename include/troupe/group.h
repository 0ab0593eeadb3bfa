/* Process groups: named sets of actors that a message can be sent to at once, as Erlang's pg.
 * They are what chat rooms and pub/sub channels are made of.
 *
 * A group lives in a scope, an atom that names a namespace of groups (0: the default scope),
 * and has a name of 1..TR_GROUP_NAME_MAX arbitrary bytes. It exists while it has members:
 * the first join creates it, the last leave (or the last member's exit) removes it. An actor
 * joins and leaves only itself; when it exits it leaves every group it is in.
 *
 * Sending. tr_group_send delivers from the caller itself, to every member it sees when it
 * looks, one message each, so each member gets the sender's messages in the order sent, as
 * with tr_send; a payload larger than an envelope's inline room is copied once and shared
 * by all the messages. Joins and leaves are seen by every send that starts after they
 * return; a send that is under way when an actor joins may or may not reach it.
 *
 * Reads (send, size, members, foreach) take no lock from a handler: they read a snapshot of
 * the members that joins and leaves replace, and old snapshots are freed only once no
 * worker can hold them (the scheduler's reclamation). From outside threads they take the
 * system's foreign lock briefly. Joins and leaves take one lock per shard of the scope. */
#ifndef TROUPE_GROUP_H
#define TROUPE_GROUP_H

#include "actor.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest group name, in bytes. */
#define TR_GROUP_NAME_MAX 65535u
/* Scopes one system can hold. */
#define TR_GROUP_SCOPES_MAX 64u

/* The calling actor joins the group (joining twice is the same as once). From a handler.
 * Errors: TR_EINVAL (not from a handler, name empty or too long, scope not an atom),
 * TR_ENOMEM, TR_ELIMIT (too many scopes). */
TR_API int tr_group_join(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len);
/* The calling actor leaves the group (no effect when it is not a member). From a handler.
 * Errors: TR_EINVAL. */
TR_API int tr_group_leave(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len);

/* Send (tag, data) to every member of the group, the caller too if it is one. Stores in
 * *delivered (may be NULL) how many members the message was delivered to: members that
 * exited before it reached them are not counted. A group with no members is not an error
 * (0 delivered). Any context. Errors: those of tr_send. */
TR_API int tr_group_send(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                         tr_atom_t tag, const void *data, size_t dlen, size_t *delivered);

/* As tr_group_send, to every member but the caller (a chat line to the other members of a
 * room, a publish whose sender handles its own copy itself). */
TR_API int tr_group_send_others(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                                tr_atom_t tag, const void *data, size_t dlen, size_t *delivered);

/* The other nodes' part of tr_group_send: one message to each other node (of a cluster,
 * cluster.h) with members of the group, which delivers it to its own members; local members
 * get nothing. For a sender that reaches the local members its own way (batched, in its
 * reply order) and must still cross each link once. *members (may be NULL): how many
 * members of other nodes there were. 0 when the system is not a node. Any context. */
TR_API int tr_group_send_nodes(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                               tr_atom_t tag, const void *data, size_t dlen, size_t *members);

/* Members of the group now (0 for a group that does not exist). Any context. */
TR_API size_t tr_group_size(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len);
/* The first min(total, cap) members into out[] and their number into *total. Any context.
 * Errors: TR_EINVAL, TR_ENOMEM (from an outside thread). */
TR_API int tr_group_members(tr_ctx_t *ctx, tr_atom_t scope, const void *name, size_t len,
                            tr_pid_t *out, size_t cap, size_t *total);

/* One group, as tr_group_foreach reports it. */
typedef struct {
  tr_atom_t scope;  /* its scope */
  const void *name; /* valid during the callback only */
  size_t len;       /* bytes of name */
  size_t members;   /* its members when the walk reached it, of every node */
} tr_group_info_t;

/* Call fn for every group of the scope (a snapshot taken shard by shard: groups may come and
 * go meanwhile); returning non-zero stops the walk. Returns the number of groups visited.
 * From a handler fn may do anything a handler may; from an outside thread fn runs under the
 * foreign lock and must not call into the system. */
TR_API size_t tr_group_foreach(tr_ctx_t *ctx, tr_atom_t scope,
                               int (*fn)(const tr_group_info_t *g, void *arg), void *arg);
/* Groups in the scope now. Any context. */
TR_API size_t tr_group_count(tr_ctx_t *ctx, tr_atom_t scope);
/* Every scope that has ever had a group, into out[0..cap); returns how many there are. */
TR_API size_t tr_group_scopes(tr_ctx_t *ctx, tr_atom_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
