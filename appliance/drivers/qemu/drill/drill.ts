import { setTimeout as sleep } from 'node:timers/promises'
import { abortedError } from '../../../../core/errors.ts'
import { checkTimeout } from '../../../../core/deadline.ts'
import { vmRunPaths } from '../qemu-args.ts'
import type { VmStatus } from '../qemu-driver.ts'
import type { TestVm } from '../test-vm.ts'
import { waitForAgent, type WaitForAgentOptions } from './agent-sign.ts'
import { DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS } from './constants.ts'
import { takeScreenshot, type ScreendumpQmp } from './screenshot.ts'
import { compileSerialPattern } from './serial-pattern.ts'
import { waitForSerialMatch } from './serial-watch.ts'

/** The sign of life a drill waits for: the guest agent answering, or a serial console line matching a pattern (compileSerialPattern's rules). */
export type DrillSign = { kind: 'agent' } | { kind: 'serial', pattern: string }

export interface DrillOptions {
  sign: DrillSign
  /** Absolute path of the PNG to write; outside the test VM's run directory, which the final stop removes. */
  screenshot: string
  /** How long to wait for the sign, from the drill's call; DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS by default. */
  timeoutMs?: number
  /** Graceful window of the final stop (TestVm.stop's default when absent). */
  stopTimeoutMs?: number
  signal?: AbortSignal
  /** Guest agent connections (tests pass a fake). */
  agentConnect?: WaitForAgentOptions['connect']
}

export interface DrillResult {
  /** The point booted: the sign came and the screenshot was taken. */
  ok: boolean
  sign: 'agent' | 'serial'
  /** From the VM's start command (TestVm.startedAt) to the sign; null without a sign. */
  signOfLifeMs: number | null
  /** The PNG's path, or null when none was taken. On a timeout one is still tried, as evidence of where the boot stopped. */
  screenshot: string | null
  /** What happened, in words: the sign and the time, or why the drill failed. */
  reason: string
}

/** What a drill needs of the QEMU driver (QemuDriver has it). */
export interface DrillDriver {
  exited: (name: string) => Promise<VmStatus>
  qmp: (name: string) => ScreendumpQmp
  guestAgentSocket: (name: string) => string | undefined
}

/** What a drill needs of the test VM (startTestVm's handle). */
export type DrillTarget = Pick<TestVm, 'name' | 'runDir' | 'startedAt' | 'clock' | 'stop'>

type Outcome =
  | { kind: 'sign', at: number, what: string }
  | { kind: 'exited', status: VmStatus }
  | { kind: 'timeout' }
  | { kind: 'failed', why: string }

/**
 * Drills a running test VM (startTestVm): waits for its sign of life,
 * takes a screenshot, and stops it (TestVm.stop: the VM and its run
 * directory are gone), whatever happens. Resolves with the evidence:
 *
 * - the sign came: `signOfLifeMs` on the VM's clock, then the screenshot;
 *   `ok` unless the screenshot failed (its code in `reason`);
 * - the VM ended first (crashed, or the guest powered off): not ok, the
 *   driver's reason quoted;
 * - no sign within `timeoutMs`: not ok, and a screenshot is still tried;
 * - the sign cannot be watched (agent asked of a VM without one, the serial
 *   log unreadable): not ok, why in `reason`.
 *
 * Throws only after stopping the VM: APP_VM_INVALID for a bad serial
 * pattern (checked first), CORE_ABORTED when `signal` aborts, and the
 * stop's own errors.
 */
export async function drillTestVm (driver: DrillDriver, vm: DrillTarget, options: DrillOptions): Promise<DrillResult> {
  const kind = options.sign.kind
  let result: DrillResult
  try {
    const pattern = options.sign.kind === 'serial' ? compileSerialPattern(options.sign.pattern) : undefined
    const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS)
    const outcome = await waitForSign(driver, vm, pattern, timeoutMs, options)
    if (options.signal?.aborted === true) throw abortedError(options.signal)
    result = await conclude(driver, vm, outcome, kind, timeoutMs, options)
  } finally {
    await vm.stop(options.stopTimeoutMs === undefined ? undefined : { timeoutMs: options.stopTimeoutMs })
  }
  return result
}

