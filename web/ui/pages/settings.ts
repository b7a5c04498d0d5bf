/**
 * Settings (docs/web.md "Settings"): this box's name, listen addresses and
 * web address (`GET`/`PATCH /v1/settings`: each change takes effect when
 * the daemon restarts, and the page says which are waiting for it); the
 * bandwidth limit of each VM protected from this box, each with a link to
 * its VM page's replication settings form (vm-settings.ts); the admin password
 * (`POST /v1/auth/password`); the logged-in sessions, this browser's
 * marked, each other one with an end (`DELETE /v1/auth/sessions/:id`).
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'
import type { SettingsInfo, SettingsUpdateRequest } from '../../../appliance/service/settings-types.ts'
import type { Api } from '../api.ts'
import type { PageProps } from '../app.ts'
import { href } from '../route.ts'
import { failureText, FormError } from './form-error.ts'
import { SessionsSection } from './settings-sessions.ts'
import { limitText } from './vm-settings.ts'

const SETTING_WORDS: Record<SettingsInfo['restartNeeded'][number], string> = { name: 'the name', listen: 'the listen addresses', api: 'the web address' }

export function SettingsPage ({ api }: PageProps): ComponentChildren {
  return html`
    <h1 id="page-title" tabindex="-1">Settings</h1>
    <${BoxSection} api=${api} />
    <${BandwidthSection} api=${api} />
    <${PasswordSection} api=${api} />
    <${SessionsSection} api=${api} />`
}

const lines = (text: string): string[] => text.split('\n').map(l => l.trim()).filter(l => l !== '')

function BoxSection ({ api }: { api: Api }): ComponentChildren {
  const [settings, setSettings] = useState<SettingsInfo | null>(null)
  const [name, setName] = useState('')
  const [listen, setListen] = useState('')
  const [web, setWeb] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [saved, setSaved] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const show = (s: SettingsInfo): void => { setSettings(s); setName(s.name); setListen(s.listen.join('\n')); setWeb(s.api ?? '') }
  useEffect(() => { api.get<SettingsInfo>('/v1/settings').then(show, (err: unknown) => { setError(failureText(err)) }) }, [api])
  if (settings === null) return html`<section aria-labelledby="box-title"><h2 id="box-title">This box</h2>${error === null ? html`<p class="loading">Loading…</p>` : html`<p class="form-error" role="alert">${error}</p>`}</section>`
  const save = (e: Event): void => {
    e.preventDefault()
    const request: SettingsUpdateRequest = {}
    if (name.trim() !== settings.name) request.name = name.trim()
    if (JSON.stringify(lines(listen)) !== JSON.stringify(settings.listen)) request.listen = lines(listen)
    if (web.trim() !== (settings.api ?? '') && web.trim() !== '') request.api = web.trim()
    setSaved(null)
    if (Object.keys(request).length === 0) { setError('Nothing changed.'); return }
    setBusy(true)
    setError(null)
    api.request<SettingsInfo>('PATCH', '/v1/settings', request).then(s => { show(s); setBusy(false); setSaved('Saved.') }, (err: unknown) => { setBusy(false); setError(failureText(err)) })
  }
  const field = (set: (v: string) => void) => (e: Event) => { set((e.target as HTMLInputElement).value) }
  const waiting = settings.restartNeeded
  return html`
    <section aria-labelledby="box-title">
      <h2 id="box-title">This box</h2>
      <form class="card stack" onSubmit=${save} aria-describedby="box-error">
        <label for="box-name">Name</label>
        <input id="box-name" autocomplete="off" aria-describedby="box-name-help" value=${name} onInput=${field(setName)} />
        <p id="box-name-help" class="why">What other boxes see when they pair with this one (1 to 64 characters).</p>
        <label for="box-listen">Addresses other boxes connect to (one per line)</label>
        <textarea id="box-listen" rows="3" autocapitalize="off" spellcheck=${false} aria-describedby="box-listen-help" value=${listen} onInput=${field(setListen)}></textarea>
        <p id="box-listen-help" class="why">libp2p addresses such as <code>/ip4/0.0.0.0/tcp/7450</code> (every IPv4 address, port 7450).</p>
        <label for="box-web">Web page address</label>
        <input id="box-web" autocomplete="off" autocapitalize="off" spellcheck=${false} aria-describedby="box-web-help" value=${web} onInput=${field(setWeb)} />
        <p id="box-web-help" class="why">HOST:PORT this page is served on${settings.apiPlainHttp ? ' (plain HTTP: only a loopback address such as 127.0.0.1)' : ''}. After a change, open the page at the new address.</p>
        <p class="why">Every change here takes effect when the Tandem daemon restarts.</p>
        <${FormError} id="box-error" text=${error} />
        ${saved === null ? null : html`<p class="ok-line" role="status">${saved}</p>`}
        <button type="submit" disabled=${busy}>${busy ? 'Saving…' : 'Save'}</button>
      </form>
      ${waiting.length === 0 ? null : html`
        <p class="card restart-note" role="status">Waiting for a restart: ${waiting.map(w => SETTING_WORDS[w]).join(', ')}. The daemon still runs as <strong>${settings.running.name}</strong>${waiting.includes('api') && settings.running.api !== null ? html` with this page on <code>${settings.running.api}</code>` : ''}. Restart it (stop <code>tandem start</code> and start it again, or restart the box) to use the new settings.</p>`}
    </section>`
}

function BandwidthSection ({ api }: { api: Api }): ComponentChildren {
  const [list, setList] = useState<ReplicationInfo[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => { api.get<ReplicationInfo[]>('/v1/replication').then(setList, (err: unknown) => { setError(failureText(err)) }) }, [api])
  return html`
    <section aria-labelledby="bandwidth-title">
      <h2 id="bandwidth-title">Bandwidth</h2>
      <p>The most each VM's replication sends per second. Change it in the replication settings on the VM's page.</p>
      ${error !== null ? html`<p class="form-error" role="alert">${error}</p>`
        : list === null ? html`<p class="loading">Loading…</p>`
        : list.length === 0 ? html`<p>No VM is protected from this box.</p>`
        : html`<ul class="bandwidth">${list.map(r => html`<li key=${r.relationship}><strong>${r.vm}</strong>: ${limitText(r.settings.bandwidth)} <a href=${href('vm', r.vm)} aria-label=${`Change the bandwidth limit of ${r.vm}`}>Change</a></li>`)}</ul>`}
    </section>`
}

function PasswordSection ({ api }: { api: Api }): ComponentChildren {
  const [current, setCurrent] = useState('')
  const [password, setPassword] = useState('')
  const [again, setAgain] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [done, setDone] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const change = useCallback((e: Event): void => {
    e.preventDefault()
    setDone(null)
    if (password !== again) { setError('The two new passwords differ: type the same password twice.'); return }
    setBusy(true)
    setError(null)
    api.post<{ changed: true, revokedSessions: number }>('/v1/auth/password', { current, password }).then(r => {
      setBusy(false)
      setCurrent(''); setPassword(''); setAgain('')
      setDone(`Password changed. ${r.revokedSessions === 0 ? 'No other session was open.' : `${r.revokedSessions} other session${r.revokedSessions === 1 ? ' was' : 's were'} ended: they log in with the new password.`}`)
    }, (err: unknown) => { setBusy(false); setError(failureText(err)) })
  }, [api, current, password, again])
  const field = (set: (v: string) => void) => (e: Event) => { set((e.target as HTMLInputElement).value) }
  return html`
    <section aria-labelledby="password-title">
      <h2 id="password-title">Admin password</h2>
      <form class="card stack" onSubmit=${change} aria-describedby="password-error">
        <label for="password-current">Current password</label>
        <input id="password-current" type="password" autocomplete="current-password" required value=${current} onInput=${field(setCurrent)} />
        <label for="password-new">New password</label>
        <input id="password-new" type="password" autocomplete="new-password" required minlength="8" aria-describedby="password-help" value=${password} onInput=${field(setPassword)} />
        <p id="password-help" class="why">8 to 256 characters. Every other session ends: those browsers log in again.</p>
        <label for="password-again">New password again</label>
        <input id="password-again" type="password" autocomplete="new-password" required value=${again} onInput=${field(setAgain)} />
        <${FormError} id="password-error" text=${error} />
        ${done === null ? null : html`<p class="ok-line" role="status">${done}</p>`}
        <button type="submit" disabled=${busy}>${busy ? 'Changing…' : 'Change the password'}</button>
      </form>
    </section>`
}
