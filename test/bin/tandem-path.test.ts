/**
 * `tandem` on PATH (docs/cli.md): bin/tandem.js runs when reached through a
 * symlink in a directory on PATH, from any working directory, as `npm link`
 * or a hand-made link installs it.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdir, readFile, symlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../helpers/fixtures.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = join(ROOT, 'bin', 'tandem.js')

interface Run { status: number | null, stdout: string, stderr: string }

/** Runs `tandem ...args` found on PATH = `pathDir` plus node's directory, in `cwd`. */
async function tandemOnPath (pathDir: string, cwd: string, args: string[]): Promise<Run> {
  const child = spawn('tandem', args, {
    cwd,
    env: { ...process.env, PATH: `${pathDir}:${dirname(process.execPath)}` },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const status = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  return { status, stdout, stderr }
}

t.test('a symlink on PATH to bin/tandem.js runs the command from another directory', async t => {
  const dir = await tempDir(t)
  const pathDir = join(dir, 'bin')
  await mkdir(pathDir)
  await symlink(BIN, join(pathDir, 'tandem'))
  const help = await tandemOnPath(pathDir, dir, ['--help'])
  t.equal(help.status, 0, help.stderr)
  t.match(help.stdout, /^Usage: tandem /m)
  t.match(help.stdout, /\breplicate\b/, 'lists the commands')
  const version = await tandemOnPath(pathDir, dir, ['--version'])
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  t.equal(version.stdout.trim(), pkg.version)
})

t.test('the npm link layout: a link to a link through a linked package directory', async t => {
  const dir = await tempDir(t)
  // npm link: PREFIX/lib/node_modules/tandem -> checkout, PREFIX/bin/tandem -> ../lib/node_modules/tandem/bin/tandem.js
  await mkdir(join(dir, 'lib', 'node_modules'), { recursive: true })
  await mkdir(join(dir, 'bin'))
  await symlink(ROOT, join(dir, 'lib', 'node_modules', 'tandem'))
  await symlink('../lib/node_modules/tandem/bin/tandem.js', join(dir, 'bin', 'tandem'))
  const help = await tandemOnPath(join(dir, 'bin'), dir, ['points', '--help'])
  t.equal(help.status, 0, help.stderr)
  t.match(help.stdout, /^Usage: tandem points /m)
})
