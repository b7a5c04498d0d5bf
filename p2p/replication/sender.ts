import type { Stream } from '@libp2p/interface'
import { zeroHash } from '../../core/hash.ts'
import { blockCount, blockLength, diskRoot, pointRoot } from '../../core/manifest.ts'
import type { Consistency, Manifest, ProgressListener } from '../../core/types.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { MAX_BATCH_ENTRIES, KEEPALIVE_MS, TARGET_BATCH_RAW_BYTES, TIMEOUT_ACK_MS, TIMEOUT_COMMIT_MS } from './constants.ts'
import { CreditWindow } from './credit-window.ts'
import { checkHello, expectType, HELLO, ReplicationStream, sameBytes, violation } from './message-stream.ts'
import { encodeBlocks } from './blocks-encoder.ts'
import { WireCodec, type BlockEntry, type HealRequest } from './messages.ts'
import type { RateLimiter } from './rate-limit.ts'
import { assumesZero } from './rebuild.ts'
import type { CycleSource, SourceBlock } from './source.ts'

export interface SendCycleInit {
  /** A fresh stream on REPLICATION_PROTOCOL to the Replica. */
  stream: Stream
  relationship: string
  /** 16 random bytes, kept by the caller until the cycle is committed: the same id resumes. */
  cycle: Uint8Array
  term: number
  /** The moment the point stands for (ms since the epoch). */
  time: number
  consistency: Consistency
  /** Why the point is crash-consistent when app-consistency was asked (the Replica keeps it with the point). */
  consistencyNote?: string
  /** The Replica's point this cycle is diffed against (its root and manifests), or null for an initial replication. */
  base: { root: string, manifests: Map<string, Manifest> } | null
  source: CycleSource
  /** This peer's bandwidth limit, shared by all its cycles. */
  limiter?: RateLimiter
  signal?: AbortSignal
  onProgress?: ProgressListener
  /** Told just before each batch goes out (tests count what a killed sender had sent). */
  onBatch?: (batch: { seq: number, frameBytes: number }) => void
}

export interface SentCycle {
  /** Root of the committed recovery point (the Replica's answer, checked). */
  root: string
  disks: Array<{ name: string, manifest: Manifest }>
  /** Batches the Replica already held durably from an earlier attempt, not sent again. */
  resumedAfter: number
  batches: number
  /** Frame bytes of the `blocks` messages this call sent. */
  blockBytes: number
  /** Frame bytes of everything this call sent. */
  wireBytes: number
  changedBlocks: number
  /** Blocks the Replica asked to be sent again to heal its damaged copies (`cycle-accept`'s heal). */
  healRequested: number
}

/**
 * Sends one cycle: hello, cycle-begin, the changed blocks in batches under
 * the credit window and the bandwidth limit, cycle-end; resolves when the
 * Replica has committed the point. Batches are cut deterministically from
 * the source (the same bytes give the same batches), so after a dropped
 * link or a restart the same call with the same `cycle` skips the batches
 * the Replica acknowledged as durable: at most one credit window is sent
 * twice.
 *
 * Throws P2pError: the Replica's code (P2P_RESYNC_REQUIRED: fetch its
 * manifests and start a new cycle from them; P2P_STALE_TERM; ...),
 * P2P_TIMEOUT / P2P_STREAM_CLOSED (retry with the same cycle id),
 * P2P_PROTOCOL_VIOLATION. The stream is ended in every case.
 */
