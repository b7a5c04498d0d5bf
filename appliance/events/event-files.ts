/**
 * The event log's files and lines (docs/events.md "Files"): their names,
 * the longest line, and how one line's bytes are read. Shared by the full
 * read (event-log.ts) and the read from a cursor (event-cursor.ts).
 */
import { invalidEvent, type LogEvent } from './log-event.ts'

/** The file events are appended to, and the one it becomes when full (docs/events.md). */
export const CURRENT_FILE = 'events.jsonl'
export const PREVIOUS_FILE = 'events.1.jsonl'

/**
 * Longest event line: a reason is at most 500 characters (2 KiB in UTF-8)
 * and data 16 short fields; a longer line is not ours.
 */
export const MAX_EVENT_LINE_BYTES = 16 * 1024

/** What a read found wrong with a line; the line is skipped, never fatal. */
export interface EventLogProblem {
  file: string
  /**
   * 1-based line number in the file as read (0 for bytes skipped before the
   * first line of a too-large file); a read from a cursor counts from the
   * cursor (1 is the first line after it).
   */
  line: number
  problem: 'torn' | 'damaged' | 'oversized' | 'skipped'
}

/** One complete line's bytes (without its `\n`) as an event, or what is wrong with it. Never throws. */
export function parseEventLine (text: Uint8Array): LogEvent | 'damaged' | 'oversized' {
  if (text.length > MAX_EVENT_LINE_BYTES) return 'oversized'
  let e: unknown
  try { e = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text)) } catch { e = undefined }
  return invalidEvent(e) === undefined ? e as LogEvent : 'damaged'
}
