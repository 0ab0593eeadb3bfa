/* The chat server's actors and the messages between them.
 *
 * Three kinds of actor make the server (main.c starts them):
 *  - a session per client connection (session.c, commands.c): it owns the socket, speaks IRC
 *    or plain text to the client, and holds the client's nick as the registered name
 *    "nick:<lowercased nick>", so nicks are unique and anyone can find a user by nick;
 *  - a room per channel (room.c), registered as "room:<lowercased #name>": it keeps the
 *    members, monitors each of them (a member that dies leaves) and fans every line out;
 *  - the rooms manager (rooms.c), registered as "chat.rooms" and run by the top supervisor:
 *    the only actor that creates rooms, so two first JOINs cannot race, and the one that
 *    retires a room once it is empty.
 *
 * Rooms and sessions only ever send to each other (never wait), so a slow client holds back
 * nobody: its own connection's out_limit drops it (net.h).
 *
 * Every payload is msgpack; its shape is written beside each tag below. A room knows a
 * member by the sender of its messages, so only the join (which the manager forwards)
 * names the session; "seq" numbers a session's NICK and QUIT, so that a user who shares
 * several rooms with a session is shown the change once. */
#ifndef CHAT_CHAT_H
#define CHAT_CHAT_H

#include <troupe.h>
#include <troupe/net.h>

#define CHAT_ROOMS_NAME "chat.rooms"
#define CHAT_LOBBY "#lobby" /* where plain-text clients talk */

/* Channels one session may be in at once (advertised as CHANLIMIT): bounds the rooms a
 * single client can create. */
#define CHAT_CHANS_MAX 32

/* What a room fans out (chat.event) and what a session asks a room to say (chat.say). */
typedef enum { EV_PRIVMSG, EV_NOTICE, EV_JOIN, EV_PART, EV_QUIT, EV_NICK, EV_TOPIC } chat_ev_t;

/* Why a session asks a room for its members and topic (chat.info). */
typedef enum { INFO_JOIN, INFO_NAMES, INFO_WHO, INFO_TOPIC } chat_info_t;

/* Interned once in main() before any actor runs; the spawn of each actor publishes them to
 * it (the mailbox handoff), and nothing writes them again. */
typedef struct {
  /* payload                                              from -> to */
  tr_atom_t join;      /* [session, nick, user, host, real, #chan]    session -> rooms -> room */
  tr_atom_t joinfail;  /* [#chan, error]                              rooms -> session */
  tr_atom_t part;      /* reason                                      session -> room */
  tr_atom_t say;       /* [kind, text]                                session -> room */
  tr_atom_t quit;      /* [reason, seq]                               session -> room */
  tr_atom_t nick;      /* [new nick, seq]                             session -> room */
  tr_atom_t topic;     /* topic                                       session -> room */
  tr_atom_t info;      /* purpose                                     session -> room */
  tr_atom_t roominfo;  /* [purpose, #chan, topic, [[nick, user, host, real]...]]  room -> session */
  tr_atom_t event;     /* [kind, prefix, #chan, text, origin, seq]    room -> session */
  tr_atom_t dm;        /* [kind, prefix, text]                        session -> session */
  tr_atom_t idle;      /* [key, joins seen]                           room -> rooms */
  tr_atom_t status;    /* [key, members, topic]                       room -> rooms */
  tr_atom_t close;     /* nil                                         rooms -> room */
  tr_atom_t list;      /* nil                                         session -> rooms */
  tr_atom_t listing;   /* [[#chan, members, topic]...]                rooms -> session */
  tr_atom_t tick;      /* nil: the idle check                         timer -> session */
  tr_atom_t flush;     /* nil: write the gathered output              session -> itself */
  tr_atom_t whois;     /* nil                                         session -> session */
  tr_atom_t whoisinfo; /* [nick, user, host, real, "#a #b"]           session -> session */
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

/* msgpack-c helpers for payloads whose length is known only at run time. */
int chat_pack_str(msgpack_packer *pk, const char *s);
/* Copy a msgpack str object into dst (cap bytes with the NUL), truncated; "" for others. */
void chat_obj_str(const msgpack_object *o, char *dst, size_t cap);
/* Copy n bytes of str into dst (cap bytes with the NUL), truncated. */
void chat_copy(char *dst, size_t cap, const char *str, size_t n);

#endif
