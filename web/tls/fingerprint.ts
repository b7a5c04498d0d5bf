import { createHash, X509Certificate } from 'node:crypto'

/** How a fingerprint is written: the hash's name, then its bytes as browsers show them. */
const PREFIX = 'SHA256 '

/**
 * The SHA-256 fingerprint of a certificate's DER bytes, written as browsers
 * and `openssl x509 -fingerprint -sha256` show it: upper-case hex bytes
 * joined by colons, after `SHA256 ` (which names the hash: browsers show a
 * SHA-1 one too). Pure.
 */
export function fingerprintOf (der: Uint8Array): string {
  const hex = createHash('sha256').update(der).digest('hex').toUpperCase()
  return PREFIX + (hex.match(/../g) ?? []).join(':')
}

/** The fingerprint of a PEM certificate; throws (node:crypto's error) when it is not one. */
export function pemFingerprint (certPem: string): string {
  return fingerprintOf(new X509Certificate(certPem).raw)
}
