/* A session's state and the operations its files share:
 *   session.c   the actor: connection, output, idle checks, the messages it receives
 *   input.c     the client's lines in order: the queue behind a command that waits, and
 *               the waits themselves (what is asked, what ends it, what a timeout says)
 *   channels.c  its side of the rooms: joining, the answers rooms send, being kicked
 *   commands.c  registration and the IRC command table
 *   chancmds.c  the channel commands (JOIN, PART, TOPIC, NAMES, WHO #c, MODE #c, KICK, LIST)
 *   usercmds.c  the commands about users (PRIVMSG, NOTICE, WHOIS, WHO, ISON, USERHOST,
 *               AWAY, user MODE) and answering other sessions
 *   show.c      turning what rooms and sessions answer into IRC lines
 *   plain.c     the plain-text dialect, for people on nc or telnet
 * Everything here runs inside the session's own handlers. */
#ifndef CHAT_SESSION_H
#define CHAT_SESSION_H

#include "chat.h"
#include "irc.h"

typedef enum {
  MODE_NEW,   /* no line yet: the first one decides */
  MODE_IRC,   /* an IRC client */
  MODE_PLAIN, /* a person on nc or telnet: first line a nick, then text for #lobby */
} session_mode_t;

/* A channel the session is in. */
typedef struct {
  bool used;
  bool op; /* the room made us an operator (shown in WHOIS as "@#chan") */
  char name[IRC_CHAN_MAX + 1];
  char key[IRC_CHAN_MAX + 1];
  tr_pid_t room;
  uint64_t mon; /* the session monitors its rooms: a room that dies is left */
} session_chan_t;

/* What the command that holds back the client's next lines waits for. */
typedef enum {
  WAIT_NONE,
  WAIT_JOIN,     /* a room's roominfo (INFO_JOIN), or the manager's joinfail */
  WAIT_NAMES,    /* roominfo */
  WAIT_WHO,      /* roominfo: WHO #chan */
  WAIT_TOPIC,    /* roominfo: TOPIC #chan */
  WAIT_MODE,     /* roominfo: MODE #chan */
  WAIT_ACT,      /* a room's answer to PRIVMSG #chan, PART, TOPIC :text, KICK, MODE +x */
  WAIT_LIST,     /* every node's manager's listing (gathered) */
  WAIT_WHOIS,    /* another session's whoisinfo */
  WAIT_WHO_NICK, /* whoisinfo, shown as WHO's 352 */
  WAIT_USERHOST, /* up to five whoisinfos */
  WAIT_DM,       /* the dmack of a PRIVMSG to a nick (its away message) */
  WAIT_ACKS,     /* every room's answer to a NICK change */
} wait_kind_t;

/* USERHOST asks about this many nicks at most (RFC 2812 3.5). */
#define SESSION_USERHOST_MAX 5

typedef struct {
  wait_kind_t kind;
  int n;                        /* answers asked for (refs used); WAIT_USERHOST: slots */
  int got;                      /* answers in (or given up) */
  uint64_t ref[CHAT_CHANS_MAX]; /* the requests' references (0: nothing asked) */
  tr_pid_t pid;                 /* who was asked (its DOWN ends a wait on a room) */
  bool plain;                   /* asked by the plain dialect */
  bool parting;                 /* WAIT_ACT: a PART (a lost answer still leaves) */
  char arg[IRC_PREFIX_MAX + 1]; /* the channel or nick asked about */
  char uh[SESSION_USERHOST_MAX][IRC_PREFIX_MAX + 8]; /* USERHOST: "nick=+user@host" */
} session_wait_t;

/* The last NICK and QUIT events shown: a user seen in several channels changes nick or
 * quits once, so the copies that the other rooms send are dropped. */
#define SESSION_SEEN 8
/* Output gathered in one turn before it is written: a turn's lines go out in one write. */
#define SESSION_OUT 8192
/* Lines queued behind a waiting command: past PAUSE bytes the session stops reading
 * (tr_conn_pause), and reads again below RESUME. MAX bounds what was already on its way
 * (the connection's mailbox holds at most SESSION_HIGH_WATER lines of IRC_READ_MAX):
 * past it the client is dropped as a flood. */
#define SESSION_IN_PAUSE ((size_t)16 << 10)
#define SESSION_IN_RESUME ((size_t)4 << 10)
#define SESSION_HIGH_WATER 64u
#define SESSION_IN_MAX ((size_t)1 << 20)

