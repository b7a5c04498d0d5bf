/**
 * DATA/web/tls.key and tls.crt: made once (0600 in a 0700 directory),
 * loaded as they are afterwards; a damaged pair (empty, truncated, too
 * large, one file missing, a key of another certificate) is moved aside and
 * renewed, an expiring one replaced, each with `renewed` and a reason and a
 * log line, since the fingerprint changes.
 */
import t, { type Test } from 'tap'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  RENEW_BEFORE_MS, certificateFingerprint, certificatePaths, createCertificate, loadOrCreateCertificate, type CertificateLogger
} from '../../../web/tls/index.ts'
import { MAX_PEM_BYTES } from '../../../web/tls/constants.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const NAMES = { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1'] }

interface Logged { level: 'info' | 'warn', fields: Record<string, unknown>, message: string }

function recorder (): { logger: CertificateLogger, lines: Logged[] } {
  const lines: Logged[] = []
  return {
    lines,
    logger: {
      info: (fields, message) => { lines.push({ level: 'info', fields: fields as Record<string, unknown>, message }) },
      warn: (fields, message) => { lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message }) }
    }
  }
}

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

async function webDir (t: Test): Promise<string> {
  return join(await tempDir(t), 'web')
}

t.test('made once, private, then loaded as it is', async t => {
  const dir = await webDir(t)
  const { logger, lines } = recorder()
  const made = await loadOrCreateCertificate(dir, NAMES, { logger })
  t.match(made, { created: true, renewed: false, reason: null })
  const paths = certificatePaths(dir)
  t.equal(await mode(dir), 0o700, 'the directory is 0700')
  t.equal(await mode(paths.key), 0o600, 'the key is 0600')
  t.equal(await mode(paths.cert), 0o600, 'the certificate is 0600')
  t.equal(await readFile(paths.key, 'utf8'), made.keyPem)
  t.equal(await readFile(paths.cert, 'utf8'), made.certPem)
  t.match(lines, [{ level: 'info', fields: { fingerprint: made.fingerprint } }])
  const again = await loadOrCreateCertificate(dir, { ...NAMES, dnsNames: ['other'] }, { logger })
  t.same(again, { ...made, created: false }, 'the same pair: not renewed, its names kept')
  t.equal(lines.length, 1, 'nothing logged for a pair loaded as it is')
  t.equal(await certificateFingerprint(dir), made.fingerprint, 'status reads the same fingerprint')
  t.same((await readdir(dir)).sort(), ['tls.crt', 'tls.key'], 'no temp file left')
})

t.test('a temp file a crash left is overwritten, and the files are still 0600', async t => {
  const dir = await webDir(t)
  await loadOrCreateCertificate(dir, NAMES)
  const paths = certificatePaths(dir)
  await rm(paths.cert)
  await rm(paths.key)
  await writeFile(`${paths.key}.tmp`, 'half a key', { mode: 0o644 })
  const made = await loadOrCreateCertificate(dir, NAMES)
  t.equal(made.created, true)
  t.equal(await mode(paths.key), 0o600)
  t.same((await readdir(dir)).sort(), ['tls.crt', 'tls.key'])
})

