// The few WASI preview 1 functions the SDK calls. Wisp provides exactly the
// functions of wasi_snapshot_preview1, with these signatures; the module
// must import nothing else (docs/wasm-abi.md).

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
export declare function fd_write(fd: i32, iovs: usize, iovsLen: i32, nwritten: usize): i32;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
export declare function clock_time_get(clock: i32, precision: i64, time: usize): i32;

/** The WASI clock of wall time. */
export const CLOCK_REALTIME: i32 = 0;
/** The WASI monotonic clock. */
export const CLOCK_MONOTONIC: i32 = 1;

// Scratch memory for the calls below: two iovecs and a result word. The
// guest is single-threaded and these helpers do not re-enter.
// @ts-ignore: decorator
@lazy const scratch: usize = memory.data(32);

/** writeAll writes len bytes at ptr to fd, retrying short writes. */
export function writeAll(fd: i32, ptr: usize, len: usize): void {
  while (len > 0) {
    store<u32>(scratch, <u32>ptr);
    store<u32>(scratch, <u32>len, 4);
    if (fd_write(fd, scratch, 1, scratch + 16) != 0) return;
    const n = <usize>load<u32>(scratch + 16);
    if (n == 0) return;
    ptr += n;
    len -= n;
  }
}

/** writeLine writes s, encoded as UTF-8, and a newline to fd. */
export function writeLine(fd: i32, s: string): void {
  const buf = String.UTF8.encode(s);
  const n = buf.byteLength;
  // One fd_write with two iovecs, so that the line arrives whole.
  store<u32>(scratch, <u32>changetype<usize>(buf));
  store<u32>(scratch, <u32>n, 4);
  store<u8>(scratch + 20, 0x0A);
  store<u32>(scratch, <u32>(scratch + 20), 8);
  store<u32>(scratch, 1, 12);
  if (fd_write(fd, scratch, 2, scratch + 16) == 0 && <i32>load<u32>(scratch + 16) == n + 1) return;
  // A short write: finish it the slow way.
  const done = <i32>load<u32>(scratch + 16);
  if (done < n) writeAll(fd, changetype<usize>(buf) + <usize>done, <usize>(n - done));
  if (done <= n) {
    store<u8>(scratch + 20, 0x0A);
    writeAll(fd, scratch + 20, 1);
  }
}

/** nowNanos reads clock (CLOCK_REALTIME or CLOCK_MONOTONIC) in nanoseconds; 0 if it fails. */
export function nowNanos(clock: i32): i64 {
  if (clock_time_get(clock, 1000, scratch + 24) != 0) return 0;
  return load<i64>(scratch + 24);
}
