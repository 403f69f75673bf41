// Wisp's action loop for the nodejs:20 runtime (docs/container-protocol.md).
//
// Runs as `node /wisp/launcher.js` inside the container. It reads one JSON
// message per line on stdin: first an init message, which loads the
// action's code once, then one run message per activation, each awaited
// before the next is read. Each reply is one JSON line on file descriptor 3;
// after each reply the sentinel line closes the activation's logs on stdout
// and on stderr.
//
// No npm dependencies. The action directory is /action; WISP_ACTION_DIR
// overrides it for Wisp's own tests, which run this file on the host.
'use strict';

const fs = require('fs');
const path = require('path');

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n';

// replyFd moves the reply pipe off fd 3: reopening it through /proc gives a
// descriptor with O_CLOEXEC (Node opens every file so), which processes the
// action starts do not inherit; fd 3 itself is closed, so the action cannot
// write a reply by accident. Where /proc is missing, fd 3 is used as is.
function replyFd() {
  try {
    fs.fstatSync(3);
  } catch (e) {
    process.stderr.write(`wisp launcher: file descriptor 3 (the reply pipe) is not open: ${e.message}\n`);
    process.exit(1);
  }
  try {
    const fd = fs.openSync('/proc/self/fd/3', 'w');
    fs.closeSync(3);
    return fd;
  } catch (_) {
    return 3;
  }
}

function writeAll(fd, s) {
  let buf = Buffer.from(s, 'utf8');
  while (buf.length > 0) {
    let n;
    try {
      n = fs.writeSync(fd, buf);
    } catch (e) {
      if (e.code === 'EAGAIN') continue; // a non-blocking pipe that is full
      throw e;
    }
    buf = buf.subarray(n);
  }
}

// trackLazily follows what is written to process.stdout or process.stderr
// (name) to know whether the last character written ended a line, so that
// the sentinel always starts a line of its own. The stream is made only
// when something first uses it: on a pipe it is a net.Socket, and loading
// the net module costs a cold start about 6 ms, which an action that logs
// nothing need not pay. Until then the sentinel is written to the file
// descriptor directly. Writes to pipes are synchronous on Linux, so a
// sentinel written after them follows them.
function trackLazily(name, fd) {
  const state = { atLineStart: true, stream: null, fd };
  const desc = Object.getOwnPropertyDescriptor(process, name);
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: desc.enumerable,
    get() {
      const stream = desc.get.call(process);
      Object.defineProperty(process, name, { configurable: true, enumerable: desc.enumerable, writable: false, value: stream });
      const write = stream.write;
      stream.write = function (chunk, ...rest) {
        if (chunk !== undefined && chunk !== null && chunk.length > 0) {
          const last = typeof chunk === 'string' ? chunk[chunk.length - 1] : String.fromCharCode(chunk[chunk.length - 1]);
          state.atLineStart = last === '\n';
        }
        return write.call(stream, chunk, ...rest);
      };
      state.stream = stream;
      return stream;
    },
  });
  return state;
}

// endLogs writes the sentinel line to a tracked stream.
function endLogs(state) {
  const line = state.atLineStart ? SENTINEL : '\n' + SENTINEL;
  if (state.stream) state.stream.write(line);
  else writeAll(state.fd, line);
  state.atLineStart = true;
}

// lines yields the lines read from fd, reading it through libuv's thread
// pool (a blocking read on a pipe), not through process.stdin, which would
// load the net module (see trackLazily). The event loop keeps running
// between activations, as with a stream. While blocking() is true it reads
// with readSync instead, on this thread: the launcher does so until it has
// answered its first run, because starting the thread pool costs 1–1.5 ms,
// which a cold start would pay on its way to that answer. Until then there
// is nothing of the action's to run between messages but what its module
// started when it loaded, which waits as it would in a paused container.
async function* lines(fd, blocking) {
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let parts = [];
  for (;;) {
    let n;
    try {
      if (blocking()) {
        n = fs.readSync(fd, chunk, 0, chunk.length, null);
      } else {
        n = await new Promise((resolve, reject) => {
          fs.read(fd, chunk, 0, chunk.length, null, (err, got) => (err ? reject(err) : resolve(got)));
        });
      }
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      // A non-blocking descriptor (not what Wisp's containers give):
      // read it as a stream instead, from where this left off.
      yield* streamLines(Buffer.concat(parts));
      return;
    }
    if (n === 0) {
      if (parts.length > 0) yield Buffer.concat(parts).toString('utf8');
      return;
    }
    const data = chunk.subarray(0, n);
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) {
        if (start < n) parts.push(Buffer.from(data.subarray(start)));
        break;
      }
      parts.push(data.subarray(start, nl));
      const line = Buffer.concat(parts).toString('utf8');
      parts = [];
      start = nl + 1;
      yield line;
    }
  }
}

