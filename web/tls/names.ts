import { isIP } from 'node:net'
import type { NetworkInterfaceInfo } from 'node:os'
import type { CertificateNames } from './certificate.ts'
import { MAX_COMMON_NAME_CHARS } from './constants.ts'

/** What the box's names are made from (os.hostname(), os.networkInterfaces() and config.json's `api`). */
export interface BoxNamesInit {
  hostname: string
  /** config.json's `api` (HOST:PORT, an IPv6 host in brackets), or null. */
  api: string | null
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>
}

/** The wildcard addresses: listening on every interface names no host. */
const WILDCARDS = new Set(['0.0.0.0', '::'])

/** A DNS name a certificate can carry: LDH labels (RFC 1123) of 1-63 characters, 253 in all. */
function isDnsName (s: string): boolean {
  return s.length <= 253 && s.split('.').every(l => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l))
}

/** The host of `HOST:PORT`, brackets taken off an IPv6 address. Pure. */
export function apiHost (api: string): string {
  const host = api.slice(0, api.lastIndexOf(':'))
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

/**
 * The names the web certificate is made for (docs/web.md "Certificate"):
 * the host name, `localhost`, 127.0.0.1 and ::1, the `api` host unless it
 * is a wildcard (0.0.0.0, ::), and every non-internal interface address
 * (IPv6 link-local ones left out: a browser cannot open a URL with the zone
 * they need). Each name once, in that order; a host name that is not a DNS
 * name (an underscore, say) is left out of the DNS names but still names
 * the subject. Pure: the caller gives the host name and interfaces as they
 * are now (they are not followed later: docs/web.md says how to renew).
 */
export function certificateNames (init: BoxNamesInit): CertificateNames {
  const dns = new Set<string>()
  const ips = new Set<string>()
  const add = (name: string): void => {
    if (isIP(name) !== 0) ips.add(name.toLowerCase())
    else if (isDnsName(name)) dns.add(name.toLowerCase())
  }
  add(init.hostname)
  add('localhost')
  add('127.0.0.1')
  add('::1')
  if (init.api !== null) {
    const host = apiHost(init.api)
    if (!WILDCARDS.has(host)) add(host)
  }
  for (const list of Object.values(init.interfaces)) {
    for (const i of list ?? []) {
      if (i.internal || (i.family === 'IPv6' && /^fe[89ab]/i.test(i.address))) continue
      add(i.address)
    }
  }
  const commonName = init.hostname.length > 0 && init.hostname.length <= MAX_COMMON_NAME_CHARS ? init.hostname : 'tandem'
  return { commonName, dnsNames: [...dns], ipAddresses: [...ips] }
}
