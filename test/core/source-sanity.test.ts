import t from 'tap'
import { checkSourceSanity, type DiskShape } from '../../core/source-sanity.ts'

const d = (name: string, size: number): DiskShape => ({ name, size })

const table: Array<{ name: string, latest: DiskShape[] | undefined, disks: DiskShape[], allow?: boolean, code?: string }> = [
  { name: 'a new store accepts anything', latest: undefined, disks: [d('a', 0), d('b', 5)] },
  { name: 'same disks, same sizes', latest: [d('sys', 10), d('data', 20)], disks: [d('sys', 10), d('data', 20)] },
  { name: 'same disks in another order', latest: [d('sys', 10), d('data', 20)], disks: [d('data', 20), d('sys', 10)] },
  { name: 'a disk resized is a normal change', latest: [d('sys', 10)], disks: [d('sys', 30)] },
  { name: 'another disk name is refused', latest: [d('sys', 10)], disks: [d('other', 10)], code: 'CORE_SOURCE_DISKS_CHANGED' },
  { name: 'a disk added is refused', latest: [d('sys', 10)], disks: [d('sys', 10), d('data', 5)], code: 'CORE_SOURCE_DISKS_CHANGED' },
  { name: 'a disk missing is refused', latest: [d('sys', 10), d('data', 5)], disks: [d('sys', 10)], code: 'CORE_SOURCE_DISKS_CHANGED' },
  { name: 'another disk name, allowed', latest: [d('sys', 10)], disks: [d('other', 10)], allow: true },
  { name: 'a disk missing, allowed', latest: [d('sys', 10), d('data', 5)], disks: [d('sys', 10)], allow: true },
  { name: 'a disk become empty is refused', latest: [d('sys', 10)], disks: [d('sys', 0)], code: 'CORE_SOURCE_EMPTY' },
  { name: 'a disk become empty is refused even when changes are allowed', latest: [d('sys', 10)], disks: [d('sys', 0)], allow: true, code: 'CORE_SOURCE_EMPTY' },
  { name: 'a disk that was empty may stay empty', latest: [d('sys', 0)], disks: [d('sys', 0)] },
  { name: 'a new empty disk, allowed as a change', latest: [d('sys', 10)], disks: [d('sys', 10), d('scratch', 0)], allow: true }
]

for (const row of table) {
  t.test(row.name, async t => {
    const latest = row.latest === undefined ? undefined : { id: 7, disks: row.latest }
    const run = (): void => { checkSourceSanity(latest, row.disks, { allowDiskChange: row.allow }) }
    if (row.code === undefined) t.doesNotThrow(run)
    else t.throws(run, { code: row.code, details: { point: 7 } })
  })
}
