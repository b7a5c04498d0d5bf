/**
 * The health rules as a table of literal rows: a relationship's state and
 * point times, the cycles of the window, and the level and rule that must
 * come out. Reasons are checked only to be one non-empty line.
 */
import t from 'tap'
import { health, type CycleRecord, type Health, type HealthRule } from '../../../appliance/events/index.ts'
import { DEFAULT_SETTINGS, newRelationship, type Relationship, type RelationshipState } from '../../../appliance/relationships/index.ts'

const MIN = 60_000
const H = 60 * MIN
const NOW = 100 * H
const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

function rel (state: RelationshipState, extra: Partial<Relationship> = {}): Relationship {
  const r = newRelationship({ id: 'rel-1', vm: 'web', role: 'primary', peer: PEER, settings: { ...DEFAULT_SETTINGS, frequency: 5 * MIN } }, 0)
  return { ...r, state, initialDoneAt: 1000, lastPointAt: NOW - MIN, lastReplicationAt: NOW - MIN + 5000, ...extra }
}

/** `ok` successful and `failed` failed cycles spread over the last `span` ms, plus `missed` intervals run past on the first. */
function cycles (ok: number, failed: number, missed = 0, span = 10 * H): CycleRecord[] {
  const n = ok + failed
  return Array.from({ length: n }, (_, i) => {
    const end = NOW - span + Math.round((i + 1) * span / (n + 1))
    return {
      start: end - 1000, end, outcome: i < failed ? 'failed' as const : 'ok' as const, bytesSent: 10, bytesChanged: 10,
      consistency: 'crash' as const, missedIntervals: i === 0 ? missed : 0, appConsistentRequested: false, appConsistentSucceeded: false
    }
  })
}

