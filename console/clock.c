/* The console's coarse clock: while a console runs, the I/O thread writes the milliseconds
 * since the system started into sys->coarse_ms every millisecond, and the actor layer stamps
 * turns and wake-ups with it (actors/actor.h), which gives the console's ages (running_ms,
 * waiting_ms) without a clock read per turn. It is the console's own part of the loop
 * (io/io.h), attached by the first tr_console_start; without a console nothing ticks. */
#include "console/console.h"
#include "io/io.h"

/* The clock's period: the resolution of the ages the console shows. */
#define CLOCK_TICK_MS 1u

typedef struct {
  tr_system_t *sys;
  uv_timer_t tick;
} coarse_t;

static void on_tick(uv_timer_t *t) {
  coarse_t *c = t->data;
  uint64_t ms = (tr__now_ns() - c->sys->start_ns) / 1000000u;
  /* relaxed: an estimate that orders nothing; read at turn starts, by waking senders and by
   * tr_actor_info (actor.h, coarse_ms). */
  atomic_store_explicit(&c->sys->coarse_ms, (uint32_t)ms, memory_order_relaxed);
}

static void *create(tr_io_t *io) {
  coarse_t *c = calloc(1, sizeof *c);
  if (c)
    c->sys = io->sys;
  return c;
}

static int start(tr_io_t *io, void *state) {
  coarse_t *c = state;
  uv_timer_init(&io->loop, &c->tick);
  c->tick.data = c;
  on_tick(&c->tick);
  uv_timer_start(&c->tick, on_tick, CLOCK_TICK_MS, CLOCK_TICK_MS);
  return 0;
}

/* The loop's last run closes the tick handle with every other; nothing else to let go. */
static void discard(tr_io_t *io, void *state) {
  (void)io;
  (void)state;
}

static void destroy(tr_io_t *io, void *state) {
  (void)io;
  free(state);
}

static const tr_io_part_t clock_part = {
    .name = "console clock", .create = create, .start = start, .discard = discard, .free = destroy};

int tr__console_clock_start(tr_system_t *sys) {
  void *state;
  int rc = tr__io_attach(sys->io, &clock_part, &state);
  if (rc == 0) /* relaxed: tells tr_actor_info that the ages mean something */
    atomic_store_explicit(&sys->clock_on, true, memory_order_relaxed);
  return rc;
}
