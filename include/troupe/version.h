/* The version of troupe: the macros give the headers a program was compiled with,
 * tr_version and tr_version_number the library it runs with (which, with a shared
 * libtroupe.so.0, may be a newer 0.x than the headers). Compare the two to tell them apart.
 *
 * The three numbers are those of the CMake project (project(troupe VERSION ...)); CMake's
 * configure step fails when they differ. The library's soname is libtroupe.so.MAJOR. */
#ifndef TROUPE_VERSION_H
#define TROUPE_VERSION_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_VERSION_MAJOR 0 /* changes that break the ABI (libtroupe.so.MAJOR) */
#define TR_VERSION_MINOR 1 /* additions */
#define TR_VERSION_PATCH 0 /* fixes */

#define TR__VERSION_STR(x) #x
#define TR__VERSION_XSTR(x) TR__VERSION_STR(x)
/* "MAJOR.MINOR.PATCH", e.g. "0.1.0". */
#define TR_VERSION_STRING                                                                          \
  TR__VERSION_XSTR(TR_VERSION_MAJOR)                                                               \
  "." TR__VERSION_XSTR(TR_VERSION_MINOR) "." TR__VERSION_XSTR(TR_VERSION_PATCH)
/* One number that orders versions, usable in #if: MAJOR << 16 | MINOR << 8 | PATCH
 * (0x000100 for 0.1.0). */
#define TR_VERSION_NUMBER ((TR_VERSION_MAJOR << 16) | (TR_VERSION_MINOR << 8) | TR_VERSION_PATCH)

/* The version of the library linked in, as TR_VERSION_STRING was when it was built: a
 * static string that the library owns, valid for the life of the process (never free it).
 * Any thread, at any time (before tr_system_new too); does not block, cannot fail. */
TR_API const char *tr_version(void);

/* The same as one number, as TR_VERSION_NUMBER was when the library was built. Any thread,
 * at any time; does not block, cannot fail. */
TR_API unsigned tr_version_number(void);

#ifdef __cplusplus
}
#endif
#endif
