/**
 * `npm run bench:p2p`: Tandem's replication protocol end to end on loopback
 * (read, hash, compress, Noise + yamux, verify, stage, commit; primary and
 * Replica in separate processes) against references measured in the same
 * run on the same generated VM-like image (docs/benchmarks.md):
 *
 *   initial_time_vs_rsync_ssh  initial replication time / `rsync -z` over ssh to 127.0.0.1
 *   initial_time_vs_tls_raw    initial replication time / the raw bytes over one TLS 1.3 socket
 *   delta_bytes_vs_changed     bytes on the wire for a cycle after 1% of blocks changed / changed bytes
 *   peak_rss_mib               peak resident memory of the larger side
 *
 * "Initial replication time" ends when the Replica has committed the point
 * (what the primary waits for); `initial_ready_s` also covers the Replica
 * writing its ready-to-boot image. Progress goes to stderr; a summary and,
 * last, one JSON line go to stdout. Environment: TANDEM_BENCH_DIR,
 * TANDEM_BENCH_GIB (default 2), TANDEM_BENCH_SEED,
 * TANDEM_BENCH_RUNS (interleaved runs of each contender, default 3; medians),
 * TANDEM_BENCH_NODE_ARGS (extra Node options for both boxes, space-separated:
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` profiles them).
 * The primary's worker pool is started before the clock (a daemon keeps it
 * running); the dial and the Noise handshake are timed.
 * Not a test: nothing here fails on a slow figure, only on wrong results.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { mkdir, open, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DEFAULT_BLOCK_SIZE } from '../../core/constants.ts'
import { loadOrCreateIdentity } from '../../p2p/node/index.ts'
import { prng } from '../helpers/fixtures.ts'
import { GIB, MIB, ensureTools, envNumber, fail, makeImage, mb, median, note, round, workDir } from './measure.ts'
import { rsyncOverSsh, startLoopbackSshd, tlsRawTransfer } from './p2p-reference.ts'
import { rewriteBlocks } from './vm-image.ts'
import { V8_FLAGS } from '../../appliance/v8-flags.ts'
import { MALLOC_ENV } from '../../appliance/daemon/process-settings.ts'

const IMAGE_BYTES = Math.round(envNumber('TANDEM_BENCH_GIB', 2) * GIB / MIB) * MIB
const SEED = envNumber('TANDEM_BENCH_SEED', 1)
const REWRITE_FRACTION = 0.01
/** Interleaved runs of each contender; medians are reported. */
const RUNS = Math.max(1, Math.round(envNumber('TANDEM_BENCH_RUNS', 3)))
/** TANDEM_BENCH_REFERENCES=0 times Tandem alone (for profiling; no ratios then). */
const REFERENCES = process.env.TANDEM_BENCH_REFERENCES !== '0'
const BOX = fileURLToPath(new URL('./p2p-box.ts', import.meta.url))

const TARGETS = {
  initial_time_vs_rsync_ssh: { op: '<=', value: 1.0 },
  peak_rss_mib: { op: '<', value: 400 }
} as const

type Line = Record<string, unknown>
type CpuTrace = Array<[number, Record<string, number>]>

/** Per-thread CPU seconds a box spent between two instants, from its trace of samples (nearest samples inside the window). */
function cpuWithin (trace: CpuTrace, [from, to]: number[]): Record<string, number> {
  const inside = trace.filter(([t]) => t >= from! && t <= to!)
  if (inside.length < 2) return {}
  const [a, b] = [inside[0]![1], inside.at(-1)![1]]
  return Object.fromEntries(Object.keys(b).map(k => [k, round(b[k]! - (a[k] ?? 0), 2)]))
}

/** A box process; `lines` collects its JSON lines, `next(pred)` waits for one. */
function startBox (mode: 'replica' | 'primary', args: object): { child: ChildProcess, next: (pred: (l: Line) => boolean) => Promise<Line>, exited: Promise<number | null> } {
  // Boxes run with the V8 options and malloc settings the daemon relaunches itself with
  // (appliance/daemon/process-settings.ts); MALLOC_ variables already set are kept.
  const extra = (process.env.TANDEM_BENCH_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
  const env = { ...MALLOC_ENV, ...process.env }
  const child = spawn(process.execPath, [...V8_FLAGS, ...extra, BOX, mode, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'], env })
  const lines: Line[] = []
  let waiters: Array<() => void> = []
  createInterface({ input: child.stdout! }).on('line', text => {
    if (text.startsWith('{')) lines.push(JSON.parse(text) as Line); else if (process.env.TANDEM_BENCH_DIAG !== undefined) appendFileSync(process.env.TANDEM_BENCH_DIAG + '-' + mode + '.log', text + '\n') // other lines: Node diagnostics such as --trace-gc
    for (const w of waiters.splice(0)) w()
  })
  const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code); for (const w of waiters.splice(0)) w() }) })
  const next = async (pred: (l: Line) => boolean): Promise<Line> => {
    for (let seen = 0; ; ) {
      for (; seen < lines.length; seen++) if (pred(lines[seen]!)) { const l = lines[seen]!; lines.splice(seen, 1); return l }
      if (child.exitCode !== null) fail(`${mode} box exited (${child.exitCode}) before the expected output`)
      await new Promise<void>(resolve => { waiters.push(resolve) })
    }
  }
  return { child, next, exited }
}

