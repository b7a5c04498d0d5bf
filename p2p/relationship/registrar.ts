import { P2pError, P2pErrorCode } from '../errors.ts'
import type { RelationshipDescription, RelationshipRemoval } from './messages.ts'

/**
 * What the Replica holds of the relationships paired primaries offer it.
 * p2p declares it; appliance implements it over its persisted relationships.
 * Every request it is given was checked at the boundary (messages.ts) and
 * comes from a paired peer (`peer`: the Noise-authenticated peer id).
 *
 * Contract, for every method:
 * - It resolves only once the request is durable (a crash after it loses
 *   nothing the primary was told was accepted), and then the primary hears
 *   `accepted`.
 * - It is all or nothing: when it throws, nothing changed.
 * - It is idempotent: the same request again (the primary retries after a
 *   dropped link) changes nothing more.
 * - It may be called concurrently from several streams (even for the same
 *   relationship); it serializes what needs it.
 * - It throws a P2pError with one of REGISTRAR_CODES to refuse; that code
 *   travels to the primary. Anything else it throws (a disk error) travels
 *   as P2P_RELATIONSHIP_FAILED, and the error itself stays in this box's log.
 * - It should stop promptly when `signal` aborts (the receiver stops, or
 *   TIMEOUT_RECORD_MS passed); the primary hears P2P_RELATIONSHIP_FAILED then
 *   whatever it does.
 */
export interface RelationshipRegistrar {
  /**
   * The primary protects this VM on this box from now on. A relationship id
   * it already holds for the same peer is an update. Refuse with
   * P2P_RELATIONSHIP_REFUSED (the id is held for another peer, the VM's name
   * clashes with one it protects for another, its policy refuses a setting)
   * or P2P_STALE_TERM (it holds the relationship with a higher term), or
   * P2P_FAILED_OVER (it failed over the relationship: the sender is no
   * longer its primary).
   */
  offer: (peer: string, offer: RelationshipDescription, signal: AbortSignal) => Promise<void>
  /**
   * The primary changed the relationship (settings, suspended, the VM's
   * shape, a raised term); the description is whole, not a difference.
   * P2P_RELATIONSHIP_UNKNOWN when it holds no such relationship for `peer`
   * (the primary then offers it again), P2P_STALE_TERM for a lower term than
   * it holds, P2P_FAILED_OVER when it failed over the relationship,
   * P2P_RELATIONSHIP_REFUSED when its policy refuses the change.
   */
  update: (peer: string, update: RelationshipDescription, signal: AbortSignal) => Promise<void>
  /**
   * The primary stops protecting the VM. The Replica forgets the
   * relationship but keeps its recovery points until its own operator
   * removes them (they may be all that is left of the VM).
   * P2P_RELATIONSHIP_UNKNOWN when it holds no such relationship for `peer`
   * (the primary takes that as done), P2P_STALE_TERM for a lower term,
   * P2P_FAILED_OVER when it failed over the relationship (its record is what
   * the VM now runs under: a stale primary cannot remove it).
   */
  remove: (peer: string, removal: RelationshipRemoval, signal: AbortSignal) => Promise<void>
}

/** The codes a registrar (or a RelationshipPrimary, or a PlannedFailoverTarget) may refuse with; they reach the requesting peer as they are. */
export const REGISTRAR_CODES: ReadonlySet<P2pErrorCode> = new Set([
  P2pErrorCode.P2P_RELATIONSHIP_REFUSED,
  P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN,
  P2pErrorCode.P2P_STALE_TERM,
  P2pErrorCode.P2P_FAILED_OVER,
  P2pErrorCode.P2P_RELATIONSHIP_FAILED,
  P2pErrorCode.P2P_VM_RUNNING,
  P2pErrorCode.P2P_FAILOVER_REFUSED
])

/** The code the primary hears for what a registrar threw: its own code when it is one of REGISTRAR_CODES, else P2P_RELATIONSHIP_FAILED. */
export function registrarCode (err: unknown): P2pErrorCode {
  return err instanceof P2pError && REGISTRAR_CODES.has(err.code) ? err.code : P2pErrorCode.P2P_RELATIONSHIP_FAILED
}
