/**
 * A primary killed (SIGKILL, its own process) in the middle of a cycle and
 * restarted completes the same cycle: the Replica resumes from its last
 * durable acknowledgement, so what the killed run sent and the restarted
 * run sends again is at most one credit window, and the point is exact.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { materializePoint } from '../../core/restore.ts'
import { loadOrCreateIdentity } from '../../p2p/node/index.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DEFAULT_CREDIT_BYTES } from '../../p2p/replication/index.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, testSeed, writePatches } from '../helpers/fixtures.ts'
import { startReplica } from '../helpers/boxes.ts'

const SCRIPT = fileURLToPath(new URL('./fixtures/sender-process.ts', import.meta.url))
const MIB = 1024 * 1024

interface Line { batch?: number, bytes?: number, done?: { resumed: boolean, resumedAfter: number, batches: number }, error?: string }

/** Starts the sender process; `onLine` sees each JSON line; resolves with every line and the exit. */
function runSender (args: object, onLine: (l: Line, child: ChildProcess) => void): { child: ChildProcess, ended: Promise<{ lines: Line[], code: number | null, signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [SCRIPT, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: Line[] = []
  createInterface({ input: child.stdout! }).on('line', text => {
    const l = JSON.parse(text) as Line
    lines.push(l)
    onLine(l, child)
  })
  const ended = new Promise<{ lines: Line[], code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.on('exit', (code, signal) => { resolve({ lines, code, signal }) })
  })
  return { child, ended }
}

t.test('kill -9 of the sending process mid-cycle; the restarted process completes the cycle', async t => {
  const dir = await tempDir(t)
  const seed = testSeed(t)
  const image = join(dir, 'disk0.img')
  const size = 256 * MIB
  await sparseFile(image, size)
  await writePatches(image, scatteredPatches(seed, size, 400, 1024 * 1024))

  const replica = await startReplica(t, dir)
  const keyFile = join(dir, 'primary.key')
  const peer = peerIdFromPrivateKey(await loadOrCreateIdentity(keyFile)).toString()
  replica.policy.paired.add(peer)
  const args = { keyFile, stateDir: join(dir, 'primary-state'), image, replica: replica.address.toString() }

  // First run: killed once it has announced 40 batches (about 40 MiB, several credit windows in).
  let killed = false
  const first = runSender(args, (l, child) => {
    if (!killed && (l.batch ?? 0) >= 40) { killed = true; child.kill('SIGKILL') }
  })
  t.teardown(() => { first.child.kill('SIGKILL') })
  const run1 = await first.ended
  t.equal(run1.signal, 'SIGKILL', 'the sender died by SIGKILL')
  t.notOk(run1.lines.some(l => l.done !== undefined), 'before finishing')

  const second = runSender(args, () => {})
  t.teardown(() => { second.child.kill('SIGKILL') })
  const run2 = await second.ended
  t.equal(run2.code, 0, 'the restarted sender finished')
  const done = run2.lines.find(l => l.done !== undefined)!.done!
  t.equal(done.resumed, true, 'it resumed the cycle in flight')
  const after = done.resumedAfter
  const announced1 = run1.lines.filter(l => l.batch !== undefined)
  t.ok(after > 0 && after <= announced1.at(-1)!.batch!, `the Replica held batches 1..${after} durably; the killed run had announced ${announced1.at(-1)!.batch}`)
  t.ok(run2.lines.every(l => l.batch === undefined || l.batch > after), 'nothing the Replica acknowledged is sent again')
  const resent = announced1.filter(l => l.batch! > after).reduce((n, l) => n + l.bytes!, 0)
  t.comment(`sent twice: ${resent} bytes (credit window ${DEFAULT_CREDIT_BYTES})`)
  t.ok(resent <= DEFAULT_CREDIT_BYTES, 'at most one credit window was sent twice')

  t.equal((await replica.session(2)).outcome, 'committed', 'the Replica saw the link drop, then the commit')
  t.equal(replica.sessions[0]!.outcome, 'P2P_STREAM_CLOSED')
  const store = await replica.openStore(peer, 'vm1')
  t.teardown(async () => { await store.close() })
  const points = await store.listPoints()
  t.equal(points.length, 1, 'one recovery point')
  const out = join(dir, 'restored.img')
  await materializePoint(store, points[0]!.id, 'disk0', out)
  t.equal(await fileHash(out), await fileHash(image), 'and it restores exactly')
})
