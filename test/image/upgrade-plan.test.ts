/**
 * image/upgrade-plan.ts: which partitions an upgrade writes, and when it refuses.
 * Pure: literal `sfdisk --json` tables in, literal copies out.
 */
import t from 'tap'
import { PARTITION_TYPE } from '../../image/disk-layout.ts'
import { upgradePlan, type PartitionTable } from '../../image/upgrade-plan.ts'

/** A Tandem disk as sfdisk shows it: the ESP at 1 MiB (256 MiB), the root, then the data partition. */
function table (rootSectors: number, dataSectors = 524288, names = ['esp', 'tandem-root', 'tandem-data']): PartitionTable {
  return {
    label: 'gpt',
    sectorsize: 512,
    partitions: [
      { node: 'd1', start: 2048, size: 524288, type: PARTITION_TYPE.esp, name: names[0] },
      { node: 'd2', start: 526336, size: rootSectors, type: PARTITION_TYPE.rootX86_64, name: names[1] },
      { node: 'd3', start: 526336 + rootSectors, size: dataSectors, type: PARTITION_TYPE.linuxGeneric, name: names[2] }
    ]
  }
}

t.test('the ESP and the root are copied whole, the data partition is not', async t => {
  const box = table(4_000_000, 20_000_000) // a grown data partition
  const image = table(3_000_000)
  t.same(upgradePlan(box, image), [
    { name: 'esp', fromOffsetBytes: 2048 * 512, toOffsetBytes: 2048 * 512, bytes: 524288 * 512, targetBytes: 524288 * 512 },
    { name: 'tandem-root', fromOffsetBytes: 526336 * 512, toOffsetBytes: 526336 * 512, bytes: 3_000_000 * 512, targetBytes: 4_000_000 * 512 }
  ])
})

t.test('a new root larger than the box\'s partition is refused', async t => {
  t.throws(() => upgradePlan(table(3_000_000), table(3_000_001)), { code: 'IMAGE_UPGRADE_REFUSED' })
})

t.test('a disk that is not a Tandem disk is refused', async t => {
  t.throws(() => upgradePlan(table(3_000_000, 524288, ['esp', 'tandem-root', 'other']), table(3_000_000)), { code: 'IMAGE_UPGRADE_REFUSED' }, 'no data partition')
  t.throws(() => upgradePlan(table(3_000_000, 524288, ['esp', 'root', 'tandem-data']), table(3_000_000)), { code: 'IMAGE_UPGRADE_REFUSED' }, 'no root by name')
  t.throws(() => upgradePlan({ ...table(3_000_000), label: 'dos' }, table(3_000_000)), { code: 'IMAGE_UPGRADE_REFUSED' }, 'MBR')
  const wrongType = table(3_000_000)
  wrongType.partitions[1]!.type = PARTITION_TYPE.linuxGeneric
  t.throws(() => upgradePlan(wrongType, table(3_000_000)), { code: 'IMAGE_UPGRADE_REFUSED' }, 'root of another type')
})

t.test('a copy that would reach the data partition is refused', async t => {
  const box = table(3_000_000)
  box.partitions[2]!.start = 526336 + 1_000_000 // data inside the root's range: a damaged table
  t.throws(() => upgradePlan(box, table(1_500_000)), { code: 'IMAGE_UPGRADE_REFUSED' })
})

t.test('only the root\'s file system is written: a larger root partition fits when its file system does', async t => {
  const plan = upgradePlan(table(3_000_000), table(3_500_000), { 'tandem-root': 2_000_000 * 512 })
  t.equal(plan[1]?.bytes, 2_000_000 * 512)
  t.throws(() => upgradePlan(table(3_000_000), table(3_500_000), { 'tandem-root': 3_100_000 * 512 }), { code: 'IMAGE_UPGRADE_REFUSED' }, 'the file system does not fit')
  t.throws(() => upgradePlan(table(3_000_000), table(2_000_000), { 'tandem-root': 2_500_000 * 512 }), { code: 'IMAGE_UPGRADE_REFUSED' }, 'larger than its own partition')
})
