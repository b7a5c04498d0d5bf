/**
 * The term rules (appliance/relationships/term-rules.ts) as tables of
 * literal rows: which request a Replica admits from a peer, by what it holds
 * (nothing, another peer's record, its own record in each state, this box
 * now the primary) and the term; which primary records have lost their
 * term; and the reason a primary shows when it loses it.
 */
import t from 'tap'
import {
  DEFAULT_SETTINGS, MAX_REASON_CHARS, RELATIONSHIP_STATES, hasLostTerm, newRelationship, replicaVerdict, termLostInput, transitionOrThrow,
  type Relationship, type RelationshipRole, type RelationshipState, type ReplicaRequestKind
} from '../../../appliance/relationships/index.ts'

const T0 = 1_700_000_000_000
const P = '12D3KooWPrimaryP'
const Q = '12D3KooWOtherQ'

/** The record a Replica holds of `web-1` for peer P, at term 3. */
function held (state: RelationshipState, role: RelationshipRole = 'replica', peer = P): Relationship {
  const r = newRelationship({ id: 'web-1', vm: 'web', role, peer, settings: DEFAULT_SETTINGS, term: 3 }, T0)
  return { ...r, state }
}

type Want = 'admit' | 'P2P_STALE_TERM' | 'P2P_FAILED_OVER' | 'P2P_RELATIONSHIP_UNKNOWN' | 'P2P_RELATIONSHIP_REFUSED'
const KINDS: ReplicaRequestKind[] = ['offer', 'update', 'remove', 'session', 'manifest', 'cycle', 'commit']

t.test('what the Replica admits, by what it holds and the term', async t => {
  // [what the Replica holds, the request's term, the verdict for offer, for every other kind]
  const rows: Array<[string, Relationship | undefined, number | undefined, Want, Want]> = [
    ['nothing', undefined, 1, 'admit', 'P2P_RELATIONSHIP_UNKNOWN'],
    ['another peer\'s record', held('replicating', 'replica', Q), 3, 'P2P_RELATIONSHIP_REFUSED', 'P2P_RELATIONSHIP_UNKNOWN'],
    ['another peer\'s record, this box its primary', held('replicating', 'primary', Q), 3, 'P2P_RELATIONSHIP_REFUSED', 'P2P_RELATIONSHIP_UNKNOWN'],
    ['its record, replicating, the same term', held('replicating'), 3, 'admit', 'admit'],
    ['its record, replicating, a higher term', held('replicating'), 4, 'admit', 'admit'],
    ['its record, replicating, a lower term', held('replicating'), 2, 'P2P_STALE_TERM', 'P2P_STALE_TERM'],
    ['its record, replicating, no term named yet', held('replicating'), undefined, 'admit', 'admit'],
    ['its record, suspended, a lower term', held('suspended'), 1, 'P2P_STALE_TERM', 'P2P_STALE_TERM'],
    ['its record, waiting for initial replication', held('waiting-initial-replication'), 3, 'admit', 'admit'],
    ['its record, resynchronizing', held('resynchronizing'), 3, 'admit', 'admit'],
    ['its record, in error', held('error'), 3, 'admit', 'admit'],
    ['its record, failed over and waiting completion, the same term', held('failed-over-waiting-completion'), 3, 'P2P_FAILED_OVER', 'P2P_FAILED_OVER'],
    ['its record, failed over and waiting completion, a lower term', held('failed-over-waiting-completion'), 2, 'P2P_FAILED_OVER', 'P2P_FAILED_OVER'],
    ['its record, failed over and waiting completion, a higher term', held('failed-over-waiting-completion'), 9, 'P2P_FAILED_OVER', 'P2P_FAILED_OVER'],
    ['its record, failed over and waiting completion, no term named yet', held('failed-over-waiting-completion'), undefined, 'P2P_FAILED_OVER', 'P2P_FAILED_OVER'],
    ['its record, failed over', held('failed-over'), 2, 'P2P_FAILED_OVER', 'P2P_FAILED_OVER'],
    ['this box is now the primary for that peer', held('replicating', 'primary'), 3, 'P2P_FAILED_OVER', 'P2P_FAILED_OVER'],
    ['this box is now the primary, a lower term', held('replicating', 'primary'), 1, 'P2P_FAILED_OVER', 'P2P_FAILED_OVER']
  ]
  for (const [name, record, term, offer, other] of rows) {
    for (const kind of KINDS) {
      const v = replicaVerdict(record, P, kind, term)
      const want = kind === 'offer' ? offer : other
      t.equal(v.admit ? 'admit' : v.code, want, `${name}: ${kind} -> ${want}`)
      if (!v.admit) t.ok(v.reason.length > 0 && !v.reason.includes('\n'), `${name}: ${kind}: a one-line reason`)
    }
  }
})

