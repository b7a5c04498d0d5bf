/**
 * A booted Tandem box under QEMU for the image's multi-boot checks
 * (pair-smoke.ts, upgrade-smoke.ts): boot it (TCG, q35, OVMF with its own
 * variables, the web port forwarded to a random 127.0.0.1 port, the guest
 * agent on a unix socket, optional extra QEMU arguments such as a second
 * NIC), wait for its console's first `tandem console` block from a running
 * daemon (console-block.ts), run commands in it, power
 * it off. Every QEMU started is recorded in `running` so that the caller
 * kills them by pid, whatever the way it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { OUT_DIR } from './build.ts'
import { consoleBlocks } from './console-block.ts'
import { JsonSocket, OVMF_VARS, TIMEOUT_GUEST_EXEC_MS, TIMEOUT_POWEROFF_MS, boxQemuArgs, freePort, guestExec, within } from './smoke.ts'
import { killOnExit } from './script-cli.ts'

/** The QEMUs started, killed by pid by killBoxes(). */
const running: ChildProcess[] = []

export function killBoxes (): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
  }
}

export const message = (err: unknown): string => err instanceof Error ? err.message : String(err)
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(0)} s`

/** One booted box: its QEMU, sockets and what its console said. */
export interface Box {
  name: string
  child: ChildProcess
  agentPath: string
  qmpPath: string
  webPort: number
  started: number
  /** Resolves once the console shows a block from the running daemon (state 'running', its name), or rejects when QEMU exits first. */
  up: Promise<{ state: string, name: string | null, atMs: number }>
  exited: Promise<number | null>
}

export interface BootOptions {
  /** Names the box in messages and its console log, image/out/LOG-serial.log. */
  name: string
  log: string
  /** A folder of its own for the OVMF variables and the sockets. */
  dir: string
  disk: { path: string, format: 'qcow2' | 'raw' }
  /** More QEMU arguments (a second NIC). */
  extraArgs?: string[]
  /** OVMF variables to start from (a box booted before keeps its boot entries); a fresh copy by default. */
  vars?: string
}

export async function bootBox (options: BootOptions): Promise<Box> {
  await mkdir(options.dir, { recursive: true })
  const vars = join(options.dir, 'OVMF_VARS.fd')
  if (options.vars !== vars) await copyFile(options.vars ?? OVMF_VARS, vars)
  const webPort = await freePort()
  const agentPath = join(options.dir, 'agent.sock')
  const qmpPath = join(options.dir, 'qmp.sock')
  const args = boxQemuArgs({ accel: 'tcg', vars, disk: options.disk, webPort, agentPath, qmpPath, extra: options.extraArgs })
  const started = Date.now()
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  running.push(child)
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4096) })
  const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
  await mkdir(OUT_DIR, { recursive: true })
  const log = createWriteStream(join(OUT_DIR, `${options.log}-serial.log`))
  const up = new Promise<{ state: string, name: string | null, atMs: number }>((resolve, reject) => {
    const serial: string[] = []
    let seen = false
    createInterface({ input: child.stdout! }).on('line', raw => {
      // eslint-disable-next-line no-control-regex
      const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')
      log.write(line + '\n')
      if (seen) return
      serial.push(line)
      // A block ends with its `updated` line (smoke.ts does the same).
      if (!/ updated {5}/.test(line)) return
      const block = consoleBlocks(serial).find(b => b.daemon === 'up')
      if (block !== undefined) { seen = true; serial.length = 0; resolve({ state: 'running', name: block.name, atMs: Date.now() - started }) }
    })
    void exited.then(code => { log.end(); reject(new Error(`QEMU exited (${code}): ${stderr.trim()}`)) })
  })
  up.catch(() => {})
  return { name: options.name, child, agentPath, qmpPath, webPort, started, up, exited }
}

/** A shell command as root in the box; its status and output (stdout then stderr). */
export function sh (box: Box, script: string, timeoutMs = TIMEOUT_GUEST_EXEC_MS): Promise<{ status: number, out: string }> {
  return within(timeoutMs, `box ${box.name}: ${script.slice(0, 60)}`, guestExec(box.agentPath, '/bin/sh', ['-c', script]))
}

/** `tandem ARGS --data /var/lib/tandem --json` as user tandem in the box; its parsed output. */
export async function tandem<T> (box: Box, args: string[], timeoutMs = TIMEOUT_GUEST_EXEC_MS): Promise<T> {
  const result = await within(timeoutMs, `box ${box.name}: tandem ${args.join(' ')}`,
    guestExec(box.agentPath, '/usr/sbin/runuser', ['-u', 'tandem', '--', '/usr/local/bin/tandem', ...args, '--data', '/var/lib/tandem', '--json']))
  const start = result.out.search(/^[[{]/m)
  if (result.status !== 0 || start < 0) throw new Error(`tandem ${args.slice(0, 2).join(' ')}: status ${result.status}: ${result.out.trim().slice(0, 400)}`)
  return JSON.parse(result.out.slice(start)) as T
}

/** ACPI power-down through QMP; resolves with QEMU's exit status and the time it took. */
export async function powerOff (box: Box): Promise<{ code: number | null, ms: number }> {
  const started = Date.now()
  const qmp = new JsonSocket(box.qmpPath)
  try {
    await qmp.connected()
    await qmp.next()
    qmp.send({ execute: 'qmp_capabilities' })
    await qmp.next()
    qmp.send({ execute: 'system_powerdown' })
    const code = await within(TIMEOUT_POWEROFF_MS, 'power-off', box.exited)
    return { code, ms: Date.now() - started }
  } finally {
    qmp.close()
  }
}

/** The `ok` / `not ok` lines and their count. */
export class Checks {
  passed = 0
  failed = 0

  check (name: string, ok: boolean, detail = ''): boolean {
    if (ok) this.passed++
    else this.failed++
    console.log(`${ok ? 'ok' : 'not ok'} - ${name}${detail === '' ? '' : `: ${detail}`}`)
    return ok
  }
}

/**
 * Runs a multi-boot check as the script's whole work: `cleanup` (kill what it
 * started, by pid) always runs, `N passed, N failed` is the last line, the exit
 * status 0 only when something passed and nothing failed; after `timeoutMs`
 * it is a failure and the process exits.
 */
export function runChecks (checks: Checks, what: string, timeoutMs: number, body: () => Promise<void>, cleanup: () => void): void {
  killOnExit(cleanup)
  const deadline = setTimeout(() => {
    checks.check(`the ${what} ends within ${timeoutMs / 60_000} min`, false)
    cleanup()
    console.log(`${checks.passed} passed, ${checks.failed} failed`)
    process.exit(1)
  }, timeoutMs)
  body().catch((err: unknown) => {
    checks.check(`the ${what} runs`, false, message(err))
  }).finally(() => {
    clearTimeout(deadline)
    cleanup()
    console.log(`${checks.passed} passed, ${checks.failed} failed`)
    process.exitCode = checks.failed === 0 && checks.passed > 0 ? 0 : 1
  })
}
