/** The pages not built yet, and the answer to a page name that does not exist. */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { href } from '../route.ts'

export function LaterPage ({ title }: { title: string }): ComponentChildren {
  return html`
    <h1 id="page-title" tabindex="-1">${title}</h1>
    <p>This page is not built yet. Until it is, the <code>tandem</code> command does the same (docs/cli.md).</p>`
}

export function NotFoundPage (): ComponentChildren {
  return html`
    <h1 id="page-title" tabindex="-1">No such page</h1>
    <p>Go back to the <a href=${href('')}>dashboard</a>.</p>`
}
