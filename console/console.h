/* Private: the debug console (include/troupe/console.h), shared by console.c (the server,
 * the session actor, reading lines, writing replies), commands.c (the commands), json.c
 * (msgpack <-> JSON, text rendering) and clock.c (the coarse clock behind the ages).
 *
 * A session is one connection actor; everything in it belongs to that actor. A command that
 * needs an actor's own answer (state, info) asks with an INSPECT signal and the session
 * waits for the reply message; lines that arrive meanwhile queue behind it, so replies keep
 * the order of the requests. */
#ifndef TR_CONSOLE_CONSOLE_H
#define TR_CONSOLE_CONSOLE_H

#include <jansson.h>

#include "actors/actor.h"
#include "net/net.h"
#include "troupe/cluster.h"
#include "troupe/console.h"
#include "troupe/net.h"

/* Input a session holds while a command waits for an actor's answer (the commands after
 * it, not yet cut into lines): past PAUSE it stops reading (tr_conn_pause) until it is below
 * RESUME, so a client that pipelines many commands is slowed down, never cut off. MAX bounds
 * what is already on its way when the pause takes effect (the connection's mailbox is
 * capped at TR_CONSOLE_HIGH_WATER reads of at most 64 KiB); past it the client is
 * dropped. */
#define TR_CONSOLE_PEND_PAUSE ((size_t)64 << 10)
#define TR_CONSOLE_PEND_RESUME ((size_t)16 << 10)
#define TR_CONSOLE_HIGH_WATER 8u
#define TR_CONSOLE_PEND_MAX ((size_t)1 << 20)
/* How long state and info wait for the actor's answer: an actor stuck in a handler does not
 * answer, and the operator wants to hear that soon. */
#define TR_CONSOLE_ASK_MS 2000u
/* Actors one session traces at once. */
#define TR_CONSOLE_TRACE_MAX 16u
/* Rows of `actors` without --limit: keeps a reply on a big node within reason. */
#define TR_CONSOLE_ROWS_DEFAULT 1000u
/* Output a session may have queued before the client counts as not reading (net.h). */
#define TR_CONSOLE_OUT_LIMIT ((size_t)16 << 20)

enum { TR_CWAIT_NONE = 0, TR_CWAIT_STATE, TR_CWAIT_INFO, TR_CWAIT_REMOTE, TR_CWAIT_ALL };

typedef struct {
  tr_system_t *sys;
  tr_conn_t conn;
  bool open;
  bool json;
  bool skipping; /* discarding the rest of an over-long line */
  size_t len;
  char line[TR_CONSOLE_LINE_MAX + 1];
  /* A command waiting for an actor's answer. */
  int wait;
  uint64_t wait_ref;
  tr_actor_info_t wait_info;
  char *pend; /* input that came while a command waited: run in order after it */
  size_t pend_len, pend_cap;
  bool paused; /* reading stopped because pend passed TR_CONSOLE_PEND_PAUSE */
  bool eof;    /* the client is done sending: close once everything is answered */
  /* What the session traces, and for whom: itself, or (in an agent) the session of another
   * node that asked, which the agent monitors (trace_mon) to end the trace when it goes. */
  tr_pid_t traced[TR_CONSOLE_TRACE_MAX];
  tr_pid_t tracers[TR_CONSOLE_TRACE_MAX];
  uint64_t trace_mon[TR_CONSOLE_TRACE_MAX];
  uint32_t ntraced;
  uint64_t last_ns, last_msgs; /* the previous `stats` sample */
  /* A command run on another node waits for it (TR_CWAIT_REMOTE) */
  char wait_node[TR_NODE_NAME_MAX + 1];
  bool named_node; /* the line being run named a node (@local, or this node's name) */
  /* A command run on every node (TR_CWAIT_ALL) waits for each answer (remote.c). */
  json_t *gather;
  const char *gather_key;
  const char *gather_sort; /* the rows' field to sort the merged rows by (descending), or NULL */
  size_t gather_limit;     /* rows kept after the merge */
  struct tr_cgather *gather_refs;
  uint32_t gather_n, gather_left;
  /* The agent (remote.c): a session without a connection, whose replies go into capture. */
  bool agent;
  bool capturing; /* replies go into capture (an agent's, or a console inside another
                   * actor: the metrics server's, tr__console_embed) */
  tr_pid_t asker; /* the session whose command the agent runs now */
  char *capture;
  size_t capture_len, capture_cap;
} tr_csession_t;

/* clock.c: start the coarse clock (once; later calls find it running). */
int tr__console_clock_start(tr_system_t *sys);

