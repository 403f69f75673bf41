"""Wisp's action loop for the python:3 runtime (docs/container-protocol.md).

Runs as /usr/bin/python3 -u /wisp/launcher.py inside the container. It
reads one JSON message per line on stdin: first an init message, which loads
the action's code once, then one run message per activation. Each reply is
one JSON line on file descriptor 3; after each reply the sentinel line closes
the activation's logs on stdout and on stderr.

Standard library only. The action directory is /action; WISP_ACTION_DIR
overrides it for Wisp's own tests, which run this file on the host.
"""

import io
import os
import sys

# glob, site, traceback and json are imported where used: a cold start pays
# for every module the launcher imports, and most activations need none of
# them. The runtime starts Python with -S (no site module: 5-10 ms of a
# cold start here); _no_site below puts back what an action may expect of
# it. JSON goes through json's own C accelerator, _json, directly: importing
# json imports re, enum and collections, about 15 ms of a cold start here
# (an action that imports json itself pays for it then, as in any Python).
try:
    import _json
except ImportError:  # a Python built without it: the json module then
    _json = None

SDK_DIR = "/usr/lib/python3/dist-packages"  # where the runtime puts wisp.py

SENTINEL = b"XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"


class _Decoding:
    """What _json's scanner reads of its context: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_scan = _json.make_scanner(_Decoding()) if _json else None
_WHITESPACE = " \t\n\r"


def loads(s):
    """json.loads(s) for a str, with json's C scanner when the text is valid."""
    if _scan is not None:
        i = len(s) - len(s.lstrip(_WHITESPACE))
        try:
            obj, end = _scan(s, i)
            if not s[end:].strip(_WHITESPACE):
                return obj
        except (StopIteration, SystemError, ValueError):
            # _json raises json's JSONDecodeError only once json.decoder
            # is imported (a SystemError before): errors take json's path.
            pass
    import json

    return json.loads(s)


def _not_serializable(o):
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


def dumps(obj, ensure_ascii=True, allow_nan=True):
    """json.dumps(obj, ensure_ascii=..., allow_nan=...) with json's C encoder."""
    if _json is None:
        import json

        return json.dumps(obj, ensure_ascii=ensure_ascii, allow_nan=allow_nan)
    if isinstance(obj, str):
        return (_json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring)(obj)
    encode = _json.make_encoder(
        {},  # markers: a circular reference is a ValueError, as in json
        _not_serializable,
        _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring,
        None,  # indent
        ": ",
        ", ",
        False,  # sort_keys
        False,  # skipkeys
        allow_nan,
    )
    return "".join(encode(obj, 0))


class _Quitter:
    """exit() and quit(), which the site module defines."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "Use %s() or Ctrl-D (i.e. EOF) to exit" % self.name

    def __call__(self, code=None):
        raise SystemExit(code)


def _no_site():
    """Without the site module (python3 -S): exit and quit as builtins, and
    the runtime's package directory (the SDK) on the path."""
    if not sys.flags.no_site:
        return
    import builtins

    for name in ("exit", "quit"):
        if not hasattr(builtins, name):
            setattr(builtins, name, _Quitter(name))
    if os.path.isdir(SDK_DIR) and SDK_DIR not in sys.path:
        sys.path.append(SDK_DIR)


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
            line = dumps(obj, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as e:
            line = dumps({"error": "the action's result cannot be encoded as JSON: %s" % e})
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800") has no UTF-8 form: escape it, as
            # JSON allows, and everything else with it.
            data = dumps(loads(line)).encode("ascii")
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
            os.environ[str(k)] = v if isinstance(v, str) else dumps(v)

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
            # Loaded as importlib's source loader does, without importing
            # importlib.util (contextlib and more: 5-8 ms of a cold start).
            module = type(sys)("main__")
            module.__file__ = entry
            sys.modules["main__"] = module
            with open(entry, "rb") as f:
                source = f.read()
            exec(compile(source, entry, "exec", dont_inherit=True), module.__dict__)
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
            os.environ[key] = v if isinstance(v, str) else dumps(v)
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
                msg = loads(raw)
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
    _no_site()
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
