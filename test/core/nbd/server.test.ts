/**
 * NbdServer with well-behaved clients: our own NbdClient (pipelined reads,
 * block status) and scripted ones (replies out of order, simple replies,
 * the options a client may send), failures answered EIO, and the
 * server's lifecycle (socket mode, stop aborting reads in flight).
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CoreError, CoreErrorCode } from '../../../core/errors.ts'
import {
  BASE_ALLOCATION_CONTEXT_ID, NBD_CMD_BLOCK_STATUS, NBD_CMD_CACHE, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_READ,
  NBD_EINVAL, NBD_EIO, NBD_FLAG_CAN_MULTI_CONN, NBD_FLAG_HAS_FLAGS, NBD_FLAG_NO_ZEROES, NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_DF, NBD_FLAG_SEND_FLUSH, NBD_INFO_BLOCK_SIZE, NBD_INFO_EXPORT, NBD_OPT_EXPORT_NAME,
  NBD_OPT_INFO, NBD_OPT_LIST, NBD_OPT_LIST_META_CONTEXT, NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK, NBD_REP_INFO, NBD_REP_META_CONTEXT, NBD_REP_SERVER, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR, NBD_REPLY_TYPE_NONE, NBD_REPLY_TYPE_OFFSET_DATA, NBD_STATE_HOLE, NBD_STATE_ZERO
} from '../../../core/nbd/constants.ts'
import { MAX_SOCKET_PATH_BYTES, NbdClient, NbdServer, type NbdExport } from '../../../core/nbd/index.ts'
import { encodeGoOption, encodeOption, encodeSetMetaContextOption } from '../../../core/nbd/protocol.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { RawNbd, chunkErrno, memoryExport, patterned, startNbdServer, zeroRuns } from './server-fixtures.ts'

const KiB = 1024
const MiB = 1024 * KiB

/** A promise and its resolver, to hold an export call until the test says. */
function gate (): { wait: Promise<void>, open: () => void } {
  let open = (): void => {}
  const wait = new Promise<void>(resolve => { open = resolve })
  return { wait, open }
}

t.test('our NbdClient reads an export byte for byte, pipelined, and its allocation', async t => {
  const bytes = patterned(5 * MiB + 1000)
  const { socket } = await startNbdServer(t, [memoryExport('disk0', bytes, { blockSize: 64 * KiB }), memoryExport('other', new Uint8Array(10))])
  const client = await NbdClient.connect({ socketPath: socket, exportName: 'disk0', metaContexts: ['base:allocation'] })
  t.teardown(async () => { await client.close() })
  t.equal(client.size, bytes.length, 'size, not a multiple of any block size')
  t.equal(client.readOnly, true)
  t.same(client.blockSize, { minimum: 1, preferred: 64 * KiB, maximum: 32 * MiB })
  t.ok(client.metaContexts.has('base:allocation'))
  t.ok(Buffer.from(await client.read(0, bytes.length)).equals(bytes), 'the whole export')
  const ranges = Array.from({ length: 64 }, (_, i) => ({ offset: (i * 123_457) % (5 * MiB), length: 1 + ((i * 7919) % (300 * KiB)) }))
  const results = await Promise.all(ranges.map(async r => await client.read(r.offset, r.length)))
  for (const [i, r] of ranges.entries()) {
    t.ok(Buffer.from(results[i]!).equals(bytes.subarray(r.offset, r.offset + r.length)), `concurrent read ${i} at ${r.offset} (+${r.length})`)
  }
  const extents = await client.blockStatus('base:allocation', 0, bytes.length)
  let at = 0
  const expected = zeroRuns(bytes, 0, bytes.length, 4096).map(r => {
    const e = { offset: at, length: r.length, flags: r.zero ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0 }
    at += r.length
    return e
  })
  t.same(extents, expected, 'zero runs as holes, data as 0')
})

t.test('replies go out as reads complete, possibly out of order', async t => {
  const bytes = patterned(64 * KiB)
  const first = gate()
  const e = memoryExport('disk0', bytes, {
    read: async (offset, length) => {
      if (offset === 0) await first.wait
      return bytes.slice(offset, offset + length)
    }
  })
  const { socket } = await startNbdServer(t, [e])
  const raw = await RawNbd.connect(t, socket)
  await raw.handshake('disk0')
  raw.request(NBD_CMD_READ, 1n, 0, 4096)
  raw.request(NBD_CMD_READ, 2n, 4096, 4096)
  const second = await raw.reply()
  t.equal(second.cookie, 2n, 'the later read is answered first')
  first.open()
  const one = await raw.reply()
  t.equal(one.cookie, 1n)
  t.match(one, { kind: 'chunk', type: NBD_REPLY_TYPE_OFFSET_DATA, flags: NBD_REPLY_FLAG_DONE })
  if (one.kind === 'chunk') {
    t.equal(one.payload.readBigUInt64BE(0), 0n, 'data chunk offset')
    t.ok(one.payload.subarray(8).equals(bytes.subarray(0, 4096)))
  }
})

