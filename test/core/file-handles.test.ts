/**
 * No file handle is left for the garbage collector to close (Node's DEP0137
 * warning, "Closing a FileHandle object on garbage collection"): each
 * scenario runs in a child process that forces full collections after it, and
 * its stderr must not show the warning.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../helpers/fixtures.ts'

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'handle-scenarios.ts')

async function runScenario (scenario: string, dir: string): Promise<{ status: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, scenario, dir], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const status = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { status, stdout, stderr }
}

for (const scenario of ['store closed during a resumable cycle', 'store closed during a cycle']) {
  t.test(`${scenario}: no file handle closed on garbage collection`, async t => {
    const r = await runScenario(scenario, await tempDir(t))
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout, 'done\n')
    t.notMatch(r.stderr, /DEP0137|on garbage collection/, 'no DEP0137 warning')
  })
}
