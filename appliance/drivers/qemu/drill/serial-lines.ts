import { StringDecoder } from 'node:string_decoder'

/** CSI escape sequences (colours, cursor moves) that guests print on a console; a pattern is matched without them. */
const CSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g

/**
 * Finds the first serial console line matching a pattern, fed the console's
 * bytes in pieces as they arrive. Pure (no I/O), not re-entrant.
 *
 * - Bytes are decoded as UTF-8 (a character split between two pieces is
 *   joined); lines end at `\n`, a trailing `\r` and CSI escape sequences
 *   are removed before matching.
 * - The line still being written (no `\n` yet) is tested too, so a prompt
 *   such as `login: ` matches; a pattern may thus see a prefix of a line.
 * - A line longer than `maxLineChars` is cut into pieces of that length,
 *   each tested on its own (a match across a cut is missed): the pattern
 *   never runs on more than `maxLineChars` characters.
 */
export class SerialLineScanner {
  private readonly pattern: RegExp
  private readonly maxLineChars: number
  private readonly decoder = new StringDecoder('utf8')
  private pending = ''

  constructor (pattern: RegExp, maxLineChars: number) {
    if (!Number.isSafeInteger(maxLineChars) || maxLineChars < 1) throw new TypeError(`maxLineChars must be a positive integer, got ${maxLineChars}`)
    // test() of a global or sticky pattern moves lastIndex between calls: match without those flags
    this.pattern = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
    this.maxLineChars = maxLineChars
  }

  /** Feeds the next bytes; returns the first line (cleaned) that matches, or undefined. */
  push (bytes: Uint8Array): string | undefined {
    const text = this.pending + this.decoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    let start = 0
    for (;;) {
      const nl = text.indexOf('\n', start)
      const end = nl === -1 ? text.length : nl
      // cut a long line into pieces; an unfinished piece of exactly the limit waits to see whether its line goes on
      for (; end - start > this.maxLineChars; start += this.maxLineChars) {
        const found = this.test(text.slice(start, start + this.maxLineChars))
        if (found !== undefined) return this.matched(found)
      }
      if (nl === -1) break
      const found = this.test(text.slice(start, nl))
      if (found !== undefined) return this.matched(found)
      start = nl + 1
    }
    this.pending = text.slice(start)
    const found = this.pending === '' ? undefined : this.test(this.pending)
    return found === undefined ? undefined : this.matched(found)
  }

  /** After a match the scanner starts afresh: the matched text is not tested again. */
  private matched (line: string): string {
    this.pending = ''
    return line
  }

  private test (raw: string): string | undefined {
    const line = raw.replace(/\r$/, '').replace(CSI, '')
    return this.pattern.test(line) ? line : undefined
  }
}
