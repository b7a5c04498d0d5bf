/**
 * The security headers of the browser-facing server (helmet): a strict CSP
 * that allows no inline script (but the UI's hashed import map), no eval, no
 * framing; no HSTS (the certificate is self-signed). And the redactions of
 * what only the local socket shows (the setup code, an open pairing window's
 * PIN and invite), as pure functions and through the server.
 */
import t from 'tap'
import { withoutPairingSecrets, withoutSetupCode } from '../../../web/server.ts'
import { PAIR_STATUS, STATUS } from '../fixtures/fake-service.ts'
import { as, servedBrowser, setUp } from '../fixtures/browser-server.ts'

const HASH = `sha256-${'A'.repeat(43)}=`

/** The CSP's directives by name. */
function directives (csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map(d => d.trim()).filter(d => d !== '').map(d => {
    const [name, ...values] = d.split(/\s+/)
    return [name!, values]
  }))
}

t.test('every answer, public or refused, carries the strict CSP and helmet\'s headers', async t => {
  const served = await servedBrowser(t, { scriptHashes: [HASH] })
  for (const url of ['/v1/auth/state', '/v1/status']) {
    const r = await served.app.inject({ method: 'GET', url })
    const csp = directives(String(r.headers['content-security-policy']))
    t.same(Object.fromEntries(csp), {
      'default-src': ["'self'"],
      'script-src': ["'self'", `'${HASH}'`],
      'script-src-attr': ["'none'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'data:', 'blob:'],
      'connect-src': ["'self'"],
      'media-src': ["'self'", 'blob:'],
      'object-src': ["'none'"],
      'base-uri': ["'none'"],
      'frame-ancestors': ["'none'"],
      'form-action': ["'self'"]
    }, `${url}: the CSP, no upgrade-insecure-requests on plain HTTP`)
    for (const [name, values] of csp) {
      t.notOk(values.includes("'unsafe-inline'"), `${url}: ${name} allows no inline code`)
      t.notOk(values.includes("'unsafe-eval'"), `${url}: ${name} allows no eval`)
    }
    t.equal(r.headers['x-content-type-options'], 'nosniff')
    t.equal(r.headers['x-frame-options'], 'SAMEORIGIN')
    t.equal(r.headers['referrer-policy'], 'no-referrer')
    t.equal(r.headers['strict-transport-security'], undefined, 'no HSTS: it would forbid accepting the self-signed certificate')
  }
})

t.test('withoutSetupCode blanks web.setupCode and keeps the rest', async t => {
  const web = { url: 'https://box-a.example:8443/', fingerprint: 'SHA256 AB', setupCode: 'ABCD-EFGH-JKMN', passwordSet: false }
  const withCode = { ...STATUS, web }
  t.same(withoutSetupCode(withCode), { ...STATUS, web: { ...web, setupCode: null } })
  t.equal(withCode.web.setupCode, 'ABCD-EFGH-JKMN', 'the service\'s document is not changed')
  t.equal(withoutSetupCode(STATUS), STATUS, 'a status without web is answered as it is')
})

t.test('withoutPairingSecrets blanks the open window\'s PIN and invite; the server answers GET /v1/pairing without them', async t => {
  const open = { ...PAIR_STATUS, window: { ...PAIR_STATUS.window!, open: true, paired: null, pin: '12345678', invite: 'tandem-pair:1:e30' } }
  t.same(withoutPairingSecrets(open), { ...open, window: { ...open.window, pin: null, invite: null } })
  t.equal(open.window.pin, '12345678', 'the service\'s document is not changed')
  const none = { window: null, last: null }
  t.equal(withoutPairingSecrets(none), none, 'no window: answered as it is')

  const served = await servedBrowser(t)
  served.service.pairStatus_ = open
  const r = await served.app.inject(as(await setUp(served), { method: 'GET', url: '/v1/pairing' }, false))
  t.equal(r.statusCode, 200)
  t.same(r.json().window, { ...open.window, pin: null, invite: null }, 'a logged-in browser never reads the window\'s secrets')
})
