/**
 * CPace (CPACE-RISTR255-SHA512) against the draft's test vectors, and the abort
 * cases the draft requires ("Implementation verification").
 *
 * Vectors: draft-irtf-cfrg-cpace, appendix "Test vector for CPace using group
 * ristretto255 and hash SHA-512" (the revision using lv_cat / transcript naming),
 * subsections "calculate_generator", "MSGa", "MSGb", "secret points K", "ISK
 * calculation initiator/responder", "scalar_mult with valid inputs" and
 * "Invalid inputs for scalar_mult_vfy"; prepend_len / lv_cat vectors from
 * appendix "Definition and test vectors for string utility functions".
 * An older revision of the draft (cfrg/draft-irtf-cfrg-cpace at 00f4907) lists the
 * same generator-string hash (a5ce446f...) but a different encoded generator
 * (9c571217...) and hence different Ya, Yb, K and ISK; RFC 9496's element
 * derivation (which @noble implements) gives 5e25411c..., the newer revision's value.
 */
import t from 'tap'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import {
  cpaceGenerator, cpaceGeneratorString, cpaceIsk, cpaceSampleScalar, cpaceScalarMultVfy,
  cpaceShare, lvCat, prependLen
} from '../../p2p/pairing/cpace.ts'
import { P2pErrorCode } from '../../p2p/errors.ts'

const hex = (s: string): Uint8Array => hexToBytes(s.replace(/\s+/g, ''))
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)

// Inputs of the ristretto255 / SHA-512 vectors.
const PRS = ascii('Password')
const CI = hex('0a41696e69746961746f720a42726573706f6e646572') // b'\nAinitiator\nBresponder'
const SID = hex('7e4b4791d6a8ef019b936c79fb7f2c57')
const ADA = ascii('ADa')
const ADB = ascii('ADb')
const YA_SCALAR = hex('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08')
const YB_SCALAR = hex('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d')

// Outputs.
const GENERATOR_STRING = hex(`
  11435061636552697374726574746f3235350850617373776f726464
  00000000000000000000000000000000000000000000000000000000
  00000000000000000000000000000000000000000000000000000000
  00000000000000000000000000000000000000000000000000000000
  00000000000000000000000000000000160a41696e69746961746f72
  0a42726573706f6e646572107e4b4791d6a8ef019b936c79fb7f2c57`)
const G = '5e25411ca1ad7c9debfd0b33ad987a95cefef2d3f15dcc8bd26415a5dfe2e15a'
const YA = '383a85dd236978f17f8c8545b50dabc52a39fcdab2cf8bc531ce040ff77ca82d'
const YB = 'a6206309c0e8e5f579295e35997ac4300ab3fecec3c17f7b604f3e698fa1383c'
const MSGA = '20383a85dd236978f17f8c8545b50dabc52a39fcdab2cf8bc531ce040ff77ca82d03414461'
const MSGB = '20a6206309c0e8e5f579295e35997ac4300ab3fecec3c17f7b604f3e698fa1383c03414462'
const K = 'fa1d0318864e2cacb26875f1b791c9ae83204fe8359addb53e95a2e98893853f'
const ISK_IR = `e91ccb2c0f5e0d0993a33956e3be59754f3f2b07db57631f5394452e
  a2e7b4354674eb1f5686c078462bf83bec72e8743df440108e638f35
  26d9b90e85be096f`.replace(/\s+/g, '')

t.test('prepend_len and lv_cat match the draft', async t => {
  t.equal(bytesToHex(prependLen(new Uint8Array(0))), '00')
  t.equal(bytesToHex(prependLen(ascii('1234'))), '0431323334')
  const r127 = Uint8Array.from({ length: 127 }, (_, i) => i)
  t.equal(bytesToHex(prependLen(r127).subarray(0, 2)), '7f00')
  t.equal(prependLen(r127).length, 128)
  const r128 = Uint8Array.from({ length: 128 }, (_, i) => i)
  t.equal(bytesToHex(prependLen(r128).subarray(0, 3)), '800100', 'LEB128: two length bytes from 128 on')
  t.equal(prependLen(r128).length, 130)
  t.equal(bytesToHex(lvCat(ascii('1234'), ascii('5'), new Uint8Array(0), ascii('6789'))), '04313233340135000436373839')
})

