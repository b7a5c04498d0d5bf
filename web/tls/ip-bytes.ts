import { isIPv4, isIPv6 } from 'node:net'

/**
 * The bytes of an IP address as a certificate's subjectAltName carries them
 * (RFC 5280 4.2.1.6: 4 bytes for IPv4, 16 for IPv6, network order).
 * IPv6 may use `::` and end in a dotted IPv4 part; a zone (`%eth0`) or
 * brackets are not accepted. Throws a TypeError for anything else. Pure.
 */
export function ipBytes (address: string): Uint8Array {
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number))
  if (!isIPv6(address) || address.includes('%')) throw new TypeError(`not an IP address: ${address.slice(0, 64)}`)
  let text = address
  const tail: number[] = []
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4 !== null) {
    tail.push(...ipBytes(v4[1]!))
    text = text.slice(0, v4.index + 1) + '0:0'
  }
  const [head = '', rest] = text.split('::')
  const groups = (s: string | undefined): string[] => s === undefined || s === '' ? [] : s.split(':')
  const front = groups(head)
  const back = groups(rest)
  const words = rest === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back]
  const bytes = new Uint8Array(16)
  words.forEach((w, i) => { bytes[2 * i] = parseInt(w, 16) >> 8; bytes[2 * i + 1] = parseInt(w, 16) & 0xff })
  bytes.set(tail, 16 - tail.length)
  return bytes
}
