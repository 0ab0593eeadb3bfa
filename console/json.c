/* The console's conversions: msgpack values to JSON (inspect output, trace payloads), JSON to
 * msgpack (`send`), and the text rendering of a reply document: tables for lists of objects,
 * "key: value" lines for objects, one line per string of a list of strings. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "actors/remote.h"
#include "console/console.h"

json_t *tr__json_pid(tr_pid_t pid) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%" PRIx64, pid.id);
  return json_string(buf);
}

json_t *tr__json_addr(tr_system_t *sys, uint64_t id) {
  tr_pid_t pid = {id};
  if (!tr__pid_remote(pid))
    return tr__json_pid(pid);
  char node[TR_NODE_NAME_MAX + 1], buf[24 + TR_NODE_NAME_MAX];
  tr_pid_node_name(sys, pid, node);
  uint64_t local =
      tr__pid_make(0, (uint32_t)(id >> TR_PID_SLOT_BITS) & ((1u << TR_PID_GEN_BITS) - 1),
                   tr__pid_slot(pid))
          .id;
  snprintf(buf, sizeof buf, "0x%" PRIx64 "@%s", local, node[0] ? node : "?");
  return json_string(buf);
}

static json_t *hex(const void *data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  char *buf = malloc(2 * len + 3);
  if (!buf)
    return NULL;
  const unsigned char *p = data;
  buf[0] = '0';
  buf[1] = 'x';
  for (size_t i = 0; i < len; i++) {
    buf[2 + 2 * i] = digits[p[i] >> 4];
    buf[3 + 2 * i] = digits[p[i] & 15];
  }
  buf[2 + 2 * len] = '\0';
  json_t *j = json_string(buf);
  free(buf);
  return j;
}

/* Text that is not valid UTF-8 is shown as hex, so every reply is valid JSON. */
json_t *tr__json_bytes(const void *p, size_t len) {
  json_t *j = json_stringn(p, len);
  return j ? j : hex(p, len);
}

static json_t *from_object(const msgpack_object *o, int depth);

static json_t *from_map(const msgpack_object_map *m, int depth) {
  json_t *j = json_object();
  for (uint32_t i = 0; j && i < m->size; i++) {
    const msgpack_object *k = &m->ptr[i].key;
    json_t *v = from_object(&m->ptr[i].val, depth + 1);
    char key[256];
    if (k->type == MSGPACK_OBJECT_STR) {
      size_t n = k->via.str.size < sizeof key - 1 ? k->via.str.size : sizeof key - 1;
      memcpy(key, k->via.str.ptr, n);
      key[n] = '\0';
    } else {
      json_t *kj = from_object(k, depth + 1);
      char *d = kj ? json_dumps(kj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
      snprintf(key, sizeof key, "%s", d ? d : "?");
      free(d);
      json_decref(kj);
    }
    json_object_set_new(j, key, v ? v : json_null());
  }
  return j;
}

static json_t *from_object(const msgpack_object *o, int depth) {
  if (depth > (int)TR_LIMIT_DEFAULT_DEPTH)
    return json_null();
  switch (o->type) {
  case MSGPACK_OBJECT_BOOLEAN:
    return json_boolean(o->via.boolean);
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    return o->via.u64 > INT64_MAX ? json_real((double)o->via.u64)
                                  : json_integer((json_int_t)o->via.u64);
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return json_integer((json_int_t)o->via.i64);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return json_real(o->via.f64);
  case MSGPACK_OBJECT_STR:
    return tr__json_bytes(o->via.str.ptr, o->via.str.size);
  case MSGPACK_OBJECT_BIN:
    return hex(o->via.bin.ptr, o->via.bin.size);
  case MSGPACK_OBJECT_ARRAY: {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < o->via.array.size; i++)
      json_array_append_new(a, from_object(&o->via.array.ptr[i], depth + 1));
    return a;
  }
  case MSGPACK_OBJECT_MAP:
    return from_map(&o->via.map, depth);
  default:
    return json_null(); /* nil, ext */
  }
}

json_t *tr__json_from_msgpack(const void *data, size_t len) {
  msgpack_zone zone;
  if (!msgpack_zone_init(&zone, 1024))
    return NULL;
  msgpack_object o;
  json_t *j = NULL;
  if (tr_msgpack_parse(data, len, NULL, &zone, &o) == 0)
    j = from_object(&o, 0);
  msgpack_zone_destroy(&zone);
  return j;
}

static int pack(const json_t *j, msgpack_packer *pk, int depth) {
  if (depth > (int)TR_LIMIT_DEFAULT_DEPTH)
    return TR_EINVAL;
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    msgpack_pack_map(pk, json_object_size(j));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
      msgpack_pack_str_with_body(pk, k, strlen(k));
      if (pack(v, pk, depth + 1) != 0)
        return TR_EINVAL;
    }
    return 0;
  }
  case JSON_ARRAY: {
    msgpack_pack_array(pk, json_array_size(j));
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) {
      if (pack(v, pk, depth + 1) != 0)
        return TR_EINVAL;
    }
    return 0;
  }
  case JSON_STRING:
    return msgpack_pack_str_with_body(pk, json_string_value(j), json_string_length(j));
  case JSON_INTEGER:
    return msgpack_pack_int64(pk, json_integer_value(j));
  case JSON_REAL:
    return msgpack_pack_double(pk, json_real_value(j));
  case JSON_TRUE:
    return msgpack_pack_true(pk);
  case JSON_FALSE:
    return msgpack_pack_false(pk);
  default:
    return msgpack_pack_nil(pk);
  }
}

