/**
 * Two daemons in-process on loopback, paired through the service, and a
 * manual-driver VM on the primary (no VM runs): the set-up of the daemon
 * tests that replicate between two Appliances.
 */
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { Appliance, initDataDir } from '../../appliance/daemon/index.ts'
import type { CycleRecord } from '../../appliance/events/index.ts'
import type { ReplicationEnableRequest } from '../../appliance/service/index.ts'
import { sparseFile, type Teardown } from './fixtures.ts'

export interface PairedDaemons {
  primary: Appliance
  replica: Appliance
  /** The data directories, to restart a daemon on. */
  primaryDir: string
  replicaDir: string
}

/** Starts a daemon on `dir`, stopped at teardown (a stop before that is harmless: stop() is idempotent). */
export async function startDaemon (t: Teardown, dir: string): Promise<Appliance> {
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  t.teardown(async () => { await app.stop() })
  return app
}

/** Initializes the data directories of a primary (`box-p`, `root/p`) and a Replica (`box-r`, `root/r`, listening on `replicaListen`). */
export async function initPairedDirs (root: string, replicaListen = '/ip4/127.0.0.1/tcp/0'): Promise<{ primaryDir: string, replicaDir: string }> {
  const primaryDir = join(root, 'p')
  const replicaDir = join(root, 'r')
  await initDataDir(primaryDir, { name: 'box-p', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(replicaDir, { name: 'box-r', listen: [replicaListen] })
  return { primaryDir, replicaDir }
}

/** Pairs two running daemons: `primary` joins `replica`'s window with its PIN. */
export async function pair (primary: Appliance, replica: Appliance): Promise<void> {
  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })
}

/**
 * Initializes and starts a primary (`box-p`) and a Replica (`box-r`) under
 * `root` and pairs them. `replicaListen`: the Replica's address (a fixed
 * port when the test restarts it); the primary's port is the system's.
 */
export async function pairedDaemons (t: Teardown, root: string, replicaListen = '/ip4/127.0.0.1/tcp/0'): Promise<PairedDaemons> {
  const { primaryDir, replicaDir } = await initPairedDirs(root, replicaListen)
  const primary = await startDaemon(t, primaryDir)
  const replica = await startDaemon(t, replicaDir)
  await pair(primary, replica)
  return { primary, replica, primaryDir, replicaDir }
}

/** Adds a manual-driver VM `name` with one raw disk `disk0` of `bytes` (a sparse file at `path`) to `app`'s inventory. */
export async function addManualVm (app: Appliance, name: string, path: string, bytes: number): Promise<void> {
  await sparseFile(path, bytes)
  await app.inventory.add({
    driver: 'manual',
    definition: { name, vcpus: 1, memoryMiB: 256, disks: [{ name: 'disk0', path, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false },
    addedAt: Date.now()
  })
}

/** Runs one cycle of `vm` on `primary` now; resolves with its record once it ended. */
export async function runCycle (primary: Appliance, vm: string): Promise<CycleRecord> {
  return await new Promise(resolve => {
    const off = primary.replication.onCycle((id, record) => { if (id === vm) { off(); resolve(record) } })
    primary.scheduler.get(vm)!.runNow()
  })
}

/** Enables replication of `vm` with `request` (its first cycle runs at once); resolves once that cycle ended. */
export async function enableReplication (primary: Appliance, vm: string, request: ReplicationEnableRequest): Promise<CycleRecord> {
  const first = new Promise<CycleRecord>(resolve => {
    const off = primary.replication.onCycle((id, record) => { if (id === vm) { off(); resolve(record) } })
  })
  await primary.replicationEnable(vm, request)
  return await first
}
