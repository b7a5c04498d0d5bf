/**
 * The replication protocol's boundary: every v2 message round-trips;
 * malformed, oversized and unknown messages are rejected with their codes;
 * a fuzz run of random and mutated frames never throws anything else.
 */
import t from 'tap'
import { pack } from 'msgpackr'
import { decodeReplication, encodeReplication, WireCodec, type ReplicationMessage } from '../../p2p/replication/messages.ts'
import { MAX_BATCH_DATA_BYTES, MAX_CONSISTENCY_NOTE_BYTES, MAX_HEAL_BLOCKS, MAX_REPLICATION_FRAME_BYTES } from '../../p2p/replication/constants.ts'
import { prng, testSeed } from '../helpers/fixtures.ts'

const cycle = new Uint8Array(16).fill(9)
const hash = new Uint8Array(32).fill(3)
const root = 'ab'.repeat(32)

const samples: ReplicationMessage[] = [
  { t: 'hello', versions: [2], capabilities: ['zstd', 'resume'] },
  { t: 'manifest-request', relationship: 'vm-web', term: 7 },
  { t: 'manifest-page', disk: 'disk0', page: 3, hashes: new Uint8Array(64) },
  { t: 'manifest-end', disk: 'disk0', size: 5 * 2 ** 30 + 7, blockSize: 65536, root },
  { t: 'cycle-begin', relationship: 'vm-web', cycle, term: 2, base: root, time: 1_800_000_000_000, consistency: 'app', disks: [{ name: 'disk0', size: 2 ** 33, blockSize: 65536 }] },
  { t: 'cycle-begin', relationship: 'vm-web', cycle, term: 1, base: null, time: 1, consistency: 'crash', disks: [{ name: 'disk0', size: 0, blockSize: 4096 }] },
  { t: 'cycle-accept', cycle, resumeAfter: 17, credit: 8 * 2 ** 20 },
  { t: 'blocks', cycle, seq: 18, disk: 'disk0', entries: [
    { index: 0, hash, codec: WireCodec.RAW, rawLength: 4, data: Uint8Array.from([1, 2, 3, 4]) },
    { index: 1, hash, codec: WireCodec.ZERO, rawLength: 65536, data: new Uint8Array(0) },
    { index: 2, hash, codec: WireCodec.ZSTD, rawLength: 65536, data: new Uint8Array(10) }
  ] },
  { t: 'ack', cycle, seq: 18, credit: 2 ** 20 },
  { t: 'cycle-end', cycle, lastSeq: 18, disks: [{ name: 'disk0', root }] },
  { t: 'committed', cycle, root },
  { t: 'manifest-done', point: root, term: 3 },
  { t: 'manifest-done', point: null, term: 0 },
  { t: 'keepalive' },
  { t: 'error', code: 'P2P_MESSAGE_MALFORMED' },
  { t: 'cycle-accept', cycle, resumeAfter: 0, credit: 2 ** 20, heal: [{ disk: 'disk0', blocks: [3, 9, 2 ** 32 - 1] }, { disk: 'disk1', blocks: [] }] }
]

t.test('every message type round-trips', async t => {
  for (const m of samples) t.same(decodeReplication(encodeReplication(m)), m, `${m.t}`)
})

