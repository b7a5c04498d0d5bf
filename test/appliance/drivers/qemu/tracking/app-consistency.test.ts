/** The app-consistent schedule: a table of literal inputs and answers. */
import t from 'tap'
import { wantsAppConsistent } from '../../../../../appliance/drivers/qemu/tracking/app-consistency.ts'

const H = 3_600_000
const now = 100 * H

t.test('when a cycle asks for an app-consistent point', async t => {
  const table: Array<[string, { everyHours?: number }, number | undefined, boolean]> = [
    ['no setting: never', {}, undefined, false],
    ['0 hours: never', { everyHours: 0 }, undefined, false],
    ['none yet: now', { everyHours: 4 }, undefined, true],
    ['within the period: no', { everyHours: 4 }, now - 3 * H, false],
    ['exactly one period: yes', { everyHours: 4 }, now - 4 * H, true],
    ['overdue (a freeze failed since): yes', { everyHours: 4 }, now - 9 * H, true],
    ['fractional hours', { everyHours: 0.5 }, now - 0.25 * H, false],
    ['fractional hours, due', { everyHours: 0.5 }, now - 0.5 * H, true]
  ]
  for (const [name, policy, last, expected] of table) t.equal(wantsAppConsistent(policy, last, now), expected, name)
  t.throws(() => wantsAppConsistent({ everyHours: -1 }, undefined, now), TypeError)
  t.throws(() => wantsAppConsistent({ everyHours: Number.NaN }, undefined, now), TypeError)
})
