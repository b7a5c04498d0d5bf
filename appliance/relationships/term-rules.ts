/**
 * The term rules (docs/design.md, invariant 5; docs/failover.md "Terms and
 * the returning primary"), pure: which request a Replica refuses from the
 * primary of a relationship, and what a primary makes of a refusal or of a
 * failover notice. Every failover raises a relationship's term on the
 * Replica (the state machine's `failover` input); a primary with an older
 * term never writes over the newer side, and stops until its operator
 * decides.
 */
import { P2pErrorCode } from '../../p2p/errors.ts'
import type { Relationship, RelationshipState } from './relationship.ts'

/**
 * What a primary asks of its Replica. `session`: a replication session
 * opens (no term named yet); `manifest`, `cycle`: its manifest request,
 * its cycle-begin; `commit`: the cycle commits (checked again: the Replica
 * may have failed over during the cycle).
 */
export type ReplicaRequestKind = 'offer' | 'update' | 'remove' | 'session' | 'manifest' | 'cycle' | 'commit'

export type TermVerdict =
  | { admit: true }
  | { admit: false, code: P2pErrorCode, reason: string }

/** The states of a Replica record in which this box runs, or ran, the VM itself: nothing its old primary sends is taken. */
export const FAILED_OVER_STATES: ReadonlySet<RelationshipState> = new Set(['failed-over-waiting-completion', 'failed-over'])

/** The refusals that tell a primary it is no longer the primary: it stops and says why (termLostInput). */
export const TERM_LOST_CODES: ReadonlySet<string> = new Set([P2pErrorCode.P2P_STALE_TERM, P2pErrorCode.P2P_FAILED_OVER])

const refuse = (code: P2pErrorCode, reason: string): TermVerdict => ({ admit: false, code, reason })

/**
 * The Replica's verdict on a request of kind `kind` from `peer` about the
 * relationship it holds as `held` (undefined: none by that id), at the
 * primary's `term` (undefined when the request names none yet). In order:
 * - not held: an offer is admitted (a new relationship), anything else is
 *   P2P_RELATIONSHIP_UNKNOWN;
 * - held for another peer: an offer is P2P_RELATIONSHIP_REFUSED, anything
 *   else P2P_RELATIONSHIP_UNKNOWN (one primary never reaches another's);
 * - this box failed over the relationship (its record is in a failed-over
 *   state, or its role is now primary): P2P_FAILED_OVER, whatever the term;
 * - a term lower than the record's: P2P_STALE_TERM;
 * - otherwise admitted (an equal term, or a higher one: a primary that took
 *   the relationship back tells its new term with an update).
 */
export function replicaVerdict (held: Relationship | undefined, peer: string, kind: ReplicaRequestKind, term?: number): TermVerdict {
  if (held === undefined) return kind === 'offer' ? { admit: true } : refuse(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, 'this box holds no such relationship: offer it first')
  if (held.peer !== peer) {
    return kind === 'offer'
      ? refuse(P2pErrorCode.P2P_RELATIONSHIP_REFUSED, `relationship ${held.id} is held for another peer`)
      : refuse(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, `this box holds no relationship ${held.id} for that peer`)
  }
  if (held.role === 'primary') return refuse(P2pErrorCode.P2P_FAILED_OVER, `this box is now the primary of ${held.vm} (term ${held.term})`)
  if (FAILED_OVER_STATES.has(held.state)) return refuse(P2pErrorCode.P2P_FAILED_OVER, `this box failed over ${held.vm} at term ${held.term}: it runs the VM itself`)
  if (term !== undefined && term < held.term) return refuse(P2pErrorCode.P2P_STALE_TERM, `term ${term} is older than this box's term ${held.term} of ${held.vm}`)
  return { admit: true }
}

/** Whether a primary's record lost its term: it is in `error` because its Replica failed over (it replicates nothing and its schedule is stopped). */
export function hasLostTerm (rel: Relationship): boolean {
  return rel.role === 'primary' && rel.state === 'error' && rel.code !== undefined && TERM_LOST_CODES.has(rel.code)
}

/** What a primary learned: its Replica's refusal of a request (`code`: one of TERM_LOST_CODES), or its failover notice (term and time). */
export type TermLoss =
  | { kind: 'refused', code: string, at: number }
  | { kind: 'notice', term: number, at: number }

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * The `term-lost` input of a primary's record `rel` whose Replica, named
 * `replica` (its paired name), refused it or told it of a failover: the
 * code and a one-line reason that says what happened and what to do.
 */
export function termLostInput (rel: Relationship, replica: string, loss: TermLoss): { kind: 'term-lost', code: string, reason: string } {
  // at most 500 characters whatever the names (64 each), term and time: the record keeps it whole (tested)
  const todo = `this box is no longer its primary; run \`tandem replication reverse ${rel.vm}\` there to make this box its Replica, or \`tandem replication resume ${rel.vm}\` here if that failover is cancelled`
  if (loss.kind === 'notice') {
    return { kind: 'term-lost', code: P2pErrorCode.P2P_FAILED_OVER, reason: `the Replica (${replica}) failed over this VM at term ${loss.term} on ${iso(loss.at)}: ${todo}` }
  }
  const what = loss.code === P2pErrorCode.P2P_FAILED_OVER
    ? `the Replica (${replica}) failed over this VM: it refused this box's term ${rel.term} on ${iso(loss.at)}`
    : `the Replica (${replica}) holds a newer term than this box's ${rel.term} (refused on ${iso(loss.at)}), so it failed over this VM`
  return { kind: 'term-lost', code: loss.code, reason: `${what}: ${todo}` }
}

/** The event kind that says a VM still runs on a box that is no longer its primary (docs/events.md). */
export const STALE_VM_EVENT = 'stale-primary-vm'

/** The reason of that event: nothing stops or starts the VM on its own; the operator decides. */
export function staleVmReason (vm: string): string {
  return `VM ${vm} still runs on this box, which is no longer its primary (its Replica failed over): Tandem leaves it running and never starts it on its own; stop it (\`tandem vm stop ${vm}\`) unless you keep it on purpose`
}
