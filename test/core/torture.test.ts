/**
 * The store torture (issue 11): a seeded random run of cycles, prunes, seed
 * round trips, kill -9 at chosen durable events and pack damage, with the
 * invariants of test/helpers/torture.ts checked after every step. About 200
 * steps here (TANDEM_TORTURE_STEPS overrides, TEST_SEED changes the seed);
 * `npm run torture -- --steps N --seed S` runs many more.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { runTorture, tortureTmp } from '../helpers/torture.ts'
import { scanPool } from '../helpers/engine.ts'

const seed = Number(process.env.TEST_SEED ?? 11)
const steps = Number(process.env.TANDEM_TORTURE_STEPS ?? 200)

t.test(`${steps} torture steps, seed ${seed}: every invariant holds after each`, async t => {
  const dir = await mkdtemp(join(await tortureTmp(), 'tandem-torture-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const counts = await runTorture({ seed, steps, dir, pool: scanPool(t) })
  t.comment(`seed ${seed}: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  t.equal(counts.steps, steps, 'every step ran')
  t.equal(counts.pointsLostUndamaged, 0, 'no point lost without a destroyed block')
  t.ok(counts.kills > 0 && counts.damages > 0 && counts.prunes > 0, 'the run killed, damaged and pruned')
})
