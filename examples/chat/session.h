/* A session's state and the operations shared by session.c (the actor: connection, events
 * from rooms, idle checks), channels.c (its side of the rooms), plain.c (the plain-text
 * dialect) and commands.c (the IRC commands and their answers). Everything here runs
 * inside the session's own handlers. */
#ifndef CHAT_SESSION_H
#define CHAT_SESSION_H

#include "chat.h"
#include "irc.h"

typedef enum {
  MODE_NEW,   /* no line yet: the first one decides */
  MODE_IRC,   /* an IRC client */
  MODE_PLAIN, /* a person on nc or telnet: first line a nick, then text for #lobby */
} session_mode_t;

/* A line said in a channel whose join is still on its way: held until the join lands, so
 * a client that sends "JOIN #c" and "PRIVMSG #c" back to back loses nothing. */
typedef struct held {
  struct held *next;
  chat_ev_t kind;
  char text[];
} held_t;

/* Lines a session may hold at once, over all its channels: bounds what a client that
 * pipelines into joins that never land can make the server keep. */
#define SESSION_HELD 64

/* A channel the session is in, or is joining (room still none). */
typedef struct {
  bool used;
  bool leaving; /* parted while the join was on its way: part once it lands */
  char name[IRC_CHAN_MAX + 1];
  char key[IRC_CHAN_MAX + 1];
  tr_pid_t room;
  uint64_t mon;      /* the session monitors its rooms: a room that dies is left */
  uint32_t nick_gen; /* the nick's generation the join carried */
  held_t *held;      /* lines said while the join was on its way, oldest first */
  held_t *held_tail;
} session_chan_t;

/* The last NICK and QUIT events shown: a user seen in several channels changes nick or
 * quits once, so the copies that the other rooms send are dropped. */
#define SESSION_SEEN 8
/* Output gathered before one write (see session.c): about eight IRC lines. */
#define SESSION_OUT 4096

typedef struct {
  tr_conn_t conn;
  session_mode_t mode;
  bool open;     /* between TCP_OPEN and TCP_CLOSED */
  bool closing;  /* quit: the connection closes after the queued output */
  bool has_nick; /* holds the registered name "nick:<nick>" */
  bool has_user;
  bool cap_wait; /* CAP negotiation in progress: registration waits for CAP END */
  bool welcomed; /* registration done (IRC), or nick chosen (plain) */
  bool pinged;
  bool flush_due; /* a flush message is on its way to the session */
  char nick[IRC_NICK_MAX + 1];
  char user[IRC_USER_MAX + 1];
  char real[IRC_REAL_MAX + 1];
  char host[IRC_HOST_MAX + 1];
  char prefix[IRC_PREFIX_MAX + 1]; /* nick!user@host */
  uint32_t nick_gen;               /* bumped at each nick change */
  uint64_t seq;                    /* numbers this session's NICK and QUIT events */
  uint64_t idle_ms;
  uint64_t last_input_ns, ping_ns, closing_ns;
  tr_timer_t tick;
  struct {
    uint64_t origin, seq;
  } seen[SESSION_SEEN];
  unsigned seen_next;
  unsigned nheld; /* lines held over all channels */
  session_chan_t chans[CHAT_CHANS_MAX];
  size_t out_len;
  char out[SESSION_OUT];
} session_t;

/* Format one line (irc_format) and queue it for the client. */
void session_send(tr_ctx_t *ctx, session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ":troupe-chat <numeric> <nick or *> " followed by the formatted rest. */
void session_reply(tr_ctx_t *ctx, session_t *s, const char *numeric, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The channel entry named (any case), or NULL. */
session_chan_t *session_chan(session_t *s, const char *name);
/* Count of channels in use. */
int session_nchans(const session_t *s);
/* Ask the rooms manager to put the session in chan (a valid name it is not in). Returns
 * false when it has no free slot or the manager is missing. */
bool session_join(tr_ctx_t *ctx, session_t *s, const char *chan);
/* Say text (PRIVMSG or NOTICE) in channel c: to its room, or held until the join lands.
 * Returns false when the session holds too much already. */
bool session_say(tr_ctx_t *ctx, session_t *s, session_chan_t *c, chat_ev_t kind, const char *text);
/* Leave a channel (the room echoes the PART to the client). */
void session_part(tr_ctx_t *ctx, session_t *s, session_chan_t *c, const char *reason);
/* Build s->prefix from nick, user and host. */
void session_set_prefix(session_t *s);
/* Take nick (valid): register it, and once welcomed tell the client and the rooms. Returns
 * false when someone else holds it. */
bool session_set_nick(tr_ctx_t *ctx, session_t *s, const char *nick);
/* Tell every room the session is in that it quits with reason, drop every channel and the
 * nick. */
void session_leave_all(tr_ctx_t *ctx, session_t *s, const char *reason);
/* A room's chat.roominfo, a failed join (chat.joinfail), a monitored room's DOWN. */
void session_on_roominfo(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
void session_on_joinfail(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
void session_on_down(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
/* Leave every room with reason, say goodbye, close the connection. Idempotent. */
void session_quit(tr_ctx_t *ctx, session_t *s, const char *reason);
/* Send a session-to-session message (PRIVMSG or NOTICE) to a registered nick. Returns false
 * when nobody has that nick. */
bool session_dm(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *nick, const char *text);

/* plain.c: one line from a plain client (trimmed, not empty), and the plain rendering of
 * a room event, a room's answer and a private message. */
void chat_plain_line(tr_ctx_t *ctx, session_t *s, const char *text);
void chat_plain_event(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                      const char *text);
void chat_plain_roominfo(tr_ctx_t *ctx, session_t *s, chat_info_t purpose, const char *chan,
                         const char *topic, const msgpack_object *members);
void chat_plain_dm(tr_ctx_t *ctx, session_t *s, chat_ev_t kind, const char *prefix,
                   const char *text);

/* commands.c: run one IRC command line. */
void chat_command(tr_ctx_t *ctx, session_t *s, const irc_msg_t *m);
/* Whether cmd (upper case) is a command the server knows: part of telling IRC clients from
 * plain ones. */
bool chat_command_known(const char *cmd);
/* commands.c: the IRC side of a room's answer (JOIN, NAMES, WHO, TOPIC) and of LIST. */
void chat_show_roominfo(tr_ctx_t *ctx, session_t *s, chat_info_t purpose, const char *chan,
                        const char *topic, const msgpack_object *members);
void chat_show_listing(tr_ctx_t *ctx, session_t *s, const msgpack_object *rooms);
/* commands.c: WHOIS, asked of this session by another (chat.whois), and the answer
 * (chat.whoisinfo). */
void chat_on_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);
void chat_show_whois(tr_ctx_t *ctx, session_t *s, const tr_msg_t *m);

#endif
