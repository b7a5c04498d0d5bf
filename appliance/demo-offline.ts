/**
 * `npm run demo:offline [-- --keep-files]`: the offline tools of Tandem's command line on a small VM-like
 * disk, in a fresh temporary directory. Every step runs the real CLI
 * (`node bin/tandem.js ...`) and echoes the command line first, so what you
 * see is what an operator would type. Exits non-zero at the first step that
 * fails; the directory is removed at the end unless `--keep-files`.
 */
import { Blake3Hasher } from '@napi-rs/blake-hash'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin/tandem.js')
const MiB = 1024 * 1024
/** 512 MiB and a bit: the last 64 KiB block is partial. */
const DISK_SIZE = 512 * MiB + 1000
/** Scattered 4 KiB writes between the two cycles, like a running guest's. */
const SCATTERED_WRITES = 24

class StepFailed extends Error {}

/** Shows paths under the demo directory as `$DEMO/...`, so command lines stay readable. */
let demoDir = ''
const shown = (text: string): string => demoDir === '' ? text : text.replaceAll(demoDir, '$DEMO')

function say (text: string): void {
  process.stdout.write(`\n${text}\n`)
}

/**
 * Runs `tandem <args>`, echoing the command line and the command's stdout;
 * its stderr (progress, errors) goes straight to ours; `echo` false leaves
 * the output to the caller (a JSON document). Throws StepFailed
 * unless it exits with `expect`. Returns stdout.
 */
async function tandem (args: string[], expect = 0, echo = true): Promise<string> {
  process.stdout.write(`$ tandem ${shown(args.join(' '))}\n`)
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  const [status] = await once(child, 'close') as [number | null]
  if (echo && out !== '') process.stdout.write(shown(out).replace(/^/gm, '    ').trimEnd() + '\n')
  if (status !== expect) throw new StepFailed(`tandem ${args[0] ?? ''} exited with ${status}, expected ${expect}`)
  return out
}

/** A VM-like disk: an OS area of random bytes, compressible logs, a data area, zeros, a partial last block. */
async function makeDisk (path: string): Promise<void> {
  const h = await open(path, 'w')
  try {
    await h.truncate(DISK_SIZE)
    await h.write(randomBytes(4 * MiB), 0, 4 * MiB, 1 * MiB)
    const log = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `2026-01-01T00:${String(i % 60).padStart(2, '0')}:00Z web[${1000 + i % 97}]: GET /shop/item/${i % 500} 200\n`).join(''))
    await h.write(log, 0, log.byteLength, 64 * MiB)
    await h.write(randomBytes(2 * MiB), 0, 2 * MiB, 200 * MiB)
    await h.write(randomBytes(1000), 0, 1000, DISK_SIZE - 1000)
  } finally {
    await h.close()
  }
}

/** Writes 4 KiB of random bytes at scattered places; returns how many 64 KiB blocks they touch. */
async function changeScatteredBlocks (path: string): Promise<number> {
  const h = await open(path, 'r+')
  const blocks = new Set<number>()
  try {
    for (let i = 0; i < SCATTERED_WRITES; i++) {
      const offset = Math.floor((i + 0.5) * (DISK_SIZE - 8192) / SCATTERED_WRITES)
      await h.write(randomBytes(4096), 0, 4096, offset)
      for (let b = Math.floor(offset / 65536); b <= Math.floor((offset + 4095) / 65536); b++) blocks.add(b)
    }
  } finally {
    await h.close()
  }
  return blocks.size
}

