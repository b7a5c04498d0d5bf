/**
 * Two daemons in-process on loopback, paired through the service, and a
 * manual-driver VM on the primary (no VM runs): the set-up of the daemon
 * tests that replicate between two Appliances.
 */
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { Appliance, initDataDir } from '../../appliance/daemon/index.ts'
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

/**
 * Initializes and starts a primary (`box-p`) and a Replica (`box-r`) under
 * `root` and pairs them. `replicaListen`: the Replica's address (a fixed
 * port when the test restarts it); the primary's port is the system's.
 */
export async function pairedDaemons (t: Teardown, root: string, replicaListen = '/ip4/127.0.0.1/tcp/0'): Promise<PairedDaemons> {
  const primaryDir = join(root, 'p')
  const replicaDir = join(root, 'r')
  await initDataDir(primaryDir, { name: 'box-p', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(replicaDir, { name: 'box-r', listen: [replicaListen] })
  const primary = await startDaemon(t, primaryDir)
  const replica = await startDaemon(t, replicaDir)
  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })
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
