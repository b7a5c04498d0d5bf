/**
 * Copying a running VM's disks out of their backing into their own files
 * (docs/failover.md "Complete and cancel"): QMP `block-stream` on each
 * disk's format node pulls every cluster its qcow2 overlay does not hold
 * yet from the backing (a recovery point served over NBD) into the
 * overlay, while the guest runs; when a stream completes, QEMU drops the
 * backing from the overlay's header, and the file stands alone.
 *
 * Why block-stream (rather than blockdev-mirror to a new file): the
 * overlay already is the VM's disk, in its final place, so nothing moves
 * or pivots at the end; clusters the guest wrote are never copied
 * (block-stream skips what the top image holds), and neither are clusters
 * an interrupted stream already copied: a stream started again after a
 * crash copies only what is left. A mirror would start over into a new
 * target after a crash, and copy the guest's writes too.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { abortedError } from '../../../core/errors.ts'
import { AppError, AppErrorCode } from '../../errors.ts'
import type { QmpClient, QmpEvent } from './qmp/index.ts'

/** How often the streams' progress is asked for (QMP `query-block-jobs`): a progress line needs no more. */
export const STREAM_POLL_MS = 500

export interface StreamOptions {
  /** Bytes per second each stream may copy (QEMU's `speed`: zeros count too), or undefined for no limit. */
  speed?: number
  /** Stops the waiting (never the streams: see streamDisks). */
  signal?: AbortSignal
  /** Bytes done of bytes to do, over every node (a node already standalone counts as done). */
  onProgress?: (done: number, total: number) => void
  pollMs?: number
}

/** The block job id of a node's stream: stable, so a restarted manager finds the stream it started. */
export function streamJobId (node: string): string {
  return `tandem-stream-${node}`
}

interface NodeInfo { 'node-name'?: string, backing_file?: string, image?: { 'virtual-size'?: number } }
interface BlockJob { device: string, type: string, len: number, offset: number, status: string }

/** The format nodes of `nodes` that still have a backing file, and the virtual size of each node. */
async function backings (qmp: QmpClient, nodes: readonly string[], signal?: AbortSignal): Promise<{ backed: Set<string>, sizes: Map<string, number> }> {
  const all = await qmp.execute<NodeInfo[]>('query-named-block-nodes', { flat: true }, { signal })
  const backed = new Set<string>()
  const sizes = new Map<string, number>()
  for (const node of nodes) {
    const info = all.find(n => n['node-name'] === node)
    if (info === undefined) throw new AppError(AppErrorCode.APP_DISK_NODE_MISSING, `the VM has no block node ${node}`, { details: { node } })
    if (typeof info.backing_file === 'string' && info.backing_file !== '') backed.add(node)
    sizes.set(node, info.image?.['virtual-size'] ?? 0)
  }
  return { backed, sizes }
}

/**
 * Whether every node of `nodes` stands alone (its overlay has no backing
 * any more). APP_DISK_NODE_MISSING, APP_QMP_*.
 */
export async function disksStandalone (qmp: QmpClient, nodes: readonly string[], signal?: AbortSignal): Promise<boolean> {
  return (await backings(qmp, nodes, signal)).backed.size === 0
}

/**
 * Streams each node of `nodes` that still has a backing, and resolves once
 * every one stands alone. A stream of a node already running in QEMU (one
 * that a previous manager started: same job id) is followed, not started
 * twice, and given `speed`. A node without a backing is done already.
 *
 * The streams run with `auto-finalize: false`, so that their end is made
 * durable in order: QEMU's qcow2 driver keeps the mapping of the clusters
 * a stream copied in its metadata cache, and its finalize rewrites the
 * image header without a backing at once; a QEMU killed in between would
 * leave a file that has lost its backing but not yet the mapping of its
 * copied clusters (they would read as zeros: measured with QEMU 7.2). So,
 * once every stream is pending: QMP `stop` (which drains and flushes every
 * disk: the vCPUs pause for the time of a flush), `block-job-finalize`
 * of each, then `cont` (only when the VM was running). A crash at any
 * point leaves either the overlay with its backing (a new call copies the
 * rest) or a standalone file whose every cluster is on disk.
 *
 * The streams belong to QEMU, not to this call: when `signal` aborts, the
 * call rejects (CORE_ABORTED) and the streams go on (a manager that stops
 * finds them again, or their work, after its restart); cancelStreams ends
 * them. A stream that ends with an error (the backing could not be read:
 * its server was gone longer than the overlay's reconnect delay) is
 * APP_FAILOVER_COPY_FAILED, with QEMU's reason; what it copied stays in
 * the overlay, and a new call copies only the rest. Also APP_QMP_*,
 * APP_DISK_NODE_MISSING.
 */
