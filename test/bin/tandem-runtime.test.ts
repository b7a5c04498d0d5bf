/**
 * bin/tandem.js runs the CLI on the project's Node (docs/cli.md "Runtime"):
 * as a command, its shell line execs that Node, whatever `node` is on PATH;
 * started by another Node it runs the CLI in a child on that Node, passing
 * on the exit status and SIGTERM, and Ctrl-C ends the CLI once, cleanly;
 * without a Node that can run TypeScript it fails with
 * APP_RUNTIME_UNAVAILABLE.
 */
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, copyFile, mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { AppErrorCode } from '../../appliance/errors.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { ROOT, start, tandem, tandemOk } from '../helpers/tandem-cli.ts'

const BIN = join(ROOT, 'bin', 'tandem.js')
const MiB = 1024 * 1024

/**
 * A Node other than the project's: the one that runs npm (the machine's),
 * else the first other `node` on PATH; undefined when the machine has none.
 */
async function otherNode (): Promise<string | undefined> {
  const own = await realpath(process.execPath)
  const candidates = [process.env.npm_node_execpath, ...(process.env.PATH ?? '').split(delimiter).map(d => join(d, 'node'))]
  for (const candidate of candidates) {
    if (candidate === undefined) continue
    const real = await realpath(candidate).catch(() => undefined)
    if (real === undefined || real === own) continue
    const version = execFileSync(real, ['--version'], { encoding: 'utf8' }).trim()
    if (version !== process.version) return real
  }
  return undefined
}

const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
const older = await otherNode()
const noOther = older === undefined ? 'no Node other than the project\'s on this machine' : false

t.test('as a command, the shell line runs the project\'s Node, not the `node` on PATH', async t => {
  const dir = await tempDir(t)
  const pathDir = join(dir, 'bin')
  await mkdir(pathDir)
  await symlink(BIN, join(pathDir, 'tandem'))
  // A `node` that fails: the command must not reach it.
  await writeFile(join(pathDir, 'node'), '#!/bin/sh\nexit 97\n')
  await chmod(join(pathDir, 'node'), 0o755)
  const child = spawn('tandem', ['--version'], {
    cwd: dir,
    env: { ...process.env, PATH: `${pathDir}${delimiter}${process.env.PATH ?? ''}` },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  const [status] = await once(child, 'close') as [number | null]
  t.equal(status, 0)
  t.equal(stdout.trim(), pkg.version)
})

t.test('started by another Node, it runs the CLI on the project\'s and passes its exit status on', { skip: noOther }, async t => {
  const node = older!
  t.comment(`other Node: ${node}`)
  const help = await tandem(['--help'], { node })
  t.equal(help.status, 0, help.stderr)
  t.match(help.stdout, /^Usage: tandem /m)
  const dir = await tempDir(t)
  const failed = await tandem(['points', '--store', join(dir, 'none')], { node })
  t.equal(failed.status, 1)
  t.equal(failed.code, 'CORE_STORE_INCOMPATIBLE')
  const usage = await tandem(['points', '--store', ''], { node })
  t.equal(usage.status, 2)
  t.equal(usage.code, 'APP_USAGE')
})

/** A store with one point and a changed source, so that the next `replicate` scans. */
async function storeToScan (t: Test): Promise<string[]> {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await sparseFile(src, 16 * MiB)
  await writePatches(src, [{ offset: 0, length: MiB }])
  await tandemOk(['replicate', src, '--store', store])
  await writePatches(src, [{ offset: 0, length: 16 * MiB }])
  return ['replicate', src, '--store', store]
}

t.test('started by another Node: SIGTERM to it reaches the CLI, which aborts cleanly', { skip: noOther }, async t => {
  const run = start(await storeToScan(t), { node: older!, env: { TANDEM_TEST_PAUSE_AT: 'scan' } })
  await run.waitFor('TANDEM_TEST_PAUSED scan')
  run.child.kill('SIGTERM')
  const r = await run.done
  t.equal(r.status, 1)
  t.equal(r.code, 'CORE_ABORTED')
})

t.test('started by another Node: Ctrl-C (SIGINT to the process group) ends the CLI once, cleanly', { skip: noOther }, async t => {
  const run = start(await storeToScan(t), { node: older!, detached: true, env: { TANDEM_TEST_PAUSE_AT: 'scan' } })
  await run.waitFor('TANDEM_TEST_PAUSED scan')
  process.kill(-run.child.pid!, 'SIGINT')
  const r = await run.done
  t.equal(r.status, 1, 'not killed by a second SIGINT')
  t.equal(r.code, 'CORE_ABORTED')
})

/** `launcher --version` on this test's Node with type stripping turned off. */
async function withoutStripping (launcher: string): Promise<{ status: number | null, code: string | undefined }> {
  const child = spawn(process.execPath, ['--no-experimental-strip-types', launcher, '--version'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const [status] = await once(child, 'close') as [number | null]
  return { status, code: /^error ([A-Z0-9_]+):/m.exec(stderr)?.[1] }
}

t.test('type stripping turned off in the project\'s Node: APP_RUNTIME_UNAVAILABLE', async t => {
  const r = await withoutStripping(BIN)
  t.equal(r.status, 1)
  t.equal(r.code, AppErrorCode.APP_RUNTIME_UNAVAILABLE)
})

t.test('no project Node installed and a Node that cannot strip types: APP_RUNTIME_UNAVAILABLE', async t => {
  // A checkout without node_modules: the launcher alone.
  const dir = await tempDir(t)
  await mkdir(join(dir, 'bin'))
  const bin = join(dir, 'bin', 'tandem.js')
  await copyFile(BIN, bin)
  const r = await withoutStripping(bin)
  t.equal(r.status, 1)
  t.equal(r.code, AppErrorCode.APP_RUNTIME_UNAVAILABLE)
})
