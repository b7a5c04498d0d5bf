/**
 * The README's main command, `npm run demo`: two real daemons pair and
 * replicate the demo VM; each box's web page is printed (URL, certificate
 * fingerprint, one-time setup code) and answers there, with that
 * certificate, while the demo runs; with `--cycles` it ends by itself, both
 * daemons stopped, and nothing is left behind.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { ROOT } from '../helpers/tandem-cli.ts'

/** A web page as the demo prints it. */
interface Page { name: string, url: string, fingerprint: string, setupCode: string }

const PAGE_LINES = /^ {4}(\w+): (https:\/\/127\.0\.0\.1:\d+\/)\n {6}certificate SHA256 ([0-9A-F:]+)\n {6}one-time setup code (\S+)$/gm

/**
 * GET /v1/auth/state of a printed page, trusting only the printed
 * fingerprint (the certificate is self-signed): what a browser would get.
 */
async function authState (page: Page): Promise<{ fingerprint: string, body: unknown }> {
  return await new Promise((resolve, reject) => {
    const req = request(new URL('/v1/auth/state', page.url), { rejectUnauthorized: false }, res => {
      const fingerprint = (res.socket as unknown as { getPeerCertificate: () => { fingerprint256: string } }).getPeerCertificate().fingerprint256
      let body = ''
      res.setEncoding('utf8').on('data', (s: string) => { body += s }).on('end', () => { resolve({ fingerprint, body: JSON.parse(body) }) })
    })
    req.on('error', reject).end()
  })
}

/** Runs the demo; `onPages` is called once, while it runs, with the two web pages it printed. */
async function demo (args: string[], onPages?: (pages: Page[]) => void): Promise<{ status: number | null, out: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'appliance/demo.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let told = false
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s
    const pages = [...out.matchAll(PAGE_LINES)].map(m => ({ name: m[1]!, url: m[2]!, fingerprint: m[3]!, setupCode: m[4]! }))
    if (!told && pages.length === 2) { told = true; onPages?.(pages) }
  })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
  const status = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { status, out }
}

t.test('two boxes pair and replicate; the demo ends cleanly after the cycles asked for', async t => {
  let answered: Promise<Array<{ page: Page, fingerprint: string, body: unknown }>> | undefined
  const { status, out } = await demo(['--frequency', '2s', '--cycles', '2'], pages => {
    answered = Promise.all(pages.map(async page => ({ page, ...await authState(page) })))
  })
  t.equal(status, 0, out)
  t.ok(answered !== undefined, 'both web pages are printed')
  for (const { page, fingerprint, body } of await answered!) {
    t.equal(fingerprint, page.fingerprint, `${page.name}: its page serves the certificate printed`)
    t.same(body, { passwordSet: false, loggedIn: false, csrfToken: null }, `${page.name}: its page answers, waiting for the setup code`)
    t.match(page.setupCode, /^[0-9A-Z-]{8,}$/, `${page.name}: a setup code`)
  }
  t.same((await answered!).map(a => a.page.name), ['branch', 'head'])
  t.match(out, /type the box's setup code and choose a password; from then on, log in with that password/, 'how to log in')
  t.match(out, /cycle 2 replicated at/)
  t.match(out, /recovery points/)
  t.match(out, /Demo OK: both boxes stopped cleanly/)
  const dir = /Working in \$DEMO = (\S+)/.exec(out)?.[1]
  t.ok(dir !== undefined && !existsSync(dir), 'its directory is removed')
})

t.test('a bad option is a usage error', async t => {
  const { status, out } = await demo(['--cycles', 'many'])
  t.equal(status, 2)
  t.match(out, /--cycles N/)
})
