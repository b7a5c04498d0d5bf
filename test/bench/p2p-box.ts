/**
 * One Tandem box in its own process for `npm run bench:p2p`, so each side's
 * memory is its own. Prints JSON lines on stdout.
 *
 *   replica <json: dir, primaryPeer>   a daemon on data directory <dir> (primaryPeer paired) serves replication until stdin closes;
 *                                      prints { address }, then { session, receivedBytes, endedAt, cpuTrace } per session,
 *                                      and { peakRssMib } when stdin closes
 *   primary <json: keyFile, stateDir, image, replica, relationship?>
 *                                      runs one cycle; prints { report, startedAt, seconds, windowUs, cpuTrace, peakRssMib }
 *
 * `cpuTrace` samples the CPU seconds of the main thread and of all other threads every 250 ms against
 * CLOCK_MONOTONIC (`windowUs` is the timed window on the same clock), so the bench can tell what each side
 * spent inside the window.
 */
import { readdirSync, readFileSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { performance as perfHooks } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_BLOCK_SIZE } from '../../core/constants.ts'
import { ScanPool, scanDisk } from '../../core/scan/index.ts'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { createTandemNode, loadOrCreateIdentity } from '../../p2p/node/index.ts'
import { Appliance, dataLayout, initDataDir } from '../../appliance/daemon/index.ts'
import { PeerRegistry } from '../../appliance/peers/index.ts'
import { replicateToPeer } from '../../appliance/replication/replicate-to-peer.ts'
import { sendOffer } from '../../p2p/relationship/index.ts'
import { peakRssMib } from './measure.ts'

/** CPU seconds (user + system) of the main thread and of all other threads together, from /proc. */
function threadCpu (): Record<string, number> {
  const out: Record<string, number> = {}
  const tick = 100 // USER_HZ
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const name = Number(tid) === process.pid ? 'main' : 'other threads'
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const s = (Number(f[11]) + Number(f[12])) / tick
      out[name] = Math.round(((out[name] ?? 0) + s) * 100) / 100
    } catch {}
  }
  // Seconds the main thread's event loop was busy (running callbacks) rather than waiting: beside its CPU time, how much it was preempted.
  out['main loop busy'] = Math.round(perfHooks.eventLoopUtilization().active / 10) / 100
  return out
}
/** CPU time of the whole process (every thread), user + system. */
const cpuSeconds = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
/** Starts the pool's worker threads (as a running daemon has them) by scanning a one-block file. */
async function warmPool (pool: ScanPool, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'warm-up.img')
  await writeFile(path, Buffer.alloc(DEFAULT_BLOCK_SIZE, 1))
  const view = await new FileDiskSource(path).open()
  try {
    await scanDisk(view, { pool, blockSize: DEFAULT_BLOCK_SIZE, onChanged: () => {} })
  } finally {
    await view.close()
    await rm(path)
  }
}

const line = (v: unknown): void => { writeSync(1, JSON.stringify(v) + '\n') }
const [mode, raw] = process.argv.slice(2)
const args = JSON.parse(raw ?? '{}') as Record<string, string>

/** CLOCK_MONOTONIC in microseconds, the clock of V8's --cpu-prof timestamps: a profile can be cut to the timed window. */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n)

// Per-thread CPU every 250 ms, so the bench can tell what each box spent inside the primary's timed window, and when.
let trace: Array<[number, Record<string, number>]> = []
setInterval(() => { trace.push([monotonicUs(), threadCpu()]); if (trace.length > 4000) trace = trace.slice(-2000) }, 250).unref()

if (mode === 'replica') {
  // The Replica is a real daemon (the composition root), its primary paired by hand; its logs are not wanted here.
  await initDataDir(args.dir!, { name: 'bench-replica', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await (await PeerRegistry.open(dataLayout(args.dir!).peers)).add({ peerId: args.primaryPeer!, name: 'bench-primary', role: 'primary', pairedAt: Date.now() })
  const appliance = await Appliance.start({
    dataDir: args.dir!,
    log: createWriteStream('/dev/null'),
    onReplicationSession: e => { line({ session: e.outcome, receivedBytes: e.receivedBytes, endedAt: Date.now(), cpuTrace: trace }); trace = [] }
  })
  line({ address: appliance.node.getMultiaddrs().find(m => m.toString().includes('/127.0.0.1/'))!.toString() })
  process.stdin.resume()
  process.stdin.on('end', () => {
    void (async () => {
      await appliance.stop()
      line({ peakRssMib: peakRssMib(), cpuSeconds: cpuSeconds() })
      process.exit(0)
    })()
  })
} else if (mode === 'primary') {
  const node = await createTandemNode({ privateKey: await loadOrCreateIdentity(args.keyFile!), listen: ['/ip4/127.0.0.1/tcp/0'] })
  await node.start()
  const pool = new ScanPool()
  await warmPool(pool, args.stateDir!)
  const startedAt = Date.now()
  const windowUs = [monotonicUs()]
  trace.push([windowUs[0]!, threadCpu()])
  // A daemon's Replica admits only relationships offered first (outside the timed window; again for each run: it is idempotent).
  const relationship = args.relationship ?? 'vm1'
  await sendOffer(node, multiaddr(args.replica!), {
    relationship,
    term: 1,
    suspended: false,
    vm: { name: relationship, driver: 'manual', vcpus: 1, memoryMiB: 256, boot: null, disks: [{ name: 'disk0', size: statSync(args.image!).size, format: 'raw' }], nics: [] },
    settings: { frequency: 300_000, recoveryPoints: 24, appConsistentEvery: null, bandwidth: null, initial: { mode: 'now' } }
  })
  const t0 = performance.now()
  const report = await replicateToPeer({
    node,
    replica: multiaddr(args.replica!),
    relationship,
    stateDir: args.stateDir!,
    disks: [{ name: 'disk0', path: args.image! }],
    pool,
    blockSize: DEFAULT_BLOCK_SIZE
  })
  const seconds = (performance.now() - t0) / 1000
  windowUs.push(monotonicUs())
  trace.push([monotonicUs(), threadCpu()])
  line({ cpuTrace: trace, report: { ...report, disks: undefined }, startedAt, seconds, windowUs, peakRssMib: peakRssMib(), cpuSeconds: cpuSeconds() })
  await pool.stop()
  await node.stop()
} else {
  process.stderr.write('usage: p2p-box.ts replica|primary <json>\n')
  process.exit(2)
}