async function fileHash (path: string): Promise<string> {
  const h = await open(path, 'r')
  const hasher = new Blake3Hasher()
  const buf = Buffer.allocUnsafe(8 * MiB)
  try {
    for (let pos = 0; ;) {
      const { bytesRead } = await h.read(buf, 0, buf.byteLength, pos)
      if (bytesRead === 0) break
      hasher.update(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
  } finally {
    await h.close()
  }
  return hasher.digest('hex')
}

function check (condition: boolean, what: string): void {
  if (!condition) throw new StepFailed(what)
  process.stdout.write(`    ok: ${what}\n`)
}

async function demo (): Promise<void> {
  const disk = join(demoDir, 'vm.img')
  const store = join(demoDir, 'store')
  const seed = join(demoDir, 'usb', 'system.seed')
  const replica = join(demoDir, 'replica-store')

  say(`Working in $DEMO = ${demoDir}\nA 512 MiB VM disk: 4 MiB of OS, 8 MiB of logs, 2 MiB of data, zeros elsewhere, a partial last block.`)
  await makeDisk(disk)
  const atPoint1 = await fileHash(disk)

  say('1. The first cycle copies everything that is not zeros, compressed, into a new store (it could be on a USB disk).')
  await tandem(['replicate', disk, '--store', store, '--name', 'system'])

  const touched = await changeScatteredBlocks(disk)
  say(`2. The guest writes ${SCATTERED_WRITES} scattered 4 KiB pieces (${touched} blocks). The next cycle finds and stores only those.`)
  const cycle2 = JSON.parse(await tandem(['replicate', disk, '--store', store, '--name', 'system', '--json'], 0, false)) as {
    point: { id: number }
    disks: Array<{ name: string, changedBlocks: number, storedBlocks: number, storedBytes: number }>
  }
  for (const d of cycle2.disks) {
    process.stdout.write(`    (from the JSON) point ${cycle2.point.id}, ${d.name}: ${d.changedBlocks} changed blocks, ${d.storedBlocks} stored in ${(d.storedBytes / 1024).toFixed(1)} KiB\n`)
  }
  check(cycle2.disks[0]?.changedBlocks === touched, `the second cycle found exactly the ${touched} changed blocks`)

  say('3. Two recovery points now exist.')
  await tandem(['points', '--store', store])

  say('4. Any point can be restored as a plain image; point 1 is the disk as it was before the writes.')
  const restored = join(demoDir, 'restored-point1.img')
  await tandem(['restore', '--store', store, '--point', '1', '--out', restored])
  check(await fileHash(restored) === atPoint1, 'the restored image is byte for byte the disk at point 1')

  say('5. Verify re-reads every stored block of every point, and hashes the ready-to-use replica image.')
  await tandem(['verify', '--store', store, '--point', 'all', '--image'])

  say('6. Initial replication without a network: export a seed to removable media, import it at the other site.')
  await mkdir(dirname(seed))
  await tandem(['seed', 'export', '--store', store, '--point', 'latest', '--out', seed])
  await tandem(['seed', 'import', seed, '--store', replica])
  await tandem(['points', '--store', replica])

  say('7. Deleting recovery points needs --yes; without it Tandem only says what it would remove.')
  await tandem(['prune', '--store', store, '--keep', '0'], 1)

  say('8. Failing over to the latest point copies nothing: the replica image is ready to boot.')
  const image = (await tandem(['image', '--store', store])).trim()
  check(await fileHash(image) === await fileHash(disk), 'the replica image is the disk as of the latest cycle')
  process.stdout.write('    boot it through an overlay, so the image stays equal to the point:\n')
  process.stdout.write(`    qemu-img create -f qcow2 -F raw -b ${shown(image)} failover.qcow2\n`)
  process.stdout.write('    qemu-system-x86_64 -drive file=failover.qcow2,format=qcow2 ...\n')
}

async function main (): Promise<number> {
  const keepFiles = process.argv.includes('--keep-files')
  const started = performance.now()
  demoDir = await mkdtemp(join(tmpdir(), 'tandem-demo-'))
  try {
    await demo()
    say(`Demo OK: every step succeeded in ${((performance.now() - started) / 1000).toFixed(1)} s.`)
    return 0
  } catch (err) {
    say(`Demo FAILED: ${err instanceof StepFailed ? err.message : (err as Error).stack ?? String(err)}`)
    return 1
  } finally {
    if (keepFiles) {
      process.stdout.write(`Files kept in ${demoDir}\n`)
    } else {
      await rm(demoDir, { recursive: true, force: true })
    }
  }
}

process.exitCode = await main()
