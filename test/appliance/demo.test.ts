/**
 * The README's main command, `npm run demo`: two real daemons pair and
 * replicate the demo VM; with `--cycles` it ends by itself, both daemons
 * stopped, and nothing is left behind.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../helpers/tandem-cli.ts'

async function demo (args: string[]): Promise<{ status: number | null, out: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'appliance/demo.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
  const status = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { status, out }
}

t.test('two boxes pair and replicate; the demo ends cleanly after the cycles asked for', async t => {
  const { status, out } = await demo(['--frequency', '2s', '--cycles', '2'])
  t.equal(status, 0, out)
  t.match(out, /cycle 2 replicated at/)
  t.match(out, /recovery points/)
  t.match(out, /Demo OK: both boxes stopped cleanly/)
  const dir = /Working in \$DEMO = (\S+)/.exec(out)?.[1]
  t.ok(dir !== undefined && !existsSync(dir), 'its directory is removed')
})

t.test('a bad option is a usage error', async t => {
  const { status, out } = await demo(['--cycles', 'many'])
  t.equal(status, 2)
  t.match(out, /--cycles N/)
})
