/**
 * NbdServer against hostile and broken clients (docs/nbd-server.md,
 * "Hostile clients"): every malformed or oversized message is refused or
 * hung up on, never buffered; write-like commands are refused; the
 * connection limit, the handshake timeout and backpressure on a client
 * that never reads its replies hold; the server keeps serving others.
 */
import t from 'tap'
import {
  MAX_CONNECTIONS, MAX_OPTIONS, MAX_PENDING_REPLY_BYTES, MAX_PENDING_REQUESTS, MAX_REQUEST_BYTES, NBD_CMD_BLOCK_STATUS,
  NBD_CMD_READ, NBD_CMD_RESIZE, NBD_CMD_TRIM, NBD_CMD_WRITE, NBD_CMD_WRITE_ZEROES, NBD_EINVAL, NBD_EPERM,
  NBD_OPT_GO, NBD_OPT_LIST, NBD_OPT_SET_META_CONTEXT, NBD_OPT_STARTTLS, NBD_OPT_EXPORT_NAME,
  NBD_REP_ACK, NBD_REP_ERR_INVALID, NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP, NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_OFFSET_DATA
} from '../../../core/nbd/constants.ts'
import { NbdClient } from '../../../core/nbd/index.ts'
import { encodeGoOption, encodeOption, encodeSetMetaContextOption } from '../../../core/nbd/protocol.ts'
import { RawNbd, chunkErrno, memoryExport, patterned, startNbdServer, type StartedServer } from './server-fixtures.ts'
import type { Teardown } from '../../helpers/fixtures.ts'

const KiB = 1024
const MiB = 1024 * KiB
const BYTES = patterned(4 * MiB)

/** Waits (polling, without asserting on time) until `cond` holds; fails after many tries. */
async function until (cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (cond()) return
    await new Promise(resolve => setTimeout(resolve, 1))
  }
  throw new Error(`never happened: ${what}`)
}

/** The server still serves a fresh, well-behaved client. */
async function stillServes (t: Teardown & { ok: (v: unknown, m: string) => void }, s: StartedServer): Promise<void> {
  const client = await NbdClient.connect({ socketPath: s.socket, exportName: 'disk0' })
  try {
    t.ok(Buffer.from(await client.read(MiB, 4096)).equals(BYTES.subarray(MiB, MiB + 4096)), 'the server still serves other clients')
  } finally {
    await client.close()
  }
}

/** A client through GO on `disk0`, structured replies on. */
async function ready (t: Teardown, s: StartedServer, allocation = false): Promise<RawNbd> {
  const raw = await RawNbd.connect(t, s.socket)
  await raw.handshake('disk0', { allocation })
  return raw
}

/** The error value of the next reply, which must be a final ERROR chunk for `cookie`. */
async function errnoOf (raw: RawNbd, cookie: bigint): Promise<number> {
  const r = await raw.reply()
  if (r.kind !== 'chunk' || r.type !== NBD_REPLY_TYPE_ERROR || r.cookie !== cookie) throw new Error(`expected an error chunk for ${cookie}, got ${JSON.stringify(r, (_k, v) => typeof v === 'bigint' ? String(v) : v)}`)
  return chunkErrno(r.payload)
}

t.test('garbage magic: in the options or in a request, the server hangs up', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const a = await RawNbd.connect(t, s.socket)
  await a.hello()
  a.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  await a.closed
  t.pass('bad option magic: closed')
  const b = await ready(t, s)
  b.write(Buffer.alloc(28, 0xee))
  await b.closed
  t.pass('bad request magic: closed')
  await stillServes(t, s)
})

t.test('client flags the server does not know, or no fixed newstyle: hung up on', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  for (const flags of [0x80, 0]) {
    const raw = await RawNbd.connect(t, s.socket)
    await raw.hello(flags)
    await raw.closed
    t.pass(`client flags 0x${flags.toString(16)}: closed`)
  }
  await stillServes(t, s)
})

t.test('an option announcing 4 GiB of data is hung up on before anything is buffered', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const raw = await RawNbd.connect(t, s.socket)
  await raw.hello()
  const header = Buffer.from(encodeOption(NBD_OPT_GO))
  header.writeUInt32BE(0xffffffff, 12)
  raw.write(header)
  raw.write(Buffer.alloc(64 * KiB, 1)) // the start of the "data"
  await raw.closed
  t.pass('closed')
  await stillServes(t, s)
})

