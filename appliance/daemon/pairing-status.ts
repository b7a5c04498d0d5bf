/**
 * What the box that opened a pairing window shows while a box joins and
 * after (ApplianceService.pairStatus, docs/pairing.md "Outcome"): the last
 * window and the pairing it ended with, and the last pairing this box made
 * as host or joiner. In memory only: the log keeps the record, and a
 * restarted daemon has no window open.
 */
import type { PairedPeer } from '../../p2p/pairing/pairing-service.ts'
import { encodeInvite, type PairingWindow } from '../../p2p/pairing/window.ts'
import type { PairingDoneInfo, PairStatusInfo } from '../service/index.ts'

const isoTime = (ms: number): string => new Date(ms).toISOString()

export class PairingStatus {
  private window: PairingWindow | undefined
  private windowPaired: PairingDoneInfo | null = null
  private last: PairingDoneInfo | null = null

  /** A new window was opened: it is the one reported from now on. */
  opened (window: PairingWindow): void {
    this.window = window
    this.windowPaired = null
  }

  /** A pairing completed on `side`; as host, it ended the current window. */
  paired (side: PairingDoneInfo['side'], peer: PairedPeer, confirmationCode: string): void {
    const done: PairingDoneInfo = { side, peerId: peer.peerId, name: peer.name, confirmationCode, pairedAt: isoTime(peer.pairedAt) }
    this.last = done
    if (side === 'host') this.windowPaired = done
  }

  /** Pure read of the record at `now` (ms). */
  info (now: number): PairStatusInfo {
    const w = this.window
    return {
      window: w === undefined
        ? null
        : {
            mode: w.secrets === 'qr' ? 'invite' : w.secrets,
            expiresAt: isoTime(w.invite.expiresAt),
            open: w.isOpen(now),
            joining: w.attempting,
            failedAttempts: w.failedAttempts,
            paired: this.windowPaired,
            ...secretsOf(w, now)
          },
      last: this.last
    }
  }
}

/** The open window's PIN and invite, each as pairOpen answers it; both null once it has closed. */
function secretsOf (w: PairingWindow, now: number): { pin: string | null, invite: string | null } {
  const open = w.isOpen(now)
  return { pin: open && w.accepts('pin') ? w.pin : null, invite: open && w.accepts('qr') ? encodeInvite(w.invite) : null }
}
