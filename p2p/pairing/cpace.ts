/**
 * CPace, the balanced PAKE of the IETF CFRG (draft-irtf-cfrg-cpace), cipher
 * suite CPACE-RISTR255-SHA512, initiator-responder setting. Pure: no I/O.
 *
 * Only the draft's composition lives here; the primitives (ristretto255 and its
 * RFC 9496 element derivation, SHA-512, the random source) are @noble's audited
 * ones. Function names follow the draft; test/p2p/cpace.test.ts pins every step
 * against the draft's test vectors.
 *
 * Flow: both sides compute the same generator from (PRS, CI, sid), each sends
 * its share (plus its associated data), and each derives the ISK from its own
 * scalar and the peer's share. Equal ISKs if and only if PRS, CI, sid and the
 * transcript agree. The ISK is not confirmed here: the caller runs key
 * confirmation and feeds the ISK through a KDF before use, as the draft advises.
 */
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import {
  CPACE_DSI, CPACE_GENERATOR_HASH_BYTES, CPACE_GROUP_SIZE_BITS, CPACE_HASH_BLOCK_BYTES,
  CPACE_ISK_DSI_SUFFIX, CPACE_SCALAR_BYTES, CPACE_SHARE_BYTES,
  MAX_AD_BYTES, MAX_CI_BYTES, MAX_PRS_BYTES, MAX_SID_BYTES, MIN_SID_BYTES
} from './cpace-constants.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'

const Point = ristretto255.Point
/** A generator in the group's internal representation; never sent on the wire. */
export type CpaceGenerator = InstanceType<typeof Point>

export type CpaceRole = 'initiator' | 'responder'

const utf8 = new TextEncoder()
const DSI = utf8.encode(CPACE_DSI)
const ISK_DSI = utf8.encode(CPACE_DSI + CPACE_ISK_DSI_SUFFIX)
const GROUP_ORDER = Point.Fn.ORDER

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) { out.set(p, offset); offset += p.length }
  return out
}

/** prepend_len: the LEB128 encoding of len(data), then data (draft, "Notation for string operations"). */
export function prependLen (data: Uint8Array): Uint8Array {
  const length: number[] = []
  let n = data.length
  do {
    length.push(n < 0x80 ? n : (n & 0x7f) | 0x80)
    n >>>= 7
  } while (n > 0)
  return concat(Uint8Array.from(length), data)
}

/** lv_cat(a0, a1, ...) = prepend_len(a0) || prepend_len(a1) || ... (a prefix-free encoding). */
export function lvCat (...parts: Uint8Array[]): Uint8Array {
  return concat(...parts.map(prependLen))
}