t.test('unknown options are refused with NBD_REP_ERR_UNSUP, malformed ones with ERR_INVALID, and haggling goes on', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const raw = await RawNbd.connect(t, s.socket)
  await raw.hello()
  t.same((await raw.option(encodeOption(99, Buffer.alloc(100, 7)))).map(r => r.type), [NBD_REP_ERR_UNSUP], 'unknown option, its data skipped')
  t.same((await raw.option(encodeOption(NBD_OPT_STARTTLS))).map(r => r.type), [NBD_REP_ERR_UNSUP], 'no TLS')
  t.same((await raw.option(encodeOption(NBD_OPT_LIST, Buffer.alloc(4)))).map(r => r.type), [NBD_REP_ERR_INVALID], 'LIST with data')
  t.same((await raw.option(encodeSetMetaContextOption('disk0', ['base:allocation']))).map(r => r.type), [NBD_REP_ERR_INVALID],
    'meta contexts before structured replies')
  const badGo = Buffer.from(encodeGoOption('disk0'))
  badGo.writeUInt32BE(1000, 16) // name length past the data
  t.same((await raw.option(badGo)).map(r => r.type), [NBD_REP_ERR_INVALID], 'GO with a name longer than its data')
  const notUtf8 = encodeOption(NBD_OPT_GO, Buffer.from([0, 0, 0, 2, 0xff, 0xfe, 0, 0]))
  t.same((await raw.option(notUtf8)).map(r => r.type), [NBD_REP_ERR_INVALID], 'GO with a name that is not UTF-8')
  t.same((await raw.option(encodeGoOption('nope'))).map(r => r.type), [NBD_REP_ERR_UNKNOWN], 'GO of an unknown export')
  const go = await raw.option(encodeGoOption('disk0'))
  t.equal(go.at(-1)!.type, NBD_REP_ACK, 'GO still works')
  raw.request(NBD_CMD_READ, 1n, 0, 512)
  t.match(await raw.reply(512), { cookie: 1n })
})

t.test('NBD_OPT_EXPORT_NAME of an unknown export, or too many options: hung up on', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const a = await RawNbd.connect(t, s.socket)
  await a.hello()
  a.write(encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from('nope')))
  await a.closed
  t.pass('unknown export by EXPORT_NAME: closed (it cannot be refused otherwise)')
  const b = await RawNbd.connect(t, s.socket)
  await b.hello()
  const answers = new Set<number>()
  for (let i = 0; i < MAX_OPTIONS; i++) answers.add((await b.option(encodeOption(99)))[0]!.type)
  t.same([...answers], [NBD_REP_ERR_UNSUP], `${MAX_OPTIONS} options answered`)
  b.write(encodeOption(99))
  await b.closed
  t.pass(`option ${MAX_OPTIONS + 1}: closed`)
  await stillServes(t, s)
})

t.test('reads past the end, over the maximum, empty or with unknown flags: EINVAL, and the connection goes on', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const raw = await ready(t, s)
  raw.request(NBD_CMD_READ, 1n, BYTES.length - 100, 101)
  t.equal(await errnoOf(raw, 1n), NBD_EINVAL, 'one byte past the end')
  raw.request(NBD_CMD_READ, 2n, 2 ** 62, 4096)
  t.equal(await errnoOf(raw, 2n), NBD_EINVAL, 'offset far past any export')
  raw.request(NBD_CMD_READ, 3n, 0, MAX_REQUEST_BYTES + 1)
  t.equal(await errnoOf(raw, 3n), NBD_EINVAL, 'over the advertised maximum (and past the end)')
  raw.request(NBD_CMD_READ, 4n, 0, 0xffffffff)
  t.equal(await errnoOf(raw, 4n), NBD_EINVAL, '4 GiB')
  raw.request(NBD_CMD_READ, 5n, 0, 0)
  t.equal(await errnoOf(raw, 5n), NBD_EINVAL, 'empty')
  raw.request(NBD_CMD_READ, 6n, 0, 4096, 1 << 0)
  t.equal(await errnoOf(raw, 6n), NBD_EINVAL, 'FUA was not advertised')
  raw.request(NBD_CMD_BLOCK_STATUS, 7n, 0, 4096)
  t.equal(await errnoOf(raw, 7n), NBD_EINVAL, 'block status without a context')
  raw.request(42, 8n, 0, 4096)
  t.equal(await errnoOf(raw, 8n), NBD_EINVAL, 'unknown command')
  raw.request(NBD_CMD_READ, 9n, BYTES.length - 100, 100)
  const ok = await raw.reply()
  t.match(ok, { kind: 'chunk', type: NBD_REPLY_TYPE_OFFSET_DATA, cookie: 9n })
  if (ok.kind === 'chunk') t.ok(ok.payload.subarray(8).equals(BYTES.subarray(BYTES.length - 100)), 'the last bytes read fine')
})

