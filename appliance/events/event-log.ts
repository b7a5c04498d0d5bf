import { mkdir, open, rename, truncate, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { AppErrorCode } from '../errors.ts'
import { oneLine } from '../relationships/relationship.ts'
import { SerialQueue } from '../serial-queue.ts'
import { cursorAtEnd, readAfterCursor, type CursorRead } from './event-cursor.ts'
import { CURRENT_FILE, PREVIOUS_FILE, MAX_EVENT_LINE_BYTES, parseEventLine, type EventLogProblem } from './event-files.ts'
import { invalidInput, type EndInput, type EventInput, type LogEvent } from './log-event.ts'

export { CURRENT_FILE, PREVIOUS_FILE, MAX_EVENT_LINE_BYTES, type EventLogProblem } from './event-files.ts'

/**
 * Default size of one log file before it is rotated. Events are a few
 * hundred bytes: 8 MiB holds tens of thousands, days of a busy box. Two
 * files are kept, so the log never takes more than twice this.
 */
export const DEFAULT_MAX_EVENT_FILE_BYTES = 8 * 1024 * 1024

/** The reason written for work a stop or crash cut short. */
export const INTERRUPTED_REASON = 'the daemon stopped (restart or crash) before it finished'

export interface EventQuery {
  relationship?: string
  vm?: string
  /** Only the newest `last` matching events; with `after`, the oldest `last` of those after it (a reader pages forward). */
  last?: number
  /** Only events with a larger seq. */
  after?: number
}

export interface EventRead {
  /** Oldest first. */
  events: LogEvent[]
  problems: EventLogProblem[]
}

/** A read of the daemon's log, with where a reader continues from. */
export interface EventLogRead extends EventRead {
  /** The cursor at the log's end as read: readAfter(cursor) returns what is appended after this read (event-cursor.ts). */
  cursor: string
}

export interface EventLogInit {
  /** Clock, injected so tests are deterministic; Date.now by default. */
  now?: () => number
  /** Size at which the current file is rotated; DEFAULT_MAX_EVENT_FILE_BYTES by default. */
  maxFileBytes?: number
}

/** What open found and repaired. */
export interface EventLogRecovery {
  /** Bytes of a cut-short last line dropped from the current file (0 when it ended cleanly). */
  tornBytes: number
  /** The end events written for work begun and never ended. */
  interrupted: LogEvent[]
  /** Lines skipped because they did not decode. */
  problems: EventLogProblem[]
}

interface ParsedFile extends EventRead {
  /** Length of the file up to the end of its last complete line. */
  cleanBytes: number
  tornBytes: number
}

/**
 * Reads one log file, at most `limit` bytes from its end (a bigger file
 * loses its oldest lines, reported as `skipped`). Never throws for content:
 * bad lines become problems. A missing file is empty.
 */
async function readLogFile (file: string, name: string, limit: number): Promise<ParsedFile> {
  let h: FileHandle
  try {
    h = await open(file, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], problems: [], cleanBytes: 0, tornBytes: 0 }
    throw err
  }
  let bytes: Buffer
  let skipped = 0
  try {
    const { size } = await h.stat()
    skipped = Math.max(0, size - limit)
    bytes = Buffer.alloc(size - skipped)
    let got = 0
    while (got < bytes.length) {
      const { bytesRead } = await h.read(bytes, got, bytes.length - got, skipped + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    bytes = bytes.subarray(0, got)
  } finally {
    await h.close()
  }
  const events: LogEvent[] = []
  const problems: EventLogProblem[] = []
  let start = 0
  if (skipped > 0) {
    // the cut lands inside a line: drop up to the first line end
    start = bytes.indexOf(0x0a) + 1
    problems.push({ file: name, line: 0, problem: 'skipped' })
  }
  let line = 0
  while (start < bytes.length) {
    const end = bytes.indexOf(0x0a, start)
    line++
    if (end < 0) break
    const text = bytes.subarray(start, end)
    start = end + 1
    const e = parseEventLine(text)
    if (typeof e === 'string') problems.push({ file: name, line, problem: e })
    else events.push(e)
  }
  const tornBytes = bytes.length - start
  if (tornBytes > 0) problems.push({ file: name, line, problem: 'torn' })
  return { events, problems, cleanBytes: skipped + start, tornBytes }
}

function select (events: LogEvent[], q: EventQuery): LogEvent[] {
  const matching = events.filter(e => (q.relationship === undefined || e.relationship === q.relationship) && (q.vm === undefined || e.vm === q.vm) && (q.after === undefined || e.seq > q.after))
  if (q.last === undefined) return matching
  return q.after === undefined ? matching.slice(Math.max(0, matching.length - q.last)) : matching.slice(0, q.last)
}

async function readBoth (dir: string, limit: number): Promise<{ previous: ParsedFile, current: ParsedFile }> {
  const previous = await readLogFile(join(dir, PREVIOUS_FILE), PREVIOUS_FILE, limit)
  const current = await readLogFile(join(dir, CURRENT_FILE), CURRENT_FILE, limit)
  return { previous, current }
}

/**
 * Reads the event log in `dir` without opening it for writing (a tool or
 * a test; the daemon uses EventLog.read). A cut-short last line (a writer
 * killed mid-line) and damaged lines are skipped and reported, never
 * thrown. A missing log is empty.
 */
export async function readEventLog (dir: string, query: EventQuery = {}, maxFileBytes = DEFAULT_MAX_EVENT_FILE_BYTES): Promise<EventRead> {
  const { previous, current } = await readBoth(dir, 2 * maxFileBytes)
  return { events: select([...previous.events, ...current.events], query), problems: [...previous.problems, ...current.problems] }
}

function checked (input: EventInput): EventInput {
  const why = invalidInput(input as unknown as Record<string, unknown>)
  if (why !== undefined) throw new TypeError(`not a valid event: ${why}`)
  const e: EventInput = { kind: input.kind, reason: oneLine(input.reason) }
  if (input.relationship !== undefined) e.relationship = input.relationship
  if (input.vm !== undefined) e.vm = input.vm
  if (input.code !== undefined) e.code = input.code
  if (input.data !== undefined) e.data = { ...input.data }
  return e
}

/**
 * The persisted, append-only event log of one box (docs/events.md): JSON
 * lines in `dir`, each event fsynced before its append resolves. Appends
 * may be called concurrently: they are written one at a time in call
 * order, and seq follows that order. A failed append (an I/O error)
 * rejects, leaves no partial line behind for the next one, and takes no
 * seq. When the current file would pass its size limit it becomes the
 * previous file (replacing the older one) and a new one starts: the log is
 * bounded to two files. One process owns the log.
 */
export class EventLog {
  readonly dir: string
  /** What open found and repaired: a cut-short line, interrupted work, damaged lines. */
  readonly recovery: EventLogRecovery
  private readonly now: () => number
  private readonly maxFileBytes: number
  private handle: FileHandle | undefined
  private size: number
  private nextSeq: number
  /** Begun work not yet ended, by the seq of its begin event. */
  private readonly begun: Map<number, LogEvent>
  private readonly writes = new SerialQueue()
  /** A write failed after it may have written part of a line: cut back to `size` before the next one. */
  private dirty = false

  private constructor (dir: string, init: EventLogInit, state: { size: number, nextSeq: number, begun: Map<number, LogEvent>, recovery: EventLogRecovery }) {
    this.dir = dir
    this.now = init.now ?? Date.now
    this.maxFileBytes = init.maxFileBytes ?? DEFAULT_MAX_EVENT_FILE_BYTES
    this.size = state.size
    this.nextSeq = state.nextSeq
    this.begun = state.begun
    this.recovery = state.recovery
  }

  /**
   * Opens (creating) the log in `dir`. A cut-short last line is cut off the
   * file and reported by an event with code APP_EVENT_LOG_DAMAGED; every
   * begun event without its end gets an end with outcome `interrupted`
   * and INTERRUPTED_REASON, so no work is left "in progress" after a
   * restart. Damaged lines elsewhere are left in place and reported in
   * `recovery.problems`. I/O errors are thrown as they are.
   */
  static async open (dir: string, init: EventLogInit = {}): Promise<EventLog> {
    if (init.maxFileBytes !== undefined && (!Number.isSafeInteger(init.maxFileBytes) || init.maxFileBytes < MAX_EVENT_LINE_BYTES)) {
      throw new TypeError(`maxFileBytes must be at least ${MAX_EVENT_LINE_BYTES}`)
    }
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const { previous, current } = await readBoth(dir, 2 * (init.maxFileBytes ?? DEFAULT_MAX_EVENT_FILE_BYTES))
    if (current.tornBytes > 0) await truncate(join(dir, CURRENT_FILE), current.cleanBytes)
    const all = [...previous.events, ...current.events]
    const begun = new Map<number, LogEvent>()
    let last = 0
    for (const e of all) {
      last = Math.max(last, e.seq)
      if (e.phase === 'begin') begun.set(e.seq, e)
      else if (e.phase === 'end') begun.delete(e.begin!)
    }
    const problems = [...previous.problems, ...current.problems].filter(p => !(p.file === CURRENT_FILE && p.problem === 'torn'))
    const recovery: EventLogRecovery = { tornBytes: current.tornBytes, interrupted: [], problems }
    const log = new EventLog(dir, init, { size: current.cleanBytes, nextSeq: last + 1, begun, recovery })
    log.handle = await openForAppend(join(dir, CURRENT_FILE))
    if (current.tornBytes > 0) {
      await log.append({ kind: 'log-repaired', code: AppErrorCode.APP_EVENT_LOG_DAMAGED, reason: `the event log's last line was cut short (the daemon stopped while writing it); ${current.tornBytes} bytes were dropped`, data: { bytes: current.tornBytes } })
    }
    for (const work of [...begun.values()].sort((a, b) => a.seq - b.seq)) {
      recovery.interrupted.push(await log.end(work.seq, { outcome: 'interrupted', reason: INTERRUPTED_REASON }))
    }
    return log
  }

  /** Appends one event; resolves with it (seq and time set) once it is on disk. A malformed input is a TypeError. */
  async append (input: EventInput): Promise<LogEvent> {
    const e = checked(input)
    return await this.write(seq => ({ seq, time: this.now(), ...e }))
  }

  /** Appends the begin event of long work; end it with `end(event.seq, ...)`. */
  async begin (input: EventInput): Promise<LogEvent> {
    const e = checked(input)
    return await this.write(seq => ({ seq, time: this.now(), ...e, phase: 'begin' }))
  }

  /**
   * Appends the end of the work begun by event `begin`; the end carries the
   * begin's kind, relationship and VM. Ending work that is not open (never
   * begun, already ended) is a programmer mistake: TypeError.
   */
  async end (begin: number, input: EndInput | { outcome: 'interrupted', reason: string }): Promise<LogEvent> {
    return await this.write(seq => {
      // looked up in turn, so two ends of the same work cannot both pass
      const b = this.begun.get(begin)
      if (b === undefined) throw new TypeError(`event ${begin} is not open work`)
      const e = checked({ ...(b.relationship === undefined ? {} : { relationship: b.relationship }), ...(b.vm === undefined ? {} : { vm: b.vm }), kind: b.kind, ...input })
      return { seq, time: this.now(), ...e, phase: 'end', begin, outcome: input.outcome }
    })
  }

  /** The seq of the newest event written (0 when none): a reader that saw it has nothing new to read. */
  get lastSeq (): number {
    return this.nextSeq - 1
  }

  /** Begun work not yet ended, oldest first. */
  openWork (): LogEvent[] {
    return [...this.begun.values()].sort((a, b) => a.seq - b.seq).map(e => structuredClone(e))
  }

  /**
   * Reads the log after every append called before it has landed, with the
   * cursor at its end. A query `after` the newest seq reads no file but
   * the last line (a reader asking whether anything is new).
   */
  async read (query: EventQuery = {}): Promise<EventLogRead> {
    return await this.writes.run(async () => {
      const read = query.after !== undefined && query.after >= this.lastSeq ? { events: [], problems: [] } : await readEventLog(this.dir, query, this.maxFileBytes)
      return { ...read, cursor: await cursorAtEnd(this.dir, this.size) }
    })
  }

  /**
   * The events appended after `cursor` (from read() or readAfter(), or
   * START_CURSOR for the whole log), oldest first, at most `limit`, once
   * every append called before it has landed; only acknowledged lines (a
   * write that failed midway is never read). See readAfterCursor for
   * `more`, `reset` and a malformed cursor.
   */
  async readAfter (cursor: string, limit: number): Promise<CursorRead> {
    return await this.writes.run(async () => await readAfterCursor(this.dir, cursor, { limit, currentEnd: this.size }))
  }

  /** Waits for pending appends, then closes the file; later appends are TypeErrors. Idempotent. */
  async close (): Promise<void> {
    await this.writes.run(async () => {
      await this.handle?.close()
      this.handle = undefined
    })
  }

  private async write (make: (seq: number) => LogEvent): Promise<LogEvent> {
    return await this.writes.run(async () => {
      if (this.handle === undefined) throw new TypeError('the event log is closed')
      const event = make(this.nextSeq)
      const line = Buffer.from(JSON.stringify(event) + '\n')
      if (line.length > MAX_EVENT_LINE_BYTES) throw new TypeError(`event line of ${line.length} bytes is longer than ${MAX_EVENT_LINE_BYTES}`)
      if (this.dirty) {
        await this.handle.truncate(this.size)
        this.dirty = false
      }
      if (this.size > 0 && this.size + line.length > this.maxFileBytes) await this.rotate()
      try {
        await this.handle!.write(line)
        await this.handle!.datasync()
      } catch (err) {
        this.dirty = true
        throw err
      }
      this.size += line.length
      this.nextSeq++
      if (event.phase === 'begin') this.begun.set(event.seq, event)
      if (event.phase === 'end') this.begun.delete(event.begin!)
      return structuredClone(event)
    })
  }

  /** The current file becomes the previous one (replacing it); appends go to a new current file. */
  private async rotate (): Promise<void> {
    await this.handle!.close()
    this.handle = undefined
    try {
      await rename(join(this.dir, CURRENT_FILE), join(this.dir, PREVIOUS_FILE))
      this.size = 0
    } finally {
      // a failed rename leaves the current file in place: keep appending to it
      this.handle = await openForAppend(join(this.dir, CURRENT_FILE))
    }
    const d = await open(this.dir, 'r')
    try { await d.sync() } finally { await d.close() }
  }
}

/** Opens `file` for appending, created 0600. */
async function openForAppend (file: string): Promise<FileHandle> {
  const h = await open(file, 'a', 0o600)
  await h.chmod(0o600)
  return h
}
