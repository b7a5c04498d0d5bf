/**
 * `npm run torture -- --steps N --seed S [--header-flips] [--healing] [--index-damage] [--keep]`:
 * the store torture (test/helpers/torture.ts, docs/torture.md) for many
 * steps. Prints progress every few hundred steps (--every) and the counts at
 * the end; exits 1 on an invariant break, printing the seed and step that
 * reproduce it. --index-damage needs core/store/repair.ts (`tandem store
 * repair`, exporting rebuildIndex(dir)); it is loaded only then.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ScanPool } from '../../core/scan/index.ts'
import { runTorture, tortureTmp, TortureBreak, type RepairFn, type TortureCounts } from '../helpers/torture.ts'

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    'header-flips': { type: 'boolean', default: false },
    healing: { type: 'boolean', default: false },
    'index-damage': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    every: { type: 'string', default: '250' }
  }
})
const steps = Number(values.steps)
const seed = Number(values.seed ?? Date.now() % 1_000_000)
const every = Number(values.every)
if (!Number.isSafeInteger(steps) || steps < 1 || !Number.isSafeInteger(seed) || !Number.isSafeInteger(every) || every < 1) {
  console.error('usage: npm run torture -- [--steps N] [--seed S] [--header-flips] [--keep]')
  process.exit(2)
}

/** The store's index rebuild, when the engine has one (loaded by path so that this file compiles without it). */
async function loadRepair (): Promise<RepairFn> {
  const path = '../../core/store/repair.ts'
  const mod = await import(path) as { rebuildIndex?: (dir: string) => Promise<unknown> }
  const rebuild = mod.rebuildIndex
  if (typeof rebuild !== 'function') throw new TypeError(`${path} exports no rebuildIndex(dir)`)
  return async dir => { await rebuild(dir) }
}

const format = (c: TortureCounts): string => Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')
const flags = ['header-flips', 'healing', 'index-damage'].filter(f => values[f as 'healing'] === true).map(f => ` --${f}`).join('')
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
    headerFlips: values['header-flips'],
    healing: values.healing,
    ...(values['index-damage'] ? { indexDamage: true, repair: await loadRepair() } : {}),
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
