/**
 * The names a browser may reach the box by, for the `Host` check of
 * server.ts (`allowedHosts`): the certificate's names (tls/names.ts: the
 * host name, `localhost`, the loopback addresses, the `api` host, the
 * machine's addresses), taken again once WEB_HOSTS_TTL_MS has passed.
 */
import { hostname, networkInterfaces } from 'node:os'
import { certificateNames } from './tls/names.ts'

/**
 * How long the names are kept between two requests' checks: an address
 * that comes or goes is seen within this, and the interfaces are not
 * listed again for every request (every static file included).
 */
export const WEB_HOSTS_TTL_MS = 10_000

/** `allowedHosts` for a box whose config has `api` (HOST:PORT or null). */
export function webHosts (api: string | null, now: () => number = Date.now): () => Iterable<string> {
  let hosts: string[] = []
  let takenAt = -Infinity
  return () => {
    if (now() - takenAt >= WEB_HOSTS_TTL_MS) {
      const names = certificateNames({ hostname: hostname(), api, interfaces: networkInterfaces() })
      hosts = [...names.dnsNames, ...names.ipAddresses]
      takenAt = now()
    }
    return hosts
  }
}
