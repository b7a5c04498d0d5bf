/**
 * The daemon's relaunch with its V8 options and malloc settings, as a pure
 * table: what it executes (its options after the process's own and before
 * the script, the MALLOC_ variables added, the marker naming them), when it
 * does not (already relaunched, or everything given), that what the
 * operator gave wins, and which variables the daemon takes back out of its
 * children's environment (never one the marker names but the relaunch does
 * not own).
 */
import t from 'tap'
import { MALLOC_ENV, RELAUNCH_ENV, daemonRelaunch, relaunchEnvNames, type ProcessFacts } from '../../../appliance/daemon/process-settings.ts'
import { V8_FLAGS } from '../../../appliance/v8-flags.ts'

const NODE = '/opt/node/bin/node'
const ARGV = [NODE, '/opt/tandem/bin/tandem.js', 'start', '--data', '/var/lib/tandem']
const facts = (over: Partial<ProcessFacts> = {}): ProcessFacts => ({ execPath: NODE, execArgv: [], argv: ARGV, env: { PATH: '/usr/bin', HOME: '/root' }, ...over })

t.test('a plain process is executed again with every setting, once', async t => {
  const again = daemonRelaunch(facts({ execArgv: ['--trace-warnings'] }))
  t.same(again, {
    file: NODE,
    args: [NODE, '--trace-warnings', ...V8_FLAGS, ...ARGV.slice(1)],
    env: { PATH: '/usr/bin', HOME: '/root', ...MALLOC_ENV, [RELAUNCH_ENV]: Object.keys(MALLOC_ENV).join(',') }
  })
  t.equal(daemonRelaunch(facts({ execArgv: again!.args.slice(1, -ARGV.length + 1), env: again!.env })), undefined, 'the relaunched process runs on')
  t.equal(daemonRelaunch(facts({ env: { [RELAUNCH_ENV]: '' } })), undefined, 'a relaunch never relaunches, whatever it lacks')
})

t.test('what the operator gave is kept as given', async t => {
  const rows: Array<{ execArgv: string[], env: Record<string, string>, flags: string[], added: string[] }> = [
    { execArgv: [], env: { MALLOC_ARENA_MAX: '4' }, flags: [...V8_FLAGS], added: ['MALLOC_MMAP_THRESHOLD_'] },
    { execArgv: ['--max-semi-space-size=8'], env: {}, flags: V8_FLAGS.filter(f => !f.startsWith('--max-semi-space-size')), added: Object.keys(MALLOC_ENV) },
    { execArgv: ['--max_semi_space_size=8', '--incremental-marking'], env: {}, flags: ['--single-threaded-gc', '--expose-gc'], added: Object.keys(MALLOC_ENV) }
  ]
  for (const row of rows) {
    const again = daemonRelaunch(facts({ execArgv: row.execArgv, env: row.env }))
    t.same(again?.args, [NODE, ...row.execArgv, ...row.flags, ...ARGV.slice(1)], `options after ${row.execArgv.join(' ')}`)
    t.equal(again?.env[RELAUNCH_ENV], row.added.join(','), 'the marker names only what was added')
    for (const [name, value] of Object.entries(row.env)) t.equal(again?.env[name], value, `${name} as given`)
  }
  t.equal(daemonRelaunch(facts({ execArgv: [...V8_FLAGS], env: { ...MALLOC_ENV } })), undefined, 'all given: no relaunch')
})

t.test('the daemon takes back only what its relaunch added', async t => {
  const rows: Array<[Record<string, string>, string[]]> = [
    [{}, []],
    [{ [RELAUNCH_ENV]: '' }, [RELAUNCH_ENV]],
    [{ [RELAUNCH_ENV]: 'MALLOC_MMAP_THRESHOLD_' }, [RELAUNCH_ENV, 'MALLOC_MMAP_THRESHOLD_']],
    [{ [RELAUNCH_ENV]: 'MALLOC_ARENA_MAX,MALLOC_MMAP_THRESHOLD_' }, [RELAUNCH_ENV, 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_']],
    [{ [RELAUNCH_ENV]: 'PATH,HOME,MALLOC_ARENA_MAX' }, [RELAUNCH_ENV, 'MALLOC_ARENA_MAX']]
  ]
  for (const [env, names] of rows) t.same(relaunchEnvNames(env), names, JSON.stringify(env))
})
