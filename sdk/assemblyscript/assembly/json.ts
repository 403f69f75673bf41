// A small JSON reader and writer. AssemblyScript has no JSON built in; this
// one is written for Wisp's parameters and results: strict RFC 8259 input
// (no comments, no trailing commas, no NaN), UTF-8 in and out, strings
// kept as AssemblyScript (UTF-16) strings, numbers kept with their
// literal so that integers beyond 2^53 survive a round trip.

/** MAX_DEPTH is how deeply arrays and objects may nest in parsed input. */
export const MAX_DEPTH: i32 = 512;

/** JSONKind is the type of a JSONValue. */
export enum JSONKind {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

/**
 * JSONValue is one JSON value of any kind. Values are built with the
 * static from* functions or come from parseJSON; read them with the as*
 * methods, which return their argument when the value is of another kind.
 */
export class JSONValue {
  private _kind: JSONKind;
  private _bool: bool = false;
  private _num: f64 = 0;
  // The string, or the number's literal.
  private _text: string = "";
  private _arr: JSONArray | null = null;
  private _obj: JSONObject | null = null;

  private constructor(kind: JSONKind) {
    this._kind = kind;
  }

  /** fromNull is JSON null. */
  static fromNull(): JSONValue {
    return new JSONValue(JSONKind.Null);
  }

  /** fromBool is true or false. */
  static fromBool(b: bool): JSONValue {
    const v = new JSONValue(JSONKind.Bool);
    v._bool = b;
    return v;
  }

  /** fromNumber is a number; NaN and the infinities, which JSON cannot hold, become null. */
  static fromNumber(n: f64): JSONValue {
    if (!isFinite(n)) return JSONValue.fromNull();
    const v = new JSONValue(JSONKind.Number);
    v._num = n;
    v._text = formatNumber(n);
    return v;
  }

  /** fromInt is an integer number, written exactly (also beyond 2^53). */
  static fromInt(n: i64): JSONValue {
    const v = new JSONValue(JSONKind.Number);
    v._num = <f64>n;
    v._text = n.toString();
    return v;
  }

  /** fromString is a string. */
  static fromString(s: string): JSONValue {
    const v = new JSONValue(JSONKind.String);
    v._text = s;
    return v;
  }

  /** fromArray is an array; the value refers to a, it does not copy it. */
  static fromArray(a: JSONArray): JSONValue {
    const v = new JSONValue(JSONKind.Array);
    v._arr = a;
    return v;
  }

  /** fromObject is an object; the value refers to o, it does not copy it. */
  static fromObject(o: JSONObject): JSONValue {
    const v = new JSONValue(JSONKind.Object);
    v._obj = o;
    return v;
  }

  // A parsed number: its literal and its value.
  static _number(literal: string, n: f64): JSONValue {
    const v = new JSONValue(JSONKind.Number);
    v._num = n;
    v._text = literal;
    return v;
  }

  get kind(): JSONKind {
    return this._kind;
  }

  isNull(): bool { return this._kind == JSONKind.Null; }
  isBool(): bool { return this._kind == JSONKind.Bool; }
  isNumber(): bool { return this._kind == JSONKind.Number; }
  isString(): bool { return this._kind == JSONKind.String; }
  isArray(): bool { return this._kind == JSONKind.Array; }
  isObject(): bool { return this._kind == JSONKind.Object; }

  /** asBool is the boolean, or def if the value is not a boolean. */
  asBool(def: bool = false): bool {
    return this._kind == JSONKind.Bool ? this._bool : def;
  }

  /** asNumber is the number (the nearest double), or def if the value is not a number. */
  asNumber(def: f64 = 0): f64 {
    return this._kind == JSONKind.Number ? this._num : def;
  }

  /**
   * asInt is the number as a 64-bit integer, or def if the value is not a
   * number, not a whole number, or out of the range of i64. An integer
   * literal is read exactly, also beyond 2^53.
   */
  asInt(def: i64 = 0): i64 {
    if (this._kind != JSONKind.Number) return def;
    const exact = parseIntLiteral(this._text);
    if (exact.ok) return exact.value;
    const n = this._num;
    // 2^63 is exactly representable; anything below it converts.
    if (n == Math.floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0) return <i64>n;
    return def;
  }

  /** asString is the string, or def if the value is not a string. */
  asString(def: string = ""): string {
    return this._kind == JSONKind.String ? this._text : def;
  }

