/* troupe: actors with lock-free mailboxes on a work-stealing pool, libuv for sockets and
 * timers, msgpack messages. This umbrella header includes the whole public API. */
#ifndef TROUPE_H
#define TROUPE_H

#include "troupe/common.h"
#include "troupe/version.h"
#include "troupe/error.h"
#include "troupe/msg.h"
#include "troupe/actor.h"
#include "troupe/group.h"
#include "troupe/timer.h"
#include "troupe/net.h"
#include "troupe/cluster.h"
#include "troupe/supervisor.h"
#include "troupe/console.h"
#include "troupe/metrics.h"
#include "troupe/log.h"

#endif
