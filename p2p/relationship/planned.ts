import type { PlannedFailover } from './messages.ts'

/**
 * What a Replica does when its primary hands it a planned failover (the
 * `planned-failover` request, docs/relationship-protocol.md "Planned
 * failover"). p2p declares it; appliance implements it with its failover
 * workflows. Every request it is given was checked at the boundary
 * (messages.ts) and comes from a paired peer (`peer`).
 *
 * Contract, as the registrar's (registrar.ts): it resolves once the
 * failover is recorded durably (the term raised: the old primary is refused
 * from then on), before the VM has started (that runs on as a job there);
 * it is idempotent (the same request after it was taken changes nothing
 * more); it throws a P2pError with one of REGISTRAR_CODES or
 * P2P_FAILOVER_REFUSED to refuse, and then nothing changed.
 */
export interface PlannedFailoverTarget {
  /**
   * `peer`, the primary of `request.relationship` at `request.term`, shut
   * the VM down and replicated its last changes as the point `request.root`:
   * fail over to it. P2P_RELATIONSHIP_UNKNOWN (not held for `peer`),
   * P2P_STALE_TERM, P2P_FAILED_OVER (already failed over at another
   * point), P2P_FAILOVER_REFUSED (the latest point is not `root`, or this
   * box cannot fail the VM over).
   */
  plannedFailover: (peer: string, request: PlannedFailover, signal: AbortSignal) => Promise<void>
}
