/**
 * Two real boxes for the benchmarks that drive the appliance as an operator
 * does (appliance-bench.ts, failover-bench.ts): `tandem start` children
 * with their data directories in a work dir, loopback only, initialized and
 * paired through the CLI; the waits, the clean-up by pid, and the exit
 * status. Progress goes to stderr (measure.ts `note`).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiClient } from '../../web/api-client.ts'
import { start, startDaemon, tandemOk, type RunningDaemon } from '../helpers/tandem-cli.ts'
import { note } from './measure.ts'

/** A failure the bench explains in its own words (printed without a stack). */
export class BenchFailed extends Error {}

/** A daemon the bench started, kept for the clean-up from the moment it runs. */
export interface StartedDaemon { name: string, dir: string, daemon: RunningDaemon }

export interface Box extends StartedDaemon {
  /** The daemon's local API (the CLI's calls, without starting a CLI process). */
  api: ApiClient
  /** The `tandem start` Node process, as `tandem status` reports it. */
  pid: number
  peerId: string
  /** Its loopback p2p address. */
  address: string
}

/** What a bench run started, for `stopStarted`, and its Ctrl-C. */
export interface BenchRun {
  signal: AbortSignal
  daemons: StartedDaemon[]
  qemuPids: Set<number>
}

/** A daemon that has not exited this long after SIGTERM is killed (its own stop is bounded well below). */
const TIMEOUT_DAEMON_STOP_MS = 30_000
/** The clean-up's question to a daemon about its VMs: it answers in milliseconds, or it is stuck and gets killed anyway. */
const TIMEOUT_CLEANUP_LIST_MS = 5_000
/** How often `until` looks. */
const POLL_MS = 1_000

export function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

export function checkStop (run: BenchRun): void {
  if (run.signal.aborted) throw new BenchFailed('interrupted')
}

/** Runs `tandem ARGS --data BOX`; stdout, or a throw with the CLI's stderr. */
export async function cli (box: { dir: string }, args: string[]): Promise<string> {
  return await tandemOk([...args, '--data', box.dir])
}

/** Runs `tandem ARGS --data BOX --json`; the parsed answer and the wall-clock seconds from spawn to exit. */
export async function timedCli<T> (box: Box, args: string[]): Promise<{ seconds: number, answer: T }> {
  const t0 = performance.now()
  const r = await start([...args, '--data', box.dir, '--json']).done
  const seconds = (performance.now() - t0) / 1000
  if (r.status !== 0) throw new BenchFailed(`tandem ${args.join(' ')} exited with ${String(r.status)}: ${r.stderr}`)
  return { seconds, answer: JSON.parse(r.stdout) as T }
}

/**
 * `tandem init` and `tandem start` of a primary and a Replica under `dir`
 * (detached: Ctrl-C reaches the bench alone, which stops them in order),
 * then the primary joins the Replica's pairing window with its PIN.
 */
export async function startPairedBoxes (dir: string, run: BenchRun, logLevel: string): Promise<[Box, Box]> {
  const boxes: Box[] = []
  for (const name of ['primary', 'replica']) {
    checkStop(run)
    const data = join(dir, name)
    await tandemOk(['init', '--data', data, '--name', name, '--listen', '/ip4/127.0.0.1/tcp/0'])
    const daemon = await startDaemon(data, { detached: true, env: { TANDEM_LOG_LEVEL: logLevel } })
    run.daemons.push({ name, dir: data, daemon })
    const api = new ApiClient({ socketPath: join(data, 'api.sock') })
    const st = await api.status()
    const address = st.addresses.find(a => a.includes('/127.0.0.1/'))
    if (st.pid === null || address === undefined) throw new BenchFailed(`${name}: no pid or loopback address`)
    if (st.pid !== daemon.child.pid) note(`${name}: the daemon's pid ${st.pid} is not the started child's ${String(daemon.child.pid)} (a relaunch); measuring ${st.pid}`)
    boxes.push({ name, dir: data, daemon, api, pid: st.pid, peerId: st.peerId, address })
  }
  const [primary, replica] = boxes as [Box, Box]
  const window = JSON.parse(await cli(replica, ['pair', 'open', '--json'])) as { pin: string }
  await cli(primary, ['pair', 'join', '--pin', window.pin, '--addr', replica.address])
  note('paired')
  return [primary, replica]
}

