// Drives a Wisp server through the unmodified OpenWhisk JavaScript client
// (npm "openwhisk"), as an OpenWhisk user would. Run by e2e/owclient_test.go.
//
// Environment:
//   APIHOST  the server, with its scheme: http://127.0.0.1:3233 (without a
//            scheme the client assumes https)
//   AUTH     the namespace's key, UUID:KEY
//   WASM     path of the hello test action (greets params.name, logs to stderr)
//   ACTION   name to create the action under (default "owhello")
//
// Exits 0 when every step gives what OpenWhisk would; otherwise prints what
// differed and exits 1.
'use strict'

const fs = require('fs')
const assert = require('assert')
const openwhisk = require('openwhisk')

function env (name, def) {
  const v = process.env[name] || def
  if (!v) {
    console.error(`run.js: ${name} is not set`)
    process.exit(2)
  }
  return v
}

async function main () {
  const apihost = env('APIHOST')
  const ow = openwhisk({ apihost, api_key: env('AUTH'), ignore_certs: true })
  const name = env('ACTION', 'owhello')
  const code = fs.readFileSync(env('WASM'))

  // Create, from a Buffer: the client sends it base64-encoded.
  const created = await ow.actions.create({ name, action: code, kind: 'wasm', params: { name: 'Default' } })
  assert.strictEqual(created.name, name, 'create: name')
  assert.strictEqual(created.version, '0.0.1', 'create: version')
  assert.strictEqual(created.exec.kind, 'wasm', 'create: kind')

  // Update through the client's overwrite, then read it back.
  const updated = await ow.actions.update({ name, action: code, kind: 'wasm', limits: { timeout: 10000 } })
  assert.strictEqual(updated.version, '0.0.2', 'update: version')
  const got = await ow.actions.get({ name })
  assert.strictEqual(got.exec.code, code.toString('base64'), 'get: code')
  assert.strictEqual(got.limits.timeout, 10000, 'get: limits.timeout')
  const list = await ow.actions.list()
  assert.ok(list.some(a => a.name === name), `actions.list has no ${name}`)

  // Invoke, blocking, for the result only.
  const result = await ow.actions.invoke({ name, blocking: true, result: true, params: { name: 'Ann' } })
  assert.strictEqual(result.greeting, 'Hello, Ann!', `invoke result: ${JSON.stringify(result)}`)

  // Invoke, blocking, for the whole activation.
  const act = await ow.actions.invoke({ name, blocking: true, params: { name: 'Bea' } })
  assert.match(act.activationId, /^[0-9a-f]{32}$/, 'invoke: activationId')
  assert.strictEqual(act.response.success, true, 'invoke: response.success')
  assert.strictEqual(act.response.result.greeting, 'Hello, Bea!', 'invoke: response.result')

  // Not blocking: only the id.
  const queued = await ow.actions.invoke({ name })
  assert.match(queued.activationId, /^[0-9a-f]{32}$/, 'non-blocking invoke: activationId')

  // Activations: list, get, logs, result.
  const acts = await ow.activations.list({ name, limit: 10 })
  assert.ok(Array.isArray(acts) && acts.some(a => a.activationId === act.activationId), 'activations.list misses the blocking activation')
  const one = await ow.activations.get({ activationId: act.activationId })
  assert.strictEqual(one.activationId, act.activationId, 'activations.get: id')
  assert.strictEqual(one.name, name, 'activations.get: name')
  assert.deepStrictEqual(one.response, act.response, 'activations.get: response')
  const logs = await ow.activations.logs({ activationId: act.activationId })
  assert.ok(Array.isArray(logs.logs) && logs.logs.some(l => l.includes('hello: greeting Bea')), `activations.logs: ${JSON.stringify(logs)}`)
  const res = await ow.activations.result({ activationId: act.activationId })
  assert.strictEqual(res.result.greeting, 'Hello, Bea!', 'activations.result')

  // Errors come back as the client's OpenWhiskError with the status code.
  try {
    await ow.actions.get({ name: 'no-such-action' })
    assert.fail('get of a missing action did not fail')
  } catch (err) {
    assert.strictEqual(err.statusCode, 404, `missing action: ${err}`)
  }
  try {
    await ow.actions.invoke({ name, blocking: true, params: { fail: 'on purpose' } })
    assert.fail('an application error did not fail')
  } catch (err) {
    assert.strictEqual(err.statusCode, 502, `application error: ${err}`)
    assert.match(err.message, /on purpose/, 'application error message')
  }

  await ow.actions.delete({ name })
  try {
    await ow.actions.get({ name })
    assert.fail('the deleted action is still there')
  } catch (err) {
    assert.strictEqual(err.statusCode, 404, `deleted action: ${err}`)
  }
  console.log('ok: the OpenWhisk client created, invoked, listed, read and deleted', name)
}

main().catch(err => {
  console.error('run.js: FAILED:', err && err.stack ? err.stack : err)
  process.exit(1)
})
