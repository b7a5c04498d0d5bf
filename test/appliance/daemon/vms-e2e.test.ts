/**
 * `tandem vm ...` end to end: a real daemon (`tandem start`) driven only
 * through the CLI. A manual VM on a raw file given by a relative path is
 * added and listed; the tiny test guest under TCG (direct kernel boot) is
 * added, started, refused removal while it runs, refused an unforced stop
 * it ignores (the guest does not answer ACPI), left running by a daemon
 * stopped with SIGTERM (which exits) and found again, found again after kill -9 of
 * the daemon (same pid), seen crashed when its QEMU is killed; started again
 * and stopped with --force (no crash event: a stop); then started again, the
 * daemon killed, QEMU killed while no daemon watched: the restarted daemon
 * says crashed. Each outcome is an event in the data directory's log.
 */
import t, { type Test } from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { VmInfo } from '../../../appliance/service/index.ts'
import { readEventLog } from '../../../appliance/events/index.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { sparseFile, tempDir } from '../../helpers/fixtures.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { startDaemon, tandemAt, type RunningDaemon } from '../../helpers/tandem-cli.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const MiB = 2 ** 20
/** `vm list` calls waiting for the daemon to see a killed QEMU end (it polls the pid every 50 ms; a call takes far longer). */
const MAX_POLLS = 20

interface Box {
  root: string
  dir: string
  daemon: () => RunningDaemon
  restart: () => Promise<void>
  kill9: () => Promise<void>
  /** SIGTERM; resolves with the exit status, or 'hung' when the daemon has not exited by HUNG_MS. */
  term: () => Promise<number | null | 'hung'>
}

/** A daemon stop with nothing in flight takes well under a second; one still there after this is not going to exit. */
const HUNG_MS = 20_000

async function box (t: Test): Promise<Box> {
  const root = await tempDir(t)
  const dir = join(root, 'data')
  const init = await tandemAt(dir, ['init', '--name', 'box', '--listen', '/ip4/127.0.0.1/tcp/0'])
  t.equal(init.status, 0, 'init')
  let daemon = await startDaemon(dir)
  t.teardown(async () => { await daemon.stop() })
  return {
    root,
    dir,
    daemon: () => daemon,
    restart: async () => { daemon = await startDaemon(dir) },
    kill9: async () => { await daemon.stop('SIGKILL') },
    term: async () => {
      const timer = new AbortController()
      const ended = await Promise.race([daemon.stop('SIGTERM').then(r => r.status), sleep(HUNG_MS, 'hung' as const, { signal: timer.signal })])
      timer.abort()
      if (ended === 'hung') await daemon.stop('SIGKILL')
      return ended
    }
  }
}