// streamLines yields the lines of process.stdin, the first prefixed with
// what was already read of it.
async function* streamLines(prefix) {
  const readline = require('readline');
  let first = prefix.length > 0 ? prefix.toString('utf8') : null;
  for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (first !== null) {
      yield first + line;
      first = null;
    } else {
      yield line;
    }
  }
  if (first !== null) yield first;
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  let s;
  try {
    s = JSON.stringify(v);
  } catch (_) {
    s = String(v);
  }
  if (s !== undefined && s.length > 60) s = s.slice(0, 60) + '...';
  return `${typeof v} ${s}`;
}

function errorMessage(e) {
  if (e instanceof Error) return e.message ? `${e.name}: ${e.message}` : e.name;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch (_) {
    return String(e);
  }
}

// syntaxErrorWhere finds "file:line" in a SyntaxError's stack, where V8 puts it.
function syntaxErrorWhere(e, dir) {
  const m = /^(\/[^\n]*?):(\d+)\n/.exec(String(e.stack));
  if (!m) return '';
  return `${path.relative(dir, m[1])} line ${m[2]}`;
}

class Launcher {
  constructor(fd, actionDir) {
    this.fd = fd;
    this.actionDir = actionDir;
    this.main = null;
    this.envKeys = new Set();
    this.out = trackLazily('stdout', 1);
    this.err = trackLazily('stderr', 2);
  }

  reply(obj) {
    let line;
    try {
      line = JSON.stringify(obj);
    } catch (e) {
      line = JSON.stringify({ error: `the action's result cannot be encoded as JSON: ${e.message}` });
    }
    writeAll(this.fd, line + '\n');
    endLogs(this.out);
    endLogs(this.err);
  }

  async init(msg) {
    if (this.main) return { error: 'the action is already initialized: init came twice' };
    const name = msg.main || 'main';
    if (typeof name !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(name)) {
      return { error: `the main function's name ${JSON.stringify(name)} is not a JavaScript identifier` };
    }
    const env = msg.env || {};
    if (typeof env !== 'object' || Array.isArray(env)) return { error: "init's env is not an object" };
    for (const [k, v] of Object.entries(env)) process.env[k] = typeof v === 'string' ? v : JSON.stringify(v);
    try {
      process.chdir(this.actionDir);
    } catch (_) {
      // The loader works with absolute paths; the working directory is a courtesy.
    }

    let found;
    let file;
    try {
      if (msg.binary || !msg.entry) {
        file = this.zipEntry();
        if (typeof file === 'object') return file;
        found = await this.loadModule(file, name);
      } else {
        file = msg.entry;
        if (!fs.existsSync(file)) return { error: `the action's code is missing: ${file} does not exist` };
        found = this.loadScript(file, name);
      }
    } catch (e) {
      const rel = typeof file === 'string' ? path.relative(this.actionDir, file) : 'the action';
      if (e instanceof SyntaxError) {
        const where = syntaxErrorWhere(e, this.actionDir) || rel;
        process.stderr.write(String(e.stack) + '\n');
        return { error: `syntax error in ${where}: ${e.message}` };
      }
      process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
      return { error: `loading ${rel} failed: ${errorMessage(e)}` };
    }
    const rel = path.relative(this.actionDir, file);
    const fn = found.fn;
    if (fn === undefined) {
      return { error: `${rel} has no function ${name}: define function ${name}(params) or set exports.${name}` };
    }
    if (typeof fn !== 'function') return { error: `${rel}'s ${name} is a ${typeof fn}, not a function` };
    this.main = fn;
    // main is called as a method of what exported it (so that `this` in
    // module.exports = { main() { this.helper() } } works), else plainly.
    this.mainThis = found.self;
    return { ok: true };
  }

  // zipEntry is the file a zip action starts at: package.json's main, or
  // index.js. It returns an error reply when there is none.
  zipEntry() {
    const pj = path.join(this.actionDir, 'package.json');
    let main = 'index.js';
    if (fs.existsSync(pj)) {
      let pkg;
      try {
        pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
      } catch (e) {
        return { error: `package.json is not valid JSON: ${e.message}` };
      }
      if (pkg && typeof pkg.main === 'string' && pkg.main !== '') main = pkg.main;
    }
    const file = path.resolve(this.actionDir, main);
    if (path.relative(this.actionDir, file).startsWith('..')) {
      return { error: `package.json's main ${JSON.stringify(main)} is outside the action` };
    }
    for (const f of [file, file + '.js', path.join(file, 'index.js')]) {
      if (fs.existsSync(f) && fs.statSync(f).isFile()) return f;
    }
    return { error: `the zip file has no ${main}: give package.json a "main" or add index.js` };
  }