  /** asArray is the array, or null if the value is not an array. */
  asArray(): JSONArray | null {
    return this._kind == JSONKind.Array ? this._arr : null;
  }

  /** asObject is the object, or null if the value is not an object. */
  asObject(): JSONObject | null {
    return this._kind == JSONKind.Object ? this._obj : null;
  }

  /** toString is the value as JSON text. */
  toString(): string {
    const w = new JSONWriter();
    w.value(this);
    return w.toString();
  }

  _text_(): string {
    return this._text;
  }
}

/**
 * JSONObject is a JSON object: keys in the order they were first set, each
 * once. Reading a missing key, or one of another kind, gives the default.
 * The set* methods replace the value of a key that is already there and
 * return the object, so that calls chain.
 */
export class JSONObject {
  private _keys: Array<string> = new Array<string>();
  private _vals: Array<JSONValue> = new Array<JSONValue>();
  // Built once an object has more keys than a linear search suits.
  private _index: Map<string, i32> | null = null;

  /** object is a new, empty object. */
  static object(): JSONObject {
    return new JSONObject();
  }

  /** error is {"error": message}: as a result, an application error. */
  static error(message: string): JSONObject {
    return new JSONObject().setString("error", message);
  }

  /** parse reads text as a JSON object; null if it is not one (jsonError() says why). */
  static parse(text: string): JSONObject | null {
    const v = parseJSON(text);
    if (v === null) return null;
    const o = v.asObject();
    if (o === null) setError("not a JSON object", 0);
    return o;
  }

  /** size is the number of keys. */
  get size(): i32 {
    return this._keys.length;
  }

  /** keys are the keys, in order (a copy). */
  keys(): Array<string> {
    return this._keys.slice(0);
  }

  private find(key: string): i32 {
    const idx = this._index;
    if (idx !== null) return idx.has(key) ? idx.get(key) : -1;
    const keys = this._keys;
    for (let i = 0, n = keys.length; i < n; ++i) {
      if (unchecked(keys[i]) == key) return i;
    }
    return -1;
  }

  /** has reports whether key is set (also to null). */
  has(key: string): bool {
    return this.find(key) >= 0;
  }

  /** get is the value of key, or null if it is not set. */
  get(key: string): JSONValue | null {
    const i = this.find(key);
    return i < 0 ? null : this._vals[i];
  }

  /** getString is the string at key, or def. */
  getString(key: string, def: string = ""): string {
    const v = this.get(key);
    return v === null ? def : v.asString(def);
  }

  /** getNumber is the number at key, or def. */
  getNumber(key: string, def: f64 = 0): f64 {
    const v = this.get(key);
    return v === null ? def : v.asNumber(def);
  }

  /** getInt is the whole number at key as an i64, or def (see JSONValue.asInt). */
  getInt(key: string, def: i64 = 0): i64 {
    const v = this.get(key);
    return v === null ? def : v.asInt(def);
  }

  /** getBool is the boolean at key, or def. */
  getBool(key: string, def: bool = false): bool {
    const v = this.get(key);
    return v === null ? def : v.asBool(def);
  }

  /** getObject is the object at key, or null. */
  getObject(key: string): JSONObject | null {
    const v = this.get(key);
    return v === null ? null : v.asObject();
  }

  /** getArray is the array at key, or null. */
  getArray(key: string): JSONArray | null {
    const v = this.get(key);
    return v === null ? null : v.asArray();
  }

  /** set sets key to v. */
  set(key: string, v: JSONValue): JSONObject {
    const i = this.find(key);
    if (i >= 0) {
      this._vals[i] = v;
      return this;
    }
    const n = this._keys.push(key);
    this._vals.push(v);
    let idx = this._index;
    if (idx !== null) {
      idx.set(key, n - 1);
    } else if (n > 8) {
      idx = new Map<string, i32>();
      for (let j = 0; j < n; ++j) idx.set(this._keys[j], j);
      this._index = idx;
    }
    return this;
  }

