/**
 * `base:allocation` as data extents: only NBD_STATE_ZERO says "reads as
 * zeros"; a hole without it is data (the NBD protocol leaves its contents
 * undefined), unknown flag bits are ignored.
 */
import t from 'tap'
import { NBD_STATE_HOLE, NBD_STATE_ZERO, nonZeroExtents } from '../../../core/nbd/index.ts'

t.test('only NBD_STATE_ZERO extents are left out; neighbours join', async t => {
  const cases: Array<[string, Array<{ offset: number, length: number, flags: number }>, Array<{ offset: number, length: number }>]> = [
    ['nothing', [], []],
    ['all allocated', [{ offset: 0, length: 10, flags: 0 }], [{ offset: 0, length: 10 }]],
    ['hole and zero', [{ offset: 0, length: 10, flags: NBD_STATE_HOLE | NBD_STATE_ZERO }], []],
    ['zero, allocated (written zeros)', [{ offset: 0, length: 10, flags: NBD_STATE_ZERO }], []],
    ['a hole alone is data', [{ offset: 0, length: 10, flags: NBD_STATE_HOLE }], [{ offset: 0, length: 10 }]],
    ['unknown bits are ignored', [{ offset: 0, length: 4, flags: 0x80 }, { offset: 4, length: 4, flags: 0x80 | NBD_STATE_ZERO }], [{ offset: 0, length: 4 }]],
    ['data, hole, data join; zeros split', [
      { offset: 0, length: 4, flags: 0 }, { offset: 4, length: 4, flags: NBD_STATE_HOLE }, { offset: 8, length: 4, flags: 0 },
      { offset: 12, length: 4, flags: NBD_STATE_ZERO | NBD_STATE_HOLE }, { offset: 16, length: 4, flags: 0 }
    ], [{ offset: 0, length: 12 }, { offset: 16, length: 4 }]]
  ]
  for (const [name, input, expected] of cases) t.same(nonZeroExtents(input), expected, name)
})
