import { isPlainMap, packMessage as pack, unpackMessage as unpack } from '../wire/msgpack.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { isBoxName, MAX_NAME_CHARS } from './box-name.ts'
import { CPACE_SHARE_BYTES } from './cpace-constants.ts'

/** Pairing protocol id; the version changes with any incompatible message change. */
export const PAIRING_PROTOCOL = '/tandem/pair/1.0.0'
/** Largest pairing message: a few shares and names; anything bigger is hostile. */
export const MAX_PAIRING_MESSAGE_BYTES = 1024
/** A pairing attempt must finish within this: a human typed the PIN before it started. */
export const TIMEOUT_PAIRING_MS = 30_000
export { MAX_NAME_CHARS } from './box-name.ts'
export const SID_BYTES = 16
export const CONFIRM_BYTES = 32

export type PairingMode = 'pin' | 'qr'
export type BoxRole = 'primary' | 'replica' | 'both'

/** Joiner -> host: starts CPace. */
export interface Pair1 { t: 'pair1', mode: PairingMode, sid: Uint8Array, share: Uint8Array, name: string, role: BoxRole }
/** Host -> joiner: its share and its key confirmation. */
export interface Pair2 { t: 'pair2', share: Uint8Array, name: string, role: BoxRole, confirm: Uint8Array }
/** Joiner -> host: the joiner's key confirmation. */
export interface Pair3 { t: 'pair3', confirm: Uint8Array }
/** Host -> joiner: the host stored the pairing. */
export interface Pair4 { t: 'pair4' }
/** Either way: the attempt failed; only the code travels. */
export interface PairError { t: 'error', code: string }

export type PairingMessage = Pair1 | Pair2 | Pair3 | Pair4 | PairError

export function encodePairing (m: PairingMessage): Uint8Array {
  return pack(m)
}

const malformed = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_PAIRING_MALFORMED, `malformed pairing message: ${why}`)

function bytes (v: unknown, length: number, name: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.byteLength !== length) throw malformed(`${name} must be ${length} bytes`)
  return new Uint8Array(v)
}

function text (v: unknown, name: string): string {
  if (!isBoxName(v)) throw malformed(`${name} must be 1-${MAX_NAME_CHARS} printable characters (box-name.ts)`)
  return v
}

function role (v: unknown): BoxRole {
  if (v !== 'primary' && v !== 'replica' && v !== 'both') throw malformed('role')
  return v
}

/**
 * Decodes and checks one pairing message from an untrusted peer; only the
 * `expected` types are accepted (an error message always is). Throws
 * P2P_PAIRING_MALFORMED, never anything else.
 */
export function decodePairing<T extends PairingMessage['t']> (frame: Uint8Array, expected: T): Extract<PairingMessage, { t: T }> | PairError {
  if (frame.byteLength > MAX_PAIRING_MESSAGE_BYTES) throw malformed('too large')
  let v: Record<string, unknown>
  try {
    v = unpack(frame) as Record<string, unknown>
  } catch {
    throw malformed('not msgpack')
  }
  if (!isPlainMap(v)) throw malformed('not a map')
  if (v.t === 'error') {
    if (typeof v.code !== 'string' || !/^P2P_[A-Z_]{1,40}$/.test(v.code)) throw malformed('error code')
    return { t: 'error', code: v.code }
  }
  if (v.t !== expected) throw malformed(`expected ${expected}, got ${String(v.t).slice(0, 16)}`)
  let m: PairingMessage
  switch (expected) {
    case 'pair1':
      if (v.mode !== 'pin' && v.mode !== 'qr') throw malformed('mode')
      m = { t: 'pair1', mode: v.mode, sid: bytes(v.sid, SID_BYTES, 'sid'), share: bytes(v.share, CPACE_SHARE_BYTES, 'share'), name: text(v.name, 'name'), role: role(v.role) }
      break
    case 'pair2':
      m = { t: 'pair2', share: bytes(v.share, CPACE_SHARE_BYTES, 'share'), name: text(v.name, 'name'), role: role(v.role), confirm: bytes(v.confirm, CONFIRM_BYTES, 'confirm') }
      break
    case 'pair3':
      m = { t: 'pair3', confirm: bytes(v.confirm, CONFIRM_BYTES, 'confirm') }
      break
    case 'pair4':
      m = { t: 'pair4' }
      break
    default:
      throw malformed('unknown type')
  }
  return m as Extract<PairingMessage, { t: T }>
}
