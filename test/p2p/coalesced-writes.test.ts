/**
 * Coalesced writes (p2p/node/coalesced-writes.ts): a send of many parts on
 * a TCP connection reaches the socket as one write, every byte arrives in
 * order, the caller is told to wait when the socket is full, and anything
 * that is not a TCP connection is left alone.
 */
import t from 'tap'
import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'
import type { MessageStream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { coalesceWrites } from '../../p2p/node/coalesced-writes.ts'
import type { Teardown } from '../helpers/fixtures.ts'

interface SendResult { sentBytes: number, canSendMore: boolean }
interface Connection { socket: Socket, sendData: (data: Uint8ArrayList) => SendResult }

/** A connected pair of loopback TCP sockets, closed (with their listener) at teardown. */
async function socketPair (t: Teardown): Promise<{ client: Socket, server: Socket }> {
  const listener = createServer()
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const port = (listener.address() as { port: number }).port
  const accepted = once(listener, 'connection')
  const client = connect(port, '127.0.0.1')
  await once(client, 'connect')
  const [server] = await accepted as [Socket]
  t.teardown(async () => {
    client.destroy()
    server.destroy()
    await new Promise(resolve => listener.close(resolve))
  })
  return { client, server }
}

/** Counts the write requests the socket makes of its native handle (one per system-level write). */
function countHandleWrites (socket: Socket): { count: number } {
  const counter = { count: 0 }
  const handle = (socket as unknown as { _handle: Record<string, unknown> })._handle
  const names = new Set<string>()
  for (let proto = Object.getPrototypeOf(handle) as object | null; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name.startsWith('write')) names.add(name)
  }
  for (const name of names) {
    const fn = handle[name]
    if (typeof fn !== 'function') continue
    handle[name] = function (this: unknown, ...args: unknown[]) { counter.count++; return (fn as (...a: unknown[]) => unknown).apply(this, args) }
  }
  if (names.size === 0) throw new Error('no write methods found on the socket handle')
  return counter
}

function parts (count: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) out.push(new Uint8Array(1 + (i * 7919) % 3000).fill(i % 251))
  return out
}

async function readExactly (socket: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let got = 0
  for await (const chunk of socket) {
    chunks.push(chunk as Buffer)
    got += (chunk as Buffer).byteLength
    if (got >= bytes) break
  }
  return Buffer.concat(chunks)
}

t.test('a send of many parts is one write, and every byte arrives in order', async t => {
  const { client, server } = await socketPair(t)
  const connection: Connection = { socket: client, sendData: () => { throw new Error('the original sendData must not be called') } }
  t.equal(coalesceWrites(connection as unknown as MessageStream), connection as unknown as MessageStream)
  const writes = countHandleWrites(client)
  const list = new Uint8ArrayList(...parts(300))
  const expected = Buffer.from(list.subarray())
  const arrived = readExactly(server, expected.byteLength)
  const result = connection.sendData(list)
  t.equal(result.sentBytes, expected.byteLength, 'every byte is taken')
  t.equal(writes.count, 1, '300 parts, one write')
  t.ok((await arrived).equals(expected), 'the bytes arrive whole and in order')
})

t.test('a small send leaves room; a large one asks for a drain, which comes', async t => {
  const { client, server } = await socketPair(t)
  const connection: Connection = { socket: client, sendData: () => ({ sentBytes: 0, canSendMore: true }) }
  coalesceWrites(connection as unknown as MessageStream)
  server.resume()
  t.same(connection.sendData(new Uint8ArrayList(new Uint8Array(10), new Uint8Array(20))), { sentBytes: 30, canSendMore: true })
  await new Promise(resolve => setImmediate(resolve))
  const large = connection.sendData(new Uint8ArrayList(...parts(300)))
  // Node counts a write as buffered until its callback, even when the kernel took it at once.
  t.equal(large.canSendMore, false, 'more than the socket\'s high-water mark: wait')
  await once(client, 'drain')
  t.equal(client.writableNeedDrain, false, 'drained')
})

t.test('a full socket asks the caller to wait for drain, and loses nothing', async t => {
  const { client, server } = await socketPair(t)
  const connection: Connection = { socket: client, sendData: () => ({ sentBytes: 0, canSendMore: true }) }
  coalesceWrites(connection as unknown as MessageStream)
  server.pause()
  const sends: Buffer[] = []
  let result: SendResult = { sentBytes: 0, canSendMore: true }
  // The peer does not read: the kernel's buffers fill, then Node's.
  for (let i = 0; result.canSendMore && i < 256; i++) {
    const list = new Uint8ArrayList(...parts(64))
    sends.push(Buffer.from(list.subarray()))
    result = connection.sendData(list)
    t.equal(result.sentBytes, list.byteLength, 'every byte is taken')
  }
  t.equal(result.canSendMore, false, 'told to wait once the socket is full')
  const drained = once(client, 'drain')
  const expected = Buffer.concat(sends)
  server.resume()
  const arrived = await readExactly(server, expected.byteLength)
  await drained
  t.ok(arrived.equals(expected), 'everything arrives, in order')
})

t.test('a connection without a Node socket is passed on unchanged', async t => {
  const sendData = (): SendResult => ({ sentBytes: 0, canSendMore: true })
  const plain = { sendData }
  t.equal(coalesceWrites(plain as unknown as MessageStream), plain as unknown as MessageStream)
  t.equal(plain.sendData, sendData, 'no socket: untouched')
  const odd = { socket: {}, sendData }
  coalesceWrites(odd as unknown as MessageStream)
  t.equal(odd.sendData, sendData, 'something else called socket: untouched')
})