export async function sendCycle (init: SendCycleInit): Promise<SentCycle> {
  const io = new ReplicationStream(init.stream)
  const keepalive = setInterval(() => {
    if (performance.now() - lastSend >= KEEPALIVE_MS) io.send({ t: 'keepalive' }).catch(() => {})
  }, KEEPALIVE_MS / 2)
  let lastSend = performance.now()
  let credit: CreditWindow | undefined
  let peerFailure: Promise<string> | undefined
  try {
    await io.send(HELLO)
    checkHello(await io.expect('hello'))
    const { source, cycle } = init
    await io.send({
      t: 'cycle-begin', relationship: init.relationship, cycle, term: init.term, base: init.base?.root ?? null,
      time: init.time, consistency: init.consistency, ...(init.consistencyNote === undefined ? {} : { consistencyNote: init.consistencyNote }), disks: source.disks
    })
    const accept = await io.expect('cycle-accept')
    if (!sameBytes(accept.cycle, cycle)) throw violation('cycle-accept for another cycle')
    const heal = checkHeal(accept.heal, source.disks)
    const window = credit = new CreditWindow(accept.credit)
    const sent = new Map<number, SentBatch>()
    const acks = readAcks(io, init.cycle, window, sent)
    peerFailure = acks.committed
    // A write waiting for the transport to drain wakes up when the Replica gives up (it may stop reading).
    const peerGaveUp = new AbortController()
    // (This handler also marks the promise observed; a failure reaches a writer waiting for credit through the window.)
    acks.committed.catch(err => { peerGaveUp.abort(err) })
    const sendSignal = init.signal === undefined ? peerGaveUp.signal : AbortSignal.any([init.signal, peerGaveUp.signal])

    const totalBytes = source.disks.reduce((n, d) => n + d.size, 0)
    let seq = 0
    let batches = 0
    let blockBytes = 0
    let sentTotal = 0
    let changedBlocks = 0
    let doneBefore = 0
    const sendBatch = async (disk: string, entries: BlockEntry[], release: Array<() => void> = []): Promise<void> => {
      seq++
      if (seq <= accept.resumeAfter) { for (const r of release) r(); return } // held by the Replica already: not sent
      const frame = encodeBlocks({ cycle, seq, disk, entries })
      await reserve(window, frame.byteLength, init.signal)
      await init.limiter?.take(frame.byteLength, init.signal)
      init.onBatch?.({ seq, frameBytes: frame.byteLength })
      sentTotal += frame.byteLength
      const batch: SentBatch = { total: sentTotal, release, handedOver: false }
      sent.set(seq, batch)
      lastSend = performance.now()
      await io.sendEncoded(frame, sendSignal)
      batch.handedOver = true
      batches++
      blockBytes += frame.byteLength
    }

    const disks: SentCycle['disks'] = []
    for (const d of source.disks) {
      const base = init.base?.manifests.get(d.name)
      const perBatch = Math.max(1, Math.floor(TARGET_BATCH_RAW_BYTES / d.blockSize))
      const sentAsData: number[] = []
      let pending: SourceBlock[] = []
      const flush = async (): Promise<void> => {
        if (pending.length === 0) return
        const entries = pending.map(b => ({ index: b.index, hash: b.hash, codec: b.codec as WireCodec, rawLength: b.rawLength, data: b.data }))
        const release = pending.flatMap(b => b.release === undefined ? [] : [b.release])
        pending = []
        await sendBatch(d.name, entries, release)
      }
      const { manifest, changed } = await source.scan(d.name, base, async blocks => {
        for (const b of blocks) {
          pending.push(b)
          sentAsData.push(b.index)
          if (pending.length >= perBatch) await flush()
        }
        const last = blocks.at(-1)
        if (last !== undefined) init.onProgress?.({ phase: `send ${d.name}`, done: doneBefore + (last.index + 1) * d.blockSize, total: totalBytes })
      }, init.signal, heal.get(d.name))
      await flush()
      if (manifest.size !== d.size || manifest.blockSize !== d.blockSize) throw new TypeError(`source disk ${d.name} changed shape during the cycle`)
      // Blocks that became zeros travel as entries without data, unless the Replica assumes zeros there anyway.
      const zeros = zeroEntries(changed, sentAsData, base, manifest)
      for (let i = 0; i < zeros.length; i += MAX_BATCH_ENTRIES) await sendBatch(d.name, zeros.slice(i, i + MAX_BATCH_ENTRIES))
      changedBlocks += changed.length
      doneBefore += d.size
      disks.push({ name: d.name, manifest })
    }
    if (seq < accept.resumeAfter) throw violation(`the Replica holds ${accept.resumeAfter} batches; this cycle has ${seq}`)

    await source.finish?.()
    const roots = disks.map(d => ({ name: d.name, root: diskRoot(d.manifest) }))
    lastSend = performance.now()
    await io.send({ t: 'cycle-end', cycle, lastSeq: seq, disks: roots }, init.signal)
    const committed = await withTimeout(acks.committed, TIMEOUT_COMMIT_MS, init.signal)
    if (committed !== pointRoot(roots)) throw violation('the Replica committed another root')
    await init.stream.close().catch(() => {})
    const healRequested = [...heal.values()].reduce((n, b) => n + b.length, 0)
    return { root: committed, disks, resumedAfter: accept.resumeAfter, batches, blockBytes, wireBytes: io.sentBytes, changedBlocks, healRequested }
  } catch (caught) {
    // A write that failed because the Replica ended the stream: its reason, read by the reader, is the real one.
    const err = linkFailure(caught) && peerFailure !== undefined ? await settled(peerFailure) ?? caught : caught
    const code = err instanceof P2pError ? err.code : P2pErrorCode.P2P_ABORTED
    if (code === P2pErrorCode.P2P_PROTOCOL_VIOLATION || code === P2pErrorCode.P2P_MESSAGE_MALFORMED || code === P2pErrorCode.P2P_MESSAGE_UNKNOWN) await io.fail(code)
    else init.stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  } finally {
    clearInterval(keepalive)
    credit?.close(new P2pError(P2pErrorCode.P2P_STREAM_CLOSED, 'the cycle ended'))
  }
}

/** A batch sent and not yet acknowledged (the last one acknowledged is kept: an ack may repeat). */
interface SentBatch {
  /** Frame bytes sent through this batch: what an ack of it frees in the credit window. */
  total: number
  /** Its blocks' SourceBlock.release, called (once) when it is acknowledged. */
  release: Array<() => void>
  /**
   * The stream took the whole frame. An ack releases nothing past the first
   * batch not handed over, so a Replica that acks early cannot make the
   * source reuse data the stream still holds.
   */
  handedOver: boolean
}

