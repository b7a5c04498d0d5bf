/**
 * parsePpm: QEMU's binary PPM (P6, maxval 255) with comments and any
 * whitespace in the header; anything else, or missing pixel bytes, is
 * APP_SCREENSHOT_INVALID.
 */
import t from 'tap'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { parsePpm } from '../../../../../appliance/drivers/qemu/drill/index.ts'

const ppm = (header: string, pixels: number[]): Buffer => Buffer.concat([Buffer.from(header, 'latin1'), Buffer.from(pixels)])

t.test('headers as QEMU and other writers make them', async t => {
  const px = [1, 2, 3, 4, 5, 6]
  for (const header of ['P6\n2 1\n255\n', 'P6 2 1 255 ', 'P6\n# made by QEMU\n2\t1\r\n# another\n255\n']) {
    const img = parsePpm(ppm(header, [...px, 99]))
    t.same({ width: img.width, height: img.height, rgb: [...img.rgb] }, { width: 2, height: 1, rgb: px }, JSON.stringify(header))
  }
})

t.test('anything else is APP_SCREENSHOT_INVALID', async t => {
  const bad: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['ASCII PPM (P3)', ppm('P3\n1 1\n255\n', [0, 0, 0])],
    ['a PNG', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
    ['16-bit samples', ppm('P6\n1 1\n65535\n', [0, 0, 0, 0, 0, 0])],
    ['width 0', ppm('P6\n0 1\n255\n', [])],
    ['too wide', ppm('P6\n16385 1\n255\n', [])],
    ['a negative height', ppm('P6\n1 -1\n255\n', [0, 0, 0])],
    ['pixels missing', ppm('P6\n2 2\n255\n', [0, 0, 0])],
    ['no whitespace after maxval', ppm('P6\n1 1\n255', [])],
    ['a header that never ends', Buffer.from('P6\n' + '#'.repeat(2000) + '\n1 1\n255\n\0\0\0')]
  ]
  for (const [what, file] of bad) t.throws(() => parsePpm(file), { code: AppErrorCode.APP_SCREENSHOT_INVALID }, what)
})