t.test('malformed, oversized and unknown messages', async t => {
  const blocks = samples[7] as Extract<ReplicationMessage, { t: 'blocks' }>
  const e = (over: Partial<{ index: unknown, hash: unknown, codec: unknown, rawLength: unknown, data: unknown }>): unknown[] => {
    const base = { index: 0, hash, codec: WireCodec.RAW, rawLength: 4, data: Uint8Array.from([1, 2, 3, 4]), ...over }
    return [base.index, base.hash, base.codec, base.rawLength, base.data]
  }
  const withEntries = (...entries: unknown[]): Uint8Array => pack({ ...blocks, entries })
  const cases: Array<[string, Uint8Array, string]> = [
    ['not msgpack', Uint8Array.from([0xc1]), 'P2P_MESSAGE_MALFORMED'],
    ['not a map', pack([1, 2, 3]), 'P2P_MESSAGE_MALFORMED'],
    ['unknown type', pack({ t: 'format-disk' }), 'P2P_MESSAGE_UNKNOWN'],
    ['no type', pack({ cycle }), 'P2P_MESSAGE_UNKNOWN'],
    ['short cycle id', pack({ ...samples[8], cycle: new Uint8Array(15) }), 'P2P_MESSAGE_MALFORMED'],
    ['negative seq', pack({ ...samples[8], seq: -1 }), 'P2P_MESSAGE_MALFORMED'],
    ['fractional credit', pack({ ...samples[8], credit: 1.5 }), 'P2P_MESSAGE_MALFORMED'],
    ['path in a relationship name', pack({ ...samples[1], relationship: '../etc' }), 'P2P_MESSAGE_MALFORMED'],
    ['a v1 manifest request (no term)', pack({ t: 'manifest-request', relationship: 'vm-web' }), 'P2P_MESSAGE_MALFORMED'],
    ['a manifest request with a negative term', pack({ ...samples[1], term: -1 }), 'P2P_MESSAGE_MALFORMED'],
    ['a manifest request with a term beyond u32', pack({ ...samples[1], term: 2 ** 32 }), 'P2P_MESSAGE_MALFORMED'],
    ['a manifest request with a fractional term', pack({ ...samples[1], term: 1.5 }), 'P2P_MESSAGE_MALFORMED'],
    ['a manifest request with a term as text', pack({ ...samples[1], term: '3' }), 'P2P_MESSAGE_MALFORMED'],
    ['a manifest request with a nil term', pack({ ...samples[1], term: null }), 'P2P_MESSAGE_MALFORMED'],
    ['path in a disk name', pack({ ...samples[2], disk: '../etc' }), 'P2P_MESSAGE_MALFORMED'],
    ['root not hex', pack({ ...samples[10], root: 'zz'.repeat(32) }), 'P2P_MESSAGE_MALFORMED'],
    ['block size not a power of two', pack({ ...samples[3], blockSize: 65535 }), 'P2P_MESSAGE_MALFORMED'],
    ['block size too large', pack({ ...samples[3], blockSize: 2 ** 23 }), 'P2P_MESSAGE_MALFORMED'],
    ['size beyond 2^53', pack({ ...samples[3], size: 2 ** 60 }), 'P2P_MESSAGE_MALFORMED'],
    ['a cycle without disks', pack({ ...samples[4], disks: [] }), 'P2P_MESSAGE_MALFORMED'],
    ['65 disks', pack({ ...samples[4], disks: Array(65).fill({ name: 'd', size: 1, blockSize: 4096 }) }), 'P2P_MESSAGE_MALFORMED'],
    ['bad consistency', pack({ ...samples[4], consistency: 'maybe' }), 'P2P_MESSAGE_MALFORMED'],
    ['partial hash in a page', pack({ ...samples[2], hashes: new Uint8Array(33) }), 'P2P_MESSAGE_MALFORMED'],
    ['empty batch', withEntries(), 'P2P_MESSAGE_MALFORMED'],
    ['entry of 4 fields', withEntries(e({}).slice(0, 4)), 'P2P_MESSAGE_MALFORMED'],
    ['short hash', withEntries(e({ hash: new Uint8Array(31) })), 'P2P_MESSAGE_MALFORMED'],
    ['unknown codec', withEntries(e({ codec: 7 })), 'P2P_MESSAGE_MALFORMED'],
    ['raw of the wrong length', withEntries(e({ rawLength: 5 })), 'P2P_MESSAGE_MALFORMED'],
    ['zero block with data', withEntries(e({ codec: WireCodec.ZERO })), 'P2P_MESSAGE_MALFORMED'],
    ['"compressed" block as long as raw', withEntries(e({ codec: WireCodec.ZSTD })), 'P2P_MESSAGE_MALFORMED'],
    ['raw length beyond 4 MiB', withEntries(e({ codec: WireCodec.ZERO, rawLength: 2 ** 23, data: new Uint8Array(0) })), 'P2P_MESSAGE_MALFORMED'],
    ['batch data over 4 MiB', withEntries(...Array.from({ length: 3 }, () => e({ rawLength: 1_500_000, data: new Uint8Array(1_500_000) }))), 'P2P_MESSAGE_MALFORMED'],
    ['frame over the limit', new Uint8Array(MAX_REPLICATION_FRAME_BYTES + 1), 'P2P_MESSAGE_MALFORMED'],
    ['error with free text', pack({ t: 'error', code: 'rm -rf' }), 'P2P_MESSAGE_MALFORMED'],
    ['error with an unknown code', pack({ t: 'error', code: 'P2P_NOT_A_CODE' }), 'P2P_MESSAGE_MALFORMED']
  ]
  for (const [name, frame, code] of cases) t.throws(() => decodeReplication(frame), { code }, name)
  t.ok(MAX_BATCH_DATA_BYTES < MAX_REPLICATION_FRAME_BYTES)
})

