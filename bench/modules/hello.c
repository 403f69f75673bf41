// hello.c: the minimal Wasm action for the benchmark, a WASI command.
// It reads the parameters (a JSON object on stdin) and writes one JSON
// object on stdout. It does as little as a real action can, so that the
// benchmark measures Wisp, not the action.
#include <stdio.h>
#include <unistd.h>

int main(void) {
	char buf[4096];
	while (read(0, buf, sizeof buf) > 0) {
		// the parameters are not used; drain them as an action would read them
	}
	static const char out[] = "{\"greeting\":\"Hello, world!\"}\n";
	return write(1, out, sizeof out - 1) == sizeof out - 1 ? 0 : 1;
}
