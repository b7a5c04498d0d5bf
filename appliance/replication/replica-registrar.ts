/**
 * The Replica's RelationshipRegistrar (p2p/relationship/registrar.ts):
 * what paired primaries offer this box, kept in its relationships file with
 * role `replica`, so that it knows what it protects without asking them
 * (docs/relationships.md "On the Replica").
 */
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { RelationshipDescription, RelationshipRegistrar, RelationshipRemoval } from '../../p2p/relationship/index.ts'
import type { EventInput } from '../events/index.ts'
import { stateEventInput } from '../events/index.ts'
import { replicaVerdict, transition, transitionOrThrow, type Relationship, type RelationshipTable, type ReplicaRequestKind, type TransitionInput } from '../relationships/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { SerialQueue } from '../serial-queue.ts'
import { applyDescription, sameRecord } from './replica-record.ts'

export interface ReplicaRegistrarInit {
  relationships: RelationshipTable
  /** Appends an event to the log; a failure is reported to `onEventError`, never to the primary (the change itself is durable). */
  events: { append: (input: EventInput) => Promise<unknown> }
  now: () => number
  /** Whether this box has a VM of its own by that name (its inventory): a failover would start the protected VM under the same name. */
  hasLocalVm?: (name: string) => boolean
  onEventError?: (err: unknown) => void
}

/** Event kinds of the Replica's relationship changes (docs/events.md). */
export const REPLICA_EVENT_KINDS = { added: 'replica-added', updated: 'replica-updated', removed: 'replica-removed', point: 'point-received' } as const

/** What the registrar needs of a committed point. */
export interface CommittedPoint { id: number, time: number, consistency: string }

const refuse = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_RELATIONSHIP_REFUSED, why)

/** The record of `id` once the term rules admit the request (relationships/term-rules.ts); their refusal, thrown, otherwise. */
function admitted (relationships: RelationshipTable, peer: string, id: string, kind: ReplicaRequestKind, term: number): Relationship | undefined {
  const held = relationships.get(id)
  const verdict = replicaVerdict(held, peer, kind, term)
  if (!verdict.admit) throw new P2pError(verdict.code, verdict.reason)
  return held
}

/**
 * Requests run one at a time (a SerialQueue), so the checks and the write
 * of one request see every earlier request's result. Each resolves once the
 * relationships file holding its result is durably in place (the table's
 * contract); a repeated request writes nothing. The event that tells of a
 * change is appended after it, and its failure does not undo it.
 *
 * `remove` forgets the record but never touches the relationship's store
 * (DATA/store/<peer>/<relationship>/): its recovery points stay until this
 * box's operator deletes them (docs/relationships.md "On the Replica").
 */
export class ReplicaRegistrar implements RelationshipRegistrar {
  private readonly init: ReplicaRegistrarInit
  private readonly queue = new SerialQueue()

  constructor (init: ReplicaRegistrarInit) {
    this.init = init
  }

  async offer (peer: string, offer: RelationshipDescription, signal: AbortSignal): Promise<void> {
    await this.queue.run(async () => {
      signal.throwIfAborted()
      const held = admitted(this.init.relationships, peer, offer.relationship, 'offer', offer.term)
      await this.put(peer, offer, held, signal)
    })
  }

  async update (peer: string, update: RelationshipDescription, signal: AbortSignal): Promise<void> {
    await this.queue.run(async () => {
      signal.throwIfAborted()
      const held = admitted(this.init.relationships, peer, update.relationship, 'update', update.term)
      await this.put(peer, update, held, signal)
    })
  }

  async remove (peer: string, removal: RelationshipRemoval, signal: AbortSignal): Promise<void> {
    await this.queue.run(async () => {
      signal.throwIfAborted()
      const held = admitted(this.init.relationships, peer, removal.relationship, 'remove', removal.term)!
      await this.init.relationships.remove(held.id)
      await this.event({
        relationship: held.id,
        vm: held.vm,
        kind: REPLICA_EVENT_KINDS.removed,
        reason: `the primary stopped protecting ${held.vm}; its recovery points are kept in store/${peer}/${held.id}/ until this box's operator deletes them`,
        data: { peer, term: held.term, from: held.state }
      })
    })
  }

