/**
 * Splits a byte stream into lines at `\n` (and at any extra delimiter byte),
 * with a bound: a line longer than `maxBytes` calls `onOverflow` once and
 * the splitter stops, so an endless line is never buffered whole. Empty
 * lines are skipped. Not re-entrant: call `push` from one stream's `data`
 * handler.
 */
export class LineSplitter {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private failed = false
  private readonly maxBytes: number
  private readonly delimiters: number[]
  private readonly onLine: (line: Buffer) => void
  private readonly onOverflow: () => void

  constructor (init: { maxBytes: number, onLine: (line: Buffer) => void, onOverflow: () => void, extraDelimiters?: number[] }) {
    this.maxBytes = init.maxBytes
    this.delimiters = [0x0a, ...(init.extraDelimiters ?? [])]
    this.onLine = init.onLine
    this.onOverflow = init.onOverflow
  }

  push (chunk: Buffer): void {
    let start = 0
    while (!this.failed && start < chunk.length) {
      const end = this.nextDelimiter(chunk, start)
      if (end === -1) {
        this.append(chunk.subarray(start))
        return
      }
      this.append(chunk.subarray(start, end))
      if (this.failed) return
      const line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes)
      this.pending = []
      this.pendingBytes = 0
      if (line.length > 0) this.onLine(line)
      start = end + 1
    }
  }

  private append (piece: Buffer): void {
    if (piece.length === 0) return
    this.pendingBytes += piece.length
    if (this.pendingBytes > this.maxBytes) {
      this.failed = true
      this.pending = []
      this.onOverflow()
      return
    }
    this.pending.push(piece)
  }

  private nextDelimiter (chunk: Buffer, from: number): number {
    let best = -1
    for (const d of this.delimiters) {
      const i = chunk.indexOf(d, from)
      if (i !== -1 && (best === -1 || i < best)) best = i
    }
    return best
  }
}

/** `v` is a JSON object (not an array, not null). */
export function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A JSON line parsed, when it is an object; undefined for anything else (the caller decides what that means). */
export function parseObject (line: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line.toString('utf8'))
    return isObject(v) ? v : undefined
  } catch {
    return undefined
  }
}
