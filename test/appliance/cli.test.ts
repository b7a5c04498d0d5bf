/**
 * The real `tandem` command (node bin/tandem.js) on small sparse images:
 * exit statuses and error codes (docs/cli.md, docs/errors.md), JSON output,
 * and that what it restores is byte for byte what it replicated. Asserts
 * codes and statuses, never wording or timing.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PACK_HEADER_BYTES, RECORD_HEADER_BYTES } from '../../core/store/pack.ts'
import { fileHash, sparseFile, tempDir, touchedBlocks, writePatches, type Patch } from '../helpers/fixtures.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = join(ROOT, 'bin/tandem.js')
const MiB = 1024 * 1024
const BS = 65536
const SIZE = 8 * MiB + 1234 // the last block is partial

interface Run {
  status: number | null
  stdout: string
  stderr: string
  /** The code of the `error CODE: message` line on stderr, if any. */
  code: string | undefined
}

/**
 * Runs the CLI; TANDEM_STORE only when given, so the caller's environment
 * never leaks in.
 */
async function tandem (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { TANDEM_STORE: _ignored, ...base } = process.env
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const [status] = await once(child, 'close') as [number | null]
  return { status, stdout, stderr, code: /^error ([A-Z0-9_]+):/m.exec(stderr)?.[1] }
}

/** Runs the CLI and returns stdout; any exit status but 0 fails the test with the CLI's stderr. */
async function ok (args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await tandem(args, env)
  if (r.status !== 0) throw new Error(`tandem ${args.join(' ')} exited with ${r.status}: ${r.stderr}`)
  return r.stdout
}

/** Like `ok`, with `--json`: returns the parsed document. */
async function okJson<T> (args: string[], env: Record<string, string> = {}): Promise<T> {
  return JSON.parse(await ok([...args, '--json'], env)) as T
}

/** The parts of the `--json` documents (docs/cli.md) these tests read. */
interface PointDoc { id: number, disks: Array<{ name: string, size: number }> }
interface PointsDoc { blockSize: number, points: PointDoc[] }
interface ReplicateDoc { point: PointDoc, disks: Array<{ name: string, changedBlocks: number, healedBlocks: number }> }
interface VerifyDoc { ok: boolean, points: Array<{ problems: Array<{ code: string }> }> }
interface PruneDoc { removedPoints: number[] }

const ids = (doc: PointsDoc): number[] => doc.points.map(p => p.id)
const disks = (doc: PointsDoc): Array<Array<[string, number]>> => doc.points.map(p => p.disks.map(d => [d.name, d.size]))

async function makeImage (path: string, patches: Patch[]): Promise<void> {
  await sparseFile(path, SIZE)
  await writePatches(path, patches)
}

const FIRST: Patch[] = [
  { offset: 0, length: 300_000 },
  { offset: 3 * MiB + 10, length: 70_000 },
  { offset: SIZE - 1000, length: 1000 }
]
const SECOND: Patch[] = [
  { offset: 100, length: 10 },
  { offset: 5 * MiB + 65_000, length: 2000 } // across a block boundary
]

t.test('replicate twice, list, restore, verify, then detect a flipped byte', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await makeImage(src, FIRST)
  const hash1 = await fileHash(src)
  const c1 = await okJson<ReplicateDoc>(['replicate', src, '--store', store, '--progress']) // progress goes to stderr only
  t.equal(c1.point.id, 1)
  t.equal(c1.disks[0]?.name, 'vm', 'the disk is named after the file, without its extension')

  await writePatches(src, SECOND)
  const hash2 = await fileHash(src)
  const c2 = await okJson<ReplicateDoc>(['replicate', src, '--store', store])
  t.equal(c2.point.id, 2)
  t.equal(c2.disks[0]?.changedBlocks, touchedBlocks(SECOND, BS).size, 'only the touched blocks changed')

  const listed = await okJson<PointsDoc>(['points', '--store', store])
  t.same(ids(listed), [1, 2])
  t.same(disks(listed), [[['vm', SIZE]], [['vm', SIZE]]])
  t.equal(listed.blockSize, BS)

  const out = join(dir, 'p1.img')
  await ok(['restore', '--store', store, '--point', '1', '--out', out])
  t.equal(await fileHash(out), hash1, 'point 1 restores to the bytes of cycle 1')
  const exists = await tandem(['restore', '--store', store, '--point', '1', '--out', out])
  t.equal(exists.status, 1)
  t.equal(exists.code, 'CORE_OUTPUT_EXISTS', 'restore never overwrites without --force')

  const image = (await ok(['image', '--store', store])).trim()
  t.equal(await fileHash(image), hash2, 'the replica image holds the latest point')

  await ok(['verify', '--store', store, '--point', 'all', '--image'])

  await flipByteInFirstBlock(join(store, 'packs'))
  const bad = await tandem(['verify', '--store', store, '--point', 'all', '--json'])
  t.equal(bad.status, 3, 'verify exits 3 when a block is damaged')
  t.equal(bad.code, 'APP_VERIFY_FAILED')
  const report = JSON.parse(bad.stdout) as VerifyDoc
  t.equal(report.ok, false)
  t.ok(report.points.some(p => p.problems.some(x => x.code === 'CORE_BLOCK_CORRUPT')), 'the report names CORE_BLOCK_CORRUPT')
})

