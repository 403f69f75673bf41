import { JSONObject } from "./json";
import { nowNanos, CLOCK_REALTIME } from "./wasi";

/**
 * Context is the activation's context, which Wisp passes beside the
 * parameters (docs/wasm-abi.md). A field Wisp did not send is "" (or 0).
 */
export class Context {
  /** activationId is the activation's id, as in its record. */
  activationId: string = "";
  /** namespace is the namespace the action runs in. */
  namespace: string = "";
  /** actionName is the action's fully qualified name, "/namespace/[package/]action". */
  actionName: string = "";
  /** actionVersion is the action's version. */
  actionVersion: string = "";
  /** apiHost is the API host of the Wisp that runs the action. */
  apiHost: string = "";
  /** deadline is when the activation is stopped, in Unix milliseconds (0 if unknown). */
  deadline: i64 = 0;

  /** remainingMs is the time left until the deadline, in ms (i64.MAX_VALUE if unknown). */
  remainingMs(): i64 {
    if (this.deadline == 0) return i64.MAX_VALUE;
    return this.deadline - nowMs();
  }

  // fromJSON reads the context object; unknown keys are ignored.
  static fromJSON(o: JSONObject): Context {
    const c = new Context();
    c.activationId = o.getString("activationId");
    c.namespace = o.getString("namespace");
    c.actionName = o.getString("actionName");
    c.actionVersion = o.getString("actionVersion");
    c.apiHost = o.getString("apiHost");
    // Wisp sends the deadline as a string of digits, OpenWhisk's
    // __OW_DEADLINE; a number is accepted too.
    const d = o.get("deadline");
    if (d !== null) {
      if (d.isString()) c.deadline = parseDigits(d.asString());
      else c.deadline = d.asInt(0);
    }
    return c;
  }

  // setMember sets the field of one member of the context object, read by
  // contextFromBytes: the key's kn bytes at k, the value's vn bytes at v
  // (a string's, or a whole number's digits). A string field given a
  // number is "", as getString answers.
  setMember(k: usize, kn: i32, v: usize, vn: i32, isString: bool, prev: Context): void {
    if (bytesAre(k, kn, "activationId")) this.activationId = isString ? asciiString(v, vn, prev.activationId) : "";
    else if (bytesAre(k, kn, "namespace")) this.namespace = isString ? asciiString(v, vn, prev.namespace) : "";
    else if (bytesAre(k, kn, "actionName")) this.actionName = isString ? asciiString(v, vn, prev.actionName) : "";
    else if (bytesAre(k, kn, "actionVersion")) this.actionVersion = isString ? asciiString(v, vn, prev.actionVersion) : "";
    else if (bytesAre(k, kn, "apiHost")) this.apiHost = isString ? asciiString(v, vn, prev.apiHost) : "";
    else if (bytesAre(k, kn, "deadline")) this.deadline = digitsValue(v, vn);
  }
}

/**
 * contextFromBytes reads the context object the way Wisp writes it, one
 * flat object of ASCII strings without escapes (the deadline may be a
 * whole number), straight from its n bytes at p: no tree of JSON values,
 * and each string equal to prev's is taken from prev, not decoded again.
 * An instance serves one action, so from one activation to the next
 * mostly the id and the deadline change. It returns null for anything
 * else (escapes, other characters, other values, not JSON), which the JSON
 * parser then reads; what it returns is what that parser and
 * Context.fromJSON would make of the same bytes.
 */
