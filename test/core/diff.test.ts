import t from 'tap'
import { diffManifests } from '../../core/diff.ts'
import type { Manifest } from '../../core/types.ts'

const BS = 4096
/** A manifest whose block i hashes to 32 bytes of letters[i] (test shorthand). */
function m (size: number, letters: string): Manifest {
  const hashes = new Uint8Array(letters.length * 32)
  for (let i = 0; i < letters.length; i++) hashes.fill(letters.charCodeAt(i), i * 32, (i + 1) * 32)
  return { size, blockSize: BS, hashes }
}

const table: Array<{ name: string, base: Manifest | undefined, next: Manifest, want: number[] }> = [
  { name: 'no base: every block', base: undefined, next: m(3 * BS, 'abc'), want: [0, 1, 2] },
  { name: 'identical', base: m(3 * BS, 'abc'), next: m(3 * BS, 'abc'), want: [] },
  { name: 'one changed in the middle', base: m(3 * BS, 'abc'), next: m(3 * BS, 'axc'), want: [1] },
  { name: 'first and last changed', base: m(4 * BS, 'abcd'), next: m(4 * BS, 'zbcy'), want: [0, 3] },
  { name: 'disk grew: new blocks differ', base: m(2 * BS, 'ab'), next: m(4 * BS, 'abcd'), want: [2, 3] },
  { name: 'disk grew from a partial last block', base: m(BS + 10, 'ab'), next: m(3 * BS, 'aBc'), want: [1, 2] },
  { name: 'disk shrank: nothing to send for the cut part', base: m(4 * BS, 'abcd'), next: m(2 * BS, 'ab'), want: [] },
  { name: 'disk shrank into a partial block', base: m(4 * BS, 'abcd'), next: m(BS + 1, 'aB'), want: [1] },
  { name: 'empty disk', base: m(BS, 'a'), next: m(0, ''), want: [] }
]

for (const row of table) {
  t.test(row.name, async t => {
    t.same(diffManifests(row.base, row.next), row.want)
  })
}

t.test('different block sizes are a programmer error', async t => {
  t.throws(() => diffManifests({ size: 8192, blockSize: 8192, hashes: new Uint8Array(32) }, m(BS, 'a')), TypeError)
})
