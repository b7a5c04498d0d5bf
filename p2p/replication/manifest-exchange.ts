import type { Stream } from '@libp2p/interface'
import { HASH_LENGTH } from '../../core/constants.ts'
import { blockCount, diskRoot } from '../../core/manifest.ts'
import type { Manifest } from '../../core/types.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { MAX_DISKS, MAX_MANIFEST_HASH_BYTES, MAX_PAGE_HASHES } from './constants.ts'
import { checkHello, expectType, HELLO, ReplicationStream, violation } from './message-stream.ts'
import type { ReplicaTarget } from './replica.ts'

/** The Replica's latest point as the sender needs it to resynchronize: its root, term and disk manifests. */
export interface ReplicaManifests {
  /** Root of the Replica's latest point; null when it holds none. */
  point: string | null
  term: number
  manifests: Map<string, Manifest>
}

/** Replica side: answers `manifest-request` with the latest point's manifests, page by page. */
export async function sendManifests (io: ReplicationStream, target: ReplicaTarget): Promise<void> {
  const latest = (await target.points()).at(-1)
  for (const d of latest?.disks ?? []) {
    const m = await target.manifest(latest!.root, d.name)
    const pageBytes = MAX_PAGE_HASHES * HASH_LENGTH
    for (let at = 0, page = 0; at < m.hashes.byteLength; at += pageBytes, page++) {
      await io.send({ t: 'manifest-page', disk: d.name, page, hashes: m.hashes.subarray(at, at + pageBytes) })
    }
    await io.send({ t: 'manifest-end', disk: d.name, size: m.size, blockSize: m.blockSize, root: diskRoot(m) })
  }
  await io.send({ t: 'manifest-done', point: latest?.root ?? null, term: latest?.term ?? 0 })
}

/**
 * Sender side: asks the Replica for its latest point's manifests (to
 * resynchronize after P2P_RESYNC_REQUIRED, or to seed an initial
 * replication from a copy the Replica already holds), as the primary of
 * `relationship` at `term`. Every page is checked against the disk's root.
 * Ends the stream. Throws P2P_PROTOCOL_VIOLATION, P2P_TIMEOUT,
 * P2P_STREAM_CLOSED, or the Replica's error code (P2P_STALE_TERM,
 * P2P_FAILED_OVER: this box is no longer the primary there).
 */
export async function fetchManifests (stream: Stream, relationship: string, term: number): Promise<ReplicaManifests> {
  if (!Number.isInteger(term) || term < 0 || term > 0xffffffff) throw new TypeError('term must be a u32')
  const io = new ReplicationStream(stream)
  try {
    await io.send(HELLO)
    checkHello(await io.expect('hello'))
    await io.send({ t: 'manifest-request', relationship, term })
    const manifests = new Map<string, Manifest>()
    let pages: Uint8Array[] = []
    let held = 0
    for (;;) {
      const { message: m } = await io.next(MANIFEST_STEP_MS)
      if (m.t === 'manifest-page') {
        if (m.page !== pages.length || manifests.has(m.disk)) throw violation('manifest pages out of order')
        held += m.hashes.byteLength
        if (held > MAX_MANIFEST_HASH_BYTES) throw violation('manifest larger than any disk this box replicates')
        pages.push(m.hashes.slice())
        continue
      }
      if (m.t === 'manifest-end') {
        const hashes = new Uint8Array(Buffer.concat(pages))
        pages = []
        const manifest = { size: m.size, blockSize: m.blockSize, hashes }
        if (manifests.has(m.disk) || manifests.size >= MAX_DISKS) throw violation('a disk twice, or too many disks')
        if (hashes.byteLength !== blockCount(m.size, m.blockSize) * HASH_LENGTH || diskRoot(manifest) !== m.root) throw violation(`the manifest of disk ${m.disk} does not match its root`)
        manifests.set(m.disk, manifest)
        continue
      }
      const done = expectType(m, 'manifest-done')
      if (pages.length > 0) throw violation('manifest pages without their end')
      if ((done.point === null) !== (manifests.size === 0)) throw violation('manifests without a point, or a point without manifests')
      await stream.close().catch(() => {})
      return { point: done.point, term: done.term, manifests }
    }
  } catch (err) {
    const code = err instanceof P2pError ? err.code : P2pErrorCode.P2P_PROTOCOL_VIOLATION
    if (code === P2pErrorCode.P2P_PROTOCOL_VIOLATION) await io.fail(code)
    else stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

/** Time for the Replica's next manifest message (it reads pages from its index). */
const MANIFEST_STEP_MS = 60_000
