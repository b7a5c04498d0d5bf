/**
 * The relationship state machine as tables of literal rows: every state
 * with every input gives the next state, `same` (accepted, the state stays
 * and nothing is logged) or `refuse` (APP_INVALID_STATE, nothing changed);
 * the `error` of a primary that lost its term (relationships/term-rules.ts)
 * has its own row of what it takes.
 */
import t from 'tap'
import {
  DEFAULT_SETTINGS, RELATIONSHIP_STATES, TRANSITION_INPUTS, newRelationship, transition, transitionOrThrow,
  type Relationship, type RelationshipRole, type RelationshipState, type TransitionInput, type TransitionInputKind
} from '../../../appliance/relationships/index.ts'

const T0 = 1_700_000_000_000
const NOW = T0 + 60_000
const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

/** A relationship in `state` that finished initial replication, with tracking trusted. */
function inState (state: RelationshipState, role: RelationshipRole = 'primary', extra: Partial<Relationship> = {}): Relationship {
  const r = newRelationship({ id: 'rel-1', vm: 'web', role, peer: PEER, settings: DEFAULT_SETTINGS, term: 3 }, T0)
  const needsResync = state === 'resynchronization-required' || state === 'resynchronizing'
  return { ...r, state, needsResync, initialDoneAt: T0, lastPointAt: T0, lastReplicationAt: T0, ...extra }
}

const INPUTS: Record<TransitionInputKind, TransitionInput> = {
  enable: { kind: 'enable' },
  'initial-done': { kind: 'initial-done', point: NOW - 5000 },
  'cycle-ok': { kind: 'cycle-ok', point: NOW - 1000 },
  'cycle-failed': { kind: 'cycle-failed', code: 'P2P_DIAL_FAILED' },
  'tracking-lost': { kind: 'tracking-lost', reason: 'the VM crashed' },
  'resync-start': { kind: 'resync-start' },
  'resync-done': { kind: 'resync-done', point: NOW - 2000 },
  suspend: { kind: 'suspend' },
  resume: { kind: 'resume' },
  remove: { kind: 'remove' },
  error: { kind: 'error', code: 'CORE_STORE_DAMAGED', reason: 'the store is damaged' },
  'term-lost': { kind: 'term-lost', code: 'P2P_FAILED_OVER', reason: 'the Replica (r) failed over web at term 4' },
  'prepare-planned': { kind: 'prepare-planned' },
  failover: { kind: 'failover' },
  complete: { kind: 'complete' },
  cancel: { kind: 'cancel' },
  // the old primary is given the new primary's term; the new primary (a Replica record) keeps its own
  reverse: { kind: 'reverse', term: 4 }
}

/** The input of a row: `reverse` names a term only for the primary that becomes the Replica. */
const inputOf = (kind: TransitionInputKind, role: RelationshipRole): TransitionInput => kind === 'reverse' && role === 'replica' ? { kind: 'reverse' } : INPUTS[kind]

type Outcome = RelationshipState | 'same' | 'refuse'
type Row = Record<RelationshipState, Outcome>