t.test('verify records a damaged block; the next replicate heals it and says so', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await makeImage(src, FIRST)
  await ok(['replicate', src, '--store', store])
  await flipByteInFirstBlock(join(store, 'packs'))
  const bad = await tandem(['verify', '--store', store])
  t.equal(bad.status, 3)
  const text = await ok(['replicate', src, '--store', store])
  t.match(text, /1 damaged block healed/, 'replicate prints the healed blocks')
  await ok(['verify', '--store', store, '--point', 'all'])
  const again = await okJson<ReplicateDoc>(['replicate', src, '--store', store])
  t.equal(again.disks[0]?.healedBlocks, 0)
})

/** Flips one byte in the data of the first block record of the first pack (layout: core/store/pack.ts). */
async function flipByteInFirstBlock (packsDir: string): Promise<void> {
  const name = (await readdir(packsDir)).filter(n => n.endsWith('.pack')).sort()[0]!
  const h = await open(join(packsDir, name), 'r+')
  try {
    const header = Buffer.alloc(PACK_HEADER_BYTES + RECORD_HEADER_BYTES)
    await h.read(header, 0, header.byteLength, 0)
    // The record header: type u8, codec u8, stored length u32 LE, ...
    const at = header.byteLength + Math.floor(header.readUInt32LE(PACK_HEADER_BYTES + 2) / 2)
    const b = Buffer.alloc(1)
    await h.read(b, 0, 1, at)
    b[0] = b[0]! ^ 0xff
    await h.write(b, 0, 1, at)
  } finally {
    await h.close()
  }
}

t.test('bad arguments are usage errors or coded failures, never crashes', async t => {
  const dir = await tempDir(t)
  const a = join(dir, 'a.img')
  const b = join(dir, 'b.img')
  const store = join(dir, 'store')
  await makeImage(a, FIRST)
  await makeImage(b, SECOND)
  await ok(['replicate', a, b, '--store', store, '--name', 'sys', '--name', 'data'])

  const cases: Array<{ args: string[], status: number, code: string }> = [
    { args: ['points', '--store', store, '--bogus'], status: 2, code: 'APP_USAGE' },
    { args: ['frobnicate'], status: 2, code: 'APP_USAGE' },
    { args: [], status: 2, code: 'APP_USAGE' },
    { args: ['points'], status: 2, code: 'APP_USAGE' }, // no --store, no TANDEM_STORE
    { args: ['replicate', a, '--store', store, '--keep', '-1'], status: 2, code: 'APP_USAGE' },
    { args: ['replicate', a, '--store', store, '--interval', '5 minutes'], status: 2, code: 'APP_USAGE' },
    { args: ['replicate', a, b, '--store', store, '--name', 'only-one'], status: 2, code: 'APP_USAGE' },
    { args: ['replicate', a, '--store', store, '--name', '../evil'], status: 1, code: 'CORE_INVALID_ARGUMENT' },
    { args: ['replicate', join(dir, 'missing.img'), '--store', store], status: 1, code: 'CORE_SOURCE_UNREADABLE' },
    { args: ['restore', '--store', store, '--point', '99', '--out', join(dir, 'x.img')], status: 1, code: 'CORE_POINT_NOT_FOUND' },
    { args: ['restore', '--store', store, '--point', 'soon', '--out', join(dir, 'x.img')], status: 2, code: 'APP_USAGE' },
    { args: ['restore', '--store', store, '--point', '1', '--out', join(dir, 'x.img')], status: 2, code: 'APP_USAGE' }, // two disks, no --disk
    { args: ['restore', '--store', store, '--point', '1', '--disk', 'nope', '--out', join(dir, 'x.img')], status: 1, code: 'CORE_DISK_NOT_FOUND' },
    { args: ['verify', '--store', store, '--point', '99'], status: 1, code: 'CORE_POINT_NOT_FOUND' },
    { args: ['points', '--store', join(dir, 'not-a-store')], status: 1, code: 'CORE_STORE_INCOMPATIBLE' }
  ]
  for (const c of cases) {
    const r = await tandem(c.args)
    t.equal(r.status, c.status, `tandem ${c.args.join(' ')}: exit status`)
    t.equal(r.code, c.code, `tandem ${c.args.join(' ')}: code`)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  const restored = join(dir, 'data.img')
  await ok(['restore', '--store', store, '--point', 'latest', '--disk', 'data', '--out', restored])
  t.equal(await fileHash(restored), await fileHash(b), 'the named disk of a two-disk point restores')
})

t.test('prune needs --yes, then keeps the latest and N more', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const env = { TANDEM_STORE: join(dir, 'store') }
  await makeImage(src, FIRST)
  const hashes: string[] = []
  for (let i = 0; i < 3; i++) {
    await writePatches(src, [{ offset: i * MiB, length: 100_000 }])
    hashes.push(await fileHash(src))
    await ok(['replicate', src, '--keep', '100', '--interval', '0'], env)
  }
  const refused = await tandem(['prune', '--keep', '1', '--interval', '0'], env)
  t.equal(refused.status, 1)
  t.equal(refused.code, 'APP_CONFIRMATION_REQUIRED')
  t.same(ids(await okJson<PointsDoc>(['points'], env)), [1, 2, 3], 'nothing was removed')

  const pruned = await okJson<PruneDoc>(['prune', '--keep', '1', '--interval', '0', '--yes'], env)
  t.same(pruned.removedPoints, [1])
  t.same(ids(await okJson<PointsDoc>(['points'], env)), [2, 3], 'the latest and one more are kept')
  await ok(['verify', '--point', 'all'], env)
  const out = join(dir, 'p2.img')
  await ok(['restore', '--point', '2', '--out', out], env)
  t.equal(await fileHash(out), hashes[1], 'a kept point still restores exactly after pruning')
})