int tr__json_to_msgpack(const json_t *j, msgpack_sbuffer *sb) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  return pack(j, &pk, 0) == 0 ? 0 : TR_EINVAL;
}

/* ---- text rendering ---- */

typedef struct {
  char *buf;
  size_t len, cap;
  bool ok;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
  if (!o->ok)
    return;
  if (o->len + n + 1 > o->cap) {
    size_t cap = (o->cap ? o->cap : 256) * 2;
    while (cap < o->len + n + 1)
      cap *= 2;
    char *b = realloc(o->buf, cap);
    if (!b) {
      o->ok = false;
      return;
    }
    o->buf = b;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len] = '\0';
}

static void puts_(out_t *o, const char *s) { put(o, s, strlen(s)); }

/* One line, dot-stuffed. */
static void line(out_t *o, const char *s) {
  if (s[0] == '.')
    put(o, ".", 1);
  puts_(o, s);
  put(o, "\n", 1);
}

/* A scalar as text ("-" for null); compound values as compact JSON. Caller frees. */
static char *cell(const json_t *v) {
  if (json_is_string(v))
    return strdup(json_string_value(v));
  if (!v || json_is_null(v))
    return strdup("-");
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static bool is_table(const json_t *v) {
  return json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0));
}

/* A list of objects as a table with a header row; columns from the first object's keys. */
static void table(out_t *o, const json_t *rows) {
  const json_t *first = json_array_get(rows, 0);
  size_t ncol = json_object_size(first), nrow = json_array_size(rows);
  const char **keys = calloc(ncol ? ncol : 1, sizeof *keys);
  size_t *w = calloc(ncol ? ncol : 1, sizeof *w);
  if (!keys || !w) {
    o->ok = false;
    free(keys);
    free(w);
    return;
  }
  size_t c = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)first, k, v) {
    keys[c] = k;
    w[c++] = strlen(k);
  }
  for (size_t r = 0; r < nrow; r++)
    for (c = 0; c < ncol; c++) {
      char *t = cell(json_object_get(json_array_get(rows, r), keys[c]));
      if (t && strlen(t) > w[c])
        w[c] = strlen(t);
      free(t);
    }
  for (size_t r = 0; r <= nrow; r++) {
    out_t l = {.ok = true};
    for (c = 0; c < ncol; c++) {
      char *t =
          r == 0 ? strdup(keys[c]) : cell(json_object_get(json_array_get(rows, r - 1), keys[c]));
      char pad[8];
      snprintf(pad, sizeof pad, "%s", c + 1 < ncol ? "  " : "");
      puts_(&l, t ? t : "?");
      for (size_t n = t ? strlen(t) : 1; c + 1 < ncol && n < w[c]; n++)
        put(&l, " ", 1);
      puts_(&l, pad);
      free(t);
    }
    if (l.ok && l.buf)
      line(o, l.buf);
    free(l.buf);
  }
  free(keys);
  free(w);
}

static void render(out_t *o, const json_t *doc) {
  if (is_table(doc)) {
    table(o, doc);
  } else if (json_is_array(doc)) {
    size_t i;
    json_t *v;
    json_array_foreach(doc, i, v) {
      char *t = cell(v);
      if (t)
        line(o, t);
      free(t);
    }
  } else if (json_is_object(doc)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v) {
      if (strcmp(k, "message") == 0 || json_is_array(v)) {
        render(o, v); /* lists and messages stand on their own lines */
        continue;
      }
      char *t = cell(v);
      out_t l = {.ok = true};
      puts_(&l, k);
      puts_(&l, ": ");
      puts_(&l, t ? t : "?");
      if (l.ok)
        line(o, l.buf);
      free(l.buf);
      free(t);
    }
  } else {
    char *t = cell(doc);
    if (t)
      line(o, t);
    free(t);
  }
}

char *tr__json_render_text(const json_t *doc) {
  out_t o = {.ok = true};
  put(&o, "", 0);
  render(&o, doc);
  if (!o.ok) {
    free(o.buf);
    return NULL;
  }
  return o.buf;
}

json_t *tr__json_trace_event(tr_system_t *sys, const tr_msg_t *m) {
  (void)sys;
  size_t len;
  const void *data = tr_msg_data(m, &len);
  const char *dir, *tag, *bin;
  size_t dlen, tlen, blen;
  tr_pid_t actor, peer;
  uint64_t total;
  if (!data || tr_unpack(data, len, NULL, "[sppsxu]", &dir, &dlen, &actor, &peer, &tag, &tlen, &bin,
                         &blen, &total) != 0)
    return NULL;
  /* The payload as JSON when the bytes kept are the whole of it, else as hex. */
  json_t *d = blen == total && blen ? tr__json_from_msgpack(bin, blen) : NULL;
  if (!d)
    d = hex(bin, blen);
  return json_pack("{s:{s:s%,s:o,s:o,s:s%,s:I,s:o}}", "trace", "dir", dir, dlen, "actor",
                   tr__json_pid(actor), "peer", tr__json_pid(peer), "tag", tag, tlen, "len",
                   (json_int_t)total, "data", d);
}
