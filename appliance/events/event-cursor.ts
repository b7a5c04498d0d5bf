/**
 * Reading the event log from where a reader stopped (docs/events.md
 * "Reading from a cursor"): a cursor names a position in one of the log's
 * two files (which file: its inode and birth time; where: a byte offset at
 * the end of a complete line; and a check: the sha256 of the line that
 * ends there), so the next read reads only what was appended after it.
 *
 * What each change of the files does to a cursor:
 * - an append: the cursor's file grew; its bytes up to the cursor are
 *   unchanged: read on from the cursor;
 * - one rotation: the cursor's file is now `events.1.jsonl` (a rename keeps
 *   the inode): read the rest of it, then all of the new `events.jsonl`;
 * - two rotations, a truncation, a file replaced or rewritten (the check
 *   fails, the file is shorter, or no file is the cursor's): the cursor is
 *   refused and the read starts again at the log's oldest line (`reset`);
 * - a torn last line (a writer killed mid-line, or a line being written):
 *   never consumed; the cursor stays before it, and the line is read once
 *   it is complete (opening the log cuts a torn line off: the cursor,
 *   before it, stays valid).
 */
import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { CURRENT_FILE, MAX_EVENT_LINE_BYTES, PREVIOUS_FILE, parseEventLine, type EventLogProblem } from './event-files.ts'
import type { LogEvent } from './log-event.ts'

/**
 * Most bytes of the files one read goes through: a page of a thousand
 * events at under 1 KiB each; a reader with more to read calls again
 * (`more`), so no call holds more than this in memory.
 */
export const MAX_CURSOR_READ_BYTES = 1024 * 1024
/** Bytes read from a file at once. */
const READ_CHUNK_BYTES = 64 * 1024
/** Longest cursor string: five numbers and a 22-character hash. */
export const MAX_CURSOR_CHARS = 120
/** The cursor of the log's beginning: a read from it returns the whole log (its oldest line first). */
export const START_CURSOR = ''

const CURSOR = /^e1\.([0-9]{1,20})\.([0-9]{1,25})\.([0-9]{1,15})\.([0-9]{1,5})\.([A-Za-z0-9_-]{0,22})$/

/** A place in one file of the log, after a complete line (or at 0). */
interface Position {
  /** The file's inode and birth time (ns), decimal: which file, across a rename. */
  ino: string
  birth: string
  offset: number
  /** How many bytes before `offset` the check covers: the line that ends there, at most MAX_EVENT_LINE_BYTES of its end (0 at offset 0). */
  checked: number
  /** sha256 of those bytes, its first 16 bytes in base64url ('' when `checked` is 0). */
  hash: string
}

/** Whether `cursor` is a cursor string this module made (or START_CURSOR); says nothing of whether the log still accepts it. */
export function isEventCursor (cursor: string): boolean {
  return cursor === START_CURSOR || (cursor.length <= MAX_CURSOR_CHARS && CURSOR.test(cursor))
}

function encode (p: Position): string {
  return `e1.${p.ino}.${p.birth}.${p.offset}.${p.checked}.${p.hash}`
}

function decode (cursor: string): Position {
  const m = CURSOR.exec(cursor)
  if (m === null || cursor.length > MAX_CURSOR_CHARS) throw new TypeError('not an event log cursor')
  return { ino: m[1]!, birth: m[2]!, offset: Number(m[3]), checked: Number(m[4]), hash: m[5]! }
}

const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest().subarray(0, 16).toString('base64url')

interface OpenFile { name: string, handle: FileHandle, ino: string, birth: string, size: number }

