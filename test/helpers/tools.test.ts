/**
 * requireTools: a test file whose tool is missing fails with one line naming
 * the Debian package, runs none of its tests, and never shows a spawn ENOENT.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireTools, toolPackages, toolPresent } from './tools.ts'
import { tempDir } from './fixtures.ts'

const TEST_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURE = join(TEST_DIR, 'fixtures', 'needs-tools.ts')

interface Run { status: number | null, stdout: string, stderr: string }

/** Runs the fixture test file needing `tools`, with PATH set to `path`. */
async function runFixture (tools: string[], path: string): Promise<Run> {
  const child = spawn(process.execPath, [FIXTURE, JSON.stringify(tools)], {
    env: { ...process.env, PATH: path, TAP: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const status = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { status, stdout, stderr }
}

const notOk = (out: string): string[] => out.split('\n').filter(l => /^\s*not ok /.test(l))

t.test('a missing tool: one failed line naming its package, no test runs, no ENOENT', async t => {
  const emptyPath = await tempDir(t)
  const r = await runFixture(['qemu-img'], emptyPath)
  t.equal(r.status, 1, 'the file fails')
  const failures = notOk(r.stdout)
  t.equal(failures.length, 1, 'exactly one failure line')
  t.match(failures[0], /qemu-img.*qemu-utils/, 'it names the tool and its Debian package')
  t.notMatch(r.stdout, /runs the first tool/, 'the file\'s tests did not run')
  t.notMatch(r.stdout + r.stderr, /ENOENT/, 'no spawn ENOENT')
})

t.test('several missing tools: still one line, naming each package once', async t => {
  const emptyPath = await tempDir(t)
  const r = await runFixture(['qemu-img', 'qemu-io', 'nbdkit'], emptyPath)
  t.equal(r.status, 1)
  const failures = notOk(r.stdout)
  t.equal(failures.length, 1, 'exactly one failure line')
  t.match(failures[0], /qemu-utils nbdkit/, 'both packages, qemu-utils once')
})

t.test('tools that are present: the file runs its tests', async t => {
  const r = await runFixture(['tar'], process.env.PATH ?? '')
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.equal(notOk(r.stdout).length, 0)
})

t.test('a tool missing from the table is a programming mistake', async t => {
  const calls: string[] = []
  const fake = { fail: (m: string) => calls.push(m), end: () => calls.push('end') }
  t.throws(() => { requireTools(fake, ['tandem-no-such-tool']) }, TypeError)
  t.same(calls, [], 'nothing was recorded as a test failure')
})

t.test('the table: every line names a package; lookups follow PATH and absolute paths', async t => {
  const table = toolPackages()
  t.ok(table.size > 0)
  for (const [tool, pkg] of table) t.match(pkg, /^[a-z0-9][a-z0-9+.-]+$/, `${tool} -> ${pkg} is a Debian package name`)
  t.equal(table.get('qemu-img'), 'qemu-utils')
  t.equal(toolPresent(process.execPath), true, 'an absolute path to an executable')
  t.equal(toolPresent('tandem-no-such-tool'), false)
  t.equal(toolPresent('node', dirname(process.execPath)), true, 'a name on the given PATH')
  t.equal(toolPresent('node', join(dirname(process.execPath), 'no-such-dir')), false)
})

/** Every .ts file under test/, relative to it. */
function testSources (dir = TEST_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => e.isDirectory()
    ? testSources(join(dir, e.name))
    : e.name.endsWith('.ts') ? [relative(TEST_DIR, join(dir, e.name))] : [])
}

t.test('every test file that spawns a tool of the table, itself or through a test helper, calls requireTools (browser tests: browserMissing)', async t => {
  const tools = [...toolPackages().keys()]
  const spawnsTool = (text: string): boolean => tools.some(tool => text.includes(`'${tool}'`))
  const files = testSources().filter(f => !f.startsWith('bench/') && !f.startsWith('fixtures/') && f !== join('helpers', 'tools.test.ts'))
  const text = new Map(files.map(f => [f, readFileSync(join(TEST_DIR, f), 'utf8')]))
  const imports = (body: string, file: string): boolean => new RegExp(`from '[^']*/${basename(file).replace('.', '\\.')}'`).test(body)
  // Helpers that spawn a tool, or import a helper that does (to a fixpoint).
  const helpers = files.filter(f => !f.endsWith('.test.ts') && f !== join('helpers', 'tools.ts') && spawnsTool(text.get(f)!))
  for (let grew = true; grew;) {
    const more = files.filter(f => !f.endsWith('.test.ts') && !helpers.includes(f) && helpers.some(h => imports(text.get(f)!, h)))
    helpers.push(...more)
    grew = more.length > 0
  }
  t.ok(helpers.length > 0, `helpers that spawn tools: ${helpers.join(', ')}`)
  for (const f of files.filter(f => f.endsWith('.test.ts'))) {
    const body = text.get(f)!
    if (!spawnsTool(body) && !helpers.some(h => imports(body, h))) continue
    // The browser tests are the one exception: they skip, naming the package, when chromium is missing (test/helpers/browser.ts).
    t.match(body, /^requireTools\(t, \[|\{ skip: browserMissing\(\) \}/m, `${f} calls requireTools (or, driving chromium, skips with browserMissing())`)
  }
})
