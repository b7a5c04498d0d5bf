/**
 * Runs the real `tandem` command (node bin/tandem.js) as a child process,
 * for tests that check exit statuses and error codes. TANDEM_STORE comes
 * only from `env`, so the caller's environment never leaks in.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

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
}

export async function tandem (args: string[], options: CliOptions = {}): Promise<CliRun> {
  const { TANDEM_STORE: _ignored, ...base } = process.env
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...base, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const [status] = await once(child, 'close') as [number | null]
  return { status, stdout, stderr, code: /^error ([A-Z0-9_]+):/m.exec(stderr)?.[1] }
}

/** Runs the CLI and returns stdout; any exit status but 0 throws with the CLI's stderr. */
export async function tandemOk (args: string[], options: CliOptions = {}): Promise<string> {
  const r = await tandem(args, options)
  if (r.status !== 0) throw new Error(`tandem ${args.join(' ')} exited with ${r.status}: ${r.stderr}`)
  return r.stdout
}
