/* The pub/sub server's actors and the messages between them (README.md, "Pub/sub server").
 *
 * It speaks the Redis pub/sub protocol (RESP2, TR_CODEC_RESP) and is made of:
 *  - a session per client connection (session.c, commands.c, subscribe.c): it parses
 *    commands, keeps the client's channels and patterns, and orders every reply;
 *  - a topic per channel with subscribers (topic.c), registered as ps_topic_name(channel):
 *    it holds the channel's subscribers and fans each message out to them;
 *  - the topics directory (topics.c), registered as PS_TOPICS_NAME: the only actor that
 *    creates and retires topics and the one every (un)subscription goes through, so a
 *    first SUBSCRIBE cannot race another and a topic ends exactly when it is empty; it
 *    answers PUBSUB CHANNELS and NUMSUB;
 *  - the pattern index (patterns.c), registered as PS_PATTERNS_NAME: patterns and their
 *    subscribers; every PUBLISH asks it too, and it answers PUBSUB NUMPAT.
 * The directory and the index run under a supervisor (main.c).
 *
 * PUBLISH goes from the publisher's session straight to the topic (found by name) and the
 * index, as two requests whose answers (receiver counts) make the reply. Topics and the
 * index only send to sessions, never wait for them, so a slow subscriber holds back nobody:
 * its own connection's out_limit drops it. Fan-out sends each subscriber the push already
 * in RESP, formatted once per message.
 *
 * Every payload is msgpack; its shape is written beside each tag below. */
#ifndef PUBSUB_PUBSUB_H
#define PUBSUB_PUBSUB_H

#include <troupe.h>
#include <troupe/resp.h>

#define PS_TOPICS_NAME "pubsub.topics"
#define PS_PATTERNS_NAME "pubsub.patterns"
/* How long a session waits for a PUBLISH count or a PUBSUB answer before it counts 0 (or
 * replies an error): only a topic retired in the instant between the session's lookup
 * and its request makes this wait. */
#define PS_REQUEST_MS 2000u

/* Interned once in main() before any actor runs; spawns publish them to each actor (the
 * mailbox handoff) and nothing writes them again. */
typedef struct {
  tr_atom_t sub;      /* [session, channel, token]  session -> topics -> topic */
  tr_atom_t unsub;    /* [session, channel]         session -> topics -> topic */
  tr_atom_t psub;     /* [session, pattern, token]  session -> patterns */
  tr_atom_t punsub;   /* [session, pattern]         session -> patterns */
  tr_atom_t ack;      /* token: the subscription is in place; topic/patterns -> session */
  tr_atom_t pub;      /* request [channel, message]; reply: receivers (uint)  session -> topic,
                         patterns */
  tr_atom_t msg;      /* [channel, RESP push]       topic -> session */
  tr_atom_t pmsg;     /* [pattern, RESP push]       patterns -> session */
  tr_atom_t retire;   /* nil: no subscribers left   topics -> topic */
  tr_atom_t channels; /* request [pattern] or []; reply: RESP bytes  session -> topics */
  tr_atom_t numsub;   /* request [channel...]; reply: RESP bytes     session -> topics */
  tr_atom_t numpat;   /* request nil; reply: RESP bytes              session -> patterns */
  tr_atom_t flush;    /* nil: write what the session gathered        session -> itself */
} ps_atoms_t;

extern ps_atoms_t ps_atoms;

/* Intern every atom above. Returns 0 or TR_ELIMIT. */
int ps_atoms_init(tr_system_t *sys);

/* The session behaviour, spawned by the listener for each connection (no init payload). */
extern const tr_behaviour_t ps_session_behaviour;
/* A topic, spawned by the directory; init payload: the channel (bin). */
extern const tr_behaviour_t ps_topic_behaviour;
/* The topics directory and the pattern index (no init payload). */
extern const tr_behaviour_t ps_topics_behaviour;
extern const tr_behaviour_t ps_patterns_behaviour;

/* The registry name of a channel's topic: "topic:" + the channel when it fits and holds no
 * NUL byte, else "topic:#" + a 64-bit hash in hex (see topics.c for collisions). */
void ps_topic_name(char out[TR_NAME_MAX + 1], const void *channel, size_t len);

/* Redis's glob matching (stringmatchlen): * ? [abc] [^a] [a-z] and \ escapes. */
bool ps_glob_match(const void *pattern, size_t plen, const void *str, size_t slen);

/* A RESP push: [kind, name, payload] ("message") or [kind, pattern, channel, payload]
 * ("pmessage") when pattern is not NULL. Appends to b; returns b->err. */
int ps_push(tr_resp_buf_t *b, const char *kind, const void *pattern, size_t plen, const void *name,
            size_t nlen, const void *payload, size_t len);

/* A set of sessions (a topic's subscribers, a pattern's): small, so a plain array. */
typedef struct {
  tr_pid_t *pid;
  size_t n, cap;
} ps_pids_t;

/* Add a pid (no effect when present). Returns 0 or TR_ENOMEM. */
int ps_pids_add(ps_pids_t *set, tr_pid_t pid);
/* Remove a pid (no effect when absent). */
void ps_pids_del(ps_pids_t *set, tr_pid_t pid);

#endif
