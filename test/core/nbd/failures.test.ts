/**
 * NbdClient failure modes, each ending in a stable code and never a hang:
 * refused handshakes, server error answers, a killed server, aborts,
 * timeouts, and hostile fake servers breaking the protocol.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NbdClient } from '../../../core/nbd/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { chunk, fakeServer, IHAVEOPT, NBDMAGIC, nbdkit, optionReply, qcow2, qemuNbd, type Teardown } from './servers.ts'
import { requireTools } from '../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-nbd', 'nbdkit'])

const MiB = 2 ** 20

async function connect (t: Teardown, init: Parameters<typeof NbdClient.connect>[0]): Promise<NbdClient> {
  const client = await NbdClient.connect(init)
  t.teardown(async () => { await client.close() })
  return client
}

t.test('an unknown export name fails the handshake; a missing server fails to connect', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'vm.qcow2')
  await qcow2(image, '1M', [])
  const server = await qemuNbd(t, dir, image, { name: 'disk' })
  await t.rejects(NbdClient.connect({ socketPath: server.socket, exportName: 'nope' }), { code: 'CORE_NBD_HANDSHAKE_FAILED' })
  await t.rejects(NbdClient.connect({ socketPath: join(dir, 'absent.sock'), exportName: 'disk' }), { code: 'CORE_NBD_DISCONNECTED' })
  const client = await connect(t, { socketPath: server.socket, exportName: 'disk' })
  t.equal(client.size, MiB, 'the right name still works')
})

t.test('a range past the end is a TypeError, sent to no server', async t => {
  const dir = await tempDir(t)
  const server = await nbdkit(t, dir, ['memory', '1M'])
  const client = await connect(t, { socketPath: server.socket, exportName: '', metaContexts: ['base:allocation'] })
  await t.rejects(client.read(MiB - 10, 11), TypeError)
  await t.rejects(client.read(-1, 1), TypeError)
  await t.rejects(client.read(0, 10, new Uint8Array(5)), TypeError, 'a buffer too small')
  await t.rejects(client.blockStatus('base:allocation', MiB, 1), TypeError)
  t.same(await client.read(MiB - 10, 10), new Uint8Array(10), 'the connection is untouched')
})

t.test('a server error answer rejects that request only, with its errno', async t => {
  const dir = await tempDir(t)
  const trigger = join(dir, 'fail-now')
  await writeFile(trigger, '')
  // nbdkit's error filter fails every read while the trigger file exists.
  const server = await nbdkit(t, dir, ['memory', '4M', 'error-pread=EIO', 'error-pread-rate=100%', `error-pread-file=${trigger}`], ['error'])
  const client = await connect(t, { socketPath: server.socket, exportName: '' })
  const err = await client.read(0, 65536).then(() => undefined, (e: unknown) => e)
  t.match(err, { code: 'CORE_NBD_REQUEST_FAILED', details: { errno: 'EIO' } })
  await rm(trigger)
  t.notOk(existsSync(trigger))
  t.same(await client.read(0, 65536), new Uint8Array(65536), 'the same connection reads once the server recovers')
})

t.test('a server killed with requests in flight: each rejects with CORE_NBD_DISCONNECTED', async t => {
  const dir = await tempDir(t)
  // The delay filter holds every read long enough that all are in flight when the server dies.
  const server = await nbdkit(t, dir, ['memory', '64M', 'rdelay=30'], ['delay'])
  const client = await connect(t, { socketPath: server.socket, exportName: '' })
  const reads = Array.from({ length: 6 }, async (_, i) => await client.read(i * MiB, MiB))
  const settled = Promise.allSettled(reads)
  process.kill(server.process.pid!, 'SIGKILL')
  const results = await settled
  t.same(results.map(r => r.status), Array(6).fill('rejected'))
  for (const r of results) t.match((r as PromiseRejectedResult).reason, { code: 'CORE_NBD_DISCONNECTED' })
  await t.rejects(client.read(0, 1), { code: 'CORE_NBD_DISCONNECTED' }, 'later calls too')
  await client.close()
  await client.close()
  t.pass('close after a lost connection is quiet and idempotent')
})

t.test('an abort rejects with CORE_ABORTED and the connection stays usable', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'vm.qcow2')
  await qcow2(image, '64M', ['write -P 0x5a 0 64M'])
  const server = await qemuNbd(t, dir, image)
  const client = await connect(t, { socketPath: server.socket, exportName: 'disk' })
  const controller = new AbortController()
  const into = new Uint8Array(64 * MiB)
  const pending = client.read(0, 64 * MiB, into, controller.signal)
  controller.abort()
  await t.rejects(pending, { code: 'CORE_ABORTED' })
  await t.rejects(client.read(0, 1, undefined, controller.signal), { code: 'CORE_ABORTED' }, 'an aborted signal is refused up front')
  const again = await client.read(0, 64 * MiB)
  t.ok(again.every(b => b === 0x5a), 'late answers to the aborted requests were dropped, not mixed in')
  await t.rejects(NbdClient.connect({ socketPath: server.socket, exportName: 'disk', signal: controller.signal }), { code: 'CORE_ABORTED' })
})

t.test('timeouts: a silent handshake and a request never answered', async t => {
  const dir = await tempDir(t)
  const silent = await fakeServer(t, dir, { option: () => Buffer.alloc(0) })
  await t.rejects(NbdClient.connect({ socketPath: silent.socket, exportName: 'x', timeoutMs: 200 }), { code: 'CORE_NBD_TIMEOUT' })
  const mute = await fakeServer(t, dir, { request: () => {} })
  const client = await connect(t, { socketPath: mute.socket, exportName: 'x', requestTimeoutMs: 200 })
  t.equal(client.size, MiB)
  await t.rejects(client.read(0, 4096), { code: 'CORE_NBD_TIMEOUT' })
  await t.rejects(client.read(4096, 4096), { code: 'CORE_NBD_TIMEOUT' }, 'each request times out on its own')
})

/** A greeting of two 64-bit magics and handshake flags. */
function greeting (second: bigint, flags: number): Buffer {
  const g = Buffer.alloc(18)
  g.writeBigUInt64BE(NBDMAGIC, 0)
  g.writeBigUInt64BE(second, 8)
  g.writeUInt16BE(flags, 16)
  return g
}

