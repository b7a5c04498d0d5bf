/**
 * The event log on real files: appends land in call order with increasing
 * seq and survive a reopen; a cut-short last line is skipped and reported,
 * never fatal; work begun before a kill -9 is ended as interrupted on the
 * next open; the files stay bounded by rotation.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  CURRENT_FILE, EventLog, INTERRUPTED_REASON, MAX_EVENT_LINE_BYTES, PREVIOUS_FILE, readEventLog, type LogEvent
} from '../../../appliance/events/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const T0 = 1_700_000_000_000

/** A clock that advances one ms per reading. */
function clock (): () => number {
  let now = T0
  return () => now++
}

const lines = async (dir: string, file = CURRENT_FILE): Promise<LogEvent[]> =>
  (await readFile(join(dir, file), 'utf8')).split('\n').filter(l => l !== '').map(l => JSON.parse(l) as LogEvent)

t.test('appends survive a reopen; reads by relationship and last N', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  t.same(log.recovery, { tornBytes: 0, interrupted: [], problems: [] })
  const a = await log.append({ relationship: 'rel-1', vm: 'web', kind: 'state', reason: 'replication enabled', data: { from: 'not-enabled', to: 'waiting-initial-replication' } })
  await log.append({ relationship: 'rel-2', vm: 'db', kind: 'state', reason: 'replication enabled' })
  await log.append({ kind: 'daemon', reason: 'the daemon started' })
  await log.append({ relationship: 'rel-1', vm: 'web', kind: 'cycle', reason: 'cycle failed: the Replica cannot be reached', code: 'P2P_DIAL_FAILED' })
  t.same(a, { seq: 1, time: T0, relationship: 'rel-1', vm: 'web', kind: 'state', reason: 'replication enabled', data: { from: 'not-enabled', to: 'waiting-initial-replication' } })
  await log.close()
  t.equal((await stat(join(dir, CURRENT_FILE))).mode & 0o777, 0o600, 'the file is 0600')

  const again = await EventLog.open(dir, { now: clock() })
  const all = await again.read()
  t.same(all.events.map(e => e.seq), [1, 2, 3, 4])
  t.same(all.problems, [])
  t.same((await again.read({ relationship: 'rel-1' })).events.map(e => e.seq), [1, 4], 'by relationship')
  t.same((await again.read({ vm: 'db' })).events.map(e => e.seq), [2], 'by VM')
  t.same((await again.read({ last: 2 })).events.map(e => e.seq), [3, 4], 'last N')
  t.same((await again.read({ relationship: 'rel-1', last: 1 })).events.map(e => e.seq), [4], 'both')
  t.equal((await again.append({ kind: 'daemon', reason: 'x' })).seq, 5, 'seq goes on after a reopen')
  await again.close()
  t.same((await readEventLog(dir, { last: 1 })).events.map(e => e.seq), [5], 'the offline reader sees the same')
})

t.test('concurrent appends land in call order, each with the next seq', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  const n = 60
  const appended = await Promise.all(Array.from({ length: n }, async (_, i) =>
    i % 3 === 0 ? await log.begin({ kind: 'cycle', reason: `call ${i}` }) : await log.append({ kind: 'note', reason: `call ${i}` })))
  t.same(appended.map(e => e.seq), Array.from({ length: n }, (_, i) => i + 1), 'seq follows call order')
  const onDisk = await lines(dir)
  t.same(onDisk.map(e => e.reason), Array.from({ length: n }, (_, i) => `call ${i}`), 'the file holds them in call order')
  t.equal(log.openWork().length, n / 3)
  await log.close()
})

t.test('begin and end pair up; ending work twice or work never begun is a TypeError', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  const b = await log.begin({ relationship: 'rel-1', vm: 'web', kind: 'resync', reason: 'resynchronization started' })
  const [e1, e2] = await Promise.allSettled([
    log.end(b.seq, { outcome: 'ok', reason: 'resynchronization finished', data: { bytesSent: 1024 } }),
    log.end(b.seq, { outcome: 'failed', reason: 'twice' })
  ])
  t.equal(e1.status, 'fulfilled')
  if (e1.status === 'fulfilled') t.same(e1.value, { seq: 2, time: T0 + 1, relationship: 'rel-1', vm: 'web', kind: 'resync', reason: 'resynchronization finished', data: { bytesSent: 1024 }, phase: 'end', begin: 1, outcome: 'ok' })
  t.equal(e2.status, 'rejected', 'the second end of the same work is refused')
  if (e2.status === 'rejected') t.type(e2.reason, TypeError)
  await t.rejects(log.end(99, { outcome: 'ok', reason: 'x' }), TypeError)
  t.same(log.openWork(), [])
  t.equal((await log.append({ kind: 'note', reason: 'next' })).seq, 3, 'refused ends took no seq')
  await log.close()
})

