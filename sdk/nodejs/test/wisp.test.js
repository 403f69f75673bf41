// Tests of @wispfaas/wisp: node --test (from sdk/nodejs).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const Module = require('module');

const wisp = require('..');
const { t } = wisp;

const schema = {
  name: t.string(),
  age: t.integer().default(0),
  score: t.number().optional(),
  admin: t.boolean().default(false),
  tags: t.array(t.string()).default([]),
  address: t.object({ city: t.string(), zip: t.string().optional() }).optional(),
  color: t.oneOf('red', 'blue').default('red'),
  extra: t.record(t.integer()).optional(),
};

test('decodes parameters', () => {
  const main = wisp.action(schema, (p) => p);
  return main({ name: 'Ada', age: 36, score: 1.5, tags: ['a'], address: { city: 'London' }, color: 'blue', extra: { x: 1 }, __ow_method: 'get' }).then((r) =>
    assert.deepEqual(r, { name: 'Ada', age: 36, score: 1.5, admin: false, tags: ['a'], address: { city: 'London' }, color: 'blue', extra: { x: 1 } }),
  );
});

test('defaults and optional fields', async () => {
  const main = wisp.action(schema, (p) => p);
  assert.deepEqual(await main({ name: 'Ada', score: null }), { name: 'Ada', age: 0, admin: false, tags: [], color: 'red' });
});

test('parameters that do not fit name the field', async () => {
  const cases = [
    [{}, 'name', 'is missing (a string)'],
    [{ name: 3 }, 'name', 'must be a string, not a number 3'],
    [{ name: 'a', age: '3' }, 'age', 'must be an integer, not a string "3"'],
    [{ name: 'a', age: 1.5 }, 'age', 'must be an integer'],
    [{ name: 'a', admin: 'yes' }, 'admin', 'must be a boolean'],
    [{ name: 'a', tags: 'x' }, 'tags', 'must be an array'],
    [{ name: 'a', tags: ['x', 2] }, 'tags[1]', 'must be a string'],
    [{ name: 'a', address: {} }, 'address.city', 'is missing'],
    [{ name: 'a', address: { city: 'c', zip: 1 } }, 'address.zip', 'must be a string'],
    [{ name: 'a', color: 'green' }, 'color', 'must be one of "red", "blue", not "green"'],
    [{ name: 'a', extra: { k: 'v' } }, 'extra.k', 'must be an integer'],
    [{ name: 'a', score: Infinity }, 'score', 'must be a number'],
  ];
  let called = false;
  const main = wisp.action(schema, () => {
    called = true;
    return {};
  });
  for (const [params, where, problem] of cases) {
    const r = await main(params);
    assert.ok(r.error.startsWith(`parameter "${where}" `), `${JSON.stringify(params)}: ${r.error}`);
    assert.ok(r.error.includes(problem), `${JSON.stringify(params)}: ${r.error}`);
  }
  assert.equal(called, false);
  assert.deepEqual(await wisp.action(t.object({ a: t.any() }), () => ({}))([1]), {
    error: 'the parameters must be an object, not an array [1]',
  });
});

test('ActionError is the result; other errors propagate', async () => {
  const fails = wisp.action(async () => {
    throw new wisp.ActionError('no luck', { code: 7 });
  });
  assert.deepEqual(await fails({}), { error: 'no luck', code: 7 });
  const crashes = wisp.action(() => {
    throw new TypeError('boom');
  });
  await assert.rejects(crashes({}), TypeError);
});

test('the activation comes from the environment', () => {
  const keys = ['__OW_ACTIVATION_ID', '__OW_NAMESPACE', '__OW_ACTION_NAME', '__OW_ACTION_VERSION', '__OW_API_HOST', '__OW_API_KEY', '__OW_DEADLINE'];
  try {
    Object.assign(process.env, {
      __OW_ACTIVATION_ID: 'a1',
      __OW_NAMESPACE: 'guest',
      __OW_ACTION_NAME: '/guest/hi',
      __OW_ACTION_VERSION: '0.0.1',
      __OW_API_HOST: 'http://h',
      __OW_API_KEY: 'k',
      __OW_DEADLINE: '4102444800000',
    });
    const a = wisp.activation();
    assert.equal(a.id, 'a1');
    assert.equal(a.actionName, '/guest/hi');
    assert.equal(a.deadline.getUTCFullYear(), 2100);
    assert.ok(a.remaining() > 0);
    delete process.env.__OW_DEADLINE;
    assert.equal(wisp.activation().deadline, null);
    assert.equal(wisp.activation().remaining(), null);
  } finally {
    for (const k of keys) delete process.env[k];
  }
});

test('log writes levelled lines to stderr', () => {
  const lines = [];
  const write = process.stderr.write;
  process.stderr.write = (s) => lines.push(s);
  try {
    wisp.log.info('hello %s', 'there', 3);
    wisp.log.debug('hidden');
    wisp.log.error('bad');
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(lines, ['INFO hello there 3\n', 'ERROR bad\n']);
});

test('a schema that is not one is refused', () => {
  assert.throws(() => wisp.action({ a: 'string' }, () => ({})), /not a schema type/);
  assert.throws(() => wisp.action({}), /fn is not a function/);
});

test('the example', async () => {
  // The example requires the package by name, as an action does.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-sdk-'));
  fs.mkdirSync(path.join(dir, '@wispfaas'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(dir, '@wispfaas', 'wisp'));
  process.env.NODE_PATH = dir;
  Module._initPaths();
  try {
    const { main } = require('../examples/hello');
    process.env.__OW_ACTIVATION_ID = 'x1';
    const write = process.stderr.write;
    process.stderr.write = () => true;
    try {
      assert.deepEqual(await main({ name: 'Ada', times: 2 }), { greeting: 'Hello Ada! Hello Ada!', activation: 'x1' });
      assert.deepEqual(await main({ name: 'Ada', times: 0 }), { error: 'times must be at least 1', times: 0 });
      assert.deepEqual(await main({}), { error: 'parameter "name" is missing (a string)' });
    } finally {
      process.stderr.write = write;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
