/**
 * Pairing (docs/pairing.md): open a window on this box and show what the
 * other box needs (the QR code of the invite, the PIN with a countdown, the
 * addresses to dial); or join another box by its PIN and address, or by its
 * QR payload (pasted, or read with the camera); then the confirmation code
 * to compare with the other box's, on both boxes: the one that opened the
 * window asks GET /v1/pairing while it is open. Paired boxes are listed, each with a
 * remove that asks first (the box then no longer connects or replicates).
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import type { PairJoinRequest, PairJoinResult, PairOpenResult, PairWindowInfo, PairStatusInfo, PeerInfo } from '../../../appliance/service/types.ts'
import { segment, type Api } from '../api.ts'
import type { PageProps } from '../app.ts'
import { when } from '../format.ts'
import { COUNTDOWN_TICK_MS, useNow } from '../now.ts'
import { QrCode } from '../qr-code.ts'
import { QrScanner } from '../qr-scan.ts'
import { failureText, FormError } from './form-error.ts'

export function PairingPage ({ api }: PageProps): ComponentChildren {
  const [peers, setPeers] = useState<PeerInfo[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const reload = useCallback(() => {
    api.get<PeerInfo[]>('/v1/peers').then(setPeers, (err: unknown) => { setError(failureText(err)) })
  }, [api])
  useEffect(reload, [reload])
  return html`
    <h1 id="page-title" tabindex="-1">Pairing</h1>
    <p>Two boxes pair once: one opens a window, the other joins it. Then each VM can be protected to the other box.</p>
    <${OpenWindow} api=${api} onPaired=${reload} />
    <${Join} api=${api} onPaired=${reload} />
    <section aria-labelledby="peers-title">
      <h2 id="peers-title">Paired boxes</h2>
      ${error === null ? null : html`<p class="form-error" role="alert">${error}</p>`}
      ${peers === null ? html`<p class="loading">Loading…</p>` : html`<${PeerList} api=${api} peers=${peers} onRemoved=${reload} />`}
    </section>`
}

/** How often the page asks how its open window is doing: a joining box is shown within this. */
export const PAIR_POLL_MS = 1000

/**
 * The state of the window `opened` (matched by its expiry, as pairOpen
 * answered it), asked every PAIR_POLL_MS until it is closed; null until the
 * first answer. `onPaired` is called once when it ends in a pairing.
 */
function useWindowState (api: Api, opened: PairOpenResult | null, onPaired: () => void): PairWindowInfo | null {
  const [state, setState] = useState<PairWindowInfo | null>(null)
  useEffect(() => {
    setState(null)
    if (opened === null) return
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const ask = (): void => {
      api.get<PairStatusInfo>('/v1/pairing').then(s => {
        if (stopped) return
        const w = s.window?.expiresAt === opened.expiresAt ? s.window : null
        setState(w)
        if (w?.paired != null) onPaired()
        if (w === null || w.open) timer = setTimeout(ask, PAIR_POLL_MS)
      }, () => { if (!stopped) timer = setTimeout(ask, PAIR_POLL_MS) })
    }
    ask()
    return () => { stopped = true; clearTimeout(timer) }
  }, [api, opened, onPaired])
  return state
}

function OpenWindow ({ api, onPaired }: { api: Api, onPaired: () => void }): ComponentChildren {
  const [opened, setOpened] = useState<PairOpenResult | null>(null)
  const state = useWindowState(api, opened, onPaired)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  // The tick re-renders; the time is read at render, so a window just opened never shows more than its length.
  useNow(COUNTDOWN_TICK_MS)
  const open = (): void => {
    setBusy(true)
    setError(null)
    api.post<PairOpenResult>('/v1/pairing', {}).then(r => { setOpened(r); setBusy(false) }, (err: unknown) => { setError(failureText(err)); setBusy(false) })
  }
  const left = opened === null || state?.open === false ? 0 : new Date(opened.expiresAt).getTime() - Date.now()
  const paired = state?.paired ?? null
  return html`
    <section aria-labelledby="open-title">
      <h2 id="open-title">Let another box join this one</h2>
      ${paired === null ? null : html`
        <div class="card joined" role="status">
          <p><strong>${paired.name}</strong> joined this box.</p>
          <p>Confirmation code <strong class="pin">${paired.confirmationCode}</strong>: ${paired.name} shows the same code. If it does not, remove this pairing.</p>
        </div>`}
      ${opened === null || left <= 0
        ? html`
          ${opened === null || paired !== null ? null : html`<p>The pairing window has closed.</p>`}
          <button type="button" onClick=${open} disabled=${busy}>${busy ? 'Opening…' : 'Open a pairing window'}</button>
          <${FormError} id="open-error" text=${error} />`
        : html`
          <div class="pair-window card">
            ${opened.invite === null ? null : html`<${QrCode} text=${opened.invite} label="QR code to scan with the other box" />`}
            <div class="stack">
              ${opened.pin === null ? null : html`<p>PIN <strong class="pin">${opened.pin.slice(0, 4)} ${opened.pin.slice(4)}</strong></p>`}
              <p role="timer" aria-live="off">Closes in <strong>${clock(left)}</strong></p>
              <p>On the other box, open Pairing and join with this PIN and one of these addresses:</p>
              <ul class="addresses">${opened.addresses.map(a => html`<li><code>${a}</code></li>`)}</ul>
              ${opened.invite === null ? null : html`
                <label for="invite-out">Or paste this QR payload there</label>
                <textarea id="invite-out" readonly rows="3" value=${opened.invite} onFocus=${(e: Event) => { (e.target as HTMLTextAreaElement).select() }}></textarea>`}
              <p role="status">${state?.joining === true ? 'A box is joining: confirming…' : 'When a box has joined, this page shows the confirmation code to compare with the one it shows.'}</p>
            </div>
          </div>`}
    </section>`
}