t.test('bad inputs are TypeErrors and write nothing; reasons are kept to one line', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  await t.rejects(log.append({ kind: 'Not A Kind', reason: 'x' }), TypeError)
  await t.rejects(log.append({ kind: 'note', reason: '' }), TypeError)
  await t.rejects(log.append({ kind: 'note', reason: 'x', code: 'lower' }), TypeError)
  await t.rejects(log.append({ kind: 'note', reason: 'x', relationship: '../etc' }), TypeError)
  await t.rejects(log.append({ kind: 'note', reason: 'x', data: { nested: { a: 1 } as unknown as string } }), TypeError)
  const e = await log.append({ kind: 'note', reason: 'first line\n  second line\r\nthird '.concat('y'.repeat(1000)) })
  t.equal(e.seq, 1)
  t.notMatch(e.reason, /\n/)
  t.ok(e.reason.length <= 500)
  t.equal(e.reason.slice(0, 34), 'first line second line third yyyyy')
  await log.close()
  await t.rejects(log.append({ kind: 'note', reason: 'after close' }), TypeError)
})

t.test('a cut-short last line is skipped and reported by readers, and repaired on open', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  await log.append({ kind: 'note', reason: 'one' })
  await log.append({ kind: 'note', reason: 'two' })
  await log.close()
  const torn = '{"seq":3,"time":1700000000005,"kind":"no'
  await appendFile(join(dir, CURRENT_FILE), torn)

  const offline = await readEventLog(dir)
  t.same(offline.events.map(e => e.reason), ['one', 'two'], 'the reader skips the torn line')
  t.same(offline.problems, [{ file: CURRENT_FILE, line: 3, problem: 'torn' }], 'and reports it')

  const reopened = await EventLog.open(dir, { now: clock() })
  t.equal(reopened.recovery.tornBytes, Buffer.byteLength(torn))
  const after = await reopened.read()
  t.same(after.problems, [], 'the file ends cleanly again')
  t.same(after.events.map(e => [e.seq, e.kind, e.code]), [[1, 'note', undefined], [2, 'note', undefined], [3, 'log-repaired', 'APP_EVENT_LOG_DAMAGED']], 'the repair is an event')
  t.equal((await reopened.append({ kind: 'note', reason: 'four' })).seq, 4)
  t.same((await lines(dir)).map(e => e.seq), [1, 2, 3, 4], 'every line of the file decodes')
  await reopened.close()
})

t.test('damaged and oversized lines in the middle are skipped and reported, never fatal', async t => {
  const dir = await tempDir(t)
  await mkdir(dir, { recursive: true })
  const good = (seq: number): string => JSON.stringify({ seq, time: T0 + seq, kind: 'note', reason: `event ${seq}` })
  const text = (s: string): Buffer => Buffer.from(s + '\n')
  await writeFile(join(dir, CURRENT_FILE), Buffer.concat([
    text(good(1)), text('not json'), text(JSON.stringify({ seq: 2, time: T0, kind: 'note' })), text('{"seq":3,"time":1,"kind":"note","reason":"' + 'x'.repeat(MAX_EVENT_LINE_BYTES) + '"}'),
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), text(good(4))
  ]))
  const r = await readEventLog(dir)
  t.same(r.events.map(e => e.seq), [1, 4])
  t.same(r.problems.map(p => [p.line, p.problem]), [[2, 'damaged'], [3, 'damaged'], [4, 'oversized'], [5, 'damaged']])
  const log = await EventLog.open(dir, { now: clock() })
  t.equal(log.recovery.problems.length, 4, 'open reports them too')
  t.equal((await log.append({ kind: 'note', reason: 'next' })).seq, 5, 'and goes on after the highest seq')
  await log.close()
})

t.test('kill -9 with work in progress: the next open ends it as interrupted', async t => {
  const dir = await tempDir(t)
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/begin-then-wait.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const begun = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /begun (\d+)\n/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', code => { reject(new Error(`child exited early with ${String(code)}`)) })
  })
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited

  const before = await readEventLog(dir)
  t.same(before.events.map(e => e.phase ?? 'none'), ['none', 'begin'], 'the work was left begun')
  const log = await EventLog.open(dir)
  t.equal(log.recovery.interrupted.length, 1)
  const end = log.recovery.interrupted[0]!
  t.same({ ...end, time: 0 }, { seq: begun + 1, time: 0, relationship: 'rel-1', vm: 'web', kind: 'initial-replication', reason: INTERRUPTED_REASON, phase: 'end', begin: begun, outcome: 'interrupted' })
  t.same(log.openWork(), [], 'nothing is in progress')
  await log.close()
  const again = await EventLog.open(dir)
  t.same(again.recovery.interrupted, [], 'a second open finds nothing to close')
  await again.close()
})

t.test('work begun and not ended before a clean close is interrupted too', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  const a = await log.begin({ kind: 'cycle', reason: 'cycle 1' })
  const b = await log.begin({ kind: 'cycle', reason: 'cycle 2' })
  await log.end(a.seq, { outcome: 'ok', reason: 'cycle 1 done' })
  await log.close()
  const again = await EventLog.open(dir, { now: clock() })
  t.same(again.recovery.interrupted.map(e => [e.begin, e.outcome]), [[b.seq, 'interrupted']])
  await again.close()
})

