// Library globals that replace AssemblyScript's default host imports
// (env.abort, env.trace, env.seed, console.*, Date.now) with WASI preview 1
// calls, so that a module imports nothing but wasi_snapshot_preview1.
// asconfig.json puts this folder on the compiler's "lib" path and aliases
// the defaults to these names with "use".

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function wisp_fd_write(fd: i32, iovs: usize, iovsLen: i32, nwritten: usize): i32;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function wisp_random_get(buf: usize, len: i32): i32;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function wisp_clock_time_get(clock: i32, precision: i64, time: usize): i32;

// Static memory for abort, which must not allocate: it may be reporting
// that allocation failed. 16 bytes of iovec and count, then the message.
// @ts-ignore: decorator
@lazy const abortBuf: usize = memory.data(1024);
// @ts-ignore: decorator
@lazy const ABORT_MAX: usize = 1000;

function putAscii(pos: usize, s: string): usize {
  for (let i = 0, n = s.length; i < n && pos < abortBuf + ABORT_MAX; ++i) {
    store<u8>(pos++, <u8>s.charCodeAt(i));
  }
  return pos;
}

function putText(pos: usize, s: string | null): usize {
  if (s === null) return pos;
  // At most 3 bytes per UTF-16 unit; cut long messages.
  const room = (abortBuf + ABORT_MAX - pos) / 3;
  const units = <usize>min(<usize>s.length, room);
  return pos + String.UTF8.encodeUnsafe(changetype<usize>(s), <i32>units, pos);
}

function putUint(pos: usize, v: u32): usize {
  let digits = 1;
  for (let t = v; t >= 10; t /= 10) ++digits;
  if (pos + digits > abortBuf + ABORT_MAX) return pos;
  let end = pos + digits;
  do {
    store<u8>(--end, <u8>(0x30 + v % 10));
    v /= 10;
  } while (v);
  return pos + digits;
}

/** wisp_abort writes "abort: message in file(line:col)" to stderr and traps. */
export function wisp_abort(
  message: string | null = null,
  fileName: string | null = null,
  lineNumber: u32 = 0,
  columnNumber: u32 = 0
): void {
  const start = abortBuf + 16;
  let p = putAscii(start, "abort: ");
  p = putText(p, message);
  if (fileName !== null) {
    p = putAscii(p, " in ");
    p = putText(p, fileName);
    p = putAscii(p, "(");
    p = putUint(p, lineNumber);
    p = putAscii(p, ":");
    p = putUint(p, columnNumber);
    p = putAscii(p, ")");
  }
  store<u8>(p++, 0x0A);
  store<u32>(abortBuf, <u32>start);
  store<u32>(abortBuf, <u32>(p - start), 4);
  wisp_fd_write(2, abortBuf, 1, abortBuf + 8);
  unreachable();
}

function wisp_line(fd: i32, s: string): void {
  const buf = String.UTF8.encode(s + "\n");
  const iov = memory.data(16);
  store<u32>(iov, <u32>changetype<usize>(buf));
  store<u32>(iov, <u32>buf.byteLength, 4);
  wisp_fd_write(fd, iov, 1, iov + 8);
}

/** wisp_trace writes "trace: message a0 ..." to stderr. */
export function wisp_trace(
  message: string,
  n: i32 = 0,
  a0: f64 = 0,
  a1: f64 = 0,
  a2: f64 = 0,
  a3: f64 = 0,
  a4: f64 = 0
): void {
  let s = "trace: " + message;
  if (n > 0) s += " " + a0.toString();
  if (n > 1) s += " " + a1.toString();
  if (n > 2) s += " " + a2.toString();
  if (n > 3) s += " " + a3.toString();
  if (n > 4) s += " " + a4.toString();
  wisp_line(2, s);
}

/** wisp_seed seeds Math.random from WASI random_get. */
export function wisp_seed(): f64 {
  const buf = memory.data(8);
  wisp_random_get(buf, 8);
  // A finite, non-zero double in [1, 2): 52 random bits of mantissa.
  return reinterpret<f64>((load<u64>(buf) & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000);
}

/** wisp_console is console: log, info and debug to stdout, warn and error to stderr. */
export namespace wisp_console {
  export function log(message: string = ""): void { wisp_line(1, message); }
  export function info(message: string = ""): void { wisp_line(1, message); }
  export function debug(message: string = ""): void { wisp_line(1, message); }
  export function warn(message: string = ""): void { wisp_line(2, message); }
  export function error(message: string = ""): void { wisp_line(2, message); }
  export function assert<T>(condition: T, message: string = ""): void {
    if (!condition) wisp_line(2, "Assertion failed: " + message);
  }
}

/** wisp_Date is Date with now() read from WASI's wall clock. */
export class wisp_Date extends Date {
  static now(): i64 {
    const buf = memory.data(8);
    if (wisp_clock_time_get(0, 1000, buf) != 0) return 0;
    return load<i64>(buf) / 1_000_000;
  }
}