t.test('cycle-accept: heal is optional (older peers), bounded and shaped', async t => {
  const accept = { t: 'cycle-accept', cycle, resumeAfter: 0, credit: 2 ** 20 }
  t.notOk('heal' in decodeReplication(pack(accept)), 'an accept without heal decodes without it')
  const cases: Array<[string, unknown]> = [
    ['not a list', { disk: 'disk0', blocks: [1] }],
    ['an item not a map', [[1, 2]]],
    ['a path as disk', [{ disk: '../x', blocks: [1] }]],
    ['a negative index', [{ disk: 'disk0', blocks: [-1] }]],
    ['a fractional index', [{ disk: 'disk0', blocks: [1.5] }]],
    ['blocks not a list', [{ disk: 'disk0', blocks: 7 }]],
    ['one over MAX_HEAL_BLOCKS on one disk', [{ disk: 'disk0', blocks: Array.from({ length: MAX_HEAL_BLOCKS + 1 }, (_, i) => i) }]],
    ['one over MAX_HEAL_BLOCKS over two disks', [
      { disk: 'disk0', blocks: Array.from({ length: MAX_HEAL_BLOCKS }, (_, i) => i) },
      { disk: 'disk1', blocks: [0] }
    ]]
  ]
  for (const [name, heal] of cases) t.throws(() => decodeReplication(pack({ ...accept, heal })), { code: 'P2P_MESSAGE_MALFORMED' }, name)
  const full = decodeReplication(pack({ ...accept, heal: [{ disk: 'disk0', blocks: Array.from({ length: MAX_HEAL_BLOCKS }, (_, i) => i) }] }))
  t.equal(full.t === 'cycle-accept' ? full.heal?.[0]?.blocks.length : -1, MAX_HEAL_BLOCKS, 'exactly MAX_HEAL_BLOCKS is accepted')
  t.ok(encodeReplication(full).byteLength < MAX_REPLICATION_FRAME_BYTES, 'and fits a frame')
})

t.test('cycle-begin: the consistency note is optional (older peers) and bounded', async t => {
  const begin = { t: 'cycle-begin', relationship: 'vm-web', cycle, term: 1, base: null, time: 1, consistency: 'crash', disks: [{ name: 'disk0', size: 4096, blockSize: 4096 }] }
  t.notOk('consistencyNote' in decodeReplication(pack(begin)), 'a begin without a note decodes without it')
  const note = 'é'.repeat(MAX_CONSISTENCY_NOTE_BYTES / 2)
  t.match(decodeReplication(pack({ ...begin, consistencyNote: note })), { consistencyNote: note }, 'a note of exactly MAX_CONSISTENCY_NOTE_BYTES in UTF-8')
  t.throws(() => decodeReplication(pack({ ...begin, consistencyNote: `${note}x` })), { code: 'P2P_MESSAGE_MALFORMED' }, 'one byte more')
  t.throws(() => decodeReplication(pack({ ...begin, consistencyNote: 7 })), { code: 'P2P_MESSAGE_MALFORMED' }, 'not a string')
})

t.test('fuzz: random and mutated frames are rejected with a code or decoded, never crash', async t => {
  const seed = testSeed(t)
  const rnd = prng(seed)
  const frames = samples.map(encodeReplication)
  let decoded = 0
  for (let i = 0; i < 5000; i++) {
    const frame = i % 4 === 0
      ? Uint8Array.from({ length: Math.floor(rnd() * 200) }, () => rnd() * 256)
      : Uint8Array.from(frames[i % frames.length]!).map(b => rnd() < 0.03 ? Math.floor(rnd() * 256) : b)
    try { decodeReplication(frame); decoded++ } catch (err) {
      const code = (err as { code?: string }).code
      if (code !== 'P2P_MESSAGE_MALFORMED' && code !== 'P2P_MESSAGE_UNKNOWN') throw new Error(`seed ${seed}, frame ${i}: ${String(err)}`)
    }
  }
  t.pass(`${decoded} frames still decoded as valid messages, the rest rejected with a code`)
})
