/* The configuration of a node: defaults, the environment, checks, and the cookie (given,
 * read from a file, or created once with 32 bytes from the system's generator). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "net/net.h"

void tr_cluster_config_init(tr_cluster_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->name = getenv("TROUPE_NODE");
  cfg->listen = getenv("TROUPE_LISTEN");
  cfg->seeds = getenv("TROUPE_SEEDS");
  cfg->cookie_file = getenv("TROUPE_COOKIE_FILE");
}

bool tr__node_name_ok(const char *s, size_t len) {
  if (len == 0 || len > TR_NODE_NAME_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return false;
  }
  return true;
}

/* "host:port" or "[v6]:port" into host (brackets kept) and port. */
int tr__split_host_port(const char *s, size_t len, char *host, size_t hcap, uint16_t *port) {
  const char *colon = NULL;
  for (size_t i = 0; i < len; i++)
    if (s[i] == ':')
      colon = s + i;
  if (!colon || colon == s || (size_t)(colon - s) >= hcap)
    return TR_EINVAL;
  if (s[0] == '[' ? colon[-1] != ']' : memchr(s, ':', (size_t)(colon - s)) != NULL)
    return TR_EINVAL; /* an IPv6 literal wants its brackets: "::1:80" is ambiguous */
  const char *p = colon + 1, *end = s + len;
  if (p == end || end - p > 5)
    return TR_EINVAL;
  unsigned v = 0;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9')
      return TR_EINVAL;
    v = v * 10 + (unsigned)(*p - '0');
  }
  if (v > 65535)
    return TR_EINVAL;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  *port = (uint16_t)v;
  return 0;
}

/* Read a cookie file: the whole file is the secret (a trailing newline is not part of it,
 * so a file written with echo works). */
static int read_cookie(const char *path, uint8_t *buf, size_t cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n == cap) {
      close(fd);
      return -EFBIG;
    }
  }
  close(fd);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    n--;
  *len = n;
  return 0;
}

/* ~/.troupe/cookie, created with 32 random bytes (hex, so it can be copied to other
 * machines as text) and mode 0400 when it does not exist. */
static int default_cookie(uint8_t *buf, size_t cap, size_t *len) {
  const char *home = getenv("HOME");
  if (!home || !*home) {
    tr_log(TR_LOG_ERROR, "cluster: no cookie given and HOME is not set for ~/.troupe/cookie");
    return TR_ESYS;
  }
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/.troupe", home);
  snprintf(path, sizeof path, "%s/cookie", dir);
  int rc = read_cookie(path, buf, cap, len);
  if (rc == 0)
    return 0;
  if (rc != -ENOENT) {
    tr_log(TR_LOG_ERROR, "cluster: cannot read %s: %s", path, strerror(-rc));
    return TR_ESYS;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    tr_log(TR_LOG_ERROR, "cluster: cannot create %s: %s", dir, strerror(errno));
    return TR_ESYS;
  }
  uint8_t raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  /* O_EXCL: of two nodes starting at once, one writes and the other reads what it wrote. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
  if (fd < 0 && errno == EEXIST) {
    usleep(50 * 1000);
    return read_cookie(path, buf, cap, len) == 0 ? 0 : TR_ESYS;
  }
  if (fd < 0 || write(fd, hex, 64) != 64 || fsync(fd) != 0) {
    tr_log(TR_LOG_ERROR, "cluster: cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return TR_ESYS;
  }
  close(fd);
  tr_log(TR_LOG_INFO, "cluster: created a new cookie in %s (copy it to every node)", path);
  memcpy(buf, hex, 64);
  *len = 64;
  return 0;
}

static int make_key(tr_cluster_t *cl, const tr_cluster_config_t *cfg) {
  uint8_t buf[4096];
  size_t len = 0;
  if (cfg->cookie) {
    if (cfg->cookie_len > sizeof buf)
      return TR_EINVAL;
    memcpy(buf, cfg->cookie, cfg->cookie_len);
    len = cfg->cookie_len;
  } else if (cfg->cookie_file && *cfg->cookie_file) {
    int rc = read_cookie(cfg->cookie_file, buf, sizeof buf, &len);
    if (rc != 0) {
      tr_log(TR_LOG_ERROR, "cluster: cannot read the cookie file %s: %s", cfg->cookie_file,
             rc == -EFBIG ? "larger than 4 KiB" : strerror(-rc));
      return TR_ESYS;
    }
  } else {
    int rc = default_cookie(buf, sizeof buf, &len);
    if (rc != 0)
      return rc;
  }
  if (len < TR_COOKIE_MIN) {
    tr_log(TR_LOG_ERROR, "cluster: the cookie has %zu bytes; at least %u are required", len,
           TR_COOKIE_MIN);
    sodium_memzero(buf, sizeof buf);
    return TR_EINVAL;
  }
  crypto_hash_sha256(cl->key, buf, len);
  sodium_memzero(buf, sizeof buf);
  return 0;
}

int tr__cluster_configure(tr_cluster_t *cl, const tr_cluster_config_t *cfg) {
  if (!cfg->name || !tr__node_name_ok(cfg->name, strlen(cfg->name))) {
    tr_log(TR_LOG_ERROR, "cluster: the node name must be 1-%d bytes of [A-Za-z0-9_.-]",
           TR_NODE_NAME_MAX);
    return TR_EINVAL;
  }
  cl->name_len = strlen(cfg->name);
  memcpy(cl->name, cfg->name, cl->name_len + 1);
  const char *listen = cfg->listen && *cfg->listen ? cfg->listen : "127.0.0.1:0";
  struct sockaddr_storage ss;
  if (tr__split_host_port(listen, strlen(listen), cl->listen_host, sizeof cl->listen_host,
                          &cl->listen_port) != 0 ||
      tr__net_parse_addr(cl->listen_host, cl->listen_port, &ss) != 0) {
    tr_log(TR_LOG_ERROR, "cluster: bad listen address \"%s\" (want IP:port)", listen);
    return TR_EINVAL;
  }
  cl->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 500;
  cl->down_after_ms = cfg->down_after_ms ? cfg->down_after_ms : 2500;
  cl->backoff_base_ms = cfg->backoff_base_ms ? cfg->backoff_base_ms : 100;
  cl->backoff_cap_ms = cfg->backoff_cap_ms ? cfg->backoff_cap_ms : 5000;
  cl->stall_ms = cfg->stall_ms ? cfg->stall_ms : 10000;
  cl->busy_bytes = cfg->busy_bytes ? cfg->busy_bytes : (size_t)1 << 20;
  cl->max_queue_bytes = cfg->max_queue_bytes ? cfg->max_queue_bytes : (size_t)64 << 20;
  cl->max_nodes = cfg->max_nodes ? cfg->max_nodes : TR_CLUSTER_NODES_DEFAULT;
  if (cl->down_after_ms <= cl->heartbeat_ms || cl->backoff_cap_ms < cl->backoff_base_ms ||
      cl->max_queue_bytes < cl->busy_bytes || cl->max_nodes > TR_NODES_MAX) {
    tr_log(TR_LOG_ERROR,
           "cluster: inconsistent knobs (down_after_ms must exceed heartbeat_ms, "
           "backoff_cap_ms backoff_base_ms, max_queue_bytes busy_bytes; "
           "max_nodes at most %u)",
           TR_NODES_MAX);
    return TR_EINVAL;
  }
  return make_key(cl, cfg);
}