t.test('a failover on the Replica refuses the old primary, and its cancel admits it again', async t => {
  let rel = held('replicating')
  rel = transitionOrThrow(rel, { kind: 'failover' }, T0).next
  t.equal(rel.term, 4)
  for (const kind of KINDS) t.match(replicaVerdict(rel, P, kind, 3), { admit: false, code: 'P2P_FAILED_OVER' }, `failed over: ${kind} refused`)
  rel = transitionOrThrow(rel, { kind: 'cancel' }, T0).next
  for (const kind of KINDS) t.same(replicaVerdict(rel, P, kind, 3), { admit: true }, `cancelled: ${kind} admitted at the old term`)
})

t.test('which records lost their term', async t => {
  const lost = (state: RelationshipState, role: RelationshipRole, code?: string): boolean => hasLostTerm({ ...held(state, role), ...(code === undefined ? {} : { code }) })
  t.equal(lost('error', 'primary', 'P2P_STALE_TERM'), true)
  t.equal(lost('error', 'primary', 'P2P_FAILED_OVER'), true)
  t.equal(lost('error', 'primary', 'CORE_STORE_DAMAGED'), false, 'another error')
  t.equal(lost('error', 'primary'), false, 'an error without a code')
  t.equal(lost('error', 'replica', 'P2P_FAILED_OVER'), false, 'a Replica record never does')
  for (const state of RELATIONSHIP_STATES.filter(s => s !== 'error')) t.equal(lost(state, 'primary', 'P2P_STALE_TERM'), false, `${state}: only in error`)
})

t.test('the reason a primary shows says what happened and what to run', async t => {
  const rel = held('replicating', 'primary')
  const long = { ...rel, vm: 'v'.repeat(64), term: 0xffffffff }
  const longest = 'r'.repeat(64)
  const rows: Array<[string, ReturnType<typeof termLostInput>, string, RegExp[]]> = [
    ['a notice', termLostInput(rel, 'box-r', { kind: 'notice', term: 4, at: Date.UTC(2030, 0, 2, 3, 4, 5) }), 'P2P_FAILED_OVER',
      [/^the Replica \(box-r\) failed over this VM at term 4 on 2030-01-02T03:04:05\.000Z: this box is no longer its primary/, /run `tandem replication reverse web` there to make this box its Replica/, /`tandem replication resume web` here/]],
    ['a refused cycle: failed over', termLostInput(rel, 'box-r', { kind: 'refused', code: 'P2P_FAILED_OVER', at: T0 }), 'P2P_FAILED_OVER',
      [/^the Replica \(box-r\) failed over this VM: it refused this box's term 3 on /, /tandem replication reverse web/]],
    ['a refused cycle: stale term', termLostInput(rel, 'box-r', { kind: 'refused', code: 'P2P_STALE_TERM', at: T0 }), 'P2P_STALE_TERM',
      [/^the Replica \(box-r\) holds a newer term than this box's 3 /, /tandem replication reverse web/]],
    ['the longest names: a notice', termLostInput(long, longest, { kind: 'notice', term: 0xffffffff, at: 8.64e15 }), 'P2P_FAILED_OVER', [/reverse v{64}/]],
    ['the longest names: failed over', termLostInput(long, longest, { kind: 'refused', code: 'P2P_FAILED_OVER', at: 8.64e15 }), 'P2P_FAILED_OVER', [/reverse v{64}/]],
    ['the longest names: stale', termLostInput(long, longest, { kind: 'refused', code: 'P2P_STALE_TERM', at: 8.64e15 }), 'P2P_STALE_TERM', [/resume v{64}/]]
  ]
  for (const [name, input, code, patterns] of rows) {
    t.equal(input.kind, 'term-lost')
    t.equal(input.code, code, `${name}: ${code}`)
    for (const p of patterns) t.match(input.reason, p, `${name}: ${String(p)}`)
    t.ok(input.reason.length <= MAX_REASON_CHARS && !input.reason.includes('\n'), `${name}: one line the record keeps whole (${input.reason.length} characters)`)
  }
})
