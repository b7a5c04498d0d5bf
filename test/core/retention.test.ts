import t from 'tap'
import { selectRetained, checkRetention } from '../../core/store/retention.ts'

const H = 3600_000
const at = (id: number, hours: number, minutes = 0): { id: number, time: number } => ({ id, time: hours * H + minutes * 60_000 })

const table: Array<{ name: string, points: Array<{ id: number, time: number }>, additional: number, intervalMs: number, want: number[] }> = [
  { name: 'empty store', points: [], additional: 3, intervalMs: H, want: [] },
  { name: 'only the latest', points: [at(1, 0)], additional: 3, intervalMs: H, want: [1] },
  { name: 'N=0 keeps only the latest', points: [at(1, 0), at(2, 1), at(3, 2)], additional: 0, intervalMs: H, want: [3] },
  { name: 'interval 0: latest + N newest', points: [1, 2, 3, 4, 5, 6].map(i => at(i, 0, i)), additional: 3, intervalMs: 0, want: [3, 4, 5, 6] },
  { name: 'hourly: one per hour, newest of each hour', points: [at(1, 0, 5), at(2, 0, 35), at(3, 1, 5), at(4, 1, 35), at(5, 2, 5), at(6, 2, 35)], additional: 24, intervalMs: H, want: [2, 4, 5, 6] },
  { name: 'hourly, N=2: the two newest hours besides the latest', points: [at(1, 0), at(2, 1), at(3, 2), at(4, 3), at(5, 4)], additional: 2, intervalMs: H, want: [3, 4, 5] },
  { name: 'order of input does not matter', points: [at(3, 2), at(1, 0), at(2, 1)], additional: 1, intervalMs: H, want: [2, 3] },
  { name: 'more allowed than exist keeps all', points: [at(1, 0), at(2, 1)], additional: 100, intervalMs: H, want: [1, 2] }
]

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
