/**
 * Real QEMU processes for the qemu/ suites: each started by the test that
 * owns it, with its sockets in that test's directory, and killed by its
 * own pid at teardown if it is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Teardown } from '../../../../helpers/fixtures.ts'

export interface QemuProcess {
  child: ChildProcess
  pid: number
  qmpSocket: string
  /** Resolves with the exit status (or signal name) once the process has ended. */
  exited: Promise<number | string>
  /** Everything the process wrote to stderr so far. */
  stderr: () => string
}

/** How long a freshly started QEMU may take to create its QMP socket (readiness, not a measured time). */
const STARTUP_LIMIT_MS = 20_000

async function start (t: Teardown, file: string, args: string[], qmpSocket: string): Promise<QemuProcess> {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (chunk: Buffer) => { err += chunk.toString('utf8') })
  const exited = new Promise<number | string>(resolve => {
    child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') })
  })
  let gone = false
  void exited.then(() => { gone = true })
  t.teardown(async () => {
    if (!gone && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    await exited
  })
  if (child.pid === undefined) throw new Error(`${file} did not start`)
  // QEMU creates the listening socket before it runs anything else: poll for it, failing early if the process exits
  for (const until = Date.now() + STARTUP_LIMIT_MS; ;) {
    if (gone) throw new Error(`${file} exited before creating ${qmpSocket}: ${err}`)
    if (await stat(qmpSocket).then(s => s.isSocket(), () => false)) break
    if (Date.now() > until) throw new Error(`${file} created no QMP socket: ${err}`)
    await sleep(20)
  }
  return { child, pid: child.pid, qmpSocket, exited, stderr: () => err }
}

/**
 * qemu-storage-daemon with QMP on `dir/qmp.sock`: the fast stand-in for a
 * VM's block layer.
 */
export async function startStorageDaemon (t: Teardown, dir: string, extraArgs: string[] = []): Promise<QemuProcess> {
  const qmpSocket = join(dir, 'qmp.sock')
  return await start(t, 'qemu-storage-daemon', [
    '--chardev', `socket,path=${qmpSocket},server=on,wait=off,id=qmp0`,
    '--monitor', 'chardev=qmp0',
    ...extraArgs
  ], qmpSocket)
}

/** A diskless qemu-system-x86_64 under TCG with QMP on `dir/qmp.sock`: it runs and sits in the BIOS. */
export async function startDisklessVm (t: Teardown, dir: string): Promise<QemuProcess> {
  const qmpSocket = join(dir, 'qmp.sock')
  return await start(t, 'qemu-system-x86_64', [
    '-accel', 'tcg', '-machine', 'pc', '-nodefaults', '-no-user-config', '-display', 'none', '-m', '64',
    '-qmp', `unix:${qmpSocket},server=on,wait=off`
  ], qmpSocket)
}
