/**
 * The appliance disk's partitions (GPT): the EFI system partition, the root
 * and the data partition, in that order, the data partition last so that it
 * can grow to the disk's end on first boot (files/usr/lib/repart.d/). Pure:
 * sizes in, offsets and the sfdisk script out. The identifiers are fixed,
 * not random, so that two builds of the same inputs give the same bytes;
 * a box tells its disks apart by the machine id, not by these.
 */

export const MIB = 1024 * 1024

/** GPT partition type GUIDs (UEFI spec; the Discoverable Partitions Specification). */
export const PARTITION_TYPE = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  rootX86_64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  linuxGeneric: '0FC63DAF-8483-4772-8E79-3D69E4C47DE4'
} as const

/** The fixed identifiers of the table, the partitions and their file systems. */
export const DISK_IDS = {
  tableId: '7A4D5E3C-0B1F-4E8A-9C2D-54414E44454D',
  espUuid: '7A4D5E3C-0B1F-4E8A-9C2D-000000000001',
  rootUuid: '7A4D5E3C-0B1F-4E8A-9C2D-000000000002',
  dataUuid: '7A4D5E3C-0B1F-4E8A-9C2D-000000000003',
  /** The FAT volume id (8 hex digits). */
  espVolumeId: '54414e44',
  rootFsUuid: '5e7a0d1b-7c3e-4f5a-8b2d-726f6f746673',
  dataFsUuid: '5e7a0d1b-7c3e-4f5a-8b2d-646174616673'
} as const

/** The first partition starts at 1 MiB, every partition is a whole number of MiB. */
export const ALIGN_BYTES = MIB
/** The backup GPT at the disk's end: 33 sectors, rounded up to the alignment. */
export const GPT_BACKUP_BYTES = MIB

export interface PartitionSizes {
  espBytes: number
  rootBytes: number
  dataBytes: number
}

export interface Partition {
  name: 'esp' | 'root' | 'data'
  /** The GPT partition name (PARTLABEL). */
  label: string
  type: string
  uuid: string
  offsetBytes: number
  sizeBytes: number
}

export interface DiskLayout {
  diskBytes: number
  partitions: Partition[]
}

/** Offsets of the three partitions, back to back from 1 MiB; sizes must be whole MiB. */
export function diskLayout (sizes: PartitionSizes): DiskLayout {
  for (const [name, bytes] of Object.entries(sizes)) {
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % ALIGN_BYTES !== 0) {
      throw new TypeError(`diskLayout: ${name} must be a positive whole number of MiB, got ${bytes}`)
    }
  }
  const specs = [
    { name: 'esp', label: 'esp', type: PARTITION_TYPE.esp, uuid: DISK_IDS.espUuid, sizeBytes: sizes.espBytes },
    { name: 'root', label: 'tandem-root', type: PARTITION_TYPE.rootX86_64, uuid: DISK_IDS.rootUuid, sizeBytes: sizes.rootBytes },
    { name: 'data', label: 'tandem-data', type: PARTITION_TYPE.linuxGeneric, uuid: DISK_IDS.dataUuid, sizeBytes: sizes.dataBytes }
  ] as const
  let offset = ALIGN_BYTES
  const partitions = specs.map(spec => {
    const partition: Partition = { ...spec, offsetBytes: offset }
    offset += spec.sizeBytes
    return partition
  })
  return { diskBytes: offset + GPT_BACKUP_BYTES, partitions }
}

/** The table as an sfdisk script (sfdisk(8) "Input format"), in 512-byte sectors. */
export function sfdiskScript (layout: DiskLayout): string {
  const lines = ['label: gpt', `label-id: ${DISK_IDS.tableId}`, 'unit: sectors', 'sector-size: 512', '']
  for (const p of layout.partitions) {
    lines.push(`start=${p.offsetBytes / 512}, size=${p.sizeBytes / 512}, type=${p.type}, uuid=${p.uuid}, name="${p.label}"`)
  }
  return lines.join('\n') + '\n'
}

/** A size rounded up to whole MiB. */
export function roundUpMib (bytes: number): number {
  return Math.ceil(bytes / MIB) * MIB
}
