/* Private: the I/O thread's side of timers (timer.c). The actor's side is declared in
 * actors/actor.h, where the turn calls it. */
#ifndef TR_TIMERS_TIMER_H
#define TR_TIMERS_TIMER_H

#include "net/io.h"

/* I/O thread: send every timer that is due, re-queue intervals. */
void tr__timers_expire(tr_io_t *io);
/* After the I/O thread stopped: free every pending timer. */
void tr__timers_discard_all(tr_io_t *io);

#endif
