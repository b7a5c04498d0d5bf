/**
 * The `tandem` command and the store it is aimed at (issue 11): read-only
 * commands change no file of the store; an empty store path is a usage
 * error; a damaged index, a file, a foreign directory, a permission problem
 * and another process's lock each get their own code and lose nothing; the
 * store's files are private (0700 / 0600). Asserts codes, never wording.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { treeFacts } from '../helpers/store-tree.ts'
import { ROOT, tandem, tandemOk } from '../helpers/tandem-cli.ts'

const MiB = 2 ** 20

/** A store with two points of one disk `vm`, made by the CLI; returns the paths. */
async function makeStore (t: Test): Promise<{ dir: string, store: string, image: string }> {
  const dir = await tempDir(t)
  const image = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await sparseFile(image, 4 * MiB)
  await writePatches(image, [{ offset: 0, length: 300_000 }])
  await tandemOk(['replicate', image, '--store', store])
  await writePatches(image, [{ offset: 2 * MiB, length: 100_000 }])
  await tandemOk(['replicate', image, '--store', store])
  return { dir, store, image }
}

t.test('read-only commands change no file of the store', async t => {
  const { dir, store } = await makeStore(t)
  // Loose modes from an older Tandem: a read must not even tighten them.
  await chmod(store, 0o755)
  await chmod(join(store, 'packs'), 0o755)
  const before = await treeFacts(store)
  const out = join(dir, 'out')
  await mkdir(out)
  const reads: Array<{ args: string[], status: number }> = [
    { args: ['points'], status: 0 },
    { args: ['points', '--json'], status: 0 },
    { args: ['verify'], status: 0 },
    { args: ['verify', '--point', 'all', '--image', '--json'], status: 0 },
    { args: ['restore', '--point', '1', '--out', join(out, 'p1.img')], status: 0 },
    { args: ['restore', '--point', 'latest', '--out', join(out, 'p1.img')], status: 1 }, // exists: CORE_OUTPUT_EXISTS
    { args: ['restore', '--point', '99', '--out', join(out, 'p99.img')], status: 1 },
    { args: ['seed', 'export', '--point', 'latest', '--out', join(out, 'vm.seed')], status: 0 },
    { args: ['prune', '--keep', '0'], status: 1 } // no --yes: APP_CONFIRMATION_REQUIRED, nothing changes
  ]
  for (const { args, status } of reads) {
    const r = await tandem([...args, '--store', store])
    t.equal(r.status, status, `${args.join(' ')}: exit status ${status} (${r.code ?? 'no error'})`)
    t.same(await treeFacts(store), before, `${args.join(' ')}: every file of the store is as it was`)
  }
  // The same through TANDEM_STORE.
  await tandemOk(['points'], { env: { TANDEM_STORE: store } })
  t.same(await treeFacts(store), before, 'points via TANDEM_STORE')
})

t.test('an empty store path is a usage error and creates nothing', async t => {
  const { image } = await makeStore(t)
  const cwd = await tempDir(t)
  for (const args of [['points', '--store', ''], ['replicate', image, '--store', ''], ['store', 'repair', '--store', ''], ['store', 'verify', '--store', '']]) {
    const r = await tandem(args, { cwd })
    t.equal(r.status, 2, `${args.join(' ')}`)
    t.equal(r.code, 'APP_USAGE')
  }
  for (const args of [['points'], ['replicate', image]]) {
    const r = await tandem(args, { cwd, env: { TANDEM_STORE: '' } })
    t.equal(r.status, 2, `${args.join(' ')} with TANDEM_STORE=""`)
    t.equal(r.code, 'APP_USAGE')
  }
  t.same(await readdir(cwd), [], 'nothing was created in the working directory')
})

t.test('a store is created only in a missing or empty directory', async t => {
  const { dir, image } = await makeStore(t)
  const home = join(dir, 'home')
  await mkdir(home)
  await writeFile(join(home, 'notes.txt'), 'mine')
  const before = await treeFacts(home)
  const r = await tandem(['replicate', image, '--store', home])
  t.equal(r.code, 'CORE_STORE_INCOMPATIBLE')
  t.same(await treeFacts(home), before, 'the directory is untouched')
  const empty = join(dir, 'empty')
  await mkdir(empty)
  await tandemOk(['replicate', image, '--store', empty])
  await tandemOk(['replicate', image, '--store', join(dir, 'new', 'store')])
})

t.test('--store naming a file: CORE_STORE_NOT_DIRECTORY', async t => {
  const { image } = await makeStore(t)
  for (const args of [['points', '--store', image], ['replicate', image, '--store', image], ['replicate', image, '--store', join(image, 'x')]]) {
    const r = await tandem(args)
    t.equal(r.status, 1)
    t.equal(r.code, 'CORE_STORE_NOT_DIRECTORY', args.join(' '))
  }
})

t.test('index/CURRENT deleted: points and replicate say CORE_STORE_DAMAGED and lose nothing', async t => {
  const { store, image } = await makeStore(t)
  await rm(join(store, 'index', 'CURRENT'))
  const before = await treeFacts(store)
  for (const args of [['points'], ['verify'], ['replicate', image], ['image'], ['prune', '--keep', '0', '--yes']]) {
    const r = await tandem([...args, '--store', store])
    t.equal(r.status, 1)
    t.equal(r.code, 'CORE_STORE_DAMAGED', args.join(' '))
    t.same(await treeFacts(store), before, `${args[0]}: the store is as it was`)
  }
})

