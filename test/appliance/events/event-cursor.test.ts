/**
 * Reading the event log from a cursor, on real files: a read returns
 * exactly what was appended after the cursor, in order, a page at a time;
 * a torn last line is left until it is complete, then returned once (also
 * across the repair a reopen makes); one rotation is read through; two
 * rotations, a truncation or a rewrite under the cursor start the read
 * again from the oldest line (`reset`), and a reader that keeps the seqs
 * it saw then gets every event the log still holds exactly once.
 */
import t from 'tap'
import { appendFile, readFile, rename, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  CURRENT_FILE, EventLog, MAX_CURSOR_READ_BYTES, MAX_EVENT_LINE_BYTES, PREVIOUS_FILE, START_CURSOR, isEventCursor, readAfterCursor, readEventLog, type LogEvent
} from '../../../appliance/events/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const T0 = 1_700_000_000_000

function clock (): () => number {
  let now = T0
  return () => now++
}

const seqs = (events: LogEvent[]): number[] => events.map(e => e.seq)
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Reads from `cursor` until `more` is false; the events of every page, and the cursor and reset flags seen. */
async function drain (log: EventLog, cursor: string, limit = 1000): Promise<{ events: LogEvent[], cursor: string, resets: number, pages: number }> {
  const events: LogEvent[] = []
  let resets = 0
  let pages = 0
  for (;;) {
    const r = await log.readAfter(cursor, limit)
    pages++
    if (r.reset) resets++
    events.push(...r.events)
    cursor = r.cursor
    if (!r.more) return { events, cursor, resets, pages }
  }
}

t.test('a read from a cursor returns exactly the events appended after it, in order, a page at a time', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  t.teardown(async () => { await log.close() })
  const empty = await log.readAfter(START_CURSOR, 10)
  t.same(seqs(empty.events), [])
  t.notOk(empty.more)
  t.notOk(empty.reset)
  for (let i = 1; i <= 5; i++) await log.append({ kind: 'note', reason: `event ${i}` })
  const first = await log.readAfter(START_CURSOR, 10)
  t.same(seqs(first.events), [1, 2, 3, 4, 5], 'from the start: all, oldest first')
  t.ok(isEventCursor(first.cursor))
  const none = await log.readAfter(first.cursor, 10)
  t.same(none.events, [], 'nothing new: nothing')
  t.equal(none.cursor, first.cursor, 'and the same cursor')

  for (let i = 6; i <= 30; i++) await log.append({ kind: 'note', reason: `event ${i}` })
  const page = await log.readAfter(first.cursor, 10)
  t.same(seqs(page.events), range(6, 15), 'a page of `limit`')
  t.ok(page.more, 'more follows')
  const rest = await drain(log, page.cursor, 10)
  t.same(seqs(rest.events), range(16, 30), 'the rest, each once')
  t.equal(rest.resets, 0)

  const { cursor: end } = await log.read()
  t.same(await log.readAfter(end, 10).then(r => r.events), [], 'read()\'s cursor is the end')
  await log.append({ kind: 'note', reason: 'event 31' })
  t.same(seqs((await log.readAfter(end, 10)).events), [31], 'what follows it')
  t.same(seqs((await log.readAfter(rest.cursor, 10)).events), [31], 'the same from the drained cursor')
  await t.rejects(log.readAfter('e1.x', 10), TypeError, 'a malformed cursor is a TypeError')
  t.notOk(isEventCursor('../etc'))
})

t.test('a torn last line is not consumed; once complete it is returned once, and a reopen\'s repair keeps the cursor', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock() })
  await log.append({ kind: 'note', reason: 'one' })
  await log.append({ kind: 'note', reason: 'two' })
  await log.close()
  const { cursor } = await readAfterCursor(dir, START_CURSOR, { limit: 100 })
  const line = JSON.stringify({ seq: 3, time: T0 + 9, kind: 'note', reason: 'three' }) + '\n'
  // a writer part-way through its line, as a reader beside it sees it
  await appendFile(join(dir, CURRENT_FILE), line.slice(0, 20))
  const torn = await readAfterCursor(dir, cursor, { limit: 100 })
  t.same(torn.events, [], 'the incomplete line is not returned')
  t.same(torn.problems, [], 'nor reported: it may yet be completed')
  t.equal(torn.cursor, cursor, 'the cursor stays before it')
  await appendFile(join(dir, CURRENT_FILE), line.slice(20))
  const done = await readAfterCursor(dir, torn.cursor, { limit: 100 })
  t.same(seqs(done.events), [3], 'completed: returned')
  t.same((await readAfterCursor(dir, done.cursor, { limit: 100 })).events, [], 'once')

  // killed mid-line: the next open cuts the torn bytes off and logs the repair
  await appendFile(join(dir, CURRENT_FILE), '{"seq":4,"time":17000')
  const before = await readAfterCursor(dir, done.cursor, { limit: 100 })
  t.same(before.events, [])
  const reopened = await EventLog.open(dir, { now: clock() })
  t.teardown(async () => { await reopened.close() })
  const after = await reopened.readAfter(before.cursor, 100)
  t.notOk(after.reset, 'the cut is past the cursor: it still holds')
  t.same(after.events.map(e => [e.seq, e.kind]), [[4, 'log-repaired']], 'the repair event, once')
})

