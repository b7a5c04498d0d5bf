/**
 * Measurement helpers shared by the benchmarks: timing, medians, the
 * process's own I/O counters and peak memory, reference tools, work
 * directories. Benchmarks print progress to stderr and results to stdout.
 */
import { execFile, spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { mkdtemp, open, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const KIB = 1024
export const MIB = 1024 * KIB
export const GIB = 1024 * MIB

/** Progress note on stderr (stdout carries only results). */
export function note (message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

export function median (values: number[]): number {
  if (values.length === 0) throw new TypeError('median of nothing')
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Wall-clock seconds of one call. */
export async function seconds (fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return (performance.now() - t0) / 1000
}

export interface ProcIo {
  readBytes: number
  writeBytes: number
  cancelledWriteBytes: number
}

/**
 * This process's storage I/O counters (/proc/self/io, all threads of the
 * process, worker threads and LevelDB's included). `write_bytes` is charged
 * when a page is dirtied, so it counts what the process caused to be
 * written, whenever the kernel flushes it.
 */
export function procIo (): ProcIo {
  const fields = new Map<string, number>()
  for (const line of readFileSync('/proc/self/io', 'utf8').split('\n')) {
    const [k, v] = line.split(':')
    if (k !== undefined && v !== undefined) fields.set(k.trim(), Number(v.trim()))
  }
  return {
    readBytes: fields.get('read_bytes') ?? 0,
    writeBytes: fields.get('write_bytes') ?? 0,
    cancelledWriteBytes: fields.get('cancelled_write_bytes') ?? 0
  }
}

/** Peak resident set of this process so far, MiB (maxRSS is in KiB). */
export function peakRssMib (): number {
  return process.resourceUsage().maxRSS / 1024
}

/** Runs a command, resolves its stdout and wall-clock seconds; rejects on a non-zero exit. */
export function runTool (cmd: string, args: string[]): Promise<{ seconds: number, stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    execFile(cmd, args, { maxBuffer: 16 * MIB }, (err, stdout, stderr) => {
      const s = (performance.now() - t0) / 1000
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`))
      else resolve({ seconds: s, stdout })
    })
  })
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * Generates a VM-like image (vm-image.ts) in a child process, so the
 * generator's buffers never count in this process's peak memory.
 */
export async function makeImage (path: string, bytes: number, seed: number): Promise<number> {
  const script = fileURLToPath(new URL('./make-image.ts', import.meta.url))
  return (await runTool(process.execPath, [script, path, String(bytes), String(seed)])).seconds
}

/**
 * Installs the reference tools through scripts/system-packages.sh
 * (idempotent) and checks they are there; exits with a clear message if not.
 */
export function ensureTools (tools: string[]): void {
  note('checking reference tools (scripts/system-packages.sh)')
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts/system-packages.sh')], { stdio: ['ignore', 'inherit', 'inherit'], cwd: REPO_ROOT })
  const missing = tools.filter(t => spawnSync('bash', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0)
  if (missing.length > 0) {
    fail(`missing reference tool(s): ${missing.join(', ')} (scripts/system-packages.sh exited ${String(r.status)}); install them (apt-get install ${missing.join(' ')}) and run again`)
  }
}

export function fail (message: string): never {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(1)
}

/**
 * A fresh work directory under $TANDEM_BENCH_DIR or the OS temp dir,
 * after checking it has `neededBytes` free. Removed by `cleanup()`, also on
 * SIGINT / SIGTERM.
 */
export async function workDir (prefix: string, neededBytes: number): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const parent = process.env.TANDEM_BENCH_DIR ?? tmpdir()
  const free = await ensureFreeSpace(parent, neededBytes)
  const dir = await mkdtemp(join(parent, prefix))
  note(`work dir ${dir} (${(free / GIB).toFixed(1)} GiB free, ${(neededBytes / GIB).toFixed(1)} GiB needed)`)
  const onSignal = (signal: NodeJS.Signals): void => {
    rmSync(dir, { recursive: true, force: true })
    process.stderr.write(`bench: ${signal}, removed ${dir}\n`)
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return {
    dir,
    cleanup: async () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** The bytes free under `parent`; exits with a clear message when fewer than `neededBytes`. */
export async function ensureFreeSpace (parent: string, neededBytes: number): Promise<number> {
  const fs = await statfs(parent)
  const free = fs.bavail * fs.bsize
  if (free < neededBytes) {
    fail(`${parent} has ${(free / GIB).toFixed(1)} GiB free; this benchmark needs ${(neededBytes / GIB).toFixed(1)} GiB. Set TANDEM_BENCH_DIR to a roomier place.`)
  }
  return free
}

/** Flushes a file's data to disk, so its write-back does not land inside a later timing. */
export async function datasyncFile (path: string): Promise<void> {
  const h = await open(path, 'r+')
  try { await h.datasync() } finally { await h.close() }
}

/** A positive number from the environment, or the default. */
export function envNumber (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) fail(`${name} must be a positive number, got "${raw}"`)
  return n
}

export const gb = (bytes: number, s: number): number => bytes / s / 1e9
export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`
export const round = (x: number, digits = 3): number => Number(x.toFixed(digits))
