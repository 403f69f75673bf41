// Command wispd-init is the init of Wisp's containers and nothing else:
// libcontainer's container-side setup (namespaces, mounts, cgroups,
// security settings) before it executes the action loop. wispd runs it in
// place of itself when it is installed beside wispd ("go tool task build"
// puts it there; see wispd's --init-helper), because its Go runtime starts
// in less time than wispd's: every cold container start is about 5 ms
// shorter (docs/rationale.md). It must come from the same source as wispd,
// built with -tags seccomp; wispd checks its libcontainer version and
// build settings before using it. It is never run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/wispfaas/wisp/containerrt/container"
)

// announce, when set at build time (-ldflags "-X main.announce=TEXT"), is
// written to stderr before the init: Wisp's tests read it in the
// container's log to see that the helper, not the binary that started the
// container, was its init.
var announce string

func main() {
	if announce != "" && len(os.Args) > 1 && os.Args[1] == "init" {
		fmt.Fprintln(os.Stderr, announce)
	}
	container.MaybeInit() // does not return when run as a container's init
	fmt.Fprintln(os.Stderr, "wispd-init is the init of Wisp's containers, which wispd starts in place of itself; it is not run by hand (see wispd --help, --init-helper)")
	os.Exit(2)
}
