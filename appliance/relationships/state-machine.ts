/**
 * The relationship state machine (docs/relationships.md#transitions): a pure
 * function from a relationship, an input and the time to the next record and
 * the event that tells why, or a refusal with a code. It never does I/O and
 * never drops anything: what to do with recovery points is not its business,
 * and no input but `remove` leaves the enabled states.
 */
import { AppError, AppErrorCode } from '../errors.ts'
import { CODE_PATTERN, copyRelationship, oneLine, type Relationship, type RelationshipState } from './relationship.ts'
import { hasLostTerm } from './term-rules.ts'

/**
 * What can happen to a relationship. `reason` (one line) replaces the
 * default reason of the event; it is required where only the caller knows
 * the cause. `point` is the snapshot time of the recovery point a
 * successful replication made.
 */
export type TransitionInput =
  | { kind: 'enable', reason?: string }
  | { kind: 'initial-done', point: number, reason?: string }
  | { kind: 'cycle-ok', point: number }
  | { kind: 'cycle-failed', code: string }
  | { kind: 'tracking-lost', reason: string }
  | { kind: 'resync-start', reason?: string }
  | { kind: 'resync-done', point: number, reason?: string }
  | { kind: 'suspend', reason?: string }
  | { kind: 'resume', reason?: string }
  | { kind: 'remove', reason?: string }
  | { kind: 'error', code: string, reason: string }
  | { kind: 'term-lost', code: string, reason: string }
  | { kind: 'prepare-planned', reason?: string }
  | { kind: 'failover', reason?: string }
  | { kind: 'complete', reason?: string }
  | { kind: 'cancel', reason?: string }
  | { kind: 'reverse', term?: number, reason?: string }

export type TransitionInputKind = TransitionInput['kind']

/** Every input kind; a Record so the compiler fails when TransitionInput changes. */
const INPUT_SET: Record<TransitionInputKind, true> = {
  enable: true,
  'initial-done': true,
  'cycle-ok': true,
  'cycle-failed': true,
  'tracking-lost': true,
  'resync-start': true,
  'resync-done': true,
  suspend: true,
  resume: true,
  remove: true,
  error: true,
  'term-lost': true,
  'prepare-planned': true,
  failover: true,
  complete: true,
  cancel: true,
  reverse: true
}
export const TRANSITION_INPUTS = Object.keys(INPUT_SET) as TransitionInputKind[]

/** A state change (or a change the operator must know of, such as tracking lost while suspended), for the event log. */
export interface StateEvent {
  kind: 'state'
  from: RelationshipState
  to: RelationshipState
  input: TransitionInputKind
  reason: string
  code?: string
}

export type TransitionResult =
  | { ok: true, next: Relationship, event: StateEvent | null }
  | { ok: false, code: typeof AppErrorCode.APP_INVALID_STATE, reason: string }

/** Where `resume` leads: what the relationship still owes before it is replicating again. */
function resumeTarget (rel: Relationship): RelationshipState {
  if (rel.initialDoneAt === undefined) return 'waiting-initial-replication'
  return rel.needsResync ? 'resynchronization-required' : 'replicating'
}

const STATE_TEXT: Record<RelationshipState, string> = {
  'not-enabled': 'not enabled',
  'waiting-initial-replication': 'waiting for initial replication',
  replicating: 'replicating',
  suspended: 'suspended',
  'resynchronization-required': 'resynchronization required',
  resynchronizing: 'resynchronizing',
  'prepared-for-planned-failover': 'prepared for planned failover',
  'failed-over-waiting-completion': 'failed over, waiting for completion',
  'failed-over': 'failed over',
  error: 'in error'
}

/** A decision: the next state with the record's other changes and the default reason, a refusal, or `same` (accepted, nothing to log). */
type Step =
  | { to: RelationshipState, reason: string, edit?: (r: Relationship) => void, log?: boolean }
  | { refuse: string }
  | { same: true, edit?: (r: Relationship) => void }

const is = (rel: Relationship, ...states: RelationshipState[]): boolean => states.includes(rel.state)
const refuse = (rel: Relationship, what: string): Step => ({ refuse: `cannot ${what}: the relationship is ${STATE_TEXT[rel.state]}` })
/** A primary that lost its term takes only what its operator decides: resume (the failover there was cancelled) or remove. */
const lostTerm = (rel: Relationship, what: string): Step => ({ refuse: `cannot ${what}: its Replica failed over and this box is no longer the primary (${rel.reason})` })
const replicated = (now: number, point: number) => (r: Relationship): void => { r.lastPointAt = point; r.lastReplicationAt = now }

