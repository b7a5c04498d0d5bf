/**
 * Plain msgpack only at the protocol boundary: every extension type,
 * msgpackr's record frames included, is refused at decode with the
 * protocol's MALFORMED code. The frames are built by hand, byte by byte,
 * so the test does not depend on what msgpackr's encoder chooses to emit.
 */
import t from 'tap'
import { decodeReplication } from '../../p2p/replication/messages.ts'
import { decodePairing } from '../../p2p/pairing/messages.ts'
import { checkPlainMsgpack } from '../../p2p/wire/msgpack.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
/** `{ t: 'keepalive' }`, plain: fixmap(1), fixstr "t", fixstr "keepalive". */
const KEEPALIVE = '81 a174 a96b656570616c697665'
/** A map `{ t: 'keepalive', x: <value> }`: the value under test sits inside a valid message. */
const withValue = (value: string): Uint8Array => hex(`82 a174 a96b656570616c697665 a178 ${value}`)

// Each case: name, the bytes.
const extensions: Array<[string, Uint8Array]> = [
  ['msgpackr record definition (fixext 1, type 0x72) around a map', hex(`d4 72 40 91 a174 a9 6b656570616c697665`)],
  ['msgpackr record definition as produced by useRecords', hex('d4724091a174a96b656570616c697665')],
  ['timestamp (fixext 4, type -1) as a value', withValue('d6 ff 00000001')],
  ['typed array (fixext 1, type 0x74) as a value', withValue('d4 74 00')],
  ['fixext 2', withValue('d5 01 0000')],
  ['fixext 8', withValue('d7 01 0000000000000000')],
  ['fixext 16', withValue('d8 01 00000000000000000000000000000000')],
  ['ext 8', withValue('c7 01 01 00')],
  ['ext 16', withValue('c8 0001 01 00')],
  ['ext 32', withValue('c9 00000001 01 00')],
  ['an extension nested in an array', withValue('92 01 d4 74 00')],
  ['an extension as a map key', hex(`82 a174 a96b656570616c697665 d47400 01`)]
]

t.test('every extension type is refused at decode', async t => {
  t.doesNotThrow(() => decodeReplication(hex(KEEPALIVE)), 'the plain message decodes')
  t.same(decodeReplication(withValue('c0')), { t: 'keepalive' }, 'a plain extra value is fine')
  for (const [name, bytes] of extensions) {
    t.throws(() => decodeReplication(bytes), { code: 'P2P_MESSAGE_MALFORMED' }, `replication: ${name}`)
    t.throws(() => decodePairing(bytes, 'pair4'), { code: 'P2P_PAIRING_MALFORMED' }, `pairing: ${name}`)
  }
})

t.test('the structural check: plain values pass, broken ones do not', async t => {
  const plain: Array<[string, string]> = [
    ['nil, bools, ints', '94 c0 c2 c3 ff'],
    ['uint 64 and int 64', '92 cf 0000000000000001 d3 ffffffffffffffff'],
    ['floats', '92 ca 3f800000 cb 3ff0000000000000'],
    ['str 8 and bin 8', '92 d9 01 61 c4 02 0102'],
    ['array 16 and map 16', '92 dc 0001 01 de 0001 a161 01']
  ]
  for (const [name, bytes] of plain) t.doesNotThrow(() => { checkPlainMsgpack(hex(bytes)) }, name)
  const broken: Array<[string, string]> = [
    ['empty', ''],
    ['reserved byte', 'c1'],
    ['truncated string', 'a5 6162'],
    ['truncated bin 32 length', 'c6 0000'],
    ['an array longer than the bytes', 'dd ffffffff 01'],
    ['a value after the value', '01 02']
  ]
  for (const [name, bytes] of broken) t.throws(() => { checkPlainMsgpack(hex(bytes)) }, { name: 'NotPlainMsgpackError' }, name)
})