  setString(key: string, s: string): JSONObject { return this.set(key, JSONValue.fromString(s)); }
  setNumber(key: string, n: f64): JSONObject { return this.set(key, JSONValue.fromNumber(n)); }
  setInt(key: string, n: i64): JSONObject { return this.set(key, JSONValue.fromInt(n)); }
  setBool(key: string, b: bool): JSONObject { return this.set(key, JSONValue.fromBool(b)); }
  setNull(key: string): JSONObject { return this.set(key, JSONValue.fromNull()); }
  setObject(key: string, o: JSONObject): JSONObject { return this.set(key, JSONValue.fromObject(o)); }
  setArray(key: string, a: JSONArray): JSONObject { return this.set(key, JSONValue.fromArray(a)); }

  /** remove deletes key; false if it was not set. */
  remove(key: string): bool {
    const i = this.find(key);
    if (i < 0) return false;
    this._keys.splice(i, 1);
    this._vals.splice(i, 1);
    const idx = this._index;
    if (idx !== null) {
      idx.clear();
      for (let j = 0, n = this._keys.length; j < n; ++j) idx.set(this._keys[j], j);
    }
    return true;
  }

  /** toString is the object as JSON text. */
  toString(): string {
    const w = new JSONWriter();
    w.object(this);
    return w.toString();
  }

  _key(i: i32): string { return unchecked(this._keys[i]); }
  _val(i: i32): JSONValue { return unchecked(this._vals[i]); }
}

/** JSONArray is a JSON array. The push* methods append and return the array. */
export class JSONArray {
  private _items: Array<JSONValue> = new Array<JSONValue>();

  /** array is a new, empty array. */
  static array(): JSONArray {
    return new JSONArray();
  }

  /** length is the number of items. */
  get length(): i32 {
    return this._items.length;
  }

  /** at is item i, or null if i is out of range. */
  at(i: i32): JSONValue | null {
    if (i < 0 || i >= this._items.length) return null;
    return unchecked(this._items[i]);
  }

  push(v: JSONValue): JSONArray { this._items.push(v); return this; }
  pushString(s: string): JSONArray { return this.push(JSONValue.fromString(s)); }
  pushNumber(n: f64): JSONArray { return this.push(JSONValue.fromNumber(n)); }
  pushInt(n: i64): JSONArray { return this.push(JSONValue.fromInt(n)); }
  pushBool(b: bool): JSONArray { return this.push(JSONValue.fromBool(b)); }
  pushNull(): JSONArray { return this.push(JSONValue.fromNull()); }
  pushObject(o: JSONObject): JSONArray { return this.push(JSONValue.fromObject(o)); }
  pushArray(a: JSONArray): JSONArray { return this.push(JSONValue.fromArray(a)); }

  /** toString is the array as JSON text. */
  toString(): string {
    const w = new JSONWriter();
    w.array(this);
    return w.toString();
  }
}

// ---- numbers ----

/** formatNumber writes a finite double as JSON's shortest round-trip form. */
export function formatNumber(n: f64): string {
  if (!isFinite(n)) return "null";
  if (n == 0) return "0";
  const s = n.toString();
  // AssemblyScript writes whole numbers as "1.0"; JSON readers prefer "1".
  if (s.endsWith(".0")) return s.substring(0, s.length - 2);
  return s;
}

class IntResult {
  ok: bool = false;
  value: i64 = 0;
}

// parseIntLiteral reads "-?[0-9]+" exactly; not ok for other text or
// values out of the range of i64.
function parseIntLiteral(s: string): IntResult {
  const r = new IntResult();
  const n = s.length;
  let i = 0;
  let neg = false;
  if (n > 0 && s.charCodeAt(0) == 0x2D) {
    neg = true;
    i = 1;
  }
  if (i >= n) return r;
  let acc: u64 = 0;
  const limit: u64 = neg ? 9223372036854775808 : 9223372036854775807;
  for (; i < n; ++i) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return r;
    if (acc > (limit - <u64>d) / 10) return r;
    acc = acc * 10 + <u64>d;
  }
  r.ok = true;
  r.value = neg ? -(<i64>acc) : <i64>acc;
  return r;
}

// ---- reading ----

let lastError: string = "";

function setError(msg: string, offset: i32): void {
  lastError = msg + " at byte " + offset.toString();
}

/** jsonError says why the last parseJSON or JSONObject.parse returned null. */
export function jsonError(): string {
  return lastError;
}

