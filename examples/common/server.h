/* What the example servers (chat, pubsub) share around main(): checking command-line
 * values, taking SIGINT/SIGTERM only where main() waits for them, announcing the listening
 * address on one stdout line, and stopping the system when a signal comes. */
#ifndef TROUPE_EXAMPLES_SERVER_H
#define TROUPE_EXAMPLES_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <troupe.h>

/* A whole decimal number in [min, max] into *out, or false. */
bool ex_number(const char *text, uint64_t min, uint64_t max, uint64_t *out);
/* An IPv4 or IPv6 literal, as tr_listen takes. */
bool ex_address(const char *text);

/* Call before any thread starts: every thread inherits the mask, so only ex_serve's
 * sigwait takes SIGINT/SIGTERM; SIGPIPE is ignored (a peer that hangs up must not kill
 * the server). */
void ex_block_stop_signals(sigset_t *stop);

/* Print "<name> listening on ADDR:PORT" as the one stdout line (and the console's port, if
 * one runs, on stderr), wait for SIGINT/SIGTERM, then stop and free the system. */
void ex_serve(const char *name, tr_system_t *sys, const char *bind, uint16_t port,
              const tr_listener_t *console, sigset_t *stop);

#endif
