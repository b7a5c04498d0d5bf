/**
 * Pure: what a Replica's relationship record becomes when its primary
 * offers or updates the relationship (docs/relationships.md "On the
 * Replica"). The registrar (replica-registrar.ts) does the I/O.
 */
import type { ProtectionSettings, RelationshipDescription } from '../../p2p/relationship/index.ts'
import {
  copyRelationship, invalidRelationship, newRelationship, transition,
  type Relationship, type RelationshipSettings, type StateEvent
} from '../relationships/index.ts'
import { copyProtectedVm } from '../relationships/protected-vm.ts'
import { invalidSettings } from '../relationships/settings.ts'

/**
 * The primary's settings as this box stores them, or why its policy does not
 * take them (the wire's bounds are wider than the appliance's: frequency,
 * app-consistent interval and bandwidth have narrower ranges here). A seed
 * initial replication is stored as `existing`: on the Replica, the seed was
 * imported into its store, so the copy is already here and only differing
 * blocks come (the seed file's path is the Replica's own and never travels).
 */
export function settingsFromWire (s: ProtectionSettings): RelationshipSettings | { refused: string } {
  const i = s.initial
  const settings: RelationshipSettings = {
    frequency: s.frequency,
    recoveryPoints: s.recoveryPoints,
    appConsistentEvery: s.appConsistentEvery,
    bandwidth: s.bandwidth,
    initial: i.mode === 'at' ? { at: i.at } : i.mode === 'seed' ? 'existing' : i.mode
  }
  const why = invalidSettings(settings)
  return why === undefined ? settings : { refused: why }
}

export type ReplicaChange =
  | { refused: string }
  | { next: Relationship, events: StateEvent[] }

/**
 * The record `held` (undefined for a new relationship) after the whole
 * description `d` from `peer`: VM shape, settings, term and suspension
 * replaced. A new record is enabled (waiting for its initial replication,
 * until a cycle commits here), then suspended if `d` says so. Terms and
 * ownership are the caller's to check first. `refused` when the policy does
 * not take the description (settings out of this box's ranges, term 0).
 */
export function applyDescription (held: Relationship | undefined, peer: string, d: RelationshipDescription, now: number): ReplicaChange {
  const settings = settingsFromWire(d.settings)
  if ('refused' in settings) return settings
  if (d.term < 1) return { refused: 'term 0 is not a term this box records' }
  const events: StateEvent[] = []
  let rel: Relationship
  if (held === undefined) {
    const r = transition(newRelationship({ id: d.relationship, vm: d.vm.name, role: 'replica', peer, settings, term: d.term }, now), { kind: 'enable', reason: 'offered by the primary: waiting for its initial replication' }, now)
    if (!r.ok) return { refused: r.reason }
    rel = r.next
    if (r.event !== null) events.push(r.event)
  } else {
    rel = copyRelationship(held)
    rel.settings = settings
    rel.term = d.term
    rel.vm = d.vm.name
  }
  rel.protectedVm = copyProtectedVm(d.vm)
  const want = d.suspended ? 'suspend' : 'resume'
  if (d.suspended !== (rel.state === 'suspended')) {
    const r = transition(rel, { kind: want, reason: d.suspended ? 'suspended by the primary\'s operator' : 'resumed by the primary\'s operator' }, now)
    // A state that takes no suspend keeps its state: the Replica's own state wins (a failed-over record never gets here: the term rules refuse first).
    if (r.ok) {
      rel = r.next
      if (r.event !== null) events.push(r.event)
    }
  }
  const why = invalidRelationship(rel)
  if (why !== undefined) return { refused: why }
  return { next: rel, events }
}

/** Whether two records hold the same facts (a repeated request changes nothing). */
export function sameRecord (a: Relationship, b: Relationship): boolean {
  return JSON.stringify(copyRelationship(a)) === JSON.stringify(copyRelationship(b))
}
