/**
 * End to end with a real running guest (qemu-system-x86_64 under TCG, the
 * tiny guest of test/helpers/guest that keeps writing random blocks to its
 * disk): two cycles while it writes; each recovery point materializes to
 * exactly the point-in-time (fleece) view; the second reads only the dirty
 * blocks; the guest keeps running and writing through every cycle.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { materializePoint } from '../../../../../core/restore.ts'
import { replicateOnce } from '../../../../../core/replicate.ts'
import { diskRoot } from '../../../../../core/manifest.ts'
import { QmpClient } from '../../../../../appliance/drivers/qemu/qmp/qmp-client.ts'
import { LiveDisk } from '../../../../../appliance/drivers/qemu/tracking/live-disk.ts'
import { LivePointSource } from '../../../../../appliance/drivers/qemu/tracking/live-source.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { openStore, scanPool } from '../../../../helpers/engine.ts'
import { MARKER, TestGuestError, ensureTestGuest, type TestGuest } from '../../../../helpers/guest/build-guest.ts'
import { DISK_NODE, startTestGuest } from '../../../../helpers/guest/run-guest.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const run = promisify(execFile)
const MiB = 2 ** 20
const BS = 65536
const SIZE = 64 * MiB

const built: { guest?: TestGuest, skip?: string } = await ensureTestGuest().then(
  guest => ({ guest }),
  (err: unknown) => {
    if (err instanceof TestGuestError && err.code === 'TEST_GUEST_KERNEL_UNAVAILABLE') return { skip: `no Debian 6.1 kernel package from apt (${err.message})` }
    throw err
  }
)

t.test('two cycles of a running guest: exact points, only dirty blocks read, the guest never stops', { skip: built.skip ?? false }, async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'disk.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(SIZE)])
  const vm = await startTestGuest({ disk, format: 'qcow2', workDir: dir, guest: built.guest })
  t.teardown(vm.stop)
  await vm.ready
  const qmp = await QmpClient.connect(vm.qmpSocket)
  t.teardown(async () => { await qmp.close() })
  const nbdSocket = join(dir, 'nbd.sock')
  const live = await LiveDisk.open({ qmp, node: DISK_NODE, stateFile: join(dir, 'tracking.json'), workDir: dir, nbdSocket, granularity: BS })
  const store = await openStore(t, join(dir, 'store'))
  const pool = scanPool(t)

  /** The guest's latest reported write count, from its serial log. */
  const latestWrites = async (): Promise<number> => {
    const counts = [...(await readFile(vm.serialLog, 'utf8')).matchAll(new RegExp(`^${MARKER.writes} (\\d+)`, 'gm'))].map(m => Number(m[1]))
    return counts.at(-1) ?? 0
  }
  const runCycle = async (n: number): Promise<{ bytesRead: number, tracked: boolean, pauseMs: number, writesDuring: number }> => {
    const before = await latestWrites()
    const point = await live.takePoint()
    // The reference: the point-in-time view as QEMU serves it, copied while the guest goes on writing.
    const reference = join(dir, `point-${n}.ref`)
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', `nbd+unix:///${point.exportName}?socket=${nbdSocket}`, reference])
    const source = new LivePointSource(point)
    const report = await replicateOnce(store, { pool, disks: [{ name: 'disk0', source }] })
    await point.complete({ ok: true, root: diskRoot(await store.manifest(report.point.id, 'disk0')) })
    const out = join(dir, `point-${n}.img`)
    await materializePoint(store, report.point.id, 'disk0', out)
    t.ok((await readFile(out)).equals(await readFile(reference)), `point ${n} materializes to exactly the point-in-time view`)
    const status = await qmp.execute<{ status: string, running: boolean }>('query-status')
    t.equal(status.status, 'running', `the guest runs after cycle ${n}`)
    // The guest went on writing through the cycle: its counter moves on.
    const after = await vm.waitForWrites(before + 1)
    return { bytesRead: source.bytesRead, tracked: report.disks[0]!.tracked, pauseMs: point.pauseMs, writesDuring: after - before }
  }

  await vm.waitForWrites(16)
  const first = await runCycle(1)
  t.equal(first.tracked, false, 'the first cycle compares every block')
  t.equal(first.bytesRead, SIZE)

  await vm.waitForWrites(48)
  const second = await runCycle(2)
  t.equal(second.tracked, true, 'the second cycle is tracked')
  t.ok(second.bytesRead > 0 && second.bytesRead < SIZE / 4, 'and reads only the dirty blocks')
  t.equal(second.bytesRead % BS, 0, 'whole blocks')
  t.comment(`cycle 2 read ${second.bytesRead / BS} blocks; guest I/O held ${first.pauseMs.toFixed(1)} / ${second.pauseMs.toFixed(1)} ms at the transactions; ${second.writesDuring} guest writes reported across cycle 2`)
})