t.test('a huge read past a larger export: over the maximum is EINVAL, at the maximum it is served', async t => {
  const big = patterned(40 * MiB)
  const s = await startNbdServer(t, [memoryExport('disk0', big)])
  const raw = await ready(t, s)
  raw.request(NBD_CMD_READ, 1n, 0, MAX_REQUEST_BYTES + 1)
  t.equal(await errnoOf(raw, 1n), NBD_EINVAL)
  raw.request(NBD_CMD_READ, 2n, MiB, MAX_REQUEST_BYTES)
  const r = await raw.reply()
  t.match(r, { kind: 'chunk', type: NBD_REPLY_TYPE_OFFSET_DATA, cookie: 2n })
  if (r.kind === 'chunk') t.ok(r.payload.subarray(8).equals(big.subarray(MiB, MiB + MAX_REQUEST_BYTES)), '32 MiB in one chunk')
})

t.test('WRITE, TRIM, WRITE_ZEROES and RESIZE: EPERM, the WRITE payload skipped; an oversized WRITE is hung up on', async t => {
  const reads: number[] = []
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES, { read: async (o, l) => { reads.push(o); return BYTES.slice(o, o + l) } })])
  const raw = await ready(t, s)
  raw.request(NBD_CMD_WRITE, 1n, 0, 8192)
  raw.write(Buffer.alloc(8192, 0x41))
  t.equal(await errnoOf(raw, 1n), NBD_EPERM, 'WRITE')
  for (const [cookie, type] of [[2n, NBD_CMD_TRIM], [3n, NBD_CMD_WRITE_ZEROES], [4n, NBD_CMD_RESIZE]] as const) {
    raw.request(type, cookie, 0, 4096)
    t.equal(await errnoOf(raw, cookie), NBD_EPERM, `command ${type}`)
  }
  raw.request(NBD_CMD_READ, 5n, 0, 8192)
  const r = await raw.reply()
  if (r.kind === 'chunk') t.ok(r.payload.subarray(8).equals(BYTES.subarray(0, 8192)), 'data unchanged, stream in step after the payload')
  t.same(reads, [0], 'only the read reached the export')

  const big = await ready(t, s)
  big.request(NBD_CMD_WRITE, 1n, 0, MAX_REQUEST_BYTES + 1)
  await big.closed
  t.pass('a WRITE payload over the maximum: closed')
  await stillServes(t, s)
})

t.test(`at most ${MAX_CONNECTIONS} clients: the next one is closed at once, and admitted once one leaves`, async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const clients = []
  for (let i = 0; i < MAX_CONNECTIONS; i++) clients.push(await ready(t, s))
  t.equal(s.server.connections, MAX_CONNECTIONS)
  const extra = await RawNbd.connect(t, s.socket)
  await t.rejects(extra.greeting(), 'no greeting for the extra client')
  await extra.closed
  clients[0]!.socket.destroy()
  await until(() => s.server.connections < MAX_CONNECTIONS, 'a slot frees')
  await stillServes(t, s)
})

t.test('a client that stalls in the handshake is closed after the handshake timeout', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)], { handshakeTimeoutMs: 50 })
  const raw = await RawNbd.connect(t, s.socket)
  await raw.greeting()
  await raw.closed
  await until(() => s.server.connections === 0, 'its slot frees')
  const late = await RawNbd.connect(t, s.socket)
  await late.handshake('disk0')
  late.request(NBD_CMD_READ, 1n, 0, 16)
  t.match(await late.reply(), { cookie: 1n }, 'a client that finished the handshake is not timed out')
})