t.test('a failing read is answered EIO, reported to onError, and the connection goes on', async t => {
  const bytes = patterned(MiB)
  const failures: Array<{ code: unknown, where: unknown }> = []
  const e = memoryExport('disk0', bytes, {
    read: async (offset, length) => {
      if (offset < 128 * KiB && offset + length > 64 * KiB) throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, 'block 1 does not match its hash')
      return bytes.slice(offset, offset + length)
    }
  })
  const { socket } = await startNbdServer(t, [e], { onError: (err, where) => { failures.push({ code: (err as CoreError).code, where }) } })
  const client = await NbdClient.connect({ socketPath: socket, exportName: 'disk0' })
  t.teardown(async () => { await client.close() })
  await t.rejects(client.read(60 * KiB, 8 * KiB), { code: 'CORE_NBD_REQUEST_FAILED', details: { errno: 'EIO', message: 'CORE_BLOCK_CORRUPT' } })
  t.ok(Buffer.from(await client.read(128 * KiB, 64 * KiB)).equals(bytes.subarray(128 * KiB, 192 * KiB)), 'other ranges still read')
  t.same(failures, [{ code: 'CORE_BLOCK_CORRUPT', where: { exportName: 'disk0', command: 'read', offset: 60 * KiB, length: 8 * KiB } }])
})

t.test('without structured replies, READ is answered with simple replies', async t => {
  const bytes = patterned(256 * KiB)
  const { socket } = await startNbdServer(t, [memoryExport('disk0', bytes)])
  const raw = await RawNbd.connect(t, socket)
  const go = await raw.handshake('disk0', { structured: false })
  const info = go.find(r => r.type === NBD_REP_INFO && r.payload.readUInt16BE(0) === NBD_INFO_EXPORT)!
  t.equal(info.payload.readUInt16BE(10) & NBD_FLAG_SEND_DF, 0, 'DF only with structured replies')
  raw.request(NBD_CMD_READ, 7n, 1000, 5000)
  const data = await raw.reply(5000)
  t.match(data, { kind: 'chunk', cookie: 7n })
  if (data.kind === 'chunk') t.ok(data.payload.equals(bytes.subarray(1000, 6000)))
  raw.request(NBD_CMD_READ, 8n, bytes.length - 10, 11)
  t.same(await raw.reply(11), { kind: 'simple', error: NBD_EINVAL, cookie: 8n }, 'past the end: EINVAL, no data')
  raw.request(NBD_CMD_BLOCK_STATUS, 9n, 0, 4096)
  t.same(await raw.reply(), { kind: 'simple', error: NBD_EINVAL, cookie: 9n }, 'no block status without contexts')
})

t.test('handshake options: LIST, INFO then GO, block sizes, transmission flags', async t => {
  const { socket } = await startNbdServer(t, [memoryExport('disk0', patterned(MiB)), memoryExport('disk1', patterned(2 * MiB), { blockSize: 1 * MiB })])
  const raw = await RawNbd.connect(t, socket)
  await raw.hello()
  const list = await raw.option(encodeOption(NBD_OPT_LIST))
  t.same(list.map(r => [r.type, r.payload.subarray(4).toString()]), [[NBD_REP_SERVER, 'disk0'], [NBD_REP_SERVER, 'disk1'], [NBD_REP_ACK, '']])
  t.same((await raw.option(encodeOption(NBD_OPT_STRUCTURED_REPLY))).map(r => r.type), [NBD_REP_ACK])
  const info = await raw.option(encodeOption(NBD_OPT_INFO, encodeGoOption('disk1', []).subarray(16)))
  const byType = new Map(info.filter(r => r.type === NBD_REP_INFO).map(r => [r.payload.readUInt16BE(0), r.payload]))
  t.equal(Number(byType.get(NBD_INFO_EXPORT)!.readBigUInt64BE(2)), 2 * MiB)
  t.equal(byType.get(NBD_INFO_EXPORT)!.readUInt16BE(10),
    NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_DF)
  const bs = byType.get(NBD_INFO_BLOCK_SIZE)!
  t.same([bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)], [1, MiB, 32 * MiB], 'block sizes sent even when not asked for')
  t.equal(info.at(-1)!.type, NBD_REP_ACK)
  const go = await raw.option(encodeGoOption('disk1'))
  t.equal(go.at(-1)!.type, NBD_REP_ACK, 'GO after INFO enters transmission')
  raw.request(NBD_CMD_READ, 1n, 2 * MiB - 3, 3)
  t.match(await raw.reply(), { kind: 'chunk', type: NBD_REPLY_TYPE_OFFSET_DATA, cookie: 1n })
})

