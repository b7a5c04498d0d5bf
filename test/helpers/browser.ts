/**
 * A real headless browser for the front end's tests (test/web/ui/): Debian's
 * `chromium` (scripts/system-packages.txt; `npm test` installs it first, and
 * CI runs `npm test`), driven by playwright-core, which downloads no browser.
 * Without chromium the browser tests skip, saying why (`browserMissing`);
 * they never fail for it.
 *
 * Each page records what would be a defect however the page looks: console
 * errors, uncaught exceptions, and Content-Security-Policy violations
 * (`securitypolicyviolation` events, listened to from before any of the
 * page's scripts run). `screenshot` saves PNGs under
 * test-artifacts/screenshots/ (gitignored); `checkAccessible` checks the
 * accessibility basics of docs/web.md "Front end".
 */
import type { Test } from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'
import { mkdir } from 'node:fs/promises'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { toolPresent } from './tools.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Debian's browser binary (the `chromium` line of scripts/system-packages.txt). */
export const CHROMIUM = 'chromium'

/** Where screenshots go (gitignored; CI may keep the folder as an artifact). */
export const SCREENSHOT_DIR = join(ROOT, 'test-artifacts', 'screenshots')

/** The two widths every page is shown at: a laptop, and a phone held upright. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 }
} as const
export type ViewportName = keyof typeof VIEWPORTS

/** More Tab presses than any page has controls: a walk that has not come round by then is stuck in a trap. */
export const MAX_TAB_STOPS = 200

/** Why the browser tests cannot run here, or false when they can: pass it as tap's `skip` option. */
export function browserMissing (): string | false {
  return toolPresent(CHROMIUM)
    ? false
    : 'chromium is not installed: install the Debian package chromium (bash scripts/system-packages.sh, which npm test runs first)'
}

/**
 * Launches headless chromium, closed at teardown. As root (a CI container)
 * chromium refuses to start with its sandbox, which needs an unprivileged
 * user: `--no-sandbox` is passed then, and only then; the pages it opens are
 * our own, on 127.0.0.1.
 */
export async function launchBrowser (t: Test): Promise<Browser> {
  const executablePath = (process.env.PATH ?? '').split(delimiter).map(d => join(d, CHROMIUM)).find(p => toolPresent(p)) ?? CHROMIUM
  const asRoot = process.getuid?.() === 0
  const browser = await chromium.launch({ executablePath, headless: true, args: asRoot ? ['--no-sandbox'] : [] })
  t.teardown(async () => { await browser.close() })
  return browser
}

/** A page and what went wrong on it so far. */
export interface WatchedPage {
  page: Page
  /** Console errors (with the URL they are about: a refused request logs one) and uncaught exceptions, as text. */
  errors: string[]
  /** CSP violations: the directive and the blocked URI. */
  cspViolations: () => Promise<string[]>
}

/**
 * A page in a fresh context (its own cookies) at `viewport`, which accepts
 * the box's self-signed certificate (the real server's HTTPS), with its
 * console errors, exceptions and CSP violations recorded.
 */
export async function openPage (browser: Browser, viewport: ViewportName): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: VIEWPORTS[viewport], ignoreHTTPSErrors: true, locale: 'en-GB', colorScheme: 'light' })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', m => { if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`) })
  page.on('pageerror', e => { errors.push(`exception: ${e.message}`) })
  await context.addInitScript(() => {
    const seen: string[] = []
    ;(globalThis as unknown as { __cspViolations: string[] }).__cspViolations = seen
    document.addEventListener('securitypolicyviolation', e => { seen.push(`${e.violatedDirective} ${e.blockedURI}`) })
  })
  const cspViolations = async (): Promise<string[]> => await page.evaluate(() => (globalThis as unknown as { __cspViolations?: string[] }).__cspViolations ?? [])
  return { page, errors, cspViolations }
}

/** How long a page may take to move the focus after it draws (a hook runs after the render). */
export const TIMEOUT_FOCUS_MS = 5_000

/**
 * The id of the element that has the focus, once it is `id` or after
 * TIMEOUT_FOCUS_MS: a page moves the focus in an effect after it draws, so
 * reading it as soon as the new content shows races with that effect.
 */
export async function focusedId (page: Page, id: string): Promise<string | undefined> {
  await page.waitForFunction(want => document.activeElement?.id === want, id, { timeout: TIMEOUT_FOCUS_MS }).catch(() => undefined)
  return await page.evaluate(() => document.activeElement?.id)
}