export function contextFromBytes(p: usize, n: i32, prev: Context): Context | null {
  const c = new Context();
  let i = skipSpace(p, 0, n);
  if (i >= n || load<u8>(p + i) != 0x7B) return null; // {
  i = skipSpace(p, i + 1, n);
  if (i < n && load<u8>(p + i) == 0x7D) return onlySpace(p, i + 1, n) ? c : null; // {}
  while (true) {
    if (i >= n || load<u8>(p + i) != 0x22) return null; // the key's "
    const ks = i + 1;
    const ke = plainStringEnd(p, ks, n);
    if (ke < 0) return null;
    i = skipSpace(p, ke + 1, n);
    if (i >= n || load<u8>(p + i) != 0x3A) return null; // :
    i = skipSpace(p, i + 1, n);
    if (i >= n) return null;
    let vs = 0, ve = 0;
    let isString = false;
    const b = load<u8>(p + i);
    if (b == 0x22) {
      vs = i + 1;
      ve = plainStringEnd(p, vs, n);
      if (ve < 0) return null;
      i = ve + 1;
      isString = true;
    } else if (b >= 0x31 && b <= 0x39) { // a whole number without a leading 0
      vs = i;
      ve = i;
      while (ve < n && isDigit(load<u8>(p + ve))) ++ve;
      if (ve - vs > 18) return null; // asInt's range: left to the parser
      i = ve;
    } else {
      return null;
    }
    c.setMember(p + ks, ke - ks, p + vs, ve - vs, isString, prev);
    i = skipSpace(p, i, n);
    if (i >= n) return null;
    const d = load<u8>(p + i);
    if (d == 0x7D) return onlySpace(p, i + 1, n) ? c : null; // }
    if (d != 0x2C) return null; // , (a '.' or 'e' after digits ends here too)
    i = skipSpace(p, i + 1, n);
  }
}

function isDigit(b: u8): bool {
  return b >= 0x30 && b <= 0x39;
}

function skipSpace(p: usize, i: i32, n: i32): i32 {
  while (i < n) {
    const b = load<u8>(p + i);
    if (b != 0x20 && b != 0x09 && b != 0x0A && b != 0x0D) break;
    ++i;
  }
  return i;
}

function onlySpace(p: usize, i: i32, n: i32): bool {
  return skipSpace(p, i, n) == n;
}

// plainStringEnd is the index of the quote that ends the string starting
// at i, or -1 if it has an escape, a control character or a non-ASCII
// byte, or does not end.
function plainStringEnd(p: usize, i: i32, n: i32): i32 {
  while (i < n) {
    const b = load<u8>(p + i);
    if (b == 0x22) return i;
    if (b == 0x5C || b < 0x20 || b >= 0x80) return -1;
    ++i;
  }
  return -1;
}

// bytesAre reports whether the n ASCII bytes at p are s. It reads s's
// UTF-16 units directly: through charCodeAt, a call with a bounds check
// per character, comparing the context object's unchanged values with the
// previous activation's took ~10% of the example's time in the guest.
function bytesAre(p: usize, n: i32, s: string): bool {
  if (s.length != n) return false;
  const q = changetype<usize>(s);
  for (let k = 0; k < n; ++k) {
    if (<u32>load<u16>(q + (<usize>k << 1)) != <u32>load<u8>(p + <usize>k)) return false;
  }
  return true;
}

// asciiString is the n ASCII bytes at p as a string: old if they are old.
function asciiString(p: usize, n: i32, old: string): string {
  return bytesAre(p, n, old) ? old : String.UTF8.decodeUnsafe(p, n);
}

// digitsValue is the value of n decimal digits at p, 0 for anything else
// (as parseDigits).
function digitsValue(p: usize, n: i32): i64 {
  if (n == 0 || n > 18) return 0;
  let v: i64 = 0;
  for (let k = 0; k < n; ++k) {
    const b = load<u8>(p + k);
    if (!isDigit(b)) return 0;
    v = v * 10 + <i64>(b - 0x30);
  }
  return v;
}

function parseDigits(s: string): i64 {
  let v: i64 = 0;
  const n = s.length;
  if (n == 0 || n > 18) return 0;
  for (let i = 0; i < n; ++i) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return 0;
    v = v * 10 + <i64>d;
  }
  return v;
}

/** nowMs is the wall-clock time in Unix milliseconds, from WASI. */
export function nowMs(): i64 {
  return nowNanos(CLOCK_REALTIME) / 1_000_000;
}
