import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, rm, stat, writeFile } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AppError, AppErrorCode } from '../../errors.ts'
import { GuestAgentClient, keepTail, QmpClient, probeKvm, type AccelProbeResult, type QmpEvent } from './qmp/index.ts'
import { abortedError } from '../../../core/errors.ts'
import { checkTimeout } from '../../../core/deadline.ts'
import {
  ADOPTED_EXIT_POLL_MS, MAX_QEMU_STDERR_BYTES, MAX_UNIX_SOCKET_PATH_BYTES, QMP_SOCKET_POLL_MS, TIMEOUT_ADOPT_QMP_MS,
  TIMEOUT_AGENT_SHUTDOWN_MS, TIMEOUT_VM_KILL_MS, TIMEOUT_VM_QUIT_MS, TIMEOUT_VM_START_MS, TIMEOUT_VM_STOP_MS
} from './constants.ts'
import { accelOf, isVmQemu, processArgs, readPidFile } from './qemu-process.ts'
import { buildQemuArgs, vmRunPaths, type Accel, type VmRunPaths } from './qemu-args.ts'
import { checkVmDefinition, type CheckedVmDefinition, type VmDefinition } from './vm-definition.ts'

/**
 * - `stopped`: not running (never started here, stopped on request, or the guest powered off).
 * - `crashed`: QEMU ended without being asked (killed, aborted, or exited with an error).
 */
export type VmState = 'stopped' | 'starting' | 'running' | 'paused' | 'stopping' | 'crashed'

export interface VmStatus {
  name: string
  state: VmState
  /** The accelerator of the current or last run. */
  accel?: Accel
  /** Why that accelerator (e.g. why KVM was not used). */
  accelReason?: string
  /** QEMU's pid while its process runs. */
  pid?: number
  /** When the VM entered `state`. */
  since: Date
  /** Why the VM is in `state`: how it started, stopped or crashed (QEMU's last stderr lines). */
  reason: string
}

export interface QemuDriverInit {
  /** `qemu-system-x86_64` (found on PATH) by default. */
  qemuBinary?: string
}

export interface VmStartOptions {
  /** Absolute directory for the VM's sockets, serial log and pid file; created if absent. One VM per directory. */
  runDir: string
  /** `auto` (default): KVM when probeKvm says usable (asked once per driver), else TCG with the reason in the status. */
  accel?: 'auto' | Accel
  /** TIMEOUT_VM_START_MS by default: from spawning QEMU to running (not counting the KVM probe). */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface VmAdoptOptions {
  /** The run directory the VM was started with (its `qemu.pid` and `qmp.sock`). */
  runDir: string
  signal?: AbortSignal
}

export interface VmStopOptions {
  /** The graceful window (TIMEOUT_VM_STOP_MS by default) before QMP `quit`, then SIGKILL. */
  timeoutMs?: number
  /**
   * false: never force. A guest still running after the window is left
   * running (its state restored) and the stop rejects with
   * APP_VM_STOP_TIMEOUT. Default true.
   */
  force?: boolean
}

interface RunningVm {
  def: CheckedVmDefinition
  paths: VmRunPaths
  /** Undefined for a QEMU found again by adopt(): another process started it. */
  child: ChildProcess | undefined
  pid: number
  accel: Accel
  accelReason: string
  qmp: QmpClient | undefined
  /** Resolves when the process has ended, its pid file is removed and its state recorded (never rejects). */
  exited: Promise<void>
  hasExited: boolean
  exitCode: number | null
  exitSignal: NodeJS.Signals | null
  stderr: () => string
  /** Set when stop() was called: the exit is then a stop, not a crash; `stopHow` says which phase ended it. */
  stopRequested: boolean
  stopHow: string
  /** QEMU reported a guest-initiated SHUTDOWN (the guest powered off by itself). */
  guestShutdown: boolean
  stopping: Promise<VmStatus> | undefined
  /** Whether the shutdown in `stopping` forces the VM off after its window. */
  stoppingForced: boolean
}

interface Entry {
  status: VmStatus
  vm: RunningVm | undefined
  starting: Promise<unknown> | undefined
}

const ACTIVE: ReadonlySet<VmState> = new Set(['starting', 'running', 'paused', 'stopping'])

/**
 * Runs VMs as child processes of this Node process (never daemonized: the
 * driver holds each child and its pid, and writes `<runDir>/qemu.pid` for
 * operators). VMs are keyed by definition name. Signals are only ever sent
 * to pids this driver spawned and has not yet seen exit.
 *
 * Methods may be called concurrently: a second start of the same name is
 * APP_VM_ALREADY_RUNNING, concurrent stops share one shutdown. A VM's
 * status survives its process (stopped or crashed, with the reason) until
 * it is started again. The driver does not stop its VMs when the Node
 * process exits: QEMU keeps running (a VM must not die with its manager);
 * its pid file tells an operator which process it is.
 */
export class QemuDriver {
  private readonly qemuBinary: string
  private readonly entries = new Map<string, Entry>()
  private readonly created = new Date()
  private kvmProbe: Promise<AccelProbeResult> | undefined
  private readonly adopting = new Map<string, Promise<VmStatus>>()
  /** Set by release(): the driver has let go of its VMs. */
  private released = false

