/**
 * Helpers for the NBD server tests: in-memory exports, a server started in
 * a temporary directory and stopped at teardown, and a byte-level client
 * that sends exactly what a test scripts (for hostile and odd clients).
 */
import { createConnection, type Socket } from 'node:net'
import { join } from 'node:path'
import { ByteReader } from '../../../core/nbd/byte-reader.ts'
import {
  NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_OPT_REPLY_MAGIC, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK,
  NBD_REPLY_FLAG_DONE, NBD_SIMPLE_REPLY_MAGIC
} from '../../../core/nbd/constants.ts'
import { NbdServer, type NbdExport, type NbdExportExtent, type NbdServerInit } from '../../../core/nbd/index.ts'
import { encodeClientFlags, encodeGoOption, encodeOption, encodeRequest, encodeSetMetaContextOption } from '../../../core/nbd/protocol.ts'
import { tempDir, type Teardown } from '../../helpers/fixtures.ts'

/** An export of `bytes`; extents: runs of all-zero and other 4 KiB pieces. */
export function memoryExport (name: string, bytes: Uint8Array, extra: Partial<NbdExport> = {}): NbdExport {
  return {
    name,
    size: bytes.length,
    read: async (offset, length) => bytes.slice(offset, offset + length),
    extents: async (offset, length) => zeroRuns(bytes, offset, length, 4096),
    ...extra
  }
}

/** Runs of zero / non-zero `piece`-sized pieces of bytes[offset, offset+length). */
export function zeroRuns (bytes: Uint8Array, offset: number, length: number, piece: number): NbdExportExtent[] {
  const out: NbdExportExtent[] = []
  for (let at = offset; at < offset + length;) {
    const next = Math.min(offset + length, (Math.floor(at / piece) + 1) * piece)
    const zero = bytes.subarray(at, next).every(b => b === 0)
    const last = out[out.length - 1]
    if (last !== undefined && last.zero === zero) last.length += next - at
    else out.push({ length: next - at, zero })
    at = next
  }
  return out
}

/** Deterministic non-trivial bytes with zero stretches. */
export function patterned (size: number): Uint8Array {
  const b = new Uint8Array(size)
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 12)) & 0xff
  // Zero stretches: [64 KiB, 192 KiB) and the last 8 KiB.
  b.fill(0, 64 * 1024, Math.min(size, 192 * 1024))
  b.fill(0, Math.max(0, size - 8192))
  return b
}

export interface StartedServer {
  server: NbdServer
  socket: string
  dir: string
  uri: (exportName: string) => string
}

/** An NbdServer on a socket in a fresh directory, stopped at teardown. */
export async function startNbdServer (t: Teardown, exports: NbdExport[], init: Partial<NbdServerInit> = {}): Promise<StartedServer> {
  const dir = await tempDir(t, 'tandem-nbdsrv-')
  const socket = join(dir, 'nbd.sock')
  const server = new NbdServer({ socketPath: socket, exports, ...init })
  await server.start()
  t.teardown(async () => { await server.stop() })
  return { server, socket, dir, uri: name => `nbd+unix:///${name}?socket=${socket}` }
}

export type Reply =
  | { kind: 'simple', error: number, cookie: bigint }
  | { kind: 'chunk', flags: number, type: number, cookie: bigint, payload: Buffer }

/** A byte-level NBD client for tests: every message is sent as scripted; nothing is checked for the test. */
export class RawNbd {
  readonly socket: Socket
  readonly reader: ByteReader
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>

  private constructor (socket: Socket) {
    this.socket = socket
    this.reader = new ByteReader(socket, () => new Error('connection closed'))
    this.closed = new Promise(resolve => { socket.once('close', () => { resolve() }) })
  }

  static async connect (t: Teardown, path: string): Promise<RawNbd> {
    const socket = createConnection({ path })
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const raw = new RawNbd(socket)
    t.teardown(() => { socket.destroy() })
    return raw
  }

  write (bytes: Uint8Array): void { this.socket.write(bytes) }

  /** The greeting's handshake flags (after checking nothing). */
  async greeting (): Promise<number> {
    return Buffer.from(await this.reader.read(18)).readUInt16BE(16)
  }

  /** Greeting, then the client flags (fixed newstyle and no zeroes unless told). */
  async hello (flags = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES): Promise<void> {
    await this.greeting()
    this.write(encodeClientFlags(flags))
  }

  async optionReply (): Promise<{ option: number, type: number, payload: Buffer }> {
    const h = Buffer.from(await this.reader.read(20))
    if (h.readBigUInt64BE(0) !== NBD_OPT_REPLY_MAGIC) throw new Error('bad option reply magic')
    const length = h.readUInt32BE(16)
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), payload: Buffer.from(length === 0 ? new Uint8Array(0) : await this.reader.read(length)) }
  }

  /** Sends an option and collects its replies up to the final one (ACK or an error). */
  async option (message: Uint8Array): Promise<Array<{ option: number, type: number, payload: Buffer }>> {
    this.write(message)
    const replies = []
    for (;;) {
      const r = await this.optionReply()
      replies.push(r)
      if (r.type === NBD_REP_ACK || (r.type & 0x80000000) !== 0) return replies
    }
  }

  /** The usual handshake: hello, structured replies, base:allocation (when asked), GO. Returns GO's replies. */
  async handshake (exportName: string, opts: { structured?: boolean, allocation?: boolean } = {}): Promise<Array<{ option: number, type: number, payload: Buffer }>> {
    await this.hello()
    if (opts.structured !== false) await this.option(encodeOption(NBD_OPT_STRUCTURED_REPLY))
    if (opts.allocation === true) await this.option(encodeSetMetaContextOption(exportName, ['base:allocation']))
    return await this.option(encodeGoOption(exportName))
  }

  request (type: number, cookie: bigint, offset: number, length: number, flags = 0): void {
    this.write(encodeRequest({ type, cookie, offset, length, flags }))
  }

  /** The next reply or chunk; `readLength` says how many data bytes follow a successful simple reply (READ without structured replies). */
  async reply (readLength = 0): Promise<Reply> {
    const magic = Buffer.from(await this.reader.read(4)).readUInt32BE(0)
    if (magic === NBD_SIMPLE_REPLY_MAGIC) {
      const b = Buffer.from(await this.reader.read(12))
      const error = b.readUInt32BE(0)
      const cookie = b.readBigUInt64BE(4)
      if (error === 0 && readLength > 0) {
        const payload = Buffer.from(await this.reader.read(readLength))
        return { kind: 'chunk', flags: NBD_REPLY_FLAG_DONE, type: -1, cookie, payload }
      }
      return { kind: 'simple', error, cookie }
    }
    const h = Buffer.from(await this.reader.read(16))
    const length = h.readUInt32BE(12)
    const payload = Buffer.from(length === 0 ? new Uint8Array(0) : await this.reader.read(length))
    return { kind: 'chunk', flags: h.readUInt16BE(0), type: h.readUInt16BE(2), cookie: h.readBigUInt64BE(4), payload }
  }
}

/** The error value of an ERROR chunk's payload. */
export function chunkErrno (payload: Buffer): number {
  return payload.readUInt32BE(0)
}
