/**
 * Boots the test guest of build-guest.ts under QEMU/TCG on a given disk.
 * The disk is block node `disk0` (its protocol node `disk0-file`) on the
 * virtio-blk device `vda`, for QMP to address; see README.md.
 */
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { MARKER, TestGuestError, ensureTestGuest, type TestGuest } from './build-guest.ts'

/** QMP names of the guest's disk. */
export const DISK_NODE = 'disk0'
export const DISK_FILE_NODE = 'disk0-file'
export const DISK_DEVICE = 'vda'

/** How long SIGTERM may take before SIGKILL: QEMU flushes the disk and saves persistent bitmaps on SIGTERM. */
const TIMEOUT_STOP_MS = 10_000
/** Boot to READY takes about 4 s under TCG here; this is the bound for a loaded CI machine. */
const TIMEOUT_READY_MS = 120_000
/** Kept serial lines (for waitFor on past lines and error messages); the guest prints few. */
const MAX_SERIAL_LINES = 10_000
/** Captured QEMU stderr, for error messages. */
const MAX_STDERR = 16 * 1024

export interface StartTestGuestInit {
  /** Existing disk image; QEMU takes its write lock while running. */
  disk: string
  format: 'raw' | 'qcow2'
  /** Directory for the QMP socket and serial log (the caller removes it). */
  workDir: string
  /** Appended to QEMU's arguments (e.g. a virtio-serial device for a guest agent). */
  extraArgs?: string[]
  /** Appended to the kernel command line, e.g. ['tandem.writes=64', 'tandem.pattern=a5']. */
  kernelArgs?: string[]
  /** Host cache mode of the disk. Default 'writeback' (works on tmpfs, which has no O_DIRECT). */
  cache?: 'writeback' | 'none'
  /** Prebuilt guest; default: ensureTestGuest() with its default cache. */
  guest?: TestGuest
}

export interface RunningTestGuest {
  pid: number
  qmpSocket: string
  /** Everything the guest printed on its serial console. */
  serialLog: string
  /** Resolves when the guest printed READY (its disk is visible and writes start); rejects if QEMU exits first. */
  ready: Promise<void>
  /** Resolves when QEMU exits, by itself (tandem.writes=N ends with a power-off) or through stop(). */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /**
   * Resolves with the first serial line (past or future) matching `pattern`;
   * rejects when QEMU exits first or after `timeoutMs` (default TIMEOUT_READY_MS).
   */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>
  /** Resolves once the guest reported at least `n` writes (reported every tandem.every writes). */
  waitForWrites: (n: number, timeoutMs?: number) => Promise<number>
  /** SIGTERM, then SIGKILL after TIMEOUT_STOP_MS; resolves when this QEMU has exited. Idempotent. */
  stop: () => Promise<void>
}

/**
 * Starts QEMU. Resolves once the process is spawned; the QMP socket exists
 * no later than `ready` (QEMU creates it before the guest runs).
 */
export async function startTestGuest (init: StartTestGuestInit): Promise<RunningTestGuest> {
  const guest = init.guest ?? await ensureTestGuest()
  const qmpSocket = join(init.workDir, 'qmp.sock')
  const serialLog = join(init.workDir, 'serial.log')
  const direct = init.cache === 'none' ? 'on' : 'off'
  const args = [
    '-accel', 'tcg', '-smp', '1', '-m', '128',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', guest.kernel, '-initrd', guest.initrd,
    '-append', ['console=ttyS0', 'panic=-1', 'quiet', ...init.kernelArgs ?? []].join(' '),
    '-serial', 'stdio',
    '-blockdev', `driver=file,filename=${escapeOpt(init.disk)},node-name=${DISK_FILE_NODE},cache.direct=${direct}`,
    '-blockdev', `driver=${init.format},file=${DISK_FILE_NODE},node-name=${DISK_NODE}`,
    '-device', `virtio-blk-pci,drive=${DISK_NODE},id=${DISK_DEVICE}`,
    '-qmp', `unix:${escapeOpt(qmpSocket)},server=on,wait=off`,
    ...init.extraArgs ?? []
  ]
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const log = createWriteStream(serialLog)
  const lines: string[] = []
  const waiters = new Set<(line: string) => void>()
  let partial = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    log.write(chunk)
    const text = partial + chunk.toString('latin1')
    const parts = text.split(/\r?\n/)
    partial = parts.pop() ?? ''
    for (const line of parts) {
      if (lines.length < MAX_SERIAL_LINES) lines.push(line)
      for (const w of [...waiters]) w(line)
    }
  })
  child.stderr.on('data', (c: Buffer) => { if (stderr.length < MAX_STDERR) stderr += c.toString() })

  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('error', err => {
      stderr += `\n${err.message}`
      resolve({ code: null, signal: null })
    })
    child.once('close', (code, signal) => {
      process.removeListener('exit', killOnExit)
      log.end()
      resolve({ code, signal })
    })
  })
  let hasExited = false
  void exited.then(() => { hasExited = true })

  /** The first line (past or future) for which `match` returns non-null; `what` names it in errors. */
  const waitForLine = async <T>(match: (line: string) => T | null, what: string, timeoutMs = TIMEOUT_READY_MS): Promise<T> => {
    for (const line of lines) {
      const m = match(line)
      if (m !== null) return m
    }
    return await new Promise((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); waiters.delete(onLine) }
      const onLine = (line: string): void => {
        const m = match(line)
        if (m !== null) { done(); resolve(m) }
      }
      const timer = setTimeout(() => {
        done()
        reject(new TestGuestError('TEST_GUEST_TIMEOUT', `no serial line ${what} within ${timeoutMs} ms; last lines:\n${lines.slice(-10).join('\n')}`))
      }, timeoutMs)
      waiters.add(onLine)
      void exited.then(({ code, signal }) => {
        if (!waiters.has(onLine)) return
        done()
        reject(new TestGuestError('TEST_GUEST_EXITED', `QEMU exited (${code ?? signal}) before a serial line ${what}: ${stderr.trim()}\n${lines.slice(-10).join('\n')}`))
      })
    })
  }

  const waitFor = async (pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray> =>
    await waitForLine(line => pattern.exec(line), `matching ${String(pattern)}`, timeoutMs)

  const writesLine = new RegExp(`^${MARKER.writes} (\\d+)`)
  const waitForWrites = async (n: number, timeoutMs?: number): Promise<number> =>
    await waitForLine(line => {
      const count = Number(writesLine.exec(line)?.[1] ?? -1)
      return count >= n ? count : null
    }, `reporting ${n} writes`, timeoutMs)

  const ready = waitFor(new RegExp(`^${MARKER.ready}\\b`)).then(() => undefined)
  ready.catch(() => { /* observed by whoever awaits it */ })

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      if (hasExited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_STOP_MS)
      await exited
      clearTimeout(timer)
    })()
    await stopping
  }

  if (child.pid === undefined) {
    await exited
    throw new TestGuestError('TEST_GUEST_EXITED', `qemu-system-x86_64 did not start: ${stderr.trim()}`)
  }
  return { pid: child.pid, qmpSocket, serialLog, ready, exited, waitFor, waitForWrites, stop }
}

/** QEMU option values double a comma to keep it literal. */
function escapeOpt (value: string): string {
  return value.replaceAll(',', ',,')
}