const ROWS: Array<[string, Relationship, CycleRecord[], Health, HealthRule]> = [
  ['replicating, nothing missed', rel('replicating'), cycles(100, 0), 'normal', 'ok'],
  ['replicating, no cycles in the window yet', rel('replicating'), [], 'normal', 'ok'],
  ['exactly 20% missed is not more than 20%', rel('replicating'), cycles(80, 20), 'normal', 'ok'],
  ['21% missed (failed cycles)', rel('replicating'), cycles(79, 21), 'warning', 'missed-warning'],
  ['21% missed (intervals run past)', rel('replicating'), cycles(79, 0, 21), 'warning', 'missed-warning'],
  ['exactly 50% missed', rel('replicating'), cycles(50, 50), 'warning', 'missed-warning'],
  ['51% missed', rel('replicating'), cycles(49, 51), 'critical', 'missed-critical'],
  ['misses before the window do not count', rel('replicating'), [...cycles(0, 50, 0, 30 * H).filter(c => c.end < NOW - 12 * H), ...cycles(10, 0)], 'normal', 'ok'],
  ['no point for exactly an hour', rel('replicating', { lastPointAt: NOW - H }), [], 'normal', 'ok'],
  ['no point for over an hour', rel('replicating', { lastPointAt: NOW - H - 1 }), cycles(100, 0), 'critical', 'stale'],
  ['no point ever, initial done over an hour ago', rel('replicating', { lastPointAt: undefined, initialDoneAt: NOW - 2 * H }), [], 'critical', 'stale'],
  ['resynchronizing, stale', rel('resynchronizing', { lastPointAt: NOW - 2 * H }), [], 'critical', 'stale'],
  ['resynchronizing, recent point', rel('resynchronizing'), [], 'warning', 'resynchronizing'],
  ['resynchronizing with 60% missed', rel('resynchronizing'), cycles(40, 60), 'critical', 'missed-critical'],
  ['resync required', rel('resynchronization-required', { reason: 'resynchronization required: the VM crashed' }), cycles(100, 0), 'critical', 'resync-required'],
  ['error', rel('error', { reason: 'the store is damaged', code: 'CORE_STORE_DAMAGED' }), cycles(100, 0), 'critical', 'error'],
  ['suspended', rel('suspended', { reason: 'replication suspended by the operator' }), [], 'warning', 'suspended'],
  ['suspended for days: still a warning', rel('suspended', { lastPointAt: NOW - 72 * H }), cycles(0, 80), 'warning', 'suspended'],
  ['initial replication not finished', rel('waiting-initial-replication', { initialDoneAt: undefined, lastPointAt: undefined }), cycles(0, 30), 'warning', 'initial-pending'],
  ['initial replication from a seed not yet written', rel('waiting-initial-replication', { initialDoneAt: undefined, lastPointAt: undefined, settings: { ...DEFAULT_SETTINGS, frequency: 5 * MIN, initial: { seed: '/mnt/usb/web.seed' } } }), cycles(0, 30), 'warning', 'initial-pending'],
  ['initial replication from a seed waiting for its import', rel('waiting-initial-replication', { initialDoneAt: undefined, lastPointAt: undefined, seedExportedAt: NOW - 60_000, settings: { ...DEFAULT_SETTINGS, frequency: 5 * MIN, initial: { seed: '/mnt/usb/web.seed' } } }), cycles(0, 30), 'warning', 'initial-pending'],
  ['planned failover prepared', rel('prepared-for-planned-failover'), [], 'warning', 'failover-pending'],
  ['failed over, waiting for completion', rel('failed-over-waiting-completion'), [], 'warning', 'failover-pending'],
  ['failed over', rel('failed-over', { lastPointAt: NOW - 72 * H }), [], 'normal', 'failed-over'],
  ['not enabled', rel('not-enabled', { initialDoneAt: undefined, lastPointAt: undefined }), [], 'normal', 'not-enabled'],
  ['frequency 1 h: two intervals before stale', rel('replicating', { settings: { ...DEFAULT_SETTINGS, frequency: H }, lastPointAt: NOW - 90 * MIN }), [], 'normal', 'ok'],
  ['frequency 1 h, over two intervals', rel('replicating', { settings: { ...DEFAULT_SETTINGS, frequency: H }, lastPointAt: NOW - 2 * H - 1 }), [], 'critical', 'stale'],
  ['continuous: an hour', rel('replicating', { settings: { ...DEFAULT_SETTINGS, frequency: 'continuous' }, lastPointAt: NOW - H - 1 }), [], 'critical', 'stale']
]

t.test('health rules', async t => {
  for (const [what, r, cs, level, rule] of ROWS) {
    const h = health(r, cs, NOW)
    t.same([h.level, h.rule], [level, rule], what)
    t.ok(h.reason.length > 0 && !h.reason.includes('\n'), `${what}: a one-line reason`)
  }
})

t.test('the monitoring window can be set', async t => {
  // 30 failed cycles 2 h ago, 10 good ones in the last hour
  const old = cycles(0, 30, 0, 3 * H).filter(c => c.end < NOW - 90 * MIN)
  const recent = cycles(10, 0, 0, H)
  t.equal(health(rel('replicating'), [...old, ...recent], NOW).rule, 'missed-critical', 'the default 12 h window sees the failures')
  t.equal(health(rel('replicating'), [...old, ...recent], NOW, { windowMs: H }).rule, 'ok', 'a 1 h window does not')
})

t.test('a relationship waiting for its seed says the next step', async t => {
  const seed = { ...DEFAULT_SETTINGS, frequency: 5 * MIN, initial: { seed: '/mnt/usb/web.seed' } }
  const unwritten = health(rel('waiting-initial-replication', { initialDoneAt: undefined, lastPointAt: undefined, settings: seed }), [], NOW)
  t.match(unwritten.reason, /tandem seed export web --to \/mnt\/usb\/web\.seed/, 'no seed yet: the export to run')
  const written = health(rel('waiting-initial-replication', { initialDoneAt: undefined, lastPointAt: undefined, settings: seed, seedExportedAt: NOW - MIN }), [], NOW)
  t.match(written.reason, /tandem seed import --from/, 'a seed written: the import to run on the Replica')
})
