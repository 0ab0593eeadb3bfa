/* Socket addresses as text: what the console and the connection messages show, the
 * literals that tr_listen and tr_dial take, and the servers' HOST:PORT specs. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

void tr__net_addr_text(const struct sockaddr *sa, char out[TR_ADDR_MAX]) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, ip, sizeof ip);
    snprintf(out, TR_ADDR_MAX, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, ip, sizeof ip);
    snprintf(out, TR_ADDR_MAX, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  } else {
    snprintf(out, TR_ADDR_MAX, "?");
  }
}

int tr__net_parse_addr(const char *host, uint16_t port, struct sockaddr_storage *out) {
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(host);
  if (n >= sizeof buf)
    return TR_EINVAL;
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') { /* "[::1]" */
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    host = buf;
  }
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
    return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
    return 0;
  return TR_EINVAL;
}

int tr__net_split_spec(const char *spec, char addr[TR_ADDR_MAX], uint16_t *port) {
  if (!spec)
    return TR_EINVAL;
  snprintf(addr, TR_ADDR_MAX, "127.0.0.1");
  const char *colon = strrchr(spec, ':'), *port_text = spec;
  if (colon) {
    const char *a = spec, *end = colon;
    if (*a == '[' && end > a && end[-1] == ']') { /* [v6]:port */
      a++;
      end--;
    }
    size_t n = (size_t)(end - a);
    if (n == 0 || n >= TR_ADDR_MAX)
      return TR_EINVAL;
    memcpy(addr, a, n);
    addr[n] = '\0';
    port_text = colon + 1;
  }
  char *stop;
  unsigned long p = strtoul(port_text, &stop, 10);
  if (!*port_text || *stop || p > 65535 || *port_text == '-' || *port_text == '+')
    return TR_EINVAL;
  *port = (uint16_t)p;
  return 0;
}
