/* The system as a program sees it: tr_system_new, tr_system_stop and tr_system_free put the
 * layers together (docs/architecture.md). The actor layer comes first, with its workers; then
 * the I/O thread, the clock that timers/ installs into the actor layer, and the net layer's
 * part of the loop. Stopping runs the other way: every actor exits first (their sockets and
 * timers with them), then the I/O thread stops, then the workers.
 *
 * This is the one place that names every layer, and it sits above them all, so that no
 * layer has to reach up to start the ones above it. */
#include <stdlib.h>

#include "io/io.h"
#include "net/net.h"
#include "timers/timer.h"

static int start_io(tr_system_t *sys) {
  tr_io_t *io = calloc(1, sizeof *io);
  if (!io)
    return TR_ENOMEM;
  int rc = tr__io_start(sys, io, tr__system_io_record(sys));
  if (rc != 0) {
    free(io);
    return rc;
  }
  sys->io = io;
  return 0;
}

int tr_system_new(const tr_config_t *cfg, tr_system_t **out) {
  if (!out)
    return TR_EINVAL;
  tr_system_t *sys;
  int rc = tr__system_create(cfg, &sys);
  if (rc != 0)
    return rc;
  tr__timers_install(sys);
  if ((rc = start_io(sys)) == 0)
    rc = tr__net_attach(sys);
  if (rc != 0) {
    tr_system_free(sys);
    return rc;
  }
  *out = sys;
  return 0;
}

void tr_system_stop(tr_system_t *sys) {
  if (!tr__system_begin_stop(sys))
    return; /* stopping or stopped already */
  tr__system_stop_actors(sys);
  if (sys->io)
    tr__io_stop(sys->io);
  tr__system_end_stop(sys);
}

void tr_system_free(tr_system_t *sys) {
  if (!sys)
    return;
  if (!tr__system_stopped(sys))
    tr_system_stop(sys);
  free(sys->io);
  sys->io = NULL;
  tr__system_destroy(sys);
}