typedef struct {
  tr_conn_t conn;
  session_mode_t mode;
  bool open;     /* between TCP_OPEN and TCP_CLOSED */
  bool eof;      /* the client is done sending: quit once everything is answered */
  bool paused;   /* reading paused: the queue is long */
  bool closing;  /* quit: the connection closes after the queued output */
  bool has_nick; /* holds the registered name "nick:<nick>" */
  bool has_user;
  bool cap_wait; /* CAP negotiation in progress: registration waits for CAP END */
  bool welcomed; /* registration done (IRC), or nick chosen (plain) */
  bool pinged;
  bool invisible, wallops; /* user modes +i and +w */
  char nick[IRC_NICK_MAX + 1];
  char user[IRC_USER_MAX + 1];
  char real[IRC_REAL_MAX + 1];
  char host[IRC_HOST_MAX + 1];
  char prefix[IRC_PREFIX_MAX + 1]; /* nick!user@host */
  char away[IRC_AWAY_MAX + 1];     /* "" when here */
  uint64_t seq;                    /* numbers this session's NICK and QUIT events */
  uint64_t idle_ms;
  uint64_t last_input_ns, last_said_ns, ping_ns, closing_ns;
  uint64_t signon; /* unix time of the connection */
  tr_timer_t tick;
  struct {
    uint64_t origin, seq;
  } seen[SESSION_SEEN];
  unsigned seen_next;
  session_chan_t chans[CHAT_CHANS_MAX];
  session_wait_t wait;
  /* Lines that came while a command waited, oldest first: a 4-byte length, then the line. */
  unsigned char *in;
  size_t in_off, in_len, in_cap;
  /* What is left of a command with a list of targets (JOIN #a,#b) after the one that waits:
   * run before the queue. */
  char rest[IRC_IN_MAX + 1];
  bool has_rest;
  size_t out_len;
  char out[SESSION_OUT];
} session_t;

/* ---- session.c ---- */