function checkLength (name: string, bytes: Uint8Array, min: number, max: number): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`)
  if (bytes.length < min || bytes.length > max) throw new TypeError(`${name} must be ${min}..${max} bytes, got ${bytes.length}`)
}

/**
 * generator_string(G.DSI, PRS, CI, sid, H.s_in_bytes) =
 * lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid), the zero padding filling the
 * first SHA-512 block after DSI and PRS. Exported for the test vectors.
 */
export function cpaceGeneratorString (prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const lenZpad = Math.max(0, CPACE_HASH_BLOCK_BYTES - prependLen(prs).length - prependLen(DSI).length - 1)
  return lvCat(DSI, prs, new Uint8Array(lenZpad), ci, sid)
}

/**
 * G.calculate_generator(H, PRS, CI, sid): hash the generator string to 64 bytes
 * with SHA-512 and map them to ristretto255 with RFC 9496's element derivation.
 * Deterministic. Throws a TypeError when an input is outside its MAX_* / MIN_* bound.
 * @param prs password-related string (derived from the PIN or QR secret)
 * @param ci channel identifier (binds the peers' identities); may be empty
 * @param sid session id, fresh per attempt
 */
export function cpaceGenerator (prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): CpaceGenerator {
  checkLength('prs', prs, 1, MAX_PRS_BYTES)
  checkLength('ci', ci, 0, MAX_CI_BYTES)
  checkLength('sid', sid, MIN_SID_BYTES, MAX_SID_BYTES)
  const hash = sha512(cpaceGeneratorString(prs, ci, sid)).subarray(0, CPACE_GENERATOR_HASH_BYTES)
  return ristretto255_hasher.deriveToCurve!(hash)
}

/** Little-endian scalar bytes to an integer in 1..order-1, or a TypeError. */
function scalarFromBytes (scalar: Uint8Array): bigint {
  checkLength('scalar', scalar, CPACE_SCALAR_BYTES, CPACE_SCALAR_BYTES)
  let n = 0n
  for (let i = scalar.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(scalar[i]!)
  if (n === 0n || n >= GROUP_ORDER) throw new TypeError('scalar must be in 1..order-1')
  return n
}

/**
 * G.sample_scalar() as the draft recommends: 32 random bytes with every bit above
 * group_size_bits (252) cleared, little-endian. Redrawn in the (2^-252) case of zero.
 */
export function cpaceSampleScalar (): Uint8Array {
  for (;;) {
    const bytes = randomBytes(CPACE_SCALAR_BYTES)
    bytes[CPACE_SCALAR_BYTES - 1]! &= (1 << (CPACE_GROUP_SIZE_BITS % 8)) - 1
    if (bytes.some(b => b !== 0)) return bytes
  }
}

/**
 * One side's ephemeral scalar and public share Y = G.scalar_mult(y, g) = encode(g^y).
 * @param scalar for tests only: a fixed little-endian scalar (the draft's vectors);
 *   by default a fresh one from cpaceSampleScalar(). A scalar must never be reused.
 * @returns scalar (keep secret, pass to cpaceIsk) and share (send to the peer, 32 bytes)
 */
export function cpaceShare (generator: CpaceGenerator, scalar: Uint8Array = cpaceSampleScalar()): { scalar: Uint8Array, share: Uint8Array } {
  const share = generator.multiply(scalarFromBytes(scalar)).toBytes()
  return { scalar, share }
}

/**
 * G.scalar_mult_vfy(y, X) with the draft's abort folded in: decode X, return
 * encode(decode(X)^y). Where the draft returns G.I (X does not decode, or the
 * result is the neutral element) this throws P2pError P2P_PAKE_INVALID_SHARE.
 */
export function cpaceScalarMultVfy (scalar: Uint8Array, encoded: Uint8Array): Uint8Array {
  const y = scalarFromBytes(scalar)
  if (!(encoded instanceof Uint8Array) || encoded.length !== CPACE_SHARE_BYTES) {
    throw new P2pError(P2pErrorCode.P2P_PAKE_INVALID_SHARE, `peer share must be ${CPACE_SHARE_BYTES} bytes`)
  }
  let point: CpaceGenerator
  try {
    point = Point.fromBytes(encoded)
  } catch (err) {
    throw new P2pError(P2pErrorCode.P2P_PAKE_INVALID_SHARE, 'peer share is not a ristretto255 encoding', { cause: err })
  }
  // A canonical identity encoding decodes fine: reject it before and after multiplying.
  if (point.is0()) throw new P2pError(P2pErrorCode.P2P_PAKE_INVALID_SHARE, 'peer share is the neutral element')
  const k = point.multiply(y)
  if (k.is0()) throw new P2pError(P2pErrorCode.P2P_PAKE_INVALID_SHARE, 'shared point is the neutral element')
  return k.toBytes()
}

export interface CpaceIskInput {
  /** This side's scalar, from cpaceShare(). */
  scalar: Uint8Array
  /** This side's share, as sent. */
  ownShare: Uint8Array
  /** The share received from the peer (untrusted; verified here). */
  peerShare: Uint8Array
  /** Associated data this side sent (ADa for the initiator); may be empty. */
  adOwn: Uint8Array
  /** Associated data the peer sent; may be empty; at most MAX_AD_BYTES (the wire decoder enforces it). */
  adPeer: Uint8Array
  /** The initiator (A) sends first; the transcript is lv_cat(Ya, ADa) || lv_cat(Yb, ADb). */
  role: CpaceRole
  /** The same sid the generator was computed with. */
  sid: Uint8Array
}

/**
 * The intermediate session key, initiator-responder setting:
 * K = G.scalar_mult_vfy(y, Y_peer), then
 * ISK = SHA-512(lv_cat(G.DSI || "_ISK", sid, K) || lv_cat(Ya, ADa) || lv_cat(Yb, ADb)).
 * Throws P2pError P2P_PAKE_INVALID_SHARE when the peer's share is invalid or
 * yields the neutral element (the draft's MUST abort); TypeError for a malformed
 * local input. Both sides get the same 64 bytes only if PRS, CI, sid and the
 * whole transcript agree. Pure; may be called concurrently.
 */
export function cpaceIsk (input: CpaceIskInput): Uint8Array {
  const { scalar, ownShare, peerShare, adOwn, adPeer, role, sid } = input
  if (role !== 'initiator' && role !== 'responder') throw new TypeError('role must be initiator or responder')
  checkLength('ownShare', ownShare, CPACE_SHARE_BYTES, CPACE_SHARE_BYTES)
  checkLength('adOwn', adOwn, 0, MAX_AD_BYTES)
  checkLength('adPeer', adPeer, 0, MAX_AD_BYTES)
  checkLength('sid', sid, MIN_SID_BYTES, MAX_SID_BYTES)
  const k = cpaceScalarMultVfy(scalar, peerShare)
  const msgOwn = lvCat(ownShare, adOwn)
  const msgPeer = lvCat(peerShare, adPeer)
  const transcript = role === 'initiator' ? concat(msgOwn, msgPeer) : concat(msgPeer, msgOwn)
  return sha512(concat(lvCat(ISK_DSI, sid, k), transcript))
}
