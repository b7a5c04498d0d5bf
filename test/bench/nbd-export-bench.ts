/**
 * `node test/bench/nbd-export-bench.ts`: reading a recovery point through
 * the NBD export (core/point-export.ts + NbdServer) against materializing
 * it (core/restore.ts), on a generated VM-like image (1 GiB by default).
 *
 *   materialize   materializePoint into a sparse file, MiB/s of disk size
 *   nbd_convert   qemu-img convert of the export into a sparse raw file, MiB/s
 *   nbd_client    our NbdClient reading the whole export into memory, MiB/s
 *
 * Progress goes to stderr; one JSON line to stdout. Environment:
 * TANDEM_BENCH_DIR (work dir parent), TANDEM_BENCH_GIB (default 1),
 * TANDEM_BENCH_SEED. Not a test: nothing fails on a slow figure, only on
 * wrong results. Not part of npm test.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FileDiskSource, RecoveryPointStore, ScanPool, materializePoint, replicateOnce } from '../../core/index.ts'
import { NbdClient, NbdServer } from '../../core/nbd/index.ts'
import { openPointExport } from '../../core/point-export.ts'
import { GIB, MIB, ensureTools, envNumber, fail, makeImage, note, round, runTool, seconds, workDir } from './measure.ts'

const IMAGE_BYTES = Math.round(envNumber('TANDEM_BENCH_GIB', 1) * GIB / MIB) * MIB
const SEED = envNumber('TANDEM_BENCH_SEED', 1)

async function main (): Promise<void> {
  ensureTools(['qemu-img'])
  const { dir, cleanup } = await workDir('tandem-nbd-bench-', IMAGE_BYTES * 4 + GIB / 2)
  try {
    const src = join(dir, 'vm.img')
    note(`generating a ${IMAGE_BYTES / GIB} GiB image`)
    await makeImage(src, IMAGE_BYTES, SEED)
    const store = await RecoveryPointStore.open(join(dir, 'store'), { create: true })
    const pool = new ScanPool()
    try {
      note('one cycle into the store')
      await replicateOnce(store, { pool, disks: [{ name: 'disk0', source: new FileDiskSource(src) }], retention: { additional: 1, intervalMs: 0 } })
    } finally {
      await pool.stop()
    }
    const reference = await readFile(src)
    const rate = (s: number): number => round(IMAGE_BYTES / MIB / s, 1)

    note('materializePoint')
    const materialized = join(dir, 'materialized.img')
    const materializeS = await seconds(async () => await materializePoint(store, 1, 'disk0', materialized))
    if (!(await readFile(materialized)).equals(reference)) fail('materializePoint output differs from the source')

    const server = new NbdServer({ socketPath: join(dir, 'nbd.sock'), exports: [await openPointExport(store, 1, 'disk0')] })
    await server.start()
    try {
      note('qemu-img convert through the export')
      const converted = join(dir, 'converted.img')
      const convert = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', `nbd+unix:///disk0?socket=${server.socketPath}`, converted])
      if (!(await readFile(converted)).subarray(0, IMAGE_BYTES).equals(reference)) fail('qemu-img convert output differs from the source')

      note('NbdClient reading the whole export')
      const client = await NbdClient.connect({ socketPath: server.socketPath, exportName: 'disk0' })
      let bytes: Uint8Array | undefined
      const clientS = await seconds(async () => { bytes = await client.read(0, IMAGE_BYTES) })
      await client.close()
      if (!Buffer.from(bytes!).equals(reference)) fail('NbdClient read differs from the source')

      const result = { image_gib: IMAGE_BYTES / GIB, materialize_mib_s: rate(materializeS), nbd_convert_mib_s: rate(convert.seconds), nbd_client_mib_s: rate(clientS) }
      process.stderr.write(`materialize ${result.materialize_mib_s} MiB/s, qemu-img convert via NBD ${result.nbd_convert_mib_s} MiB/s, NbdClient ${result.nbd_client_mib_s} MiB/s\n`)
      process.stdout.write(JSON.stringify(result) + '\n')
    } finally {
      await server.stop()
      await store.close()
    }
  } finally {
    await cleanup()
  }
}

await main()