/** Saves a PNG of the whole page (or of the viewport only: `fullPage: false`) as test-artifacts/screenshots/NAME.png; returns its path. */
export async function screenshot (page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true })
  const path = join(SCREENSHOT_DIR, `${name}.png`)
  await page.screenshot({ path, fullPage: options.fullPage ?? true })
  return path
}

/** What counts as a control: what a keyboard user must be able to reach and a screen reader to name. */
const CONTROLS = 'input:not([type=hidden]), select, textarea, button, a[href], [role=button]'

/**
 * The accessibility basics of the page as shown now, as a list of problems
 * (empty when all is well):
 *   - every visible control has an accessible name (a label, its text or
 *     aria-label), as the browser's accessibility tree computes it;
 *   - walking the page with Tab from the top reaches every visible, enabled
 *     control (none is left out of the order, and no trap stops the walk);
 *     a group of radio buttons (one `name` in one form) is one Tab stop, as
 *     browsers make it (its arrow keys move inside): reaching one reaches all;
 *   - the page says its language, has one h1, and its headings skip no level.
 */
export async function checkAccessible (page: Page): Promise<string[]> {
  const problems: string[] = []
  const controls = await page.locator(CONTROLS).all()
  const expected: string[] = []
  /** Each radio's group (`form#name`), by its id. */
  const groups = new Map<string, string>()
  for (const [i, control] of controls.entries()) {
    if (!await control.isVisible()) continue
    const what = await control.evaluate((el, i) => {
      el.setAttribute('data-a11y-id', String(i))
      return `${el.tagName.toLowerCase()}${el.id === '' ? '' : `#${el.id}`} "${(el.textContent ?? '').trim().slice(0, 40)}"`
    }, i)
    const snapshot = await control.ariaSnapshot()
    // A name holding ": " comes YAML-quoted: - 'checkbox "I understand: ..."'.
    if (!/^- '?[\w-]+ "[^"]+"/.test(snapshot)) problems.push(`no accessible name: ${what} (${snapshot.split('\n')[0] ?? ''})`)
    if (await control.isEnabled()) expected.push(String(i))
    const group = await control.evaluate(el => el instanceof HTMLInputElement && el.type === 'radio' && el.name !== '' ? `${el.form?.id ?? ''}#${el.name}` : null)
    if (group !== null) groups.set(String(i), group)
  }
  // The walk starts before the first control, as after loading the page: from a
  // focusable (not tabbable) mark put first in the body, removed once left.
  await page.evaluate(() => {
    const start = document.createElement('span')
    start.tabIndex = -1
    start.setAttribute('data-a11y-start', '')
    document.body.prepend(start)
    start.focus()
  })
  const reached: string[] = []
  for (let n = 0; n < Math.min(MAX_TAB_STOPS, expected.length * 2 + 2); n++) {
    await page.keyboard.press('Tab')
    const id = await page.evaluate(() => document.activeElement?.getAttribute('data-a11y-id') ?? null)
    if (id === null) { if (reached.length > 0) break; continue }
    if (reached.includes(id)) break
    reached.push(id)
  }
  const reachedGroups = new Set(reached.flatMap(id => groups.get(id) ?? []))
  for (const id of expected) {
    if (!reached.includes(id) && !reachedGroups.has(groups.get(id) ?? '')) problems.push(`not reachable with Tab: ${await page.locator(`[data-a11y-id="${id}"]`).evaluate(el => el.outerHTML.slice(0, 80))}`)
  }
  problems.push(...await page.evaluate(() => {
    const out: string[] = []
    if (document.documentElement.lang === '') out.push('the page has no lang')
    const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(h => (h as HTMLElement).offsetParent !== null).map(h => Number(h.tagName[1]))
    if (levels.filter(l => l === 1).length !== 1) out.push(`one h1 expected, found ${levels.filter(l => l === 1).length}`)
    levels.forEach((l, i) => { if (i > 0 && l > levels[i - 1]! + 1) out.push(`heading level skipped: h${levels[i - 1]!} then h${l}`) })
    return out
  }))
  await page.evaluate(() => {
    for (const el of document.querySelectorAll('[data-a11y-id]')) el.removeAttribute('data-a11y-id')
    document.querySelector('[data-a11y-start]')?.remove()
  })
  return problems
}
