/**
 * The read-only token of `/metrics` (docs/web.md "Metrics"): the first line
 * of DATA/web/metrics-token, which the operator writes (mode 0600) for a
 * Prometheus scraper that has no session. No file, or an empty one: no
 * token, and only a logged-in session reads the metrics.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'

export const METRICS_TOKEN_FILE = 'metrics-token'
/** A token is a line of printable characters; a larger file is not ours. */
export const MAX_METRICS_TOKEN_FILE_BYTES = 1024
/** Shortest token taken: 16 characters; a shorter one is refused (no token) rather than guessable. */
export const MIN_METRICS_TOKEN_CHARS = 16

/**
 * The token, read at each call (a scrape every few seconds at most; the
 * operator may change the file while the daemon runs): synchronous, as
 * the metrics route asks for it synchronously, and bounded. Null when
 * there is none, or when the file is too large, unreadable or its token
 * too short or not printable.
 */
export function readMetricsToken (webDir: string): string | null {
  let fd: number
  try {
    fd = openSync(join(webDir, METRICS_TOKEN_FILE), 'r')
  } catch {
    return null
  }
  try {
    if (fstatSync(fd).size > MAX_METRICS_TOKEN_FILE_BYTES) return null
    const buffer = Buffer.alloc(MAX_METRICS_TOKEN_FILE_BYTES)
    const n = readSync(fd, buffer, 0, buffer.length, 0)
    const token = buffer.subarray(0, n).toString('utf8').split('\n')[0]!.trim()
    return token.length >= MIN_METRICS_TOKEN_CHARS && /^[\x21-\x7e]+$/.test(token) ? token : null
  } catch {
    return null
  } finally {
    closeSync(fd)
  }
}
