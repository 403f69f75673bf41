package container

// The C half of the init helper (see ManagerConfig.InitHelper and
// inithelper.go). It must run before
// libcontainer's nsexec, which is a constructor of default priority: a
// constructor with a priority runs before those without one.

/*
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>

extern char **environ;

// wisp_exec_init_helper runs before the Go runtime of a binary re-executed
// by libcontainer as "<binary> init". When the descriptor just below
// libcontainer's init pipe is Wisp's sealed init helper, it executes the
// helper in place of this binary, with the same arguments and environment:
// the helper is this package's init alone, whose Go runtime starts in a
// fraction of the time a daemon's does. Anything unexpected leaves the init
// to this binary.
__attribute__((constructor(101))) static void wisp_exec_init_helper(void) {
	const char *pipe = getenv("_LIBCONTAINER_INITPIPE");
	if (pipe == NULL) {
		return;
	}
	char *end = NULL;
	long initpipe = strtol(pipe, &end, 10);
	if (end == pipe || *end != '\0' || initpipe < 4 || initpipe > 1024) {
		return;
	}
	int fd = (int)initpipe - 1;
	char link[64], target[256];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n < 0) {
		return;
	}
	target[n] = '\0';
	static const char want[] = "/memfd:runc_cloned:wisp-init-helper ";
	if (strncmp(target, want, sizeof want - 1) != 0) {
		return;
	}
	// The helper has this constructor too: it must not execute itself.
	char self[256];
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0) {
		return;
	}
	self[n] = '\0';
	if (strncmp(self, want, sizeof want - 1) == 0) {
		return;
	}
	char *argv[] = {"wisp-init-helper", "init", NULL};
	fexecve(fd, argv, environ);
	// Failed: this binary does the init itself.
}
*/
import "C"
