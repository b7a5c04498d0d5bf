/**
 * compileSerialPattern: a drill's pattern from the VM's settings compiles
 * in Unicode mode, or is APP_VM_INVALID naming `serialPattern`.
 */
import t from 'tap'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { compileSerialPattern, MAX_SERIAL_PATTERN_CHARS } from '../../../../../appliance/drivers/qemu/drill/index.ts'

t.test('valid patterns compile in Unicode mode, without flags', async t => {
  for (const source of ['^TANDEM-GUEST-READY pages=\\d+', 'login: $', 'Started .*ssh', 'é', 'x'.repeat(MAX_SERIAL_PATTERN_CHARS)]) {
    const re = compileSerialPattern(source)
    t.equal(re.source, new RegExp(source, 'u').source, source.slice(0, 30))
    t.equal(re.flags, 'u')
  }
})

t.test('anything else is APP_VM_INVALID', async t => {
  const bad: Array<[string, unknown]> = [
    ['not a string', 42],
    ['a RegExp object', /x/],
    ['empty', ''],
    ['too long', 'x'.repeat(MAX_SERIAL_PATTERN_CHARS + 1)],
    ['a newline', 'a\nb'],
    ['a NUL', 'a\0b'],
    ['unbalanced', '(ready'],
    ['an escape Unicode mode refuses', '\\-'],
    ['a dangling quantifier', '*ready']
  ]
  for (const [what, source] of bad) {
    t.throws(() => compileSerialPattern(source), { code: AppErrorCode.APP_VM_INVALID, details: { field: 'serialPattern' } }, what)
  }
})