t.test('one rotation is read through; two, a truncation or a rewrite under the cursor reset the read to the oldest line', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir, { now: clock(), maxFileBytes: MAX_EVENT_LINE_BYTES })
  t.teardown(async () => { await log.close() })
  const reason = 'r'.repeat(400)
  const append = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await log.append({ kind: 'note', reason }) }
  await append(10)
  const start = await drain(log, START_CURSOR)
  t.same(seqs(start.events), range(1, 10))

  // about 36 lines fill a 16 KiB file: 30 more rotate it once
  await append(30)
  const once = await drain(log, start.cursor)
  t.equal(once.resets, 0, 'one rotation: no reset')
  t.same(seqs(once.events), range(11, 40), 'the rest of the rotated file, then the new one')
  const all = await readEventLog(dir, {}, MAX_EVENT_LINE_BYTES)
  t.ok(all.events[0]!.seq <= 10, 'the cursor\'s file was rotated, not dropped')

  // 100 more rotate twice: the cursor's file is gone
  await append(100)
  const twice = await drain(log, once.cursor)
  t.equal(twice.resets, 1, 'two rotations: reset')
  const held = seqs((await readEventLog(dir, {}, MAX_EVENT_LINE_BYTES)).events)
  t.same(seqs(twice.events), held, 'the reset read is the whole log as it is, oldest first')
  t.same(seqs(twice.events).filter(s => s > 40), range(held[0]!, 140), 'by seq, the reader loses only what left the log and sees nothing twice')

  // the current file truncated under the cursor (a restore from an older copy)
  const { cursor } = await log.read()
  await log.close()
  const size = (await readFile(join(dir, CURRENT_FILE))).length
  await truncate(join(dir, CURRENT_FILE), size - 100)
  const cut = await readAfterCursor(dir, cursor, { limit: 1000 })
  t.ok(cut.reset, 'truncated: reset')

  // rewritten with the same length: the check of the line before the cursor fails
  const text = await readFile(join(dir, CURRENT_FILE), 'utf8')
  const fresh = await readAfterCursor(dir, START_CURSOR, { limit: 1000 })
  await writeFile(join(dir, CURRENT_FILE), text.replace(/"reason":"r/g, '"reason":"s'))
  t.ok((await readAfterCursor(dir, fresh.cursor, { limit: 1000 })).reset, 'rewritten: reset')

  // the files replaced (renamed away, a new one in place)
  const now = await readAfterCursor(dir, START_CURSOR, { limit: 1000 })
  await rename(join(dir, CURRENT_FILE), join(dir, 'elsewhere'))
  await rename(join(dir, PREVIOUS_FILE), join(dir, 'elsewhere.1'))
  await writeFile(join(dir, CURRENT_FILE), JSON.stringify({ seq: 1, time: T0, kind: 'note', reason: 'a new log' }) + '\n')
  const replaced = await readAfterCursor(dir, now.cursor, { limit: 1000 })
  t.ok(replaced.reset, 'replaced: reset')
  t.same(seqs(replaced.events), [1])
})

t.test('damaged and oversized lines are consumed as problems; a read goes through at most MAX_CURSOR_READ_BYTES', async t => {
  const dir = await tempDir(t)
  const good = (seq: number, reason = `event ${seq}`): string => JSON.stringify({ seq, time: T0 + seq, kind: 'note', reason }) + '\n'
  await writeFile(join(dir, CURRENT_FILE), good(1) + 'not json\n' + '{"x":"' + 'x'.repeat(MAX_EVENT_LINE_BYTES * 5) + '"}\n' + good(2))
  const r = await readAfterCursor(dir, START_CURSOR, { limit: 100 })
  t.same(seqs(r.events), [1, 2])
  t.same(r.problems.map(p => [p.line, p.problem]), [[2, 'damaged'], [3, 'oversized']])
  await appendFile(join(dir, CURRENT_FILE), good(3))
  t.same(seqs((await readAfterCursor(dir, r.cursor, { limit: 100 })).events), [3], 'the cursor after them holds')

  // an oversized line still being written is not consumed either
  await appendFile(join(dir, CURRENT_FILE), 'y'.repeat(MAX_EVENT_LINE_BYTES * 2))
  const mid = await readAfterCursor(dir, (await readAfterCursor(dir, r.cursor, { limit: 100 })).cursor, { limit: 100 })
  t.same(mid.events, [])
  await appendFile(join(dir, CURRENT_FILE), '\n' + good(4))
  const past = await readAfterCursor(dir, mid.cursor, { limit: 100 })
  t.same(seqs(past.events), [4])
  t.same(past.problems.map(p => p.problem), ['oversized'])

  const big = await tempDir(t)
  const reason = 'b'.repeat(450)
  const lines: string[] = []
  for (let seq = 1; seq <= 5000; seq++) lines.push(good(seq, reason))
  await writeFile(join(big, CURRENT_FILE), lines.join(''))
  const first = await readAfterCursor(big, START_CURSOR, { limit: 10_000 })
  t.ok(first.more, 'more than the byte bound: stopped')
  t.ok(first.events.length * 500 <= MAX_CURSOR_READ_BYTES, 'within it')
  let cursor = first.cursor
  const got = seqs(first.events)
  for (;;) {
    const r = await readAfterCursor(big, cursor, { limit: 10_000 })
    got.push(...seqs(r.events))
    cursor = r.cursor
    if (!r.more) break
  }
  t.same(got, range(1, 5000), 'every event once over the pages')
})
