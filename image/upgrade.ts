/**
 * `node image/upgrade.ts --disk DISK --image NEW.raw`: upgrades a Tandem box's
 * disk offline (image/README.md "Upgrading"): the new image's EFI system
 * partition and root are written over the box's, whole; the data partition
 * (identity, pairings, stores) and the partition table are left as they are.
 * DISK is the box's disk, powered off: a block device (the box's disk in
 * another machine, or the box booted from a rescue stick) or a raw image file.
 * Refuses (exit status 1, nothing written) when the disk is not a Tandem disk
 * or a new partition does not fit (upgrade-plan.ts). Not atomic: an upgrade
 * cut short leaves the data partition intact but the box unbootable until it
 * is run again.
 */
import { open } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { run } from './build.ts'
import { upgradePlan, type PartitionCopy, type PartitionTable } from './upgrade-plan.ts'

/** Copy unit: big enough for disk speed, small enough to bound the memory. */
const COPY_CHUNK_BYTES = 4 * 1024 * 1024

async function partitionTable (path: string): Promise<PartitionTable> {
  const json = JSON.parse(await run('sfdisk', ['--json', path])) as { partitiontable: PartitionTable }
  return json.partitiontable
}

/**
 * The size of the ext4 file system at `offset` of `path` (its superblock, 1024 bytes in:
 * s_blocks_count_lo at 4, s_log_block_size at 24, s_blocks_count_hi at 0x150 with the
 * 64bit feature, s_magic 0xEF53 at 56; the kernel's Documentation/filesystems/ext4/super.rst).
 */
export async function ext4Bytes (path: string, offset: number): Promise<number> {
  const file = await open(path, 'r')
  try {
    const sb = Buffer.alloc(1024)
    await file.read(sb, 0, 1024, offset + 1024)
    if (sb.readUInt16LE(56) !== 0xef53) throw new Error(`${path}: no ext4 file system at ${offset}`)
    const incompat64bit = (sb.readUInt32LE(0x60) & 0x80) !== 0
    const blocks = sb.readUInt32LE(4) + (incompat64bit ? sb.readUInt32LE(0x150) * 2 ** 32 : 0)
    return blocks * (1024 << sb.readUInt32LE(24))
  } finally {
    await file.close()
  }
}

/** Copies one partition byte for byte, zeros included, then flushes the disk. */
async function copyPartition (imagePath: string, diskPath: string, copy: PartitionCopy): Promise<void> {
  const from = await open(imagePath, 'r')
  const to = await open(diskPath, 'r+')
  try {
    const buffer = Buffer.alloc(COPY_CHUNK_BYTES)
    for (let done = 0; done < copy.bytes;) {
      const want = Math.min(COPY_CHUNK_BYTES, copy.bytes - done)
      const { bytesRead } = await from.read(buffer, 0, want, copy.fromOffsetBytes + done)
      if (bytesRead !== want) throw new Error(`${imagePath}: short read at ${copy.fromOffsetBytes + done}`)
      await to.write(buffer, 0, want, copy.toOffsetBytes + done)
      done += want
    }
    await to.sync()
  } finally {
    await from.close()
    await to.close()
  }
}

/** Upgrades `disk` from `image`; returns the copies made. */
export async function upgradeDisk (disk: string, image: string): Promise<PartitionCopy[]> {
  const imageTable = await partitionTable(image)
  const root = imageTable.partitions.find(p => p.name === 'tandem-root')
  // The root's file system only: its partition has room to spare that need not be written.
  const contentBytes = root === undefined ? {} : { 'tandem-root': await ext4Bytes(image, root.start * (imageTable.sectorsize ?? 512)) }
  const plan = upgradePlan(await partitionTable(disk), imageTable, contentBytes)
  for (const copy of plan) await copyPartition(image, disk, copy)
  return plan
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { disk: { type: 'string' }, image: { type: 'string' } } })
  if (values.disk === undefined || values.image === undefined) {
    console.error('usage: node image/upgrade.ts --disk DISK --image NEW.raw   (the box powered off)')
    process.exitCode = 2
  } else {
    upgradeDisk(values.disk, values.image).then(plan => {
      for (const c of plan) console.log(`upgrade: ${c.name}: ${c.bytes / 1024 ** 2} MiB written (partition ${c.targetBytes / 1024 ** 2} MiB)`)
      console.log('upgrade: done; the data partition was not touched')
    }, (err: unknown) => {
      console.error(`upgrade: ${err instanceof Error ? err.message : String(err)}`)
      process.exitCode = 1
    })
  }
}
