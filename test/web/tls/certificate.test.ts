/**
 * The web certificate, checked by other tools than the one that made it:
 * OpenSSL reads its names, key usages, validity and serial, and computes the
 * same fingerprint; a node:tls server serving it is reached by a client
 * that trusts it (names checked) and sees the same fingerprint.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { BACKDATE_MS, VALIDITY_DAYS, createCertificate, type CertificatePair } from '../../../web/tls/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { requireTools } from '../../helpers/tools.ts'

requireTools(t, ['openssl'])

const run = promisify(execFile)
const NOW = Date.parse('2026-03-01T12:00:00.000Z')
const NAMES = { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '192.0.2.7', '2001:db8::ffff:1.2.3.4'] }

async function openssl (t: Test, pair: CertificatePair, args: string[]): Promise<string> {
  const file = join(await tempDir(t), 'tls.crt')
  await writeFile(file, pair.certPem)
  return (await run('openssl', ['x509', '-in', file, '-noout', ...args])).stdout
}

t.test('OpenSSL reads the names, key, usages and validity asked for', async t => {
  const pair = await createCertificate({ ...NAMES, now: NOW })
  const text = await openssl(t, pair, ['-text'])
  t.match(text, /Version: 3 \(0x2\)/)
  t.match(text, /Signature Algorithm: ecdsa-with-SHA256/)
  t.match(text, /NIST CURVE: P-256/)
  t.match(text, /Subject: CN = box-a/)
  t.match(text, /Issuer: CN = box-a/, 'self-signed')
  t.match(text, /Subject Alternative Name: *\n *DNS:box-a, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192\.0\.2\.7, IP Address:2001:DB8:0:0:0:FFFF:102:304\n/)
  t.match(text, /Basic Constraints: critical\n *CA:FALSE\n/)
  t.match(text, /Key Usage: critical\n *Digital Signature\n/)
  t.match(text, /Extended Key Usage: *\n *TLS Web Server Authentication\n/)
  const dates = await openssl(t, pair, ['-dates', '-dateopt', 'iso_8601'])
  const notBefore = Date.parse(/notBefore=(.*)/.exec(dates)![1]!.replace(' ', 'T'))
  const notAfter = Date.parse(/notAfter=(.*)/.exec(dates)![1]!.replace(' ', 'T'))
  t.equal(notBefore, NOW - BACKDATE_MS, 'valid from an hour before it was made')
  t.equal(notAfter - notBefore, VALIDITY_DAYS * 24 * 3600 * 1000, 'for 825 days')
})

t.test('the serial is 16 random bytes, positive; each certificate has its own key', async t => {
  const serials = new Set<string>()
  const keys = new Set<string>()
  for (let i = 0; i < 4; i++) {
    const pair = await createCertificate(NAMES)
    const serial = /serial=([0-9A-F]+)/.exec(await openssl(t, pair, ['-serial']))![1]!
    t.equal(serial.length, 32, '16 bytes, no leading zero byte')
    t.ok(parseInt(serial[0]!, 16) < 8, 'the top bit is clear: positive')
    serials.add(serial)
    keys.add(pair.keyPem)
  }
  t.equal(serials.size, 4)
  t.equal(keys.size, 4)
})

t.test('the fingerprint is OpenSSL\'s SHA-256 one, as browsers write it', async t => {
  const pair = await createCertificate(NAMES)
  t.match(pair.fingerprint, /^SHA256 (?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  const openSsl = /Fingerprint=(.*)/i.exec(await openssl(t, pair, ['-fingerprint', '-sha256']))![1]!
  t.equal(pair.fingerprint, `SHA256 ${openSsl}`)
})

t.test('a TLS client that trusts the certificate reaches a server serving it, by IPv4 and IPv6 address', async t => {
  const pair = await createCertificate(NAMES)
  const sockets = new Set<Socket>()
  const server = tls.createServer({ key: pair.keyPem, cert: pair.certPem }, s => { sockets.add(s); s.end('tandem') })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const server6 = tls.createServer({ key: pair.keyPem, cert: pair.certPem }, s => { sockets.add(s); s.end('tandem') })
  await new Promise<void>(resolve => server6.listen(0, '::1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await Promise.all([server, server6].map(async s => { await new Promise(resolve => s.close(resolve)) }))
  })
  for (const [host, srv] of [['127.0.0.1', server], ['::1', server6]] as const) {
    const port = (srv.address() as { port: number }).port
    // `ca` makes the certificate the only one trusted; the client also checks the address is one of its names
    const client = tls.connect({ host, port, ca: pair.certPem })
    const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      client.once('secureConnect', () => { resolve(client.getPeerCertificate()) })
      client.once('error', reject)
    })
    t.equal(client.authorized, true, `${host}: trusted, its name matched`)
    t.equal(`SHA256 ${peer.fingerprint256}`, pair.fingerprint, `${host}: the fingerprint seen is ours`)
    client.destroy()
  }
})

t.test('a client that does not trust it is refused; one for another name too', async t => {
  const pair = await createCertificate({ ...NAMES, ipAddresses: ['192.0.2.7'] })
  const sockets = new Set<Socket>()
  const server = tls.createServer({ key: pair.keyPem, cert: pair.certPem }, s => { sockets.add(s) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { for (const s of sockets) s.destroy(); await new Promise(resolve => server.close(resolve)) })
  const port = (server.address() as { port: number }).port
  const fails = async (options: tls.ConnectionOptions): Promise<string> => await new Promise((resolve, reject) => {
    const client = tls.connect({ host: '127.0.0.1', port, ...options })
    client.once('secureConnect', () => { client.destroy(); reject(new Error('connected')) })
    client.once('error', (err: NodeJS.ErrnoException) => { client.destroy(); resolve(String(err.code)) })
  })
  t.equal(await fails({}), 'DEPTH_ZERO_SELF_SIGNED_CERT', 'not trusted: self-signed')
  t.equal(await fails({ ca: pair.certPem }), 'ERR_TLS_CERT_ALTNAME_INVALID', '127.0.0.1 is not among its names')
})

t.test('bad names are TypeErrors', async t => {
  await t.rejects(createCertificate({ commonName: 'x', dnsNames: [], ipAddresses: [] }), TypeError)
  await t.rejects(createCertificate({ commonName: '', dnsNames: ['x'], ipAddresses: [] }), TypeError)
  await t.rejects(createCertificate({ commonName: 'x'.repeat(65), dnsNames: ['x'], ipAddresses: [] }), TypeError)
  await t.rejects(createCertificate({ commonName: 'x', dnsNames: [], ipAddresses: ['box'] }), TypeError)
  await t.rejects(createCertificate({ commonName: 'x', dnsNames: [], ipAddresses: ['fe80::1%eth0'] }), TypeError)
})