  constructor (init: QemuDriverInit = {}) {
    this.qemuBinary = init.qemuBinary ?? 'qemu-system-x86_64'
  }

  /**
   * Starts the VM and resolves with its status once QMP `query-status`
   * says running. APP_VM_INVALID for a bad definition,
   * APP_VM_ALREADY_RUNNING when that name is starting, running or
   * stopping, APP_VM_START_FAILED when QEMU exits first (its last stderr
   * lines quoted, all of the tail in `details.stderr`) or is not running
   * within `timeoutMs` (it is then killed), CORE_ABORTED on abort (killed too).
   */
  async start (definition: VmDefinition, options: VmStartOptions): Promise<VmStatus> {
    const def = checkVmDefinition(definition)
    if (!isAbsolute(options.runDir)) throw new TypeError(`runDir must be an absolute path, got ${options.runDir}`)
    const timeoutMs = checkTimeout(options.timeoutMs ?? TIMEOUT_VM_START_MS)
    const current = this.entries.get(def.name)
    if (current !== undefined && ACTIVE.has(current.status.state)) {
      throw new AppError(AppErrorCode.APP_VM_ALREADY_RUNNING, `VM ${def.name} is already ${current.status.state}`, { details: { name: def.name, state: current.status.state } })
    }
    const entry: Entry = { status: { name: def.name, state: 'starting', since: new Date(), reason: 'starting' }, vm: undefined, starting: undefined }
    this.entries.set(def.name, entry)
    const starting = this.launch(entry, def, options, timeoutMs)
    entry.starting = starting.catch(() => undefined)
    try {
      return await starting
    } catch (err) {
      const vm = entry.vm
      if (vm !== undefined && !vm.hasExited && vm.pid > 0) {
        process.kill(vm.pid, 'SIGKILL')
        await vm.exited
      }
      this.setState(entry, 'stopped', `start failed: ${(err as Error).message}`)
      throw err
    }
  }