async function json<T> (dir: string, args: string[], cwd?: string): Promise<T> {
  const r = await tandemAt(dir, [...args, '--json'], cwd === undefined ? {} : { cwd })
  if (r.status !== 0) throw new Error(`tandem ${args.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

t.test('a manual VM added by a relative path is listed; it cannot be started', async t => {
  const b = await box(t)
  await sparseFile(join(b.root, 'files.raw'), 4 * MiB)
  const added = await json<VmInfo>(b.dir, ['vm', 'add', 'files', '--disk', 'files.raw', '--driver', 'manual'], b.root)
  t.match(added, { name: 'files', driver: 'manual', state: 'unmanaged' })
  const list = await json<VmInfo[]>(b.dir, ['vm', 'list'])
  t.match(list, [{ name: 'files', driver: 'manual', state: 'unmanaged', relationship: null, disks: [{ name: 'disk0', path: join(b.root, 'files.raw'), format: 'raw', size: 4 * MiB }] }], 'the path resolved against the CLI\'s cwd')
  t.match((await tandemAt(b.dir, ['vm', 'list'])).stdout, /files\s+unmanaged/, 'the text list')

  const start = await tandemAt(b.dir, ['vm', 'start', 'files'])
  t.equal(start.status, 1)
  t.equal(start.code, 'APP_VM_NOT_MANAGED')
  const missing = await tandemAt(b.dir, ['vm', 'add', 'other', '--disk', join(b.root, 'missing.raw')])
  t.equal(missing.code, 'APP_DISK_NOT_FOUND')
  const noDisk = await tandemAt(b.dir, ['vm', 'add', 'other'])
  t.equal(noDisk.status, 2, 'no --disk: usage')
  const badCpus = await tandemAt(b.dir, ['vm', 'add', 'other', '--disk', 'x.raw', '--cpus', 'two'])
  t.equal(badCpus.status, 2, 'a bad --cpus: usage')
  t.equal((await tandemAt(b.dir, ['vm', 'stop', 'files', '--timeout', '2m'])).status, 2, 'a stop window above 90 s: usage')
  t.equal((await tandemAt(b.dir, ['vm', 'remove', 'files'])).status, 0, 'removed')
  t.same(await json(b.dir, ['vm', 'list']), [])
})

const gone = async (pid: number): Promise<boolean> => (await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0))).length === 0

t.test('a qemu VM: start, stop refused then forced, adopted after kill -9, crashed when QEMU died unseen', async t => {
  const guest = await ensureTestGuest()
  const b = await box(t)
  const disk = join(b.root, 'system.raw')
  await sparseFile(disk, 16 * MiB)
  const pids: number[] = []
  t.teardown(() => { for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} } })
  const vm = async (): Promise<VmInfo> => (await json<VmInfo[]>(b.dir, ['vm', 'list']))[0]!

  await json(b.dir, ['vm', 'add', 'guest', '--disk', disk, '--memory', '128', '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', 'console=ttyS0 panic=-1'])
  t.match(await vm(), { name: 'guest', driver: 'qemu', state: 'stopped', memoryMiB: 128, boot: { kernel: guest.kernel, initrd: guest.initrd } })
  const started = await json<VmInfo>(b.dir, ['vm', 'start', 'guest'])
  t.equal(started.state, 'running')
  t.type(started.pid, 'number')
  pids.push(started.pid!)

  const remove = await tandemAt(b.dir, ['vm', 'remove', 'guest'])
  t.equal(remove.code, 'APP_VM_RUNNING', 'a running VM is not removed')
  const unforced = await tandemAt(b.dir, ['vm', 'stop', 'guest', '--timeout', '1s'])
  t.equal(unforced.code, 'APP_VM_STOP_TIMEOUT', 'the guest ignores ACPI: an unforced stop is refused')
  t.match(await vm(), { state: 'running', pid: started.pid }, 'and the VM still runs')

  t.equal(await b.term(), 0, 'SIGTERM: the daemon exits cleanly while its VM runs')
  t.notOk(await gone(started.pid!), 'QEMU outlives the daemon that stopped')
  await b.restart()
  t.match(await vm(), { state: 'running', pid: started.pid }, 'the restarted daemon found it again')
  await b.kill9()
  t.notOk(await gone(started.pid!), 'QEMU outlives the killed daemon')
  await b.restart()
  t.match(await vm(), { state: 'running', pid: started.pid }, 'the restarted daemon found it again by its pid and QMP socket')
  process.kill(started.pid!, 'SIGKILL')
  let seen = await vm()
  for (let i = 0; i < MAX_POLLS && seen.state === 'running'; i++) seen = await vm()
  t.match(seen, { state: 'crashed', pid: null }, 'QEMU killed under the daemon that adopted it: crashed')

  const second = await json<VmInfo>(b.dir, ['vm', 'start', 'guest'])
  pids.push(second.pid!)
  const stopped = await json<VmInfo>(b.dir, ['vm', 'stop', 'guest', '--force', '--timeout', '1s'])
  t.match(stopped, { state: 'stopped', pid: null }, 'a forced stop ends it')
  t.ok(await gone(second.pid!), 'its QEMU is gone')

  const again = await json<VmInfo>(b.dir, ['vm', 'start', 'guest'])
  pids.push(again.pid!)
  await b.kill9()
  process.kill(again.pid!, 'SIGKILL')
  while (!await gone(again.pid!)) await sleep(20)
  await b.restart()
  t.match(await vm(), { state: 'crashed', pid: null }, 'QEMU ended while no daemon watched: crashed')
  t.equal((await tandemAt(b.dir, ['vm', 'remove', 'guest'])).status, 0, 'a crashed VM can be removed')

  const events = (await readEventLog(join(b.dir, 'events'), { vm: 'guest' })).events
  const outcomes = events.map(e => [e.kind, e.phase === 'end' ? e.outcome : (e.data?.state ?? e.phase ?? null), e.code ?? null])
  t.same(outcomes, [
    ['vm-added', null, null],
    ['vm-start', 'begin', null],
    ['vm-start', 'ok', null],
    ['vm-stop', 'begin', null],
    ['vm-stop', 'failed', 'APP_VM_STOP_TIMEOUT'],
    ['vm-adopt', 'running', null],
    ['vm-adopt', 'running', null],
    ['vm-exited', 'crashed', null],
    ['vm-start', 'begin', null],
    ['vm-start', 'ok', null],
    ['vm-stop', 'begin', null],
    ['vm-stop', 'ok', null],
    ['vm-start', 'begin', null],
    ['vm-start', 'ok', null],
    ['vm-adopt', 'crashed', null],
    ['vm-removed', null, null]
  ], 'every start, stop, adoption, add and remove is an event')
})
