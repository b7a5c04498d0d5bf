/**
 * The web server's self-signed certificate (docs/web.md "Certificate"):
 * made at `tandem init` (when an HTTPS address is configured), loaded and
 * checked at daemon start, its fingerprint shown by `tandem status`.
 */
export { createCertificate, type CertificateInit, type CertificateNames, type CertificatePair } from './certificate.ts'
export {
  certificateFingerprint, certificatePaths, loadOrCreateCertificate,
  type CertificateFilesOptions, type CertificateLogger, type LoadedCertificate
} from './certificate-files.ts'
export { BACKDATE_MS, CERT_FILE, KEY_FILE, RENEW_BEFORE_MS, VALIDITY_DAYS } from './constants.ts'
export { fingerprintOf, pemFingerprint } from './fingerprint.ts'
export { apiHost, certificateNames, type BoxNamesInit } from './names.ts'