t.test('calculate_generator reproduces the draft', async t => {
  const genStr = cpaceGeneratorString(PRS, CI, SID)
  t.equal(genStr.length, 168)
  t.equal(bytesToHex(genStr), bytesToHex(GENERATOR_STRING), 'generator_string (ZPAD length 100)')
  t.equal(bytesToHex(cpaceGenerator(PRS, CI, SID).toBytes()), G, 'encoded generator g')
})

t.test('shares, K and the initiator-responder ISK reproduce the draft', async t => {
  const g = cpaceGenerator(PRS, CI, SID)
  const a = cpaceShare(g, YA_SCALAR)
  const b = cpaceShare(g, YB_SCALAR)
  t.equal(bytesToHex(a.share), YA, 'Ya')
  t.equal(bytesToHex(b.share), YB, 'Yb')
  t.equal(bytesToHex(lvCat(a.share, ADA)), MSGA, 'MSGa = lv_cat(Ya, ADa)')
  t.equal(bytesToHex(lvCat(b.share, ADB)), MSGB, 'MSGb = lv_cat(Yb, ADb)')
  t.equal(bytesToHex(cpaceScalarMultVfy(YA_SCALAR, b.share)), K, 'scalar_mult_vfy(ya, Yb)')
  t.equal(bytesToHex(cpaceScalarMultVfy(YB_SCALAR, a.share)), K, 'scalar_mult_vfy(yb, Ya)')
  const iskA = cpaceIsk({ scalar: a.scalar, ownShare: a.share, peerShare: b.share, adOwn: ADA, adPeer: ADB, role: 'initiator', sid: SID })
  const iskB = cpaceIsk({ scalar: b.scalar, ownShare: b.share, peerShare: a.share, adOwn: ADB, adPeer: ADA, role: 'responder', sid: SID })
  t.equal(bytesToHex(iskA), ISK_IR, 'ISK of the initiator')
  t.equal(bytesToHex(iskB), ISK_IR, 'ISK of the responder')
})

t.test('scalar_mult_vfy with a valid input reproduces the draft', async t => {
  const s = hex('7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05')
  const x = hex('2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c')
  t.equal(bytesToHex(cpaceScalarMultVfy(s, x)), '7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e')
})

t.test("the draft's invalid points abort with P2P_PAKE_INVALID_SHARE", async t => {
  const s = hex('7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05')
  const invalid = {
    'Y_i1 (not a valid encoding)': hex('2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c'),
    'Y_i2 == G.I (the identity)': new Uint8Array(32)
  }
  for (const [name, y] of Object.entries(invalid)) {
    t.throws(() => cpaceScalarMultVfy(s, y), { code: P2pErrorCode.P2P_PAKE_INVALID_SHARE }, `scalar_mult_vfy: ${name}`)
    const g = cpaceGenerator(PRS, CI, SID)
    const a = cpaceShare(g)
    t.throws(() => cpaceIsk({ scalar: a.scalar, ownShare: a.share, peerShare: y, adOwn: ADA, adPeer: ADB, role: 'initiator', sid: SID }),
      { code: P2pErrorCode.P2P_PAKE_INVALID_SHARE }, `cpaceIsk aborts: ${name}`)
  }
})

t.test('a peer share of the wrong length or a non-canonical encoding is rejected', async t => {
  const a = cpaceShare(cpaceGenerator(PRS, CI, SID))
  const base = { scalar: a.scalar, ownShare: a.share, adOwn: ADA, adPeer: ADB, role: 'initiator' as const, sid: SID }
  const cases = {
    empty: new Uint8Array(0),
    'too short': new Uint8Array(31).fill(1),
    'too long': new Uint8Array(33),
    'all 0xff (not canonical)': new Uint8Array(32).fill(0xff),
    'Ya with its sign bit set (negative s, not canonical)': hex(YA).map((b, i) => i === 0 ? b | 1 : b)
  }
  for (const [name, peerShare] of Object.entries(cases)) {
    t.throws(() => cpaceIsk({ ...base, peerShare }), { code: P2pErrorCode.P2P_PAKE_INVALID_SHARE }, name)
  }
})

