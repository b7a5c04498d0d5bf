/**
 * Upgrading an installed box (image/README.md "Upgrading"): the new image's
 * EFI system partition and root are written over the box's, byte for byte;
 * the data partition (the identity, the pairings, the stores) is not touched.
 * Pure: the two partition tables in (as `sfdisk --json` gives them), the
 * copies to make out, or an error saying why the box cannot take this image.
 * The partitions are found by their GPT names (disk-layout.ts), not by
 * index, and each new partition's content (its file system: the root partition
 * has room to spare for later images, build.ts) must fit in the box's: a partition table is
 * never rewritten, so the data partition's place and size never change.
 */

/** The partitions an upgrade replaces, by GPT name (disk-layout.ts). */
export const REPLACED_PARTITIONS = ['esp', 'tandem-root'] as const
/** The partition an upgrade keeps (disk-layout.ts). */
export const DATA_PARTITION = 'tandem-data'

/** One partition of `sfdisk --json`'s `partitiontable.partitions`, in sectors. */
export interface TablePartition {
  node: string
  start: number
  size: number
  type: string
  uuid?: string
  name?: string
}

export interface PartitionTable {
  label: string
  /** Bytes per sector (512 unless told). */
  sectorsize?: number
  partitions: TablePartition[]
}

export interface PartitionCopy {
  name: string
  /** Where the partition starts in the new image, in bytes. */
  fromOffsetBytes: number
  /** Where the box's partition starts, in bytes. */
  toOffsetBytes: number
  /**
   * What is written: the new partition's file system whole, zeros included (no old
   * byte may remain inside it); the new partition's whole size when its content's size is not known.
   */
  bytes: number
  /** The box's partition size; what lies past `bytes` in it is left as it was (outside the new file system). */
  targetBytes: number
}

export class UpgradePlanError extends Error {
  readonly code = 'IMAGE_UPGRADE_REFUSED'
}

function byName (table: PartitionTable, name: string, which: string): TablePartition {
  const found = table.partitions.filter(p => p.name === name)
  if (found.length !== 1) throw new UpgradePlanError(`${which} has ${found.length} partitions named ${name}, not one: not a Tandem disk`)
  return found[0]!
}

/**
 * The copies that upgrade the box's disk `target` to the image `image`. Throws
 * UpgradePlanError when the box is not a Tandem disk, a new partition does not
 * fit in the box's, or a copy would reach the data partition.
 */
export function upgradePlan (target: PartitionTable, image: PartitionTable, contentBytes: Partial<Record<string, number>> = {}): PartitionCopy[] {
  if (target.label !== 'gpt' || image.label !== 'gpt') throw new UpgradePlanError('both disks must have a GPT')
  const targetSector = target.sectorsize ?? 512
  const imageSector = image.sectorsize ?? 512
  const data = byName(target, DATA_PARTITION, 'the box\'s disk')
  const dataStart = data.start * targetSector
  const dataEnd = dataStart + data.size * targetSector
  return REPLACED_PARTITIONS.map(name => {
    const from = byName(image, name, 'the new image')
    const to = byName(target, name, 'the box\'s disk')
    if (from.type.toUpperCase() !== to.type.toUpperCase()) throw new UpgradePlanError(`partition ${name}: type ${from.type} in the image, ${to.type} on the box`)
    const copy: PartitionCopy = {
      name,
      fromOffsetBytes: from.start * imageSector,
      toOffsetBytes: to.start * targetSector,
      bytes: contentBytes[name] ?? from.size * imageSector,
      targetBytes: to.size * targetSector
    }
    if (copy.bytes > from.size * imageSector) throw new UpgradePlanError(`partition ${name}: its file system (${copy.bytes} bytes) is larger than its partition in the new image`)
    if (copy.bytes > copy.targetBytes) {
      throw new UpgradePlanError(`partition ${name}: ${copy.bytes} bytes in the new image, only ${copy.targetBytes} on the box: it does not fit (a reinstall is needed)`)
    }
    if (copy.toOffsetBytes < dataEnd && copy.toOffsetBytes + copy.bytes > dataStart) throw new UpgradePlanError(`partition ${name} overlaps the data partition`)
    return copy
  })
}
