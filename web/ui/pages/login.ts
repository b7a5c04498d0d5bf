/** The login page (`POST /v1/auth/login`): the admin password; on success the app gets the session's CSRF token. */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import type { Api } from '../api.ts'
import { FormError, failureText } from './form-error.ts'

export function LoginPage ({ api, onDone }: { api: Api, onDone: (csrfToken: string) => void }): ComponentChildren {
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = (e: Event): void => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    api.post<{ csrfToken: string }>('/v1/auth/login', { password })
      .then(r => { onDone(r.csrfToken) }, (err: unknown) => { setError(failureText(err)); setBusy(false) })
  }
  return html`
    <main class="center">
      <h1 id="page-title" tabindex="-1">Log in to Tandem</h1>
      <form class="card stack" onSubmit=${submit} aria-describedby="login-error">
        <label for="login-password">Admin password</label>
        <input id="login-password" type="password" autocomplete="current-password" required autofocus
          value=${password} onInput=${(e: Event) => { setPassword((e.target as HTMLInputElement).value) }} />
        <${FormError} id="login-error" text=${error} />
        <button type="submit" disabled=${busy}>${busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </main>`
}
