/* Socket addresses as text: what the console and the connection messages show, and the
 * literals that tr_listen and tr_dial take. */
#include <arpa/inet.h>
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
