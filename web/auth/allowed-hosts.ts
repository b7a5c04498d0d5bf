/**
 * The `Host` and `Origin` checks against DNS rebinding (docs/web.md "Server
 * and login"): a page of another site that gets its name resolved to the
 * box's address still sends its own name as `Host`, which is none of the
 * box's. Names compare case-insensitively, without the port and a final dot;
 * IPv6 addresses with or without brackets, in any of their spellings. Pure.
 */

/** A `Host` header: a name or IPv4 address, or an IPv6 address in brackets; then maybe a port. Nothing else (no user info, no path). */
const HOST_HEADER = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::\d{1,5})?$/

/** The canonical form of a host name or address (lower case, IPv6 compressed, without brackets or a final dot), or undefined when it is none. */
export function canonicalHost (name: string): string | undefined {
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name
  const host = bare.endsWith('.') ? bare.slice(0, -1) : bare
  if (host === '') return undefined
  try {
    const hostname = new URL(host.includes(':') ? `http://[${host}]/` : `http://${host}/`).hostname
    return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  } catch {
    return undefined
  }
}

/** The host a `Host` header names (canonical), or undefined when it is not a well-formed one. */
export function hostOfHeader (header: string | undefined): string | undefined {
  const m = header === undefined ? null : HOST_HEADER.exec(header)
  if (m === null) return undefined
  return canonicalHost(m[1] ?? m[2]!)
}

/** Whether the `Host` header names one of `allowed` (names and addresses, as the box knows them). */
export function hostAllowed (header: string | undefined, allowed: Iterable<string>): boolean {
  const host = hostOfHeader(header)
  if (host === undefined) return false
  for (const name of allowed) {
    if (canonicalHost(name) === host) return true
  }
  return false
}

/**
 * Whether an `Origin` header is this server's own origin: the scheme it serves
 * and the `Host` the request came with (checked by `hostAllowed` before).
 * An absent `Origin` (a request that is no browser's cross-site one) is
 * allowed; `null` (a sandboxed or privacy-stripped origin) is not.
 */
export function originAllowed (origin: string | undefined, hostHeader: string | undefined, scheme: 'http' | 'https'): boolean {
  if (origin === undefined) return true
  if (hostHeader === undefined) return false
  try {
    return new URL(origin).origin === new URL(`${scheme}://${hostHeader}`).origin
  } catch {
    return false
  }
}