  /**
   * A replication cycle from `peer` committed `point` into the store of
   * `relationship`. The record held for that peer notes it: the first point
   * ends the initial replication (state replicating), every point is the
   * newest (lastPointAt, lastReplicationAt); an event tells of it. A store
   * of a relationship this box does not hold for that peer changes no
   * record. Serialized with the primary's requests; a failure is thrown
   * (the caller logs it: the point itself is committed).
   */
  async pointCommitted (peer: string, relationship: string, point: CommittedPoint): Promise<void> {
    await this.queue.run(async () => {
      const held = this.init.relationships.get(relationship)
      if (held === undefined || held.peer !== peer || held.role !== 'replica') return
      const now = this.init.now()
      const kind = held.state === 'waiting-initial-replication' ? 'initial-done' : 'cycle-ok'
      const r = transition(held, { kind, point: point.time }, now)
      const next = r.ok ? r.next : { ...held, lastPointAt: point.time, lastReplicationAt: now }
      await this.init.relationships.put(next)
      await this.event({
        relationship: held.id,
        vm: held.vm,
        kind: REPLICA_EVENT_KINDS.point,
        reason: `recovery point ${point.id} committed (${point.consistency}-consistent)`,
        data: { point: point.id, time: point.time, consistency: point.consistency }
      })
      if (r.ok && r.event !== null) await this.event(stateEventInput(next, r.event))
    })
  }

  /**
   * This box's own input to the Replica record `id` (the failover
   * workflows: `failover`, `complete`, `cancel`; docs/relationships.md),
   * serialized with the primary's requests and the points committed: the
   * record after it is durable, and its state event logged, when this
   * resolves. Throws APP_RELATIONSHIP_NOT_FOUND when this box holds no
   * Replica record `id`, APP_INVALID_STATE when the state machine refuses
   * (nothing changed).
   */
  async apply (id: string, input: TransitionInput): Promise<Relationship> {
    return await this.queue.run(async () => {
      const held = this.init.relationships.get(id)
      if (held?.role !== 'replica') throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box holds no relationship ${id} as Replica`)
      const { next, event } = transitionOrThrow(held, input, this.init.now())
      await this.init.relationships.put(next)
      if (event !== null) await this.event(stateEventInput(next, event))
      return next
    })
  }

  private async put (peer: string, d: RelationshipDescription, held: Relationship | undefined, signal: AbortSignal): Promise<void> {
    const clash = this.init.relationships.byVm(d.vm.name)
    if (clash !== undefined && clash.id !== d.relationship) throw refuse(`VM ${d.vm.name} is protected here under relationship ${clash.id}`)
    if (clash === undefined && this.init.hasLocalVm?.(d.vm.name) === true) throw refuse(`this box has a VM of its own named ${d.vm.name}`)
    const change = applyDescription(held, peer, d, this.init.now())
    if ('refused' in change) throw refuse(`this box does not take the relationship: ${change.refused}`)
    if (held !== undefined && sameRecord(held, change.next)) return
    signal.throwIfAborted()
    await this.init.relationships.put(change.next)
    const rel = change.next
    await this.event({
      relationship: rel.id,
      vm: rel.vm,
      kind: held === undefined ? REPLICA_EVENT_KINDS.added : REPLICA_EVENT_KINDS.updated,
      reason: held === undefined ? `now protecting ${rel.vm} for its primary` : `the primary changed the relationship of ${rel.vm}`,
      data: { peer, term: rel.term, recoveryPoints: rel.settings.recoveryPoints, suspended: d.suspended }
    })
    for (const e of change.events) await this.event(stateEventInput(rel, e))
  }

  private async event (input: EventInput): Promise<void> {
    try {
      await this.init.events.append(input)
    } catch (err) {
      this.init.onEventError?.(err)
    }
  }
}
