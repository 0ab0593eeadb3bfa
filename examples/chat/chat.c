/* What the chat's actors share: the message tags (interned once at start) and the small
 * helpers that turn names and msgpack strings into C strings. */
#include "chat.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "irc.h"

chat_atoms_t chat_atoms;

int chat_atoms_init(tr_system_t *sys) {
  const tr_atom_def_t table[] = {
      {"chat.join", &chat_atoms.join},
      {"chat.joinfail", &chat_atoms.joinfail},
      {"chat.part", &chat_atoms.part},
      {"chat.say", &chat_atoms.say},
      {"chat.quit", &chat_atoms.quit},
      {"chat.nick", &chat_atoms.nick},
      {"chat.topic", &chat_atoms.topic},
      {"chat.info", &chat_atoms.info},
      {"chat.kick", &chat_atoms.kick},
      {"chat.mode", &chat_atoms.mode},
      {"chat.away", &chat_atoms.away},
      {"chat.roominfo", &chat_atoms.roominfo},
      {"chat.answer", &chat_atoms.answer},
      {"chat.event", &chat_atoms.event},
      {"chat.dm", &chat_atoms.dm},
      {"chat.dmack", &chat_atoms.dmack},
      {"chat.whois", &chat_atoms.whois},
      {"chat.whoisinfo", &chat_atoms.whoisinfo},
      {"chat.idle", &chat_atoms.idle},
      {"chat.status", &chat_atoms.status},
      {"chat.close", &chat_atoms.close},
      {"chat.list", &chat_atoms.list},
      {"chat.listing", &chat_atoms.listing},
      {"chat.tick", &chat_atoms.tick},
      {"chat.g.room", &chat_atoms.scope_room},
      {"chat.g.nick", &chat_atoms.scope_nick},
      {"chat.g.mgr", &chat_atoms.scope_mgr},
      {"chat.clash", &chat_atoms.clash},
      {"chat.nickclash", &chat_atoms.nickclash},
  };
  _Static_assert(sizeof table / sizeof table[0] == sizeof(chat_atoms_t) / sizeof(tr_atom_t),
                 "every atom of chat_atoms_t has a name");
  return tr_atoms(sys, table, sizeof table / sizeof table[0]);
}

void chat_room_name(char out[TR_NAME_MAX + 1], const char *key) {
  snprintf(out, TR_NAME_MAX + 1, "room:%s", key);
}

void chat_nick_name(char out[TR_NAME_MAX + 1], const char *nick) {
  char low[IRC_NICK_MAX + 1];
  irc_lower(low, nick, sizeof low);
  snprintf(out, TR_NAME_MAX + 1, "nick:%s", low);
}

/* The first member of a group, or none. */
static tr_pid_t first_member(tr_ctx_t *ctx, tr_atom_t scope, const char *name) {
  tr_pid_t pid = TR_PID_NONE;
  size_t n = 0;
  if (tr_group_members(ctx, scope, name, strlen(name), &pid, 1, &n) != 0 || n == 0)
    return TR_PID_NONE;
  return pid;
}

/* A room of this node is registered while it has members (room.c), so an emptied room is
 * gone for the next command of the session that emptied it, as in ngIRCd; its group
 * membership stays, for the managers' routing, so here the group answers only for rooms of
 * other nodes. */
tr_pid_t chat_find_room(tr_ctx_t *ctx, const char *key) {
  char name[TR_NAME_MAX + 1];
  chat_room_name(name, key);
  tr_pid_t pid = tr_whereis(tr_ctx_system(ctx), name);
  if (!tr_pid_is_none(pid))
    return pid;
  tr_pid_t v[8];
  size_t n = 0;
  if (tr_group_members(ctx, chat_atoms.scope_room, key, strlen(key), v, 8, &n) != 0)
    return TR_PID_NONE;
  for (size_t i = 0; i < n && i < 8; i++)
    if (tr_pid_is_remote(v[i]))
      return v[i];
  return TR_PID_NONE;
}

tr_pid_t chat_find_nick(tr_ctx_t *ctx, const char *low) {
  char name[TR_NAME_MAX + 1];
  snprintf(name, sizeof name, "nick:%s", low);
  tr_pid_t pid = tr_whereis(tr_ctx_system(ctx), name);
  return tr_pid_is_none(pid) ? first_member(ctx, chat_atoms.scope_nick, low) : pid;
}

int chat_pack_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  return msgpack_pack_str(pk, n) | msgpack_pack_str_body(pk, s, n);
}

void chat_copy(char *dst, size_t cap, const char *str, size_t n) {
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, str, n);
  dst[n] = '\0';
  /* A NUL inside would hide the rest; the copy is a C string up to it, by design. */
}

void chat_obj_str(const msgpack_object *o, char *dst, size_t cap) {
  if (o->type == MSGPACK_OBJECT_STR)
    chat_copy(dst, cap, o->via.str.ptr, o->via.str.size);
  else
    dst[0] = '\0';
}

bool chat_parse_array(const tr_msg_t *m, msgpack_zone *zone, uint32_t n, msgpack_object *out) {
  size_t len;
  const void *data = tr_msg_data(m, &len);
  return data && tr_msgpack_parse(data, len, NULL, zone, out) == 0 &&
         out->type == MSGPACK_OBJECT_ARRAY && out->via.array.size >= n;
}

uint64_t chat_obj_uint(const msgpack_object *o) {
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    return o->via.u64;
  return o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

uint64_t chat_unix_now(void) { return (uint64_t)time(NULL); }