t.test('hostile or unsuitable handshakes fail with a code, never a crash', async t => {
  const dir = await tempDir(t)
  const cases: Array<[string, Parameters<typeof fakeServer>[2], string]> = [
    ['wrong initial magic', { greeting: Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') }, 'CORE_NBD_PROTOCOL'],
    ['wrong newstyle magic', { greeting: greeting(0x1234n, 3) }, 'CORE_NBD_PROTOCOL'],
    ['oldstyle server', { greeting: Buffer.concat([greeting(0x00420281861253n, 0), Buffer.alloc(134)]) }, 'CORE_NBD_HANDSHAKE_FAILED'],
    ['no fixed newstyle', { greeting: greeting(IHAVEOPT, 0) }, 'CORE_NBD_HANDSHAKE_FAILED'],
    ['oversized option reply length', { option: o => optionReply(o, 1, Buffer.alloc(0), 0x7fffffff) }, 'CORE_NBD_PROTOCOL'],
    ['reply to another option', { option: o => optionReply(o + 1, 1) }, 'CORE_NBD_PROTOCOL'],
    ['bad option reply magic', { option: () => Buffer.alloc(20, 0x41) }, 'CORE_NBD_PROTOCOL'],
    ['structured replies refused', { option: o => o === 8 ? optionReply(8, 0x80000001) : undefined }, 'CORE_NBD_HANDSHAKE_FAILED'],
    ['GO unsupported', { option: o => o === 7 ? optionReply(7, 0x80000001) : undefined }, 'CORE_NBD_HANDSHAKE_FAILED'],
    ['GO acknowledged without export info', { option: o => o === 7 ? optionReply(7, 1) : undefined }, 'CORE_NBD_PROTOCOL'],
    ['endless INFO replies', { option: o => o === 7 ? Buffer.concat(Array(100).fill(optionReply(7, 3, Buffer.from([0, 99])))) : undefined }, 'CORE_NBD_PROTOCOL'],
    ['impossible block sizes', {
      option: o => {
        if (o !== 7) return undefined
        const b = Buffer.alloc(14); b.writeUInt16BE(3, 0); b.writeUInt32BE(3, 2); b.writeUInt32BE(4096, 6); b.writeUInt32BE(4096, 10)
        return optionReply(7, 3, b)
      }
    }, 'CORE_NBD_PROTOCOL'],
    ['a partial option reply, then silence', { option: () => Buffer.from([0x00, 0x03]) }, 'CORE_NBD_TIMEOUT']
  ]
  for (const [name, script, code] of cases) {
    const fake = await fakeServer(t, dir, script)
    await t.rejects(NbdClient.connect({ socketPath: fake.socket, exportName: 'x', metaContexts: ['base:allocation'], timeoutMs: 300 }), { code }, name)
  }
})

t.test('a server breaking the protocol in transmission fails the connection with CORE_NBD_PROTOCOL', async t => {
  const dir = await tempDir(t)
  const data = (cookie: bigint, offset: number, bytes: number, flags = 1): Buffer => {
    const p = Buffer.alloc(8 + bytes); p.writeBigUInt64BE(BigInt(offset), 0)
    return chunk(flags, 1, cookie, p)
  }
  const cases: Array<[string, (r: { cookie: bigint, offset: number, length: number }) => Buffer]> = [
    ['unknown cookie', r => data(r.cookie + 1000n, r.offset, r.length)],
    ['bad reply magic', () => Buffer.alloc(20, 0x42)],
    ['data outside the request', r => data(r.cookie, r.offset + 1, r.length)],
    ['overlapping data', r => Buffer.concat([data(r.cookie, r.offset, 512, 0), data(r.cookie, r.offset + 256, r.length - 256)])],
    ['done with bytes missing', r => data(r.cookie, r.offset, r.length - 1)],
    ['data chunk longer than the request', r => data(r.cookie, r.offset, r.length + 8)],
    ['unknown chunk type', r => chunk(1, 77, r.cookie)],
    ['simple reply to a read', r => { const b = Buffer.alloc(16); b.writeUInt32BE(0x67446698, 0); b.writeBigUInt64BE(r.cookie, 8); return b }]
  ]
  for (const [name, reply] of cases) {
    const fake = await fakeServer(t, dir, { request: (r, socket) => { socket.write(reply(r)) } })
    const client = await connect(t, { socketPath: fake.socket, exportName: 'x' })
    const other = client.read(8192, 4096).then(() => 'ok', (e: { code?: string }) => e.code)
    await t.rejects(client.read(0, 4096), { code: 'CORE_NBD_PROTOCOL' }, name)
    t.match(await other, /^CORE_NBD_(PROTOCOL|DISCONNECTED)$/, `${name}: the other request fails too (or was answered first)`)
    await t.rejects(client.read(0, 1), { code: 'CORE_NBD_DISCONNECTED' }, `${name}: the connection is closed`)
  }
})

t.test('a structured error chunk carries the errno and leaves the connection usable', async t => {
  const dir = await tempDir(t)
  const fake = await fakeServer(t, dir, {
    request: (r, socket) => {
      if (r.offset === 0) {
        const msg = Buffer.from('disk on fire')
        const p = Buffer.alloc(6 + msg.length); p.writeUInt32BE(5, 0); p.writeUInt16BE(msg.length, 4); msg.copy(p, 6)
        socket.write(chunk(1, 0x8001, r.cookie, p))
      } else {
        const p = Buffer.alloc(12); p.writeBigUInt64BE(BigInt(r.offset), 0); p.writeUInt32BE(r.length, 8)
        socket.write(chunk(1, 2, r.cookie, p))
      }
    }
  })
  const client = await connect(t, { socketPath: fake.socket, exportName: 'x' })
  await t.rejects(client.read(0, 4096), { code: 'CORE_NBD_REQUEST_FAILED', details: { errno: 'EIO', message: 'disk on fire' } })
  t.same(await client.read(4096, 4096, new Uint8Array(4096).fill(9)), new Uint8Array(4096), 'a hole chunk zero-fills')
})
