import { timingSafeEqual, randomBytes } from 'node:crypto'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { cpaceGenerator, cpaceIsk, cpaceShare, lvCat } from './cpace.ts'
import { CONFIRM_BYTES, SID_BYTES, type BoxRole, type Pair1, type Pair2, type Pair3, type PairingMode } from './messages.ts'

/**
 * The pairing handshake, pure: CPace (cpace.ts) with both boxes' Noise peer
 * ids bound into the channel identifier, then explicit key confirmation.
 *
 *   CI   = lv_cat("tandem-pair-v1", mode, initiator peer id, responder peer id)
 *          each side uses its own id and the id Noise proved for the other;
 *          a relay in the middle holds different Noise sessions to each box,
 *          so the two sides compute different generators and confirmation fails.
 *   ISK  = CPace ISK (initiator = the joiner), associated data = "name\nrole".
 *   Kc   = HKDF-SHA512(ISK, info "tandem pair confirm v1"), 32 bytes;
 *          confirm_R = HMAC-SHA256(Kc, "responder"), confirm_I = HMAC-SHA256(Kc, "initiator").
 *   code = HKDF-SHA512(ISK, info "tandem pair code v1") as a 6-digit number, shown on both boxes.
 *
 * See docs/pairing.md.
 */

export interface PeerView {
  /** Bytes of this box's peer id (peerId.toMultihash().bytes). */
  self: Uint8Array
  /** Bytes of the other box's peer id as Noise authenticated it. */
  remote: Uint8Array
}

export interface BoxInfo { name: string, role: BoxRole }

export interface PairingResult {
  peerName: string
  peerRole: BoxRole
  /** Six digits both boxes show; the operator compares them. */
  confirmationCode: string
}

const enc = new TextEncoder()
const ad = (info: BoxInfo): Uint8Array => enc.encode(`${info.name}\n${info.role}`)

function channelId (mode: PairingMode, initiator: Uint8Array, responder: Uint8Array): Uint8Array {
  return lvCat(enc.encode('tandem-pair-v1'), enc.encode(mode), initiator, responder)
}

function keys (isk: Uint8Array): { kc: Uint8Array, code: string } {
  const kc = hkdf(sha512, isk, undefined, enc.encode('tandem pair confirm v1'), 32)
  const c = hkdf(sha512, isk, undefined, enc.encode('tandem pair code v1'), 4)
  const n = ((c[0]! << 24) | (c[1]! << 16) | (c[2]! << 8) | c[3]!) >>> 0
  return { kc, code: String(n % 1_000_000).padStart(6, '0') }
}

const confirmTag = (kc: Uint8Array, who: 'initiator' | 'responder'): Uint8Array => hmac(sha256, kc, enc.encode(who)).subarray(0, CONFIRM_BYTES)

function same (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b)
}

/** Joiner, step 1. Keep the returned state secret until `joinerFinish`. */
export function joinerStart (secret: Uint8Array, mode: PairingMode, view: PeerView, me: BoxInfo): { state: { scalar: Uint8Array, share: Uint8Array, sid: Uint8Array, mode: PairingMode, secret: Uint8Array }, message: Pair1 } {
  const sid = new Uint8Array(randomBytes(SID_BYTES))
  const g = cpaceGenerator(secret, channelId(mode, view.self, view.remote), sid)
  const { scalar, share } = cpaceShare(g)
  return { state: { scalar, share, sid, mode, secret }, message: { t: 'pair1', mode, sid, share, name: me.name, role: me.role } }
}

/**
 * Host, step 2: from pair1 and its own secret for the mode, its share and
 * confirmation. Throws P2P_PAKE_INVALID_SHARE on a bad share.
 */
export function hostRespond (secret: Uint8Array, m1: Pair1, view: PeerView, me: BoxInfo): { state: { kc: Uint8Array, code: string }, message: Pair2 } {
  const g = cpaceGenerator(secret, channelId(m1.mode, view.remote, view.self), m1.sid)
  const { scalar, share } = cpaceShare(g)
  const isk = cpaceIsk({ scalar, ownShare: share, peerShare: m1.share, adOwn: ad(me), adPeer: ad(m1), role: 'responder', sid: m1.sid })
  const { kc, code } = keys(isk)
  return { state: { kc, code }, message: { t: 'pair2', share, name: me.name, role: me.role, confirm: confirmTag(kc, 'responder') } }
}

/**
 * Joiner, step 3: checks the host's confirmation. Returns the joiner's
 * confirmation and the result, or undefined when the host does not know the
 * secret (wrong PIN, or someone in the middle).
 */
export function joinerFinish (state: ReturnType<typeof joinerStart>['state'], m2: Pair2, me: BoxInfo): { message: Pair3, result: PairingResult } | undefined {
  const isk = cpaceIsk({ scalar: state.scalar, ownShare: state.share, peerShare: m2.share, adOwn: ad(me), adPeer: ad(m2), role: 'initiator', sid: state.sid })
  const { kc, code } = keys(isk)
  if (!same(confirmTag(kc, 'responder'), m2.confirm)) return undefined
  return { message: { t: 'pair3', confirm: confirmTag(kc, 'initiator') }, result: { peerName: m2.name, peerRole: m2.role, confirmationCode: code } }
}

/** Host, step 4: true when the joiner proved it knows the secret. */
export function hostFinish (state: { kc: Uint8Array }, m3: Pair3): boolean {
  return same(confirmTag(state.kc, 'initiator'), m3.confirm)
}
