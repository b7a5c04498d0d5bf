/**
 * The web server's part of the status: its URL from the configured
 * address, the fingerprint of the certificate on disk, and the admin
 * store's answers; null when no address is configured.
 */
import t from 'tap'
import { join } from 'node:path'
import { loadOrCreateCertificate } from '../../web/tls/index.ts'
import { webStatus, webUrl } from '../../web/web-status.ts'
import { tempDir } from '../helpers/fixtures.ts'

t.test('the URL a browser opens', async t => {
  const cases: Array<[string, boolean, string]> = [
    ['0.0.0.0:7443', false, 'https://box-a:7443/'],
    ['[::]:7443', false, 'https://box-a:7443/'],
    ['192.168.1.20:443', false, 'https://192.168.1.20:443/'],
    ['[2001:db8::1]:7443', false, 'https://[2001:db8::1]:7443/'],
    ['tandem.example:8443', false, 'https://tandem.example:8443/'],
    ['127.0.0.1:8080', true, 'http://127.0.0.1:8080/'],
    ['[::1]:8080', true, 'http://[::1]:8080/']
  ]
  for (const [api, plain, url] of cases) t.equal(webUrl(api, plain, 'box-a'), url, api)
})

t.test('status: null without an address; the fingerprint on disk and the admin store\'s answers with one', async t => {
  const webDir = join(await tempDir(t), 'web')
  let code: string | null = 'ABCD-EFGH-JKLM'
  let set = false
  const auth = { readSetupCode: async (dir: string) => { t.equal(dir, webDir); return code }, passwordIsSet: async () => set }
  t.equal(await webStatus({ webDir, api: null, plainHttp: false, auth }), null)
  t.same(await webStatus({ webDir, api: '0.0.0.0:7443', plainHttp: false, auth, hostname: 'box-a' }),
    { url: 'https://box-a:7443/', fingerprint: null, setupCode: 'ABCD-EFGH-JKLM', passwordSet: false }, 'no certificate yet: no fingerprint')
  const cert = await loadOrCreateCertificate(webDir, { commonName: 'box-a', dnsNames: ['box-a'], ipAddresses: [] })
  t.same(await webStatus({ webDir, api: '0.0.0.0:7443', plainHttp: false, auth, hostname: 'box-a' }),
    { url: 'https://box-a:7443/', fingerprint: cert.fingerprint, setupCode: 'ABCD-EFGH-JKLM', passwordSet: false })
  t.same(await webStatus({ webDir, api: '127.0.0.1:8080', plainHttp: true, auth }),
    { url: 'http://127.0.0.1:8080/', fingerprint: null, setupCode: 'ABCD-EFGH-JKLM', passwordSet: false }, 'plain HTTP: no fingerprint')
  set = true
  t.match(await webStatus({ webDir, api: '0.0.0.0:7443', plainHttp: false, auth }), { setupCode: null, passwordSet: true }, 'a password set: no code')
  code = null
  t.match(await webStatus({ webDir, api: '0.0.0.0:7443', plainHttp: false, auth }), { setupCode: null, passwordSet: true })
})