/**
 * The reader side of a cycle: an ack frees credit and releases the blocks
 * of every batch up to it, `committed` ends it. Any failure closes the
 * window so that a waiting writer wakes up with it.
 */
function readAcks (io: ReplicationStream, cycle: Uint8Array, window: CreditWindow, sent: Map<number, SentBatch>): { committed: Promise<string> } {
  const committed = (async () => {
    try {
      for (;;) {
        const { message: m } = await io.next(TIMEOUT_FOREVER_MS)
        if (m.t === 'keepalive') continue
        if (m.t === 'committed') {
          if (!sameBytes(m.cycle, cycle)) throw violation('committed for another cycle')
          return m.root
        }
        const ack = expectType(m, 'ack')
        if (!sameBytes(ack.cycle, cycle)) throw violation('ack for another cycle')
        const acked = sent.get(ack.seq)
        if (acked === undefined) throw violation(`ack of batch ${ack.seq}, which was not sent`)
        window.acknowledge(acked.total, ack.credit)
        for (const [s, batch] of sent) {
          if (s > ack.seq || !batch.handedOver) break
          for (const release of batch.release.splice(0)) release()
          if (s < ack.seq) sent.delete(s)
        }
      }
    } catch (err) {
      window.close(err)
      throw err
    }
  })()
  return { committed }
}

/** The reader waits as long as the writer needs (a long scan of unchanged data); the writer's own waits carry the time limits. */
const TIMEOUT_FOREVER_MS = 2 ** 31 - 1

async function reserve (window: CreditWindow, bytes: number, signal?: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(TIMEOUT_ACK_MS)
  try {
    await window.reserve(bytes, signal === undefined ? timeout : AbortSignal.any([signal, timeout]))
  } catch (err) {
    if (timeout.aborted && signal?.aborted !== true) throw new P2pError(P2pErrorCode.P2P_TIMEOUT, `no acknowledgement within ${TIMEOUT_ACK_MS} ms`, { cause: err })
    throw err
  }
}

async function withTimeout<T> (p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new P2pError(P2pErrorCode.P2P_TIMEOUT, `no answer within ${ms} ms`)) }, ms)
      onAbort = () => { reject(new P2pError(P2pErrorCode.P2P_ABORTED, 'the transfer was cancelled', { cause: signal?.reason })) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * Changed indices (ascending) that were not sent with data, i.e. now zeros,
 * and that the Replica would not assume to be zeros: ZERO entries.
 */
function zeroEntries (changed: number[], sentAsData: number[], base: Manifest | undefined, manifest: Manifest): BlockEntry[] {
  const out: BlockEntry[] = []
  let j = 0
  for (const i of changed) {
    while (j < sentAsData.length && sentAsData[j]! < i) j++
    if (sentAsData[j] === i) continue
    if (assumesZero(base, manifest, i)) continue
    const rawLength = blockLength(manifest, i)
    out.push({ index: i, hash: zeroHash(rawLength), codec: WireCodec.ZERO, rawLength, data: new Uint8Array(0) })
  }
  return out
}

/**
 * The Replica's heal request, checked against the cycle's disks: each disk
 * of the cycle at most once, indices strictly ascending and inside the
 * disk. Anything else is P2P_PROTOCOL_VIOLATION (the sender would read
 * past a disk or cut batches it cannot reproduce).
 */
function checkHeal (heal: HealRequest[] | undefined, disks: CycleSource['disks']): Map<string, number[]> {
  const out = new Map<string, number[]>()
  for (const h of heal ?? []) {
    const disk = disks.find(d => d.name === h.disk)
    if (disk === undefined) throw violation(`heal request for disk ${h.disk}, which the cycle does not have`)
    if (out.has(h.disk)) throw violation(`two heal requests for disk ${h.disk}`)
    const count = blockCount(disk.size, disk.blockSize)
    h.blocks.forEach((b, k) => {
      if (b >= count) throw violation(`heal request for block ${b}, past the end of disk ${h.disk}`)
      if (k > 0 && b <= h.blocks[k - 1]!) throw violation(`heal request of disk ${h.disk} is not strictly ascending`)
    })
    if (h.blocks.length > 0) out.set(h.disk, h.blocks)
  }
  return out
}

const linkFailure = (err: unknown): boolean => err instanceof P2pError && (err.code === P2pErrorCode.P2P_STREAM_CLOSED || err.code === P2pErrorCode.P2P_TIMEOUT)

/** The error a promise settles with, if it fails within a moment (the reader is draining what the peer sent last). */
async function settled (p: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    p.then(() => undefined, err => err),
    new Promise(resolve => { timer = setTimeout(resolve, SETTLE_MS) })
  ])
  clearTimeout(timer)
  return outcome instanceof P2pError && !linkFailure(outcome) ? outcome : undefined
}

/** How long a failed sender waits for the Replica's last words (an error message already on its way). */
const SETTLE_MS = 2000
