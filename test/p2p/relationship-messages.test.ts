/**
 * The relationship protocol's boundary (p2p/relationship/messages.ts):
 * every v1 message (the Replica's failover notice, a planned failover and a reversal among them) round-trips and comes out with only the fields this
 * version knows; wrong types, values out of bounds, oversized strings and
 * lists, unknown types, extension types and truncated msgpack are refused
 * with their codes; the largest valid offer fits a frame; a fuzz run never
 * throws anything but the two codes.
 */
import t from 'tap'
import { pack } from 'msgpackr'
import { decodeRelationship, encodeRelationship, MAX_RELATIONSHIP_FRAME_BYTES, type RelationshipMessage } from '../../p2p/relationship/index.ts'
import { MAX_DISK_BYTES } from '../../p2p/replication/constants.ts'
import { MAX_ADDRESS_CHARS, MAX_ANSWER_ADDRESSES } from '../../p2p/relationship/constants.ts'
import { prng, testSeed } from '../helpers/fixtures.ts'
import { largestDescription, sampleDescription } from './fixtures/relationship.ts'

const offer = { t: 'offer' as const, ...sampleDescription() }
const ROOT = 'ab'.repeat(32)
const samples: RelationshipMessage[] = [
  offer,
  { t: 'offer', ...largestDescription() },
  { t: 'update', ...sampleDescription({ suspended: true, term: 2 }) },
  { t: 'update', ...sampleDescription({ settings: { frequency: 1, recoveryPoints: 0, appConsistentEvery: 1, bandwidth: 1, initial: { mode: 'seed' } } }) },
  { t: 'offer', ...sampleDescription({ settings: { ...sampleDescription().settings, initial: { mode: 'existing' } } }) },
  { t: 'offer', ...sampleDescription({ vm: { ...sampleDescription().vm, disks: [{ name: 'empty', size: 0, format: 'raw' }], nics: [], boot: 'uefi' } }) },
  { t: 'offer', ...sampleDescription({ vm: { ...sampleDescription().vm, boot: 'kernel', kernelBoot: { kernel: '/boot/vmlinuz' } } }) },
  { t: 'update', ...sampleDescription({ vm: { ...sampleDescription().vm, boot: 'kernel', kernelBoot: { kernel: '/boot/vmlinuz', initrd: '/boot/initrd.img', append: 'console=ttyS0 root=/dev/vda1' } } }) },
  { t: 'offer', ...sampleDescription({ vm: { ...sampleDescription().vm, nics: [{ model: 'virtio-net-pci', mode: 'user' }, { model: 'e1000', mode: 'bridge', bridge: 'br0', mac: '52:54:00:ab:cd:ef' }, { model: 'virtio-net-pci', mode: 'isolated', mac: '52:54:00:00:00:01' }] } }) },
  { t: 'remove', relationship: 'web-1', term: 0 },
  { t: 'failed-over', relationship: 'web-1', term: 2, at: 1_800_000_000_000 },
  { t: 'failed-over', relationship: 'web-1', term: 0xffffffff, at: Number.MAX_SAFE_INTEGER },
  { t: 'planned-failover', relationship: 'web-1', term: 3, root: ROOT },
  { t: 'reverse', ...sampleDescription({ term: 4 }), force: false, base: { root: ROOT, time: 1_800_000_000_000 } },
  { t: 'reverse', ...sampleDescription({ term: 4, settings: { ...sampleDescription().settings, initial: { mode: 'existing' } } }), force: true, base: null },
  { t: 'accepted' },
  { t: 'accepted', addresses: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFF22fUPWzUFzYaAcSbjqAFd3EhKktE1SXPyToR4CYnW4', '/ip6/::1/tcp/4001'] },
  { t: 'accepted', addresses: [] },
  { t: 'error', code: 'P2P_STALE_TERM' }
]

t.test('every message type round-trips', async t => {
  for (const m of samples) t.same(decodeRelationship(encodeRelationship(m)), m, m.t)
})

t.test('fields this version does not know are dropped, not passed on', async t => {
  const decoded = decodeRelationship(pack({ ...offer, extra: 'x', vm: { ...offer.vm, path: '/etc/passwd', disks: [{ ...offer.vm.disks[0], path: '/x' }] } }))
  t.same(decoded, { ...offer, vm: { ...offer.vm, disks: [offer.vm.disks[0]] } })
  t.same(decodeRelationship(pack({ t: 'accepted', code: 'P2P_TIMEOUT' })), { t: 'accepted' })
  t.same(decodeRelationship(pack({ t: 'failed-over', relationship: 'web-1', term: 2, at: 5, vm: 'web', reason: 'x' })), { t: 'failed-over', relationship: 'web-1', term: 2, at: 5 })
  t.same(decodeRelationship(pack({ t: 'planned-failover', relationship: 'web-1', term: 2, root: ROOT, point: 7 })), { t: 'planned-failover', relationship: 'web-1', term: 2, root: ROOT })
  t.same(decodeRelationship(pack({ ...offer, t: 'reverse', extra: 1, force: false, base: { root: ROOT, time: 5, id: 3 } })), { ...offer, t: 'reverse', force: false, base: { root: ROOT, time: 5 } })
})

t.test('the largest valid reversal fits a frame', async t => {
  const bytes = encodeRelationship({ t: 'reverse', ...largestDescription(), force: true, base: { root: ROOT, time: Number.MAX_SAFE_INTEGER } }).byteLength
  t.ok(bytes < 12 * 1024 + 200, `a whole description and its base: ${bytes} bytes`)
})

t.test('the largest valid offer fits a frame with room to spare', async t => {
  const largest = largestDescription()
  const bytes = encodeRelationship({ t: 'offer', ...largest }).byteLength
  t.comment(`largest offer: ${bytes} bytes`)
  t.ok(bytes < 12 * 1024, 'under 12 KiB, its kernel boot at its bounds included')
  const { kernelBoot: _k, ...withoutKernel } = largest.vm
  t.ok(encodeRelationship({ t: 'offer', ...largest, vm: { ...withoutKernel, boot: null } }).byteLength < 9 * 1024, 'under 9 KiB without the optional kernel boot')
  t.ok(bytes < MAX_RELATIONSHIP_FRAME_BYTES * 3 / 4, 'a quarter of the frame left for later optional fields')
})

t.test('malformed, out of bounds, oversized and unknown messages', async t => {
  const vm = offer.vm
  const settings = offer.settings
  const withVm = (over: Record<string, unknown>): Uint8Array => pack({ ...offer, vm: { ...vm, ...over } })
  const withDisk = (over: Record<string, unknown>): Uint8Array => withVm({ disks: [{ ...vm.disks[0], ...over }] })
  const withSettings = (over: Record<string, unknown>): Uint8Array => pack({ ...offer, settings: { ...settings, ...over } })
  const without = (key: string): Uint8Array => { const o: Record<string, unknown> = { ...offer }; delete o[key]; return pack(o) }
  const encoded = encodeRelationship(offer)
  const MALFORMED = 'P2P_MESSAGE_MALFORMED'
  const cases: Array<[string, Uint8Array, string]> = [
    // not plain msgpack
    ['not msgpack (reserved byte)', Uint8Array.from([0xc1]), MALFORMED],
    ['a truncated message', encoded.subarray(0, encoded.byteLength - 1), MALFORMED],
    ['bytes after the message', Uint8Array.from([...encoded, 0xc0]), MALFORMED],
    // an answer's addresses (the answer to reverse)
    ['addresses not a list', pack({ t: 'accepted', addresses: '/ip4/127.0.0.1/tcp/1' }), MALFORMED],
    ['more than MAX_ANSWER_ADDRESSES addresses', pack({ t: 'accepted', addresses: Array.from({ length: MAX_ANSWER_ADDRESSES + 1 }, (_, i) => `/ip4/127.0.0.1/tcp/${i + 1}`) }), MALFORMED],
    ['an address that is not text', pack({ t: 'accepted', addresses: [7] }), MALFORMED],
    ['an empty address', pack({ t: 'accepted', addresses: [''] }), MALFORMED],
    ['an address that is no multiaddr', pack({ t: 'accepted', addresses: ['127.0.0.1:4001'] }), MALFORMED],
    ['an address over MAX_ADDRESS_CHARS', pack({ t: 'accepted', addresses: ['/dns4/' + 'a'.repeat(MAX_ADDRESS_CHARS)] }), MALFORMED],
    ['an extension type (fixext 1) as a field', Uint8Array.from([0x82, 0xa1, 0x74, 0xa8, ...Buffer.from('accepted'), 0xa1, 0x78, 0xd4, 0x01, 0x00]), MALFORMED],
    ['a msgpackr record definition', Uint8Array.from([0xd4, 0x72, 0x40]), MALFORMED],
    ['a timestamp extension', Uint8Array.from([0xd6, 0xff, 0, 0, 0, 1]), MALFORMED],
    ['not a map', pack([offer]), MALFORMED],
    ['a string', pack('offer'), MALFORMED],
    ['frame over the limit', new Uint8Array(MAX_RELATIONSHIP_FRAME_BYTES + 1), MALFORMED],
    // unknown types
    ['unknown type', pack({ t: 'format-disk' }), 'P2P_MESSAGE_UNKNOWN'],
    ['no type', pack({ relationship: 'web-1' }), 'P2P_MESSAGE_UNKNOWN'],
    ['type not a string', pack({ ...offer, t: 1 }), 'P2P_MESSAGE_UNKNOWN'],
    // fields missing or of the wrong type
    ['no relationship', without('relationship'), MALFORMED],
    ['no vm', without('vm'), MALFORMED],
    ['no settings', without('settings'), MALFORMED],
    ['no suspended', without('suspended'), MALFORMED],
    ['term as a string', pack({ ...offer, term: '1' }), MALFORMED],
    ['negative term', pack({ ...offer, term: -1 }), MALFORMED],
    ['term beyond u32', pack({ ...offer, term: 2 ** 32 }), MALFORMED],
    ['fractional term', pack({ ...offer, term: 1.5 }), MALFORMED],
    ['term as a 64-bit integer beyond 2^53', pack({ ...offer, term: 2n ** 60n }), MALFORMED],
    ['suspended as a string', pack({ ...offer, suspended: 'no' }), MALFORMED],
    ['vm as a list', pack({ ...offer, vm: [vm] }), MALFORMED],
    ['settings as null', pack({ ...offer, settings: null }), MALFORMED],
    ['remove without a term', pack({ t: 'remove', relationship: 'web-1' }), MALFORMED],
    // names and strings: patterns bound their length
    ['a path as relationship', pack({ ...offer, relationship: '../etc' }), MALFORMED],
    ['a relationship of 65 characters', pack({ ...offer, relationship: 'r'.repeat(65) }), MALFORMED],
    ['a relationship of 10 KiB', pack({ ...offer, relationship: 'r'.repeat(10_000) }), MALFORMED],
    ['an empty relationship', pack({ ...offer, relationship: '' }), MALFORMED],
    ['a vm name with a newline', withVm({ name: 'web\nevil' }), MALFORMED],
    ['a vm name of 65 characters', withVm({ name: 'v'.repeat(65) }), MALFORMED],
    ['a binary vm name', withVm({ name: Buffer.from('web') }), MALFORMED],
    // the VM
    ['an unknown driver', withVm({ driver: 'xen' }), MALFORMED],
    ['0 vcpus', withVm({ vcpus: 0 }), MALFORMED],
    ['257 vcpus', withVm({ vcpus: 257 }), MALFORMED],
    ['0 MiB of memory', withVm({ memoryMiB: 0 }), MALFORMED],
    ['memory over 4 TiB', withVm({ memoryMiB: 4 * 1024 * 1024 + 1 }), MALFORMED],
    ['an unknown boot kind', withVm({ boot: 'efi' }), MALFORMED],
    ['boot missing', (() => { const v: Record<string, unknown> = { ...vm }; delete v.boot; return pack({ ...offer, vm: v }) })(), MALFORMED],
    ['no disks', withVm({ disks: [] }), MALFORMED],
    ['65 disks', withVm({ disks: Array.from({ length: 65 }, (_, i) => ({ name: `d${i}`, size: 1, format: 'raw' })) }), MALFORMED],
    ['disks as a map', withVm({ disks: { 0: vm.disks[0] } }), MALFORMED],
    ['a disk twice', withVm({ disks: [vm.disks[0], vm.disks[0]] }), MALFORMED],
    ['a path as disk name', withDisk({ name: '../../etc/passwd' }), MALFORMED],
    ['a disk name of 65 characters', withDisk({ name: 'd'.repeat(65) }), MALFORMED],
    ['a negative disk size', withDisk({ size: -1 }), MALFORMED],
    ['a disk size over MAX_DISK_BYTES', withDisk({ size: MAX_DISK_BYTES + 1 }), MALFORMED],
    ['a fractional disk size', withDisk({ size: 1.5 }), MALFORMED],
    ['an unknown disk format', withDisk({ format: 'vmdk' }), MALFORMED],
    ['17 nics', withVm({ nics: Array.from({ length: 17 }, () => ({ model: 'e1000' })) }), MALFORMED],
    ['a nic model of 33 characters', withVm({ nics: [{ model: 'm'.repeat(33) }] }), MALFORMED],
    ['a nic model with a comma (QEMU option injection)', withVm({ nics: [{ model: 'e1000,romfile=/x' }] }), MALFORMED],
    ['a nic as a string', withVm({ nics: ['e1000'] }), MALFORMED],
    ['an unknown nic mode', withVm({ nics: [{ model: 'e1000', mode: 'tap' }] }), MALFORMED],
    ['a bridge without mode bridge', withVm({ nics: [{ model: 'e1000', mode: 'user', bridge: 'br0' }] }), MALFORMED],
    ['a bridge of 16 characters', withVm({ nics: [{ model: 'e1000', mode: 'bridge', bridge: 'b'.repeat(16) }] }), MALFORMED],
    ['a bridge with a comma (QEMU option injection)', withVm({ nics: [{ model: 'e1000', mode: 'bridge', bridge: 'br0,x=y' }] }), MALFORMED],
    ['a multicast mac', withVm({ nics: [{ model: 'e1000', mac: '01:00:5e:00:00:01' }] }), MALFORMED],
    ['a mac as a number', withVm({ nics: [{ model: 'e1000', mac: 5 }] }), MALFORMED],
    // a kernel boot: absolute paths and a command line on one line, bounded, only with boot kernel
    ['a kernel boot with boot bios', withVm({ boot: 'bios', kernelBoot: { kernel: '/boot/vmlinuz' } }), MALFORMED],
    ['a kernel boot without a kernel', withVm({ boot: 'kernel', kernelBoot: { initrd: '/boot/initrd' } }), MALFORMED],
    ['a relative kernel path', withVm({ boot: 'kernel', kernelBoot: { kernel: 'vmlinuz' } }), MALFORMED],
    ['a kernel path with a newline', withVm({ boot: 'kernel', kernelBoot: { kernel: '/boot/vm\nlinuz' } }), MALFORMED],
    ['a kernel path over 512 bytes', withVm({ boot: 'kernel', kernelBoot: { kernel: `/${'k'.repeat(512)}` } }), MALFORMED],
    ['an initrd path over 512 bytes of UTF-8', withVm({ boot: 'kernel', kernelBoot: { kernel: '/k', initrd: `/${'é'.repeat(256)}` } }), MALFORMED],
    ['a command line over 2048 bytes', withVm({ boot: 'kernel', kernelBoot: { kernel: '/k', append: 'a'.repeat(2049) } }), MALFORMED],
    ['a command line on two lines', withVm({ boot: 'kernel', kernelBoot: { kernel: '/k', append: 'quiet\ninit=/bin/sh' } }), MALFORMED],
    ['a kernel boot as a string', withVm({ boot: 'kernel', kernelBoot: '/boot/vmlinuz' }), MALFORMED],
    // settings
    ['frequency 0', withSettings({ frequency: 0 }), MALFORMED],
    ['frequency over a day', withSettings({ frequency: 24 * 3_600_000 + 1 }), MALFORMED],
    ['frequency as another word', withSettings({ frequency: 'often' }), MALFORMED],
    ['recovery points over the retention limit', withSettings({ recoveryPoints: 10_001 }), MALFORMED],
    ['negative recovery points', withSettings({ recoveryPoints: -1 }), MALFORMED],
    ['app-consistent interval 0', withSettings({ appConsistentEvery: 0 }), MALFORMED],
    ['app-consistent interval over a week', withSettings({ appConsistentEvery: 7 * 86_400_000 + 1 }), MALFORMED],
    ['app-consistent interval missing (null is explicit)', (() => { const s: Record<string, unknown> = { ...settings }; delete s.appConsistentEvery; return pack({ ...offer, settings: s }) })(), MALFORMED],
    ['bandwidth 0', withSettings({ bandwidth: 0 }), MALFORMED],
    ['bandwidth over 1 TB/s', withSettings({ bandwidth: 1e12 + 1 }), MALFORMED],
    ['an unknown initial mode', withSettings({ initial: { mode: 'later' } }), MALFORMED],
    ['initial at without a time', withSettings({ initial: { mode: 'at' } }), MALFORMED],
    ['initial as a string', withSettings({ initial: 'now' }), MALFORMED],
    // the Replica's failover notice
    ['failed-over without a term', pack({ t: 'failed-over', relationship: 'web-1', at: 1 }), MALFORMED],
    ['failed-over without a time', pack({ t: 'failed-over', relationship: 'web-1', term: 2 }), MALFORMED],
    ['failed-over without a relationship', pack({ t: 'failed-over', term: 2, at: 1 }), MALFORMED],
    ['failed-over with a negative term', pack({ t: 'failed-over', relationship: 'web-1', term: -1, at: 1 }), MALFORMED],
    ['failed-over with a term beyond u32', pack({ t: 'failed-over', relationship: 'web-1', term: 2 ** 32, at: 1 }), MALFORMED],
    ['failed-over with a term as text', pack({ t: 'failed-over', relationship: 'web-1', term: '2', at: 1 }), MALFORMED],
    ['failed-over with a fractional time', pack({ t: 'failed-over', relationship: 'web-1', term: 2, at: 1.5 }), MALFORMED],
    ['failed-over with a negative time', pack({ t: 'failed-over', relationship: 'web-1', term: 2, at: -1 }), MALFORMED],
    ['failed-over with a time beyond 2^53', pack({ t: 'failed-over', relationship: 'web-1', term: 2, at: 2n ** 60n }), MALFORMED],
    ['failed-over with a path as relationship', pack({ t: 'failed-over', relationship: '../etc', term: 2, at: 1 }), MALFORMED],
    ['failed-over with a relationship of 10 KiB', pack({ t: 'failed-over', relationship: 'r'.repeat(10_000), term: 2, at: 1 }), MALFORMED],
    ['planned-failover without a root', pack({ t: 'planned-failover', relationship: 'web-1', term: 2 }), MALFORMED],
    ['planned-failover with an upper-case root', pack({ t: 'planned-failover', relationship: 'web-1', term: 2, root: 'AB'.repeat(32) }), MALFORMED],
    ['planned-failover with a short root', pack({ t: 'planned-failover', relationship: 'web-1', term: 2, root: 'ab' }), MALFORMED],
    ['planned-failover with a term beyond u32', pack({ t: 'planned-failover', relationship: 'web-1', term: 2 ** 32, root: ROOT }), MALFORMED],
    ['reverse without force', pack({ ...offer, t: 'reverse', base: null }), MALFORMED],
    ['reverse without base', pack({ ...offer, t: 'reverse', force: false }), MALFORMED],
    ['reverse with force as text', pack({ ...offer, t: 'reverse', force: 'yes', base: null }), MALFORMED],
    ['reverse with a base root of bytes', pack({ ...offer, t: 'reverse', force: false, base: { root: Buffer.alloc(32), time: 1 } }), MALFORMED],
    ['reverse with a negative base time', pack({ ...offer, t: 'reverse', force: false, base: { root: ROOT, time: -1 } }), MALFORMED],
    ['reverse with a base as a list', pack({ ...offer, t: 'reverse', force: false, base: [ROOT, 1] }), MALFORMED],
    ['reverse without its description', pack({ t: 'reverse', relationship: 'web-1', term: 2, force: false, base: null }), MALFORMED],
    // answers
    ['error with free text', pack({ t: 'error', code: 'rm -rf /' }), MALFORMED],
    ['error with an unknown code', pack({ t: 'error', code: 'P2P_NOT_A_CODE' }), MALFORMED],
    ['error without a code', pack({ t: 'error' }), MALFORMED]
  ]
  for (const [name, frame, code] of cases) t.throws(() => decodeRelationship(frame), { code }, name)
})

t.test('a __proto__ key decodes as a plain field and is dropped', async t => {
  const hostile = pack(JSON.parse('{"t":"accepted","__proto__":{"polluted":true}}'))
  const m = decodeRelationship(hostile)
  t.same(m, { t: 'accepted' })
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
})

t.test('fuzz: random and mutated frames are rejected with a code or decoded, never crash', async t => {
  const seed = testSeed(t)
  const rnd = prng(seed)
  const frames = samples.map(encodeRelationship)
  let decoded = 0
  for (let i = 0; i < 5000; i++) {
    const frame = i % 4 === 0
      ? Uint8Array.from({ length: Math.floor(rnd() * 200) }, () => rnd() * 256)
      : Uint8Array.from(frames[i % frames.length]!).map(b => rnd() < 0.03 ? Math.floor(rnd() * 256) : b)
    try { decodeRelationship(frame); decoded++ } catch (err) {
      const code = (err as { code?: string }).code
      if (code !== 'P2P_MESSAGE_MALFORMED' && code !== 'P2P_MESSAGE_UNKNOWN') throw new Error(`seed ${seed}, frame ${i}: ${String(err)}`)
    }
  }
  t.pass(`${decoded} frames still decoded as valid messages, the rest rejected with a code`)
})
