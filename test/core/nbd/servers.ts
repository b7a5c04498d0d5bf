/**
 * Reference NBD servers for the NBD client tests, on Unix sockets only:
 * each started process is stopped by its pid at teardown. Also a fake
 * server that speaks a scripted handshake, for hostile and silent peers.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createConnection, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Teardown } from '../../helpers/fixtures.ts'
import { serveUnixSocket } from '../../helpers/unix-server.ts'

export type { Teardown }

const run = promisify(execFile)

export interface RunningServer {
  socket: string
  exportName: string
  process: ChildProcess
  /** nbd+unix URI for nbdinfo. */
  uri: string
}

/** Runs a command to completion (qemu-img, qemu-io, nbdinfo); returns stdout. */
export async function sh (cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Waits until something accepts connections at `path` (the probe connection is closed at once). */
async function waitForSocket (path: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (child.exitCode !== null) throw new Error(`${String(child.spawnfile)} exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>(resolve => {
      const s = createConnection({ path })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => { resolve(false) })
    })
    if (ok) return
    await sleep(20)
  }
  throw new Error(`nothing listens on ${path}`)
}

/** Starts `cmd args` (which must listen on `socket`), stopped by pid at teardown. */
export async function startServer (t: Teardown, cmd: string, args: string[], socket: string, exportName: string): Promise<RunningServer> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid!, 'SIGTERM') } catch { return } // already gone
      await exited
    }
  })
  try {
    await waitForSocket(socket, child)
  } catch (err) {
    throw new Error(`${cmd} did not start: ${(err as Error).message}\n${stderr}`)
  }
  return { socket, exportName, process: child, uri: `nbd+unix:///${exportName}?socket=${socket}` }
}

/** qemu-nbd serving `file` read-only; persistent, so the probe and several clients may connect. */
export async function qemuNbd (t: Teardown, dir: string, file: string, opts: { format?: string, name?: string, bitmap?: string } = {}): Promise<RunningServer> {
  const socket = join(dir, `qemu-nbd-${Math.random().toString(36).slice(2)}.sock`)
  const name = opts.name ?? 'disk'
  // -e: qemu-nbd serves one client at a time by default; nbdinfo connects beside the client under test.
  const args = ['-k', socket, '-f', opts.format ?? 'qcow2', '--read-only', '--persistent', '-e', '8', '-x', name]
  if (opts.bitmap !== undefined) args.push('-B', opts.bitmap)
  args.push(file)
  return await startServer(t, 'qemu-nbd', args, socket, name)
}

/** qemu-storage-daemon exporting a qcow2 over its NBD server. */
export async function storageDaemon (t: Teardown, dir: string, file: string, name = 'disk'): Promise<RunningServer> {
  const socket = join(dir, `qsd-${Math.random().toString(36).slice(2)}.sock`)
  return await startServer(t, 'qemu-storage-daemon', [
    '--blockdev', `driver=file,node-name=file0,filename=${file},read-only=on`,
    '--blockdev', 'driver=qcow2,node-name=disk0,file=file0,read-only=on',
    '--nbd-server', `addr.type=unix,addr.path=${socket}`,
    '--export', `type=nbd,id=e0,node-name=disk0,name=${name}`
  ], socket, name)
}

/** nbdkit in the foreground with `plugin args` (and filters before the plugin). */
export async function nbdkit (t: Teardown, dir: string, pluginArgs: string[], filters: string[] = []): Promise<RunningServer> {
  const socket = join(dir, `nbdkit-${Math.random().toString(36).slice(2)}.sock`)
  return await startServer(t, 'nbdkit', ['-f', '-U', socket, ...filters.map(f => `--filter=${f}`), ...pluginArgs], socket, '')
}

/** A qcow2 of `size` bytes with `writes` applied by qemu-io (`write -P 0xaa 1M 64k` style commands). */
export async function qcow2 (path: string, size: string, writes: string[], bitmap?: string): Promise<void> {
  await sh('qemu-img', ['create', '-q', '-f', 'qcow2', path, size])
  if (bitmap !== undefined) await sh('qemu-img', ['bitmap', '--add', path, bitmap])
  if (writes.length > 0) await sh('qemu-io', ['-f', 'qcow2', ...writes.flatMap(w => ['-c', w]), path])
}

/** The image's guest-visible bytes, through qemu-img convert (the reference for byte comparisons). */
export async function rawBytes (dir: string, image: string): Promise<Buffer> {
  const out = join(dir, `ref-${Math.random().toString(36).slice(2)}.raw`)
  await sh('qemu-img', ['convert', '-O', 'raw', image, out])
  const { readFile } = await import('node:fs/promises')
  return await readFile(out)
}

/** nbdinfo --map output as extents (the oracle for block status). */
export async function nbdinfoMap (server: RunningServer, context: string): Promise<Array<{ offset: number, length: number, flags: number }>> {
  const text = await sh('nbdinfo', ['--json', `--map=${context}`, server.uri])
  const rows = JSON.parse(text) as Array<{ offset: number, length: number, type: number }>
  return rows.map(r => ({ offset: r.offset, length: r.length, flags: r.type }))
}

// --- Fake server ---

export const NBDMAGIC = 0x4e42444d41474943n
export const IHAVEOPT = 0x49484156454f5054n
export const REPLY_MAGIC = 0x3e889045565a9n

/** An option reply. */
export function optionReply (option: number, type: number, payload: Buffer = Buffer.alloc(0), declaredLength = payload.length): Buffer {
  const h = Buffer.alloc(20)
  h.writeBigUInt64BE(REPLY_MAGIC, 0)
  h.writeUInt32BE(option, 8)
  h.writeUInt32BE(type, 12)
  h.writeUInt32BE(declaredLength, 16)
  return Buffer.concat([h, payload])
}

/** A structured reply chunk. */
export function chunk (flags: number, type: number, cookie: bigint, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20)
  h.writeUInt32BE(0x668e33ef, 0)
  h.writeUInt16BE(flags, 4)
  h.writeUInt16BE(type, 6)
  h.writeBigUInt64BE(cookie, 8)
  h.writeUInt32BE(payload.length, 16)
  return Buffer.concat([h, payload])
}

export interface FakeRequest { type: number, cookie: bigint, offset: number, length: number }

/** Scripted peer behaviour: the greeting, each option's reply, each request's reply. */
export interface FakeScript {
  /** Bytes sent on connect; a correct fixed-newstyle greeting when absent. */
  greeting?: Buffer
  /** Reply to an option; a correct one (ACK, or INFO_EXPORT of 1 MiB + ACK for GO) when absent or returning undefined. */
  option?: (option: number, data: Buffer) => Buffer | undefined
  /** Called for each request after GO; write replies (or nothing) to `socket`. */
  request?: (req: FakeRequest, socket: Socket) => void
}

/** A byte-level fake NBD server on a Unix socket in `dir`, closed at teardown. */
export async function fakeServer (t: Teardown, dir: string, script: FakeScript): Promise<{ socket: string, server: Server }> {
  const path = join(dir, `fake-${Math.random().toString(36).slice(2)}.sock`)
  const server = await serveUnixSocket(t, path, socket => {
    let buf = Buffer.alloc(0)
    let phase: 'flags' | 'options' | 'transmission' = 'flags'
    const greeting = script.greeting ?? (() => {
      const g = Buffer.alloc(18)
      g.writeBigUInt64BE(NBDMAGIC, 0)
      g.writeBigUInt64BE(IHAVEOPT, 8)
      g.writeUInt16BE(3, 16)
      return g
    })()
    socket.write(greeting)
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        if (phase === 'flags') {
          if (buf.length < 4) return
          buf = buf.subarray(4)
          phase = 'options'
        } else if (phase === 'options') {
          if (buf.length < 16) return
          const option = buf.readUInt32BE(8)
          const len = buf.readUInt32BE(12)
          if (buf.length < 16 + len) return
          const data = buf.subarray(16, 16 + len)
          buf = buf.subarray(16 + len)
          const custom = script.option?.(option, data)
          if (custom !== undefined) {
            socket.write(custom)
          } else if (option === 7) {
            const info = Buffer.alloc(12)
            info.writeUInt16BE(0, 0)
            info.writeBigUInt64BE(1024n * 1024n, 2)
            info.writeUInt16BE(1 | 2, 10)
            socket.write(Buffer.concat([optionReply(7, 3, info), optionReply(7, 1)]))
            phase = 'transmission'
          } else {
            socket.write(optionReply(option, 1))
          }
        } else {
          if (buf.length < 28) return
          const req = { type: buf.readUInt16BE(6), cookie: buf.readBigUInt64BE(8), offset: Number(buf.readBigUInt64BE(16)), length: buf.readUInt32BE(24) }
          buf = buf.subarray(28)
          if (req.type === 2) { socket.end(); return }
          script.request?.(req, socket)
        }
      }
    })
  })
  return { socket: path, server }
}