/** parseJSON reads text as one JSON value; null if it is not valid JSON (jsonError() says why). */
export function parseJSON(text: string): JSONValue | null {
  const buf = String.UTF8.encode(text);
  // The parser allocates; the pin keeps buf alive while it reads it.
  const ptr = __pin(changetype<usize>(buf));
  const v = parseJSONBytes(ptr, buf.byteLength);
  __unpin(ptr);
  return v;
}

/**
 * parseJSONBytes reads len bytes of UTF-8 at ptr as one JSON value; null if
 * they are not valid JSON (jsonError() says why). Invalid UTF-8 inside
 * strings becomes U+FFFD. The bytes are not referred to afterwards.
 */
export function parseJSONBytes(ptr: usize, len: i32): JSONValue | null {
  const p = new Parser(ptr, ptr + <usize>len);
  let v = p.value();
  if (v !== null) {
    p.ws();
    if (p.pos != p.end) v = p.fail("unexpected data after the JSON value");
  }
  if (v === null) setError(p.err, p.errAt);
  return v;
}

// A scratch buffer of UTF-16 units for decoding strings, grown as needed.
const UNITS_SIZE = 256;
let units: ArrayBuffer = new ArrayBuffer(UNITS_SIZE);

// _shrinkScratch lets a scratch buffer that a long string grew be collected.
export function _shrinkScratch(): void {
  if (units.byteLength > 64 << 10) units = new ArrayBuffer(UNITS_SIZE);
}

class Parser {
  pos: usize;
  end: usize;
  start: usize;
  depth: i32 = 0;
  err: string = "";
  errAt: i32 = 0;

  constructor(ptr: usize, end: usize) {
    this.start = ptr;
    this.pos = ptr;
    this.end = end;
  }

  fail(msg: string): JSONValue | null {
    if (this.err.length == 0) {
      this.err = msg;
      this.errAt = <i32>(this.pos - this.start);
    }
    return null;
  }

  ws(): void {
    let p = this.pos;
    const end = this.end;
    while (p < end) {
      const c = load<u8>(p);
      if (c != 0x20 && c != 0x0A && c != 0x0D && c != 0x09) break;
      ++p;
    }
    this.pos = p;
  }

