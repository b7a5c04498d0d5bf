import { AppError, AppErrorCode } from '../../../errors.ts'
import { readTextIfExists, writeFileAtomic } from '../../../fs-util.ts'

/**
 * The durable record of one tracked disk (docs/change-tracking.md): which
 * QEMU dirty bitmap holds the changes since the last replicated point, the
 * root of that point's manifest (what the bitmap is relative to), and the
 * cycle in flight, written before QEMU is asked to act so that a restart
 * can finish or undo what a crash interrupted.
 */
export interface TrackingState {
  version: 1
  /** Size of the disk when the bitmap started; another size means tracking starts over. */
  size: number
  /** Bitmap recording writes since `baseRoot`'s moment (null before the first cycle). */
  bitmap: string | null
  /**
   * Root of the disk manifest the bitmap is relative to: the disk as
   * replicated by the last successful cycle. Null when no cycle has
   * succeeded since tracking (re)started: the next cycle compares hashes.
   */
  baseRoot: string | null
  /** Counter naming bitmaps and temporary nodes (tandem-<n>), never reused. */
  generation: number
  /** A point taken and not yet completed. */
  pending: PendingPoint | null
  /**
   * Set when something outside QEMU may have written the disk (an offline
   * edit: offline-edits.ts): the bitmap cannot vouch, whatever it says. The
   * next point compares hashes and clears it.
   */
  distrust?: string
}

export interface PendingPoint {
  /** The bitmap the point's transaction adds (records writes after the point). */
  next: string
  /** The temporary node holding the point-in-time view, and its scratch file. */
  fleece: string
  scratch: string
  /** Whether the point diffs by `bitmap` (else by hashes). */
  tracked: boolean
}

export const initialTrackingState = (size: number): TrackingState => ({ version: 1, size, bitmap: null, baseRoot: null, generation: 0, pending: null })

/** The state in `file`, or undefined when there is none. APP_STATE_CORRUPT when it is damaged (never silently reset: that would hide lost changes). */
export async function loadTrackingState (file: string): Promise<TrackingState | undefined> {
  const text = await readTextIfExists(file)
  if (text === undefined) return undefined
  let v: TrackingState
  try {
    v = JSON.parse(text) as TrackingState
  } catch (err) {
    throw new AppError(AppErrorCode.APP_STATE_CORRUPT, `${file} is not valid JSON`, { cause: err })
  }
  const name = (x: unknown): boolean => x === null || (typeof x === 'string' && BITMAP_NAME.test(x))
  const ok = typeof v === 'object' && v !== null && v.version === 1 &&
    Number.isSafeInteger(v.size) && v.size >= 0 && Number.isSafeInteger(v.generation) && v.generation >= 0 &&
    name(v.bitmap) && (v.baseRoot === null || (typeof v.baseRoot === 'string' && /^[0-9a-f]{64}$/.test(v.baseRoot))) &&
    (v.pending === null || (typeof v.pending === 'object' && name(v.pending.next) && name(v.pending.fleece) &&
      typeof v.pending.scratch === 'string' && typeof v.pending.tracked === 'boolean')) &&
    (v.distrust === undefined || typeof v.distrust === 'string')
  if (!ok) throw new AppError(AppErrorCode.APP_STATE_CORRUPT, `${file} is not a version 1 tracking state`)
  return v
}

export async function saveTrackingState (file: string, state: TrackingState): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n')
}

/** Names Tandem gives bitmaps and nodes: tandem-<generation>, tandem-fleece-[<tag>-]<generation> (live-disk.ts FLEECE_TAG). */
export const BITMAP_NAME = /^tandem-(?:fleece-(?:[a-z0-9]{1,3}-)?)?[0-9]{1,15}$/
