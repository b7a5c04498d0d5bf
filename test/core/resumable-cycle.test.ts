/**
 * Resumable staging (what a receiver needs to resume a cycle after a dropped
 * link): blocks staged up to a checkpoint survive closing the store, their
 * packs are not taken for orphans, the cycle resumes with its progress and
 * commits a point that restores exactly; an aborted stage leaves nothing.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Codec } from '../../core/compress.ts'
import { hashBlock, zeroHash } from '../../core/hash.ts'
import { materializePoint } from '../../core/restore.ts'
import { RecoveryPointStore, StagedCycle } from '../../core/store/index.ts'
import type { Manifest } from '../../core/types.ts'
import { fileHash, tempDir } from '../helpers/fixtures.ts'
import { writeFile } from 'node:fs/promises'

const BS = 65536
const STAGE = 'ab'.repeat(16)

/** A disk of `n` random blocks (every third one zero), as blocks and a manifest. */
function disk (n: number): { blocks: Buffer[], manifest: Manifest } {
  const blocks = Array.from({ length: n }, (_, i) => i % 3 === 2 ? Buffer.alloc(BS) : randomBytes(BS))
  const hashes = new Uint8Array(n * 32)
  blocks.forEach((b, i) => { hashes.set(i % 3 === 2 ? zeroHash(BS) : hashBlock(b), i * 32) })
  return { blocks, manifest: { size: n * BS, blockSize: BS, hashes } }
}
const incoming = (b: Buffer): { hash: Uint8Array, codec: Codec, rawLength: number, data: Uint8Array } => ({ hash: hashBlock(b), codec: Codec.RAW, rawLength: BS, data: b })

/** Stages every non-zero block into a resumed cycle and commits it; returns how many were new and the point. */
async function finish (cycle: StagedCycle, nonZero: Buffer[], manifest: Manifest): Promise<{ added: number, point: number }> {
  const added = await cycle.putBlocks(nonZero.map(incoming))
  cycle.setDisk('disk0', manifest)
  return { added, point: (await cycle.commit({ time: 1, consistency: 'crash' })).id }
}

/** True when point `id` of the store restores to exactly these blocks. */
async function restoresTo (store: RecoveryPointStore, id: number, blocks: Buffer[], dir: string): Promise<boolean> {
  const out = join(dir, `out-${id}.img`)
  await materializePoint(store, id, 'disk0', out)
  const src = join(dir, `src-${id}.img`)
  await writeFile(src, Buffer.concat(blocks))
  return await fileHash(out) === await fileHash(src)
}

t.test('checkpoint, close, resume, commit', async t => {
  const dir = await tempDir(t)
  const storeDir = join(dir, 'store')
  const { blocks, manifest } = disk(30)
  const nonZero = blocks.filter((_, i) => i % 3 !== 2)
  let store = await RecoveryPointStore.open(storeDir, { create: true })
  const first = new StagedCycle(store, STAGE)
  await first.putBlocks(nonZero.slice(0, 12).map(incoming))
  await first.checkpoint(3)
  await store.close() // the link dropped, the receiver restarted

  store = await RecoveryPointStore.open(storeDir)
  t.teardown(async () => { await store.close() })
  t.equal((await readdir(store.packsDir)).length, 1, 'the staged pack survived the orphan sweep')
  const resumed = await StagedCycle.resume(store, STAGE)
  t.ok(resumed)
  t.equal(resumed!.progress, 3, 'the progress recorded with the checkpoint')
  const { added, point } = await finish(resumed!.cycle, nonZero, manifest)
  t.equal(added, nonZero.length - 12, 'already staged blocks are not stored again')
  t.equal(await StagedCycle.resume(store, STAGE), undefined, 'the stage is gone after the commit')
  t.ok(await restoresTo(store, point, blocks, dir), 'the point restores exactly')
})

