// Wisp's Node.js SDK: typed parameters, logging and errors for nodejs:20
// actions. No dependencies. Wisp's nodejs:20 runtime provides it
// (require('@wispfaas/wisp') just works); an action may also ship its own
// copy in node_modules, which then wins.
'use strict';

const util = require('util');

/**
 * An error that is the action's answer: the result {error: message, ...fields},
 * an application error in OpenWhisk's terms. Wisp's launcher turns it into
 * the result even without wisp.action; any other exception is a crash.
 */
class ActionError extends Error {
  constructor(message, fields) {
    super(message);
    this.name = 'ActionError';
    this.fields = fields || {};
  }

  /** The result this error stands for (the launcher calls it). */
  wispResult() {
    return { error: this.message, ...this.fields };
  }
}

/** Parameters that do not fit the action's schema; path says where ("items[2].name"). */
class ParamsError extends ActionError {
  constructor(path, problem) {
    super(`${path ? `parameter ${JSON.stringify(path)}` : 'the parameters'} ${problem}`);
    this.name = 'ParamsError';
    this.path = path;
    this.problem = problem;
  }
}

function jsonName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': return 'a string';
    case 'number': return 'a number';
    case 'boolean': return 'a boolean';
    case 'object': return 'an object';
    default: return typeof v;
  }
}

function show(v) {
  let s;
  try {
    s = JSON.stringify(v);
  } catch (_) {
    s = String(v);
  }
  if (s === undefined) s = String(v);
  return s.length > 40 ? s.slice(0, 40) + '...' : s;
}

function join(path, key) {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/**
 * A type of the schema: decode(value, path) returns the value or throws a
 * ParamsError. optional() lets the field be missing (or null);
 * default(v) fills it in when missing.
 */
class Type {
  constructor(name, decode) {
    this.name = name;
    this.decodeValue = decode;
    this.isOptional = false;
    this.hasDefault = false;
    this.defaultValue = undefined;
  }

  decode(value, path = '') {
    return this.decodeValue(value, path);
  }

  optional() {
    const t = Object.assign(Object.create(Type.prototype), this);
    t.isOptional = true;
    return t;
  }

  default(v) {
    const t = Object.assign(Object.create(Type.prototype), this);
    t.hasDefault = true;
    t.defaultValue = v;
    return t;
  }
}

function expect(name, ok) {
  return new Type(name, (v, path) => {
    if (!ok(v)) throw new ParamsError(path, `must be ${name}, not ${jsonName(v)} ${show(v)}`);
    return v;
  });
}

function toType(s) {
  if (s instanceof Type) return s;
  if (s && typeof s === 'object' && !Array.isArray(s)) return t.object(s);
  throw new TypeError(`wisp: ${show(s)} is not a schema type: use wisp.t.string(), wisp.t.object({...}), ...`);
}

/** The schema's types. */
const t = {
  string: () => expect('a string', (v) => typeof v === 'string'),
  number: () => expect('a number', (v) => typeof v === 'number' && Number.isFinite(v)),
  integer: () => expect('an integer', (v) => Number.isInteger(v)),
  boolean: () => expect('a boolean', (v) => typeof v === 'boolean'),
  any: () => new Type('anything', (v) => v),
  /** One of the given JSON values (strings, numbers, booleans). */
  oneOf: (...values) =>
    new Type(`one of ${values.map(show).join(', ')}`, (v, path) => {
      if (!values.includes(v)) throw new ParamsError(path, `must be one of ${values.map(show).join(', ')}, not ${show(v)}`);
      return v;
    }),
  array: (item) => {
    const it = toType(item);
    return new Type(`an array of ${it.name}`, (v, path) => {
      if (!Array.isArray(v)) throw new ParamsError(path, `must be an array, not ${jsonName(v)} ${show(v)}`);
      return v.map((x, i) => it.decode(x, join(path, i)));
    });
  },
  /** An object with any keys whose values are of one type. */
  record: (value) => {
    const vt = toType(value);
    return new Type(`an object of ${vt.name}`, (v, path) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new ParamsError(path, `must be an object, not ${jsonName(v)} ${show(v)}`);
      }
      const out = {};
      for (const [k, x] of Object.entries(v)) out[k] = vt.decode(x, join(path, k));
      return out;
    });
  },
  /** An object with the given fields; fields it does not declare are dropped. */
  object: (fields) => {
    const fs = Object.entries(fields).map(([k, s]) => [k, toType(s)]);
    return new Type('an object', (v, path) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new ParamsError(path, `must be an object, not ${jsonName(v)} ${show(v)}`);
      }
      const out = {};
      for (const [k, ft] of fs) {
        const x = Object.prototype.hasOwnProperty.call(v, k) ? v[k] : undefined;
        if (x === undefined || (x === null && (ft.isOptional || ft.hasDefault))) {
          if (ft.hasDefault) out[k] = ft.defaultValue;
          else if (!ft.isOptional) throw new ParamsError(join(path, k), `is missing (${ft.name})`);
          continue;
        }
        out[k] = ft.decode(x, join(path, k));
      }
      return out;
    });
  },
};

/**
 * The activation the action serves, from Wisp's __OW_* variables (set
 * before every call of main).
 */
function activation() {
  const env = process.env;
  const dl = Number(env.__OW_DEADLINE);
  const deadline = env.__OW_DEADLINE && Number.isFinite(dl) ? new Date(dl) : null;
  return {
    id: env.__OW_ACTIVATION_ID || '',
    namespace: env.__OW_NAMESPACE || '',
    actionName: env.__OW_ACTION_NAME || '',
    actionVersion: env.__OW_ACTION_VERSION || '',
    apiHost: env.__OW_API_HOST || '',
    apiKey: env.__OW_API_KEY || '',
    deadline,
    /** Milliseconds left before the time limit, or null if unknown. */
    remaining() {
      return deadline ? deadline.getTime() - Date.now() : null;
    },
  };
}

// Wisp stamps each log line with its time and stream: the logger adds only
// the level.
const levels = { debug: 10, info: 20, warn: 30, error: 40 };
const log = {
  /** Lines below this level are dropped; WISP_LOG_LEVEL sets it (default info). */
  level: levels[(process.env.WISP_LOG_LEVEL || '').toLowerCase()] || levels.info,
};
for (const [name, n] of Object.entries(levels)) {
  log[name] = (...args) => {
    if (n >= log.level) process.stderr.write(`${name.toUpperCase()} ${util.format(...args)}\n`);
  };
}

/**
 * action(schema, fn) makes an OpenWhisk main out of fn(params, activation).
 * The parameters are decoded with the schema (an object of types, or a
 * type); parameters that do not fit are answered with
 * {error: 'parameter "x" must be ...'} without calling fn. fn may be
 * async; an ActionError it throws becomes its result. action(fn) passes
 * the parameters as they are.
 */
function action(schema, fn) {
  if (typeof schema === 'function' && fn === undefined) {
    fn = schema;
    schema = null;
  }
  if (typeof fn !== 'function') throw new TypeError('wisp.action(schema, fn): fn is not a function');
  const type = schema == null ? null : toType(schema);
  const main = async function main(params) {
    try {
      const p = type ? type.decode(params == null ? {} : params) : params;
      return await fn(p, activation());
    } catch (e) {
      if (e && typeof e.wispResult === 'function') return e.wispResult();
      throw e;
    }
  };
  main.schema = type;
  return main;
}

module.exports = { action, activation, ActionError, ParamsError, Type, t, log };
