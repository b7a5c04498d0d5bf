/**
 * A running box's status (StatusInfo) for tests of what the console shows
 * (test/appliance/cli/console-screen.test.ts, test/image/console-block.test.ts):
 * literal values, a web page with its fingerprint and one-time code.
 */
import type { StatusInfo } from '../../appliance/service/index.ts'
import { STATUS as API_STATUS } from '../web/fixtures/fake-service.ts'

export const PEER_ID = '12D3KooWN2DRqXhNGCMKruz5EL7h72rpu2uSDTPmVWEpmusUyD3c'
export const FINGERPRINT = 'SHA256 85:B6:69:7D:91:BE:BD:F0:5A:CB:6C:73:1E:93:D6:98:EC:67:81:49:9D:F2:B8:F9:B7:3B:B5:8F:CE:6E:58:F5'

/** The API tests' running box (test/web/fixtures/fake-service.ts), with its web page on 192.0.2.2:8443 and replication on 7450. */
export const STATUS: StatusInfo = {
  ...API_STATUS,
  peerId: PEER_ID,
  listen: ['/ip4/0.0.0.0/tcp/7450'],
  addresses: [`/ip4/192.0.2.2/tcp/7450/p2p/${PEER_ID}`],
  httpsApi: '192.0.2.2:8443',
  web: { url: 'https://192.0.2.2:8443/', fingerprint: FINGERPRINT, setupCode: 'ABCD-EFGH-JKMN', passwordSet: false },
  peers: 0,
  startedAt: '2026-12-07T21:00:00.000Z'
}