  /**
   * Stops the VM: graceful first (ACPI power button through QMP
   * `system_powerdown`, and `guest-shutdown` through the guest agent when
   * the definition has one), waiting up to `timeoutMs` for QEMU to exit;
   * then QMP `quit` (QEMU closes its disks cleanly), waiting up to
   * TIMEOUT_VM_QUIT_MS; then SIGKILL by pid. So it settles within about
   * `timeoutMs + TIMEOUT_VM_QUIT_MS + TIMEOUT_VM_KILL_MS`.
   *
   * With `force: false` nothing is forced: a guest still running after the
   * window keeps running, its state as before, and the stop rejects with
   * APP_VM_STOP_TIMEOUT.
   *
   * Idempotent: stopping a VM that is not running (never started, stopped,
   * crashed) is a no-op that resolves with its status; concurrent calls
   * share one shutdown (the first call's `timeoutMs` applies), except that
   * a forced stop arriving during an unforced one waits for it and then
   * forces. A stop during start waits for the start to settle first.
   */
  async stop (name: string, options: VmStopOptions = {}): Promise<VmStatus> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? TIMEOUT_VM_STOP_MS)
    const force = options.force ?? true
    const entry = this.entries.get(name)
    if (entry === undefined) return this.status(name)
    if (entry.status.state === 'starting') await entry.starting
    const vm = entry.vm
    if (vm === undefined) return this.status(name)
    for (;;) {
      if (vm.hasExited) {
        await vm.exited
        return this.status(name)
      }
      if (vm.stopping === undefined) {
        vm.stoppingForced = force
        vm.stopping = this.shutdown(entry, vm, timeoutMs, force)
      } else if (force && !vm.stoppingForced) {
        // an unforced stop is waiting for the guest: let it end, then force
        await vm.stopping.catch(() => undefined)
        continue
      }
      return await vm.stopping
    }
  }

  /**
   * Lets go of every VM without stopping it, for a manager that stops (a
   * VM must not die with its manager): each QMP connection is closed, and
   * QEMU children and their pipes no longer keep the Node process alive,
   * so it can exit while they run. Their pid files stay, so the next
   * driver adopts them. The driver is not used afterwards (what it says of
   * its VMs is no longer watched). Idempotent.
   */
  release (): void {
    this.released = true
    for (const entry of this.entries.values()) {
      const vm = entry.vm
      if (vm === undefined || vm.hasExited) continue
      vm.child?.unref()
      ;(vm.child?.stderr as { unref?: () => void } | null | undefined)?.unref?.()
      void vm.qmp?.close()
    }
  }

  /** The VM's status; `stopped` for a name this driver never started. */
  status (name: string): VmStatus {
    const entry = this.entries.get(name)
    if (entry === undefined) return { name, state: 'stopped', since: this.created, reason: 'not started by this driver' }
    return { ...entry.status }
  }

  /** Statuses of every VM this driver started (running or not). */
  list (): VmStatus[] {
    return [...this.entries.keys()].map(name => this.status(name))
  }

  /**
   * The driver's QMP connection to a running (or paused) VM. QEMU serves
   * one client per monitor, so callers share this one; they must not
   * close it. APP_VM_NOT_RUNNING otherwise.
   */
  qmp (name: string): QmpClient {
    const vm = this.runningVm(name)
    if (vm.qmp === undefined) throw this.notRunning(name)
    return vm.qmp
  }

  /** The guest agent's unix socket of a running VM, or undefined when its definition has no agent. APP_VM_NOT_RUNNING otherwise. */
  guestAgentSocket (name: string): string | undefined {
    const vm = this.runningVm(name)
    return vm.def.guestAgent ? vm.paths.qgaSocket : undefined
  }

  /** Resolves with the status once the VM's current QEMU process has ended (at once when none runs). Never rejects. */
  async exited (name: string): Promise<VmStatus> {
    const entry = this.entries.get(name)
    if (entry?.status.state === 'starting') await entry.starting
    await entry?.vm?.exited
    return this.status(name)
  }

  /**
   * Finds again a VM that a driver started before the appliance restarted
   * (QEMU outlives its manager): the pid in `<runDir>/qemu.pid` must be a
   * live process whose command line is this VM's QEMU (its `-name` and QMP
   * socket: a reused pid is never taken for it), and a QMP greeting must
   * come on that socket. Resolves with the status:
   * - `running` or `paused`: found; the driver now watches it as if it had
   *   started it (stop, qmp, exited work; its exit status cannot be known,
   *   only whether it was asked to stop or the guest powered off);
   * - `stopped`: no pid file (never started, or it ended under a driver,
   *   which removes the file);
   * - `crashed`: a pid file whose process is gone or is not this VM's QEMU
   *   any more: QEMU ended while no driver watched it, how is unknown. The
   *   stale pid file is removed.
   * A name this driver already watches resolves with its status and changes
   * nothing; concurrent calls for one name share one adoption. APP_QMP_* when the process is this VM's QEMU but its QMP does
   * not answer (the VM is left alone); APP_VM_INVALID, CORE_ABORTED.
   */
  async adopt (definition: VmDefinition, options: VmAdoptOptions): Promise<VmStatus> {
    const def = checkVmDefinition(definition)
    if (!isAbsolute(options.runDir)) throw new TypeError(`runDir must be an absolute path, got ${options.runDir}`)
    // QEMU serves one QMP client at a time: a second connection would wait for the first to end
    const pending = this.adopting.get(def.name)
    if (pending !== undefined) return await pending
    const adopting = this.adoptOnce(def, options).finally(() => { this.adopting.delete(def.name) })
    this.adopting.set(def.name, adopting)
    return await adopting
  }

  private async adoptOnce (def: CheckedVmDefinition, options: VmAdoptOptions): Promise<VmStatus> {
    const current = this.entries.get(def.name)
    if (current !== undefined && ACTIVE.has(current.status.state)) return this.status(def.name)
    const paths = vmRunPaths(options.runDir)
    const pid = await readPidFile(paths.pidFile)
    if (pid === undefined) return this.status(def.name)
    const args = await processArgs(pid)
    const entry: Entry = { status: this.status(def.name), vm: undefined, starting: undefined }
    if (args === undefined || !isVmQemu(args, def.name, paths.qmpSocket)) {
      await rm(paths.pidFile, { force: true })
      this.entries.set(def.name, entry)
      this.setState(entry, 'crashed', args === undefined
        ? `QEMU (pid ${pid}) ended while no driver watched it; how is unknown`
        : `pid ${pid} is no longer this VM's QEMU (QEMU ended while no driver watched it and the pid was reused)`)
      return this.status(def.name)
    }
    const qmp = await QmpClient.connect(paths.qmpSocket, { timeoutMs: TIMEOUT_ADOPT_QMP_MS, signal: options.signal })
    let running: boolean
    try {
      running = (await qmp.execute<{ running: boolean }>('query-status', undefined, { timeoutMs: TIMEOUT_ADOPT_QMP_MS, signal: options.signal })).running
    } catch (err) {
      await qmp.close()
      throw err
    }
    const accel = accelOf(args) ?? 'tcg'
    const vm: RunningVm = {
      def,
      paths,
      child: undefined,
      pid,
      accel,
      accelReason: `found again after a restart (started under ${accel.toUpperCase()})`,
      qmp,
      exited: Promise.resolve(),
      hasExited: false,
      exitCode: null,
      exitSignal: null,
      stderr: () => '',
      stopRequested: false,
      stopHow: '',
      guestShutdown: false,
      stopping: undefined,
      stoppingForced: false
    }
    // Not our child: its end shows as the QMP connection closing, then the pid going away.
    vm.exited = qmp.closed.then(async () => {
      while (await stillVmQemu(vm)) {
        // let go (release()): it runs on for the next daemon to adopt, and this driver never sees it end
        if (this.released) await new Promise<never>(() => {})
        await sleep(ADOPTED_EXIT_POLL_MS)
      }
      vm.hasExited = true
      await rm(paths.pidFile, { force: true }).catch(() => undefined)
      this.onExit(entry, vm)
    })
    entry.vm = vm
    this.entries.set(def.name, entry)
    qmp.onEvent(e => { this.onQmpEvent(entry, vm, e) })
    this.setState(entry, running ? 'running' : 'paused', `found again after a restart: pid ${pid}, QMP answered`)
    return this.status(def.name)
  }

  private runningVm (name: string): RunningVm {
    const entry = this.entries.get(name)
    const state = entry?.status.state
    if (entry?.vm === undefined || entry.vm.hasExited || (state !== 'running' && state !== 'paused' && state !== 'stopping')) throw this.notRunning(name)
    return entry.vm
  }

  private notRunning (name: string): AppError {
    return new AppError(AppErrorCode.APP_VM_NOT_RUNNING, `VM ${name} is not running (${this.status(name).state})`, { details: { name } })
  }

  private setState (entry: Entry, state: VmState, reason: string): void {
    const vm = entry.vm
    entry.status = {
      name: entry.status.name,
      state,
      since: new Date(),
      reason,
      ...vm === undefined ? {} : { accel: vm.accel, accelReason: vm.accelReason },
      ...vm !== undefined && !vm.hasExited ? { pid: vm.pid } : {}
    }
  }

  private async chooseAccel (asked: 'auto' | Accel, workDir: string): Promise<{ accel: Accel, reason: string }> {
    if (asked === 'kvm' || asked === 'tcg') return { accel: asked, reason: `${asked.toUpperCase()} was asked for` }
    this.kvmProbe ??= probeKvm({ workDir, qemuBinary: this.qemuBinary })
    const probe = await this.kvmProbe
    if (probe.usable) return { accel: 'kvm', reason: `KVM is usable: ${probe.reason}` }
    return { accel: 'tcg', reason: `KVM is not usable (${probe.reason}); running under TCG (software emulation, slow)` }
  }

  // The start sequence, one step after another; each step fails the start with its reason.
  private async launch (entry: Entry, def: CheckedVmDefinition, options: VmStartOptions, timeoutMs: number): Promise<VmStatus> {
    const signal = options.signal
    const checkAbort = (): void => { if (signal?.aborted === true) throw abortedError(signal) }
    await mkdir(options.runDir, { recursive: true })
    const paths = vmRunPaths(options.runDir)
    for (const socket of [paths.qmpSocket, paths.qgaSocket]) {
      if (Buffer.byteLength(socket) > MAX_UNIX_SOCKET_PATH_BYTES) {
        throw new AppError(AppErrorCode.APP_VM_START_FAILED, `the socket path ${socket} is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes: use a shorter runDir`)
      }
    }
    const { accel, reason: accelReason } = await this.chooseAccel(options.accel ?? 'auto', options.runDir)
    checkAbort()
    const args = buildQemuArgs(def, { accel, runDir: options.runDir })
    // a stale socket from a killed QEMU would accept nothing and fool the wait below
    await rm(paths.qmpSocket, { force: true })
    await rm(paths.qgaSocket, { force: true })

    const deadline = Date.now() + timeoutMs
    const vm = this.spawnQemu(def, paths, args, accel, accelReason)
    entry.vm = vm
    // whoever awaits `exited` sees the pid file gone and the final state
    vm.exited = vm.exited.then(async () => {
      await rm(paths.pidFile, { force: true }).catch(() => undefined)
      this.onExit(entry, vm)
    })
    if (vm.hasExited || vm.pid === 0) {
      await vm.exited
      throw this.startFailed(def, vm, 'QEMU could not be started')
    }
    this.setState(entry, 'starting', `QEMU started (pid ${vm.pid})`)
    await writeFile(paths.pidFile, `${vm.pid}\n`)

    // QEMU creates the QMP socket while it initializes, before the guest runs; no event tells when
    for (;;) {
      checkAbort()
      if (vm.hasExited) throw this.startFailed(def, vm, 'QEMU exited during start')
      if (await stat(paths.qmpSocket).then(s => s.isSocket(), () => false)) break
      if (Date.now() > deadline) throw this.startFailed(def, vm, `QEMU created no QMP socket within ${timeoutMs} ms`)
      await sleep(QMP_SOCKET_POLL_MS)
    }
    let qmp: QmpClient
    for (;;) {
      try {
        qmp = await QmpClient.connect(paths.qmpSocket, { timeoutMs: Math.max(1, deadline - Date.now()), signal })
        break
      } catch (err) {
        // QEMU binds the socket (the file appears) a moment before it listens: a connect in between is refused, so try again
        if (refused(err) && !vm.hasExited && Date.now() <= deadline && signal?.aborted !== true) {
          await sleep(QMP_SOCKET_POLL_MS)
          continue
        }
        await Promise.race([vm.exited, sleep(100)])
        throw this.startFailed(def, vm, vm.hasExited ? 'QEMU exited during start' : `QMP did not answer: ${(err as Error).message}`, err)
      }
    }
    vm.qmp = qmp
    qmp.onEvent(e => { this.onQmpEvent(entry, vm, e) })
    try {
      const mark = qmp.lastEventSeq
      const status = await qmp.execute<{ status: string }>('query-status', undefined, { timeoutMs: Math.max(1, deadline - Date.now()), signal })
      if (status.status !== 'running') {
        await qmp.waitForEvent('RESUME', undefined, { since: mark, timeoutMs: Math.max(1, deadline - Date.now()), signal })
      }
    } catch (err) {
      if (signal?.aborted === true) throw abortedError(signal)
      await Promise.race([vm.exited, sleep(100)])
      throw this.startFailed(def, vm, vm.hasExited ? 'QEMU exited during start' : `the VM is not running: ${(err as Error).message}`, err)
    }
    if (vm.hasExited) throw this.startFailed(def, vm, 'QEMU exited during start')
    this.setState(entry, 'running', `started under ${accel.toUpperCase()}`)
    return this.status(def.name)
  }

  private spawnQemu (def: CheckedVmDefinition, paths: VmRunPaths, args: string[], accel: Accel, accelReason: string): RunningVm {
    const child = spawn(this.qemuBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    const tail = keepTail(child.stderr!, MAX_QEMU_STDERR_BYTES)
    let spawnError = ''
    const vm: RunningVm = {
      def,
      paths,
      child,
      pid: child.pid ?? 0,
      accel,
      accelReason,
      qmp: undefined,
      exited: new Promise(resolve => {
        child.once('error', err => {
          spawnError = `${err.message}\n`
          if (child.pid === undefined) { vm.hasExited = true; resolve() }
        })
        child.once('close', (code, sig) => {
          vm.hasExited = true
          vm.exitCode = code
          vm.exitSignal = sig
          resolve()
        })
      }),
      hasExited: false,
      exitCode: null,
      exitSignal: null,
      stderr: () => spawnError + tail.text(),
      stopRequested: false,
      stopHow: '',
      guestShutdown: false,
      stopping: undefined,
      stoppingForced: false
    }
    return vm
  }

  private startFailed (def: CheckedVmDefinition, vm: RunningVm, what: string, cause?: unknown): AppError {
    const stderr = vm.stderr()
    const exit = vm.hasExited ? ` (${exitText(vm)})` : ''
    const last = lastLines(stderr, 5)
    return new AppError(AppErrorCode.APP_VM_START_FAILED, `VM ${def.name}: ${what}${exit}${last === '' ? '' : `: ${last}`}`, {
      cause,
      details: { name: def.name, stderr, code: vm.exitCode, signal: vm.exitSignal }
    })
  }

  private onQmpEvent (entry: Entry, vm: RunningVm, e: QmpEvent): void {
    if (entry.vm !== vm) return
    if (e.event === 'SHUTDOWN' && e.data.guest === true) vm.guestShutdown = true
    if (e.event === 'STOP' && entry.status.state === 'running') this.setState(entry, 'paused', 'paused through QMP')
    if (e.event === 'RESUME' && entry.status.state === 'paused') this.setState(entry, 'running', 'resumed through QMP')
  }

  private onExit (entry: Entry, vm: RunningVm): void {
    void vm.qmp?.close()
    // a start in progress reports its own failure
    if (entry.vm !== vm || entry.status.state === 'starting') return
    if (vm.stopRequested) {
      this.setState(entry, 'stopped', vm.stopHow)
    } else if (vm.guestShutdown && (vm.exitCode === 0 || vm.child === undefined)) {
      this.setState(entry, 'stopped', 'the guest powered off')
    } else {
      const last = lastLines(vm.stderr(), 5)
      this.setState(entry, 'crashed', `QEMU ended without being asked (${exitText(vm)})${last === '' ? '' : `: ${last}`}`)
    }
  }

  // Graceful, then quit, then SIGKILL; see stop(). `stopHow` is what onExit records.
  private async shutdown (entry: Entry, vm: RunningVm, timeoutMs: number, force: boolean): Promise<VmStatus> {
    const before = entry.status
    vm.stopRequested = true
    vm.stopHow = 'the guest shut down on request'
    this.setState(entry, 'stopping', `stop requested: waiting up to ${timeoutMs} ms for the guest to shut down`)
    void vm.qmp?.execute('system_powerdown', undefined, { timeoutMs: TIMEOUT_VM_QUIT_MS }).catch(() => undefined)
    if (vm.def.guestAgent) void this.agentShutdown(vm, timeoutMs)
    if (await exitedWithin(vm, timeoutMs)) return this.status(entry.status.name)
    if (!force) return await this.refuseStop(entry, vm, before, timeoutMs)

    vm.stopHow = `the guest did not shut down within ${timeoutMs} ms; QEMU quit on request`
    await vm.qmp?.execute('quit', undefined, { timeoutMs: TIMEOUT_VM_QUIT_MS }).catch(() => undefined)
    if (await exitedWithin(vm, TIMEOUT_VM_QUIT_MS)) return this.status(entry.status.name)

    vm.stopHow = `the guest did not shut down within ${timeoutMs} ms and QEMU did not quit within ${TIMEOUT_VM_QUIT_MS} ms; killed (SIGKILL)`
    // An adopted QEMU is not our child: its pid is signalled only while it still is this VM's QEMU.
    if (!vm.hasExited && vm.pid > 0 && (vm.child !== undefined || await stillVmQemu(vm))) process.kill(vm.pid, 'SIGKILL')
    if (await exitedWithin(vm, TIMEOUT_VM_KILL_MS)) return this.status(entry.status.name)
    throw new AppError(AppErrorCode.APP_UNEXPECTED, `VM ${entry.status.name}: QEMU (pid ${vm.pid}) did not exit after SIGKILL`)
  }

  /**
   * An unforced stop whose guest did not shut down: the VM is as before
   * (an exit from now on is a crash again, unless the guest powers off),
   * and the stop rejects with APP_VM_STOP_TIMEOUT.
   */
  private async refuseStop (entry: Entry, vm: RunningVm, before: VmStatus, timeoutMs: number): Promise<VmStatus> {
    const paused = await vm.qmp?.execute<{ running: boolean }>('query-status', undefined, { timeoutMs: TIMEOUT_VM_QUIT_MS })
      .then(s => !s.running, () => before.state === 'paused')
    // the guest went down after all while QEMU was asked: a stop like any other
    if (vm.hasExited) { await vm.exited; return this.status(entry.status.name) }
    vm.stopRequested = false
    vm.stopping = undefined
    const why = `the guest did not shut down within ${timeoutMs} ms; the stop was not forced, so the VM still runs`
    entry.status = { ...before, state: paused === true ? 'paused' : 'running', reason: why }
    throw new AppError(AppErrorCode.APP_VM_STOP_TIMEOUT, `VM ${entry.status.name}: ${why} (force it to end it)`, { details: { name: entry.status.name, timeoutMs } })
  }

  /** Asks the guest agent to power the guest off; any failure is ignored (ACPI and then quit still stop the VM). */
  private async agentShutdown (vm: RunningVm, timeoutMs: number): Promise<void> {
    let agent: GuestAgentClient | undefined
    try {
      agent = await GuestAgentClient.connect(vm.paths.qgaSocket, { syncTimeoutMs: Math.min(timeoutMs, TIMEOUT_AGENT_SHUTDOWN_MS * 2) })
      // a successful guest-shutdown has no reply: the timeout is the expected outcome
      await agent.execute('guest-shutdown', { mode: 'powerdown' }, { timeoutMs: TIMEOUT_AGENT_SHUTDOWN_MS })
    } catch {
      // no agent, or no reply: ACPI and then quit still stop the VM
    } finally {
      await agent?.close().catch(() => undefined)
    }
  }
}

async function exitedWithin (vm: RunningVm, ms: number): Promise<boolean> {
  const timer = new AbortController()
  const exited = await Promise.race([
    vm.exited.then(() => true),
    sleep(ms, false, { signal: timer.signal }).catch(() => false)
  ])
  timer.abort()
  return exited
}

/** A connect that found the socket file with nobody listening on it yet. */
function refused (err: unknown): boolean {
  return ((err as { cause?: { code?: string } })?.cause?.code) === 'ECONNREFUSED'
}

/** Whether the VM's pid still runs this VM's QEMU (not gone, not a zombie, not reused). */
async function stillVmQemu (vm: RunningVm): Promise<boolean> {
  const args = await processArgs(vm.pid)
  return args !== undefined && isVmQemu(args, vm.def.name, vm.paths.qmpSocket)
}

function exitText (vm: RunningVm): string {
  if (vm.child === undefined) return 'found again after a restart, so its exit status is unknown'
  return vm.exitSignal !== null ? `killed by ${vm.exitSignal}` : `exit status ${String(vm.exitCode)}`
}

function lastLines (text: string, n: number): string {
  return text.split('\n').map(l => l.trim()).filter(l => l !== '').slice(-n).join(' / ')
}
