/* The chat server's actors and the messages between them.
 *
 * Three kinds of actor make the server (main.c starts them):
 *  - a session per client connection (session.c and the files it names): it owns the
 *    socket, speaks IRC or plain text to the client, and holds the client's nick as the
 *    registered name "nick:<lowercased nick>", so nicks are unique and anyone can find a user
 *    by nick;
 *  - a room per channel (room.c), registered as "room:<lowercased #name>": it keeps the
 *    members, their operator flags and the channel's modes, monitors each member (a member
 *    that dies leaves) and fans every line out;
 *  - the rooms manager (rooms.c), registered as "chat.rooms" and run by the top supervisor:
 *    the only actor that creates rooms, so two first JOINs cannot race, and the one that
 *    retires a room once it is empty.
 *
 * Order. A session runs its client's commands strictly one after another: a command that
 * needs a room, the manager or another session asks with tr_request and the session runs
 * nothing more of that client's until the answer (or its timeout, CHAT_ASK_MS) came, so
 * each command sees the effects of the ones before and replies go out in command order
 * (docs/chat.md). What other users do reaches a session as events at any time.
 *
 * Rooms and sessions never block on each other: a request is a message out and a reply
 * in. A slow client holds back nobody: its own connection's out_limit drops it (net.h).
 *
 * Every payload is msgpack; its shape is written beside each tag below. "req" marks a
 * request (tr_request), answered with tr_reply by the tag after the arrow; a room knows a
 * member by the sender of its messages (a join forwarded by the manager keeps its sender,
 * tr_forward). "seq" numbers a session's NICK and QUIT, so that a user who shares several
 * rooms with a session is shown the change once. */
#ifndef CHAT_CHAT_H
#define CHAT_CHAT_H

#include <troupe.h>
#include <troupe/net.h>

#define CHAT_ROOMS_NAME "chat.rooms"
#define CHAT_LOBBY "#lobby" /* where plain-text clients talk */

/* Channels one session may be in at once (advertised as CHANLIMIT): bounds the rooms a
 * single client can create. */
#define CHAT_CHANS_MAX 32
/* How long a command waits for the answer of a room, the manager or another session: they
 * answer in microseconds, so this only matters when one of them is gone or stuck. */
#define CHAT_ASK_MS 5000u

/* What a room fans out (chat.event). */
typedef enum {
  EV_PRIVMSG,
  EV_NOTICE,
  EV_JOIN,
  EV_PART,
  EV_QUIT,
  EV_NICK,
  EV_TOPIC,
  EV_KICK, /* arg: the nick kicked */
  EV_MODE, /* arg: the change, "+o bob" */
} chat_ev_t;

/* What a session asks a room to describe (chat.info). */
typedef enum { INFO_JOIN, INFO_NAMES, INFO_WHO, INFO_TOPIC, INFO_MODE } chat_info_t;

/* Interned once in main() before any actor runs; the spawn of each actor publishes them to
 * it (the mailbox handoff), and nothing writes them again. */
