/**
 * Pairing messages from an untrusted peer: only well-formed, expected
 * messages pass; everything else is P2P_PAIRING_MALFORMED, never a crash.
 */
import t from 'tap'
import { pack } from 'msgpackr'
import { decodePairing, encodePairing } from '../../p2p/pairing/messages.ts'
import { prng, testSeed } from '../helpers/fixtures.ts'

const share = new Uint8Array(32).fill(1)
const sid = new Uint8Array(16).fill(2)
const good = { t: 'pair1', mode: 'pin', sid, share, name: 'branch', role: 'primary' } as const

t.test('a well-formed message round-trips; an error message is always accepted', async t => {
  t.same(decodePairing(encodePairing(good), 'pair1'), good)
  t.same(decodePairing(encodePairing({ t: 'error', code: 'P2P_PAIRING_CLOSED' }), 'pair3'), { t: 'error', code: 'P2P_PAIRING_CLOSED' })
})

t.test('malformed and unexpected messages', async t => {
  const cases: Array<[string, Uint8Array]> = [
    ['not msgpack', Uint8Array.from([0xc1])],
    ['an array', pack([1, 2])],
    ['a number', pack(7)],
    ['out of order', encodePairing({ t: 'pair3', confirm: new Uint8Array(32) })],
    ['unknown type', pack({ ...good, t: 'pair9' })],
    ['bad mode', pack({ ...good, mode: 'guess' })],
    ['short share', pack({ ...good, share: new Uint8Array(31) })],
    ['share not bytes', pack({ ...good, share: 'x'.repeat(32) })],
    ['short sid', pack({ ...good, sid: new Uint8Array(8) })],
    ['empty name', pack({ ...good, name: '' })],
    ['long name', pack({ ...good, name: 'x'.repeat(65) })],
    ['control characters in name', pack({ ...good, name: 'a\u0007b' })],
    ['bad role', pack({ ...good, role: 'admin' })],
    ['error with free text', pack({ t: 'error', code: 'you lose' })],
    ['oversized', pack({ ...good, name: 'x', pad: new Uint8Array(2000) })]
  ]
  for (const [name, bytes] of cases) t.throws(() => decodePairing(bytes, 'pair1'), { code: 'P2P_PAIRING_MALFORMED' }, name)
})

t.test('fuzz: mutated messages never throw anything but P2P_PAIRING_MALFORMED', async t => {
  const seed = testSeed(t)
  const rnd = prng(seed)
  const base = encodePairing(good)
  let accepted = 0
  for (let i = 0; i < 3000; i++) {
    const m = Uint8Array.from(base).map(b => rnd() < 0.05 ? Math.floor(rnd() * 256) : b)
    try { decodePairing(m, 'pair1'); accepted++ } catch (err) {
      if ((err as { code?: string }).code !== 'P2P_PAIRING_MALFORMED') throw new Error(`seed ${seed}: ${String(err)}`)
    }
  }
  t.pass(`${accepted} mutants still well-formed, the rest rejected`)
})