/** Races the sign against the VM's end, the time limit and the caller's signal; every loser is cancelled before it returns. */
async function waitForSign (driver: DrillDriver, vm: DrillTarget, pattern: RegExp | undefined, timeoutMs: number, options: DrillOptions): Promise<Outcome> {
  const done = new AbortController()
  const signal = options.signal === undefined ? done.signal : AbortSignal.any([options.signal, done.signal])
  const cancelled = new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => { reject(abortedError(signal)) }, { once: true })
  })
  cancelled.catch(() => undefined)
  const racers: Array<Promise<Outcome>> = [
    watchSign(driver, vm, pattern, signal, options),
    Promise.race([driver.exited(vm.name), cancelled]).then(status => ({ kind: 'exited', status }) as const),
    sleep(timeoutMs, undefined, { signal }).then(() => ({ kind: 'timeout' }) as const)
  ]
  try {
    return await Promise.race(racers.map(async r => await r.catch((err: unknown) => {
      if (signal.aborted) return { kind: 'failed', why: 'aborted' } as const
      return { kind: 'failed', why: `the sign of life could not be watched: ${(err as Error).message}` } as const
    })))
  } finally {
    done.abort()
    await Promise.allSettled(racers)
  }
}

async function watchSign (driver: DrillDriver, vm: DrillTarget, pattern: RegExp | undefined, signal: AbortSignal, options: DrillOptions): Promise<Outcome> {
  if (pattern !== undefined) {
    const line = await waitForSerialMatch(vmRunPaths(vm.runDir).serialLog, pattern, signal)
    return { kind: 'sign', at: vm.clock(), what: `the serial console printed ${JSON.stringify(line.slice(0, 200))}` }
  }
  const socket = driver.guestAgentSocket(vm.name)
  if (socket === undefined) return { kind: 'failed', why: 'the VM has no guest agent to answer' }
  await waitForAgent(socket, { signal, ...options.agentConnect === undefined ? {} : { connect: options.agentConnect } })
  return { kind: 'sign', at: vm.clock(), what: 'the guest agent answered guest-ping' }
}

async function conclude (driver: DrillDriver, vm: DrillTarget, outcome: Outcome, sign: DrillSign['kind'], timeoutMs: number, options: DrillOptions): Promise<DrillResult> {
  const shot = async (): Promise<{ path: string, size: string } | { error: string }> => {
    try {
      const s = await takeScreenshot(driver.qmp(vm.name), options.screenshot, { scratchDir: vm.runDir, signal: options.signal })
      return { path: options.screenshot, size: `${s.width}x${s.height}` }
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      return { error: `${(err as { code?: string }).code ?? 'Error'}: ${(err as Error).message}` }
    }
  }
  switch (outcome.kind) {
    case 'sign': {
      const ms = Math.max(0, Math.round(outcome.at - vm.startedAt))
      const s = await shot()
      if ('error' in s) return { ok: false, sign, signOfLifeMs: ms, screenshot: null, reason: `${outcome.what} ${ms} ms after start, but the screenshot failed: ${s.error}` }
      return { ok: true, sign, signOfLifeMs: ms, screenshot: s.path, reason: `${outcome.what} ${ms} ms after start; screenshot ${s.size}` }
    }
    case 'exited':
      return { ok: false, sign, signOfLifeMs: null, screenshot: null, reason: `the VM ended (${outcome.status.state}) before a sign of life: ${outcome.status.reason}` }
    case 'timeout': {
      const s = await shot()
      const evidence = 'error' in s ? `no screenshot (${s.error})` : `screenshot ${s.size} of where it stopped`
      return { ok: false, sign, signOfLifeMs: null, screenshot: 'error' in s ? null : s.path, reason: `no sign of life within ${timeoutMs} ms; ${evidence}` }
    }
    case 'failed':
      return { ok: false, sign, signOfLifeMs: null, screenshot: null, reason: outcome.why }
  }
}