t.test('seed export and import carry a point (and its block size) to a new store', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const seed = join(dir, 'vm.seed')
  const first = join(dir, 'store1')
  const second = join(dir, 'store2')
  await makeImage(src, FIRST)
  const hash = await fileHash(src)
  await ok(['replicate', src, '--store', first, '--block-size', '32K'])
  await ok(['seed', 'export', '--store', first, '--point', 'latest', '--out', seed])
  const again = await tandem(['seed', 'export', '--store', first, '--point', 'latest', '--out', seed])
  t.equal(again.code, 'CORE_OUTPUT_EXISTS', 'export never overwrites without --force')
  await ok(['seed', 'import', seed, '--store', second])
  const listed = await okJson<PointsDoc>(['points', '--store', second])
  t.equal(listed.blockSize, 32768, 'the new store takes the seed\'s block size')
  t.same(disks(listed), [[['vm', SIZE]]])
  const out = join(dir, 'from-seed.img')
  await ok(['restore', '--store', second, '--point', 'latest', '--out', out])
  t.equal(await fileHash(out), hash, 'the imported point restores to the source bytes')
  const notSeed = await tandem(['seed', 'import', src, '--store', join(dir, 'store3')])
  t.equal(notSeed.status, 1)
  t.equal(notSeed.code, 'CORE_SEED_INVALID', 'a file that is not a seed is refused')
})

interface RepairDoc { restored: number[], lost: Array<{ id: number, code: string }>, movedAside?: string }
interface VerifyAllDoc { ok: boolean, problems: Array<{ code: string, file?: string }> }

t.test('store repair rebuilds a deleted index; verify --all finds a flipped header byte and a stray', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await makeImage(src, FIRST)
  const hash1 = await fileHash(src)
  await ok(['replicate', src, '--store', store])
  await writePatches(src, SECOND)
  await ok(['replicate', src, '--store', store])
  await ok(['verify', '--store', store, '--all'])

  await rm(join(store, 'index'), { recursive: true })
  const repaired = await okJson<RepairDoc>(['store', 'repair', '--store', store])
  t.same(repaired.restored, [1, 2], 'both points come back')
  t.same(repaired.lost, [])
  t.same(ids(await okJson<PointsDoc>(['points', '--store', store])), [1, 2])
  const out = join(dir, 'p1.img')
  await ok(['restore', '--store', store, '--point', '1', '--out', out])
  t.equal(await fileHash(out), hash1, 'point 1 restores byte for byte after the repair')
  await ok(['store', 'verify', '--store', store])

  // A byte of the first record's header (its raw length field).
  const name = (await readdir(join(store, 'packs'))).sort()[0]!
  const h = await open(join(store, 'packs', name), 'r+')
  await h.write(Buffer.from([0x7f]), 0, 1, PACK_HEADER_BYTES + 7)
  await h.close()
  await writeFile(join(store, 'packs', 'stray.pack'), 'not ours')
  const bad = await tandem(['verify', '--store', store, '--all', '--json'])
  t.equal(bad.status, 3, 'verify --all exits 3')
  t.equal(bad.code, 'APP_VERIFY_FAILED')
  const doc = JSON.parse(bad.stdout) as VerifyAllDoc
  const codes = new Set(doc.problems.map(p => p.code))
  t.ok(codes.has('CORE_BLOCK_CORRUPT'), 'the damaged header is reported')
  t.ok(doc.problems.some(p => p.code === 'CORE_PACK_STRAY' && p.file === 'packs/stray.pack'), 'the stray is reported')
  t.ok(await readFile(join(store, 'packs', 'stray.pack')), 'and kept')
})
