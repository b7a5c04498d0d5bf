import { DISK_NAME_PATTERN, MAX_ADDITIONAL_POINTS } from '../../core/constants.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { MAX_DISK_BYTES, MAX_DISKS } from '../replication/constants.ts'
import { isPlainMap, packMessage, unpackMessage } from '../wire/msgpack.ts'
import {
  MAX_ADDRESS_CHARS, MAX_ANSWER_ADDRESSES, MAX_APP_CONSISTENT_MS, MAX_BANDWIDTH_BYTES_PER_SECOND, MAX_BOOT_APPEND_BYTES, MAX_BOOT_PATH_BYTES, MAX_FREQUENCY_MS, MAX_MEMORY_MIB, MAX_NICS,
  MAX_RELATIONSHIP_FRAME_BYTES, MAX_VCPUS, NIC_BRIDGE_PATTERN, NIC_MAC_PATTERN, NIC_MODEL_PATTERN
} from './constants.ts'

/**
 * Relationship protocol v1 messages (docs/relationship-protocol.md). This
 * file is the boundary: every message from a peer is decoded and checked
 * here, once, for type, shape and bounds, and comes out as a new object
 * holding only the fields this version knows (unknown fields are dropped,
 * never passed on). What depends on what the receiving box holds (terms,
 * which peer holds an id, which side it is) is its handler's to check: the
 * Replica's registrar, the primary's RelationshipPrimary.
 */

export type DriverKind = 'qemu' | 'manual'
/** How the VM boots: firmware (`bios`, `uefi`) or a kernel given directly (`kernel`); null when not known (a manual-driver VM that names no kernel). */
export type BootKind = 'bios' | 'uefi' | 'kernel'
export type DiskFormat = 'raw' | 'qcow2'

/** One disk of the protected VM. Its path is the primary's own and does not travel. */
export interface ProtectedDisk {
  /** The disk's name in recovery points (core's DISK_NAME_PATTERN). */
  name: string
  /** Bytes, 0..MAX_DISK_BYTES. */
  size: number
  format: DiskFormat
}

/** How a NIC reaches a network on the primary (the QEMU driver's NIC modes, docs/vms.md). */
export type ProtectedNicMode = 'none' | 'isolated' | 'user' | 'bridge'

/**
 * One NIC: its device model, and (optional: absent from older primaries)
 * how it is connected there and its MAC. A failover starts the VM with the
 * same MAC (a guest's network set-up often follows it) and the same mode
 * where this box can give it (a bridge of the same name); the Replica
 * decides (docs/failover.md "Unplanned failover").
 */
export interface ProtectedNic {
  model: string
  mode?: ProtectedNicMode
  /** The host bridge's name (with mode `bridge` only): NIC_BRIDGE_PATTERN. */
  bridge?: string
  /** A unicast MAC, `52:54:00:12:34:56`: NIC_MAC_PATTERN. */
  mac?: string
}

/**
 * What a VM that boots a kernel directly boots: absolute paths on the
 * primary (the files are not sent: the Replica uses the same paths on its
 * own box, and says which file to copy when one is missing), and the
 * kernel command line.
 */
export interface KernelBoot {
  /** Absolute path, at most MAX_BOOT_PATH_BYTES of UTF-8. */
  kernel: string
  initrd?: string
  /** One line, at most MAX_BOOT_APPEND_BYTES of UTF-8. */
  append?: string
}

/** What the Replica needs to show the VM and to start it on its own in a failover. */
export interface ProtectedVm {
  /** DISK_NAME_PATTERN. */
  name: string
  driver: DriverKind
  vcpus: number
  memoryMiB: number
  boot: BootKind | null
  /** 1..MAX_DISKS, names unique. */
  disks: ProtectedDisk[]
  /** 0..MAX_NICS. */
  nics: ProtectedNic[]
  /** Optional (absent from older primaries): what a `kernel` boot boots. Only with boot `kernel`. */
  kernelBoot?: KernelBoot
}

/**
 * How the first full copy is made: over the network now or at a time (ms
 * since the epoch), from a seed file imported on the Replica (its path is
 * the Replica's own), or from a copy already on the Replica.
 */
export type InitialReplication = { mode: 'now' } | { mode: 'at', at: number } | { mode: 'seed' } | { mode: 'existing' }