typedef struct {
  /* payload                                                from -> to */
  tr_atom_t join;     /* req [nick, user, host, real, #chan] -> roominfo | joinfail
                                                              session -> rooms -> room */
  tr_atom_t joinfail; /* [#chan, error]                        rooms -> session */
  tr_atom_t part;     /* req reason -> answer                  session -> room */
  tr_atom_t say;      /* req [kind, text] -> answer            session -> room */
  tr_atom_t quit;     /* [reason, seq]                         session -> room */
  tr_atom_t nick;     /* req [new nick, seq] -> answer         session -> room */
  tr_atom_t topic;    /* req new topic -> answer               session -> room */
  tr_atom_t info;     /* req purpose -> roominfo               session -> room */
  tr_atom_t kick;     /* req [nick, reason] -> answer          session -> room */
  tr_atom_t mode;     /* req [modes, args] -> answer           session -> room */
  tr_atom_t away;     /* away (bool), for WHO's H and G        session -> room */
  /* [purpose, #chan, topic, modes, created, [[nick, user, host, real, op, away]...],
   *  topic set by, topic set at] */
  tr_atom_t roominfo; /*                                       room -> session */
  tr_atom_t answer;   /* [[[numeric, text]...], event or nil]  room -> session */
  tr_atom_t event;    /* [kind, prefix, #chan, arg, text, origin, seq]  room -> session */
  tr_atom_t dm;       /* [kind, prefix, text]; a req when PRIVMSG -> dmack
                                                               session -> session */
  tr_atom_t dmack;    /* away message ("" when here)           session -> session */
  tr_atom_t whois;    /* req nil -> whoisinfo                  session -> session */
  /* [nick, user, host, real, "#a @#b", away, idle seconds, signon time] */
  tr_atom_t whoisinfo; /*                                       session -> session */
  tr_atom_t idle;      /* [key, joins seen]                     room -> rooms */
  tr_atom_t status;    /* [key, members, topic]                 room -> rooms */
  tr_atom_t close;     /* nil                                   rooms -> room */
  tr_atom_t list;      /* req nil -> listing                    session -> rooms */
  tr_atom_t listing;   /* [[#chan, members, topic]...]          rooms -> session */
  tr_atom_t tick;      /* nil: the idle check                   timer -> session */
  /* Cluster-wide group scopes (a cluster of chat nodes): every room is a member of
   * scope_room under its key, every session of scope_nick under its lowercased nick, every
   * rooms manager of scope_mgr under CHAT_MGR_GROUP. */
  tr_atom_t scope_room, scope_nick, scope_mgr;
  tr_atom_t clash;     /* nil: look for nicks taken on two nodes   timer -> rooms */
  tr_atom_t nickclash; /* nil: this session's nick is another's too rooms -> session */
} chat_atoms_t;

extern chat_atoms_t chat_atoms;

/* Intern every atom above. Returns 0 or TR_ELIMIT. */
int chat_atoms_init(tr_system_t *sys);

/* The session behaviour, spawned by the listener for each connection; its init payload is
 * the idle interval in milliseconds (msgpack uint). */
extern const tr_behaviour_t chat_session_behaviour;
/* A room, spawned by the rooms manager; init payload [display name, key]. */
extern const tr_behaviour_t chat_room_behaviour;
/* The rooms manager (no init payload). */
extern const tr_behaviour_t chat_rooms_behaviour;

/* The registry name of a room ("room:" + key) or a nick ("nick:" + lowercased nick). */
void chat_room_name(char out[TR_NAME_MAX + 1], const char *key);
void chat_nick_name(char out[TR_NAME_MAX + 1], const char *nick);

/* In a cluster (cluster.h) each channel's room lives on one node, which every node's
 * sessions ask, and nicks are unique across the cluster. These find a room by key and a
 * session by lowercased nick: here first, then on the other nodes (through the groups
 * above); TR_PID_NONE when there is none. */
#define CHAT_MGR_GROUP "managers"
tr_pid_t chat_find_room(tr_ctx_t *ctx, const char *key);
tr_pid_t chat_find_nick(tr_ctx_t *ctx, const char *low);

/* msgpack-c helpers for payloads whose length is known only at run time. */
int chat_pack_str(msgpack_packer *pk, const char *s);
/* Copy a msgpack str object into dst (cap bytes with the NUL), truncated; "" for others. */
void chat_obj_str(const msgpack_object *o, char *dst, size_t cap);
/* Copy n bytes of str into dst (cap bytes with the NUL), truncated. */
void chat_copy(char *dst, size_t cap, const char *str, size_t n);

/* Parse a payload that must be an array of at least n elements into *out (its parts live in
 * the zone: destroy that after). False for anything else. */
bool chat_parse_array(const tr_msg_t *m, msgpack_zone *zone, uint32_t n, msgpack_object *out);
/* An element as an unsigned number or a bool (0 when it is neither). */
uint64_t chat_obj_uint(const msgpack_object *o);

/* Seconds since the epoch, for 329 and WHOIS's signon time. */
uint64_t chat_unix_now(void);

#endif
