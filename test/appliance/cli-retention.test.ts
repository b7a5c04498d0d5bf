/**
 * Retention you can read (issue 11, section 9): with the defaults, cycles a
 * few seconds apart never remove the first point, the rule in force is part
 * of the output, and the prune report gives freed and unreferenced bytes.
 */
import t from 'tap'
import { join } from 'node:path'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { tandemJson } from '../helpers/tandem-cli.ts'

const MiB = 1024 * 1024

interface ReplicateDoc {
  point: { id: number }
  retention: { keep: number, intervalMs: number, rule: string }
  pruned: { removedPoints: number[], freedBytes: number, unreferencedBytes: number }
}
interface PointsDoc { points: Array<{ id: number }> }
interface PruneDoc { removedPoints: number[], keptPoints: number[], freedBytes: number, unreferencedBytes: number, retention: { keep: number, intervalMs: number } }

t.test('defaults: three cycles seconds apart keep point 1', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const env = { env: { TANDEM_STORE: join(dir, 'store') } }
  await sparseFile(src, 4 * MiB)
  for (let i = 0; i < 3; i++) {
    await writePatches(src, [{ offset: i * MiB, length: 200_000 }])
    const doc = await tandemJson<ReplicateDoc>(['replicate', src], env)
    t.same([doc.retention.keep, doc.retention.intervalMs], [24, 3_600_000], 'the policy in force is in the output')
    t.type(doc.retention.rule, 'string')
    t.type(doc.pruned.unreferencedBytes, 'number')
  }
  const ids = (await tandemJson<PointsDoc>(['points'], env)).points.map(p => p.id)
  t.ok(ids.includes(1), `point 1 is kept (kept: ${ids.join(', ')})`)
  t.ok(ids.includes(3), 'and the latest')
})

t.test('prune reports freed and unreferenced bytes and the rule', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const env = { env: { TANDEM_STORE: join(dir, 'store') } }
  await sparseFile(src, 4 * MiB)
  await writePatches(src, [{ offset: 0, length: 3 * MiB }])
  await tandemJson<ReplicateDoc>(['replicate', src, '--keep', '100', '--interval', '0'], env)
  // Point 2 changes a small part: removing point 1 leaves its old blocks dead inside a mostly live pack.
  await writePatches(src, [{ offset: 0, length: 300_000 }])
  await tandemJson<ReplicateDoc>(['replicate', src, '--keep', '100', '--interval', '0'], env)
  const doc = await tandemJson<PruneDoc>(['prune', '--keep', '0', '--yes'], env)
  t.same(doc.removedPoints, [1])
  t.same(doc.keptPoints, [2])
  t.same([doc.retention.keep, doc.retention.intervalMs], [0, 3_600_000])
  t.equal(doc.freedBytes, 0, 'no pack could be deleted or rewritten')
  t.ok(doc.unreferencedBytes >= 300_000, `but point 1's own blocks are unreferenced (${doc.unreferencedBytes} bytes)`)
})