export interface ProtectionSettings {
  /** Milliseconds between cycle starts (1..MAX_FREQUENCY_MS), or back-to-back cycles. */
  frequency: number | 'continuous'
  /** Additional recovery points kept besides the latest (0..MAX_ADDITIONAL_POINTS). */
  recoveryPoints: number
  /** Milliseconds between app-consistent points (1..MAX_APP_CONSISTENT_MS), or null for crash-consistent points only. */
  appConsistentEvery: number | null
  /** Bytes per second the primary may send (1..MAX_BANDWIDTH_BYTES_PER_SECOND), or null for no limit. */
  bandwidth: number | null
  initial: InitialReplication
}

/**
 * A whole relationship as the primary holds it. `offer` and `update` both
 * carry all of it, never a difference: applying one twice is applying it
 * once, and a lost update is repaired by the next.
 */
export interface RelationshipDescription {
  /** The replication protocol's relationship name (DISK_NAME_PATTERN), the same on both boxes. */
  relationship: string
  /** u32; raised by every failover. */
  term: number
  /** Replication suspended by the operator (the Replica shows it; no cycles come). */
  suspended: boolean
  vm: ProtectedVm
  settings: ProtectionSettings
}

/** The primary stops protecting the VM. The Replica keeps its recovery points until its operator removes them. */
export interface RelationshipRemoval {
  relationship: string
  term: number
}

/**
 * The Replica failed over the relationship (the one request a Replica sends
 * its primary): it raised the relationship's term to `term` at `at` (ms
 * since the epoch, the Replica's clock). The primary is no longer the
 * primary and stops replicating it.
 */
export interface FailoverNotice {
  relationship: string
  /** u32: the Replica's term after the failover. */
  term: number
  at: number
}

/**
 * The primary's planned failover (docs/failover.md "Planned failover"): it
 * shut the VM down and replicated its last changes as the point whose root
 * is `root`; the Replica fails over to that point (its latest) at a term
 * above `term`, starts the VM, and reverses replication.
 */
export interface PlannedFailover {
  relationship: string
  /** u32: the primary's term (the Replica's until it fails over). */
  term: number
  /** The final point's root: 64 lower-case hex characters. */
  root: string
}

/** A recovery point both boxes hold: the point the new primary failed over from. */
export interface SharedPoint {
  /** 64 lower-case hex characters. */
  root: string
  /** Its snapshot time, ms since the epoch. */
  time: number
}

/**
 * Sent by the new primary (the box that failed over and now runs the VM)
 * to its old primary: become the Replica of the relationship at the
 * description's term (above the old primary's), after keeping the disk as
 * it is now (a salvage copy of what it wrote after `base`). `force` asks
 * to stop the VM if it still runs there.
 */
export interface Reversal extends RelationshipDescription {
  force: boolean
  /** The last point both boxes share, or null when the new primary holds none. */
  base: SharedPoint | null
}

/** Requests from the primary (offer, update, remove, planned-failover), from the Replica (failed-over), and from a new primary (reverse). */
export type RelationshipRequest =
  | ({ t: 'offer' } & RelationshipDescription)
  | ({ t: 'update' } & RelationshipDescription)
  | ({ t: 'remove' } & RelationshipRemoval)
  | ({ t: 'failed-over' } & FailoverNotice)
  | ({ t: 'planned-failover' } & PlannedFailover)
  | ({ t: 'reverse' } & Reversal)

/**
 * The answer. `addresses` (optional, absent from older builds and from
 * every answer but the one to `reverse`): where the answering box listens,
 * multiaddrs as text, so that the new primary can dial its new Replica
 * again after the link drops (a Replica never dials its primary, and
 * libp2p learns no listen address from a connection the other side opened).
 */
export type RelationshipAnswer = { t: 'accepted', addresses?: string[] } | { t: 'error', code: P2pErrorCode }

export type RelationshipMessage = RelationshipRequest | RelationshipAnswer

export function encodeRelationship (m: RelationshipMessage): Uint8Array {
  return packMessage(m)
}

const bad = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_MESSAGE_MALFORMED, `malformed relationship message: ${why}`)

