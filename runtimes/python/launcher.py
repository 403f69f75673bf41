"""Wisp's action loop for the python:3 runtime (docs/container-protocol.md).

Runs as /usr/bin/python3 -u /wisp/launcher.py inside the container. It
reads one JSON message per line on stdin: first an init message, which loads
the action's code once, then one run message per activation. Each reply is
one JSON line on file descriptor 3; after each reply the sentinel line closes
the activation's logs on stdout and on stderr.

Standard library only. The action directory is /action; WISP_ACTION_DIR
overrides it for Wisp's own tests, which run this file on the host.
"""

import importlib.util
import io
import json
import os
import sys

# glob, site and traceback are imported where used: a cold start pays for
# every module the launcher imports, and most activations need none of them.

SENTINEL = b"XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"


def _reply_fd():
    """Moves the reply pipe off fd 3 to a descriptor the action cannot guess.

    The copy is not inheritable (os.dup's default), so neither the action
    nor a process it starts can write on the reply pipe by accident; a file
    the action opens may then get fd 3, which is harmless.
    """
    try:
        fd = os.dup(3)
    except OSError as e:
        sys.stderr.write("wisp launcher: file descriptor 3 (the reply pipe) is not open: %s\n" % e)
        sys.exit(1)
    os.close(3)
    return fd


class _Tracked:
    """Wraps sys.stdout or sys.stderr to know whether the last character
    written through it ended a line, so that the sentinel always starts a
    line of its own even after print("...", end="")."""

    def __init__(self, stream):
        self._stream = stream
        self.at_line_start = True

    def write(self, s):
        n = self._stream.write(s)
        if s:
            self.at_line_start = s.endswith("\n")
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