t.test('NBD_OPT_EXPORT_NAME: size and flags, with or without the 124 zero bytes', async t => {
  const { socket } = await startNbdServer(t, [memoryExport('disk0', patterned(MiB))])
  for (const noZeroes of [true, false]) {
    const raw = await RawNbd.connect(t, socket)
    t.equal(await raw.greeting(), NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)
    raw.write(Buffer.from([0, 0, 0, noZeroes ? 3 : 1]))
    raw.write(encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from('disk0')))
    const reply = Buffer.from(await raw.reader.read(noZeroes ? 10 : 134))
    t.equal(Number(reply.readBigUInt64BE(0)), MiB)
    t.equal(reply.readUInt16BE(8) & NBD_FLAG_READ_ONLY, NBD_FLAG_READ_ONLY)
    if (!noZeroes) t.ok(reply.subarray(10).every(b => b === 0), '124 zero bytes')
    raw.request(NBD_CMD_READ, 5n, 0, 16)
    t.match(await raw.reply(16), { kind: 'chunk', cookie: 5n }, 'transmission follows')
  }
})

t.test('meta contexts: base:allocation only where the export has extents, and only for the export GO names', async t => {
  const bytes = patterned(256 * KiB)
  const plain: NbdExport = { name: 'plain', size: bytes.length, read: async (o, l) => bytes.slice(o, o + l) }
  const { socket } = await startNbdServer(t, [memoryExport('disk0', bytes), plain])
  const raw = await RawNbd.connect(t, socket)
  await raw.hello()
  await raw.option(encodeOption(NBD_OPT_STRUCTURED_REPLY))
  const listed = await raw.option(encodeOption(NBD_OPT_LIST_META_CONTEXT, encodeSetMetaContextOption('disk0', []).subarray(16)))
  t.same(listed.slice(0, -1).map(r => [r.type, r.payload.readUInt32BE(0), r.payload.subarray(4).toString()]), [[NBD_REP_META_CONTEXT, 0, 'base:allocation']])
  t.equal(listed.at(-1)!.type, NBD_REP_ACK)
  const none = await raw.option(encodeSetMetaContextOption('plain', ['base:allocation']))
  t.same(none.map(r => r.type), [NBD_REP_ACK], 'an export without extents offers none')
  const ignored = await raw.option(encodeSetMetaContextOption('disk0', ['qemu:dirty-bitmap:x', 'base:nothing']))
  t.same(ignored.map(r => r.type), [NBD_REP_ACK], 'unknown contexts are ignored')
  const set = await raw.option(encodeSetMetaContextOption('disk0', ['base:allocation']))
  t.same(set.map(r => r.type), [NBD_REP_META_CONTEXT, NBD_REP_ACK])
  t.equal(set[0]!.payload.readUInt32BE(0), BASE_ALLOCATION_CONTEXT_ID)
  t.equal((await raw.option(encodeGoOption('disk0'))).at(-1)!.type, NBD_REP_ACK)
  raw.request(NBD_CMD_BLOCK_STATUS, 3n, 60 * KiB, 8 * KiB)
  const status = await raw.reply()
  t.match(status, { kind: 'chunk', type: NBD_REPLY_TYPE_BLOCK_STATUS, flags: NBD_REPLY_FLAG_DONE, cookie: 3n })
  if (status.kind === 'chunk') {
    t.equal(status.payload.readUInt32BE(0), BASE_ALLOCATION_CONTEXT_ID)
    t.same([status.payload.readUInt32BE(4), status.payload.readUInt32BE(8), status.payload.readUInt32BE(12), status.payload.readUInt32BE(16)],
      [4 * KiB, 0, 4 * KiB, NBD_STATE_HOLE | NBD_STATE_ZERO], 'data then hole, within the request')
  }
  raw.request(NBD_CMD_BLOCK_STATUS, 4n, 0, 256 * KiB, 1 << 3) // REQ_ONE
  const one = await raw.reply()
  if (one.kind === 'chunk') t.equal(one.payload.length, 12, 'REQ_ONE: one descriptor')

  const other = await RawNbd.connect(t, socket)
  await other.hello()
  await other.option(encodeOption(NBD_OPT_STRUCTURED_REPLY))
  await other.option(encodeSetMetaContextOption('disk0', ['base:allocation']))
  await other.option(encodeGoOption('plain'))
  other.request(NBD_CMD_BLOCK_STATUS, 1n, 0, 4096)
  const refused = await other.reply()
  t.match(refused, { kind: 'chunk', type: NBD_REPLY_TYPE_ERROR, cookie: 1n }, 'contexts set for another export do not apply')
  if (refused.kind === 'chunk') t.equal(chunkErrno(refused.payload), NBD_EINVAL)
})