/** The rules, one case per input; docs/relationships.md has them as a table, and the table test checks every state with every input. */
function decide (rel: Relationship, input: TransitionInput, now: number): Step {
  switch (input.kind) {
    case 'enable':
      return is(rel, 'not-enabled') ? { to: 'waiting-initial-replication', reason: 'replication enabled; waiting for initial replication' } : refuse(rel, 'enable replication')
    case 'initial-done':
      if (!is(rel, 'waiting-initial-replication')) return refuse(rel, 'finish initial replication')
      return { to: 'replicating', reason: 'initial replication finished; replicating', edit: r => { r.initialDoneAt = now; r.needsResync = false; replicated(now, input.point)(r) } }
    case 'cycle-ok':
      // suspended: a cycle that was in flight when the operator suspended ends normally
      return is(rel, 'replicating', 'suspended') ? { same: true, edit: replicated(now, input.point) } : refuse(rel, 'record a replication cycle')
    case 'cycle-failed':
      return is(rel, 'replicating', 'waiting-initial-replication', 'resynchronizing', 'suspended') ? { same: true } : refuse(rel, 'record a failed cycle')
    case 'tracking-lost':
      if (is(rel, 'replicating', 'resynchronizing')) return { to: 'resynchronization-required', reason: `resynchronization required: ${input.reason}`, edit: r => { r.needsResync = true } }
      // held until the operator resumes; recovery points are kept in every case
      if (is(rel, 'suspended', 'error')) return { to: rel.state, reason: `change tracking cannot be trusted (${input.reason}); a resynchronization runs on resume`, edit: r => { r.needsResync = true }, log: true }
      // initial replication sends every block; a required resynchronization is already owed
      if (is(rel, 'waiting-initial-replication')) return { same: true }
      if (is(rel, 'resynchronization-required')) return { same: true, edit: r => { r.needsResync = true } }
      return refuse(rel, 'lose change tracking')
    case 'resync-start':
      if (hasLostTerm(rel)) return lostTerm(rel, 'start a resynchronization')
      if (!is(rel, 'resynchronization-required', 'replicating', 'error')) return refuse(rel, 'start a resynchronization')
      return { to: 'resynchronizing', reason: 'resynchronizing: comparing block hashes on both boxes, sending only the blocks that differ', edit: r => { r.needsResync = true } }
    case 'resync-done':
      if (!is(rel, 'resynchronizing')) return refuse(rel, 'finish a resynchronization')
      return { to: 'replicating', reason: 'resynchronization finished; replicating', edit: r => { r.needsResync = false; replicated(now, input.point)(r) } }
    case 'suspend':
      if (hasLostTerm(rel)) return lostTerm(rel, 'suspend')
      return is(rel, 'waiting-initial-replication', 'replicating', 'resynchronization-required', 'resynchronizing', 'error')
        ? { to: 'suspended', reason: 'replication suspended by the operator' }
        : refuse(rel, 'suspend')
    case 'resume': {
      if (!is(rel, 'suspended', 'error')) return refuse(rel, 'resume')
      const to = resumeTarget(rel)
      return { to, reason: `replication resumed; ${STATE_TEXT[to]}` }
    }
    case 'remove':
      return is(rel, 'not-enabled') ? refuse(rel, 'remove replication') : { to: 'not-enabled', reason: 'replication removed', edit: r => { r.needsResync = false } }
    case 'error':
      if (hasLostTerm(rel)) return lostTerm(rel, 'enter another error')
      return is(rel, 'waiting-initial-replication', 'replicating', 'suspended', 'resynchronization-required', 'resynchronizing', 'error')
        ? { to: 'error', reason: input.reason }
        : refuse(rel, 'enter the error state')
    case 'term-lost':
      // a primary whose Replica failed over: stopped, whatever it was doing, until its operator decides
      if (rel.role !== 'primary') return { refuse: 'cannot lose the term: only a primary does, when its Replica fails over' }
      return is(rel, 'not-enabled', 'failed-over-waiting-completion', 'failed-over') ? refuse(rel, 'lose the term') : { to: 'error', reason: input.reason }
    case 'prepare-planned':
      if (rel.role !== 'primary') return { refuse: 'cannot prepare a planned failover: it is prepared on the primary' }
      // prepared already: a later step of the planned failover says where it stands (the reason changes, logged)
      return is(rel, 'replicating', 'prepared-for-planned-failover')
        ? { to: 'prepared-for-planned-failover', reason: 'prepared for planned failover: the VM is shut down and its last changes are on the Replica', log: true }
        : refuse(rel, 'prepare a planned failover')
    case 'failover':
      if (rel.role !== 'replica') return { refuse: 'cannot fail over: failover runs on the Replica' }
      return is(rel, 'replicating', 'suspended', 'resynchronization-required', 'resynchronizing', 'error')
        ? { to: 'failed-over-waiting-completion', reason: 'failed over: the VM runs on this box from a recovery point; complete or cancel the failover', edit: r => { r.term += 1 } }
        : refuse(rel, 'fail over')
    case 'complete':
      if (rel.role !== 'replica') return { refuse: 'cannot complete a failover: it is completed on the Replica' }
      return is(rel, 'failed-over-waiting-completion') ? { to: 'failed-over', reason: 'failover completed' } : refuse(rel, 'complete a failover')
    case 'cancel':
      // undoing a failover that was never completed gives back its term: nothing was kept from it
      if (is(rel, 'failed-over-waiting-completion')) return { to: 'replicating', reason: 'failover cancelled; back to receiving replication', edit: r => { r.term -= 1 } }
      if (is(rel, 'prepared-for-planned-failover')) return { to: 'replicating', reason: 'planned failover cancelled; replicating' }
      return refuse(rel, 'cancel a failover')
    case 'reverse':
      return reverse(rel, input.term)
  }
}