t.test('rotation keeps the log bounded to two files, seq and open work carry on', async t => {
  const dir = await tempDir(t)
  const max = MAX_EVENT_LINE_BYTES
  const log = await EventLog.open(dir, { now: clock(), maxFileBytes: max })
  const work = await log.begin({ kind: 'initial-replication', reason: 'long work' })
  const reason = 'r'.repeat(400)
  for (let i = 0; i < 200; i++) await log.append({ kind: 'note', reason })
  t.same((await readdir(dir)).sort(), [PREVIOUS_FILE, CURRENT_FILE].sort(), 'two files')
  for (const f of [CURRENT_FILE, PREVIOUS_FILE]) t.ok((await stat(join(dir, f))).size <= max, `${f} is within the limit`)
  const all = await log.read()
  t.same(all.problems, [])
  t.equal(all.events.at(-1)!.seq, 201, 'the newest event is kept')
  t.ok(all.events.every((e, i) => i === 0 || e.seq === all.events[i - 1]!.seq + 1), 'the kept events are contiguous')
  t.ok(all.events[0]!.seq > 1, 'the oldest fell off')
  const end = await log.end(work.seq, { outcome: 'ok', reason: 'long work done' })
  t.equal(end.begin, work.seq, 'work begun in a rotated-away file still ends')
  await log.close()
  const again = await EventLog.open(dir, { now: clock(), maxFileBytes: max })
  t.equal((await again.append({ kind: 'note', reason: 'x' })).seq, 203)
  await again.close()
})

t.test('after a seq: only newer events, the oldest first, across a rotation; lastSeq follows the appends', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock(), maxFileBytes: MAX_EVENT_LINE_BYTES })
  t.equal(log.lastSeq, 0, 'an empty log')
  const reason = 'r'.repeat(400)
  for (let i = 0; i < 60; i++) await log.append({ relationship: i % 2 === 0 ? 'rel-1' : 'rel-2', kind: 'note', reason })
  t.equal(log.lastSeq, 60)
  t.same((await readdir(dir)).sort(), [PREVIOUS_FILE, CURRENT_FILE].sort(), 'the log rotated')
  const kept = (await log.read()).events
  const split = kept.findIndex(e => e.seq > kept[0]!.seq + 20)
  const page = await log.read({ after: kept[split - 1]!.seq, last: 5 })
  t.same(page.events.map(e => e.seq), kept.slice(split, split + 5).map(e => e.seq), 'the oldest 5 after it')
  let seen = kept[0]!.seq
  const paged: number[] = []
  for (let r = await log.read({ after: seen, last: 7 }); r.events.length > 0; r = await log.read({ after: seen, last: 7 })) {
    paged.push(...r.events.map(e => e.seq))
    seen = r.events.at(-1)!.seq
  }
  t.same(paged, kept.slice(1).map(e => e.seq), 'paging forward misses none, across both files')
  t.same((await log.read({ after: 60 })).events, [], 'nothing after the newest')
  t.same((await log.read({ after: 50, relationship: 'rel-1' })).events.map(e => e.seq), [51, 53, 55, 57, 59], 'with the other filters')
  await log.close()
})

t.test('a failed append takes no seq and leaves no partial line for the next one', async t => {
  const fs = await import('node:fs/promises')
  let failNext = false
  /** Fault injection: the next write of an appending handle writes half its line, then fails with EIO. */
  const open = async (...args: Parameters<typeof fs.open>): Promise<Awaited<ReturnType<typeof fs.open>>> => {
    const h = await fs.open(...args)
    if (args[1] !== 'a') return h
    const write = h.write.bind(h) as (b: Buffer) => Promise<unknown>
    return Object.assign(h, {
      write: async (b: Buffer) => {
        if (!failNext) return await write(b)
        failNext = false
        await write(b.subarray(0, b.length >> 1))
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      }
    })
  }
  const { EventLog: FaultyLog } = await t.mockImport<typeof import('../../../appliance/events/index.ts')>('../../../appliance/events/index.ts', {
    'node:fs/promises': { ...fs, open }
  })
  const dir = await tempDir(t)
  const log = await FaultyLog.open(dir, { now: clock() })
  await log.append({ kind: 'note', reason: 'one' })
  failNext = true
  await t.rejects(log.append({ kind: 'note', reason: 'lost' }), { code: 'EIO' })
  t.equal((await log.append({ kind: 'note', reason: 'two' })).seq, 2, 'the failed append took no seq')
  await log.close()
  t.same((await lines(dir)).map(e => [e.seq, e.reason]), [[1, 'one'], [2, 'two']], 'the half line was cut off before the next append')
  t.same((await readEventLog(dir)).problems, [])
})
