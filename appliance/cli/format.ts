/**
 * How the CLI shows engine values: byte sizes, times, hashes, and the JSON
 * form of a recovery point. Pure; no I/O.
 */
import type { RecoveryPoint } from '../../core/index.ts'

/** Hex characters of a root hash shown in human output (48 bits: unambiguous in any one store). */
export const SHORT_HASH_CHARS = 12

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** `512 B`, `64.0 KiB`, `1.5 GiB`. */
export function formatBytes (n: number): string {
  let value = n
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${UNITS[unit]}`
}

export function isoTime (ms: number): string {
  return new Date(ms).toISOString()
}

export function shortHash (hex: string): string {
  return hex.slice(0, SHORT_HASH_CHARS)
}

/** Counted words (`1 point`, `3 points`): the service's, so plans and commands count alike. */
export { plural } from '../service/index.ts'

/** A plan's words as the daemon wrote them (`--dry-run`): the same lines the web page shows. */
export function summaryText (plan: { summary: string[] }): string {
  return plan.summary.join('\n')
}

/** The JSON form of a recovery point in every `--json` document. */
export interface PointJson {
  id: number
  time: string
  consistency: string
  consistencyNote?: string
  root: string
  disks: Array<{ name: string, size: number, blockSize: number, root: string }>
}

export function pointJson (p: RecoveryPoint): PointJson {
  return {
    id: p.id,
    time: isoTime(p.time),
    consistency: p.consistency,
    ...(p.consistencyNote === undefined ? {} : { consistencyNote: p.consistencyNote }),
    root: p.root,
    disks: p.disks.map(d => ({ name: d.name, size: d.size, blockSize: d.blockSize, root: d.root }))
  }
}

/** One line: `point 2  2026-01-01T10:00:00.000Z  crash  root 1a2b3c4d5e6f  vm.img 512.0 MiB`. */
export function pointLine (p: RecoveryPoint): string {
  const disks = p.disks.map(d => `${d.name} ${formatBytes(d.size)}`).join(', ')
  return `point ${p.id}  ${isoTime(p.time)}  ${p.consistency}  root ${shortHash(p.root)}  ${disks}`
}

/** Paired boxes' names by peer id, for the words (`pairList`). */
export type PeerNames = ReadonlyMap<string, string>

/** The names of the paired boxes for the words; an empty map with `--json` or when they cannot be read (the words then show peer ids). */
export async function peerNames (service: { pairList: () => Promise<Array<{ peerId: string, name: string }>> }, opts: { json?: boolean } = {}): Promise<PeerNames> {
  if (opts.json === true) return new Map() // JSON carries peer ids; the names are for the words
  try {
    return new Map((await service.pairList()).map(p => [p.peerId, p.name]))
  } catch {
    return new Map()
  }
}

/** A box in words: its name when paired (`hq`), else its peer id. */
export function peerLabel (peer: string, names: PeerNames = new Map()): string {
  return names.get(peer) ?? peer
}
