/**
 * A running cycle's progress in replicationStatus, in-process: two
 * Appliances on loopback, a manual-driver VM whose disk reads are held at
 * the disk's middle (a gate around the driver's sources, so the cycle
 * stands still there without a sleep). While held, the status shows the
 * initial replication's phase, bytes done out of the disk's size and its
 * start; once released and committed, progress is null again.
 */
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import type { CycleRecord } from '../../../appliance/events/index.ts'
import type { DiskSource, DiskView } from '../../../core/disk-view/index.ts'
import { freePort, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'

const BS = 65536
const DISK_BYTES = 256 * BS
/** The gate: reads at or past this offset wait until the test opens it. */
const HELD_FROM = DISK_BYTES / 2
/**
 * Status is asked at most this many times, POLL_MS apart, while the cycle
 * stands at the gate: the first report comes once the first batch is sent
 * and acknowledged, which no signal of the daemon announces. The bound only
 * ends a broken run; nothing asserts how long it took.
 */
const MAX_STATUS_POLLS = 3000
const POLL_MS = 10

async function startBox (t: Test, dir: string): Promise<Appliance> {
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  t.teardown(async () => { await app.stop() })
  return app
}

/** A source whose views read through the main thread (no fd) and hold every read from HELD_FROM on until `open`. */
function gated (inner: DiskSource, gate: { reached: () => void, opened: Promise<void> }): DiskSource {
  return {
    description: inner.description,
    open: async (signal?: AbortSignal): Promise<DiskView> => {
      const view = await inner.open(signal)
      return {
        size: view.size,
        read: async (offset, length, into, s) => {
          if (offset + length > HELD_FROM) { gate.reached(); await gate.opened }
          await view.read(offset, length, into, s)
        },
        ...(view.dataExtents === undefined ? {} : { dataExtents: view.dataExtents.bind(view) }),
        close: async () => { await view.close() }
      }
    }
  }
}

t.test('the initial replication shows its progress while it runs, and none after', async t => {
  const root = await tempDir(t)
  const primaryDir = join(root, 'primary')
  const replicaDir = join(root, 'replica')
  await initDataDir(primaryDir, { name: 'primary-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(replicaDir, { name: 'replica-box', listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`] })
  const primary = await startBox(t, primaryDir)
  const replica = await startBox(t, replicaDir)
  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })

  const disk = join(root, 'disk0.img')
  await sparseFile(disk, DISK_BYTES)
  // Data all over the disk, so both halves are read and sent.
  await writePatches(disk, scatteredPatches(7, DISK_BYTES, 200, BS))
  await primary.inventory.add({
    driver: 'manual',
    definition: { name: 'vm1', vcpus: 1, memoryMiB: 256, disks: [{ name: 'disk0', path: disk, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false },
    addedAt: Date.now()
  })

  let reached!: () => void
  const atGate = new Promise<void>(resolve => { reached = resolve })
  let openGate!: () => void
  const gate = { reached: () => { reached() }, opened: new Promise<void>(resolve => { openGate = resolve }) }
  const manual = primary.drivers.manual
  const diskSources = manual.diskSources.bind(manual)
  manual.diskSources = async (vm, opts) => {
    const cycle = await diskSources(vm, opts)
    return { ...cycle, disks: cycle.disks.map(d => ({ name: d.name, source: gated(d.source, gate) })) }
  }
  t.teardown(() => { openGate() })

  const committed = new Promise<CycleRecord>(resolve => { const off = primary.replication.onCycle((_id, r) => { off(); resolve(r) }) })
  const enabled = await primary.replicationEnable('vm1', { to: 'replica-box', frequency: '1h' })
  t.equal(enabled.state, 'waiting-initial-replication')
  await atGate

  // The sender reports each batch of the first half after it is read: ask until one has come.
  let status = (await primary.replicationStatus('vm1'))[0]!
  for (let i = 0; i < MAX_STATUS_POLLS && (status.progress === null || status.progress.bytesDone === 0); i++) {
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
    status = (await primary.replicationStatus('vm1'))[0]!
  }
  t.equal(status.running, true, 'the cycle runs')
  t.equal(status.state, 'waiting-initial-replication')
  const progress = status.progress!
  t.ok(progress !== null, 'its progress is shown')
  t.equal(progress.phase, 'send disk0', 'the disk being compared and sent')
  t.equal(progress.bytesTotal, DISK_BYTES, 'out of the whole disk')
  t.ok(progress.bytesDone > 0 && progress.bytesDone <= HELD_FROM, `part of it done, no further than the gate (${progress.bytesDone})`)
  t.ok(Date.parse(progress.startedAt) <= Date.now(), 'since the cycle began')
  t.ok(progress.etaMs === null || progress.etaMs >= 0, 'an ETA once a rate is known, else null')

  openGate()
  const record = await committed
  t.equal(record.outcome, 'ok')
  const [done] = await primary.replicationStatus('vm1')
  t.equal(done!.state, 'replicating', 'initial replication done')
  t.equal(done!.progress, null, 'no progress once no cycle runs')
})
