/**
 * Runs the real `tandem` command (node bin/tandem.js) as a child process for
 * the CLI suites, and can stop it at a test pause point
 * (TANDEM_TEST_PAUSE_AT, appliance/cli/test-pause.ts) to signal it there.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = join(ROOT, 'bin/tandem.js')

export interface Run {
  status: number | null
  stdout: string
  stderr: string
  /** The code of the `error CODE: message` line on stderr, if any. */
  code: string | undefined
}

/** A running CLI; `done` resolves when it has exited and its output is closed. */
export interface Started {
  child: ChildProcessByStdio<null, Readable, Readable>
  /** Resolves once stderr has shown `marker`. */
  waitFor: (marker: string) => Promise<void>
  done: Promise<Run>
}

/**
 * Starts the CLI; TANDEM_STORE only when given, so the caller's environment
 * never leaks in. From the project root: core's scan workers load tsx
 * relative to the working directory.
 */
export function start (args: string[], env: Record<string, string> = {}): Started {
  const { TANDEM_STORE: _store, TANDEM_TEST_PAUSE_AT: _pause, ...base } = process.env
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
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
  const done = (async (): Promise<Run> => {
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
  return { child, waitFor, done }
}

export async function tandem (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return await start(args, env).done
}

/** Runs the CLI and returns stdout; any exit status but 0 fails with the CLI's stderr. */
export async function ok (args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await tandem(args, env)
  if (r.status !== 0) throw new Error(`tandem ${args.join(' ')} exited with ${r.status}: ${r.stderr}`)
  return r.stdout
}

/** Like `ok`, with `--json`: the parsed document. */
export async function okJson<T> (args: string[], env: Record<string, string> = {}): Promise<T> {
  return JSON.parse(await ok([...args, '--json'], env)) as T
}
