import t from 'tap'
import { compactDuration, retentionRule } from '../../appliance/cli/retention-rule.ts'

const H = 3_600_000

const table: Array<{ additional: number, intervalMs: number, want: string }> = [
  { additional: 24, intervalMs: H, want: 'keeping the latest point and one per hour (the first of each hour) for the last 24 hours that have points' },
  { additional: 1, intervalMs: 86_400_000, want: 'keeping the latest point and one per day (the first of each day) for the last day that has points' },
  { additional: 48, intervalMs: 30 * 60_000, want: 'keeping the latest point and one per 30m window (the first of each 30m window) for the last 48 30m windows that have points' },
  { additional: 0, intervalMs: H, want: 'keeping only the latest point' },
  { additional: 5, intervalMs: 0, want: 'keeping the latest point and the 5 newest points before it' },
  { additional: 1, intervalMs: 0, want: 'keeping the latest point and the newest point before it' }
]

for (const row of table) {
  t.test(`keep ${row.additional}, interval ${row.intervalMs} ms`, async t => {
    t.equal(retentionRule({ additional: row.additional, intervalMs: row.intervalMs }), row.want)
  })
}

t.test('durations in the form --interval takes', async t => {
  t.equal(compactDuration(0), '0')
  t.equal(compactDuration(90 * 60_000), '1h30m')
  t.equal(compactDuration(1500), '1s500ms')
  t.equal(compactDuration(2 * 86_400_000 + H), '2d1h')
})