const map = (v: unknown, what: string): Record<string, unknown> => {
  if (!isPlainMap(v)) throw bad(`${what} must be a map`)
  return v
}
/** An exact integer in min..max (msgpack's 64-bit integers beyond 2^53 decode as bigint and are refused here). */
const int = (v: unknown, what: string, min: number, max: number): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(`${what} must be an integer from ${min} to ${max}`)
  return v
}
const u32 = (v: unknown, what: string): number => int(v, what, 0, 0xffffffff)
const name = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || !DISK_NAME_PATTERN.test(v)) throw bad(`${what} must match ${String(DISK_NAME_PATTERN)}`)
  return v
}
const oneOf = <T extends string>(v: unknown, what: string, values: readonly T[]): T => {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw bad(`${what} must be one of ${values.join(', ')}`)
  return v as T
}
const list = (v: unknown, what: string, min: number, max: number): unknown[] => {
  if (!Array.isArray(v) || v.length < min || v.length > max) throw bad(`${what} must be a list of ${min} to ${max}`)
  return v
}
/** Multiaddrs as text, checked for shape and bounds only: the caller parses them, and a dial proves the peer id by Noise. */
const addresses = (v: unknown): string[] => {
  if (!Array.isArray(v) || v.length > MAX_ANSWER_ADDRESSES) throw bad(`addresses must be a list of at most ${MAX_ANSWER_ADDRESSES}`)
  return v.map(a => {
    if (typeof a !== 'string' || a.length === 0 || a.length > MAX_ADDRESS_CHARS || a[0] !== '/') throw bad(`an address must be a multiaddr of at most ${MAX_ADDRESS_CHARS} characters`)
    return a
  })
}
const orNull = <T>(v: unknown, check: (v: unknown) => T): T | null => v === null ? null : check(v)
const bool = (v: unknown, what: string): boolean => {
  if (typeof v !== 'boolean') throw bad(`${what} must be true or false`)
  return v
}

function disk (v: unknown): ProtectedDisk {
  const d = map(v, 'a disk')
  return { name: name(d.name, 'a disk name'), size: int(d.size, 'a disk size', 0, MAX_DISK_BYTES), format: oneOf(d.format, 'a disk format', ['raw', 'qcow2']) }
}

/** An absolute path without NUL or line breaks, at most MAX_BOOT_PATH_BYTES of UTF-8. */
const bootPath = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || !v.startsWith('/') || /[\0\r\n]/.test(v) || Buffer.byteLength(v) > MAX_BOOT_PATH_BYTES) {
    throw bad(`${what} must be an absolute path of at most ${MAX_BOOT_PATH_BYTES} bytes on one line`)
  }
  return v
}

function kernelBoot (v: unknown): KernelBoot {
  const o = map(v, 'kernelBoot')
  const out: KernelBoot = { kernel: bootPath(o.kernel, 'kernelBoot.kernel') }
  if (o.initrd !== undefined) out.initrd = bootPath(o.initrd, 'kernelBoot.initrd')
  if (o.append !== undefined) {
    if (typeof o.append !== 'string' || /[\0\r\n]/.test(o.append) || Buffer.byteLength(o.append) > MAX_BOOT_APPEND_BYTES) {
      throw bad(`kernelBoot.append must be one line of at most ${MAX_BOOT_APPEND_BYTES} bytes`)
    }
    out.append = o.append
  }
  return out
}

function nic (v: unknown): ProtectedNic {
  const n = map(v, 'a nic')
  if (typeof n.model !== 'string' || !NIC_MODEL_PATTERN.test(n.model)) throw bad(`a nic model must match ${String(NIC_MODEL_PATTERN)}`)
  const out: ProtectedNic = { model: n.model }
  if (n.mode !== undefined) out.mode = oneOf<ProtectedNicMode>(n.mode, 'a nic mode', ['none', 'isolated', 'user', 'bridge'])
  if (n.bridge !== undefined) {
    if (out.mode !== 'bridge') throw bad('a nic bridge goes only with mode bridge')
    if (typeof n.bridge !== 'string' || !NIC_BRIDGE_PATTERN.test(n.bridge)) throw bad(`a nic bridge must match ${String(NIC_BRIDGE_PATTERN)}`)
    out.bridge = n.bridge
  }
  if (n.mac !== undefined) {
    if (typeof n.mac !== 'string' || !NIC_MAC_PATTERN.test(n.mac)) throw bad(`a nic mac must match ${String(NIC_MAC_PATTERN)}`)
    out.mac = n.mac
  }
  return out
}

function vm (v: unknown): ProtectedVm {
  const o = map(v, 'vm')
  const disks = list(o.disks, 'disks', 1, MAX_DISKS).map(disk)
  if (new Set(disks.map(d => d.name)).size !== disks.length) throw bad('disk names must be unique')
  const nics = list(o.nics, 'nics', 0, MAX_NICS).map(nic)
  const out: ProtectedVm = {
    name: name(o.name, 'the vm name'),
    driver: oneOf(o.driver, 'driver', ['qemu', 'manual']),
    vcpus: int(o.vcpus, 'vcpus', 1, MAX_VCPUS),
    memoryMiB: int(o.memoryMiB, 'memoryMiB', 1, MAX_MEMORY_MIB),
    boot: orNull(o.boot, b => oneOf(b, 'boot', ['bios', 'uefi', 'kernel'])),
    disks,
    nics
  }
  if (o.kernelBoot !== undefined) {
    if (out.boot !== 'kernel') throw bad('kernelBoot goes only with boot kernel')
    out.kernelBoot = kernelBoot(o.kernelBoot)
  }
  return out
}

