/**
 * `node image/upgrade.ts --disk DISK --image NEW.raw`: upgrades a Tandem box's
 * disk offline (image/README.md "Upgrading"): the new image's EFI system
 * partition and root are written over the box's, whole; the data partition
 * (identity, pairings, stores) and the partition table are left as they are.
 * DISK is the box's disk, powered off: a block device (the box's disk in
 * another machine, or the box booted from a rescue stick) or a raw image file.
 * Refuses (IMAGE_UPGRADE_REFUSED, exit status 1, nothing written) when the
 * disk is not a Tandem disk, a new partition does not fit (upgrade-plan.ts),
 * or the disk is in use: a QEMU holds it (its lock, asked with qemu-io) or one
 * of its partitions is mounted. Bad arguments: exit status 2. Not atomic: an upgrade
 * cut short leaves the data partition intact but the box unbootable until it
 * is run again.
 */
import { open, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { run } from './build.ts'
import { message } from './checks.ts'
import { upgradePlan, UpgradePlanError, type PartitionCopy, type PartitionTable } from './upgrade-plan.ts'

/** Copy unit: big enough for disk speed, small enough to bound the memory. */
const COPY_CHUNK_BYTES = 4 * 1024 * 1024
/** A copy says how far it is this often (a root to a USB stick takes minutes). */
const PROGRESS_EVERY_MS = 5_000

const USAGE = 'usage: node image/upgrade.ts --disk DISK --image NEW.raw   (the box powered off)'

async function partitionTable (path: string, which: string): Promise<PartitionTable> {
  let out: string
  try {
    out = await run('sfdisk', ['--json', path])
  } catch (err) {
    const reason = message(err).split('\n').slice(1).join(' ').trim()
    throw new UpgradePlanError(`${which} ${path} has no partition table sfdisk can read, so it is not a Tandem disk${reason === '' ? '' : ` (${reason})`}`)
  }
  return (JSON.parse(out) as { partitiontable: PartitionTable }).partitiontable
}

/**
 * Refuses a disk that is in use: a QEMU (the box itself, booted) holds its lock, which
 * qemu-io's read-write open asks for; or, for a block device, one of its partitions is
 * mounted here.
 */
async function checkNotInUse (disk: string): Promise<void> {
  if ((await stat(disk)).isBlockDevice()) {
    // One line per device and partition: its mount points, empty when none.
    const mounted = (await run('lsblk', ['--noheadings', '--list', '--output', 'MOUNTPOINTS', disk])).split('\n').map(l => l.trim()).filter(l => l !== '')
    if (mounted.length > 0) throw new UpgradePlanError(`${disk} is in use: mounted here (${mounted.join(', ')}); unmount it, or run this from another system than the box's`)
  }
  try {
    await run('qemu-io', ['-f', 'raw', '-c', 'quit', disk])
  } catch (err) {
    if (/lock/i.test(message(err))) throw new UpgradePlanError(`${disk} is in use: a QEMU holds it (the box is running?); power the box off first`)
    throw err
  }
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

/** Copies one partition byte for byte, zeros included, then flushes the disk; `progress` now and then. */
async function copyPartition (imagePath: string, diskPath: string, copy: PartitionCopy, progress: (done: number) => void): Promise<void> {
  const from = await open(imagePath, 'r')
  const to = await open(diskPath, 'r+')
  try {
    const buffer = Buffer.alloc(COPY_CHUNK_BYTES)
    let said = Date.now()
    for (let done = 0; done < copy.bytes;) {
      const want = Math.min(COPY_CHUNK_BYTES, copy.bytes - done)
      const { bytesRead } = await from.read(buffer, 0, want, copy.fromOffsetBytes + done)
      if (bytesRead !== want) throw new Error(`${imagePath}: short read at ${copy.fromOffsetBytes + done}`)
      await to.write(buffer, 0, want, copy.toOffsetBytes + done)
      done += want
      if (Date.now() - said >= PROGRESS_EVERY_MS) { progress(done); said = Date.now() }
    }
    await to.sync()
  } finally {
    await from.close()
    await to.close()
  }
}

/**
 * Upgrades `disk` from `image`; returns the copies made. Every check (both tables, the
 * plan, the disk not in use) comes before the first byte is written. `progress` hears
 * of a long copy now and then (bytes of that partition done).
 */
export async function upgradeDisk (disk: string, image: string, progress: (copy: PartitionCopy, done: number) => void = () => {}): Promise<PartitionCopy[]> {
  const imageTable = await partitionTable(image, 'the new image')
  const root = imageTable.partitions.find(p => p.name === 'tandem-root')
  // The root's file system only: its partition has room to spare that need not be written.
  let contentBytes = {}
  if (root !== undefined) {
    try {
      contentBytes = { 'tandem-root': await ext4Bytes(image, root.start * (imageTable.sectorsize ?? 512)) }
    } catch (err) {
      throw new UpgradePlanError(`the new image's root: ${message(err)}`)
    }
  }
  const plan = upgradePlan(await partitionTable(disk, 'the box\'s disk'), imageTable, contentBytes)
  await checkNotInUse(disk)
  for (const copy of plan) await copyPartition(image, disk, copy, done => { progress(copy, done) })
  return plan
}

/** The command line's options, or null (usage printed, exit status 2) when they are wrong. */
function options (): { disk: string, image: string } | null {
  try {
    const { values } = parseArgs({ options: { disk: { type: 'string' }, image: { type: 'string' } } })
    if (values.disk !== undefined && values.image !== undefined) return { disk: values.disk, image: values.image }
    console.error(USAGE)
  } catch (err) {
    console.error(`upgrade: ${message(err)}\n${USAGE}`)
  }
  process.exitCode = 2
  return null
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const values = options()
  if (values !== null) {
    const mib = (n: number): number => Math.round(n / 1024 ** 2)
    upgradeDisk(values.disk, values.image, (c, done) => { console.log(`upgrade: ${c.name}: ${mib(done)} of ${mib(c.bytes)} MiB written`) }).then(plan => {
      for (const c of plan) console.log(`upgrade: ${c.name}: ${c.bytes / 1024 ** 2} MiB written (partition ${c.targetBytes / 1024 ** 2} MiB)`)
      console.log('upgrade: done; the data partition was not touched')
    }, (err: unknown) => {
      const code = err instanceof UpgradePlanError ? `${err.code}: ` : ''
      console.error(`upgrade: ${code}${message(err)}`)
      process.exitCode = 1
    })
  }
}
