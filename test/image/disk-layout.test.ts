/**
 * image/disk-layout.ts: the appliance disk's partitions and the sfdisk
 * script that writes them. Pure: literal sizes in, literal offsets out.
 */
import t from 'tap'
import { DISK_IDS, MIB, PARTITION_TYPE, diskLayout, roundUpMib, sfdiskScript } from '../../image/disk-layout.ts'

t.test('partitions are back to back from 1 MiB, the data partition last, with room for the backup GPT', async t => {
  const layout = diskLayout({ espBytes: 256 * MIB, rootBytes: 1171 * MIB, dataBytes: 256 * MIB })
  t.same(layout.partitions.map(p => [p.name, p.offsetBytes / MIB, p.sizeBytes / MIB]), [
    ['esp', 1, 256],
    ['root', 257, 1171],
    ['data', 1428, 256]
  ])
  t.equal(layout.diskBytes, (1 + 256 + 1171 + 256 + 1) * MIB)
  t.same(layout.partitions.map(p => p.type), [PARTITION_TYPE.esp, PARTITION_TYPE.rootX86_64, PARTITION_TYPE.linuxGeneric])
  t.equal(layout.partitions[2]?.label, 'tandem-data', 'the label fstab and repart.d find it by')
})

t.test('sizes must be whole MiB', async t => {
  t.throws(() => diskLayout({ espBytes: 256 * MIB, rootBytes: MIB + 512, dataBytes: MIB }), TypeError)
  t.throws(() => diskLayout({ espBytes: 0, rootBytes: MIB, dataBytes: MIB }), TypeError)
  t.equal(roundUpMib(1), MIB)
  t.equal(roundUpMib(MIB), MIB)
  t.equal(roundUpMib(MIB + 1), 2 * MIB)
})

t.test('the sfdisk script names fixed identifiers, in sectors', async t => {
  const script = sfdiskScript(diskLayout({ espBytes: MIB, rootBytes: 2 * MIB, dataBytes: MIB }))
  t.equal(script, [
    'label: gpt',
    `label-id: ${DISK_IDS.tableId}`,
    'unit: sectors',
    'sector-size: 512',
    '',
    `start=2048, size=2048, type=${PARTITION_TYPE.esp}, uuid=${DISK_IDS.espUuid}, name="esp"`,
    `start=4096, size=4096, type=${PARTITION_TYPE.rootX86_64}, uuid=${DISK_IDS.rootUuid}, name="tandem-root"`,
    `start=8192, size=2048, type=${PARTITION_TYPE.linuxGeneric}, uuid=${DISK_IDS.dataUuid}, name="tandem-data"`,
    ''
  ].join('\n'))
})

t.test('the image files find the partitions by these types and labels', async t => {
  const { readFile } = await import('node:fs/promises')
  const files = new URL('../../image/files/', import.meta.url)
  const repart = await readFile(new URL('usr/lib/repart.d/50-tandem-data.conf', files), 'utf8')
  t.match(repart, new RegExp(`^Type=${PARTITION_TYPE.linuxGeneric}$`, 'mi'), 'systemd-repart grows the data partition by its type')
  const fstab = await readFile(new URL('etc/fstab', files), 'utf8')
  const layout = diskLayout({ espBytes: MIB, rootBytes: MIB, dataBytes: MIB })
  for (const p of layout.partitions.filter(p => p.name !== 'esp')) {
    t.match(fstab, new RegExp(`^LABEL=${p.label}\\s`, 'm'), `fstab mounts ${p.label} (its file system has the partition's name as label)`)
  }
})
