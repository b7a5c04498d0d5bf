/**
 * The front end's entry (docs/web.md "Front end"): asks the box whether a
 * password is set and whether this browser is logged in, then shows the
 * set-password page, the login page, or the layout with the page of the
 * URL's hash. Any request answered 401 brings the login page back.
 */
import { html } from 'htm/preact'
import { render, type ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { Api, ApiError, type AuthState } from './api.ts'
import { Live, type LiveState } from './live.ts'
import { href, useRoute } from './route.ts'
import { LoginPage } from './pages/login.ts'
import { SetPasswordPage } from './pages/set-password.ts'
import { DashboardPage } from './pages/dashboard.ts'
import { PairingPage } from './pages/pairing.ts'
import { VmPage } from './pages/vm.ts'
import { ProtectPage } from './pages/protect.ts'
import { SettingsPage } from './pages/settings.ts'
import { FailoverPage } from './pages/failover.ts'
import { SalvagePage } from './pages/salvage.ts'
import { NotFoundPage } from './pages/not-found.ts'

/** What every page gets. */
export interface PageProps { api: Api, live: Live }

/** The navigation, in order: route name (the dashboard is '') and label. */
const NAV: ReadonlyArray<{ page: string, label: string }> = [
  { page: '', label: 'Dashboard' },
  { page: 'pairing', label: 'Pairing' },
  { page: 'protect', label: 'Protect' },
  { page: 'failover', label: 'Failover' },
  { page: 'salvage', label: 'Salvage' },
  { page: 'settings', label: 'Settings' }
]

function App ({ api, live }: PageProps): ComponentChildren {
  const [auth, setAuth] = useState<AuthState | null>(null)
  const [failure, setFailure] = useState<string | null>(null)
  const refresh = useCallback(() => {
    api.authState().then(state => { setAuth(state); setFailure(null) }, (err: unknown) => { setFailure(err instanceof ApiError ? err.message : String(err)) })
  }, [api])
  useEffect(() => {
    refresh()
    return api.onLoginRequired(() => { live.stop(); setAuth(a => a === null ? a : { ...a, loggedIn: false, csrfToken: null }) })
  }, [api, live, refresh])
  useEffect(() => {
    if (auth?.loggedIn === true) live.start()
  }, [auth, live])
  // A refused live channel may be an ended session: ask, and show the login page if so
  // (a box that does not answer is left to the channel's own retries).
  useEffect(() => live.subscribe({
    state: s => {
      if (s !== 'closed') return
      api.authState().then(state => { if (!state.loggedIn) { live.stop(); setAuth(state) } }, () => {})
    }
  }), [api, live])

  const loggedIn = (csrfToken: string): void => {
    api.setCsrfToken(csrfToken)
    setAuth({ passwordSet: true, loggedIn: true, csrfToken })
  }
  if (failure !== null) {
    return html`<main class="center"><h1>Tandem</h1><p role="alert">The box did not answer: ${failure}</p><button type="button" onClick=${refresh}>Try again</button></main>`
  }
  if (auth === null) return html`<p class="loading">Loading…</p>`
  if (!auth.passwordSet) return html`<${SetPasswordPage} api=${api} onDone=${loggedIn} onAlreadySet=${refresh} />`
  if (!auth.loggedIn) return html`<${LoginPage} api=${api} onDone=${loggedIn} />`
  const logOut = (): void => {
    api.post('/v1/auth/logout').finally(() => { live.stop(); api.setCsrfToken(null); refresh() }).catch(() => {})
  }
  return html`<${Layout} api=${api} live=${live} onLogOut=${logOut} />`
}

function Layout ({ api, live, onLogOut }: PageProps & { onLogOut: () => void }): ComponentChildren {
  const route = useRoute()
  const { state: liveState, name } = useLiveHeader(live)
  const first = useRef(true)
  useEffect(() => {
    // Moves the focus to the new page's heading, so that a keyboard or screen reader user starts there.
    if (first.current) { first.current = false; return }
    document.getElementById('page-title')?.focus()
  }, [route.page, route.param])
  return html`
    <a class="skip" href="#page-title" onClick=${(e: Event) => { e.preventDefault(); document.getElementById('page-title')?.focus() }}>Skip to content</a>
    <header class="top">
      <span class="brand">Tandem${name === undefined ? '' : html` <span class="box-name">${name}</span>`}</span>
      <span class="live ${liveState}" role="status">${LIVE_WORDS[liveState]}</span>
      <button type="button" class="quiet" onClick=${onLogOut}>Log out</button>
    </header>
    <nav class="nav" aria-label="Main">
      <ul>${NAV.map(n => html`<li><a href=${href(n.page)} aria-current=${n.page === route.page ? 'page' : undefined}>${n.label}</a></li>`)}</ul>
    </nav>
    <main class="page">${pageOf(route.page, { api, live }, route.param)}</main>`
}

const LIVE_WORDS: Record<LiveState, string> = { open: 'Live', connecting: 'Connecting…', closed: 'Offline: retrying', stopped: 'Not live' }

/** The header's live facts: the channel's state, and the box's name from the newest snapshot. */
function useLiveHeader (live: Live): { state: LiveState, name: string | undefined } {
  const [state, setState] = useState(live.state)
  const [name, setName] = useState(live.last?.status.name)
  useEffect(() => live.subscribe({ state: setState, snapshot: s => { setName(s.status.name) } }), [live])
  return { state, name }
}

function pageOf (page: string, props: PageProps, param: string | null): ComponentChildren {
  switch (page) {
    case '': return html`<${DashboardPage} ...${props} />`
    case 'pairing': return html`<${PairingPage} ...${props} />`
    case 'vm': return html`<${VmPage} ...${props} name=${param} />`
    case 'protect': return html`<${ProtectPage} ...${props} />`
    case 'failover': return html`<${FailoverPage} ...${props} />`
    case 'salvage': return html`<${SalvagePage} ...${props} />`
    case 'settings': return html`<${SettingsPage} ...${props} />`
    default: return html`<${NotFoundPage} />`
  }
}

const root = document.getElementById('app')
if (root !== null) {
  root.textContent = ''
  render(html`<${App} api=${new Api()} live=${new Live()} />`, root)
}