  // loadModule requires (or, for an ES module, imports) a zip's entry and
  // returns its export called name ({fn, self}: the function and its owner).
  async loadModule(file, name) {
    let exp;
    try {
      exp = require(file);
    } catch (e) {
      if (e.code !== 'ERR_REQUIRE_ESM') throw e;
      const { pathToFileURL } = require('url');
      const ns = await import(pathToFileURL(file).href);
      exp = ns[name] !== undefined ? ns : ns.default;
    }
    if (exp && exp[name] !== undefined) return { fn: exp[name], self: exp };
    if (typeof exp === 'function' && name === 'main') return { fn: exp }; // module.exports = function main(...)
    return { fn: undefined };
  }

  // loadScript runs plain code as OpenWhisk does: a script whose top-level
  // function main is the entry point; exports.main and module.exports.main
  // work too. The code runs as a CommonJS module (require, module, exports,
  // __dirname are there), with one line appended that reads the top-level
  // binding called name, whether a function declaration, let, const or var.
  loadScript(file, name) {
    const code = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
    const Module = require('module');
    const m = new Module(file, null);
    m.filename = file;
    m.paths = Module._nodeModulePaths(path.dirname(file));
    let lookup;
    m.__wispLookup = (f) => {
      lookup = f;
    };
    m._compile(
      code + `\n;module.__wispLookup(function () { return typeof ${name} === 'undefined' ? undefined : ${name}; });\n`,
      file,
    );
    const exp = m.exports;
    if (exp && exp[name] !== undefined) return { fn: exp[name], self: exp };
    return { fn: lookup ? lookup() : undefined };
  }

  setEnv(msg) {
    const keys = new Set();
    for (const [k, v] of Object.entries(msg)) {
      if (k === 'value') continue;
      const key = '__OW_' + k.toUpperCase();
      process.env[key] = typeof v === 'string' ? v : JSON.stringify(v);
      keys.add(key);
    }
    for (const key of this.envKeys) if (!keys.has(key)) delete process.env[key];
    this.envKeys = keys;
  }

  async run(msg) {
    if (!this.main) return { error: 'the action is not initialized: run came before init' };
    this.setEnv(msg);
    const value = msg.value === undefined || msg.value === null ? {} : msg.value;
    let result;
    try {
      result = await this.main.call(this.mainThis, value);
    } catch (e) {
      if (e && typeof e.wispResult === 'function') {
        // The SDK's ActionError: the action's own answer, not a crash.
        try {
          const r = e.wispResult();
          if (r && typeof r === 'object' && !Array.isArray(r)) return r;
        } catch (_) {
          // fall through to the generic error
        }
      }
      process.stderr.write(String(e && e.stack ? e.stack : errorMessage(e)) + '\n');
      return { error: errorMessage(e) };
    }
    // As in OpenWhisk, an action that returns nothing has the empty result.
    if (result === undefined) return {};
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      return { error: `the action's ${this.main.name || 'main'} returned ${describe(result)}, not an object: an action's result must be a JSON object` };
    }
    return result;
  }

  async serve(fd) {
    let answeredRun = false;
    for await (const raw of lines(fd, () => !answeredRun)) {
      const line = raw.trim();
      if (line === '') continue;
      let msg;
      try {
        msg = JSON.parse(line);
        if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw new Error('a message must be a JSON object');
      } catch (e) {
        this.reply({ error: `the launcher could not read its message: ${e.message}` });
        continue;
      }
      if ('init' in msg) {
        const init = msg.init;
        this.reply(init && typeof init === 'object' ? await this.init(init) : { error: 'init is not an object' });
      } else {
        this.reply(await this.run(msg));
        answeredRun = true;
      }
    }
  }
}

// An action's stray promise rejection is logged, not fatal: it belongs to
// no activation in particular, and the container serves the next one.
process.on('unhandledRejection', (e) => {
  process.stderr.write(`wisp launcher: an unhandled promise rejection: ${e && e.stack ? e.stack : errorMessage(e)}\n`);
});

const actionDir = process.env.WISP_ACTION_DIR || '/action';
delete process.env.WISP_ACTION_DIR;
const fd = replyFd();
new Launcher(fd, actionDir).serve(0).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`wisp launcher: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
