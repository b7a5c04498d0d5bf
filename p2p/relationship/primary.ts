import type { FailoverNotice, Reversal } from './messages.ts'

/**
 * What a primary does when its Replica tells it of a failover (the
 * `failed-over` request, docs/relationship-protocol.md "Failover notice").
 * p2p declares it; appliance implements it over its persisted
 * relationships. Every notice it is given was checked at the boundary
 * (messages.ts) and comes from a paired peer (`peer`: the
 * Noise-authenticated peer id).
 *
 * Contract, as the registrar's (registrar.ts): it resolves only once the
 * primary's new state is durable (the Replica then hears `accepted`); it is
 * all or nothing and idempotent (the same notice again changes nothing
 * more); it may be called concurrently; it throws a P2pError with one of
 * REGISTRAR_CODES to refuse, and anything else travels as
 * P2P_RELATIONSHIP_FAILED; it should stop promptly when `signal` aborts.
 */
export interface RelationshipPrimary {
  /**
   * `peer`, the Replica of `notice.relationship`, failed over at a newer
   * term: this box stops acting as that relationship's primary (no more
   * cycles, no VM started on its own) until its operator decides.
   * P2P_RELATIONSHIP_UNKNOWN when this box is not the primary of that
   * relationship with `peer` as its Replica; P2P_STALE_TERM when the notice's
   * term is not above the one this box holds (an old or replayed notice).
   */
  failedOver: (peer: string, notice: FailoverNotice, signal: AbortSignal) => Promise<void>
  /**
   * `peer`, the Replica of `reversal.relationship`, failed it over and now
   * runs the VM: this box becomes its Replica at the reversal's term
   * (docs/relationship-protocol.md "Reverse"). It resolves once that is
   * durable: the VM stopped (or refused), the disk kept as it is for the
   * new primary's first cycle (a salvage copy of what it wrote after
   * `reversal.base`), the record a Replica's. A repeated reversal of the
   * same term changes nothing more. P2P_RELATIONSHIP_UNKNOWN when this box
   * holds no such relationship with `peer` as the other side;
   * P2P_STALE_TERM when the term is not above this box's; P2P_VM_RUNNING
   * when the VM runs here and `force` is false.
   */
  reverse: (peer: string, reversal: Reversal, signal: AbortSignal) => Promise<void>
}
