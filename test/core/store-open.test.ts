/**
 * Opening a store safely (issue 11): an index that is missing, empty or
 * damaged fails with CORE_STORE_DAMAGED and nothing is swept or written; a
 * store is created only in a missing or empty directory; a file, a foreign
 * directory and a read-only open each behave as their contract says.
 */
import t from 'tap'
import { Level } from 'level'
import { chmod, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { RecoveryPointStore } from '../../core/store/index.ts'
import { indexError, storeFailure } from '../../core/store/db.ts'
import { sparseFile, tempDir, writePatches, type Teardown } from '../helpers/fixtures.ts'
import { cycle, scanPool } from '../helpers/engine.ts'
import { treeFacts, type EntryFacts } from '../helpers/store-tree.ts'

const MiB = 2 ** 20

/** A closed store with two points (so two packs at least), and the source. */
async function storeWithPoints (t: Teardown): Promise<string> {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 4 * MiB)
  await writePatches(src, [{ offset: 0, length: 300_000 }])
  const storeDir = join(dir, 'store')
  const store = await RecoveryPointStore.open(storeDir, { create: true })
  const pool = scanPool(t)
  await cycle(store, pool, src)
  await writePatches(src, [{ offset: 2 * MiB, length: 200_000 }])
  await cycle(store, pool, src)
  await store.close()
  return storeDir
}

/** LevelDB's diagnostic log (LOG, rotated to LOG.old) and LOCK are written by any attempt to open it for writing. */
function withoutLevelLog (facts: EntryFacts[]): EntryFacts[] {
  return facts.filter(f => !/^index\/(LOG|LOG\.old|LOCK)$/.test(f.path))
}

async function packFiles (storeDir: string): Promise<string[]> {
  return (await readdir(join(storeDir, 'packs'))).sort()
}

/** Every way of opening that replicate, points and the replication receiver use. */
const OPENS = [
  { name: 'open', options: {} },
  { name: 'open for a cycle (create)', options: { create: true } },
  { name: 'read-only open', options: { readOnly: true } }
] as const

/**
 * Each damage, applied to a closed store with points. `opens`: LevelDB can
 * open what is left, and a writable open of LevelDB rotates its own LOG and
 * MANIFEST; then only the read-only open keeps every file as it was.
 */
const DAMAGES: Array<{ name: string, opens?: true, damage: (storeDir: string) => Promise<void> }> = [
  { name: 'index/CURRENT deleted', damage: async s => { await unlink(join(s, 'index', 'CURRENT')) } },
  { name: 'index/ missing', damage: async s => { await rm(join(s, 'index'), { recursive: true }) } },
  { name: 'index/ empty', damage: async s => { await rm(join(s, 'index'), { recursive: true }); await mkdir(join(s, 'index')) } },
  {
    name: 'an empty LevelDB in index/ (packs present, no schema)',
    opens: true,
    damage: async s => {
      await rm(join(s, 'index'), { recursive: true })
      const db = new Level(join(s, 'index'))
      await db.open()
      await db.close()
    }
  },
  {
    name: 'MANIFEST overwritten with garbage',
    damage: async s => {
      const current = (await readFile(join(s, 'index', 'CURRENT'), 'utf8')).trim()
      await writeFile(join(s, 'index', current), Buffer.alloc(4096, 0x5a))
    }
  }
]

for (const { name, opens, damage } of DAMAGES) {
  t.test(`${name}: CORE_STORE_DAMAGED for every open, and nothing is swept or written`, async t => {
    const storeDir = await storeWithPoints(t)
    const packs = await packFiles(storeDir)
    t.ok(packs.length >= 2)
    await damage(storeDir)
    const before = await treeFacts(storeDir)
    // Read-only first: it never changes a file.
    for (const { name: how, options } of [...OPENS].reverse()) {
      await t.rejects(RecoveryPointStore.open(storeDir, options), { code: 'CORE_STORE_DAMAGED' }, how)
      if (how === 'read-only open') t.same(await treeFacts(storeDir), before, `${how}: no file of the store changed`)
      else if (opens !== true) t.same(withoutLevelLog(await treeFacts(storeDir)), withoutLevelLog(before), `${how}: no file changed but LevelDB's own LOG`)
    }
    t.same(await packFiles(storeDir), packs, 'every pack is still there')
    t.same(await readdir(join(storeDir, 'images')), ['disk0.img'], 'and the image')
  })
}