t.test('a damaged pair is moved aside and renewed, and the renewal is logged', async t => {
  const other = await createCertificate(NAMES)
  const damages: Array<[string, (paths: { key: string, cert: string }, pem: { key: string, cert: string }) => Promise<void>, RegExp]> = [
    ['an empty certificate', async p => { await writeFile(p.cert, '') }, /tls\.crt is not/],
    ['a truncated certificate', async (p, pem) => { await writeFile(p.cert, pem.cert.slice(0, pem.cert.length / 2)) }, /tls\.crt is not/],
    // a file of many copies of the right certificate: a good one, but not read
    ['a certificate larger than MAX_PEM_BYTES', async (p, pem) => { await writeFile(p.cert, pem.cert.repeat(Math.ceil(MAX_PEM_BYTES / pem.cert.length) + 1)) }, /tls\.crt is not/],
    ['an empty key', async p => { await writeFile(p.key, '') }, /tls\.key is not/],
    ['a truncated key', async (p, pem) => { await writeFile(p.key, pem.key.slice(0, 100)) }, /tls\.key is not/],
    ['the key of another certificate', async p => { await writeFile(p.key, other.keyPem) }, /tls\.key is not the key of tls\.crt/],
    ['no key', async p => { await rm(p.key) }, /has no tls\.key/],
    ['no certificate', async p => { await rm(p.cert) }, /has no tls\.crt/]
  ]
  for (const [what, damage, reason] of damages) {
    const dir = await webDir(t)
    const first = await loadOrCreateCertificate(dir, NAMES)
    const paths = certificatePaths(dir)
    await damage(paths, { key: first.keyPem, cert: first.certPem })
    const damaged = { key: await readFile(paths.key, 'utf8').catch(() => undefined), cert: await readFile(paths.cert, 'utf8').catch(() => undefined) }
    const { logger, lines } = recorder()
    const now = Date.parse('2026-06-01T10:20:30.456Z')
    const renewed = await loadOrCreateCertificate(dir, NAMES, { logger, now })
    t.match(renewed, { created: false, renewed: true, reason }, `${what}: renewed, and why`)
    t.not(renewed.fingerprint, first.fingerprint, `${what}: a new fingerprint`)
    t.match(lines, [{ level: 'warn', fields: { reason, fingerprint: renewed.fingerprint } }], `${what}: logged`)
    const stamp = '20260601T102030456Z'
    for (const kind of ['key', 'cert'] as const) {
      const aside = `${paths[kind]}.damaged-${stamp}`
      if (damaged[kind] === undefined) await t.rejects(stat(aside), { code: 'ENOENT' }, `${what}: no ${kind} to move aside`)
      else t.equal(await readFile(aside, 'utf8'), damaged[kind], `${what}: the ${kind} moved aside as it was`)
    }
    t.equal(new X509Certificate(renewed.certPem).checkPrivateKey(createPrivateKey(renewed.keyPem)), true, `${what}: the new pair matches`)
    t.match(await loadOrCreateCertificate(dir, NAMES), { renewed: false, created: false, fingerprint: renewed.fingerprint }, `${what}: and loads as it is next time`)
  }
})

t.test('status reads no fingerprint from a missing or damaged certificate, and changes nothing', async t => {
  const dir = await webDir(t)
  t.equal(await certificateFingerprint(dir), null, 'no directory')
  await loadOrCreateCertificate(dir, NAMES)
  await writeFile(certificatePaths(dir).cert, 'damaged')
  t.equal(await certificateFingerprint(dir), null)
  t.equal(await readFile(certificatePaths(dir).cert, 'utf8'), 'damaged', 'left as it is')
})

t.test('a certificate near its end is replaced, not moved aside', async t => {
  const dir = await webDir(t)
  const first = await loadOrCreateCertificate(dir, NAMES)
  const end = new X509Certificate(first.certPem).validToDate.getTime()
  t.match(await loadOrCreateCertificate(dir, NAMES, { now: end - RENEW_BEFORE_MS - 1000 }), { renewed: false }, 'kept while more than RENEW_BEFORE_MS is left')
  const { logger, lines } = recorder()
  const renewed = await loadOrCreateCertificate(dir, NAMES, { now: end - RENEW_BEFORE_MS + 1000, logger })
  t.match(renewed, { renewed: true, reason: /tls\.crt expires at / })
  t.match(lines, [{ level: 'warn' }])
  t.same((await readdir(dir)).sort(), ['tls.crt', 'tls.key'], 'nothing moved aside')
  const later = new X509Certificate(renewed.certPem).validToDate.getTime()
  t.match(await loadOrCreateCertificate(dir, NAMES, { now: later + 1 }), { renewed: true, reason: /tls\.crt expired at / }, 'an expired one too')
})