const TABLE: Array<[TransitionInputKind, RelationshipRole, Row]> = [
  ['enable', 'primary', { 'not-enabled': 'waiting-initial-replication', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['initial-done', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'replicating', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['cycle-ok', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'same', suspended: 'same', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['cycle-failed', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'same', replicating: 'same', suspended: 'same', 'resynchronization-required': 'refuse', resynchronizing: 'same', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['tracking-lost', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'same', replicating: 'resynchronization-required', suspended: 'suspended', 'resynchronization-required': 'same', resynchronizing: 'resynchronization-required', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'error' }],
  ['resync-start', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'resynchronizing', suspended: 'refuse', 'resynchronization-required': 'resynchronizing', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'resynchronizing' }],
  ['resync-done', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'replicating', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['suspend', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'suspended', replicating: 'suspended', suspended: 'refuse', 'resynchronization-required': 'suspended', resynchronizing: 'suspended', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'suspended' }],
  ['resume', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'replicating', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'replicating' }],
  ['remove', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'not-enabled', replicating: 'not-enabled', suspended: 'not-enabled', 'resynchronization-required': 'not-enabled', resynchronizing: 'not-enabled', 'prepared-for-planned-failover': 'not-enabled', 'failed-over-waiting-completion': 'not-enabled', 'failed-over': 'not-enabled', error: 'not-enabled' }],
  ['error', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'error', replicating: 'error', suspended: 'error', 'resynchronization-required': 'error', resynchronizing: 'error', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'error' }],
  ['term-lost', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'error', replicating: 'error', suspended: 'error', 'resynchronization-required': 'error', resynchronizing: 'error', 'prepared-for-planned-failover': 'error', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'error' }],
  ['term-lost', 'replica', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['prepare-planned', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'prepared-for-planned-failover', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'prepared-for-planned-failover', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['prepare-planned', 'replica', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['failover', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['failover', 'replica', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'failed-over-waiting-completion', suspended: 'failed-over-waiting-completion', 'resynchronization-required': 'failed-over-waiting-completion', resynchronizing: 'failed-over-waiting-completion', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'failed-over-waiting-completion' }],
  ['complete', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'refuse', error: 'refuse' }],
  ['complete', 'replica', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'failed-over', 'failed-over': 'refuse', error: 'refuse' }],
  ['cancel', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'replicating', 'failed-over-waiting-completion': 'replicating', 'failed-over': 'refuse', error: 'refuse' }],
  ['cancel', 'replica', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'replicating', 'failed-over-waiting-completion': 'replicating', 'failed-over': 'refuse', error: 'refuse' }],
  ['reverse', 'primary', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'waiting-initial-replication', replicating: 'waiting-initial-replication', suspended: 'waiting-initial-replication', 'resynchronization-required': 'waiting-initial-replication', resynchronizing: 'waiting-initial-replication', 'prepared-for-planned-failover': 'waiting-initial-replication', 'failed-over-waiting-completion': 'waiting-initial-replication', 'failed-over': 'waiting-initial-replication', error: 'waiting-initial-replication' }],
  ['reverse', 'replica', { 'not-enabled': 'refuse', 'waiting-initial-replication': 'refuse', replicating: 'refuse', suspended: 'refuse', 'resynchronization-required': 'refuse', resynchronizing: 'refuse', 'prepared-for-planned-failover': 'refuse', 'failed-over-waiting-completion': 'refuse', 'failed-over': 'waiting-initial-replication', error: 'refuse' }]
]

t.test('the table covers every input and every state', async t => {
  t.same(new Set(TABLE.map(([input]) => input)), new Set(TRANSITION_INPUTS), 'every input has a row')
  for (const [input, role, row] of TABLE) t.same(Object.keys(row).sort(), [...RELATIONSHIP_STATES].sort(), `${input} (${role}) has a column for every state`)
})

t.test('every state x every input', async t => {
  for (const [input, role, row] of TABLE) {
    for (const state of RELATIONSHIP_STATES) {
      const rel = inState(state, role)
      const before = structuredClone(rel)
      const r = transition(rel, inputOf(input, role), NOW)
      const want = row[state]
      const label = `${state} + ${input} (${role})`
      t.same(rel, before, `${label}: the input record is not changed`)
      if (want === 'refuse') {
        t.equal(r.ok, false, `${label}: refused`)
        if (!r.ok) {
          t.equal(r.code, 'APP_INVALID_STATE', `${label}: code`)
          t.ok(r.reason.length > 0 && !r.reason.includes('\n'), `${label}: a one-line reason`)
        }
        continue
      }
      t.equal(r.ok, true, `${label}: accepted`)
      if (!r.ok) continue
      if (want === 'same') {
        t.equal(r.next.state, state, `${label}: state stays`)
        t.equal(r.event, null, `${label}: nothing to log`)
      } else {
        t.equal(r.next.state, want, `${label}: next state`)
        t.ok(r.event, `${label}: an event`)
        t.same([r.event?.from, r.event?.to, r.event?.input], [state, want, input], `${label}: the event names the change`)
        t.equal(r.next.reason, r.event?.reason, `${label}: the record keeps the event's reason`)
        t.equal(r.next.changedAt, want === state ? before.changedAt : NOW, `${label}: changedAt`)
      }
    }
  }
})