t.test('a damaged index table: CORE_STORE_DAMAGED, no pack swept', async t => {
  const storeDir = await storeWithPoints(t)
  const packs = await packFiles(storeDir)
  // Compacting moves every entry into table files; then damage every table.
  const db = new Level(join(storeDir, 'index'))
  await db.open()
  await (db as unknown as { compactRange: (a: string, b: string) => Promise<void> }).compactRange('', '~')
  await db.close()
  const tables = (await readdir(join(storeDir, 'index'))).filter(f => f.endsWith('.ldb') || f.endsWith('.sst'))
  t.ok(tables.length > 0, 'the index has table files')
  for (const f of tables) {
    const path = join(storeDir, 'index', f)
    const size = (await stat(path)).size
    await writeFile(path, Buffer.alloc(size, 0xa5))
  }
  await t.rejects(RecoveryPointStore.open(storeDir, { create: true }), { code: 'CORE_STORE_DAMAGED' }, 'open for a cycle')
  // A read-only open may succeed (tables are read lazily); its first read fails with the code.
  const ro = await RecoveryPointStore.open(storeDir, { readOnly: true }).then(s => s, (err: unknown) => err)
  if (ro instanceof RecoveryPointStore) {
    await t.rejects(ro.listPoints(), { code: 'CORE_STORE_DAMAGED' }, 'read-only: listing points')
    await ro.close()
  } else {
    t.match(ro, { code: 'CORE_STORE_DAMAGED' }, 'read-only open')
  }
  t.same(await packFiles(storeDir), packs, 'every pack is still there')
})

t.test('a new store only in a missing or empty directory', async t => {
  const dir = await tempDir(t)
  const missing = join(dir, 'a', 'b')
  const s1 = await RecoveryPointStore.open(missing, { create: true })
  await s1.close()
  const empty = join(dir, 'empty')
  await mkdir(empty)
  const s2 = await RecoveryPointStore.open(empty, { create: true })
  await s2.close()
  const foreign = join(dir, 'home')
  await mkdir(foreign)
  await writeFile(join(foreign, 'notes.txt'), 'mine')
  await t.rejects(RecoveryPointStore.open(foreign, { create: true }), { code: 'CORE_STORE_INCOMPATIBLE' })
  t.same(await readdir(foreign), ['notes.txt'], 'nothing was added to the foreign directory')
  await t.rejects(RecoveryPointStore.open(join(dir, 'nothing')), { code: 'CORE_STORE_INCOMPATIBLE' }, 'no store to open')
  await t.rejects(RecoveryPointStore.open(join(dir, 'nothing'), { readOnly: true }), { code: 'CORE_STORE_INCOMPATIBLE' })
  await t.rejects(readdir(join(dir, 'nothing')), { code: 'ENOENT' }, 'and opening created nothing')
})

t.test('a store path that is a file, or empty', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'file')
  await writeFile(file, 'x')
  for (const { name, options } of OPENS) {
    await t.rejects(RecoveryPointStore.open(file, options), { code: 'CORE_STORE_NOT_DIRECTORY' }, name)
  }
  await t.rejects(RecoveryPointStore.open(join(file, 'below'), { create: true }), { code: 'CORE_STORE_NOT_DIRECTORY' }, 'a file on the path')
  await t.rejects(RecoveryPointStore.open('', { create: true }), { code: 'CORE_INVALID_ARGUMENT' })
})

t.test('a locked store: CORE_STORE_UNAVAILABLE, also for a read-only open', async t => {
  const storeDir = await storeWithPoints(t)
  const store = await RecoveryPointStore.open(storeDir)
  t.teardown(async () => { await store.close() })
  // Read-only first: LevelDB's failed second open in the same process drops
  // the process's POSIX lock (it closes a descriptor of LOCK), which only
  // matters within one process; test/appliance/cli-store.test.ts holds the
  // lock from another process.
  await t.rejects(RecoveryPointStore.open(storeDir, { readOnly: true }), { code: 'CORE_STORE_UNAVAILABLE' })
  await t.rejects(RecoveryPointStore.open(storeDir), { code: 'CORE_STORE_UNAVAILABLE' })
})

