/**
 * The daemon's life as a process, through the CLI: it re-executes itself in
 * place with its process settings; SIGTERM and SIGINT stop it cleanly (exit
 * 0, socket removed); after kill -9 a restart keeps the
 * identity and the pairings and replaces the stale socket; a second
 * `tandem start` on the same data directory fails with APP_DAEMON_RUNNING;
 * with no daemon, `status` shows the offline facts (state stopped, exit 0)
 * and the commands that need the daemon fail with APP_DAEMON_NOT_RUNNING.
 */
import t, { type Test } from 'tap'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { MALLOC_ENV } from '../../../appliance/daemon/process-settings.ts'
import type { PairOpenResult, PeerInfo, StatusInfo } from '../../../appliance/service/index.ts'
import { V8_FLAGS } from '../../../appliance/v8-flags.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { start, startDaemon, tandemAt, type RunningDaemon, tandemJsonAt } from '../../helpers/tandem-cli.ts'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

async function initBox (t: Test, root: string, name: string): Promise<string> {
  const dir = join(root, name)
  t.equal((await tandemAt(dir, ['init', '--name', name, '--listen', LOOPBACK])).status, 0, `init ${name}`)
  return dir
}

const json = tandemJsonAt

const running = (t: Test, d: RunningDaemon): RunningDaemon => { t.teardown(async () => { await d.stop('SIGKILL') }); return d }

t.test('SIGTERM and SIGINT stop the daemon cleanly', async t => {
  const dir = await initBox(t, await tempDir(t), 'box')
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const daemon = running(t, await startDaemon(dir))
    t.ok((await stat(join(dir, 'api.sock'))).isSocket())
    const end = await daemon.stop(signal)
    t.equal(end.status, 0, `${signal}: exit 0`)
    await t.rejects(stat(join(dir, 'api.sock')), { code: 'ENOENT' }, `${signal}: the socket is removed`)
    t.match(end.stdout, /"msg":"daemon stopped"/, `${signal}: it logged its stop`)
  }
})

t.test('the daemon runs with its V8 options and malloc settings, in the process that was started', async t => {
  const dir = await initBox(t, await tempDir(t), 'tuned')
  const daemon = running(t, await startDaemon(dir))
  const status = await json<StatusInfo>(dir, ['status'])
  t.equal(status.pid, daemon.child.pid, 'the same pid: re-executed in place, not a child')
  const argv = (await readFile(`/proc/${status.pid}/cmdline`, 'utf8')).split('\0')
  for (const flag of V8_FLAGS) t.ok(argv.includes(flag), flag)
  // environ is the environment the process was executed with (the daemon later takes these out of its children's).
  const env = (await readFile(`/proc/${status.pid}/environ`, 'utf8')).split('\0')
  for (const [name, value] of Object.entries(MALLOC_ENV)) t.ok(env.includes(`${name}=${value}`), name)
  t.equal((await daemon.stop('SIGTERM')).status, 0, 'and stops as before')
})

t.test('with no daemon: status shows the offline facts, other commands say to start it', async t => {
  const dir = await initBox(t, await tempDir(t), 'quiet')
  const status = await json<StatusInfo>(dir, ['status'])
  t.match(status, { state: 'stopped', name: 'quiet', dataDir: dir, listen: [LOOPBACK], addresses: [], api: join(dir, 'api.sock'), startedAt: null, pid: null })
  t.match(status.peerId, /^12D3KooW/)
  const text = await tandemAt(dir, ['status'])
  t.equal(text.status, 0)
  t.match(text.stdout, /stopped/)
  for (const args of [['pair', 'list'], ['pair', 'open']]) {
    const r = await tandemAt(dir, args)
    t.equal(r.status, 1, args.join(' '))
    t.equal(r.code, 'APP_DAEMON_NOT_RUNNING')
    t.match(r.stderr, 'tandem start')
  }
  const uninitialized = join(dir, 'nothing-here')
  t.equal((await tandemAt(uninitialized, ['status'])).code, 'APP_DATA_NOT_INITIALIZED')
  t.equal((await tandemAt(uninitialized, ['start'])).code, 'APP_DATA_NOT_INITIALIZED')
  await t.rejects(stat(uninitialized), { code: 'ENOENT' }, 'neither created anything')
  const again = await tandemAt(dir, ['init'])
  t.equal(again.status, 1)
  t.equal(again.code, 'APP_DATA_ALREADY_INITIALIZED')
  t.equal((await json<StatusInfo>(dir, ['status'])).peerId, status.peerId, 'the refused init changed nothing')
})

t.test('a second daemon on the same data directory is refused', async t => {
  const dir = await initBox(t, await tempDir(t), 'only')
  running(t, await startDaemon(dir))
  const second = await start(['start', '--data', dir]).done
  t.equal(second.status, 1)
  t.equal(second.code, 'APP_DAEMON_RUNNING')
  t.equal((await json<StatusInfo>(dir, ['status'])).state, 'running', 'the first one still serves')
})

t.test('after kill -9 a restart keeps the identity and the pairings and replaces the stale socket', async t => {
  const root = await tempDir(t)
  const a = await initBox(t, root, 'box-a')
  const b = await initBox(t, root, 'box-b')
  const daemonA = running(t, await startDaemon(a))
  running(t, await startDaemon(b))
  const before = await json<StatusInfo>(a, ['status'])
  const open = await json<PairOpenResult>(a, ['pair', 'open'])
  await json(b, ['pair', 'join', '--pin', open.pin!, '--addr', open.addresses[0]!])
  const peersBefore = await json<PeerInfo[]>(a, ['pair', 'list'])
  t.equal(peersBefore.length, 1)

  const killed = await daemonA.stop('SIGKILL')
  t.equal(killed.status, null, 'killed')
  t.ok((await stat(join(a, 'api.sock'))).isSocket(), 'the killed daemon left its socket file')
  t.equal((await tandemAt(a, ['pair', 'list'])).code, 'APP_DAEMON_NOT_RUNNING', 'nobody answers on it')

  running(t, await startDaemon(a))
  const after = await json<StatusInfo>(a, ['status'])
  t.equal(after.state, 'running')
  t.equal(after.peerId, before.peerId, 'same identity')
  t.same((await json<PeerInfo[]>(a, ['pair', 'list'])).map(p => [p.peerId, p.name]), peersBefore.map(p => [p.peerId, p.name]), 'same pairings')
  t.equal((await stat(join(a, 'api.sock'))).mode & 0o777, 0o600, 'a fresh socket, 0600')
})