t.test('a primary that lost its term takes only resume, remove, tracking-lost, another term-lost and reverse', async t => {
  const lost = transitionOrThrow(inState('replicating'), INPUTS['term-lost'], NOW).next
  t.match(lost, { state: 'error', code: 'P2P_FAILED_OVER', reason: 'the Replica (r) failed over web at term 4', term: 3 }, 'error with the code and reason; its own term is kept')
  const row: Record<TransitionInputKind, RelationshipState | 'refuse'> = {
    enable: 'refuse',
    'initial-done': 'refuse',
    'cycle-ok': 'refuse',
    'cycle-failed': 'refuse',
    'tracking-lost': 'error',
    'resync-start': 'refuse',
    'resync-done': 'refuse',
    suspend: 'refuse',
    resume: 'replicating',
    remove: 'not-enabled',
    error: 'refuse',
    'term-lost': 'error',
    'prepare-planned': 'refuse',
    failover: 'refuse',
    complete: 'refuse',
    cancel: 'refuse',
    reverse: 'waiting-initial-replication'
  }
  for (const input of TRANSITION_INPUTS) {
    const r = transition(lost, INPUTS[input], NOW + 1)
    const want = row[input]
    if (want === 'refuse') {
      t.equal(r.ok, false, `${input}: refused`)
      continue
    }
    t.equal(r.ok && r.next.state, want, `${input}: ${want}`)
  }
  t.equal(transitionOrThrow(lost, INPUTS['tracking-lost'], NOW).next.code, 'P2P_FAILED_OVER', 'tracking lost keeps the code: still lost')
  t.equal(transitionOrThrow(lost, { kind: 'resume' }, NOW).next.code, undefined, 'resume (the failover there was cancelled) clears it')
  const stale = transitionOrThrow(inState('suspended'), { kind: 'term-lost', code: 'P2P_STALE_TERM', reason: 'refused' }, NOW).next
  t.match(stale, { state: 'error', code: 'P2P_STALE_TERM' })
  t.ok(transition(stale, { kind: 'suspend' }, NOW).ok === false, 'a stale term is as sticky')
  t.ok(transition(inState('error', 'primary', { code: 'CORE_STORE_DAMAGED' }), { kind: 'suspend' }, NOW).ok, 'another error is not')
})

t.test('resume goes to what the relationship still owes', async t => {
  const rows: Array<[RelationshipState, Partial<Relationship>, RelationshipState]> = [
    ['suspended', { initialDoneAt: T0, needsResync: false }, 'replicating'],
    ['suspended', { initialDoneAt: T0, needsResync: true }, 'resynchronization-required'],
    ['suspended', { initialDoneAt: undefined, needsResync: false }, 'waiting-initial-replication'],
    ['suspended', { initialDoneAt: undefined, needsResync: true }, 'waiting-initial-replication'],
    ['error', { initialDoneAt: T0, needsResync: false }, 'replicating'],
    ['error', { initialDoneAt: T0, needsResync: true }, 'resynchronization-required'],
    ['error', { initialDoneAt: undefined, needsResync: false }, 'waiting-initial-replication']
  ]
  for (const [state, extra, want] of rows) {
    const r = transitionOrThrow(inState(state, 'primary', extra), { kind: 'resume' }, NOW)
    t.equal(r.next.state, want, `${state} ${JSON.stringify(extra)} -> ${want}`)
  }
})

t.test('tracking lost only changes state and never leaves the enabled states', async t => {
  for (const state of RELATIONSHIP_STATES) {
    const rel = inState(state)
    const r = transition(rel, INPUTS['tracking-lost'], NOW)
    if (!r.ok) continue
    t.not(r.next.state, 'not-enabled', `${state}: still enabled`)
    t.same({ ...r.next, state: rel.state, reason: rel.reason, needsResync: rel.needsResync, changedAt: rel.changedAt }, rel, `${state}: only state, reason, needsResync, changedAt change`)
    if (state !== 'waiting-initial-replication') t.equal(r.next.needsResync, true, `${state}: a resynchronization is owed`)
  }
  // suspended, then tracking lost, then resumed: the resync is not forgotten
  let rel = inState('suspended')
  rel = transitionOrThrow(rel, INPUTS['tracking-lost'], NOW).next
  t.equal(transitionOrThrow(rel, { kind: 'resume' }, NOW).next.state, 'resynchronization-required')
})

