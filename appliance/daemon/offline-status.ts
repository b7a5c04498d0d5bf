import { access } from 'node:fs/promises'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../p2p/node/identity.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { StatusInfo, WebStatusInfo } from '../service/index.ts'
import { requireConfig } from './config.ts'
import { dataLayout } from './data-dir.ts'

/**
 * What `tandem status` shows while no daemon runs: the config's facts and
 * the peer id of the identity, with state 'stopped', no bound addresses and
 * no peer counts (the peers file is the daemon's alone). Reads config.json
 * and the identity and creates nothing (a data directory without its
 * identity is APP_DATA_NOT_INITIALIZED); the one write is p2p's upgrade of a
 * first-format identity file to the checksummed one, the same key.
 * `webStatus` gives the web server's part (the composition root reads it
 * from web/, which appliance/ does not know); none: null.
 */
export async function offlineStatus (dataDir: string, version = '0.0.0', webStatus: () => Promise<WebStatusInfo | null> = async () => null): Promise<StatusInfo> {
  const layout = dataLayout(dataDir)
  const config = await requireConfig(layout.config)
  // loadOrCreateIdentity would create a missing identity: check first, so status stays read-only.
  await access(layout.identity).catch(err => {
    throw new AppError(AppErrorCode.APP_DATA_NOT_INITIALIZED, `${layout.identity} does not exist: run \`tandem init\``, { cause: err })
  })
  const key = await loadOrCreateIdentity(layout.identity)
  return {
    state: 'stopped',
    name: config.name,
    peerId: peerIdFromPrivateKey(key).toString(),
    role: config.role,
    dataDir: layout.dir,
    listen: [...config.listen],
    addresses: [],
    api: layout.socket,
    httpsApi: config.api,
    web: await webStatus(),
    peers: 0,
    connectedPeers: 0,
    pairing: { open: false, expiresAt: null },
    version,
    startedAt: null,
    pid: null
  }
}