t.test('a client that never reads its replies cannot make the server buffer without bound', async t => {
  let reads = 0
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES, { read: async (o, l) => { reads++; return BYTES.slice(o, o + l) } })])
  const raw = await ready(t, s)
  const SENT = 2000
  raw.socket.pause() // the client reads nothing
  for (let i = 0; i < SENT; i++) raw.request(NBD_CMD_READ, BigInt(i), (i * 64 * KiB) % (BYTES.length - 64 * KiB), 64 * KiB)
  await until(() => s.server.pending.requests === MAX_PENDING_REQUESTS, 'the server stops at its pending limit')
  for (let i = 0; i < 50; i++) await new Promise(resolve => setImmediate(resolve))
  t.equal(s.server.pending.requests, MAX_PENDING_REQUESTS, 'no more requests admitted')
  t.ok(reads < SENT / 4, `the server read ${reads} of ${SENT} requests: the rest wait in the client's socket`)

  raw.socket.resume()
  const seen = new Set<bigint>()
  for (let i = 0; i < SENT; i++) {
    const r = await raw.reply()
    if (r.kind !== 'chunk' || r.type !== NBD_REPLY_TYPE_OFFSET_DATA) throw new Error('expected data')
    seen.add(r.cookie)
  }
  t.equal(seen.size, SENT, 'every request is answered once the client reads')
  await until(() => s.server.pending.requests === 0, 'nothing pending')
})

t.test('backpressure by bytes: large reads stop being admitted at the reply budget', async t => {
  const big = new Uint8Array(64 * MiB).fill(0x5a)
  const s = await startNbdServer(t, [memoryExport('disk0', big)])
  const raw = await ready(t, s)
  raw.socket.pause()
  const LEN = 4 * MiB
  for (let i = 0; i < 64; i++) raw.request(NBD_CMD_READ, BigInt(i), (i * LEN) % (big.length - LEN), LEN)
  await until(() => s.server.pending.bytes + LEN > MAX_PENDING_REPLY_BYTES, 'the reply budget is used')
  for (let i = 0; i < 50; i++) await new Promise(resolve => setImmediate(resolve))
  t.ok(s.server.pending.bytes <= MAX_PENDING_REPLY_BYTES, `${s.server.pending.bytes} reply bytes held, at most ${MAX_PENDING_REPLY_BYTES}`)
  raw.socket.resume()
  let answered = 0
  for (let i = 0; i < 64; i++) if ((await raw.reply()).kind === 'chunk') answered++
  t.equal(answered, 64, 'every read is answered once the client reads')
})

t.test('a client that disconnects in the middle of a reply: the server drops it and goes on', async t => {
  const big = patterned(40 * MiB)
  const errors: unknown[] = []
  const s = await startNbdServer(t, [memoryExport('disk0', big)], { onError: err => { errors.push(err) } })
  const raw = await ready(t, s)
  raw.request(NBD_CMD_READ, 1n, 0, MAX_REQUEST_BYTES)
  raw.request(NBD_CMD_READ, 2n, MAX_REQUEST_BYTES, 4 * MiB)
  await raw.reader.read(64 * KiB) // part of the first reply
  raw.socket.destroy()
  await until(() => s.server.connections === 0, 'the connection is dropped')
  t.same(s.server.pending, { requests: 0, bytes: 0 })
  t.same(errors, [], 'a client leaving is not an export failure')
  const client = await NbdClient.connect({ socketPath: s.socket, exportName: 'disk0' })
  t.teardown(async () => { await client.close() })
  t.ok(Buffer.from(await client.read(MiB, MiB)).equals(big.subarray(MiB, 2 * MiB)), 'the server still serves')
})

t.test('block status: REQ_ONE honoured, unknown flags and ranges past the end refused', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const raw = await ready(t, s, true)
  raw.request(NBD_CMD_BLOCK_STATUS, 1n, BYTES.length - 10, 11)
  t.equal(await errnoOf(raw, 1n), NBD_EINVAL, 'past the end')
  raw.request(NBD_CMD_BLOCK_STATUS, 2n, 0, 4096, 1 << 2)
  t.equal(await errnoOf(raw, 2n), NBD_EINVAL, 'DF is not a block status flag')
  raw.request(NBD_CMD_BLOCK_STATUS, 3n, 0, 0xffffffff)
  t.equal(await errnoOf(raw, 3n), NBD_EINVAL, 'a 4 GiB range on a 4 MiB export')
})

t.test('the options a client sends after GO are not options: they are requests with a bad magic', async t => {
  const s = await startNbdServer(t, [memoryExport('disk0', BYTES)])
  const raw = await ready(t, s)
  raw.write(encodeOption(NBD_OPT_SET_META_CONTEXT, Buffer.alloc(12)))
  await raw.closed
  t.pass('closed')
})
