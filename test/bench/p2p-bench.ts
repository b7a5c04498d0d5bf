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
 * TANDEM_BENCH_GIB (default 2), TANDEM_BENCH_SEED.
 * Not a test: nothing here fails on a slow figure, only on wrong results.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DEFAULT_BLOCK_SIZE } from '../../core/constants.ts'
import { loadOrCreateIdentity } from '../../p2p/node/index.ts'
import { prng } from '../helpers/fixtures.ts'
import { GIB, MIB, ensureTools, envNumber, fail, makeImage, mb, note, round, workDir } from './measure.ts'
import { rsyncOverSsh, startLoopbackSshd, tlsRawTransfer } from './p2p-reference.ts'
import { rewriteBlocks } from './vm-image.ts'

const IMAGE_BYTES = Math.round(envNumber('TANDEM_BENCH_GIB', 2) * GIB / MIB) * MIB
const SEED = envNumber('TANDEM_BENCH_SEED', 1)
const REWRITE_FRACTION = 0.01
const BOX = fileURLToPath(new URL('./p2p-box.ts', import.meta.url))

const TARGETS = {
  initial_time_vs_rsync_ssh: { op: '<=', value: 1.0 },
  peak_rss_mib: { op: '<', value: 400 }
} as const

type Line = Record<string, unknown>

/** A box process; `lines` collects its JSON lines, `next(pred)` waits for one. */
function startBox (mode: 'replica' | 'primary', args: object): { child: ChildProcess, next: (pred: (l: Line) => boolean) => Promise<Line>, exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', BOX, mode, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: Line[] = []
  let waiters: Array<() => void> = []
  createInterface({ input: child.stdout! }).on('line', text => {
    lines.push(JSON.parse(text) as Line)
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

/** Reads the whole file once, so every contender starts with it in the page cache. */
async function warm (path: string): Promise<void> {
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
  const { dir, cleanup } = await workDir('tandem-bench-p2p-', IMAGE_BYTES * 4.5 + GIB)
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
    const primaryArgs = { keyFile, stateDir: join(dir, 'primary-state'), image, replica: address }

    await warm(image)
    note('initial replication over the protocol')
    const initial = await startBox('primary', primaryArgs).next(l => l.report !== undefined)
    const initialReady = await replica.next(l => l.session !== undefined)
    if (initialReady.session !== 'committed') fail(`the Replica ended the initial session with ${String(initialReady.session)}`)
    const initialSeconds = initial.seconds as number
    const readySeconds = ((initialReady.endedAt as number) - (initial.startedAt as number)) / 1000
    const initialReport = initial.report as { wireBytes: number, blockBytes: number }
    note(`  ${initialSeconds.toFixed(2)} s to commit, ${readySeconds.toFixed(2)} s with the replica image; ${mb(initialReport.wireBytes)} on the wire`)

    await warm(image)
    note('reference: raw bytes over one TLS 1.3 socket')
    await mkdir(join(dir, 'tls'))
    const tls = await tlsRawTransfer(image, { workDir: join(dir, 'tls') })
    note(`  ${tls.seconds.toFixed(2)} s`)

    await warm(image)
    note('reference: rsync -z over ssh to 127.0.0.1')
    await mkdir(join(dir, 'rsync-dest'), { recursive: true })
    const rsync = await rsyncOverSsh(image, join(dir, 'rsync-dest'), sshd)
    note(`  ${rsync.seconds.toFixed(2)} s`)

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
    const replicaRss = replicaEnd.peakRssMib as number
    const primaryRss = Math.max(initial.peakRssMib as number, delta.peakRssMib as number)

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
      initial_cpu_primary_s: round(initial.cpuSeconds as number, 1),
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
