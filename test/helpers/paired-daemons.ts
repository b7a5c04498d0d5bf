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
import { freePort, scatteredPatches, sparseFile, writePatches, type Teardown } from './fixtures.ts'

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

/** A daemon a test stops and starts again: `app` is the one running now, or undefined. */
export interface Box { app: Appliance | undefined }

/** Starts a daemon on `dir` as `box`'s. */
export async function startBox (box: Box, dir: string): Promise<Appliance> {
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  box.app = app
  return app
}

/**
 * A primary and a Replica (on a fixed port, so the primary finds it after
 * restarts) started and paired, as Boxes a test may stop and start again;
 * at teardown the Replica's VM `vm` is forced off and whichever daemons
 * run then are stopped. `primaryListen`: the primary's address (a fixed
 * port when the boxes swap roles and the primary restarts); the system's
 * port by default.
 */
export async function restartablePair (t: Teardown, root: string, vm: string, primaryListen?: string): Promise<{ p: Box, r: Box, primaryDir: string, replicaDir: string }> {
  const { primaryDir, replicaDir } = await initPairedDirs(root, `/ip4/127.0.0.1/tcp/${await freePort()}`, primaryListen)
  const p: Box = { app: undefined }
  const r: Box = { app: undefined }
  t.teardown(async () => {
    await r.app?.vmStop(vm, { force: true, timeoutMs: 1000 }).catch(() => undefined)
    await r.app?.stop()
    await p.app?.stop()
  })
  await pair(await startBox(p, primaryDir), await startBox(r, replicaDir))
  return { p, r, primaryDir, replicaDir }
}

/** Initializes the data directories of a primary (`box-p`, `root/p`, listening on `primaryListen`) and a Replica (`box-r`, `root/r`, listening on `replicaListen`). */
export async function initPairedDirs (root: string, replicaListen = '/ip4/127.0.0.1/tcp/0', primaryListen = '/ip4/127.0.0.1/tcp/0'): Promise<{ primaryDir: string, replicaDir: string }> {
  const primaryDir = join(root, 'p')
  const replicaDir = join(root, 'r')
  await initDataDir(primaryDir, { name: 'box-p', listen: [primaryListen] })
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

/**
 * Adds a manual-driver VM `name` whose raw disk `path` (made sparse, of
 * `bytes`, with scattered data of `seed`) the busybox test guest boots
 * (`guest`: ensureTestGuest()'s kernel and initrd): once up it writes one
 * block, then sleeps, so its disk can be compared.
 */
export async function addGuestVm (app: Appliance, name: string, path: string, bytes: number, guest: { kernel: string, initrd: string }, seed: number): Promise<void> {
  await sparseFile(path, bytes)
  await writePatches(path, scatteredPatches(seed, bytes, 12, 1024 * 1024))
  await app.inventory.add({
    driver: 'manual',
    definition: {
      name, vcpus: 1, memoryMiB: 128, disks: [{ name: 'disk0', path, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false,
      boot: { kernel: guest.kernel, initrd: guest.initrd, append: 'console=ttyS0 panic=-1 tandem.every=1 tandem.delay=1000000000' }
    },
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
