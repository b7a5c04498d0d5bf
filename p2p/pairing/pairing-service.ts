import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { closeUnpairedConnections, type AdmissionPolicy } from '../gater/admission.ts'
import type { TandemNode } from '../node/node.ts'
import { FramedStream } from '../wire/framed-stream.ts'
import { isBoxName, MAX_NAME_CHARS } from './box-name.ts'
import { hostFinish, hostRespond, joinerFinish, joinerStart, type BoxInfo, type PairingResult } from './handshake.ts'
import {
  MAX_PAIRING_MESSAGE_BYTES, PAIRING_PROTOCOL, TIMEOUT_PAIRING_MS,
  decodePairing, encodePairing, type BoxRole, type PairingMessage
} from './messages.ts'
import type { PairingInvite, PairingWindow } from './window.ts'

/** A box this one is paired with. */
export interface PairedPeer {
  peerId: string
  name: string
  role: BoxRole
  /** ms since the epoch */
  pairedAt: number
}

/** Where pairings are kept: declared here, implemented by appliance (persisted). */
export interface PairingStore {
  add: (peer: PairedPeer) => Promise<void>
}

export interface PairingHostInit {
  node: TandemNode
  me: BoxInfo
  store: PairingStore
  now?: () => number
  /** Told of each completed pairing (to show the confirmation code). */
  onPaired?: (peer: PairedPeer & { confirmationCode: string }) => void
  /** Told when an attempt ends: 'ok', or the code it failed with (for the event log). */
  onAttemptEnded?: (outcome: string) => void
  /**
   * The admission policy the node's gater uses. When given, every inbound
   * connection of an unpaired peer is closed as soon as the window closes
   * (used, expired, too many failures, cancelled, replaced by none): the
   * gater judges a connection only when it is set up.
   */
  policy?: AdmissionPolicy
  /** Told when the window closed and the strangers' connections were closed (how many). */
  onWindowClosed?: (closedConnections: number) => void
}

const CODES = { timeout: P2pErrorCode.P2P_PAIRING_TIMEOUT, eof: P2pErrorCode.P2P_PAIRING_MALFORMED }
const enc = new TextEncoder()
const peerBytes = (p: PeerId): Uint8Array => p.toMultihash().bytes

const KNOWN_CODES = new Set<string>(Object.values(P2pErrorCode))

/** The code of a failed attempt, for the wire and the log: one of ours, never a string a peer made up. */
function codeOf (err: unknown): string {
  const c = (err as { code?: unknown })?.code
  return typeof c === 'string' && KNOWN_CODES.has(c) ? c : P2pErrorCode.P2P_PAIRING_MALFORMED
}

/** The name this box gives must pass the same check the other box applies to it (box-name.ts). */
function checkOwnName (me: BoxInfo): void {
  if (!isBoxName(me.name)) throw new P2pError(P2pErrorCode.P2P_BOX_NAME_INVALID, `this box's name must be 1-${MAX_NAME_CHARS} characters without control, bidi-formatting or line-separator characters`)
}

function expectMessage<T extends PairingMessage['t']> (m: PairingMessage, t: T): Extract<PairingMessage, { t: T }> {
  // Only a code this build knows is passed on (and logged); any other is the generic P2P_PAIRING_FAILED.
  if (m.t === 'error') throw new P2pError(KNOWN_CODES.has(m.code) ? m.code as P2pErrorCode : P2pErrorCode.P2P_PAIRING_FAILED, 'the other box ended the attempt')
  if (m.t !== t) throw new P2pError(P2pErrorCode.P2P_PAIRING_MALFORMED, `expected ${t}`)
  return m as Extract<PairingMessage, { t: T }>
}

/**
 * The host side: answers the pairing protocol while a window is open. The
 * handler is not behind `pairedOnly` (strangers must reach it); the gater
 * only lets strangers in while `window` is open. Every attempt that does
 * not end in a confirmed pairing counts as a failure against the window.
 * start() registers the handler, stop() removes it.
 */
export class PairingHost {
  private readonly init: PairingHostInit
  private current: PairingWindow | undefined
  /** Fires at the current window's expiry. */
  private expiry: NodeJS.Timeout | undefined

  /** Throws P2P_BOX_NAME_INVALID when `init.me.name` is not a valid box name (box-name.ts). */
  constructor (init: PairingHostInit) {
    checkOwnName(init.me)
    this.init = init
  }

  /** The window pairing attempts are checked against; undefined when none is open. */
  get window (): PairingWindow | undefined {
    return this.current
  }

