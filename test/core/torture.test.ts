/**
 * The store torture (issue 11): a seeded random run of cycles, prunes, seed
 * round trips, kill -9 at chosen durable events and pack damage, with the
 * invariants of test/helpers/torture.ts checked after every step. About 200
 * steps here (TANDEM_TORTURE_STEPS overrides, TEST_SEED changes the seed);
 * `npm run torture -- --steps N --seed S` runs many more.
 */
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Codec } from '../../core/compress.ts'
import { hashBlock, toHex } from '../../core/hash.ts'
import { newPackId, PackWriter, RecordType } from '../../core/store/pack.ts'
import { rebuildIndex } from '../../core/store/repair.ts'
import { runTorture, tortureTmp } from '../helpers/torture.ts'
import { parsePack } from '../helpers/torture-io.ts'
import { scanPool } from '../helpers/engine.ts'
import { tempDir } from '../helpers/fixtures.ts'

t.test('the harness reads packs as the engine writes them (its damage lands on the record it names)', async t => {
  const dir = await tempDir(t)
  const w = await PackWriter.create(dir, newPackId(), 4096)
  const written = []
  for (const n of [1, 4096, 300]) {
    const data = Buffer.alloc(n, n % 251)
    const hash = hashBlock(data)
    written.push({ type: RecordType.BLOCK as number, hash: toHex(hash), dataOffset: (await w.append(hash, Codec.RAW, n, data)).offset, storedLength: n })
  }
  await w.seal()
  t.same(parsePack(await readFile(w.path)).filter(r => r.type === RecordType.BLOCK), written)
})

const seed = Number(process.env.TEST_SEED ?? 11)
const steps = Number(process.env.TANDEM_TORTURE_STEPS ?? 200)

t.test(`${steps} torture steps, seed ${seed}: every invariant holds after each`, async t => {
  const dir = await mkdtemp(join(await tortureTmp(), 'tandem-torture-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const counts = await runTorture({
    seed, steps, dir, pool: scanPool(t), headerFlips: true, healing: true, indexDamage: true,
    repair: async dir => { await rebuildIndex(dir) }
  })
  t.comment(`seed ${seed}: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  t.equal(counts.steps, steps, 'every step ran')
  t.equal(counts.pointsLostUndamaged, 0, 'no point lost without a destroyed block')
  t.ok(counts.kills > 0 && counts.damages > 0 && counts.prunes > 0 && counts.repairs > 0, 'the run killed, damaged, pruned and repaired')
})
