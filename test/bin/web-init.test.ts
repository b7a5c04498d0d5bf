/**
 * `tandem init` and `tandem status` with the web server (docs/cli.md): init
 * makes DATA/web/ and, with `--api`, the certificate, and prints its
 * fingerprint; status shows the URL, the fingerprint and that the admin
 * password is still to be set; `--plain-http` only on a loopback host, with
 * no certificate.
 */
import t from 'tap'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { InitResult, StatusInfo } from '../../appliance/service/index.ts'
import { pemFingerprint } from '../../web/tls/index.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { tandemAt, tandemJsonAt } from '../helpers/tandem-cli.ts'

const LISTEN = ['--listen', '/ip4/127.0.0.1/tcp/0']
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

t.test('init --api makes the certificate and prints its fingerprint; status shows it', async t => {
  const dir = join(await tempDir(t), 'box')
  const init = await tandemJsonAt<InitResult>(dir, ['init', '--name', 'box', ...LISTEN, '--api', '127.0.0.1:7443'])
  const cert = await readFile(join(dir, 'web', 'tls.crt'), 'utf8')
  t.same(init.web, { url: 'https://127.0.0.1:7443/', fingerprint: pemFingerprint(cert) })
  t.equal(await mode(join(dir, 'web')), 0o700)
  t.equal(await mode(join(dir, 'web', 'tls.key')), 0o600)
  const status = await tandemJsonAt<StatusInfo>(dir, ['status'])
  const code = (await readFile(join(dir, 'web', 'setup-code'), 'utf8')).trim()
  t.match(code, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/, 'init made the one-time setup code')
  t.equal(await mode(join(dir, 'web', 'setup-code')), 0o600)
  t.same(status.web, { url: 'https://127.0.0.1:7443/', fingerprint: init.web!.fingerprint, setupCode: code, passwordSet: false })
  const text = await tandemAt(dir, ['status'])
  t.equal(text.status, 0)
  t.match(text.stdout, /^web +https:\/\/127\.0\.0\.1:7443\/$/m)
  t.ok(text.stdout.split('\n').includes(`cert      ${init.web!.fingerprint}`), 'the fingerprint')
  t.match(text.stdout, new RegExp(`^password +not set: open the web page and enter the one-time code ${code}`, 'm'))
})

t.test('init\'s text shows the URL and the fingerprint', async t => {
  const dir = join(await tempDir(t), 'box')
  const r = await tandemAt(dir, ['init', ...LISTEN, '--api', '[::1]:7443'])
  t.equal(r.status, 0)
  const fingerprint = pemFingerprint(await readFile(join(dir, 'web', 'tls.crt'), 'utf8'))
  t.match(r.stdout, /^web +https:\/\/\[::1\]:7443\/$/m)
  t.ok(r.stdout.includes(`cert         ${fingerprint}`), 'the fingerprint')
})

t.test('--plain-http: only on a loopback host, and no certificate', async t => {
  const root = await tempDir(t)
  for (const api of ['0.0.0.0:8080', '192.168.1.20:8080', 'box.example:8080']) {
    const dir = join(root, api)
    const r = await tandemAt(dir, ['init', ...LISTEN, '--api', api, '--plain-http'])
    t.equal(r.code, 'APP_USAGE', api)
    await t.rejects(stat(dir), { code: 'ENOENT' }, `${api}: nothing made`)
  }
  t.equal((await tandemAt(join(root, 'none'), ['init', ...LISTEN, '--plain-http'])).code, 'APP_USAGE', 'no --api')
  const dir = join(root, 'plain')
  const init = await tandemJsonAt<InitResult>(dir, ['init', ...LISTEN, '--api', '127.0.0.1:8080', '--plain-http'])
  t.same(init.web, { url: 'http://127.0.0.1:8080/', fingerprint: null })
  t.same(await readdir(join(dir, 'web')), ['setup-code'], 'no certificate; the setup code')
  t.match(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')), { api: '127.0.0.1:8080', apiPlainHttp: true })
  t.match((await tandemJsonAt<StatusInfo>(dir, ['status'])).web, { url: 'http://127.0.0.1:8080/', fingerprint: null })
  const text = (await tandemAt(dir, ['status'])).stdout
  t.notMatch(text, /certificate/)
})

t.test('without --api: DATA/web/ made empty, no web in the status', async t => {
  const dir = join(await tempDir(t), 'box')
  const init = await tandemJsonAt<InitResult>(dir, ['init', ...LISTEN])
  t.equal(init.web, null)
  t.equal(await mode(join(dir, 'web')), 0o700)
  t.same(await readdir(join(dir, 'web')), [])
  t.equal((await tandemJsonAt<StatusInfo>(dir, ['status'])).web, null)
  const text = await tandemAt(dir, ['status'])
  t.notMatch(text.stdout, /^web|cert|password/m)
})
