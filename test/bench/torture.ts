/**
 * `npm run torture -- --steps N --seed S [--no-header-flips] [--no-healing] [--no-index-damage] [--keep]`:
 * the store torture (test/helpers/torture.ts, docs/torture.md) for many
 * steps. Prints progress every few hundred steps (--every) and the counts at
 * the end; exits 1 on an invariant break, printing the seed and step that
 * reproduce it. Header flips, healing and index damage (repaired with
 * rebuildIndex, `tandem store repair`) are on unless turned off.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ScanPool } from '../../core/scan/index.ts'
import { rebuildIndex } from '../../core/store/repair.ts'
import { runTorture, tortureTmp, TortureBreak, type RepairFn, type TortureCounts } from '../helpers/torture.ts'

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    'no-header-flips': { type: 'boolean', default: false },
    'no-healing': { type: 'boolean', default: false },
    'no-index-damage': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    every: { type: 'string', default: '250' }
  }
})
const steps = Number(values.steps)
const seed = Number(values.seed ?? Date.now() % 1_000_000)
const every = Number(values.every)
if (!Number.isSafeInteger(steps) || steps < 1 || !Number.isSafeInteger(seed) || !Number.isSafeInteger(every) || every < 1) {
  console.error('usage: npm run torture -- [--steps N] [--seed S] [--no-header-flips] [--no-healing] [--no-index-damage] [--keep] [--every N]')
  process.exit(2)
}

const repair: RepairFn = async dir => { await rebuildIndex(dir) }

const format = (c: TortureCounts): string => Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')
const flags = ['no-header-flips', 'no-healing', 'no-index-damage'].filter(f => values[f as 'no-healing'] === true).map(f => ` --${f}`).join('')
const dir = await mkdtemp(join(await tortureTmp(), 'tandem-torture-'))
const pool = new ScanPool({ threads: 1 })
const started = Date.now()
console.log(`torture: seed ${seed}, ${steps} steps, in ${dir}`)
let exitCode = 0
try {
  const counts = await runTorture({
    seed,
    steps,
    dir,
    pool,
    headerFlips: !values['no-header-flips'],
    healing: !values['no-healing'],
    ...(values['no-index-damage'] ? {} : { indexDamage: true, repair }),
    onStep: (step, c) => { if (step % every === 0) console.log(`step ${step}/${steps} (${Math.round((Date.now() - started) / 1000)} s): ${format(c)}`) }
  })
  console.log(`done: ${format(counts)}`)
} catch (err) {
  exitCode = 1
  if (err instanceof TortureBreak) {
    console.error(`TORTURE BREAK: ${err.message}`)
    if (err.cause !== undefined) console.error(err.cause)
    console.error(`reproduce: npm run torture -- --seed ${err.seed} --steps ${err.step}${flags} --keep`)
  } else {
    console.error(err)
  }
} finally {
  await pool.stop()
  if (values.keep || exitCode !== 0) console.log(`store left in ${dir}`)
  else await rm(dir, { recursive: true, force: true })
}
process.exit(exitCode)