/**
 * Flushes every dirty page (so no contender pays for the previous one's
 * write-back) and reads the whole file once (so each starts with it in the
 * page cache).
 */
async function warm (path: string): Promise<void> {
  spawnSync('sync')
  const h = await open(path, 'r')
  const buf = Buffer.allocUnsafe(16 * MIB)
  try {
    for (let at = 0; ; at += buf.byteLength) if ((await h.read(buf, 0, buf.byteLength, at)).bytesRead === 0) break
  } finally {
    await h.close()
  }
}

async function main (): Promise<void> {
  ensureTools(['rsync', 'ssh', 'openssl', '/usr/sbin/sshd'])
  const { dir, cleanup } = await workDir('tandem-bench-p2p-', IMAGE_BYTES * (2.5 + 1.5 * RUNS) + GIB)
  let sshd: Awaited<ReturnType<typeof startLoopbackSshd>> | undefined
  let replica: ReturnType<typeof startBox> | undefined
  try {
    await mkdir(join(dir, 'sshd'))
    sshd = await startLoopbackSshd(join(dir, 'sshd'))
    const image = join(dir, 'disk0.img')
    note(`generating a ${IMAGE_BYTES / GIB} GiB VM-like image (seed ${SEED})`)
    await makeImage(image, IMAGE_BYTES, SEED)

    const keyFile = join(dir, 'primary.key')
    const primaryPeer = peerIdFromPrivateKey(await loadOrCreateIdentity(keyFile)).toString()
    await mkdir(join(dir, 'replica'), { recursive: true })
    replica = startBox('replica', { dir: join(dir, 'replica'), primaryPeer })
    const address = (await replica.next(l => l.address !== undefined)).address as string

    // Runs interleave the contenders, so a slow spell of a shared machine hits all of them; medians are reported.
    const ours: Array<{ seconds: number, ready: number, wireBytes: number, cpu: number, rss: number }> = []
    const tlsRuns: number[] = []
    const rsyncRuns: number[] = []
    let primaryArgs = {}
    for (let run = 1; run <= RUNS; run++) {
      await warm(image)
      note(`run ${run}/${RUNS}: initial replication over the protocol`)
      // Each run is a new relationship: an initial replication every time.
      primaryArgs = { keyFile, stateDir: join(dir, `primary-state-${run}`), image, replica: address, relationship: `vm${run}` }
      const initial = await startBox('primary', primaryArgs).next(l => l.report !== undefined)
      const ready = await replica.next(l => l.session !== undefined)
      if (ready.session !== 'committed') fail(`the Replica ended the initial session with ${String(ready.session)}`)
      const r = {
        seconds: initial.seconds as number,
        ready: ((ready.endedAt as number) - (initial.startedAt as number)) / 1000,
        wireBytes: (initial.report as { wireBytes: number }).wireBytes,
        cpu: initial.cpuSeconds as number,
        rss: initial.peakRssMib as number
      }
      ours.push(r)
      if (process.env.TANDEM_BENCH_TRACE !== undefined) await writeFile(process.env.TANDEM_BENCH_TRACE + `-${run}.json`, JSON.stringify({ windowUs: initial.windowUs, primary: initial.cpuTrace, replica: ready.cpuTrace }))
      note(`  CPU s in the timed window: primary ${JSON.stringify(cpuWithin(initial.cpuTrace as CpuTrace, initial.windowUs as number[]))}, Replica ${JSON.stringify(cpuWithin(ready.cpuTrace as CpuTrace, initial.windowUs as number[]))}`)
      note(`  ${r.seconds.toFixed(2)} s to commit, ${r.ready.toFixed(2)} s with the replica image; ${mb(r.wireBytes)} on the wire; timed window ${JSON.stringify(initial.windowUs)} (monotonic µs)`)

      if (!REFERENCES) continue
      await warm(image)
      note(`run ${run}/${RUNS}: reference: raw bytes over one TLS 1.3 socket`)
      await mkdir(join(dir, `tls-${run}`))
      tlsRuns.push((await tlsRawTransfer(image, { workDir: join(dir, `tls-${run}`) })).seconds)
      note(`  ${tlsRuns.at(-1)!.toFixed(2)} s`)

      await warm(image)
      note(`run ${run}/${RUNS}: reference: rsync -z over ssh to 127.0.0.1`)
      await mkdir(join(dir, `rsync-${run}`))
      rsyncRuns.push((await rsyncOverSsh(image, join(dir, `rsync-${run}`), sshd)).seconds)
      note(`  ${rsyncRuns.at(-1)!.toFixed(2)} s`)
      await rm(join(dir, `rsync-${run}`), { recursive: true, force: true })
    }
    const initialSeconds = median(ours.map(r => r.seconds))
    const readySeconds = median(ours.map(r => r.ready))
    const initialReport = { wireBytes: ours[0]!.wireBytes }
    const tls = { seconds: REFERENCES ? median(tlsRuns) : NaN }
    const rsync = { seconds: REFERENCES ? median(rsyncRuns) : NaN }

    const changed = await rewriteBlocks(image, IMAGE_BYTES, DEFAULT_BLOCK_SIZE, Math.round(IMAGE_BYTES / DEFAULT_BLOCK_SIZE * REWRITE_FRACTION), prng(SEED + 1))
    const changedBytes = changed.length * DEFAULT_BLOCK_SIZE
    note(`delta cycle after rewriting ${changed.length} blocks (${mb(changedBytes)})`)
    const delta = await startBox('primary', primaryArgs).next(l => l.report !== undefined)
    const deltaReady = await replica.next(l => l.session !== undefined)
    if (deltaReady.session !== 'committed') fail(`the Replica ended the delta session with ${String(deltaReady.session)}`)
    const deltaReport = delta.report as { wireBytes: number, changedBlocks: number }
    if (deltaReport.changedBlocks !== changed.length) fail(`the delta cycle found ${deltaReport.changedBlocks} changed blocks; ${changed.length} were rewritten`)
    note(`  ${(delta.seconds as number).toFixed(2)} s, ${mb(deltaReport.wireBytes)} on the wire`)

    replica.child.stdin!.end()
    const replicaEnd = await replica.next(l => l.peakRssMib !== undefined)
    await replica.exited // (a profiled box writes its profile as it exits)
    const replicaRss = replicaEnd.peakRssMib as number
    const primaryRss = Math.max(...ours.map(r => r.rss), delta.peakRssMib as number)

    const result = {
      initial_time_vs_rsync_ssh: round(initialSeconds / rsync.seconds),
      initial_time_vs_tls_raw: round(initialSeconds / tls.seconds),
      delta_bytes_vs_changed: round(deltaReport.wireBytes / changedBytes),
      peak_rss_mib: round(Math.max(primaryRss, replicaRss), 1),
      image_gib: IMAGE_BYTES / GIB,
      initial_s: round(initialSeconds, 2),
      initial_ready_s: round(readySeconds, 2),
      initial_wire_mb: round(initialReport.wireBytes / 1e6, 1),
      rsync_ssh_s: round(rsync.seconds, 2),
      tls_raw_s: round(tls.seconds, 2),
      delta_s: round(delta.seconds as number, 2),
      delta_wire_mb: round(deltaReport.wireBytes / 1e6, 2),
      changed_mb: round(changedBytes / 1e6, 2),
      peak_rss_primary_mib: round(primaryRss, 1),
      peak_rss_replica_mib: round(replicaRss, 1),
      // CPU time of every thread of each side (the initial cycle for the primary; the whole run, replica images included, for the Replica).
      initial_cpu_primary_s: round(median(ours.map(r => r.cpu)), 1),
      runs: RUNS,
      initial_runs_s: ours.map(r => round(r.seconds, 2)),
      rsync_ssh_runs_s: rsyncRuns.map(x => round(x, 2)),
      cpu_replica_s: round(replicaEnd.cpuSeconds as number, 1)
    }
    process.stdout.write('p2p benchmark\n')
    for (const [k, target] of Object.entries(TARGETS)) {
      const v = result[k as keyof typeof TARGETS]
      const ok = target.op === '<=' ? v <= target.value : v < target.value
      process.stdout.write(`  ${k}: ${v} (target ${target.op} ${target.value}: ${ok ? 'met' : 'NOT met'})\n`)
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    replica?.child.kill()
    await sshd?.stop()
    await cleanup()
  }
}

await main()
