/* tr_version and tr_version_number: the version macros as they were when this library was
 * compiled, so that a program sees the library it runs with, not its own headers'. */
#include "troupe/version.h"

const char *tr_version(void) { return TR_VERSION_STRING; }

unsigned tr_version_number(void) { return TR_VERSION_NUMBER; }
