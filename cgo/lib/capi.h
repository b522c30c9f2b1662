/* Internal to libexitsnoop.a: shared by exitsnoop.c and the Go exports (main.go). */
#ifndef EXITSNOOP_CAPI_H
#define EXITSNOOP_CAPI_H

#include <stddef.h>

/* Modes of exitsnoop__go_open. */
enum {
	EXITSNOOP__OPEN = 1,           /* exitsnoop.Open(Options) */
	EXITSNOOP__OPEN_PINNED = 2,    /* exitsnoop.NewStore(root) */
	EXITSNOOP__ATTACH_PRIVATE = 3, /* exitsnoop.NewStoreFromAttach() */
};

/* Sets the calling thread's last error message (copied; msg need not end in NUL). */
void exitsnoop__set_error(const char *msg, size_t len);

#endif