export async function streamDisks (qmp: QmpClient, nodes: readonly string[], options: StreamOptions = {}): Promise<void> {
  const { signal } = options
  const errors = new Map<string, string>()
  const off = qmp.onEvent((e: QmpEvent) => {
    if (e.event !== 'BLOCK_JOB_COMPLETED' && e.event !== 'BLOCK_JOB_CANCELLED') return
    const device = typeof e.data.device === 'string' ? e.data.device : ''
    if (e.event === 'BLOCK_JOB_CANCELLED') errors.set(device, 'the copy was cancelled')
    else if (typeof e.data.error === 'string') errors.set(device, e.data.error)
  })
  try {
    const { backed, sizes } = await backings(qmp, nodes, signal)
    const running = await blockJobs(qmp, signal)
    for (const node of backed) {
      const id = streamJobId(node)
      const job = running.get(id)
      if (job !== undefined) {
        if (options.speed !== undefined && job.status !== 'pending') await qmp.execute('block-job-set-speed', { device: id, speed: options.speed }, { signal })
        continue
      }
      await qmp.execute('block-stream', { 'job-id': id, device: node, 'auto-finalize': false, ...(options.speed === undefined ? {} : { speed: options.speed }) }, { signal })
    }
    const total = [...sizes.values()].reduce((a, b) => a + b, 0)
    let pending: string[]
    for (;;) {
      if (signal?.aborted === true) throw abortedError(signal)
      const jobs = await blockJobs(qmp, signal)
      let done = 0
      let left = 0
      pending = []
      for (const node of nodes) {
        const job = backed.has(node) ? jobs.get(streamJobId(node)) : undefined
        if (job === undefined) {
          done += sizes.get(node) ?? 0
        } else if (job.status === 'pending') {
          done += sizes.get(node) ?? 0
          pending.push(job.device)
        } else {
          left++
          // QEMU's len is the node's size; offset is how far the stream went
          done += Math.min(job.offset, sizes.get(node) ?? job.offset)
        }
      }
      options.onProgress?.(Math.min(done, total), total)
      if (left === 0) break
      await sleep(options.pollMs ?? STREAM_POLL_MS, undefined, signal === undefined ? undefined : { signal }).catch(() => undefined)
    }
    if (pending.length > 0) await finalize(qmp, pending)
    const after = await backings(qmp, nodes, signal)
    if (after.backed.size > 0) {
      const why = [...after.backed].map(n => `${n}: ${errors.get(streamJobId(n)) ?? 'the stream ended before its end'}`).join('; ')
      throw new AppError(AppErrorCode.APP_FAILOVER_COPY_FAILED, `the copy into the VM's own disks did not finish (${why}); what was copied is kept, and a new copy takes only the rest`, { details: { nodes: [...after.backed] } })
    }
  } finally {
    off()
  }
}

/** The block jobs QEMU runs, by id. */
async function blockJobs (qmp: QmpClient, signal?: AbortSignal): Promise<Map<string, BlockJob>> {
  return new Map((await qmp.execute<BlockJob[]>('query-block-jobs', undefined, { signal })).map(j => [j.device, j]))
}

/**
 * Ends pending streams durably (see streamDisks): `stop` flushes every
 * disk, then each job is finalized (QEMU drops the backing from the image
 * header), then `cont` when the VM ran. Not abortable: it takes the time
 * of a flush. APP_QMP_TIMEOUT when the jobs do not end within
 * TIMEOUT_STREAM_CANCEL_MS.
 */
async function finalize (qmp: QmpClient, ids: readonly string[]): Promise<void> {
  const { running } = await qmp.execute<{ running: boolean }>('query-status')
  await qmp.execute('stop')
  try {
    for (const id of ids) await qmp.execute('block-job-finalize', { id })
    await jobsGone(qmp, ids)
  } finally {
    if (running) await qmp.execute('cont')
  }
}

/** Resolves once none of `ids` is a block job of QEMU's any more; APP_QMP_TIMEOUT after TIMEOUT_STREAM_CANCEL_MS. */
async function jobsGone (qmp: QmpClient, ids: readonly string[]): Promise<void> {
  const deadline = Date.now() + TIMEOUT_STREAM_CANCEL_MS
  while ([...(await blockJobs(qmp)).keys()].some(id => ids.includes(id))) {
    if (Date.now() > deadline) throw new AppError(AppErrorCode.APP_QMP_TIMEOUT, `the copy's streams did not end within ${TIMEOUT_STREAM_CANCEL_MS} ms`)
    await sleep(STREAM_POLL_MS / 5)
  }
}

/** How long the streams' end (cancel, finalize) is waited for: a stream stops between two chunks, and a finalize takes a header write. */
export const TIMEOUT_STREAM_CANCEL_MS = 30_000

/**
 * Cancels the streams of `nodes` that run (QMP `block-job-cancel`); what
 * they copied stays in the overlays. Resolves once they ended;
 * APP_QMP_TIMEOUT when they did not within TIMEOUT_STREAM_CANCEL_MS.
 */
export async function cancelStreams (qmp: QmpClient, nodes: readonly string[]): Promise<void> {
  const ids = nodes.map(streamJobId)
  const running = [...(await blockJobs(qmp)).keys()].filter(id => ids.includes(id))
  for (const id of running) await qmp.execute('block-job-cancel', { device: id, force: true }).catch(() => undefined)
  await jobsGone(qmp, running)
}
