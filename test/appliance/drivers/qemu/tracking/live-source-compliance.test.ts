/**
 * LivePointSource (a point-in-time "fleece" view of a running disk, read
 * over QEMU's NBD export, with its dirty bitmap as change tracking) against
 * the DiskSource compliance suite. qemu-storage-daemon stands in for the VM
 * (the same QMP block API); the "guest" writes through its writable export
 * while views are open, and the views must keep reading their moment.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { QmpClient } from '../../../../../appliance/drivers/qemu/qmp/qmp-client.ts'
import { LiveDisk } from '../../../../../appliance/drivers/qemu/tracking/live-disk.ts'
import { LivePointSource } from '../../../../../appliance/drivers/qemu/tracking/live-source.ts'
import { diskSourceCompliance } from '../../../../helpers/compliance/disk-source.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { startStorageDaemon } from '../../../../helpers/storage-daemon.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-storage-daemon'])

const run = promisify(execFile)
const BS = 65536

await diskSourceCompliance(t, {
  tracking: true,
  make: async (t, bytes, history) => {
    const dir = await tempDir(t)
    const raw = join(dir, 'content.raw')
    const disk = join(dir, 'disk.qcow2')
    await writeFile(raw, history?.base ?? bytes)
    await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, disk])
    const qsd = await startStorageDaemon({ dir, disk, format: 'qcow2' })
    const qmp = await QmpClient.connect(qsd.qmpSocket)
    t.teardown(async () => { await qmp.close(); await qsd.kill() })
    let writes = 0
    const write = async (offset: number, data: Uint8Array): Promise<void> => {
      const src = join(dir, `write-${writes++}.bin`)
      await writeFile(src, data)
      await run('qemu-io', ['-f', 'raw', `nbd+unix:///${qsd.node}-w?socket=${qsd.nbdSocket}`, '-c', `write -s ${src} ${offset} ${data.length}`])
    }
    const live = await LiveDisk.open({ qmp, node: qsd.node, stateFile: join(dir, 'tracking.json'), workDir: dir, nbdSocket: qsd.nbdSocket, granularity: BS })
    let baseRoot: string | undefined
    if (history !== undefined) {
      // a first point, "replicated" as baseRoot; then the guest turns base into bytes
      const first = await live.takePoint()
      baseRoot = randomBytes(32).toString('hex')
      await first.complete({ ok: true, root: baseRoot })
      for (let at = 0; at < bytes.length; at += BS) {
        const block = bytes.subarray(at, at + BS)
        if (!Buffer.from(block).equals(Buffer.from(history.base.subarray(at, at + BS)))) await write(at, block)
      }
    }
    const point = await live.takePoint()
    t.teardown(async () => { await point.complete({ ok: false }) })
    return { source: new LivePointSource(point), write, ...(baseRoot === undefined ? {} : { baseRoot }) }
  }
})