class Launcher:
    """Loads an action once and serves its activations."""

    def __init__(self, reply_fd, action_dir):
        self.reply_fd = reply_fd
        self.action_dir = action_dir
        self.main = None
        self.env_keys = set()
        self.out = _Tracked(sys.stdout)
        self.err = _Tracked(sys.stderr)
        sys.stdout, sys.stderr = self.out, self.err

    def reply(self, obj):
        """Writes obj as one line on the reply pipe, then the sentinels."""
        try:
            line = json.dumps(obj, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as e:
            line = json.dumps({"error": "the action's result cannot be encoded as JSON: %s" % e})
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800") has no UTF-8 form: escape it, as
            # JSON allows, and everything else with it.
            data = json.dumps(json.loads(line)).encode("ascii")
        _write_all(self.reply_fd, data + b"\n")
        self.end_logs()

    def end_logs(self):
        """Flushes what the action wrote and closes its logs with the sentinels."""
        for tracked, fd in ((self.out, 1), (self.err, 2)):
            # The action may have replaced sys.stdout/sys.stderr; flush both
            # the streams it sees and ours, then write past any buffer.
            for s in {id(x): x for x in (sys.stdout, sys.stderr, tracked)}.values():
                try:
                    s.flush()
                except Exception:  # a stream the action broke must not stop the loop
                    pass
            _write_all(fd, SENTINEL if tracked.at_line_start else b"\n" + SENTINEL)
            tracked.at_line_start = True

    def init(self, msg):
        """Loads the action's code; returns the reply."""
        if self.main is not None:
            return {"error": "the action is already initialized: init came twice"}
        name = msg.get("main") or "main"
        if not isinstance(name, str) or not name.isidentifier():
            return {"error": "the main function's name %r is not a Python identifier" % (name,)}
        env = msg.get("env") or {}
        if not isinstance(env, dict):
            return {"error": "init's env is not an object"}
        for k, v in env.items():
            os.environ[str(k)] = v if isinstance(v, str) else json.dumps(v)

        entry = msg.get("entry") or ""
        if msg.get("binary") or not entry:
            entry = os.path.join(self.action_dir, "__main__.py")
            if not os.path.isfile(entry):
                return {"error": "the zip file has no __main__.py at its top level"}
            import glob
            import site

            for sp in sorted(glob.glob(os.path.join(self.action_dir, "virtualenv", "lib", "python3*", "site-packages"))):
                # addsitedir also reads the .pth files that packages install.
                before = list(sys.path)
                site.addsitedir(sp)
                added = [p for p in sys.path if p not in before]
                sys.path[:] = added + before
        elif not os.path.isfile(entry):
            return {"error": "the action's code is missing: %s does not exist" % entry}
        # The action's own modules come first (as in OpenWhisk); the
        # launcher's directory is not on the path, so it shadows nothing.
        sys.path.insert(0, self.action_dir)
        try:
            os.chdir(self.action_dir)
        except OSError:
            pass

        rel = os.path.relpath(entry, self.action_dir)
        try:
            # "main__", as OpenWhisk names the action's module, so that an
            # `if __name__ == "__main__":` block (a local test) does not run.
            spec = importlib.util.spec_from_file_location("main__", entry)
            module = importlib.util.module_from_spec(spec)
            sys.modules["main__"] = module
            spec.loader.exec_module(module)
        except SyntaxError as e:
            _print_exc()
            where = os.path.relpath(e.filename, self.action_dir) if e.filename else rel
            return {"error": "syntax error in %s line %s: %s" % (where, e.lineno, e.msg)}
        except Exception as e:
            _print_exc()
            return {"error": "loading %s failed: %s: %s" % (rel, type(e).__name__, e)}
        fn = getattr(module, name, None)
        if fn is None:
            return {"error": "%s has no function %s: define def %s(args): ... returning a dict" % (rel, name, name)}
        if not callable(fn):
            return {"error": "%s's %s is a %s, not a function" % (rel, name, type(fn).__name__)}
        self.main = fn
        return {"ok": True}

    def set_env(self, msg):
        """Sets __OW_<KEY> for every key of the run message but value."""
        keys = set()
        for k, v in msg.items():
            if k == "value":
                continue
            key = "__OW_" + str(k).upper()
            os.environ[key] = v if isinstance(v, str) else json.dumps(v)
            keys.add(key)
        for key in self.env_keys - keys:
            os.environ.pop(key, None)
        self.env_keys = keys

    def run(self, msg):
        """Runs one activation; returns the reply."""
        if self.main is None:
            return {"error": "the action is not initialized: run came before init"}
        self.set_env(msg)
        value = msg.get("value")
        if value is None:
            value = {}
        try:
            result = self.main(value)
            if hasattr(result, "__await__") and hasattr(result, "send"):
                # async def main: run the coroutine to its end.
                import asyncio

                result = asyncio.run(result)
        except Exception as e:
            to_result = getattr(e, "wisp_result", None)
            if callable(to_result):
                # The SDK's ActionError: the action's own answer, not a crash.
                try:
                    result = to_result()
                    if isinstance(result, dict):
                        return result
                except Exception:
                    pass
            _print_exc()
            return {"error": "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__}
        if not isinstance(result, dict):
            return {"error": "the action's %s returned %s, not a dict: an action's result must be a JSON object"
                    % (getattr(self.main, "__name__", "main"), _describe(result))}
        return result

    def serve(self, stdin):
        """Reads messages until stdin ends."""
        for raw in stdin:
            raw = raw.strip()
            if not raw:
                continue
            try:
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError("a message must be a JSON object")
            except ValueError as e:
                self.reply({"error": "the launcher could not read its message: %s" % e})
                continue
            if "init" in msg:
                init = msg["init"]
                self.reply(self.init(init) if isinstance(init, dict) else {"error": "init is not an object"})
            else:
                self.reply(self.run(msg))


def _print_exc():
    import traceback

    traceback.print_exc()


def _describe(v):
    if v is None:
        return "None"
    s = repr(v)
    if len(s) > 60:
        s = s[:60] + "..."
    return "%s %s" % (type(v).__name__, s)


def main():
    reply_fd = _reply_fd()
    action_dir = os.environ.pop("WISP_ACTION_DIR", "") or "/action"
    # The launcher's own directory (/wisp) leaves the path: an action's
    # module named like one of ours must be the action's.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    # The message stream moves off fd 0 too, to a descriptor that is not
    # inherited, and fd 0 becomes /dev/null: neither the action nor a
    # process it starts (subprocess passes fd 0 on by default) can read a
    # message meant for the launcher.
    messages = open(os.dup(0), "r", encoding="utf-8", errors="surrogateescape")
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:  # no /dev/null (a bare chroot): the action's stdin is empty
        sys.stdin = io.StringIO("")
    Launcher(reply_fd, action_dir).serve(messages)


if __name__ == "__main__":
    main()