t.test('index/ missing: replicate says CORE_STORE_DAMAGED and deletes no pack', async t => {
  const { store, image } = await makeStore(t)
  const packs = await readdir(join(store, 'packs'))
  await rm(join(store, 'index'), { recursive: true })
  const r = await tandem(['replicate', image, '--store', store])
  t.equal(r.status, 1)
  t.equal(r.code, 'CORE_STORE_DAMAGED')
  t.same(await readdir(join(store, 'packs')), packs, 'every pack is still there')
  t.same(await readdir(store), ['images', 'packs', 'points'], 'no new index')
})

t.test('a damaged index table: CORE_STORE_DAMAGED, not APP_UNEXPECTED', async t => {
  const { store, image } = await makeStore(t)
  const db = new Level(join(store, 'index'))
  await db.open()
  await (db as unknown as { compactRange: (a: string, b: string) => Promise<void> }).compactRange('', '~')
  await db.close()
  const index = join(store, 'index')
  for (const f of (await readdir(index)).filter(n => /\.(ldb|sst)$/.test(n))) {
    await writeFile(join(index, f), Buffer.alloc((await stat(join(index, f))).size, 0xa5))
  }
  const packs = await readdir(join(store, 'packs'))
  for (const args of [['points'], ['verify'], ['replicate', image]]) {
    const r = await tandem([...args, '--store', store])
    t.equal(r.code, 'CORE_STORE_DAMAGED', args.join(' '))
  }
  t.same(await readdir(join(store, 'packs')), packs, 'every pack is still there')
})

t.test('a store in use by another process: CORE_STORE_UNAVAILABLE for readers and writers', async t => {
  const { store, image } = await makeStore(t)
  const holder = spawn(process.execPath, [join(ROOT, 'test/appliance/fixtures/hold-store.ts'), store], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(async () => {
    holder.stdin.end()
    if (holder.exitCode === null) await once(holder, 'exit')
  })
  await once(holder.stdout, 'data')
  for (const args of [['points'], ['verify'], ['replicate', image]]) {
    const r = await tandem([...args, '--store', store])
    t.equal(r.code, 'CORE_STORE_UNAVAILABLE', args.join(' '))
  }
})

/** A user that is not root for the permission tests: `nobody` when we are root, else ourselves. */
const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}

t.test('permission denied on the index: CORE_STORE_PERMISSION_DENIED, not "in use"', async t => {
  const { dir, store, image } = await makeStore(t)
  // Reachable by the other user down to the index, which only root may enter.
  await chmod(dir, 0o755)
  await chmod(store, 0o755)
  await chmod(join(store, 'packs'), 0o755)
  await chmod(join(store, 'index'), 0o700)
  await chmod(image, 0o644)
  if (process.getuid?.() !== 0) await chmod(join(store, 'index'), 0o000)
  t.teardown(async () => { await chmod(join(store, 'index'), 0o700) })
  for (const args of [['points'], ['verify'], ['replicate', image]]) {
    const r = await tandem([...args, '--store', store], asUser)
    t.equal(r.status, 1)
    t.equal(r.code, 'CORE_STORE_PERMISSION_DENIED', args.join(' '))
  }
  // The index readable but its LOCK not writable: a writer is refused with the same code.
  await chmod(join(store, 'index'), 0o755)
  for (const f of await readdir(join(store, 'index'))) await chmod(join(store, 'index', f), 0o644)
  const r = await tandem(['replicate', image, '--store', store], asUser)
  t.equal(r.code, 'CORE_STORE_PERMISSION_DENIED', 'replicate with a read-only index')
  t.equal((await tandem(['points', '--store', store], asUser)).status, 0, 'while points, which writes nothing, works')
})

/** Every entry below the store: directories 0700, files 0600. */
async function checkPrivate (t: Test, store: string, when: string): Promise<void> {
  const loose = (await treeFacts(store)).filter(f => f.mode !== (f.type === 'dir' ? 0o700 : 0o600))
  t.same(loose.map(f => `${f.path} ${f.mode.toString(8)}`), [], `${when}: directories 0700, files 0600`)
}

t.test('the store is private: directories 0700, files 0600', async t => {
  const { store, image } = await makeStore(t)
  await checkPrivate(t, store, 'after two cycles')
  await rm(join(store, 'images'), { recursive: true })
  await tandemOk(['image', '--store', store])
  await checkPrivate(t, store, 'after an image update')
  await writePatches(image, [{ offset: 3 * MiB, length: 100_000 }])
  await tandemOk(['replicate', image, '--store', store])
  await tandemOk(['prune', '--keep', '0', '--interval', '0', '--yes', '--store', store])
  await checkPrivate(t, store, 'after a cycle and a prune')
  // An existing store with loose modes (an older Tandem) is tightened by the next writer.
  for (const f of await treeFacts(store)) await chmod(join(store, f.path), f.type === 'dir' ? 0o755 : 0o644)
  await tandemOk(['replicate', image, '--store', store])
  await checkPrivate(t, store, 'an old store after a cycle')
  t.equal(await fileHash(join(store, 'images', 'vm.img')), await fileHash(image))
})