/** Waits until `probe` returns a value, looking every second; fails after `timeoutMs`. */
export async function until<T> (run: BenchRun, what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    checkStop(run)
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new BenchFailed(`${what}: not within ${Math.round(timeoutMs / 1000)} s`)
    await sleep(POLL_MS)
  }
}

/** Each daemon's last `lines` log lines on stderr, to explain a failure. */
export function printDaemonLogs (daemons: StartedDaemon[], lines: number): void {
  for (const b of daemons) {
    const tail = b.daemon.stdout().trim().split('\n').slice(-lines).join('\n')
    if (tail !== '') process.stderr.write(`--- ${b.name} daemon log (last lines) ---\n${tail}\n`)
  }
}

/**
 * Stops what the bench started, by pid: the QEMUs still running (a daemon
 * leaves its VMs running when it stops: those the bench saw start, and any
 * a daemon still lists, such as one whose `vm start` was cut short), then
 * each daemon with SIGTERM, SIGKILL if it has not exited in
 * TIMEOUT_DAEMON_STOP_MS. A daemon already stopped is passed over.
 */
export async function stopStarted (run: BenchRun): Promise<void> {
  for (const d of run.daemons) {
    const vms = await new ApiClient({ socketPath: join(d.dir, 'api.sock'), timeoutMs: TIMEOUT_CLEANUP_LIST_MS }).vmList().catch(() => [])
    for (const vm of vms) if (vm.pid !== null) run.qemuPids.add(vm.pid)
  }
  for (const pid of run.qemuPids) {
    if (alive(pid)) { note(`killing QEMU ${pid}`); process.kill(pid, 'SIGKILL') }
  }
  for (const b of [...run.daemons].reverse()) {
    const timer = setTimeout(() => { if (b.daemon.child.pid !== undefined && alive(b.daemon.child.pid)) b.daemon.child.kill('SIGKILL') }, TIMEOUT_DAEMON_STOP_MS)
    await b.daemon.stop('SIGTERM')
    clearTimeout(timer)
  }
}

/**
 * Runs `body` in a fresh work dir under $TANDEM_BENCH_DIR or the OS temp
 * dir; when it throws, the daemons' last `logLines` lines are printed; in
 * every case what the run started is stopped (`stopStarted`) and the dir
 * removed.
 */
export async function inWorkDir (run: BenchRun, prefix: string, logLines: number, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(process.env.TANDEM_BENCH_DIR ?? tmpdir(), prefix))
  try {
    await body(dir)
  } catch (err) {
    printDaemonLogs(run.daemons, logLines)
    throw err
  } finally {
    await stopStarted(run)
    await rm(dir, { recursive: true, force: true })
    note(`removed ${dir}`)
  }
}

/**
 * Runs a bench's `main` with Ctrl-C and SIGTERM wired to its run's signal;
 * sets the exit status: 130 when interrupted (as a shell reports Ctrl-C),
 * 1 when anything else went wrong (a BenchFailed printed as its message,
 * anything else with its stack).
 */
export async function runBench (main: (run: BenchRun) => Promise<void>): Promise<void> {
  const stop = new AbortController()
  process.on('SIGINT', () => { note('Ctrl-C: stopping'); stop.abort() })
  process.on('SIGTERM', () => { stop.abort() })
  await main({ signal: stop.signal, daemons: [], qemuPids: new Set() }).catch(err => {
    process.stderr.write(`bench: ${err instanceof BenchFailed ? err.message : (err as Error).stack ?? String(err)}\n`)
    process.exitCode = stop.signal.aborted ? 130 : 1
  })
}
