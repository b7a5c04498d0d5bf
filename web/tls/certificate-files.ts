import { createPrivateKey, randomBytes, sign, verify, X509Certificate } from 'node:crypto'
import { chmod, mkdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { readBoundedIfExists, writeFileAtomic } from '../../appliance/fs-util.ts'
import type { CertificateNames, CertificatePair } from './certificate.ts'
import { CERT_FILE, DIR_MODE, KEY_FILE, MAX_PEM_BYTES, RENEW_BEFORE_MS } from './constants.ts'
import { fingerprintOf } from './fingerprint.ts'

/** The logger's two levels used here (pino's signature). */
export interface CertificateLogger {
  info: (fields: object, message: string) => void
  warn: (fields: object, message: string) => void
}

export interface CertificateFilesOptions {
  /** ms since the epoch; default the system clock. */
  now?: number
  logger?: CertificateLogger
}

/** The pair in use, and how it came to be. */
export interface LoadedCertificate extends CertificatePair {
  /** True when no pair existed and this one was made. */
  created: boolean
  /** True when a pair existed but could not be used (damaged, or expiring) and a new one replaced it: the fingerprint changed. */
  renewed: boolean
  /** Why it was renewed, in words for the operator; null when it was not. */
  reason: string | null
}

/** Where the pair lives in DATA/web/. */
export function certificatePaths (webDir: string): { key: string, cert: string } {
  return { key: join(webDir, KEY_FILE), cert: join(webDir, CERT_FILE) }
}

/**
 * The web server's key and certificate from `webDir` (docs/web.md
 * "Certificate"), made when there are none: `tls.key` (PKCS#8) and
 * `tls.crt`, each written atomically with mode 0600 (fs-util.ts
 * writeFileAtomic), the key first (a crash between the two leaves a key
 * whose certificate is missing or does not match: the next call renews). An existing pair is used when both parse, the key signs what the
 * certificate's public key verifies, and at least RENEW_BEFORE_MS of
 * validity is left. Otherwise a new pair is made and `renewed` is true with
 * the `reason`, logged as a warning: the fingerprint changes, and the
 * operator must be told. A damaged pair is not deleted but moved aside as
 * `<file>.damaged-<time>`; an expiring one is replaced. `webDir` is made
 * (0700) when missing. `names` are used only for a new pair: an existing
 * one keeps its names. Callers do not run two calls on one directory at a
 * time (init, and daemon start under the data directory's lock). File
 * system errors other than a missing file are thrown as they are.
 */
export async function loadOrCreateCertificate (webDir: string, names: CertificateNames, options: CertificateFilesOptions = {}): Promise<LoadedCertificate> {
  const now = options.now ?? Date.now()
  const paths = certificatePaths(webDir)
  await mkdir(webDir, { recursive: true, mode: DIR_MODE })
  await chmod(webDir, DIR_MODE)
  const keyPem = await readPem(paths.key)
  const certPem = await readPem(paths.cert)
  if (keyPem === undefined && certPem === undefined) {
    const made = await createPair(paths, names, now)
    options.logger?.info({ fingerprint: made.fingerprint, cert: paths.cert }, 'web certificate created')
    return { ...made, created: true, renewed: false, reason: null }
  }
  const check = checkPair(keyPem, certPem, now)
  if (check.ok) return { keyPem: keyPem!, certPem: certPem!, fingerprint: check.fingerprint, created: false, renewed: false, reason: null }
  const movedAside = check.damaged ? await moveAside([paths.key, paths.cert], now) : []
  const made = await createPair(paths, names, now)
  options.logger?.warn({ reason: check.reason, movedAside, fingerprint: made.fingerprint, cert: paths.cert },
    'web certificate renewed: its fingerprint changed; browsers will warn until the new one is accepted (tandem status shows it)')
  return { ...made, created: false, renewed: true, reason: check.reason }
}

/**
 * The fingerprint of `webDir`'s certificate as it is on disk, or null when
 * there is none or it cannot be read as a certificate. Reads only: for
 * status, which never makes or renews a certificate.
 */
export async function certificateFingerprint (webDir: string): Promise<string | null> {
  try {
    const pem = await readPem(certificatePaths(webDir).cert)
    return pem === undefined ? null : fingerprintOf(new X509Certificate(pem).raw)
  } catch {
    return null
  }
}

type PairCheck = { ok: true, fingerprint: string } | { ok: false, damaged: boolean, reason: string }

/** Whether a pair read from disk can serve, and if not why. Pure but for the clock given. */
function checkPair (keyPem: string | undefined, certPem: string | undefined, now: number): PairCheck {
  const damaged = (reason: string): PairCheck => ({ ok: false, damaged: true, reason })
  if (keyPem === undefined) return damaged(`${CERT_FILE} has no ${KEY_FILE} beside it`)
  if (certPem === undefined) return damaged(`${KEY_FILE} has no ${CERT_FILE} beside it`)
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
  } catch {
    return damaged(`${CERT_FILE} is not a PEM certificate`)
  }
  try {
    const key = createPrivateKey(keyPem)
    const nonce = randomBytes(32)
    if (!verify('sha256', nonce, cert.publicKey, sign('sha256', nonce, key))) return damaged(`${KEY_FILE} is not the key of ${CERT_FILE}`)
  } catch {
    return damaged(`${KEY_FILE} is not a private key that signs for ${CERT_FILE}`)
  }
  const expires = cert.validToDate.getTime()
  if (expires - now < RENEW_BEFORE_MS) {
    return { ok: false, damaged: false, reason: `${CERT_FILE} ${expires <= now ? 'expired' : 'expires'} at ${cert.validToDate.toISOString()}` }
  }
  return { ok: true, fingerprint: fingerprintOf(cert.raw) }
}

async function createPair (paths: { key: string, cert: string }, names: CertificateNames, now: number): Promise<CertificatePair> {
  // Loaded on first use: pkijs takes tens of ms to load, and `tandem status` reads certificates without it.
  const { createCertificate } = await import('./certificate.ts')
  const made = await createCertificate({ ...names, now })
  await writeFileAtomic(paths.key, made.keyPem)
  await writeFileAtomic(paths.cert, made.certPem)
  return made
}

/** Renames each existing file to `<file>.damaged-<time>`; the new names. */
async function moveAside (files: string[], now: number): Promise<string[]> {
  const stamp = new Date(now).toISOString().replace(/[-:.]/g, '')
  const moved: string[] = []
  for (const file of files) {
    const to = `${file}.damaged-${stamp}`
    try {
      await rename(file, to)
      moved.push(to)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  return moved
}

/** Thrown by readBoundedIfExists for a file over MAX_PEM_BYTES; readPem turns it into ''. */
class PemTooLarge extends Error {}

/**
 * A PEM file's text, or undefined when it does not exist. One larger than
 * MAX_PEM_BYTES is not read, and comes back as '' (damaged: no PEM is empty).
 */
async function readPem (file: string): Promise<string | undefined> {
  try {
    const bytes = await readBoundedIfExists(file, MAX_PEM_BYTES, size => new PemTooLarge(`${file}: ${size} bytes`))
    return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8')
  } catch (err) {
    if (err instanceof PemTooLarge) return ''
    throw err
  }
}
