import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { BACKDATE_MS, MAX_COMMON_NAME_CHARS, SERIAL_BYTES, VALIDITY_DAYS } from './constants.ts'
import { fingerprintOf } from './fingerprint.ts'
import { ipBytes } from './ip-bytes.ts'

/** What a certificate names: the subject's common name, and the DNS names and IP addresses it is valid for. */
export interface CertificateNames {
  commonName: string
  dnsNames: string[]
  /** IPv4 and IPv6 addresses, without brackets or zone. */
  ipAddresses: string[]
}

export interface CertificateInit extends CertificateNames {
  /** The time it is made at (ms since the epoch); it is valid from BACKDATE_MS before. Default: the system clock. */
  now?: number
  /** The WebCrypto it uses; default globalThis.crypto. */
  crypto?: Crypto
}

/** A key and its certificate, PEM-encoded, and the certificate's fingerprint (fingerprint.ts). */
export interface CertificatePair {
  keyPem: string
  certPem: string
  fingerprint: string
}

const OID = {
  commonName: '2.5.4.3',
  serverAuth: '1.3.6.1.5.5.7.3.1'
} as const

const DAY_MS = 24 * 60 * 60 * 1000

/**
 * Makes a new ECDSA P-256 key and a self-signed X.509 v3 certificate for it,
 * signed with SHA-256 (docs/web.md "Certificate"): a random positive serial
 * of SERIAL_BYTES, valid from BACKDATE_MS before `now` for VALIDITY_DAYS,
 * issuer = subject = CN=`commonName`, and the extensions a browser asks of a
 * server certificate: subjectAltName (every DNS name and IP address:
 * browsers match only these, never the common name), basicConstraints
 * CA:false and keyUsage digitalSignature (both critical), extKeyUsage
 * serverAuth. Throws a TypeError for an empty name list, an empty or too
 * long common name, or an address that is not an IP address. Each call
 * makes a new key: nothing is cached.
 */
export async function createCertificate (init: CertificateInit): Promise<CertificatePair> {
  const crypto = init.crypto ?? globalThis.crypto
  const engine = new pkijs.CryptoEngine({ name: 'tandem', crypto })
  if (init.commonName.length === 0 || init.commonName.length > MAX_COMMON_NAME_CHARS) throw new TypeError(`the common name must be 1-${MAX_COMMON_NAME_CHARS} characters`)
  if (init.dnsNames.length + init.ipAddresses.length === 0) throw new TypeError('a certificate needs at least one DNS name or IP address')
  const altNames = [
    ...init.dnsNames.map(name => new pkijs.GeneralName({ type: 2, value: name })),
    ...init.ipAddresses.map(ip => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(ip) }) }))
  ]
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const now = init.now ?? Date.now()
  const name = (): pkijs.RelativeDistinguishedNames => new pkijs.RelativeDistinguishedNames({
    typesAndValues: [new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: init.commonName }) })]
  })
  const cert = new pkijs.Certificate()
  cert.version = 2 // v3: it has extensions
  cert.serialNumber = new asn1js.Integer({ valueHex: serialNumber(crypto) })
  cert.issuer = name()
  cert.subject = name()
  cert.notBefore = timeOf(now - BACKDATE_MS)
  cert.notAfter = timeOf(now - BACKDATE_MS + VALIDITY_DAYS * DAY_MS)
  cert.extensions = [
    new pkijs.Extension({
      extnID: pkijs.id_BasicConstraints,
      critical: true,
      extnValue: new pkijs.BasicConstraints({ cA: false }).toSchema().toBER(false)
    }),
    new pkijs.Extension({
      extnID: pkijs.id_KeyUsage,
      critical: true,
      // digitalSignature is bit 0: the first bit of one byte, the other 7 unused
      extnValue: new asn1js.BitString({ valueHex: Uint8Array.of(0x80), unusedBits: 7 }).toBER(false)
    }),
    new pkijs.Extension({
      extnID: pkijs.id_ExtKeyUsage,
      critical: false,
      extnValue: new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] }).toSchema().toBER(false)
    }),
    new pkijs.Extension({
      extnID: pkijs.id_SubjectAltName,
      critical: false,
      extnValue: new pkijs.GeneralNames({ names: altNames }).toSchema().toBER(false)
    })
  ]
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey, engine)
  await cert.sign(keys.privateKey, 'SHA-256', engine)
  const der = new Uint8Array(cert.toSchema(true).toBER(false))
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey))
  return { keyPem: pem('PRIVATE KEY', pkcs8), certPem: pem('CERTIFICATE', der), fingerprint: fingerprintOf(der) }
}

/** SERIAL_BYTES random bytes read as a positive integer (top bit clear) whose DER form has no leading zero byte (first byte not 0). */
function serialNumber (crypto: Crypto): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(SERIAL_BYTES))
  bytes[0] = bytes[0]! & 0x7f
  if (bytes[0] === 0) bytes[0] = 1
  return bytes
}

/** UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function timeOf (ms: number): pkijs.Time {
  const value = new Date(Math.floor(ms / 1000) * 1000)
  return new pkijs.Time({ type: value.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime, value })
}

/** RFC 7468 text: base64 in lines of 64 characters between the label's lines. */
function pem (label: string, der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}
