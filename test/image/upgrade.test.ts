/**
 * `node image/upgrade.ts`, the real command on small disks made here with the
 * image's own layout (disk-layout.ts, sfdisk, mkfs.ext4): it writes the new ESP
 * and root file system and not one byte else, and refuses, writing nothing, a
 * disk without a table, a disk a running QEMU holds, and bad arguments.
 * `npm run image:upgrade` does the whole thing on booted boxes.
 */
import t from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, rm, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { MIB, diskLayout, sfdiskScript, type DiskLayout } from '../../image/disk-layout.ts'
import { requireTools } from '../helpers/tools.ts'

requireTools(t, ['sfdisk', 'mkfs.ext4', 'qemu-io', 'qemu-system-x86_64'])

const UPGRADE = fileURLToPath(new URL('../../image/upgrade.ts', import.meta.url))
const LAYOUT = diskLayout({ espBytes: 2 * MIB, rootBytes: 8 * MIB, dataBytes: 4 * MIB })
/** The new image's root file system: smaller than its partition, as build.ts makes it. */
const ROOT_FS_BYTES = 6 * MIB

const dir = await mkdtemp(join(tmpdir(), 'tandem-upgrade-test-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

interface Run { status: number, stdout: string, stderr: string }
async function upgrade (...args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [UPGRADE, ...args], (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

/** A disk of `layout` with its table, every byte of it random first (so that any write shows). */
async function disk (name: string, layout: DiskLayout = LAYOUT): Promise<string> {
  const path = join(dir, name)
  const file = await open(path, 'w')
  try {
    for (let at = 0; at < layout.diskBytes; at += MIB) await file.write(randomBytes(Math.min(MIB, layout.diskBytes - at)), 0, undefined, at)
  } finally {
    await file.close()
  }
  execFileSync('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', path], { input: sfdiskScript(layout) })
  return path
}

/** A new image: `disk` with an ext4 root file system of ROOT_FS_BYTES at the start of its root partition. */
async function image (name: string): Promise<string> {
  const path = await disk(name)
  const fs = join(dir, `${name}.root.ext4`)
  await zeros(fs, ROOT_FS_BYTES)
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'tandem-root', fs])
  const root = part('root')
  const file = await open(path, 'r+')
  try {
    await file.write(await readFile(fs), 0, undefined, root.offsetBytes)
  } finally {
    await file.close()
  }
  return path
}

/** A new file of `size` zero bytes (sparse). */
async function zeros (path: string, size: number): Promise<void> {
  await (await open(path, 'w')).close()
  await truncate(path, size)
}

function part (name: 'esp' | 'root' | 'data'): { offsetBytes: number, sizeBytes: number } {
  return LAYOUT.partitions.find(p => p.name === name)!
}

async function bytes (path: string, offset: number, length: number): Promise<Buffer> {
  const file = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(length)
    await file.read(buffer, 0, length, offset)
    return buffer
  } finally {
    await file.close()
  }
}

t.test('writes the new ESP and root file system, and nothing else of the box\'s disk', async t => {
  const box = await disk('box.raw')
  const newImage = await image('new.raw')
  const before = await readFile(box)
  const run = await upgrade('--disk', box, '--image', newImage)
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /the data partition was not touched/)
  const after = await readFile(box)
  const esp = part('esp')
  const root = part('root')
  t.ok(after.subarray(esp.offsetBytes, esp.offsetBytes + esp.sizeBytes).equals(await bytes(newImage, esp.offsetBytes, esp.sizeBytes)), 'the ESP is the new image\'s, whole')
  t.ok(after.subarray(root.offsetBytes, root.offsetBytes + ROOT_FS_BYTES).equals(await bytes(newImage, root.offsetBytes, ROOT_FS_BYTES)), 'the root file system is the new image\'s')
  // Everything else: the table, the root partition past the new file system, the data partition.
  const untouched = (from: number, to: number): boolean => after.subarray(from, to).equals(before.subarray(from, to))
  t.ok(untouched(0, esp.offsetBytes), 'the table (protective MBR, GPT header and entries) is unchanged')
  t.ok(untouched(root.offsetBytes + ROOT_FS_BYTES, root.offsetBytes + root.sizeBytes), 'the root partition past the new file system is unchanged')
  t.ok(untouched(part('data').offsetBytes, before.length), 'the data partition and the backup GPT are unchanged')
})

t.test('a disk without a partition table: IMAGE_UPGRADE_REFUSED, nothing written', async t => {
  const blank = join(dir, 'blank.raw')
  await zeros(blank, LAYOUT.diskBytes)
  const newImage = await image('new-2.raw')
  const run = await upgrade('--disk', blank, '--image', newImage)
  t.equal(run.status, 1)
  t.match(run.stderr, /IMAGE_UPGRADE_REFUSED: the box's disk .* has no partition table/)
  t.ok((await readFile(blank)).equals(Buffer.alloc(LAYOUT.diskBytes)), 'still all zeros')
  const swapped = await upgrade('--disk', newImage, '--image', blank)
  t.equal(swapped.status, 1)
  t.match(swapped.stderr, /IMAGE_UPGRADE_REFUSED: the new image .* has no partition table/)
})

t.test('a disk a running QEMU holds (the box is up): refused, nothing written', async t => {
  const box = await disk('running-box.raw')
  const newImage = await image('new-3.raw')
  const pidFile = join(dir, 'qemu.pid')
  // -daemonize returns once QEMU is set up, its disks open and locked.
  execFileSync('qemu-system-x86_64', ['-machine', 'q35', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-S',
    '-drive', `file=${box},format=raw,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0', '-daemonize', '-pidfile', pidFile])
  const pid = Number((await readFile(pidFile, 'utf8')).trim())
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ } })
  const before = await readFile(box)
  const run = await upgrade('--disk', box, '--image', newImage)
  t.equal(run.status, 1)
  t.match(run.stderr, /IMAGE_UPGRADE_REFUSED: .* is in use: a QEMU holds it/)
  t.ok((await readFile(box)).equals(before), 'the disk is unchanged')
})

t.test('bad arguments: the usage line, exit status 2, no stack trace', async t => {
  for (const args of [[], ['--disk', 'x'], ['--disk', 'x', '--image', 'y', '--bogus'], ['--disk']]) {
    const run = await upgrade(...args)
    t.equal(run.status, 2, args.join(' '))
    t.match(run.stderr, /usage: node image\/upgrade\.ts --disk DISK --image NEW\.raw/)
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace')
  }
})
