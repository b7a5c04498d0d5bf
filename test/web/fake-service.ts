/**
 * An ApplianceService that answers from literals and records its calls, for
 * the API's route and client tests: what is under test there is the HTTP
 * layer, not the daemon (the daemon's own tests run it for real).
 * `failWith` makes every method throw an error with that code.
 */
import { ServiceError, type ApplianceService, type PairJoinRequest, type PairOpenRequest, type PeerInfo, type StatusInfo } from '../../appliance/service/index.ts'

export const PEER_ID = '12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV'

export const STATUS: StatusInfo = {
  state: 'running',
  name: 'box-a',
  peerId: PEER_ID,
  role: 'both',
  dataDir: '/var/lib/tandem',
  listen: ['/ip4/127.0.0.1/tcp/0'],
  addresses: [`/ip4/127.0.0.1/tcp/4001/p2p/${PEER_ID}`],
  api: '/var/lib/tandem/api.sock',
  httpsApi: null,
  peers: 1,
  connectedPeers: 0,
  pairing: { open: false, expiresAt: null },
  version: '0.1.0',
  startedAt: '2026-01-01T00:00:00.000Z',
  pid: 42
}

export const PEER: PeerInfo = { peerId: PEER_ID, name: 'box-b', role: 'replica', pairedAt: '2026-01-01T00:00:00.000Z', connected: true }

export class FakeService implements ApplianceService {
  readonly calls: Array<[string, unknown]> = []
  failWith: { code: string, message: string } | undefined
  /** Returned by status(); tests may put extra properties in it. */
  status_: StatusInfo = STATUS

  private record (method: string, arg?: unknown): void {
    this.calls.push([method, arg])
    if (this.failWith !== undefined) throw new ServiceError(this.failWith.code, this.failWith.message)
  }

  async status (): Promise<StatusInfo> { this.record('status'); return this.status_ }
  async pairOpen (request?: PairOpenRequest): Promise<{ pin: string, invite: string, addresses: string[], expiresAt: string }> {
    this.record('pairOpen', request)
    return { pin: '12345678', invite: 'tandem-pair:1:abc', addresses: STATUS.addresses, expiresAt: '2026-01-01T00:10:00.000Z' }
  }

  async pairJoin (request: PairJoinRequest): Promise<{ peer: PeerInfo, confirmationCode: string }> {
    this.record('pairJoin', request)
    return { peer: PEER, confirmationCode: '123456' }
  }

  async pairList (): Promise<PeerInfo[]> { this.record('pairList'); return [PEER] }
  async pairRemove (peerId: string): Promise<{ peerId: string, removed: true }> { this.record('pairRemove', peerId); return { peerId, removed: true } }
}