  /**
   * Opens (or replaces) the window; undefined closes it. A window that
   * ends, by use, failures, expiry or `cancelWindow`, closes the
   * strangers' connections (see `policy`).
   */
  set window (w: PairingWindow | undefined) {
    const had = this.current
    this.current = w
    clearTimeout(this.expiry)
    this.expiry = undefined
    if (w !== undefined && w.isOpen(this.now())) this.armExpiry(w)
    else if (had !== undefined) this.windowEnded()
  }

  /** Calls windowEnded once `w` has expired by `now()` (re-armed if a timer fires before that clock says so). */
  private armExpiry (w: PairingWindow): void {
    this.expiry = setTimeout(() => {
      if (w !== this.current) return
      if (w.isOpen(this.now()) && w.invite.expiresAt > this.now()) this.armExpiry(w)
      else this.windowEnded()
    }, Math.max(1, w.invite.expiresAt - this.now()))
    this.expiry.unref()
  }

  /** Closes the window now (the operator cancelled it). */
  cancelWindow (): void {
    this.current?.cancel()
    this.window = undefined
  }

  /** Once the window is closed: drop the strangers it let in. Never throws. */
  private windowEnded (): void {
    if (this.current?.isOpen(this.now()) === true) return
    clearTimeout(this.expiry)
    this.expiry = undefined
    const policy = this.init.policy
    if (policy === undefined) { this.init.onWindowClosed?.(0); return }
    void closeUnpairedConnections(this.init.node, policy)
      .then(n => { this.init.onWindowClosed?.(n) }, () => {})
  }

  async start (): Promise<void> {
    await this.init.node.handle(PAIRING_PROTOCOL, async (stream, connection) => { await this.answer(stream, connection) }, { maxInboundStreams: 1 })
  }

  async stop (): Promise<void> {
    clearTimeout(this.expiry)
    await this.init.node.unhandle(PAIRING_PROTOCOL)
  }

  private now (): number {
    return (this.init.now ?? Date.now)()
  }

  private async answer (stream: Stream, connection: Connection): Promise<void> {
    const io = new FramedStream(stream, MAX_PAIRING_MESSAGE_BYTES)
    const window = this.window
    try {
      if (window === undefined) throw new P2pError(P2pErrorCode.P2P_PAIRING_CLOSED, 'no pairing window is open')
      window.beginAttempt(this.now())
    } catch (err) {
      await refuse(io, codeOf(err))
      this.init.onAttemptEnded?.(codeOf(err))
      return
    }
    let done = false
    try {
      const m1 = expectMessage(decodePairing(await io.read(TIMEOUT_PAIRING_MS, CODES), 'pair1'), 'pair1')
      if (!window.accepts(m1.mode)) throw new P2pError(P2pErrorCode.P2P_PAIRING_FAILED, `this window does not accept a ${m1.mode} secret`)
      const secret = m1.mode === 'pin' ? enc.encode(window.pin) : new Uint8Array(Buffer.from(window.invite.secret, 'base64url'))
      const view = { self: peerBytes(this.init.node.peerId), remote: peerBytes(connection.remotePeer) }
      const { state, message } = hostRespond(secret, m1, view, this.init.me)
      io.send(encodePairing(message))
      const m3 = expectMessage(decodePairing(await io.read(TIMEOUT_PAIRING_MS, CODES), 'pair3'), 'pair3')
      if (!hostFinish(state, m3)) throw new P2pError(P2pErrorCode.P2P_PAIRING_FAILED, 'the joining box does not know the secret')
      const peer: PairedPeer = { peerId: connection.remotePeer.toString(), name: m1.name, role: m1.role, pairedAt: this.now() }
      await this.init.store.add(peer)
      window.recordSuccess()
      done = true
      io.send(encodePairing({ t: 'pair4' }))
      await stream.close()
      this.init.onPaired?.({ ...peer, confirmationCode: state.code })
      this.init.onAttemptEnded?.('ok')
    } catch (err) {
      if (!done) window.recordFailure()
      await refuse(io, codeOf(err))
      this.init.onAttemptEnded?.(codeOf(err))
    } finally {
      // Used, or closed by its last failure: the strangers it admitted go.
      if (window === this.current && !window.isOpen(this.now())) this.windowEnded()
    }
  }
}

async function refuse (io: FramedStream, code: string): Promise<void> {
  try {
    io.send(encodePairing({ t: 'error', code }))
    await io.stream.close()
  } catch {
    io.stream.abort(new P2pError(P2pErrorCode.P2P_PAIRING_FAILED, code))
  }
}

/** Socket errors that mean no connection was made: nothing listens there, or the address cannot be reached. */
const UNREACHABLE_ERRNOS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ETIMEDOUT', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'])

