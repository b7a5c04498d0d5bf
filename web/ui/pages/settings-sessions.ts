/**
 * The Settings page's sessions (`GET /v1/auth/sessions`): every browser
 * logged in to this box, with where from, its browser and when it was last
 * seen; this browser's marked; any other one ended on request
 * (`DELETE /v1/auth/sessions/:id`: that browser shows the login page at its
 * next request).
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import { segment, type Api } from '../api.ts'
import { when } from '../format.ts'
import { useNow } from '../now.ts'
import { failureText, FormError } from './form-error.ts'

/** `GET /v1/auth/sessions` (docs/web.md "Sessions"). */
interface SessionInfo { id: string, created: string, lastSeen: string, address: string, userAgent: string, current: boolean }

export function SessionsSection ({ api }: { api: Api }): ComponentChildren {
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [fetchedAt, setFetchedAt] = useState(0)
  // The list is as new as its answer: a session seen just now is never "in 4 s" because the clock ticks slowly.
  const now = Math.max(useNow(), fetchedAt)
  const load = useCallback(() => {
    api.get<SessionInfo[]>('/v1/auth/sessions').then(list => { setFetchedAt(Date.now()); setSessions(list) }, (err: unknown) => { setError(failureText(err)) })
  }, [api])
  useEffect(load, [load])
  const revoke = (s: SessionInfo): void => {
    setError(null)
    api.delete(`/v1/auth/sessions/${segment(s.id)}`).then(load, (err: unknown) => { setError(failureText(err)); load() })
  }
  return html`
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <p>The browsers logged in to this box. End one you do not know: it must log in again.</p>
      <${FormError} id="sessions-error" text=${error} />
      ${sessions === null ? html`<p class="loading">Loading…</p>` : html`
        <ul class="sessions">${sessions.map(s => html`
          <li class="card" key=${s.id}>
            <p><strong>${browserName(s.userAgent)}</strong> from ${s.address}${s.current ? html` <span class="badge normal">This browser</span>` : null}</p>
            <p class="why">Logged in ${when(s.created, now)}, last seen ${when(s.lastSeen, now)}</p>
            ${s.current
              ? html`<p class="why">Log out (at the top) to end this one.</p>`
              : html`<button type="button" class="quiet" aria-label=${`End the session of ${browserName(s.userAgent)} from ${s.address}, logged in ${when(s.created, now)}`} onClick=${() => { revoke(s) }}>End this session</button>`}
          </li>`)}
        </ul>`}
      <button type="button" class="quiet" onClick=${load}>Refresh the list</button>
    </section>`
}

/** A browser's name from its User-Agent, roughly ("Chrome on Linux"); the raw text when nothing is recognized. */
export function browserName (ua: string): string {
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /(Chrome|Chromium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : null
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null
  if (browser === null) return ua === '' ? 'An unknown browser' : ua.slice(0, 60)
  return os === null ? browser : `${browser} on ${os}`
}
