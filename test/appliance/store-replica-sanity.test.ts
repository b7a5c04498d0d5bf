/**
 * The Replica applies the source sanity check too (issue 11, "a wrong
 * source replaces the good one"): a commit whose disk became empty while
 * the latest point holds data for it is refused with CORE_SOURCE_EMPTY and
 * nothing is committed. Another set of disk names is accepted over the
 * wire (the primary decides its VM's disks).
 */
import t from 'tap'
import { join } from 'node:path'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { zeroHash } from '../../core/hash.ts'
import type { Manifest } from '../../core/types.ts'
import { tempDir } from '../helpers/fixtures.ts'

const BS = 65536

/** A manifest of `blocks` all-zero blocks: committing it needs no stored data. */
function zeros (blocks: number): Manifest {
  const hashes = new Uint8Array(blocks * 32)
  for (let i = 0; i < blocks; i++) hashes.set(zeroHash(BS), i * 32)
  return { size: blocks * BS, blockSize: BS, hashes }
}

t.test('a disk become empty is refused at commit; a renamed disk is accepted', async t => {
  const dir = await tempDir(t)
  const sink = new StoreReplicaSink({ dir: join(dir, 'replicas'), retention: { additional: 10, intervalMs: 0 } })
  const commit = async (cycle: string, base: string | null, disks: Array<{ name: string, manifest: Manifest }>): Promise<string> => {
    const target = await sink.open('peer', 'vm')
    try {
      const stage = await target.newStage(cycle.repeat(32), BS)
      const { root } = await stage.commit({ basePoint: base, disks: disks.map(d => ({ ...d, changed: [] })), time: Date.now(), consistency: 'crash', term: 0 })
      return root
    } finally {
      await target.close()
    }
  }
  const first = await commit('1', null, [{ name: 'disk0', manifest: zeros(2) }])
  await t.rejects(commit('2', first, [{ name: 'disk0', manifest: zeros(0) }]), { code: 'CORE_SOURCE_EMPTY' })
  const target = await sink.open('peer', 'vm')
  t.equal((await target.points()).length, 1, 'nothing was committed')
  await target.close()
  await commit('3', first, [{ name: 'renamed', manifest: zeros(1) }])
  const after = await sink.open('peer', 'vm')
  t.same((await after.points()).map(p => p.disks.map(d => d.name)), [['disk0'], ['renamed']])
  await after.close()
})
