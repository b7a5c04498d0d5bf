/** Helpers that run the real engine on real files for the core suites. */
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { ScanPool } from '../../core/scan/index.ts'
import { RecoveryPointStore } from '../../core/store/index.ts'
import { replicateOnce, type CycleReport, type ReplicateOptions } from '../../core/replicate.ts'
import type { Teardown } from './fixtures.ts'

/** One scan pool per test file, stopped at the end. */
export function scanPool (t: Teardown): ScanPool {
  const pool = new ScanPool({ threads: 2 })
  t.teardown(async () => { await pool.stop() })
  return pool
}

export async function openStore (t: Teardown, dir: string, blockSize?: number): Promise<RecoveryPointStore> {
  const store = await RecoveryPointStore.open(dir, { create: true, blockSize })
  t.teardown(async () => { await store.close() })
  return store
}

/** One cycle of one file disk named `name`, keeping every point unless told otherwise. */
export async function cycle (store: RecoveryPointStore, pool: ScanPool, path: string, extra: Partial<ReplicateOptions> & { name?: string } = {}): Promise<CycleReport> {
  const { name, ...rest } = extra
  return await replicateOnce(store, {
    pool,
    disks: [{ name: name ?? 'disk0', source: new FileDiskSource(path) }],
    retention: { additional: 1000, intervalMs: 0 },
    ...rest
  })
}