t.test('a read-only open changes no file and reads every point', async t => {
  const storeDir = await storeWithPoints(t)
  // A mode the writable open would tighten: the read-only one must not.
  await chmod(join(storeDir, 'packs'), 0o755)
  const before = await treeFacts(storeDir)
  const store = await RecoveryPointStore.open(storeDir, { readOnly: true })
  t.same((await store.listPoints()).map(p => p.id), [1, 2])
  await store.close()
  t.same(await treeFacts(storeDir), before)
  // And two read-only opens may run at once.
  const a = await RecoveryPointStore.open(storeDir, { readOnly: true })
  const b = await RecoveryPointStore.open(storeDir, { readOnly: true })
  t.equal((await b.listPoints()).length, 2)
  await a.close()
  await b.close()
})

t.test('LevelDB failures map to store codes (indexError, pure)', async t => {
  const level = (code: string, message: string): Error => Object.assign(new Error('Database failed to open', { cause: Object.assign(new Error(message), { code }) }), { code: 'LEVEL_DATABASE_NOT_OPEN' })
  const cases: Array<[Error, string]> = [
    [level('LEVEL_LOCKED', 'IO error: lock /s/index/LOCK: Resource temporarily unavailable'), 'CORE_STORE_UNAVAILABLE'],
    [level('LEVEL_LOCKED', 'IO error: lock /s/index/LOCK: already held by process'), 'CORE_STORE_UNAVAILABLE'],
    [level('LEVEL_IO_ERROR', 'IO error: /s/index/LOCK: Permission denied'), 'CORE_STORE_PERMISSION_DENIED'],
    [level('LEVEL_IO_ERROR', 'IO error: /s/index/000005.ldb: No space left on device'), 'CORE_WRITE_FAILED'],
    [level('LEVEL_CORRUPTION', 'Corruption: bad block contents'), 'CORE_STORE_DAMAGED'],
    [level('LEVEL_CORRUPTION', 'Corruption: CURRENT file does not end with newline'), 'CORE_STORE_DAMAGED'],
    [new Error('Invalid argument: /s/index/CURRENT: does not exist (create_if_missing is false)'), 'CORE_STORE_DAMAGED'],
    [Object.assign(new Error('Corruption: checksum mismatch'), { code: 'LEVEL_CORRUPTION' }), 'CORE_STORE_DAMAGED'],
    [level('LEVEL_IO_ERROR', 'IO error: /s/index/MANIFEST-000002: Input/output error'), 'CORE_STORE_UNAVAILABLE']
  ]
  for (const [err, code] of cases) t.equal(indexError(err, '/s/index', '/s').code, code, String((err.cause as Error | undefined)?.message ?? err.message))
  t.type(storeFailure(new TypeError('not ours'), '/s'), TypeError, 'other errors pass through storeFailure')
  t.match(storeFailure(cases[4]![0], '/s'), { code: 'CORE_STORE_DAMAGED' })
})

t.test('packs/ missing under an index that names packs: CORE_STORE_DAMAGED, no empty packs/ made', async t => {
  const storeDir = await storeWithPoints(t)
  await rm(join(storeDir, 'packs'), { recursive: true })
  await t.rejects(RecoveryPointStore.open(storeDir, { create: true }), { code: 'CORE_STORE_DAMAGED' })
  t.same((await readdir(storeDir)).sort(), ['images', 'index', 'points'])
})

t.test('a read-only store knows when a writer opened the store after it', async t => {
  const storeDir = await storeWithPoints(t)
  const ro = await RecoveryPointStore.open(storeDir, { readOnly: true })
  t.teardown(async () => { await ro.close() })
  t.equal(await ro.changedByWriter(), false)
  const writer = await RecoveryPointStore.open(storeDir)
  t.equal(await ro.changedByWriter(), true, 'while the writer has it open')
  await writer.close()
  t.equal(await ro.changedByWriter(), true, 'and after it closed')
  t.equal(await writer.changedByWriter(), false, 'a writable store: always false')
})