function Join ({ api, onPaired }: { api: Api, onPaired: () => void }): ComponentChildren {
  const [pin, setPin] = useState('')
  const [addr, setAddr] = useState('')
  const [invite, setInvite] = useState('')
  const [result, setResult] = useState<PairJoinResult | null>(null)
  const [error, setError] = useState<{ form: 'pin' | 'invite', text: string } | null>(null)
  const [busy, setBusy] = useState(false)
  const join = (form: 'pin' | 'invite', request: PairJoinRequest) => (e: Event): void => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    setResult(null)
    api.post<PairJoinResult>('/v1/pairing/join', request).then(r => { setResult(r); setBusy(false); onPaired() }, (err: unknown) => {
      setError({ form, text: failureText(err) })
      setBusy(false)
    })
  }
  const field = (set: (v: string) => void) => (e: Event) => { set((e.target as HTMLInputElement).value) }
  const scanned = useCallback((text: string) => { setInvite(text) }, [])
  return html`
    <section aria-labelledby="join-title">
      <h2 id="join-title">Join another box</h2>
      ${result === null ? null : html`
        <div class="card joined" role="status">
          <p>Paired with <strong>${result.peer.name}</strong>.</p>
          <p>Confirmation code <strong class="pin">${result.confirmationCode}</strong>: the other box shows the same code. If it does not, remove this pairing.</p>
        </div>`}
      <div class="join-forms">
        <form class="card stack" onSubmit=${join('pin', { pin: pin.replace(/\s/g, ''), addr: addr.trim() })} aria-labelledby="join-pin-title" aria-describedby="join-pin-error">
          <h3 id="join-pin-title">With its PIN</h3>
          <label for="join-pin">PIN (8 digits)</label>
          <input id="join-pin" inputmode="numeric" autocomplete="off" required value=${pin} onInput=${field(setPin)} />
          <label for="join-addr">Its address</label>
          <input id="join-addr" autocomplete="off" autocapitalize="off" spellcheck=${false} required placeholder="/ip4/192.0.2.10/tcp/4001/p2p/…" value=${addr} onInput=${field(setAddr)} />
          <${FormError} id="join-pin-error" text=${error?.form === 'pin' ? error.text : null} />
          <button type="submit" disabled=${busy}>Join with the PIN</button>
        </form>
        <form class="card stack" onSubmit=${join('invite', { invite: invite.trim() })} aria-labelledby="join-invite-title" aria-describedby="join-invite-error">
          <h3 id="join-invite-title">With its QR code</h3>
          <label for="join-invite">QR payload</label>
          <textarea id="join-invite" rows="3" autocapitalize="off" spellcheck=${false} required placeholder="tandem-pair:1:…" value=${invite} onInput=${field(setInvite)}></textarea>
          <${QrScanner} onFound=${scanned} />
          <${FormError} id="join-invite-error" text=${error?.form === 'invite' ? error.text : null} />
          <button type="submit" disabled=${busy}>Join with the QR payload</button>
        </form>
      </div>
    </section>`
}

function PeerList ({ api, peers, onRemoved }: { api: Api, peers: PeerInfo[], onRemoved: () => void }): ComponentChildren {
  const [asking, setAsking] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const now = useNow()
  if (peers.length === 0) return html`<p>No box is paired with this one yet.</p>`
  const remove = (peer: PeerInfo): void => {
    setError(null)
    api.delete(`/v1/peers/${segment(peer.peerId)}`).then(() => { setAsking(null); onRemoved() }, (err: unknown) => { setError(failureText(err)) })
  }
  return html`
    <${FormError} id="peers-error" text=${error} />
    <ul class="peers">${peers.map(p => html`
      <li class="card" key=${p.peerId}>
        <p><strong>${p.name}</strong> <span class="badge ${p.connected ? 'normal' : 'warning'}">${p.connected ? 'Connected' : 'Not connected'}</span></p>
        <p class="why">${ROLE_WORDS[p.role] ?? p.role}, paired ${when(p.pairedAt, now)}</p>
        ${asking === p.peerId
          ? html`
            <p>Remove ${p.name}? It will no longer connect to this box, nor replicate to or from it.</p>
            <div class="actions">
              <button type="button" class="danger" onClick=${() => { remove(p) }}>Yes, remove ${p.name}</button>
              <button type="button" class="quiet" onClick=${() => { setAsking(null) }}>Cancel</button>
            </div>`
          : html`<button type="button" class="quiet" aria-label=${`Remove ${p.name}`} onClick=${() => { setAsking(p.peerId) }}>Remove</button>`}
      </li>`)}
    </ul>`
}

const ROLE_WORDS: Record<string, string> = { primary: 'a primary server', replica: 'a Replica server', both: 'a primary and Replica server' }

/** `9:58` */
function clock (ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000))
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}
