/**
 * SerialLineScanner, table-tested: console bytes fed in pieces find the
 * first matching line; CR and colour escapes are removed; the unfinished
 * line counts (prompts); UTF-8 split across pieces is joined; long lines
 * are cut at the limit, so the pattern sees bounded strings.
 */
import t from 'tap'
import { SerialLineScanner } from '../../../../../appliance/drivers/qemu/drill/index.ts'

const cases: Array<{ what: string, pattern: RegExp, pieces: Array<string | Uint8Array>, max?: number, found: Array<string | undefined> }> = [
  { what: 'a line in one piece', pattern: /READY/u, pieces: ['boot\nTANDEM-GUEST-READY pages=4\nmore\n'], found: ['TANDEM-GUEST-READY pages=4'] },
  { what: 'no match yet, then a line split across pieces', pattern: /^TANDEM-GUEST-READY/u, pieces: ['boot\nTANDEM-GU', 'EST-READY pages=1\n'], found: [undefined, 'TANDEM-GUEST-READY pages=1'] },
  { what: 'CRLF line endings and colour escapes are removed before matching', pattern: /^\[ {2}OK {2}\] Started ssh\.service$/u, pieces: ['\x1b[0;32m[  OK  ]\x1b[0m Started ssh.service\r\n'], found: ['[  OK  ] Started ssh.service'] },
  { what: 'a prompt without a newline matches', pattern: /login: $/u, pieces: ['Debian 12 web-1 ttyS0\n\nweb-1 login: '], found: ['web-1 login: '] },
  { what: 'UTF-8 split inside a character', pattern: /^état: prêt$/u, pieces: [Buffer.from('état: pr'), Buffer.from([0xc3]), Buffer.from([0xaa, 0x74, 0x0a])], found: [undefined, undefined, 'état: prêt'] },
  { what: 'a global pattern matches every time (no lastIndex carried over)', pattern: /x/gu, pieces: ['x\n', 'x\n'], found: ['x', 'x'] },
  { what: 'an empty line is a line', pattern: /^$/u, pieces: ['a\n\nb\n'], found: [''] },
  { what: 'a long line is cut at the limit: pieces of 4', pattern: /^efgh$/u, max: 4, pieces: ['abcdefghij\n'], found: ['efgh'] },
  { what: 'a match across a cut is missed', pattern: /cdef/u, max: 4, pieces: ['abcdefgh\n'], found: [undefined] },
  { what: 'an unfinished piece of the limit\'s length is cut once its line goes on', pattern: /^efgh$/u, max: 4, pieces: ['abcd', 'efgh\n'], found: [undefined, 'efgh'] },
  { what: 'a matched prompt is not matched again', pattern: /login:/u, pieces: ['x login:', ' \n'], found: ['x login:', undefined] }
]

t.test('the first matching line, piece after piece', async t => {
  for (const c of cases) {
    const scanner = new SerialLineScanner(c.pattern, c.max ?? 4096)
    const found = c.pieces.map(p => scanner.push(typeof p === 'string' ? Buffer.from(p) : p))
    t.same(found, c.found, c.what)
  }
})

t.test('the pattern never sees more than the limit', async t => {
  const longerThan10 = new SerialLineScanner(/^.{11,}$/u, 10)
  t.equal(longerThan10.push(Buffer.from('a'.repeat(95) + '\n' + 'b'.repeat(37))), undefined, 'lines and the unfinished line are cut at 10')
  t.equal(new SerialLineScanner(/^.{10}$/u, 10).push(Buffer.from('c'.repeat(25))), 'c'.repeat(10), 'pieces of exactly 10')
  t.throws(() => new SerialLineScanner(/x/u, 0), TypeError)
})