/* console.c */
/* Send one reply (takes doc): rendered as text with its "." line, or as one JSON line. */
void tr__console_reply(tr_ctx_t *ctx, tr_csession_t *s, json_t *doc);
void tr__console_error(tr_ctx_t *ctx, tr_csession_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Write raw bytes to the session's connection. */
void tr__console_write(tr_ctx_t *ctx, tr_csession_t *s, const char *text, size_t len);

/* Listen with opts for a server that shows the system's actors (the console, the metrics
 * server): the coarse clock that their running and waiting times need starts too, and, on a
 * node, the agent that the other nodes' consoles ask. `who` names the server in the log.
 * Errors: tr_listen's, TR_EINVAL. */
int tr__console_serve(tr_system_t *sys, const char *who, const tr_listen_opts_t *opts,
                      tr_listener_t *out);

/* A console inside another actor (the metrics server's web view): JSON replies captured in
 * s->capture, commands with @node asked of other nodes as from a session; the actor routes
 * TR_ATOM_REPLY and TR_ATOM_TIMEOUT messages that tr__console_awaits to tr__console_answer.
 * embed_free lets go of what it holds. */
void tr__console_embed(tr_csession_t *s, tr_system_t *sys);
void tr__console_embed_free(tr_ctx_t *ctx, tr_csession_t *s);
/* Does the command line only read (what the web view may run)? */
bool tr__console_readonly(const char *line);

/* commands.c */
/* Run one command line (NUL-terminated, no newline). */
void tr__console_command(tr_ctx_t *ctx, tr_csession_t *s, char *line);
/* The answer (or TR_ATOM_TIMEOUT) for the command that waits. */
void tr__console_answer(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m);
/* Turn off every trace the session holds. */
void tr__console_untrace_all(tr_ctx_t *ctx, tr_csession_t *s);
/* The agent's: a DOWN of a session it traces for (other DOWNs are ignored). */
void tr__console_tracer_down(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m);

/* remote.c */
/* Start this node's agent (once; nothing when the system is not a node). */
int tr__console_agent_start(tr_system_t *sys);
/* A line that names another node ("... @b", "info x@b"): sent there; true when it was (or
 * an error reply was sent). The line loses its "@node" either way. */
bool tr__console_remote(tr_ctx_t *ctx, tr_csession_t *s, char *line);
/* The other node's answer (or TR_ATOM_TIMEOUT) for a TR_CWAIT_REMOTE command. */
void tr__console_remote_answer(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m);
/* Run `line` on every other node that has a console and merge the rows of their answers'
 * array `key` into doc's (each row tagged with its node; doc's own rows are this node's),
 * then sort them by s->gather_sort and keep s->gather_limit (both set by the caller); a
 * "total" in doc becomes the sum of every node's.
 * Replies with doc at once when there is no other node; else the session waits
 * (TR_CWAIT_ALL) and replies when every node answered or timed out. Takes doc. */
void tr__console_gather(tr_ctx_t *ctx, tr_csession_t *s, const char *line, const char *key,
                        json_t *doc);
/* Is ref one the session waits for? */
bool tr__console_awaits(const tr_csession_t *s, uint64_t ref);
/* One node's answer (or TR_ATOM_TIMEOUT) for a TR_CWAIT_ALL command. */
void tr__console_gather_answer(tr_ctx_t *ctx, tr_csession_t *s, const tr_msg_t *m);
/* Drop a gather in progress (the session ends). */
void tr__console_gather_free(tr_csession_t *s);

/* json.c */
/* Bytes as a JSON string, or as "0x" + hex when they are not valid UTF-8. */
json_t *tr__json_bytes(const void *data, size_t len);
/* "0x..." text of a pid. */
json_t *tr__json_pid(tr_pid_t pid);
/* Where a console reaches a pid from here: "0x..." for this node's, "0x...@node" (the id
 * that node knows it by) for another node's. */
json_t *tr__json_addr(tr_system_t *sys, uint64_t id);
/* One msgpack value as JSON (binaries as hex strings); NULL when data is not msgpack. */
json_t *tr__json_from_msgpack(const void *data, size_t len);
/* A JSON value packed as msgpack into sb. Returns 0 or TR_EINVAL. */
int tr__json_to_msgpack(const json_t *j, msgpack_sbuffer *sb);
/* A reply rendered as text lines (each ends with "\n", dot-stuffed), without the "." line.
 * The caller frees the result. */
char *tr__json_render_text(const json_t *doc);
/* A trace event's payload as one reply document {"trace": {...}}, or NULL. */
json_t *tr__json_trace_event(tr_system_t *sys, const tr_msg_t *m);

#endif
