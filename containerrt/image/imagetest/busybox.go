package imagetest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
)

// BusyboxPath is where Debian's busybox-static puts its executable
// (scripts/deps.sh installs it).
const BusyboxPath = "/bin/busybox"

// LoopScript is the action loop of the busybox image, at /wisp/loop.sh. It
// answers init with {"ok": true}; it answers every run line with
// {"blackbox": true, "greeting": $GREETING, "request": <the run line>},
// after writing one log line to stdout and one to stderr; a run whose line
// holds "exit": makes it exit with status 3, and "sleep": N makes it sleep
// N seconds before answering. Sentinels close every reply's logs.
const LoopScript = `#!/bin/sh
# The action loop of Wisp's blackbox test image (containerrt/image/imagetest).
end() {
	echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
	echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX >&2
}
IFS= read -r init || exit 1
echo "blackbox: init"
printf '{"ok": true}\n' >&3
end
while IFS= read -r line; do
	case "$line" in
	*'"exit":'*)
		echo "blackbox: exiting as asked" >&2
		exit 3
		;;
	*'"sleep":'*)
		secs=$(echo "$line" | sed -n 's/.*"sleep": *\([0-9][0-9]*\).*/\1/p')
		sleep "${secs:-1}"
		;;
	esac
	echo "blackbox: run on stdout"
	echo "blackbox: run on stderr" >&2
	printf '{"blackbox": true, "greeting": "%s", "request": %s}\n' "$GREETING" "$line" >&3
	end
done
`

// BusyboxApplets are the busybox applets linked in the image's /bin.
var BusyboxApplets = []string{"sh", "cat", "echo", "env", "false", "id", "ls", "printf", "sed", "sleep", "true"}

// Busybox returns a two-layer image: Debian's static busybox with its
// applets in /bin, then /wisp/loop.sh (LoopScript), run as
// ["/bin/sh", "/wisp/loop.sh"] in /wisp with GREETING set. It fails if
// busybox is not installed or is not statically linked (the busybox
// package instead of busybox-static).
func Busybox() (Image, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return Image{}, fmt.Errorf("read busybox (apt-get install busybox-static): %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(bb))
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", BusyboxPath, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return Image{}, fmt.Errorf("%s is dynamically linked: install busybox-static", BusyboxPath)
		}
	}
	base := []Entry{Dir("bin"), {Name: "bin/busybox", Mode: 0o755, Body: bb}, Dir("tmp"), Dir("etc"),
		File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
		File("etc/group", "root:x:0:\nnogroup:x:65534:\n")}
	base[2].Mode = 0o1777
	for _, a := range BusyboxApplets {
		base = append(base, Symlink("bin/"+a, "busybox"))
	}
	loop := []Entry{Dir("wisp"), {Name: "wisp/loop.sh", Mode: 0o755, Body: []byte(LoopScript)}}
	return Image{
		Layers:     []Layer{{Entries: base}, {Entries: loop}},
		Entrypoint: []string{"/bin/sh", "/wisp/loop.sh"},
		Env:        []string{"GREETING=hello from busybox"},
		WorkingDir: "/wisp",
	}, nil
}

// WriteBusyboxDockerSave writes the Busybox image as a classic docker save
// tarball.
func WriteBusyboxDockerSave(w io.Writer) error {
	img, err := Busybox()
	if err != nil {
		return err
	}
	f, err := img.DockerSave()
	if err != nil {
		return err
	}
	return f.WriteTar(w)
}
