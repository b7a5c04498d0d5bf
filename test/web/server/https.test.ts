/**
 * The browser-facing server over real HTTPS on 127.0.0.1 (a throw-away
 * certificate made by openssl for the test): the session cookie is Secure and
 * `__Host-` bound, the CSP upgrades insecure requests, and the status has no
 * setup code.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { request } from 'node:https'
import { checkServerIdentity } from 'node:tls'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { AddressInfo } from 'node:net'
import { buildServer } from '../../../web/server.ts'
import { ensureSetupCode } from '../../../web/auth/index.ts'
import { requireTools } from '../../helpers/tools.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { FakeService, STATUS } from '../fixtures/fake-service.ts'

requireTools(t, ['openssl'])

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

async function makeCert (dir: string): Promise<{ key: string, cert: string }> {
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=tandem-test', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')
  ])
  return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') }
}

t.test('over HTTPS: a Secure __Host- cookie, the CSP with upgrade-insecure-requests, no setup code in the status', async t => {
  const dir = await tempDir(t)
  const tls = await makeCert(dir)
  const webDir = join(dir, 'web')
  const code = (await ensureSetupCode(webDir))!
  const service = new FakeService()
  service.status_ = { ...STATUS, web: { url: 'https://127.0.0.1/', fingerprint: null, setupCode: code, passwordSet: false } }
  const app = buildServer(service, { https: tls, webDir, allowedHosts: () => ['127.0.0.1'] })
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as AddressInfo).port

  const send = async (method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> => await new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request({
      host: '127.0.0.1', port, method, path, ca: tls.cert,
      // The certificate names 127.0.0.1, whatever Host header a request sends.
      checkServerIdentity: (_host, cert) => checkServerIdentity('127.0.0.1', cert),
      headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }) }
    }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode!, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.end(payload)
  })

  const origin = `https://127.0.0.1:${port}`
  const setup = await send('POST', '/v1/auth/setup', { origin }, { code, password: 'correct horse battery' })
  t.equal(setup.status, 200, setup.body)
  const setCookie = [setup.headers['set-cookie']].flat().find(c => c?.startsWith('__Host-tandem-session='))!
  t.ok(setCookie, 'the cookie has the __Host- prefix')
  const flags = setCookie.split(';').slice(1).map(f => f.trim())
  t.ok(flags.includes('HttpOnly'), 'HttpOnly')
  t.ok(flags.includes('Secure'), 'Secure')
  t.ok(flags.includes('SameSite=Strict'), 'SameSite=Strict')
  t.ok(flags.includes('Path=/'), 'Path=/')
  t.notOk(flags.some(f => /^(Max-Age|Expires|Domain)=/i.test(f)), 'no lifetime, no domain')
  const cookie = setCookie.split(';')[0]!

  const status = await send('GET', '/v1/status', { cookie })
  t.equal(status.status, 200)
  t.notOk(status.body.includes(code), 'the status carries no setup code')
  t.match(String(status.headers['content-security-policy']), /upgrade-insecure-requests/)
  t.equal(status.headers['strict-transport-security'], undefined)

  const csrf = JSON.parse(setup.body).csrfToken as string
  const logout = await send('POST', '/v1/auth/logout', { cookie, 'x-csrf-token': csrf })
  t.equal(logout.status, 200)
  const cleared = [logout.headers['set-cookie']].flat().find(c => c?.startsWith('__Host-tandem-session=;'))
  t.match(cleared, /; Secure/, 'the cookie is cleared with Secure (a browser ignores a __Host- cookie without it)')
  t.equal((await send('GET', '/v1/status', { cookie })).status, 401, 'logged out')

  const anonymous = await send('GET', '/v1/status')
  t.equal(anonymous.status, 401)
  t.equal(JSON.parse(anonymous.body).code, 'WEB_LOGIN_REQUIRED')
  const wrongHost = await send('GET', '/v1/auth/state', { host: 'evil.example' })
  t.equal(wrongHost.status, 421)
})