function initial (v: unknown): InitialReplication {
  const o = map(v, 'initial')
  const mode = oneOf(o.mode, 'initial mode', ['now', 'at', 'seed', 'existing'])
  return mode === 'at' ? { mode, at: int(o.at, 'initial at', 0, Number.MAX_SAFE_INTEGER) } : { mode }
}

function settings (v: unknown): ProtectionSettings {
  const o = map(v, 'settings')
  return {
    frequency: o.frequency === 'continuous' ? 'continuous' : int(o.frequency, 'frequency', 1, MAX_FREQUENCY_MS),
    recoveryPoints: int(o.recoveryPoints, 'recoveryPoints', 0, MAX_ADDITIONAL_POINTS),
    appConsistentEvery: orNull(o.appConsistentEvery, x => int(x, 'appConsistentEvery', 1, MAX_APP_CONSISTENT_MS)),
    bandwidth: orNull(o.bandwidth, x => int(x, 'bandwidth', 1, MAX_BANDWIDTH_BYTES_PER_SECOND)),
    initial: initial(o.initial)
  }
}

function description (o: Record<string, unknown>): RelationshipDescription {
  return {
    relationship: name(o.relationship, 'relationship'),
    term: u32(o.term, 'term'),
    suspended: bool(o.suspended, 'suspended'),
    vm: vm(o.vm),
    settings: settings(o.settings)
  }
}

/** A point's root: a BLAKE3 hash in lower-case hex. */
const ROOT_PATTERN = /^[0-9a-f]{64}$/
const root = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || !ROOT_PATTERN.test(v)) throw bad(`${what} must be 64 lower-case hex characters`)
  return v
}

function sharedPoint (v: unknown): SharedPoint {
  const o = map(v, 'base')
  return { root: root(o.root, 'base.root'), time: int(o.time, 'base.time', 0, Number.MAX_SAFE_INTEGER) }
}

const KNOWN_CODES = new Set<string>(Object.values(P2pErrorCode))

/**
 * Decodes one frame from a peer. Throws P2P_MESSAGE_MALFORMED (not plain
 * msgpack, not a map, a field missing, of the wrong type or out of bounds,
 * an error code this build does not know) or P2P_MESSAGE_UNKNOWN (a `t`
 * this version does not know), never anything else. Which side may send
 * which message is the caller's check.
 */
export function decodeRelationship (frame: Uint8Array): RelationshipMessage {
  if (frame.byteLength > MAX_RELATIONSHIP_FRAME_BYTES) throw bad('frame too large')
  let v: unknown
  try {
    v = unpackMessage(frame)
  } catch {
    throw bad('not plain msgpack')
  }
  const o = map(v, 'a message')
  switch (o.t) {
    case 'offer':
      return { t: 'offer', ...description(o) }
    case 'update':
      return { t: 'update', ...description(o) }
    case 'remove':
      return { t: 'remove', relationship: name(o.relationship, 'relationship'), term: u32(o.term, 'term') }
    case 'failed-over':
      return { t: 'failed-over', relationship: name(o.relationship, 'relationship'), term: u32(o.term, 'term'), at: int(o.at, 'at', 0, Number.MAX_SAFE_INTEGER) }
    case 'planned-failover':
      return { t: 'planned-failover', relationship: name(o.relationship, 'relationship'), term: u32(o.term, 'term'), root: root(o.root, 'root') }
    case 'reverse':
      return { t: 'reverse', ...description(o), force: bool(o.force, 'force'), base: orNull(o.base, sharedPoint) }
    case 'accepted':
      return o.addresses === undefined ? { t: 'accepted' } : { t: 'accepted', addresses: addresses(o.addresses) }
    case 'error':
      if (typeof o.code !== 'string' || !KNOWN_CODES.has(o.code)) throw bad('error code')
      return { t: 'error', code: o.code as P2pErrorCode }
    default:
      throw new P2pError(P2pErrorCode.P2P_MESSAGE_UNKNOWN, `unknown relationship message type ${String(o.t).slice(0, 32)}`)
  }
}
