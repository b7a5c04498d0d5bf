/**
 * The first-run page (`POST /v1/auth/setup`): the one-time code the box's
 * console and `tandem status` show, and the admin password twice. The box
 * has no default password: until this is done nobody can log in.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { ApiError, type Api } from '../api.ts'
import { FormError, failureText } from './form-error.ts'

export function SetPasswordPage ({ api, onDone, onAlreadySet }: { api: Api, onDone: (csrfToken: string) => void, onAlreadySet: () => void }): ComponentChildren {
  const [code, setCode] = useState('')
  const [password, setPassword] = useState('')
  const [again, setAgain] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = (e: Event): void => {
    e.preventDefault()
    if (password !== again) { setError('The two passwords differ: type the same password twice.'); return }
    setBusy(true)
    setError(null)
    api.post<{ csrfToken: string }>('/v1/auth/setup', { code: code.trim(), password })
      .then(r => { onDone(r.csrfToken) }, (err: unknown) => {
        if (err instanceof ApiError && err.code === 'WEB_PASSWORD_ALREADY_SET') { onAlreadySet(); return }
        setError(failureText(err))
        setBusy(false)
      })
  }
  const field = (set: (v: string) => void) => (e: Event) => { set((e.target as HTMLInputElement).value) }
  return html`
    <main class="center">
      <h1 id="page-title" tabindex="-1">Set the admin password</h1>
      <p>This box has no password yet. Its console and the command <code>tandem status</code> show a one-time code: type it here, then choose the password.</p>
      <form class="card stack" onSubmit=${submit} aria-describedby="setup-error">
        <label for="setup-code">One-time code</label>
        <input id="setup-code" autocomplete="one-time-code" autocapitalize="off" spellcheck=${false} required autofocus value=${code} onInput=${field(setCode)} />
        <label for="setup-password">New password</label>
        <input id="setup-password" type="password" autocomplete="new-password" required value=${password} onInput=${field(setPassword)} />
        <label for="setup-again">New password again</label>
        <input id="setup-again" type="password" autocomplete="new-password" required value=${again} onInput=${field(setAgain)} />
        <${FormError} id="setup-error" text=${error} />
        <button type="submit" disabled=${busy}>${busy ? 'Setting…' : 'Set password and log in'}</button>
      </form>
    </main>`
}