  value(): JSONValue | null {
    this.ws();
    if (this.pos >= this.end) return this.fail("unexpected end of input");
    const c = <u32>load<u8>(this.pos);
    switch (c) {
      case 0x7B: return this.object(); // {
      case 0x5B: return this.array(); // [
      case 0x22: { // "
        const s = this.string();
        return s === null ? null : JSONValue.fromString(s);
      }
      case 0x74: return this.literal("true", JSONValue.fromBool(true));
      case 0x66: return this.literal("false", JSONValue.fromBool(false));
      case 0x6E: return this.literal("null", JSONValue.fromNull());
      default:
        if (c == 0x2D || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail("unexpected " + describe(c));
    }
  }

  literal(word: string, v: JSONValue): JSONValue | null {
    const n = <usize>word.length;
    if (this.end - this.pos < n) return this.fail("invalid literal");
    for (let i: usize = 0; i < n; ++i) {
      if (<i32>load<u8>(this.pos + i) != word.charCodeAt(<i32>i)) return this.fail("invalid literal");
    }
    this.pos += n;
    return v;
  }

  digits(): i32 {
    let n = 0;
    while (this.pos < this.end) {
      const c = load<u8>(this.pos);
      if (c < 0x30 || c > 0x39) break;
      ++this.pos;
      ++n;
    }
    return n;
  }

  number(): JSONValue | null {
    const s = this.pos;
    if (load<u8>(this.pos) == 0x2D) ++this.pos;
    if (this.pos >= this.end) return this.fail("invalid number");
    const first = load<u8>(this.pos);
    if (first == 0x30) {
      ++this.pos;
    } else if (first >= 0x31 && first <= 0x39) {
      this.digits();
    } else {
      return this.fail("invalid number");
    }
    if (this.pos < this.end && load<u8>(this.pos) == 0x2E) { // .
      ++this.pos;
      if (this.digits() == 0) return this.fail("invalid number: no digit after the decimal point");
    }
    if (this.pos < this.end && (load<u8>(this.pos) | 0x20) == 0x65) { // e E
      ++this.pos;
      if (this.pos < this.end && (load<u8>(this.pos) == 0x2B || load<u8>(this.pos) == 0x2D)) ++this.pos;
      if (this.digits() == 0) return this.fail("invalid number: no digit in the exponent");
    }
    const literal = String.UTF8.decodeUnsafe(s, this.pos - s);
    return JSONValue._number(literal, parseFloat(literal));
  }

  // string reads a string; pos is at its opening quote.
  string(): string | null {
    const open = this.pos;
    let p = open + 1;
    const end = this.end;
    // Find the closing quote.
    while (p >= end || load<u8>(p) != 0x22) {
      if (p >= end) {
        this.fail("unterminated string");
        return null;
      }
      const c = load<u8>(p);
      if (c == 0x5C) {
        p += 2;
      } else if (c < 0x20) {
        this.pos = p;
        this.fail("control character in a string (it must be escaped)");
        return null;
      } else {
        ++p;
      }
    }
    const close = p;
    // At most one UTF-16 unit per byte.
    const need = (close - open) << 1;
    if (<usize>units.byteLength < need) units = new ArrayBuffer(<i32>max(need, <usize>units.byteLength << 1));
    const out = changetype<usize>(units);
    let o = out;
    let q = open + 1;
    while (q < close) {
      const c = <u32>load<u8>(q);
      if (c == 0x5C) {
        const e = <u32>load<u8>(q + 1);
        q += 2;
        let u: u32 = 0;
        switch (e) {
          case 0x22: u = 0x22; break;
          case 0x5C: u = 0x5C; break;
          case 0x2F: u = 0x2F; break;
          case 0x62: u = 0x08; break;
          case 0x66: u = 0x0C; break;
          case 0x6E: u = 0x0A; break;
          case 0x72: u = 0x0D; break;
          case 0x74: u = 0x09; break;
          case 0x75: { // uXXXX; a surrogate pair is two escapes, each one unit
            if (close - q < 4) {
              this.pos = q - 2;
              this.fail("invalid \\u escape");
              return null;
            }
            for (let i = 0; i < 4; ++i) {
              const h = hexValue(<u32>load<u8>(q + <usize>i));
              if (h < 0) {
                this.pos = q - 2;
                this.fail("invalid \\u escape");
                return null;
              }
              u = (u << 4) | <u32>h;
            }
            q += 4;
            break;
          }
          default:
            this.pos = q - 2;
            this.fail("invalid escape \\" + String.fromCharCode(e));
            return null;
        }
        store<u16>(o, <u16>u);
        o += 2;
      } else if (c < 0x80) {
        store<u16>(o, <u16>c);
        o += 2;
        ++q;
      } else {
        // One UTF-8 sequence; an invalid one is U+FFFD and skips one byte.
        let cp: u32 = 0xFFFD;
        let n: usize = 1;
        const left = close - q;
        if (c >= 0xC2 && c <= 0xDF) {
          if (left >= 2 && isCont(q + 1)) {
            cp = ((c & 0x1F) << 6) | (<u32>load<u8>(q + 1) & 0x3F);
            n = 2;
          }
        } else if (c >= 0xE0 && c <= 0xEF) {
          if (left >= 3 && isCont(q + 1) && isCont(q + 2)) {
            const c1 = <u32>load<u8>(q + 1);
            // Not overlong (E0 80..9F) and not a surrogate (ED A0..BF).
            if (!(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0)) {
              cp = ((c & 0x0F) << 12) | ((c1 & 0x3F) << 6) | (<u32>load<u8>(q + 2) & 0x3F);
              n = 3;
            }
          }
        } else if (c >= 0xF0 && c <= 0xF4) {
          if (left >= 4 && isCont(q + 1) && isCont(q + 2) && isCont(q + 3)) {
            const c1 = <u32>load<u8>(q + 1);
            // Not overlong (F0 80..8F) and not past U+10FFFF (F4 90..).
            if (!(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90)) {
              cp = ((c & 0x07) << 18) | ((c1 & 0x3F) << 12) | ((<u32>load<u8>(q + 2) & 0x3F) << 6) | (<u32>load<u8>(q + 3) & 0x3F);
              n = 4;
            }
          }
        }
        q += n;
        if (cp >= 0x10000) {
          cp -= 0x10000;
          store<u16>(o, <u16>(0xD800 | (cp >> 10)));
          store<u16>(o, <u16>(0xDC00 | (cp & 0x3FF)), 2);
          o += 4;
        } else {
          store<u16>(o, <u16>cp);
          o += 2;
        }
      }
    }
    this.pos = close + 1;
    return String.UTF16.decodeUnsafe(out, o - out);
  }

  array(): JSONValue | null {
    if (++this.depth > MAX_DEPTH) return this.fail("arrays and objects nested more than " + MAX_DEPTH.toString() + " deep");
    ++this.pos; // [
    const a = new JSONArray();
    this.ws();
    if (this.pos < this.end && load<u8>(this.pos) == 0x5D) {
      ++this.pos;
      --this.depth;
      return JSONValue.fromArray(a);
    }
    // (A while loop with a flag: AssemblyScript 0.28 drops the code after
    // a for (;;) that is left with break.)
    let more = true;
    while (more) {
      const v = this.value();
      if (v === null) return null;
      a.push(v);
      this.ws();
      if (this.pos >= this.end) return this.fail("unterminated array");
      const c = load<u8>(this.pos);
      if (c == 0x5D) { // ]
        more = false;
      } else if (c != 0x2C) { // ,
        return this.fail("expected ',' or ']' in an array, found " + describe(c));
      }
      ++this.pos;
    }
    --this.depth;
    return JSONValue.fromArray(a);
  }

  object(): JSONValue | null {
    if (++this.depth > MAX_DEPTH) return this.fail("arrays and objects nested more than " + MAX_DEPTH.toString() + " deep");
    ++this.pos; // {
    const o = new JSONObject();
    this.ws();
    if (this.pos < this.end && load<u8>(this.pos) == 0x7D) {
      ++this.pos;
      --this.depth;
      return JSONValue.fromObject(o);
    }
    let more = true;
    while (more) {
      this.ws();
      if (this.pos >= this.end) return this.fail("unterminated object");
      if (load<u8>(this.pos) != 0x22) return this.fail("expected a string key in an object, found " + describe(load<u8>(this.pos)));
      const key = this.string();
      if (key === null) return null;
      this.ws();
      if (this.pos >= this.end || load<u8>(this.pos) != 0x3A) return this.fail("expected ':' after an object key");
      ++this.pos;
      const v = this.value();
      if (v === null) return null;
      o.set(key, v); // a repeated key: the last value wins, as in JavaScript
      this.ws();
      if (this.pos >= this.end) return this.fail("unterminated object");
      const c = load<u8>(this.pos);
      if (c == 0x7D) { // }
        more = false;
      } else if (c != 0x2C) { // ,
        return this.fail("expected ',' or '}' in an object, found " + describe(c));
      }
      ++this.pos;
    }
    --this.depth;
    return JSONValue.fromObject(o);
  }
}

function isCont(p: usize): bool {
  return (load<u8>(p) & 0xC0) == 0x80;
}

function hexValue(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return <i32>(l - 0x61 + 10);
  return -1;
}

function describe(c: u32): string {
  if (c >= 0x21 && c < 0x7F) return "'" + String.fromCharCode(c) + "'";
  return "byte 0x" + c.toString(16);
}

// ---- writing ----

const HEX = "0123456789abcdef";

/**
 * JSONWriter writes JSON text as UTF-8 into a buffer it grows. Lone
 * surrogates in strings, which UTF-8 cannot carry, are written as \uXXXX
 * escapes; control characters are escaped too.
 */
export class JSONWriter {
  buf: ArrayBuffer;
  len: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.buf = new ArrayBuffer(max(capacity, 16));
  }