t.test('both sides derive the same ISK with random scalars', async t => {
  const sid = cpaceSampleScalar().subarray(0, 16)
  const gA = cpaceGenerator(PRS, CI, sid)
  const gB = cpaceGenerator(PRS, CI, sid)
  const a = cpaceShare(gA)
  const b = cpaceShare(gB)
  t.not(bytesToHex(a.scalar), bytesToHex(b.scalar), 'fresh scalars')
  const iskA = cpaceIsk({ scalar: a.scalar, ownShare: a.share, peerShare: b.share, adOwn: ADA, adPeer: ADB, role: 'initiator', sid })
  const iskB = cpaceIsk({ scalar: b.scalar, ownShare: b.share, peerShare: a.share, adOwn: ADB, adPeer: ADA, role: 'responder', sid })
  t.equal(iskA.length, 64)
  t.equal(bytesToHex(iskA), bytesToHex(iskB))
})

t.test('a different PRS, CI, sid, AD or role gives a different ISK', async t => {
  const run = (prsB: Uint8Array, ciB: Uint8Array, sidB: Uint8Array, adaSeenByB: Uint8Array, roleB: 'initiator' | 'responder' = 'responder'): [string, string] => {
    const a = cpaceShare(cpaceGenerator(PRS, CI, SID))
    const b = cpaceShare(cpaceGenerator(prsB, ciB, sidB))
    const iskA = cpaceIsk({ scalar: a.scalar, ownShare: a.share, peerShare: b.share, adOwn: ADA, adPeer: ADB, role: 'initiator', sid: SID })
    const iskB = cpaceIsk({ scalar: b.scalar, ownShare: b.share, peerShare: a.share, adOwn: ADB, adPeer: adaSeenByB, role: roleB, sid: sidB })
    return [bytesToHex(iskA), bytesToHex(iskB)]
  }
  const same = run(PRS, CI, SID, ADA)
  t.equal(same[0], same[1], 'control: all inputs equal')
  const wrongPin = run(ascii('Passwore'), CI, SID, ADA)
  t.not(wrongPin[0], wrongPin[1], 'different PRS')
  const otherChannel = run(PRS, ascii('another channel'), SID, ADA)
  t.not(otherChannel[0], otherChannel[1], 'different CI')
  const otherSid = run(PRS, CI, hex('7e4b4791d6a8ef019b936c79fb7f2c58'), ADA)
  t.not(otherSid[0], otherSid[1], 'different sid')
  const tamperedAd = run(PRS, CI, SID, ascii('ADx'))
  t.not(tamperedAd[0], tamperedAd[1], 'associated data altered in transit')
  const bothInitiators = run(PRS, CI, SID, ADA, 'initiator')
  t.not(bothInitiators[0], bothInitiators[1], 'both claim the initiator role')
})

t.test('sample_scalar clears the bits above 252 and never returns zero', async t => {
  for (let i = 0; i < 64; i++) {
    const s = cpaceSampleScalar()
    t.equal(s.length, 32)
    t.equal(s[31]! & 0xf0, 0)
  }
})

t.test('malformed local inputs are programmer mistakes (TypeError)', async t => {
  const g = cpaceGenerator(PRS, CI, SID)
  t.throws(() => cpaceGenerator(new Uint8Array(0), CI, SID), TypeError, 'empty PRS')
  t.throws(() => cpaceGenerator(new Uint8Array(109), CI, SID), TypeError, 'PRS beyond one hash block')
  t.throws(() => cpaceGenerator(PRS, CI, new Uint8Array(7)), TypeError, 'sid shorter than 8 bytes')
  t.throws(() => cpaceShare(g, new Uint8Array(32)), TypeError, 'zero scalar')
  t.throws(() => cpaceShare(g, new Uint8Array(32).fill(0xff)), TypeError, 'scalar >= group order')
  const a = cpaceShare(g)
  const b = cpaceShare(g)
  t.throws(() => cpaceIsk({ scalar: a.scalar, ownShare: a.share, peerShare: b.share, adOwn: ADA, adPeer: new Uint8Array(1025), role: 'initiator', sid: SID }),
    TypeError, 'peer AD over MAX_AD_BYTES')
})