/**
 * Reverse replication (docs/failover.md "Reverse replication"): the box that
 * failed over (a Replica record, failed-over) becomes the primary at its
 * term, and its old primary (a primary record, given the newer `term`)
 * becomes the Replica. Both start over in `waiting-initial-replication`
 * with initial replication `existing`: the Replica holds a copy already (the
 * old primary's own disk), so only the blocks that differ are sent.
 */
function reverse (rel: Relationship, term: number | undefined): Step {
  const restart = (r: Relationship): void => {
    r.needsResync = false
    r.settings.initial = 'existing'
    delete r.code
    delete r.initialDoneAt
    delete r.lastPointAt
    delete r.lastReplicationAt
    delete r.seedExportedAt
  }
  if (rel.role === 'replica') {
    if (term !== undefined && term !== rel.term) return { refuse: `cannot reverse replication: this box failed over at term ${rel.term}, not ${term}` }
    if (is(rel, 'failed-over-waiting-completion')) return { refuse: 'cannot reverse replication: the failover waits for completion; complete it first (tandem failover complete)' }
    if (!is(rel, 'failed-over')) return refuse(rel, 'reverse replication (only a completed failover reverses)')
    return { to: 'waiting-initial-replication', reason: `replication reversed: this box is now the primary (term ${rel.term}); its first cycle sends only the blocks that differ from the old primary's disk`, edit: r => { r.role = 'primary'; delete r.protectedVm; restart(r) } }
  }
  if (term === undefined || term <= rel.term) return { refuse: `cannot become the Replica: the new primary's term must be above this box's ${rel.term}` }
  if (is(rel, 'not-enabled')) return refuse(rel, 'become the Replica')
  return { to: 'waiting-initial-replication', reason: `replication reversed: this box is now the Replica (term ${term}); its disk as it was is the base of the first cycle`, edit: r => { r.role = 'replica'; r.term = term; restart(r) } }
}

/** The caller's reason when it gave one, else the rule's. */
function reasonOf (input: TransitionInput, fallback: string): string {
  return 'reason' in input && input.reason !== undefined && input.kind !== 'tracking-lost' ? oneLine(input.reason) : oneLine(fallback)
}

/** The error code an input carries, checked: a malformed one is a programmer mistake. */
function codeOf (input: TransitionInput): string | undefined {
  if (input.kind !== 'error' && input.kind !== 'cycle-failed' && input.kind !== 'term-lost') return undefined
  if (!CODE_PATTERN.test(input.code)) throw new TypeError(`not an error code: ${input.code}`)
  return input.code
}

/**
 * Pure: applies `input` to `rel` at time `now` (ms). Accepted, it returns
 * the next record (a new object; `rel` is not changed) and the event to log,
 * or null when the state stays and there is nothing to tell (a cycle that
 * succeeded or failed while replicating: the cycle's own events say that).
 * Refused, it returns APP_INVALID_STATE and why; nothing changed.
 */
export function transition (rel: Relationship, input: TransitionInput, now: number): TransitionResult {
  if (!Object.hasOwn(INPUT_SET, input.kind)) throw new TypeError(`unknown transition input: ${String(input.kind)}`)
  const code = codeOf(input)
  const step = decide(rel, input, now)
  if ('refuse' in step) return { ok: false, code: AppErrorCode.APP_INVALID_STATE, reason: step.refuse }
  const next = copyRelationship(rel)
  step.edit?.(next)
  if ('same' in step) return { ok: true, next, event: null }
  const reason = reasonOf(input, step.reason)
  const from = rel.state
  if (step.to !== from) next.changedAt = now
  next.state = step.to
  next.reason = reason
  if (input.kind === 'error' || input.kind === 'term-lost') next.code = code
  else if (step.to !== from) delete next.code
  const event: StateEvent = { kind: 'state', from, to: step.to, input: input.kind, reason }
  if (next.code !== undefined) event.code = next.code
  return { ok: true, next, event }
}

/** Like transition, but a refusal throws it as an AppError (APP_INVALID_STATE, `details`: state, input). */
export function transitionOrThrow (rel: Relationship, input: TransitionInput, now: number): { next: Relationship, event: StateEvent | null } {
  const r = transition(rel, input, now)
  if (!r.ok) throw new AppError(r.code, r.reason, { details: { state: rel.state, input: input.kind } })
  return { next: r.next, event: r.event }
}
