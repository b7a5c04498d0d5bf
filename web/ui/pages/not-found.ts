/** The answer to a page name that does not exist. */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { href } from '../route.ts'

export function NotFoundPage (): ComponentChildren {
  return html`
    <h1 id="page-title" tabindex="-1">No such page</h1>
    <p>Go back to the <a href=${href('')}>dashboard</a>.</p>`
}
