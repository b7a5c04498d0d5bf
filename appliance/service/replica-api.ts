import type { EventsRequest, EventsResult, PointsResult, ReplicaStatusInfo } from './replica-types.ts'

/**
 * What a box shows as a Replica: the relationships paired primaries gave
 * it, their recovery points, and the event log (docs/api.md "Replica").
 * Reads only; every method may be called concurrently.
 */
export interface ReplicaApi {
  /**
   * The recovery points of the relationship `name` (a VM name or a
   * relationship id; `PEER/RELATIONSHIP` for a removed one held for several
   * peers) that this box holds as Replica, oldest first, read from its
   * store without disturbing the sessions writing it. Also the points kept
   * for a relationship the primary removed. Throws
   * APP_RELATIONSHIP_NOT_FOUND (none by that name, or this box is its
   * primary), APP_USAGE (a name that is not one).
   */
  points: (name: string) => Promise<PointsResult>
  /** The event log, oldest first (newest last), all or one relationship's or VM's. APP_USAGE for a bad `last`. */
  listEvents: (request?: EventsRequest) => Promise<EventsResult>
  /** The relationships held here as Replica, from their records, oldest first. */
  replicaStatus: () => Promise<ReplicaStatusInfo[]>
}