t.test('FLUSH and CACHE succeed; DISC answers what is outstanding, then closes', async t => {
  const bytes = patterned(MiB)
  const held = gate()
  const e = memoryExport('disk0', bytes, { read: async (o, l) => { await held.wait; return bytes.slice(o, o + l) } })
  const { socket } = await startNbdServer(t, [e])
  const raw = await RawNbd.connect(t, socket)
  await raw.handshake('disk0')
  raw.request(NBD_CMD_FLUSH, 1n, 0, 0)
  t.match(await raw.reply(), { kind: 'chunk', type: NBD_REPLY_TYPE_NONE, flags: NBD_REPLY_FLAG_DONE, cookie: 1n })
  raw.request(NBD_CMD_CACHE, 2n, 0, MiB)
  t.match(await raw.reply(), { kind: 'chunk', type: NBD_REPLY_TYPE_NONE, cookie: 2n })
  raw.request(NBD_CMD_READ, 3n, 0, 4096)
  raw.request(NBD_CMD_DISC, 4n, 0, 0)
  held.open()
  t.match(await raw.reply(), { kind: 'chunk', type: NBD_REPLY_TYPE_OFFSET_DATA, cookie: 3n }, 'the read in flight is answered')
  await raw.closed
  t.pass('then the server closes')
})

t.test('the socket is 0600; start refuses a taken path; stop aborts reads in flight and removes the socket', async t => {
  const dir = await tempDir(t)
  const taken = join(dir, 'taken.sock')
  await writeFile(taken, 'not mine')
  const blocked = new NbdServer({ socketPath: taken, exports: [] })
  await t.rejects(blocked.start(), { code: 'CORE_NBD_LISTEN_FAILED' })
  t.equal((await stat(taken)).isFile(), true, 'the existing file is left alone')
  await t.rejects(new NbdServer({ socketPath: join(dir, 'missing', 'x.sock'), exports: [] }).start(), { code: 'CORE_NBD_LISTEN_FAILED' })
  const long = join(dir, 'x'.repeat(Math.max(1, MAX_SOCKET_PATH_BYTES - dir.length)) + '.sock')
  await t.rejects(new NbdServer({ socketPath: long, exports: [] }).start(), { code: 'CORE_NBD_LISTEN_FAILED' }, 'a path longer than a client can connect to')
  t.equal(existsSync(long), false, 'nothing was created there')

  let aborted: unknown
  let entered = (): void => {}
  const inRead = new Promise<void>(resolve => { entered = resolve })
  const e = memoryExport('disk0', patterned(MiB), {
    read: async (_o, _l, signal) => {
      entered()
      await new Promise<void>(resolve => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
      aborted = signal.reason
      throw signal.reason
    }
  })
  const errors: unknown[] = []
  const path = join(dir, 'nbd.sock')
  const server = new NbdServer({ socketPath: path, exports: [e], onError: err => { errors.push(err) } })
  await server.start()
  t.equal((await stat(path)).mode & 0o777, 0o600)
  const raw = await RawNbd.connect(t, path)
  await raw.handshake('disk0')
  raw.request(NBD_CMD_READ, 1n, 0, 4096)
  await inRead
  t.equal(server.connections, 1)
  await server.stop()
  t.match(aborted, { code: 'CORE_NBD_DISCONNECTED' }, 'the read in flight saw its signal fire before stop resolved')
  t.same(errors, [], 'an aborted read is not a failure')
  await raw.closed
  await t.rejects(stat(path), { code: 'ENOENT' }, 'socket file removed')
  t.equal(server.connections, 0)
  await server.stop()
  t.pass('stop is idempotent')
})

t.test('an EIO reply never carries data, with or without structured replies', async t => {
  const e = memoryExport('disk0', patterned(MiB), { read: async () => { throw new Error('disk on fire') } })
  const { socket } = await startNbdServer(t, [e])
  for (const structured of [true, false]) {
    const raw = await RawNbd.connect(t, socket)
    await raw.handshake('disk0', { structured })
    raw.request(NBD_CMD_READ, 1n, 0, 4096)
    raw.request(NBD_CMD_FLUSH, 2n, 0, 0)
    const r = await raw.reply()
    if (structured) {
      t.match(r, { kind: 'chunk', type: NBD_REPLY_TYPE_ERROR, flags: NBD_REPLY_FLAG_DONE, cookie: 1n })
      if (r.kind === 'chunk') t.equal(chunkErrno(r.payload), NBD_EIO)
    } else {
      t.same(r, { kind: 'simple', error: NBD_EIO, cookie: 1n })
    }
    t.match(await raw.reply(), { cookie: 2n }, 'the next reply follows at once: no data was sent')
  }
})
