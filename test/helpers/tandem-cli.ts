/**
 * Runs the real `tandem` command (node bin/tandem.js) as a child process,
 * for tests that check exit statuses and error codes, and can stop it at a
 * test pause point (TANDEM_TEST_PAUSE_AT, appliance/cli/test-pause.ts) to
 * signal it there. TANDEM_STORE, TANDEM_DATA, TANDEM_LOG_LEVEL and
 * TANDEM_TEST_PAUSE_AT come only from `env`, so the caller's environment
 * never leaks in. `startDaemon` runs `tandem start` as a long-lived child.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { freePort } from './fixtures.ts'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = join(ROOT, 'bin/tandem.js')

export interface CliRun {
  status: number | null
  stdout: string
  stderr: string
  /** The code of the `error CODE: message` line on stderr, if any. */
  code: string | undefined
}

export interface CliOptions {
  env?: Record<string, string>
  /** Working directory (default: the project root). */
  cwd?: string
  /** Run as this user and group (the parent must be root). */
  uid?: number
  gid?: number
  /** The Node that starts bin/tandem.js (default: the one running the test). */
  node?: string
  /** In a process group of its own, so that a test can signal the group, as a terminal's Ctrl-C does. */
  detached?: boolean
}

/** A running CLI; `done` resolves when it has exited and its output is closed. */
export interface StartedCli {
  child: ChildProcessByStdio<null, Readable, Readable>
  /** Resolves once stderr has shown `marker`; rejects if the CLI exits first. */
  waitFor: (marker: string) => Promise<void>
  /** What it has written to stdout so far (a daemon's log). */
  stdout: () => string
  done: Promise<CliRun>
}

export function start (args: string[], options: CliOptions = {}): StartedCli {
  const { TANDEM_STORE: _store, TANDEM_DATA: _data, TANDEM_LOG_LEVEL: _level, TANDEM_TEST_PAUSE_AT: _pause, ...base } = process.env
  const child = spawn(options.node ?? process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...base, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
    detached: options.detached ?? false
  })
  let stdout = ''
  let stderr = ''
  const waiters: Array<{ marker: string, resolve: () => void }> = []
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s
    for (const w of waiters.splice(0)) {
      if (stderr.includes(w.marker)) w.resolve()
      else waiters.push(w)
    }
  })
  const done = (async (): Promise<CliRun> => {
    const [status] = await once(child, 'close') as [number | null]
    return { status, stdout, stderr, code: /^error ([A-Z0-9_]+):/m.exec(stderr)?.[1] }
  })()
  const waitFor = async (marker: string): Promise<void> => {
    if (stderr.includes(marker)) return
    await Promise.race([
      new Promise<void>(resolve => { waiters.push({ marker, resolve }) }),
      done.then(r => { throw new Error(`tandem exited (${r.status}) before printing ${marker}: ${r.stderr}`) })
    ])
  }
  return { child, waitFor, done, stdout: () => stdout }
}

export async function tandem (args: string[], options: CliOptions = {}): Promise<CliRun> {
  return await start(args, options).done
}

/** Runs the CLI and returns stdout; any exit status but 0 throws with the CLI's stderr. */
export async function tandemOk (args: string[], options: CliOptions = {}): Promise<string> {
  const r = await tandem(args, options)
  if (r.status !== 0) throw new Error(`tandem ${args.join(' ')} exited with ${r.status}: ${r.stderr}`)
  return r.stdout
}

/** Like `tandemOk`, with `--json`: the parsed document. */
export async function tandemJson<T> (args: string[], options: CliOptions = {}): Promise<T> {
  return JSON.parse(await tandemOk([...args, '--json'], options)) as T
}

/** What `tandem start` prints on stderr once its API serves (appliance/cli/start.ts READY_LINE). */
export const READY_LINE = 'tandem: ready'

/** A `tandem start` child; `stop` signals it and resolves with how it ended. */
export interface RunningDaemon extends StartedCli {
  dataDir: string
  stop: (signal?: NodeJS.Signals) => Promise<CliRun>
}

/** Runs `tandem start --data dataDir` and resolves once it is ready (rejects if it exits first). */
export async function startDaemon (dataDir: string, options: CliOptions = {}): Promise<RunningDaemon> {
  const started = start(['start', '--data', dataDir], options)
  await started.waitFor(READY_LINE)
  return {
    ...started,
    dataDir,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill(signal)
      return await started.done
    }
  }
}

/** Runs `tandem` with `--data dataDir` appended. */
export async function tandemAt (dataDir: string, args: string[], options: CliOptions = {}): Promise<CliRun> {
  return await tandem([...args, '--data', dataDir], options)
}


/** `tandemAt` with `--json`: the parsed document; any exit status but 0 throws with the CLI's stderr. */
export async function tandemJsonAt<T> (dataDir: string, args: string[]): Promise<T> {
  const r = await tandemAt(dataDir, [...args, '--json'])
  if (r.status !== 0) throw new Error(`tandem ${args.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** Two boxes' daemons, started and paired, and their data directories; `stopAll` also runs at teardown. */
export interface PairedDaemons {
  /** The primary's data directory (box-p), and the Replica's (box-r). */
  p: string
  r: string
  daemons: { p: RunningDaemon, r: RunningDaemon }
}

/**
 * `tandem init` of box-p and box-r under `root` (each listening on a fixed
 * loopback port, so a restarted daemon keeps its address), both started,
 * box-p joined to box-r with the PIN of box-r's window. The daemons in
 * `daemons` (which a test may replace after a restart) are stopped at teardown.
 */
export async function pairedDaemons (t: { teardown: (fn: () => Promise<void>) => void }, root: string): Promise<PairedDaemons> {
  const p = join(root, 'primary')
  const r = join(root, 'replica')
  for (const [dir, name] of [[p, 'box-p'], [r, 'box-r']] as const) {
    const init = await tandemAt(dir, ['init', '--name', name, '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`])
    if (init.status !== 0) throw new Error(`tandem init ${name}: ${init.stderr}`)
  }
  const out: PairedDaemons = { p, r, daemons: { p: await startDaemon(p), r: await startDaemon(r) } }
  t.teardown(async () => { await out.daemons.p.stop(); await out.daemons.r.stop() })
  const open = await tandemJsonAt<{ pin: string, addresses: string[] }>(r, ['pair', 'open'])
  const joined = await tandemAt(p, ['pair', 'join', '--pin', open.pin, '--addr', open.addresses[0]!])
  if (joined.status !== 0) throw new Error(`tandem pair join: ${joined.stderr}`)
  return out
}

/** `tandem vm add NAME --disk DISK --driver manual` on the running daemon of `dataDir`. */
export async function addManualVm (dataDir: string, name: string, disk: string): Promise<void> {
  await tandemJsonAt(dataDir, ['vm', 'add', name, '--disk', disk, '--driver', 'manual'])
}
