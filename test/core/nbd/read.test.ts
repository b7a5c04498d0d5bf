/**
 * NbdClient reads against the reference servers (qemu-nbd,
 * qemu-storage-daemon, nbdkit): byte-exact with qemu-img's raw conversion,
 * split above the server's maximum, pipelined, holes read as zeros.
 */
import t from 'tap'
import { join } from 'node:path'
import { NbdClient } from '../../../core/nbd/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { nbdkit, qcow2, qemuNbd, rawBytes, storageDaemon, type Teardown } from './servers.ts'
import { requireTools } from '../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-nbd', 'qemu-storage-daemon', 'nbdkit'])

const MiB = 2 ** 20
const WRITES = ['write -P 0xaa 1M 64k', 'write -P 0x55 3M 1000', 'write -P 0x01 40M 5M', 'write -P 0xfe 79M 1M']

async function connect (t: Teardown, socketPath: string, exportName = 'disk', metaContexts?: string[]): Promise<NbdClient> {
  const client = await NbdClient.connect({ socketPath, exportName, metaContexts })
  t.teardown(async () => { await client.close() })
  return client
}

t.test('qemu-nbd: a whole qcow2 reads back byte for byte, split above the 32 MiB maximum', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'vm.qcow2')
  await qcow2(image, '80M', WRITES)
  const reference = await rawBytes(dir, image)
  const server = await qemuNbd(t, dir, image)
  const client = await connect(t, server.socket)
  t.equal(client.size, 80 * MiB)
  t.equal(client.readOnly, true)
  t.equal(client.blockSize.maximum, 32 * MiB, 'QEMU advertises 32 MiB')
  const all = await client.read(0, client.size)
  t.ok(Buffer.from(all).equals(reference), 'whole disk, in three 32 MiB-capped requests')
  const into = new Uint8Array(MiB + 10)
  const part = await client.read(MiB - 5, MiB + 10, into)
  t.equal(part.buffer, into.buffer, 'read into the caller buffer')
  t.ok(Buffer.from(part).equals(reference.subarray(MiB - 5, 2 * MiB + 5)), 'unaligned range straddling data and hole')
})

t.test('qemu-nbd: many concurrent reads on one connection each get their own bytes', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'vm.qcow2')
  await qcow2(image, '80M', WRITES)
  const reference = await rawBytes(dir, image)
  const server = await qemuNbd(t, dir, image)
  const client = await connect(t, server.socket)
  const ranges = Array.from({ length: 64 }, (_, i) => ({ offset: (i * 1_234_567) % (79 * MiB), length: 4096 + ((i * 7919) % (3 * MiB)) }))
  const results = await Promise.all(ranges.map(async r => await client.read(r.offset, r.length)))
  for (const [i, r] of ranges.entries()) {
    t.ok(Buffer.from(results[i]!).equals(reference.subarray(r.offset, r.offset + r.length)), `read ${i} at ${r.offset} (+${r.length})`)
  }
})

t.test('qemu-nbd: a sparse qcow2 reads as zeros where nothing was written', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'sparse.qcow2')
  await qcow2(image, '64M', ['write -P 0x33 10M 64k'])
  const server = await qemuNbd(t, dir, image)
  const client = await connect(t, server.socket)
  const filled = new Uint8Array(8 * MiB).fill(0xee)
  const hole = await client.read(20 * MiB, 8 * MiB, filled)
  t.ok(hole.every(b => b === 0), 'a hole overwrites the caller buffer with zeros')
  const mixed = await client.read(10 * MiB - 4096, 64 * 1024 + 8192)
  t.ok(mixed.subarray(0, 4096).every(b => b === 0) && mixed.subarray(4096, 4096 + 65536).every(b => b === 0x33) &&
    mixed.subarray(4096 + 65536).every(b => b === 0), 'zeros, data, zeros')
})

t.test('qemu-storage-daemon: reads byte for byte through its NBD export', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'vm.qcow2')
  await qcow2(image, '48M', ['write -P 0xaa 1M 64k', 'write -P 0x42 33M 2M'])
  const reference = await rawBytes(dir, image)
  const server = await storageDaemon(t, dir, image, 'vm0')
  const client = await connect(t, server.socket, 'vm0')
  t.equal(client.size, 48 * MiB)
  t.ok(Buffer.from(await client.read(0, client.size)).equals(reference))
})

t.test('nbdkit pattern plugin: reads match the plugin-defined bytes', async t => {
  const dir = await tempDir(t)
  const server = await nbdkit(t, dir, ['pattern', 'size=40M'])
  const client = await connect(t, server.socket, '')
  t.equal(client.size, 40 * MiB)
  // The pattern plugin: each 8-byte word is its own offset, big-endian.
  const offset = 35 * MiB - 8
  const bytes = await client.read(offset, 2 * MiB)
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let ok = true
  for (let i = 0; i < bytes.length; i += 8) if (dv.getBigUint64(i) !== BigInt(offset + i)) { ok = false; break }
  t.ok(ok, 'every word holds its offset')
})

t.test('nbdkit memory plugin: an empty memory disk reads as zeros (hole chunks)', async t => {
  const dir = await tempDir(t)
  const server = await nbdkit(t, dir, ['memory', '64M'])
  const client = await connect(t, server.socket, '')
  t.equal(client.readOnly, false)
  const bytes = await client.read(0, 64 * MiB, new Uint8Array(64 * MiB).fill(1))
  t.ok(bytes.every(b => b === 0))
})
