/* Private: what runtime/ needs of timers/ (timer.c). */
#ifndef TR_TIMERS_TIMER_H
#define TR_TIMERS_TIMER_H

#include "actors/actor.h"

/* Install the clock that the actor layer's requests, receive timeouts and owned timers run on
 * (actors/clock.h): entries in the I/O thread's heap. Before any actor runs. */
void tr__timers_install(tr_system_t *sys);

#endif
