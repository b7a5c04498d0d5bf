import { join, resolve } from 'node:path'
import { AppError, AppErrorCode } from '../errors.ts'

import { DATA_ENV } from '../service/index.ts'

export { DATA_ENV, DEFAULT_DATA_DIR } from '../service/index.ts'

/**
 * Where each part of a box lives inside its data directory (docs/daemon.md
 * "Layout"). The directory and everything in it is private to its owner
 * (0700 directories, 0600 files).
 */
export interface DataLayout {
  dir: string
  /** Small, versioned settings (config.ts). */
  config: string
  /** The box's Ed25519 key (p2p loadOrCreateIdentity). */
  identity: string
  /** The paired boxes (appliance/peers, docs/peers.md). */
  peers: string
  /** The Replica's stores: `store/<peer id>/<relationship>/`, one core store each. */
  store: string
  /** The Unix sockets of the recovery points served over NBD (docs/failover.md); emptied at every start. */
  exports: string
  /** Failovers' working files: a test VM's run directory is `failover/<relationship>/test/` while its test runs (docs/failover.md). */
  failover: string
  /** Salvage records of an old primary that became the Replica: `salvage/<id>.json` (docs/failover.md "Salvage"). */
  salvage: string
  /** Drill settings, proofs and screenshots: `drills/<relationship>/` (docs/failover.md "Drills"). */
  drills: string
  /** The local API's unix socket (mode 0600), present while a daemon runs. */
  socket: string
  /** A LevelDB directory whose LOCK is the daemon's lock on the whole data directory (data-lock.ts). */
  lock: string
  /** The VM inventory (appliance/inventory, docs/vm-inventory.md). */
  vms: string
  /** One folder per VM the qemu driver runs: QEMU's run files, tracking state, sidecars (docs/vms.md). */
  vmRuns: string
  /** This box's relationships, both roles (appliance/relationships, docs/relationships.md). */
  relationships: string
  /** The primary's per-relationship replication state: `primary/<relationship>/` (docs/primary-state.md). */
  primary: string
  /** The event log (appliance/events, docs/events.md). */
  events: string
  /** The web server's files: its certificate and key, the admin password, the setup code (docs/web.md); web/ writes them. */
  web: string
}

/** The layout of `dir`, made absolute. An empty path is APP_USAGE: it would otherwise mean the working directory. */
export function dataLayout (dir: string): DataLayout {
  if (dir.trim() === '') throw new AppError(AppErrorCode.APP_USAGE, `the data directory path is empty: give --data <dir> or ${DATA_ENV} a directory`)
  const abs = resolve(dir)
  return {
    dir: abs,
    config: join(abs, 'config.json'),
    identity: join(abs, 'identity.key'),
    peers: join(abs, 'peers.json'),
    store: join(abs, 'store'),
    exports: join(abs, 'exports'),
    failover: join(abs, 'failover'),
    salvage: join(abs, 'salvage'),
    drills: join(abs, 'drills'),
    socket: join(abs, 'api.sock'),
    lock: join(abs, 'daemon.lock'),
    vms: join(abs, 'vms.json'),
    vmRuns: join(abs, 'vms'),
    relationships: join(abs, 'relationships.json'),
    primary: join(abs, 'primary'),
    events: join(abs, 'events'),
    web: join(abs, 'web')
  }
}
