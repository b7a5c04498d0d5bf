import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_PROBE_STDERR_BYTES, TIMEOUT_KVM_PROBE_MS } from './constants.ts'
import { keepTail } from './output-tail.ts'
import { checkTimeout } from '../../../../core/deadline.ts'

export interface AccelProbeOptions {
  /** `qemu-system-x86_64` (found on PATH) by default. */
  qemuBinary?: string
  /** TIMEOUT_KVM_PROBE_MS by default; the probe's QEMU is killed (SIGKILL, by pid) when it passes. */
  timeoutMs?: number
  /** A directory for the probe's boot sector (a temporary subdirectory, removed afterwards). */
  workDir: string
  signal?: AbortSignal
}

export interface KvmProbeOptions extends AccelProbeOptions {
  /**
   * The `-cpu` model to try; `host` by default, the model KVM guests are
   * run with. Checked on a PVM host (no vmx/svm): the default `qemu64`
   * model booted the sector (in 5 s instead of 0.1 s), `host` and `max`
   * aborted with "failed to set MSR 0x10a": the probe must try what
   * guests will use.
   */
  cpu?: string
}

export interface AccelProbeResult {
  usable: boolean
  /** Why, for logs and the UI: the exit status, signal or timeout, and QEMU's last stderr line. */
  reason: string
}

/** `isa-debug-exit` turns the guest's `out 0xf4, al` into QEMU's exit status `(al << 1) | 1`. */
const PROBE_VALUE = 0x21
export const PROBE_EXIT_STATUS = (PROBE_VALUE << 1) | 1
const DEBUG_EXIT_PORT = 0xf4

/**
 * A 512-byte x86 boot sector that proves the guest ran: `mov al, 0x21;
 * out 0xf4, al; hlt; hlt`, zero padding, the 0x55 0xAA signature. The
 * BIOS (SeaBIOS) runs first, so it also proves firmware boots.
 */
export function probeBootSector (): Uint8Array {
  const sector = new Uint8Array(512)
  sector.set([0xb0, PROBE_VALUE, 0xe6, DEBUG_EXIT_PORT, 0xf4, 0xf4], 0)
  sector[510] = 0x55
  sector[511] = 0xaa
  return sector
}

/**
 * Whether ordinary guests can run under KVM here: boots the probe sector
 * with `-accel kvm` and the given CPU model. Never assumes: `/dev/kvm`
 * may exist and still fail (abort, or hang in the BIOS). Settles within
 * about `timeoutMs`. Every failure of QEMU (missing binary, abort, other
 * exit status, hang, an aborted signal) is an answer, `usable: false`
 * with its reason; it throws only when `workDir` is unusable. Not cached
 * (no module state): the caller keeps the answer for its process's life.
 */
export async function probeKvm (options: KvmProbeOptions): Promise<AccelProbeResult> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch (err) {
    return { usable: false, reason: `/dev/kvm is not usable: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }
  }
  return await probeAccel(['-accel', 'kvm', '-cpu', options.cpu ?? 'host'], 'KVM', options)
}

/**
 * The same probe with TCG (software emulation, QEMU's default CPU model):
 * usable wherever QEMU is installed; proves the probe method itself.
 */
export async function probeTcg (options: AccelProbeOptions): Promise<AccelProbeResult> {
  return await probeAccel(['-accel', 'tcg'], 'TCG', options)
}

async function probeAccel (accelArgs: string[], label: string, options: AccelProbeOptions): Promise<AccelProbeResult> {
  const timeoutMs = checkTimeout(options.timeoutMs ?? TIMEOUT_KVM_PROBE_MS)
  const dir = await mkdtemp(join(options.workDir, 'accel-probe-'))
  try {
    const image = join(dir, 'boot.img')
    await writeFile(image, probeBootSector())
    const args = [
      ...accelArgs,
      '-machine', 'pc', '-nodefaults', '-no-user-config', '-display', 'none', '-m', '16',
      '-device', `isa-debug-exit,iobase=0x${DEBUG_EXIT_PORT.toString(16)},iosize=0x04`,
      '-drive', `file=${image},format=raw,if=ide`
    ]
    const run = await runBounded(options.qemuBinary ?? 'qemu-system-x86_64', args, timeoutMs, options.signal)
    const last = lastLine(run.stderr)
    const detail = last === '' ? '' : `: ${last}`
    if (run.spawnError !== undefined) return { usable: false, reason: `cannot run QEMU for the ${label} probe: ${run.spawnError.message}` }
    if (run.aborted) return { usable: false, reason: `the ${label} probe was aborted` }
    if (run.timedOut) return { usable: false, reason: `the ${label} probe guest did not finish within ${timeoutMs} ms (hung, killed)${detail}` }
    if (run.code === PROBE_EXIT_STATUS) return { usable: true, reason: `a guest booted and ran under ${label}` }
    if (run.signal !== null) return { usable: false, reason: `QEMU died of ${run.signal} in the ${label} probe${detail}` }
    return { usable: false, reason: `QEMU exited with status ${String(run.code)} in the ${label} probe, not ${PROBE_EXIT_STATUS}${detail}` }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

interface BoundedRun {
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  aborted: boolean
  spawnError: Error | undefined
  stderr: string
}

/** Runs a process with a time limit; kills only that process (SIGKILL, by its pid) at the limit or on abort; keeps the tail of stderr. */
async function runBounded (file: string, args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<BoundedRun> {
  return await new Promise(resolve => {
    const result: BoundedRun = { code: null, signal: null, timedOut: false, aborted: false, spawnError: undefined, stderr: '' }
    if (signal?.aborted === true) { resolve({ ...result, aborted: true }); return }
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    const stderr = keepTail(child.stderr, MAX_PROBE_STDERR_BYTES)
    const kill = (): void => { if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL') }
    const timer = setTimeout(() => { result.timedOut = true; kill() }, timeoutMs)
    const onAbort = (): void => { result.aborted = true; kill() }
    signal?.addEventListener('abort', onAbort, { once: true })
    const finish = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      result.stderr = stderr.text()
      resolve(result)
    }
    child.once('error', err => { result.spawnError = err; finish() })
    child.once('close', (code, sig) => { result.code = code; result.signal = sig; finish() })
  })
}

function lastLine (text: string): string {
  const lines = text.split('\n').map(l => l.trim()).filter(l => l !== '')
  return lines.slice(-2).join(' / ')
}
