/**
 * NbdClient block status against the reference servers, with nbdinfo --map
 * as the oracle: base:allocation of a sparse image, a persistent dirty
 * bitmap of a qcow2 (qemu:dirty-bitmap:NAME), and ranges that need
 * continuation (the server answers fewer extents than the range).
 */
import t from 'tap'
import { join } from 'node:path'
import { NbdClient, NBD_STATE_DIRTY, NBD_STATE_HOLE, NBD_STATE_ZERO, mergeExtents, type NbdExtent } from '../../../core/nbd/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { nbdinfoMap, nbdkit, qcow2, qemuNbd, type RunningServer, type Teardown } from './servers.ts'
import { requireTools } from '../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-nbd', 'nbdkit', 'nbdinfo'])

const MiB = 2 ** 20
const GiB = 2 ** 30

async function connect (t: Teardown, server: RunningServer, metaContexts: string[]): Promise<NbdClient> {
  const client = await NbdClient.connect({ socketPath: server.socket, exportName: server.exportName, metaContexts })
  t.teardown(async () => { await client.close() })
  return client
}

/** Extents restricted to [offset, offset+length), merged: what blockStatus promises for a sub-range. */
function clip (extents: NbdExtent[], offset: number, length: number): NbdExtent[] {
  const out: NbdExtent[] = []
  for (const e of extents) {
    const start = Math.max(e.offset, offset)
    const end = Math.min(e.offset + e.length, offset + length)
    if (start < end) out.push({ offset: start, length: end - start, flags: e.flags })
  }
  return mergeExtents(out)
}

t.test('base:allocation of a sparse qcow2 matches nbdinfo, for the whole disk and a sub-range', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'sparse.qcow2')
  await qcow2(image, '64M', ['write -P 0xaa 1M 64k', 'write -P 0x55 10M 128k', 'write -z 20M 1M'])
  const server = await qemuNbd(t, dir, image)
  const client = await connect(t, server, ['base:allocation'])
  t.same([...client.metaContexts.keys()], ['base:allocation'])
  const oracle = mergeExtents(await nbdinfoMap(server, 'base:allocation'))
  const extents = await client.blockStatus('base:allocation', 0, client.size)
  t.same(extents, oracle)
  t.same(extents.find(e => e.offset === MiB), { offset: MiB, length: 64 * 1024, flags: 0 }, 'written data is allocated')
  t.equal(extents[0]!.flags & (NBD_STATE_HOLE | NBD_STATE_ZERO), NBD_STATE_HOLE | NBD_STATE_ZERO, 'the start is a hole')
  const sub = await client.blockStatus('base:allocation', MiB - 512, 10 * MiB)
  t.same(sub, clip(oracle, MiB - 512, 10 * MiB), 'a sub-range is covered exactly, its ends clipped')
})

t.test('a persistent dirty bitmap updated by qemu-io writes is exported by qemu-nbd -B', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'vm.qcow2')
  await qcow2(image, '64M', ['write -P 0xaa 1M 64k', 'write -P 0x55 10M 128k', 'write -P 0x01 30M 1'], 'tandem-1')
  const server = await qemuNbd(t, dir, image, { bitmap: 'tandem-1' })
  const context = 'qemu:dirty-bitmap:tandem-1'
  const client = await connect(t, server, ['base:allocation', context, 'qemu:dirty-bitmap:absent'])
  t.same([...client.metaContexts.keys()].sort(), ['base:allocation', context], 'a context the server lacks is absent')
  const extents = await client.blockStatus(context, 0, client.size)
  t.same(extents, mergeExtents(await nbdinfoMap(server, context)), 'same as nbdinfo --map')
  t.same(extents.filter(e => (e.flags & NBD_STATE_DIRTY) !== 0).map(e => [e.offset, e.length]),
    [[MiB, 64 * 1024], [10 * MiB, 128 * 1024], [30 * MiB, 64 * 1024]], 'dirty at 64 KiB granularity where qemu-io wrote')
  await t.rejects(client.blockStatus('qemu:dirty-bitmap:absent', 0, 4096), TypeError, 'asking for a context not negotiated is a programming error')
})

t.test('a range over the 2 GiB request limit is covered by continuation (qemu-nbd, 6 GiB image)', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'big.qcow2')
  await qcow2(image, '6G', Array.from({ length: 12 }, (_, i) => `write -P 0x11 ${i * 509}M 64k`), 'b1')
  const server = await qemuNbd(t, dir, image, { bitmap: 'b1' })
  const client = await connect(t, server, ['base:allocation', 'qemu:dirty-bitmap:b1'])
  for (const context of ['base:allocation', 'qemu:dirty-bitmap:b1']) {
    const extents = await client.blockStatus(context, 0, client.size)
    t.same(extents, mergeExtents(await nbdinfoMap(server, context)), `${context} over 6 GiB`)
    t.equal(extents.reduce((n, e) => n + e.length, 0), 6 * GiB, 'covers the whole range')
  }
  const across = await client.blockStatus('qemu:dirty-bitmap:b1', 2 * GiB - MiB, 2 * MiB)
  t.equal(across.reduce((n, e) => n + e.length, 0), 2 * MiB, 'a range across a request boundary')
})

t.test('a server answering one extent per reply: the range is still covered exactly (nbdkit eval)', async t => {
  const dir = await tempDir(t)
  // One 64 KiB extent per reply, alternating data / hole+zero by 64 KiB slot.
  const server = await nbdkit(t, dir, ['eval',
    'get_size=echo 1048576',
    'pread=dd if=/dev/zero count=$3 iflag=count_bytes 2>/dev/null',
    'can_extents=exit 0',
    'extents=s=$(( $4 / 65536 * 65536 )); echo $s 65536 $(( ($s / 65536) % 2 * 3 ))'])
  const client = await connect(t, server, ['base:allocation'])
  const extents = await client.blockStatus('base:allocation', 1000, 1048576 - 2000)
  const expected: NbdExtent[] = []
  for (let s = 0; s < 1048576; s += 65536) expected.push({ offset: s, length: 65536, flags: (s / 65536) % 2 * 3 })
  t.same(extents, clip(expected, 1000, 1048576 - 2000))
  t.same(extents, clip(mergeExtents(await nbdinfoMap(server, 'base:allocation')), 1000, 1048576 - 2000), 'and nbdinfo agrees')
})

t.test('mergeExtents joins neighbours with equal flags only', async t => {
  t.same(mergeExtents([]), [])
  t.same(mergeExtents([{ offset: 0, length: 5, flags: 1 }, { offset: 5, length: 5, flags: 1 }, { offset: 10, length: 1, flags: 0 }]),
    [{ offset: 0, length: 10, flags: 1 }, { offset: 10, length: 1, flags: 0 }])
  t.same(mergeExtents([{ offset: 0, length: 5, flags: 1 }, { offset: 6, length: 5, flags: 1 }]),
    [{ offset: 0, length: 5, flags: 1 }, { offset: 6, length: 5, flags: 1 }], 'not across a gap')
})
