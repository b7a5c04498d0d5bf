/**
 * qemu-storage-daemon as the fast stand-in for a running VM (the same QMP
 * block API): one disk as block node `disk0`, QMP and an NBD server on unix
 * sockets in `dir`, and a writable NBD export `disk0-w` through which a test
 * writes to the disk as a guest would (qemu-io). Only this process is ever
 * stopped, by its pid.
 */
import { spawn, execFile } from 'node:child_process'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface StorageDaemon {
  pid: number
  node: string
  qmpSocket: string
  nbdSocket: string
  /** Writes `length` bytes of `pattern` at `offset` through the writable export (as a guest would). */
  write: (offset: number, length: number, pattern: number) => Promise<void>
  /** Copies the export `name` (e.g. a point-in-time view) to a raw file. */
  copyExport: (name: string, to: string) => Promise<void>
  /** Graceful stop (SIGTERM): persistent bitmaps are saved. */
  stop: () => Promise<void>
  /** kill -9: persistent bitmaps are left marked in use (inconsistent at the next start). */
  kill: () => Promise<void>
}

export async function startStorageDaemon (init: { dir: string, disk: string, format: 'qcow2' | 'raw', tag?: string }): Promise<StorageDaemon> {
  const tag = init.tag ?? 'qsd'
  const qmpSocket = join(init.dir, `${tag}-qmp.sock`)
  const nbdSocket = join(init.dir, `${tag}-nbd.sock`)
  const node = 'disk0'
  const child = spawn('qemu-storage-daemon', [
    '--blockdev', `driver=file,filename=${init.disk},node-name=${node}-file`,
    '--blockdev', `driver=${init.format},file=${node}-file,node-name=${node}`,
    '--chardev', `socket,path=${qmpSocket},server=on,wait=off,id=qmp`,
    '--monitor', 'chardev=qmp',
    '--nbd-server', `addr.type=unix,addr.path=${nbdSocket}`,
    '--export', `type=nbd,id=${node}-w,node-name=${node},name=${node}-w,writable=on`
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  // A test or benchmark that dies without its teardown must not leave this daemon behind.
  const reap = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  process.once('exit', reap)
  void exited.then(() => { process.off('exit', reap) })
  // Ready when both sockets exist (the daemon creates them after opening the disk).
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`qemu-storage-daemon exited: ${stderr}`)
    const ready = await Promise.all([access(qmpSocket), access(nbdSocket)]).then(() => true, () => false)
    if (ready) break
    if (i > 500) { child.kill('SIGKILL'); throw new Error('qemu-storage-daemon did not start') }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  const uri = (name: string): string => `nbd+unix:///${name}?socket=${nbdSocket}`
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  return {
    pid: child.pid!,
    node,
    qmpSocket,
    nbdSocket,
    write: async (offset, length, pattern) => {
      await run('qemu-io', ['-f', 'raw', uri(`${node}-w`), '-c', `write -P ${pattern} ${offset} ${length}`])
    },
    copyExport: async (name, to) => {
      await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(name), to])
    },
    stop: async () => { await end('SIGTERM') },
    kill: async () => { await end('SIGKILL') }
  }
}
