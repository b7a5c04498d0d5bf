/** A form's failure line: announced by screen readers (role="alert"), in words for known codes. */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { ApiError, UI_NETWORK } from '../api.ts'

/** Plain words for the codes a login form meets; any other code shows the server's message. */
const WORDS: Record<string, string> = {
  WEB_LOGIN_FAILED: 'Wrong password.',
  WEB_RATE_LIMITED: 'Too many attempts: wait a minute, then try again.',
  WEB_SETUP_CODE_INVALID: 'That one-time code is not right. The box\'s console and `tandem status` show the current one.',
  [UI_NETWORK]: 'The box did not answer. Check the network and try again.'
}

/** The words for a failure: known code, else the server's message, else the error's text. */
export function failureText (err: unknown): string {
  if (err instanceof ApiError) return WORDS[err.code] ?? err.message
  return err instanceof Error ? err.message : String(err)
}

export function FormError ({ id, text }: { id: string, text: string | null }): ComponentChildren {
  return html`<p id=${id} class="form-error" role="alert">${text ?? ''}</p>`
}