t.test('what the record remembers', async t => {
  const waiting = transitionOrThrow(inState('not-enabled', 'primary', { initialDoneAt: undefined, lastPointAt: undefined, lastReplicationAt: undefined }), { kind: 'enable' }, NOW).next
  t.equal(waiting.initialDoneAt, undefined)
  const replicating = transitionOrThrow(waiting, { kind: 'initial-done', point: NOW - 9 }, NOW + 1).next
  t.same([replicating.initialDoneAt, replicating.lastPointAt, replicating.lastReplicationAt], [NOW + 1, NOW - 9, NOW + 1], 'initial-done records the first point')
  const after = transitionOrThrow(replicating, { kind: 'cycle-ok', point: NOW + 5 }, NOW + 7)
  t.equal(after.event, null)
  t.same([after.next.lastPointAt, after.next.lastReplicationAt, after.next.changedAt], [NOW + 5, NOW + 7, NOW + 1], 'a cycle moves the point times, not changedAt')

  const failed = transitionOrThrow(inState('replicating'), INPUTS.error, NOW)
  t.equal(failed.next.code, 'CORE_STORE_DAMAGED', 'error keeps its code')
  t.equal(failed.event?.code, 'CORE_STORE_DAMAGED')
  t.equal(failed.next.reason, 'the store is damaged', 'and its reason')
  const stillFailed = transitionOrThrow(failed.next, INPUTS['tracking-lost'], NOW)
  t.equal(stillFailed.next.code, 'CORE_STORE_DAMAGED', 'tracking lost in error keeps the code')
  t.equal(transitionOrThrow(failed.next, { kind: 'resume' }, NOW).next.code, undefined, 'leaving error clears the code')

  const over = transitionOrThrow(inState('replicating', 'replica'), { kind: 'failover' }, NOW).next
  t.equal(over.term, 4, 'failover raises the term')
  t.equal(transitionOrThrow(over, { kind: 'complete' }, NOW).next.term, 4, 'complete keeps it')
  t.equal(transitionOrThrow(over, { kind: 'cancel' }, NOW).next.term, 3, 'cancel gives it back')

  const own = transitionOrThrow(inState('replicating'), { kind: 'suspend', reason: 'maintenance\nuntil noon' }, NOW)
  t.equal(own.next.reason, 'maintenance until noon', 'a given reason is kept, on one line')
})

t.test('a refusal thrown carries the code and the facts', async t => {
  t.throws(() => transitionOrThrow(inState('replicating'), { kind: 'resume' }, NOW), { code: 'APP_INVALID_STATE', details: { state: 'replicating', input: 'resume' } })
  t.throws(() => transition(inState('replicating'), { kind: 'error', code: 'not a code', reason: 'x' }, NOW), TypeError)
})

t.test('reverse replication swaps the roles and starts both over from the copy already held', async t => {
  const done = transitionOrThrow(transitionOrThrow(inState('replicating', 'replica'), { kind: 'failover' }, NOW).next, { kind: 'complete' }, NOW).next
  const primary = transitionOrThrow({ ...done, protectedVm: undefined }, { kind: 'reverse' }, NOW + 1).next
  t.match(primary, { role: 'primary', term: 4, state: 'waiting-initial-replication', needsResync: false, settings: { initial: 'existing' } }, 'the box that failed over is the primary at its term')
  t.same([primary.initialDoneAt, primary.lastPointAt, primary.code], [undefined, undefined, undefined], 'its initial replication is owed again')
  t.notOk('protectedVm' in primary, 'a primary holds no description of the VM')
  t.throws(() => transitionOrThrow(done, { kind: 'reverse', term: 5 }, NOW), { code: 'APP_INVALID_STATE' }, 'it keeps its own term')

  const lost = transitionOrThrow(inState('replicating'), INPUTS['term-lost'], NOW).next
  const replica = transitionOrThrow(lost, { kind: 'reverse', term: 4 }, NOW + 1).next
  t.match(replica, { role: 'replica', term: 4, state: 'waiting-initial-replication', settings: { initial: 'existing' } }, 'the old primary is the Replica at the new term')
  t.equal(replica.code, undefined, 'the lost term is no longer its state')
  for (const term of [undefined, 2, 3]) t.throws(() => transitionOrThrow(lost, term === undefined ? { kind: 'reverse' } : { kind: 'reverse', term }, NOW), { code: 'APP_INVALID_STATE' }, `not at term ${String(term)}: only a newer term takes it over`)
  t.throws(() => transitionOrThrow(inState('failed-over-waiting-completion', 'replica'), { kind: 'reverse' }, NOW), { code: 'APP_INVALID_STATE' }, 'a failover waiting completion is completed first')
})

t.test('a prepared planned failover takes a new reason at each step, logged', async t => {
  const prepared = transitionOrThrow(inState('replicating'), { kind: 'prepare-planned', reason: 'shutting down' }, NOW).next
  const next = transitionOrThrow(prepared, { kind: 'prepare-planned', reason: 'handed over' }, NOW + 5)
  t.match(next, { next: { state: 'prepared-for-planned-failover', reason: 'handed over', changedAt: NOW }, event: { from: 'prepared-for-planned-failover', to: 'prepared-for-planned-failover', input: 'prepare-planned' } })
})
