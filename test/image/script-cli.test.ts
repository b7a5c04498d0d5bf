/**
 * image/script-cli.ts: an image script refuses arguments before it starts
 * anything, and kills what it started (QEMU; here a `sleep`) however it ends:
 * SIGTERM, SIGINT, or its stdout closed under it (EPIPE, `| head`).
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const CHILD = fileURLToPath(new URL('./fixtures/script-cli-child.ts', import.meta.url))

function start (args: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
}

/** The pid of the fixture's `sleep`, from its stderr. */
async function sleepPid (script: ChildProcess): Promise<number> {
  let err = ''
  for await (const chunk of script.stderr!) {
    err += String(chunk)
    const m = /sleep (\d+)/.exec(err)
    if (m !== null) return Number(m[1])
  }
  throw new Error(`no pid: ${err}`)
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/** Waits (bounded) for `pid` to be gone: SIGKILL is asynchronous. */
async function gone (pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise(resolve => { setTimeout(resolve, 50) })
  return !alive(pid)
}

for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
  t.test(`${signal}: the script exits ${status} and its child is killed`, async t => {
    const script = start()
    const pid = await sleepPid(script)
    t.ok(alive(pid), 'the child runs')
    script.kill(signal)
    const [code] = await once(script, 'exit') as [number | null]
    t.equal(code, status)
    t.ok(await gone(pid), 'the child is gone')
  })
}

t.test('its stdout closed under it (EPIPE): the script ends and its child is killed', async t => {
  const script = start([], { TANDEM_TEST_FLOOD: '1' })
  const pid = await sleepPid(script)
  script.stdout!.destroy()
  const [code] = await once(script, 'exit') as [number | null]
  t.not(code, 0)
  t.ok(await gone(pid), 'the child is gone')
})

t.test('arguments: --help is the usage and exit 0; anything else exit 2, before the child starts', async t => {
  for (const [args, status] of [[['--help'], 0], [['-h'], 0], [['--bogus'], 2], [['--help', 'x'], 2]] as const) {
    const script = start([...args])
    let out = ''
    let err = ''
    script.stdout!.on('data', chunk => { out += String(chunk) })
    script.stderr!.on('data', chunk => { err += String(chunk) })
    const [code] = await once(script, 'exit') as [number | null]
    t.equal(code, status, args.join(' '))
    t.match(status === 0 ? out : err, /usage: script-cli-child\.ts/)
    t.notMatch(err, /sleep \d+/, 'nothing started')
  }
})
