import t from 'tap'
import { selectRetained, checkRetention } from '../../core/store/retention.ts'

const H = 3600_000
const at = (id: number, hours: number, minutes = 0): { id: number, time: number } => ({ id, time: hours * H + minutes * 60_000 })

const table: Array<{ name: string, points: Array<{ id: number, time: number }>, additional: number, intervalMs: number, want: number[] }> = [
  { name: 'empty store', points: [], additional: 3, intervalMs: H, want: [] },
  { name: 'only the latest', points: [at(1, 0)], additional: 3, intervalMs: H, want: [1] },
  { name: 'N=0 keeps only the latest', points: [at(1, 0), at(2, 1), at(3, 2)], additional: 0, intervalMs: H, want: [3] },
  { name: 'interval 0: latest + N newest', points: [1, 2, 3, 4, 5, 6].map(i => at(i, 0, i)), additional: 3, intervalMs: 0, want: [3, 4, 5, 6] },
  { name: 'hourly: one per hour, the first of each hour', points: [at(1, 0, 5), at(2, 0, 35), at(3, 1, 5), at(4, 1, 35), at(5, 2, 5), at(6, 2, 35)], additional: 24, intervalMs: H, want: [1, 3, 5, 6] },
  // Issue 11: with the defaults, the third cycle a few seconds after the first removed point 1.
  { name: 'defaults, three cycles seconds apart: the first point stays', points: [at(1, 5, 0), { id: 2, time: 5 * H + 4000 }, { id: 3, time: 5 * H + 8000 }], additional: 24, intervalMs: H, want: [1, 3] },
  { name: 'frequent cycles never push out the first point of an hour', points: [1, 2, 3, 4, 5, 6, 7, 8].map(i => at(i, 3, i * 5)), additional: 24, intervalMs: H, want: [1, 8] },
  { name: 'hours without points do not count against N', points: [at(1, 0), at(2, 10), at(3, 20), at(4, 30)], additional: 2, intervalMs: H, want: [2, 3, 4] },
  { name: 'the latest alone in its hour: N counts the hours before it', points: [at(1, 0, 10), at(2, 0, 20), at(3, 1, 10), at(4, 2, 10)], additional: 2, intervalMs: H, want: [1, 3, 4] },
  { name: 'the latest\'s hour counts once it holds another point', points: [at(1, 0, 10), at(2, 1, 10), at(3, 2, 10), at(4, 2, 20)], additional: 2, intervalMs: H, want: [2, 3, 4] },
  { name: 'ids, not times, say which point is first (a clock that went back)', points: [at(1, 0, 30), at(2, 0, 10), at(3, 1, 0)], additional: 1, intervalMs: H, want: [1, 3] },
  { name: 'hourly, N=2: the two newest hours besides the latest', points: [at(1, 0), at(2, 1), at(3, 2), at(4, 3), at(5, 4)], additional: 2, intervalMs: H, want: [3, 4, 5] },
  { name: 'order of input does not matter', points: [at(3, 2), at(1, 0), at(2, 1)], additional: 1, intervalMs: H, want: [2, 3] },
  { name: 'more allowed than exist keeps all', points: [at(1, 0), at(2, 1)], additional: 100, intervalMs: H, want: [1, 2] }
]

t.test('a point kept as the first of its hour stays until N newer hours have points', async t => {
  // A cycle every 10 minutes for 30 hours with the defaults: point 1 (the first of hour 0) must survive
  // until 24 newer hours hold points other than the latest: through the first cycle of hour 24 (point 145).
  const points: Array<{ id: number, time: number }> = []
  let lastKept = -1
  for (let i = 1; i <= 30 * 6; i++) {
    points.push({ id: i, time: (i - 1) * 600_000 })
    const kept = selectRetained(points, { additional: 24, intervalMs: H })
    if (kept.includes(1)) lastKept = i
    t.ok(kept.length <= 25, 'never more than the latest + 24')
  }
  t.equal(lastKept, 24 * 6 + 1, 'point 1 kept through the first cycle of hour 24')
})

for (const row of table) {
  t.test(row.name, async t => {
    t.same(selectRetained(row.points, { additional: row.additional, intervalMs: row.intervalMs }), row.want)
  })
}

t.test('invalid policies are rejected with CORE_INVALID_ARGUMENT', async t => {
  t.throws(() => { checkRetention({ additional: -1, intervalMs: H }) }, { code: 'CORE_INVALID_ARGUMENT' })
  t.throws(() => { checkRetention({ additional: 1.5, intervalMs: H }) }, { code: 'CORE_INVALID_ARGUMENT' })
  t.throws(() => { checkRetention({ additional: 3, intervalMs: -5 }) }, { code: 'CORE_INVALID_ARGUMENT' })
  t.doesNotThrow(() => { checkRetention({ additional: 240, intervalMs: 0 }) })
})