async function openLogFile (dir: string, name: string): Promise<OpenFile | undefined> {
  let handle: FileHandle
  try {
    handle = await open(join(dir, name), 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const s = await handle.stat({ bigint: true })
    return { name, handle, ino: s.ino.toString(), birth: s.birthtimeNs.toString(), size: Number(s.size) }
  } catch (err) {
    await handle.close()
    throw err
  }
}

async function readAt (h: FileHandle, offset: number, length: number): Promise<Buffer> {
  const bytes = Buffer.alloc(length)
  let got = 0
  while (got < length) {
    const { bytesRead } = await h.read(bytes, got, length - got, offset + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return bytes.subarray(0, got)
}

/** The position at `offset` of `f` (the end of a complete line, or 0), with its check read from the file. */
async function positionAt (f: OpenFile, offset: number): Promise<Position> {
  if (offset === 0) return { ino: f.ino, birth: f.birth, offset: 0, checked: 0, hash: '' }
  const tail = await readAt(f.handle, Math.max(0, offset - MAX_EVENT_LINE_BYTES - 1), Math.min(offset, MAX_EVENT_LINE_BYTES + 1))
  // the line ending at `offset` starts after the newline before its own
  const start = tail.lastIndexOf(0x0a, tail.length - 2) + 1
  const line = tail.subarray(Math.max(start, tail.length - MAX_EVENT_LINE_BYTES))
  return { ino: f.ino, birth: f.birth, offset, checked: line.length, hash: digest(line) }
}

/** Whether `p` is still a place in `f`: the same file, long enough, the same line before it. */
async function holds (f: OpenFile, p: Position): Promise<boolean> {
  if (f.ino !== p.ino || f.birth !== p.birth || f.size < p.offset || p.checked > p.offset) return false
  if (p.offset === 0) return true
  const line = await readAt(f.handle, p.offset - p.checked, p.checked)
  return line.length === p.checked && line.at(-1) === 0x0a && digest(line) === p.hash
}

export interface CursorRead {
  /** The events appended after the cursor (after `reset`: the whole log), oldest first, at most `limit`. */
  events: LogEvent[]
  /** Lines skipped in what was read (damaged, oversized, a torn end of the previous file). */
  problems: EventLogProblem[]
  /** Where the next read starts: after the last complete line read. */
  cursor: string
  /** The read stopped at `limit` events or MAX_CURSOR_READ_BYTES: more may follow, read again from `cursor` at once. */
  more: boolean
  /** The cursor given was not in the log any more (rotated twice, truncated, replaced): this read started again at the log's oldest line. */
  reset: boolean
}

export interface CursorReadOptions {
  /** Most events returned, at least 1. */
  limit: number
  /** Bytes of the current file that may be read: the writer's acknowledged size (a line past it may yet be cut off); the file's size by default. */
  currentEnd?: number
}

/** What is read of one file: its lines from `offset` up to `end`, within the call's limits. */
interface FileScan {
  /** Where the reading stopped: after the last line consumed. */
  offset: number
  /** Stopped by a limit, not by the end. */
  stopped: boolean
}

/**
 * Reads the lines of `f` from `offset` to `end`, pushing events and
 * problems, until `limit` events or `budget.bytes` (bytes read) run out. A
 * complete line is consumed (an event, or a problem); bytes after the last
 * `\n` are not, unless `tornIsFinal` (the previous file, never written
 * again: reported `torn` and consumed).
 */
async function scan (f: OpenFile, offset: number, end: number, out: CursorRead, limit: number, budget: { bytes: number }, tornIsFinal: boolean): Promise<FileScan> {
  let consumed = offset
  let next = offset
  // the bytes read and not consumed, up to `next`
  let buf: Buffer = Buffer.alloc(0)
  // inside a line longer than any event: its bytes are dropped as they come, until its end
  let skipping = false
  let line = 0
  while (true) {
    // an oversized line is read to its end whatever the budget (its bytes are not kept), so every read makes progress
    if (out.events.length >= limit || (budget.bytes <= 0 && !skipping)) return { offset: consumed, stopped: true }
    const want = Math.min(READ_CHUNK_BYTES, end - next)
    if (want <= 0) break
    const chunk = await readAt(f.handle, next, want)
    if (chunk.length === 0) break
    next += chunk.length
    budget.bytes -= chunk.length
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    let start = 0
    while (out.events.length < limit) {
      const nl = buf.indexOf(0x0a, start)
      if (nl < 0) break
      line++
      const e = skipping ? 'oversized' : parseEventLine(buf.subarray(start, nl))
      skipping = false
      if (typeof e === 'string') out.problems.push({ file: f.name, line, problem: e })
      else out.events.push(e)
      start = nl + 1
      consumed = next - buf.length + start
    }
    buf = buf.subarray(start)
    if (skipping || (buf.length > MAX_EVENT_LINE_BYTES && buf.indexOf(0x0a) < 0)) {
      skipping = true
      buf = Buffer.alloc(0)
    }
  }
  if (tornIsFinal && consumed < end) {
    out.problems.push({ file: f.name, line: line + 1, problem: 'torn' })
    consumed = end
  }
  return { offset: consumed, stopped: false }
}

/**
 * Reads the events of the log in `dir` appended after `cursor` (a cursor
 * an earlier read returned, or START_CURSOR for the whole log), oldest
 * first: at most `limit`, and at most MAX_CURSOR_READ_BYTES of the files.
 * A cursor the log no longer holds starts the read again at its oldest line,
 * with `reset` (see the top of this file for each case). A malformed cursor
 * is a TypeError; I/O errors are thrown as they are; bad lines are problems.
 * Reads only; safe beside a writer, whose line being written is left for
 * a later read.
 */
export async function readAfterCursor (dir: string, cursor: string, options: CursorReadOptions): Promise<CursorRead> {
  if (!Number.isSafeInteger(options.limit) || options.limit < 1) throw new TypeError('limit must be a whole number, at least 1')
  const wanted = cursor === START_CURSOR ? undefined : decode(cursor)
  const files: OpenFile[] = []
  try {
    for (const name of [PREVIOUS_FILE, CURRENT_FILE]) {
      const f = await openLogFile(dir, name)
      if (f !== undefined) files.push(f)
    }
    const out: CursorRead = { events: [], problems: [], cursor, more: false, reset: false }
    let from = { file: 0, offset: 0 }
    if (wanted !== undefined) {
      const at = files.findIndex(f => f.ino === wanted.ino && f.birth === wanted.birth)
      if (at >= 0 && await holds(files[at]!, wanted)) from = { file: at, offset: wanted.offset }
      else out.reset = true
    }
    if (files.length === 0) {
      out.cursor = START_CURSOR
      return out
    }
    const budget = { bytes: MAX_CURSOR_READ_BYTES }
    let at = { file: from.file, offset: from.offset }
    for (let i = from.file; i < files.length; i++) {
      const f = files[i]!
      const isCurrent = f.name === CURRENT_FILE
      const end = isCurrent ? Math.min(f.size, options.currentEnd ?? f.size) : f.size
      const r = await scan(f, i === from.file ? from.offset : 0, end, out, options.limit, budget, !isCurrent)
      at = { file: i, offset: r.offset }
      if (r.stopped) { out.more = true; break }
      // all of the previous file read: the next read starts at the current one's beginning (valid after one more rotation too)
      if (!isCurrent && i + 1 < files.length) at = { file: i + 1, offset: 0 }
    }
    const unchanged = !out.reset && wanted !== undefined && at.file === from.file && at.offset === from.offset
    if (!unchanged) out.cursor = encode(await positionAt(files[at.file]!, at.offset))
    return out
  } finally {
    for (const f of files) await f.handle.close()
  }
}

/**
 * The cursor at the end of the log in `dir`: after the first `currentEnd`
 * bytes of its current file (the writer's acknowledged size), or
 * START_CURSOR when there is no current file. A read from it returns what
 * is appended after.
 */
export async function cursorAtEnd (dir: string, currentEnd: number): Promise<string> {
  const f = await openLogFile(dir, CURRENT_FILE)
  if (f === undefined) return START_CURSOR
  try {
    return encode(await positionAt(f, Math.min(currentEnd, f.size)))
  } finally {
    await f.handle.close()
  }
}