t.test('an aborted stage leaves no records and no packs', async t => {
  const dir = await tempDir(t)
  const store = await RecoveryPointStore.open(join(dir, 'store'), { create: true })
  t.teardown(async () => { await store.close() })
  const { blocks } = disk(6)
  const c = new StagedCycle(store, STAGE)
  await c.putBlocks(blocks.filter((_, i) => i % 3 !== 2).map(incoming))
  await c.checkpoint(1)
  const resumed = await StagedCycle.resume(store, STAGE)
  await resumed!.cycle.abort()
  t.equal(await StagedCycle.resume(store, STAGE), undefined)
  t.same(await readdir(store.packsDir), [])
  t.same(await store.listPoints(), [])
})

t.test('a commit missing blocks the resumed stage does not have is refused', async t => {
  const dir = await tempDir(t)
  const store = await RecoveryPointStore.open(join(dir, 'store'), { create: true })
  t.teardown(async () => { await store.close() })
  const { blocks, manifest } = disk(9)
  const c = new StagedCycle(store, STAGE)
  await c.putBlocks([incoming(blocks[0]!)])
  await c.checkpoint(1)
  const resumed = await StagedCycle.resume(store, STAGE)
  resumed!.cycle.setDisk('disk0', manifest)
  await t.rejects(resumed!.cycle.commit({ time: 1, consistency: 'crash' }), { code: 'CORE_COMMIT_INCOMPLETE' })
  t.same(await store.listPoints(), [])
  t.throws(() => new StagedCycle(store, 'not-hex'), TypeError)
})

t.test('checkpoints keep one pack open, carry journal entries, and a resume cuts what followed the last one', async t => {
  const dir = await tempDir(t)
  const storeDir = join(dir, 'store')
  const { blocks, manifest } = disk(30)
  const nonZero = blocks.filter((_, i) => i % 3 !== 2)
  let store = await RecoveryPointStore.open(storeDir, { create: true })
  const first = new StagedCycle(store, STAGE)
  for (let k = 0; k < 4; k++) {
    await first.putBlocks(nonZero.slice(k * 3, k * 3 + 3).map(incoming))
    await first.checkpoint(k + 1, new Uint8Array([k, 7]))
  }
  t.equal((await readdir(store.packsDir)).length, 1, 'frequent checkpoints share one open pack')
  await first.putBlocks(nonZero.slice(12, 16).map(incoming)) // staged, never checkpointed
  await first.release() // the link dropped
  await store.close()

  store = await RecoveryPointStore.open(storeDir)
  t.teardown(async () => { await store.close() })
  const resumed = await StagedCycle.resume(store, STAGE)
  t.equal(resumed!.progress, 4)
  t.same(resumed!.journal.map(j => [...j]), [[0, 7], [1, 7], [2, 7], [3, 7]], 'journal entries come back in order')
  const { added, point } = await finish(resumed!.cycle, nonZero, manifest)
  t.equal(added, nonZero.length - 12, 'blocks after the last checkpoint are staged again')
  t.ok(await restoresTo(store, point, blocks, dir), 'the point restores exactly from the truncated pack and the new one')
})

t.test('release keeps the stage for a resume in the same process and drops unrecorded packs', async t => {
  const dir = await tempDir(t)
  const store = await RecoveryPointStore.open(join(dir, 'store'), { create: true })
  t.teardown(async () => { await store.close() })
  const { blocks } = disk(6)
  const nonZero = blocks.filter((_, i) => i % 3 !== 2)
  const c = new StagedCycle(store, STAGE)
  await c.putBlocks(nonZero.slice(0, 2).map(incoming))
  await c.checkpoint(1)
  await c.release()
  await c.release()
  const again = await StagedCycle.resume(store, STAGE)
  t.equal(again!.progress, 1)
  const unstaged = new StagedCycle(store)
  await unstaged.putBlocks([incoming(nonZero[3]!)])
  await unstaged.release() // without a stage id, release is abort
  t.equal((await readdir(store.packsDir)).length, 1, 'only the checkpointed pack is left')
  await again!.cycle.abort()
})
