import type { FailoverApi } from './failover-api.ts'
import type { JobApi } from './job-api.ts'
import type { ReplicationApi } from './replication-api.ts'
import type {
  PairJoinRequest, PairJoinResult, PairOpenRequest, PairOpenResult, PairRemoveResult, PairStatusInfo, PeerInfo, StatusInfo
} from './types.ts'
import type { ReplicaApi } from './replica-api.ts'
import type { SalvageApi } from './salvage-api.ts'
import type { SettingsApi } from './settings-api.ts'
import type { VmApi } from './vm-api.ts'

/**
 * What a Tandem box does, as one interface: the daemon implements it
 * (appliance/daemon/), the local API serves it and its client implements it
 * again over the socket (web/), the CLI and later the web page call it.
 * Every argument and result is JSON-able (types.ts). Every method may be
 * called concurrently. Failures are errors with a stable `code`
 * (docs/errors.md); only the code is meant to be matched on.
 */
export interface ApplianceService extends ReplicaApi, ReplicationApi, VmApi, JobApi, FailoverApi, SalvageApi, SettingsApi {
  /** Who this box is and what it listens on. */
  status: () => Promise<StatusInfo>
  /**
   * Opens a pairing window (replacing an open one): a new PIN and invite,
   * valid until `expiresAt`, for one successful pairing or 5 failed
   * attempts.
   */
  pairOpen: (request?: PairOpenRequest) => Promise<PairOpenResult>
  /**
   * Pairs with the box that opened a window. Throws P2P_PAIRING_FAILED (a
   * wrong PIN), P2P_PAIRING_CLOSED, P2P_PAIRING_UNREACHABLE,
   * P2P_INVITE_INVALID, APP_USAGE (an address that is not a multiaddr) and
   * the other pairing codes of docs/pairing.md.
   */
  pairJoin: (request: PairJoinRequest) => Promise<PairJoinResult>
  /**
   * The last window opened (open or not: its attempt in progress, failed
   * attempts, the pairing it ended with) and the last pairing made, with
   * the confirmation code: for the page of the box that opened the window.
   */
  pairStatus: () => Promise<PairStatusInfo>
  /** The paired boxes, oldest pairing first. */
  pairList: () => Promise<PeerInfo[]>
  /**
   * Unpairs a box: forgotten durably, its connections closed. Throws
   * APP_PEER_NOT_FOUND when it was not paired.
   */
  pairRemove: (peerId: string) => Promise<PairRemoveResult>
}