  /** reset empties the writer and keeps its buffer. */
  reset(): void {
    this.len = 0;
  }

  get ptr(): usize {
    return changetype<usize>(this.buf);
  }

  private grow(more: i32): usize {
    const need = this.len + more;
    if (need > this.buf.byteLength) {
      let cap = this.buf.byteLength << 1;
      if (cap < need) cap = need;
      const nb = new ArrayBuffer(cap);
      memory.copy(changetype<usize>(nb), changetype<usize>(this.buf), <usize>this.len);
      this.buf = nb;
    }
    return changetype<usize>(this.buf) + <usize>this.len;
  }

  byte(c: u32): void {
    store<u8>(this.grow(1), <u8>c);
    this.len += 1;
  }

  ascii(s: string): void {
    const n = s.length;
    const p = this.grow(n);
    const src = changetype<usize>(s);
    for (let i = 0; i < n; ++i) store<u8>(p + <usize>i, <u8>load<u16>(src + (<usize>i << 1)));
    this.len += n;
  }

  string(s: string): void {
    const n = s.length;
    // At most 6 bytes (an escape) per UTF-16 unit, plus the quotes.
    let p = this.grow(n * 6 + 2);
    const start = p;
    store<u8>(p++, 0x22);
    const src = changetype<usize>(s);
    for (let i = 0; i < n; ++i) {
      const c = <u32>load<u16>(src + (<usize>i << 1));
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5C) {
          store<u8>(p++, <u8>c);
          continue;
        }
        store<u8>(p++, 0x5C);
        switch (c) {
          case 0x22: store<u8>(p++, 0x22); break;
          case 0x5C: store<u8>(p++, 0x5C); break;
          case 0x08: store<u8>(p++, 0x62); break;
          case 0x0C: store<u8>(p++, 0x66); break;
          case 0x0A: store<u8>(p++, 0x6E); break;
          case 0x0D: store<u8>(p++, 0x72); break;
          case 0x09: store<u8>(p++, 0x74); break;
          default: p = putU(p, c);
        }
      } else if (c < 0x800) {
        store<u8>(p++, <u8>(0xC0 | (c >> 6)));
        store<u8>(p++, <u8>(0x80 | (c & 0x3F)));
      } else if (c >= 0xD800 && c <= 0xDFFF) {
        const lo = i + 1 < n ? <u32>load<u16>(src + (<usize>(i + 1) << 1)) : 0;
        if (c <= 0xDBFF && lo >= 0xDC00 && lo <= 0xDFFF) {
          const cp = 0x10000 + (((c & 0x3FF) << 10) | (lo & 0x3FF));
          store<u8>(p++, <u8>(0xF0 | (cp >> 18)));
          store<u8>(p++, <u8>(0x80 | ((cp >> 12) & 0x3F)));
          store<u8>(p++, <u8>(0x80 | ((cp >> 6) & 0x3F)));
          store<u8>(p++, <u8>(0x80 | (cp & 0x3F)));
          ++i;
        } else {
          store<u8>(p++, 0x5C);
          p = putU(p, c); // a lone surrogate
        }
      } else {
        store<u8>(p++, <u8>(0xE0 | (c >> 12)));
        store<u8>(p++, <u8>(0x80 | ((c >> 6) & 0x3F)));
        store<u8>(p++, <u8>(0x80 | (c & 0x3F)));
      }
    }
    store<u8>(p++, 0x22);
    this.len += <i32>(p - start);
  }

  value(v: JSONValue): void {
    switch (v.kind) {
      case JSONKind.Null: this.ascii("null"); break;
      case JSONKind.Bool: this.ascii(v.asBool() ? "true" : "false"); break;
      case JSONKind.Number: this.ascii(v._text_()); break;
      case JSONKind.String: this.string(v.asString()); break;
      case JSONKind.Array: this.array(changetype<JSONArray>(v.asArray())); break;
      case JSONKind.Object: this.object(changetype<JSONObject>(v.asObject())); break;
    }
  }

  array(a: JSONArray): void {
    this.byte(0x5B);
    for (let i = 0, n = a.length; i < n; ++i) {
      if (i > 0) this.byte(0x2C);
      this.value(changetype<JSONValue>(a.at(i)));
    }
    this.byte(0x5D);
  }

  object(o: JSONObject): void {
    this.byte(0x7B);
    for (let i = 0, n = o.size; i < n; ++i) {
      if (i > 0) this.byte(0x2C);
      this.string(o._key(i));
      this.byte(0x3A);
      this.value(o._val(i));
    }
    this.byte(0x7D);
  }

  toString(): string {
    return String.UTF8.decodeUnsafe(changetype<usize>(this.buf), <usize>this.len);
  }
}

// putU writes "uXXXX" (the backslash is already written).
function putU(p: usize, c: u32): usize {
  store<u8>(p, 0x75);
  store<u8>(p + 1, <u8>HEX.charCodeAt((c >> 12) & 0xF));
  store<u8>(p + 2, <u8>HEX.charCodeAt((c >> 8) & 0xF));
  store<u8>(p + 3, <u8>HEX.charCodeAt((c >> 4) & 0xF));
  store<u8>(p + 4, <u8>HEX.charCodeAt(c & 0xF));
  return p + 5;
}