/** True when `err`, its causes or the errors it aggregates carry one of UNREACHABLE_ERRNOS, or it is a dial timeout. */
function unreachable (err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 8) return false
  const e = err as { code?: unknown, name?: unknown, cause?: unknown, errors?: unknown }
  if (typeof e.code === 'string' && UNREACHABLE_ERRNOS.has(e.code)) return true
  if (e.name === 'TimeoutError') return true
  if (Array.isArray(e.errors) && e.errors.some(x => unreachable(x, depth + 1))) return true
  return unreachable(e.cause, depth + 1)
}

/**
 * Dials the host and opens the pairing stream. libp2p reports a refusal as
 * transport errors (the host's gater drops a stranger right after the Noise
 * handshake when no window is open, so the joiner sees the connection end:
 * UnexpectedEOFError); they become pairing codes: P2P_PAIRING_UNREACHABLE
 * when no connection could be made at all, P2P_PAIRING_CLOSED when the box
 * answered and then hung up on us. P2P_PAIRING_FAILED when `expectedPeer`
 * (the QR's peer id) is not the box that answered.
 */
async function openPairingStream (node: TandemNode, address: Multiaddr, expectedPeer: string | undefined): Promise<{ connection: Connection, stream: Stream }> {
  let connection: Connection
  try {
    connection = await node.dial(address)
  } catch (err) {
    if (unreachable(err)) throw new P2pError(P2pErrorCode.P2P_PAIRING_UNREACHABLE, `no box answers at ${address.toString()}`, { cause: err })
    throw new P2pError(P2pErrorCode.P2P_PAIRING_CLOSED, `the box at ${address.toString()} refused the connection: no pairing window is open`, { cause: err })
  }
  if (expectedPeer !== undefined && connection.remotePeer.toString() !== expectedPeer) {
    throw new P2pError(P2pErrorCode.P2P_PAIRING_FAILED, 'the box at that address is not the one in the QR code')
  }
  try {
    return { connection, stream: await connection.newStream(PAIRING_PROTOCOL) }
  } catch (err) {
    throw new P2pError(P2pErrorCode.P2P_PAIRING_CLOSED, `the box at ${address.toString()} refused the pairing stream: no pairing window is open`, { cause: err })
  }
}

export type JoinSecret = { pin: string } | { invite: PairingInvite }

/**
 * The joining side: dials the host, runs the handshake, stores the host on
 * success and returns its name, role, peer id and the confirmation code to
 * show. Throws P2P_PAIRING_FAILED (wrong secret, someone in the middle, or
 * the QR names another box), P2P_PAIRING_CLOSED / _BUSY (the host refused,
 * or hung up right after the handshake: no window open),
 * P2P_PAIRING_UNREACHABLE (nothing answers at the address), P2P_BOX_NAME_INVALID,
 * P2P_PAIRING_TIMEOUT, P2P_PAIRING_MALFORMED.
 */
export async function joinPairing (node: TandemNode, address: Multiaddr, secret: JoinSecret, me: BoxInfo, store: PairingStore, now: () => number = Date.now): Promise<PairedPeer & PairingResult> {
  checkOwnName(me)
  const { connection, stream } = await openPairingStream(node, address, 'invite' in secret ? secret.invite.peerId : undefined)
  const io = new FramedStream(stream, MAX_PAIRING_MESSAGE_BYTES)
  try {
    const mode = 'pin' in secret ? 'pin' : 'qr'
    const bytes = 'pin' in secret ? enc.encode(secret.pin) : new Uint8Array(Buffer.from(secret.invite.secret, 'base64url'))
    const view = { self: peerBytes(node.peerId), remote: peerBytes(connection.remotePeer) }
    const { state, message } = joinerStart(bytes, mode, view, me)
    io.send(encodePairing(message))
    const m2 = expectMessage(decodePairing(await io.read(TIMEOUT_PAIRING_MS, CODES), 'pair2'), 'pair2')
    const finished = joinerFinish(state, m2, me)
    if (finished === undefined) throw new P2pError(P2pErrorCode.P2P_PAIRING_FAILED, 'the box did not prove it knows the secret: wrong PIN, or someone in the middle')
    io.send(encodePairing(finished.message))
    expectMessage(decodePairing(await io.read(TIMEOUT_PAIRING_MS, CODES), 'pair4'), 'pair4')
    const peer: PairedPeer = { peerId: connection.remotePeer.toString(), name: m2.name, role: m2.role, pairedAt: now() }
    await store.add(peer)
    await stream.close()
    return { ...peer, ...finished.result }
  } catch (err) {
    if (codeOf(err) === P2pErrorCode.P2P_PAIRING_FAILED) await refuse(io, P2pErrorCode.P2P_PAIRING_FAILED)
    else stream.abort(err as Error)
    throw err
  }
}
