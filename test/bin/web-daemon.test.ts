/**
 * The web page's server in a real `tandem start` (docs/web.md): with
 * `--api`, the daemon serves HTTPS with the certificate whose fingerprint
 * `tandem status` shows, and logs the one-time setup code; the front end
 * and the login are public, the API needs a session; the setup code sets
 * the password once; the browser's status carries no setup code; a wrong
 * Host is refused; the live channel sends a snapshot; /metrics takes the
 * token of DATA/web/metrics-token; the daemon's stop closes it all.
 */
import t from 'tap'
import { request as httpsRequest } from 'node:https'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { StatusInfo } from '../../appliance/service/index.ts'
import { freePort, tempDir } from '../helpers/fixtures.ts'
import { startDaemon, tandemAt, tandemJsonAt } from '../helpers/tandem-cli.ts'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string, fingerprint: string }

/** One HTTPS request to 127.0.0.1:port, trusting nothing but reading the peer's certificate fingerprint. */
async function send (port: number, method: string, path: string, headers: Record<string, string> = {}, body?: unknown, until?: (text: string) => boolean): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = httpsRequest({
      host: '127.0.0.1',
      port,
      method,
      path,
      rejectUnauthorized: false,
      headers: { host: `127.0.0.1:${port}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers }
    }, res => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256
      let text = ''
      res.setEncoding('utf8')
      const done = (): void => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, fingerprint }) }
      res.on('data', (chunk: string) => {
        text += chunk
        if (until?.(text) === true) { done(); req.destroy() }
      })
      res.on('end', done)
    })
    req.on('error', err => { if (until === undefined) reject(err) })
    req.end(payload)
  })
}

const cookieOf = (a: Answer): string => String([a.headers['set-cookie']].flat()[0]).split(';')[0]!

t.test('tandem start serves the web page over HTTPS behind the login', async t => {
  const dir = join(await tempDir(t), 'box')
  const port = await freePort()
  t.equal((await tandemAt(dir, ['init', '--name', 'box', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', `127.0.0.1:${port}`])).status, 0)
  const daemon = await startDaemon(dir)
  t.teardown(async () => { await daemon.stop() })
  const status = await tandemJsonAt<StatusInfo>(dir, ['status'])
  t.match(status.web, { url: `https://127.0.0.1:${port}/`, passwordSet: false, setupCode: /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/ })
  const code = status.web!.setupCode!
  t.ok(daemon.stdout().includes(code), 'the daemon logs the one-time code (the console)')

  const page = await send(port, 'GET', '/')
  t.equal(page.status, 200, 'the front end is public')
  t.match(String(page.headers['content-type']), /^text\/html/)
  t.equal(`SHA256 ${page.fingerprint}`, status.web!.fingerprint, 'the certificate served is the one status shows')
  t.match(String(page.headers['content-security-policy']), /script-src 'self' 'sha256-/)
  t.equal((await send(port, 'GET', '/v1/status')).status, 401, 'the API needs a login')
  const wrongHost = await send(port, 'GET', '/', { host: 'evil.example' })
  t.same([wrongHost.status, JSON.parse(wrongHost.body).code], [421, 'WEB_HOST_INVALID'])

  const wrong = await send(port, 'POST', '/v1/auth/setup', {}, { code: 'AAAA-BBBB-CCCC', password: 'correct horse battery' })
  t.equal(JSON.parse(wrong.body).code, 'WEB_SETUP_CODE_INVALID')
  const setup = await send(port, 'POST', '/v1/auth/setup', {}, { code, password: 'correct horse battery' })
  t.equal(setup.status, 200, setup.body)
  const cookie = cookieOf(setup)
  const { csrfToken } = JSON.parse(setup.body) as { csrfToken: string }
  const browserStatus = await send(port, 'GET', '/v1/status', { cookie })
  t.equal(browserStatus.status, 200)
  t.match(JSON.parse(browserStatus.body), { name: 'box', web: { setupCode: null, passwordSet: true } }, 'no setup code for the browser')
  t.match(await tandemJsonAt<StatusInfo>(dir, ['status']), { web: { setupCode: null, passwordSet: true } }, 'the code is spent')
  t.equal((await send(port, 'POST', '/v1/auth/setup', {}, { code, password: 'another password' })).status, 409, 'setup is done once')

  const noToken = await send(port, 'POST', '/v1/pairing', { cookie }, {})
  t.equal(JSON.parse(noToken.body).code, 'WEB_CSRF_INVALID')
  const live = await send(port, 'GET', '/v1/live', { cookie }, undefined, text => text.includes('event: snapshot') && text.includes('\n\n'))
  t.equal(live.status, 200)
  t.match(live.body, /event: snapshot\n(id: .*\n)?data: \{"status":\{/)

  t.equal((await send(port, 'GET', '/metrics')).status, 401, 'metrics need a session or the token')
  t.match((await send(port, 'GET', '/metrics', { cookie })).body, /^tandem_up 1$/m)
  await writeFile(join(dir, 'web', 'metrics-token'), 'a-read-only-token-for-prometheus\n', { mode: 0o600 })
  t.match((await send(port, 'GET', '/metrics', { authorization: 'Bearer a-read-only-token-for-prometheus' })).body, /^tandem_up 1$/m, 'the token of DATA/web/metrics-token')
  t.equal((await send(port, 'GET', '/metrics', { authorization: 'Bearer not-the-token-at-all-no' })).status, 401)

  const logout = await send(port, 'POST', '/v1/auth/logout', { cookie, 'x-csrf-token': csrfToken })
  t.equal(logout.status, 200)
  t.equal((await send(port, 'GET', '/v1/status', { cookie })).status, 401, 'logged out')
  const ended = await daemon.stop()
  t.equal(ended.status, 0, ended.stderr)
  await t.rejects(send(port, 'GET', '/'), 'the web server closed with the daemon')
})
