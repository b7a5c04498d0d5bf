import { randomBytes, randomInt } from 'node:crypto'
import { P2pError, P2pErrorCode } from '../errors.ts'
import type { PairingMode } from './messages.ts'

/** PIN length: 8 digits = 10^8 values; with a PAKE an attacker gets one online guess per attempt. */
export const PIN_DIGITS = 8
/** How long a window stays open by default: long enough to walk to the other box, short for an attacker. */
export const DEFAULT_WINDOW_MS = 10 * 60_000
/** Failed attempts after which the window closes (a new PIN is needed): 5 guesses in 10^8. */
export const MAX_FAILED_ATTEMPTS = 5
/** The QR's one-time secret: 256 bits, so the QR path does not depend on attempt limits at all. */
export const QR_SECRET_BYTES = 32

/** What the QR code carries: who to dial, and the secret that replaces the PIN. */
export interface PairingInvite {
  peerId: string
  addresses: string[]
  /** base64url of QR_SECRET_BYTES random bytes. */
  secret: string
  /** ms since the epoch. */
  expiresAt: number
}

export interface OpenWindowInit {
  peerId: string
  addresses: string[]
  now: number
  durationMs?: number
  /**
   * The secrets the window accepts: the PIN, the invite's (QR) secret, or
   * both (default). An invite-only window has no PIN to guess at all.
   */
  accepts?: WindowSecrets
}

/** Which secrets a pairing window accepts. */
export type WindowSecrets = PairingMode | 'both'

/**
 * A pairing window on the box that shows the PIN and QR. Pure state plus an
 * injected clock: each attempt calls `beginAttempt(now)`, then exactly one of
 * `recordFailure()` (key confirmation failed: a wrong PIN, or a relay in the
 * middle) or `recordSuccess()`. The window closes on success, on expiry and
 * after MAX_FAILED_ATTEMPTS failures; a closed window refuses every attempt
 * with P2P_PAIRING_CLOSED. Not safe for concurrent attempts: the caller runs
 * one attempt at a time (a second one is refused with P2P_PAIRING_BUSY).
 */
export class PairingWindow {
  readonly pin: string
  readonly invite: PairingInvite
  readonly secrets: WindowSecrets
  private failures = 0
  private state: 'open' | 'attempt' | 'closed' = 'open'
  private closedBecause: string | undefined

  private constructor (pin: string, invite: PairingInvite, secrets: WindowSecrets) {
    this.pin = pin
    this.invite = invite
    this.secrets = secrets
  }

  /** True when an attempt with `mode`'s secret may go on; the host counts any other as a failed attempt. */
  accepts (mode: PairingMode): boolean {
    return this.secrets === 'both' || this.secrets === mode
  }

  static open (init: OpenWindowInit): PairingWindow {
    const duration = init.durationMs ?? DEFAULT_WINDOW_MS
    if (!Number.isFinite(duration) || duration <= 0) throw new TypeError('window duration must be > 0 ms')
    const pin = String(randomInt(0, 10 ** PIN_DIGITS)).padStart(PIN_DIGITS, '0')
    return new PairingWindow(pin, {
      peerId: init.peerId,
      addresses: [...init.addresses],
      secret: randomBytes(QR_SECRET_BYTES).toString('base64url'),
      expiresAt: init.now + duration
    }, init.accepts ?? 'both')
  }

  get failedAttempts (): number {
    return this.failures
  }

  /** True between `beginAttempt` and the attempt's end: a joining box is being confirmed. */
  get attempting (): boolean {
    return this.state === 'attempt'
  }

  isOpen (now: number): boolean {
    return this.state !== 'closed' && now < this.invite.expiresAt
  }

  /** Starts an attempt; throws P2P_PAIRING_CLOSED (with the reason) or P2P_PAIRING_BUSY. */
  beginAttempt (now: number): void {
    if (this.state === 'open' && now >= this.invite.expiresAt) this.close('the pairing window expired')
    if (this.state === 'closed') throw new P2pError(P2pErrorCode.P2P_PAIRING_CLOSED, `pairing refused: ${this.closedBecause ?? 'the window is closed'}`)
    if (this.state === 'attempt') throw new P2pError(P2pErrorCode.P2P_PAIRING_BUSY, 'another pairing attempt is in progress')
    this.state = 'attempt'
  }

  recordFailure (): void {
    this.endAttempt()
    this.failures++
    if (this.failures >= MAX_FAILED_ATTEMPTS) this.close(`${this.failures} failed attempts; open a new window for a new PIN`)
  }

  recordSuccess (): void {
    this.endAttempt()
    this.close('pairing completed')
  }

  /** Closes the window now (the operator cancelled it). */
  cancel (): void {
    this.close('the window was cancelled')
  }

  private endAttempt (): void {
    if (this.state !== 'attempt') throw new TypeError('no attempt in progress')
    this.state = 'open'
  }

  private close (why: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.closedBecause = why
  }
}

const INVITE_PREFIX = 'tandem-pair:1:'
/** An invite in a QR code: peer id, a few addresses, the secret; a few hundred bytes. */
export const MAX_INVITE_CHARS = 2048
const MAX_ADDRESSES = 8

/** The QR text: `tandem-pair:1:` then base64url of the invite's JSON. */
export function encodeInvite (invite: PairingInvite): string {
  return INVITE_PREFIX + Buffer.from(JSON.stringify(invite), 'utf8').toString('base64url')
}

/** Parses QR text, checking every field; throws P2P_INVITE_INVALID. Does not check expiry (the box does). */
export function decodeInvite (text: string): PairingInvite {
  const invalid = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_INVITE_INVALID, `not a Tandem pairing invite: ${why}`)
  if (typeof text !== 'string' || text.length > MAX_INVITE_CHARS) throw invalid('too long')
  if (!text.startsWith(INVITE_PREFIX)) throw invalid('wrong prefix or version')
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(text.slice(INVITE_PREFIX.length), 'base64url').toString('utf8'))
  } catch {
    throw invalid('undecodable')
  }
  const o = v as Partial<PairingInvite>
  if (typeof o !== 'object' || o === null) throw invalid('not an object')
  if (typeof o.peerId !== 'string' || !/^[1-9A-HJ-NP-Za-km-z]{40,64}$/.test(o.peerId)) throw invalid('bad peer id')
  if (!Array.isArray(o.addresses) || o.addresses.length > MAX_ADDRESSES || !o.addresses.every(a => typeof a === 'string' && a.startsWith('/') && a.length <= 256)) throw invalid('bad addresses')
  if (typeof o.secret !== 'string' || Buffer.from(o.secret, 'base64url').byteLength !== QR_SECRET_BYTES) throw invalid('bad secret')
  if (typeof o.expiresAt !== 'number' || !Number.isSafeInteger(o.expiresAt)) throw invalid('bad expiry')
  return { peerId: o.peerId, addresses: [...o.addresses], secret: o.secret, expiresAt: o.expiresAt }
}
