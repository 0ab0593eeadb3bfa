/* What the chat's actors share: the message tags (interned once at start) and the small
 * helpers that turn names and msgpack strings into C strings. */
#include "chat.h"

#include <stdio.h>
#include <string.h>

#include "irc.h"

chat_atoms_t chat_atoms;

int chat_atoms_init(tr_system_t *sys) {
  static const struct {
    size_t offset;
    const char *name;
  } table[] = {
      {offsetof(chat_atoms_t, join), "chat.join"},
      {offsetof(chat_atoms_t, joinfail), "chat.joinfail"},
      {offsetof(chat_atoms_t, part), "chat.part"},
      {offsetof(chat_atoms_t, say), "chat.say"},
      {offsetof(chat_atoms_t, quit), "chat.quit"},
      {offsetof(chat_atoms_t, nick), "chat.nick"},
      {offsetof(chat_atoms_t, topic), "chat.topic"},
      {offsetof(chat_atoms_t, info), "chat.info"},
      {offsetof(chat_atoms_t, roominfo), "chat.roominfo"},
      {offsetof(chat_atoms_t, event), "chat.event"},
      {offsetof(chat_atoms_t, dm), "chat.dm"},
      {offsetof(chat_atoms_t, idle), "chat.idle"},
      {offsetof(chat_atoms_t, status), "chat.status"},
      {offsetof(chat_atoms_t, close), "chat.close"},
      {offsetof(chat_atoms_t, list), "chat.list"},
      {offsetof(chat_atoms_t, listing), "chat.listing"},
      {offsetof(chat_atoms_t, tick), "chat.tick"},
      {offsetof(chat_atoms_t, flush), "chat.flush"},
      {offsetof(chat_atoms_t, whois), "chat.whois"},
      {offsetof(chat_atoms_t, whoisinfo), "chat.whoisinfo"},
  };
  _Static_assert(sizeof table / sizeof table[0] == sizeof(chat_atoms_t) / sizeof(tr_atom_t),
                 "every atom of chat_atoms_t has a name");
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    tr_atom_t a = tr_atom(sys, table[i].name);
    if (!a)
      return TR_ELIMIT;
    memcpy((char *)&chat_atoms + table[i].offset, &a, sizeof a);
  }
  return 0;
}

void chat_room_name(char out[TR_NAME_MAX + 1], const char *key) {
  snprintf(out, TR_NAME_MAX + 1, "room:%s", key);
}

void chat_nick_name(char out[TR_NAME_MAX + 1], const char *nick) {
  char low[IRC_NICK_MAX + 1];
  irc_lower(low, nick, sizeof low);
  snprintf(out, TR_NAME_MAX + 1, "nick:%s", low);
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
