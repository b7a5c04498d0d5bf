/**
 * The relationship record: one VM's replication between this box and one
 * paired peer (docs/relationships.md). Both boxes hold it, the primary with
 * role `primary`, the Replica with role `replica`, so the Replica knows what
 * it protects without asking the primary.
 */
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import type { RelationshipState } from '../../core/types.ts'
import { copyProtectedVm, invalidProtectedVm, type ProtectedVm } from './protected-vm.ts'
import { copySettings, invalidSettings, type RelationshipSettings } from './settings.ts'

export type { RelationshipState }

/** Which side of the relationship this box is. */
export type RelationshipRole = 'primary' | 'replica'

export interface Relationship {
  /** Chosen by the primary when replication is enabled; the same on both boxes. DISK_NAME_PATTERN. */
  id: string
  /** The protected VM's name (DISK_NAME_PATTERN). */
  vm: string
  role: RelationshipRole
  /** The other box's libp2p peer id. */
  peer: string
  /** Raised by every failover; a side with an older term never writes over a newer one. */
  term: number
  state: RelationshipState
  /** One line an operator understands: why the relationship is in its state. */
  reason: string
  /** The error code behind the state, when there is one (state `error`, or a resync forced by a failure). */
  code?: string
  /** Change tracking cannot be trusted: the next replication must be a resynchronization. Kept across suspend and error. */
  needsResync: boolean
  settings: RelationshipSettings
  /** Milliseconds since the epoch, for all times below. */
  createdAt: number
  /** When the state last changed. */
  changedAt: number
  /** When initial replication finished; absent until it has. */
  initialDoneAt?: number
  /** Snapshot time of the newest recovery point made by a successful cycle (its age is the achieved RPO). */
  lastPointAt?: number
  /** When the last successful cycle ended (Hyper-V's "last replication time"). */
  lastReplicationAt?: number
  /** Primary only, initial replication from a seed: when the last seed export finished (the Replica must import it). */
  seedExportedAt?: number
  /**
   * Replica only: the VM as its primary last described it (offer or update
   * of the relationship protocol), so that this box can show it and start
   * it in a failover without asking the primary. `vm` is its name.
   */
  protectedVm?: ProtectedVm
}

/** Every state, in the order docs/relationships.md lists them; a Record so the compiler fails when RelationshipState changes. */
const STATE_SET: Record<RelationshipState, true> = {
  'not-enabled': true,
  'waiting-initial-replication': true,
  replicating: true,
  suspended: true,
  'resynchronization-required': true,
  resynchronizing: true,
  'prepared-for-planned-failover': true,
  'failed-over-waiting-completion': true,
  'failed-over': true,
  error: true
}
export const RELATIONSHIP_STATES = Object.keys(STATE_SET) as RelationshipState[]

/** Longest reason kept: one line on a terminal or a status page. */
export const MAX_REASON_CHARS = 500

/** A one-line reason: line breaks become spaces, cut to MAX_REASON_CHARS. */
export function oneLine (text: string): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, ' ').trim()
  return line.length <= MAX_REASON_CHARS ? line : `${line.slice(0, MAX_REASON_CHARS - 1)}…`
}

export const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/
/** A peer id in text form (base58 or base32 letters and digits); it was checked when the peer was paired. */
const PEER_ID_PATTERN = /^[A-Za-z0-9]{1,128}$/
const FIELDS = ['id', 'vm', 'role', 'peer', 'term', 'state', 'reason', 'code', 'needsResync', 'settings', 'createdAt', 'changedAt', 'initialDoneAt', 'lastPointAt', 'lastReplicationAt', 'seedExportedAt', 'protectedVm']
const OPTIONAL_TIMES = ['initialDoneAt', 'lastPointAt', 'lastReplicationAt', 'seedExportedAt'] as const

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Why `r` is not a valid relationship record, or undefined when it is. */
export function invalidRelationship (r: unknown): string | undefined {
  if (!isObject(r)) return 'not an object'
  if (Object.keys(r).some(k => !FIELDS.includes(k))) return 'unknown field'
  if (typeof r.id !== 'string' || !DISK_NAME_PATTERN.test(r.id)) return 'id is not a valid id'
  if (typeof r.vm !== 'string' || !DISK_NAME_PATTERN.test(r.vm)) return 'vm is not a valid VM name'
  if (r.role !== 'primary' && r.role !== 'replica') return 'role is not primary or replica'
  if (typeof r.peer !== 'string' || !PEER_ID_PATTERN.test(r.peer)) return 'peer is not a peer id'
  if (typeof r.term !== 'number' || !Number.isSafeInteger(r.term) || r.term < 1) return 'term is not a positive integer'
  if (typeof r.state !== 'string' || !Object.hasOwn(STATE_SET, r.state)) return 'state is not a relationship state'
  if (typeof r.reason !== 'string' || r.reason !== oneLine(r.reason)) return 'reason is not one line'
  if (r.code !== undefined && (typeof r.code !== 'string' || !CODE_PATTERN.test(r.code))) return 'code is not an error code'
  if (typeof r.needsResync !== 'boolean') return 'needsResync is not a boolean'
  const why = invalidSettings(r.settings)
  if (why !== undefined) return why
  if (!isTime(r.createdAt) || !isTime(r.changedAt)) return 'createdAt or changedAt is not a time in ms'
  if (OPTIONAL_TIMES.some(k => r[k] !== undefined && !isTime(r[k]))) return 'a time is not a time in ms'
  if (r.protectedVm !== undefined) {
    const vmWhy = invalidProtectedVm(r.protectedVm)
    if (vmWhy !== undefined) return vmWhy
    if (r.role !== 'replica' || (r.protectedVm as ProtectedVm).name !== r.vm) return 'protectedVm is held only by a Replica, under the record\'s VM name'
  }
  return undefined
}

/** A deep copy, with only the record's own fields. */
export function copyRelationship (r: Relationship): Relationship {
  const c: Relationship = {
    id: r.id,
    vm: r.vm,
    role: r.role,
    peer: r.peer,
    term: r.term,
    state: r.state,
    reason: r.reason,
    needsResync: r.needsResync,
    settings: copySettings(r.settings),
    createdAt: r.createdAt,
    changedAt: r.changedAt
  }
  if (r.code !== undefined) c.code = r.code
  for (const k of OPTIONAL_TIMES) if (r[k] !== undefined) c[k] = r[k]
  if (r.protectedVm !== undefined) c.protectedVm = copyProtectedVm(r.protectedVm)
  return c
}

export interface NewRelationship {
  id: string
  vm: string
  role: RelationshipRole
  peer: string
  settings: RelationshipSettings
  /** Defaults to 1: the first primary's term. */
  term?: number
}

/**
 * A relationship record in state `not-enabled`, ready for the `enable`
 * input. Invalid fields are a programmer mistake (the service checks
 * operator input first): TypeError.
 */
export function newRelationship (init: NewRelationship, now: number): Relationship {
  const r: Relationship = {
    id: init.id,
    vm: init.vm,
    role: init.role,
    peer: init.peer,
    term: init.term ?? 1,
    state: 'not-enabled',
    reason: 'replication is not enabled',
    needsResync: false,
    settings: copySettings(init.settings),
    createdAt: now,
    changedAt: now
  }
  const why = invalidRelationship(r)
  if (why !== undefined) throw new TypeError(`not a valid relationship: ${why}`)
  return r
}
