/**
 * The Host and Origin checks (web/auth/allowed-hosts.ts) as tables of literal
 * inputs and answers.
 */
import t from 'tap'
import { canonicalHost, hostAllowed, originAllowed } from '../../../web/auth/index.ts'

const ALLOWED = ['box-a.example', 'LOCALHOST', '192.0.2.7', '[fd00::7]', '::1']

t.test('hostAllowed: names without port and case, IPv6 in brackets in any spelling; nothing else', async t => {
  const table: Array<[string | undefined, boolean]> = [
    ['box-a.example', true],
    ['BOX-A.example:8443', true],
    ['box-a.example.', true],
    ['localhost:1', true],
    ['192.0.2.7', true],
    ['192.0.2.7:443', true],
    ['[fd00::7]', true],
    ['[fd00:0000::0007]:8443', true],
    ['[::1]:8443', true],
    ['[0:0:0:0:0:0:0:1]', true],
    [undefined, false],
    ['', false],
    ['fd00::7', false],
    ['[fd00::7', false],
    ['evil.example', false],
    ['box-a.example.evil.example', false],
    ['evil.example@box-a.example', false],
    ['box-a.example/x', false],
    ['box-a.example:99999999', false],
    ['box-a.example:8443:1', false],
    ['box-a.example ', false],
    ['192.0.2.8', false]
  ]
  for (const [header, allowed] of table) t.equal(hostAllowed(header, ALLOWED), allowed, `${JSON.stringify(header)}: ${allowed}`)
})

t.test('canonicalHost', async t => {
  t.equal(canonicalHost('Box.Example.'), 'box.example')
  t.equal(canonicalHost('[FD00:0::7]'), 'fd00::7')
  t.equal(canonicalHost('fd00:0::7'), 'fd00::7')
  t.equal(canonicalHost(''), undefined)
  t.equal(canonicalHost('a b'), undefined)
})

t.test('originAllowed: absent, or the server\'s own scheme and Host', async t => {
  const table: Array<[string | undefined, string | undefined, 'http' | 'https', boolean]> = [
    [undefined, 'box-a.example', 'https', true],
    ['https://box-a.example', 'box-a.example', 'https', true],
    ['https://box-a.example:8443', 'box-a.example:8443', 'https', true],
    ['https://box-a.example:443', 'box-a.example', 'https', true],
    ['https://[fd00::7]:8443', '[fd00::7]:8443', 'https', true],
    ['http://box-a.example:8443', 'box-a.example:8443', 'https', false],
    ['https://box-a.example:8444', 'box-a.example:8443', 'https', false],
    ['https://evil.example', 'box-a.example', 'https', false],
    ['null', 'box-a.example', 'https', false],
    ['https://box-a.example', undefined, 'https', false]
  ]
  for (const [origin, host, scheme, allowed] of table) t.equal(originAllowed(origin, host, scheme), allowed, `${origin} for ${host} over ${scheme}: ${allowed}`)
})
