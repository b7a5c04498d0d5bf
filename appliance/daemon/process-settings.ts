/**
 * The process the daemon runs in: the V8 options and glibc malloc settings
 * it needs, which take effect only from a process's start, so `tandem
 * start` re-executes itself with them once (same pid: the composition
 * root calls `process.execve` with `daemonRelaunch`'s answer).
 * docs/daemon.md "Process settings"; the figures: docs/benchmarks.md
 * "Memory".
 */
import { V8_FLAGS } from '../v8-flags.ts'

/**
 * glibc malloc settings of the daemon. Its buffers are large and short-lived
 * (4 MiB scan chunks and results, 64 KiB socket reads), made and freed by
 * several threads; with glibc's defaults each thread that allocates gets an
 * arena of its own (up to 8 per core), and the threshold above which a block
 * is mapped on its own rises to 32 MiB after the first such block is freed,
 * so later buffers come from the arenas, whose freed middle is never given
 * back. The primary then kept ~110 MiB of freed buffers after a few
 * cycles of a live VM.
 * - MALLOC_ARENA_MAX 2: every thread shares two arenas.
 * - MALLOC_MMAP_THRESHOLD_ 64 KiB, fixed: a block of 64 KiB or more (a
 *   socket read, a chunk) is its own mapping, returned to the system when
 *   freed; smaller ones stay in the arenas.
 * Other C libraries ignore both. musl, for one, has neither problem.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' }


/**
 * Set in the environment of the re-executed daemon: the names of the
 * variables the relaunch added (comma-separated), so that it happens once
 * and the daemon can keep them from its children.
 */
export const RELAUNCH_ENV = 'TANDEM_DAEMON_RELAUNCHED'

export interface ProcessFacts {
  execPath: string
  execArgv: readonly string[]
  /** process.argv: the Node binary, the script, the arguments. */
  argv: readonly string[]
  env: Readonly<Record<string, string | undefined>>
}

/** What to execute in place of this process: `process.execve(file, args, env)`. */
export interface Relaunch {
  file: string
  args: string[]
  env: Record<string, string>
}

/**
 * The command that runs this process again with the daemon's settings, or
 * undefined when it has them already, or is itself such a relaunch (once,
 * whatever happened). A setting the operator gave (a MALLOC_ variable in
 * the environment, the same option on the command line) is kept as given.
 * Pure.
 */
export function daemonRelaunch (p: ProcessFacts): Relaunch | undefined {
  if (p.env[RELAUNCH_ENV] !== undefined) return undefined
  const given = new Set(p.execArgv.map(optionName))
  const flags = V8_FLAGS.filter(f => !given.has(optionName(f)))
  const added = Object.keys(MALLOC_ENV).filter(name => p.env[name] === undefined)
  if (flags.length === 0 && added.length === 0) return undefined
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(p.env)) if (value !== undefined) env[name] = value
  for (const name of added) env[name] = MALLOC_ENV[name]!
  env[RELAUNCH_ENV] = added.join(',')
  return { file: p.execPath, args: [p.execPath, ...p.execArgv, ...flags, ...p.argv.slice(1)], env }
}

/** A V8 option's name, as V8 compares them: `--no-x-y=1`, `--x_y` are both `x-y`. */
function optionName (arg: string): string {
  return arg.replace(/^--?/, '').replace(/^no-/, '').split('=')[0]!.replaceAll('_', '-')
}

/**
 * The variables to remove from the relaunched daemon's environment, so that
 * the processes it starts (QEMU, qemu-img) get the environment it was
 * started with: the marker and the MALLOC_ variables it added. Pure.
 */
export function relaunchEnvNames (env: Readonly<Record<string, string | undefined>>): string[] {
  const added = env[RELAUNCH_ENV]
  if (added === undefined) return []
  return [RELAUNCH_ENV, ...added.split(',').filter(name => Object.hasOwn(MALLOC_ENV, name))]
}