/* Format one line (irc_format) and queue it for the client. */
void session_send(tr_ctx_t *ctx, session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ":troupe-chat <numeric> <nick or *> " followed by the formatted rest. */
void session_reply(tr_ctx_t *ctx, session_t *s, const char *numeric, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Build s->prefix from nick, user and host. */
void session_set_prefix(session_t *s);
/* Take nick (valid): register it, and once welcomed tell the client and the rooms. Returns
 * false when someone else holds it. */
bool session_set_nick(tr_ctx_t *ctx, session_t *s, const char *nick);
/* Leave every room with reason, say goodbye, close the connection. Idempotent. */
void session_quit(tr_ctx_t *ctx, session_t *s, const char *reason);
/* The pid registered for nick, or TR_PID_NONE. */
tr_pid_t session_find_nick(tr_ctx_t *ctx, const char *nick);
/* Whether a and b are the same nick or channel (CASEMAPPING ascii). */
bool session_same_name(const char *a, const char *b);

/* ---- input.c ---- */

/* A line from the connection: run now, or queued behind a waiting command. */
void session_input(tr_ctx_t *ctx, session_t *s, const char *line, size_t len);
/* The client sent its FIN: quit once everything before it is answered. */
void session_input_end(tr_ctx_t *ctx, session_t *s);
/* Start waiting: `ref` is the request just made of `pid`; arg names what it is about. */
void session_wait(session_t *s, wait_kind_t kind, uint64_t ref, tr_pid_t pid, const char *arg);
/* Start waiting for several answers (USERHOST, NICK's acks): the caller stores each
 * request's reference in wait.ref[wait.n++], and counts in wait.got what it did not ask;
 * if nothing was asked in the end it sets kind back to WAIT_NONE itself. */
void session_wait_many(session_t *s, wait_kind_t kind);
/* Whether a command is waiting. */
static inline bool session_waiting(const session_t *s) { return s->wait.kind != WAIT_NONE; }
/* The waiting command got all it asked for (or gave up): run the lines behind it. */
void session_wait_done(tr_ctx_t *ctx, session_t *s);
/* A message with a reference: the answer to the waiting command (true), or not for it. */
bool session_answer(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
/* A DOWN: if the waiting command asked that actor, it will not answer. */
void session_wait_down(tr_ctx_t *ctx, session_t *s, tr_pid_t pid);
/* Keep what is left of a list command after target `done` (params[li] is the list), to run
 * once the wait for that target ends. */
void session_keep_rest(session_t *s, const irc_msg_t *m, int li, const char *rest);
/* Free what is queued (the session ends). */
void session_input_free(session_t *s);

/* ---- channels.c ---- */

/* The channel entry named (any case), or NULL. */
session_chan_t *session_chan(session_t *s, const char *name);
/* The entry whose room is pid, or NULL. */
session_chan_t *session_chan_of(session_t *s, tr_pid_t room);
/* Count of channels in use. */
int session_nchans(const session_t *s);
/* Ask the rooms manager to put the session in chan (a valid name it is not in) and wait for
 * the answer. Returns false when the manager is missing. */
bool session_join(tr_ctx_t *ctx, session_t *s, const char *chan, bool plain);
/* The answer to a join: the roominfo of the room we are now in (true: show it), a joinfail
 * or a timeout (false; the reply is the caller's). */
bool session_joined(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
/* Drop a channel entry (the room is told nothing). */
void session_drop_chan(tr_ctx_t *ctx, session_t *s, session_chan_t *c);
/* Tell every room the session is in that it quits with reason, drop every channel and the
 * nick. */
void session_leave_all(tr_ctx_t *ctx, session_t *s, const char *reason);
/* A monitored room's DOWN. */
void session_on_down(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
/* An event a room fans out: shown, and applied to our side (a KICK of us, an op change). */
void session_on_event(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
/* The event that answers our own request (PART, TOPIC, KICK, MODE): shown and applied. */
void session_show_own_event(tr_ctx_t *ctx, session_t *s, const msgpack_object *ev);

/* ---- commands.c, chancmds.c, usercmds.c ---- */

/* Run one IRC command line. */
void chat_command(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
/* Whether cmd (upper case) is a command the server knows: part of telling IRC clients from
 * plain ones. */
bool chat_command_known(const char *cmd);

typedef void (*chat_cmd_fn)(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
/* Run fn on each name of the comma-separated list params[li] until one waits (fn returns
 * whether it does); what is left of the list then runs after the answer, so JOIN #a,#b is
 * JOIN #a, its answer, then JOIN #b. */
typedef bool (*chat_target_fn)(tr_ctx_t *ctx, session_t *s, const char *target, const irc_msg_t *m);
void chat_each_target(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m, int li, chat_target_fn fn);
void chat_cmd_join(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_part(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_topic(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_names(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_list(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_kick(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_mode(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_who(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_privmsg(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_whois(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_ison(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_userhost(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
void chat_cmd_away(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
/* MODE for a nick (usercmds.c), and WHO #chan (chancmds.c; false: it did not wait). */
void chat_user_mode(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
bool chat_who_channel(tr_ctx_t *ctx, session_t *s, const char *chan);
/* Ask chan's room for purpose and wait for its roominfo; false when there is no room. */
bool chat_ask_room(tr_ctx_t *ctx, session_t *s, const char *chan, chat_info_t purpose,
                   wait_kind_t kind, bool plain);
/* Say text (PRIVMSG or NOTICE) in channel c and wait for the room's answer, so whatever
 * the client does next, everyone sees after this line. False when it could not ask. */
bool session_say(tr_ctx_t *ctx, session_t *s, session_chan_t *c, chat_ev_t kind, const char *text);
/* Send text (PRIVMSG or NOTICE) to a registered nick; a PRIVMSG waits for the target's
 * dmack (its away message). False when nobody has that nick. */
bool session_dm(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *nick, const char *text,
                bool plain);
/* Other sessions asking us: a private message (chat.dm) and WHOIS (chat.whois). */
void chat_on_dm(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
void chat_on_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);

/* ---- show.c: answers as IRC lines ---- */

/* A roominfo for the waiting command (the wait's kind says which reply). */
void chat_show_roominfo(tr_ctx_t *ctx, session_t *s, wait_kind_t kind, const msgpack_object *info);
/* A room's answer [numerics, event or nil]. */
void chat_show_answer(tr_ctx_t *ctx, session_t *s, const msgpack_object *answer);
/* One manager's listing [[#chan, members, topic]...] as 322 lines (LIST's 321 and 323 are
 * chancmds.c's and input.c's). */
void chat_show_listing(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
/* A whoisinfo, for WHOIS, WHO nick or one slot of USERHOST. */
void chat_show_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
void chat_show_who_nick(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
void chat_note_userhost(session_t *s, int slot, const tr_msg_t *m);
void chat_show_userhost(tr_ctx_t *ctx, session_t *s);
/* One event as an IRC line. */
void chat_show_event(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                     const char *chan, const char *arg, const char *text);
/* The reply a waiting command gives when its answer will not come (a timeout, the room
 * gone). */
void chat_show_lost(tr_ctx_t *ctx, session_t *s);

/* ---- plain.c ---- */

/* One line from a plain client (trimmed, not empty). */
void chat_plain_line(tr_ctx_t *ctx, session_t *s, const char *text);
/* The plain rendering of a room event, a roominfo, and a private message. */
void chat_plain_event(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                      const char *arg, const char *text);
void chat_plain_roominfo(tr_ctx_t *ctx, session_t *s, chat_info_t purpose,
                         const msgpack_object *info);
void chat_plain_dm(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                   const char *text);

#endif
