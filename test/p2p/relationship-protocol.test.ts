/**
 * The relationship protocol on real libp2p nodes over loopback: an offer,
 * an update and a removal reach the Replica's registrar with the primary's
 * authenticated peer id; a registrar's refusal reaches the primary as its
 * code; an unpaired peer is refused; hostile and malformed requests, and a
 * primary that sends nothing, are each answered with their code and never
 * reach the registrar; the primary's side turns a silent, garbled or absent
 * Replica into codes; stop() ends what is in flight. The Replica's
 * failover notice travels the other way, to the primary's handler, which
 * every box serves beside its registrar; so does a new primary's reversal,
 * and a primary's planned failover goes to the Replica's planned handler.
 */
import t from 'tap'
import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import { pack } from 'msgpackr'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import {
  decodeRelationship, encodeRelationship, MAX_RELATIONSHIP_FRAME_BYTES, RELATIONSHIP_PROTOCOL, RelationshipReceiver,
  sendFailedOver, sendOffer, sendPlannedFailover, sendRemove, sendReverse, sendUpdate,
  type FailoverNotice, type PlannedFailover, type PlannedFailoverTarget, type RelationshipPrimary, type RelationshipReceiverInit, type RelationshipRegistrar, type RequestEvent, type Reversal
} from '../../p2p/relationship/index.ts'
import { FramedStream } from '../../p2p/wire/framed-stream.ts'
import type { TandemNode } from '../../p2p/node/index.ts'
import { tempDir, type Teardown } from '../helpers/fixtures.ts'
import { loopbackAddress, startNode, TestPolicy } from '../helpers/boxes.ts'
import { MemoryRegistrar, RecordingRegistrar, sampleDescription } from './fixtures/relationship.ts'

interface ReplicaBox<R extends RelationshipRegistrar> {
  node: TandemNode
  policy: TestPolicy
  registrar: R
  receiver: RelationshipReceiver
  events: RequestEvent[]
  /** Waits for the next request's end on the Replica. */
  nextRequest: () => Promise<RequestEvent>
}

async function startReplicaBox<R extends RelationshipRegistrar> (t: Teardown, keyFile: string, registrar: R, timeouts?: RelationshipReceiverInit['timeouts'], primary?: RelationshipPrimary, planned?: PlannedFailoverTarget): Promise<ReplicaBox<R>> {
  const policy = new TestPolicy()
  const node = await startNode(t, keyFile, policy)
  const events: RequestEvent[] = []
  let waiters: Array<(e: RequestEvent) => void> = []
  const receiver = new RelationshipReceiver({
    node,
    policy,
    registrar,
    timeouts,
    ...(primary === undefined ? {} : { primary }),
    ...(planned === undefined ? {} : { planned }),
    onRequest: e => {
      events.push(e)
      const w = waiters
      waiters = []
      for (const f of w) f(e)
    }
  })
  await receiver.start()
  t.teardown(async () => { await receiver.stop() })
  return { node, policy, registrar, receiver, events, nextRequest: async () => await new Promise(resolve => { waiters.push(resolve) }) }
}

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p
    return 'resolved'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}

const frame = (length: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array => {
  const out = new Uint8Array(4 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, length)
  out.set(payload, 4)
  return out
}
const framed = (payload: Uint8Array): Uint8Array => frame(payload.byteLength, payload)

t.test('an offer, an update and a removal are delivered and recorded', async t => {
  const dir = await tempDir(t)
  const replica = await startReplicaBox(t, join(dir, 'replica.key'), new RecordingRegistrar())
  const primary = await startNode(t, join(dir, 'primary.key'))
  const peer = primary.peerId.toString()
  replica.policy.paired.add(peer)

  const offer = sampleDescription()
  let ended = replica.nextRequest()
  t.same(await sendOffer(primary, loopbackAddress(replica.node), offer), { t: 'accepted' }, 'the Replica accepts')
  t.same(replica.registrar.calls, [{ op: 'offer', peer, request: offer }], 'the registrar got the offer with the primary\'s peer id')
  t.same(await ended, { peer, request: 'offer', relationship: 'web-1', outcome: 'accepted' })

  // By peer id: the node dials the address it knows.
  const update = sampleDescription({ suspended: true, term: 2, vm: { ...offer.vm, disks: [...offer.vm.disks, { name: 'logs', size: 4096, format: 'raw' }] } })
  ended = replica.nextRequest()
  t.same(await sendUpdate(primary, replica.node.peerId, update), { t: 'accepted' })
  t.same(replica.registrar.calls[1], { op: 'update', peer, request: update }, 'the update is whole: suspended, the new disk, the raised term')
  t.equal((await ended).outcome, 'accepted')

  ended = replica.nextRequest()
  t.same(await sendRemove(primary, replica.node.peerId, { relationship: 'web-1', term: 2 }), { t: 'accepted' })
  t.same(replica.registrar.calls[2], { op: 'remove', peer, request: { relationship: 'web-1', term: 2 } })
  t.equal((await ended).request, 'remove')
})

t.test('a registrar\'s refusal reaches the primary as its code; anything else as P2P_RELATIONSHIP_FAILED', async t => {
  const dir = await tempDir(t)
  const replica = await startReplicaBox(t, join(dir, 'replica.key'), new RecordingRegistrar())
  const primary = await startNode(t, join(dir, 'primary.key'))
  replica.policy.paired.add(primary.peerId.toString())
  const address = loopbackAddress(replica.node)

  const cases: Array<[string, P2pErrorCode | Error, P2pErrorCode]> = [
    ['an id held for another peer', P2pErrorCode.P2P_RELATIONSHIP_REFUSED, P2pErrorCode.P2P_RELATIONSHIP_REFUSED],
    ['a lower term than the one held', P2pErrorCode.P2P_STALE_TERM, P2pErrorCode.P2P_STALE_TERM],
    ['an update of a relationship not held', P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN],
    ['a failed write', P2pErrorCode.P2P_RELATIONSHIP_FAILED, P2pErrorCode.P2P_RELATIONSHIP_FAILED],
    ['a plain error (its words stay on the Replica)', new Error('EIO: /data/relationships.json'), P2pErrorCode.P2P_RELATIONSHIP_FAILED],
    ['a code that is not a registrar\'s', new P2pError(P2pErrorCode.P2P_IDENTITY_DAMAGED, 'x'), P2pErrorCode.P2P_RELATIONSHIP_FAILED]
  ]
  for (const [name, refuse, code] of cases) {
    replica.registrar.refuse = refuse
    const ended = replica.nextRequest()
    t.equal(await codeOf(sendUpdate(primary, address, sampleDescription())), code, `${name}: the primary gets ${code}`)
    const event = await ended
    t.equal(event.outcome, code, `${name}: the Replica reports it`)
    if (refuse instanceof Error) t.equal(event.cause, refuse, `${name}: the local cause is kept for the Replica's log`)
  }
  t.same(replica.registrar.calls, [], 'nothing was recorded')
})

t.test('with the reference registrar: an id held for another primary is refused over the wire, a stale term too', async t => {
  const dir = await tempDir(t)
  const replica = await startReplicaBox(t, join(dir, 'replica.key'), new MemoryRegistrar())
  const first = await startNode(t, join(dir, 'first.key'))
  const second = await startNode(t, join(dir, 'second.key'))
  for (const n of [first, second]) replica.policy.paired.add(n.peerId.toString())
  const address = loopbackAddress(replica.node)

  t.same(await sendOffer(first, address, sampleDescription({ term: 3 })), { t: 'accepted' })
  t.equal(await codeOf(sendOffer(second, address, sampleDescription({ vm: { ...sampleDescription().vm, name: 'db' } }))), 'P2P_RELATIONSHIP_REFUSED', 'another primary cannot take the id')
  t.equal(await codeOf(sendUpdate(second, address, sampleDescription())), 'P2P_RELATIONSHIP_UNKNOWN', 'nor change it')
  t.equal(await codeOf(sendUpdate(first, address, sampleDescription({ term: 2, suspended: true }))), 'P2P_STALE_TERM', 'a lower term changes nothing')
  t.equal(replica.registrar.held.get('web-1')?.peer, first.peerId.toString())
  t.same(replica.registrar.held.get('web-1')?.description, sampleDescription({ term: 3 }), 'what the Replica holds is the first offer, whole')
  t.same(await sendRemove(first, address, { relationship: 'web-1', term: 3 }), { t: 'accepted' })
  t.equal(replica.registrar.held.size, 0)
})

t.test('a registrar that does not finish in time: P2P_RELATIONSHIP_FAILED, and its signal is aborted', async t => {
  const dir = await tempDir(t)
  const replica = await startReplicaBox(t, join(dir, 'replica.key'), new RecordingRegistrar(), { recordMs: 200 })
  const primary = await startNode(t, join(dir, 'primary.key'))
  replica.policy.paired.add(primary.peerId.toString())
  replica.registrar.hold = true
  t.equal(await codeOf(sendOffer(primary, loopbackAddress(replica.node), sampleDescription())), 'P2P_RELATIONSHIP_FAILED')
  t.equal(replica.registrar.heldSignals[0]?.aborted, true, 'the registrar was told to stop')
})

t.test('an unpaired peer is refused and reaches nothing', async t => {
  const dir = await tempDir(t)
  const replica = await startReplicaBox(t, join(dir, 'replica.key'), new RecordingRegistrar())
  const stranger = await startNode(t, join(dir, 'stranger.key'))
  const address = loopbackAddress(replica.node)

  t.equal(await codeOf(sendOffer(stranger, address, sampleDescription())), 'P2P_PEER_UNREACHABLE', 'no window: cut off at the handshake')
  replica.policy.window = true
  t.equal(await codeOf(sendOffer(stranger, address, sampleDescription())), 'P2P_STREAM_CLOSED', 'during a pairing window: the stream is aborted (pairedOnly)')
  replica.policy.window = false
  t.same(replica.registrar.calls, [], 'the registrar saw nothing')
  t.same(replica.events, [], 'the handler saw nothing')
})

t.test('hostile and malformed requests each get their code and leave the registrar untouched', async t => {
  const dir = await tempDir(t)
  const replica = await startReplicaBox(t, join(dir, 'replica.key'), new RecordingRegistrar(), { requestMs: 300 })
  const primary = await startNode(t, join(dir, 'primary.key'))
  replica.policy.paired.add(primary.peerId.toString())
  const address = loopbackAddress(replica.node)
  const offer = { t: 'offer', ...sampleDescription() }
  const encoded = encodeRelationship(offer as Parameters<typeof encodeRelationship>[0])

  // Each case: the bytes a paired peer sends, whether it then closes its side, and the code the Replica must answer.
  const cases: Array<[string, Uint8Array, 'close' | 'stay', P2pErrorCode]> = [
    ['a field of the wrong type', framed(pack({ ...offer, term: '1' })), 'stay', 'P2P_MESSAGE_MALFORMED'],
    ['a term beyond u32', framed(pack({ ...offer, term: 2 ** 32 })), 'stay', 'P2P_MESSAGE_MALFORMED'],
    ['an oversized string', framed(pack({ ...offer, relationship: 'r'.repeat(10_000) })), 'stay', 'P2P_MESSAGE_MALFORMED'],
    ['an oversized list', framed(pack({ ...offer, vm: { ...offer.vm, disks: Array.from({ length: 65 }, (_, i) => ({ name: `d${i}`, size: 1, format: 'raw' })) } })), 'stay', 'P2P_MESSAGE_MALFORMED'],
    ['an unknown t', framed(pack({ t: 'format-disk', relationship: 'web-1' })), 'stay', 'P2P_MESSAGE_UNKNOWN'],
    ['an extension type', framed(Uint8Array.from([0x81, 0xa1, 0x74, 0xd4, 0x01, 0x00])), 'stay', 'P2P_MESSAGE_MALFORMED'],
    ['a msgpackr record', framed(Uint8Array.from([0xd4, 0x72, 0x40])), 'stay', 'P2P_MESSAGE_MALFORMED'],
    ['truncated msgpack in a whole frame', framed(encoded.subarray(0, encoded.byteLength - 3)), 'stay', 'P2P_MESSAGE_MALFORMED'],
    ['a truncated frame, then the end of the stream', frame(encoded.byteLength, encoded.subarray(0, 20)).subarray(0, 24), 'close', 'P2P_STREAM_CLOSED'],
    ['a frame over the limit (refused at its header)', frame(MAX_RELATIONSHIP_FRAME_BYTES + 1), 'stay', 'P2P_FRAME_TOO_LARGE'],
    ['a frame of 4 GiB announced', frame(0xffffffff), 'stay', 'P2P_FRAME_TOO_LARGE'],
    ['an empty frame', frame(0), 'stay', 'P2P_FRAME_EMPTY'],
    ['an answer sent as a request', framed(encodeRelationship({ t: 'accepted' })), 'stay', 'P2P_PROTOCOL_VIOLATION'],
    ['an error sent as a request', framed(encodeRelationship({ t: 'error', code: 'P2P_TIMEOUT' })), 'stay', 'P2P_PROTOCOL_VIOLATION'],
    ['nothing, then the end of the stream', new Uint8Array(0), 'close', 'P2P_STREAM_CLOSED'],
    ['nothing at all (a silent primary)', new Uint8Array(0), 'stay', 'P2P_TIMEOUT'],
    ['half a header, then nothing', Uint8Array.from([0, 0]), 'stay', 'P2P_TIMEOUT']
  ]
  for (const [name, bytes, then, code] of cases) {
    const ended = replica.nextRequest()
    const stream: Stream = await primary.dialProtocol(address, RELATIONSHIP_PROTOCOL)
    if (bytes.byteLength > 0) stream.send(bytes)
    if (then === 'close') await stream.close()
    let answer: string
    try {
      const m = decodeRelationship(await new FramedStream(stream, MAX_RELATIONSHIP_FRAME_BYTES).read(10_000, { timeout: 'P2P_TIMEOUT', eof: 'P2P_STREAM_CLOSED' }))
      answer = m.t === 'error' ? m.code : m.t
    } catch (err) {
      answer = `failed: ${(err as { code?: string }).code ?? String(err)}`
    }
    stream.abort(new Error('test done'))
    t.equal(answer, code, `${name}: the Replica answers ${code}`)
    t.equal((await ended).outcome, code, `${name}: and reports it`)
  }
  t.same(replica.registrar.calls, [], 'the registrar saw none of them')

  t.same(await sendOffer(primary, address, sampleDescription()), { t: 'accepted' }, 'the Replica keeps serving: a valid offer is accepted')
  t.equal(replica.registrar.calls.length, 1)
})

t.test('the primary\'s side: a silent, garbled, absent or cancelling Replica gives a code', async t => {
  const dir = await tempDir(t)
  const primary = await startNode(t, join(dir, 'primary.key'))
  const fake = await startNode(t, join(dir, 'fake.key'))
  const bare = await startNode(t, join(dir, 'bare.key'))
  const gone = await startNode(t, join(dir, 'gone.key'))
  const goneAddress = loopbackAddress(gone)
  await gone.stop()
  const released: Array<() => void> = []
  t.teardown(() => { for (const r of released) r() })
  let reply: (io: FramedStream) => Promise<void> = async () => {}
  await fake.handle(RELATIONSHIP_PROTOCOL, async stream => {
    const io = new FramedStream(stream, MAX_RELATIONSHIP_FRAME_BYTES)
    await io.read(10_000, { timeout: 'P2P_TIMEOUT', eof: 'P2P_STREAM_CLOSED' })
    await reply(io)
  })
  const address = loopbackAddress(fake)
  const send = (payload: Uint8Array) => async (io: FramedStream): Promise<void> => { io.stream.send(payload); await io.stream.close() }

  const cases: Array<[string, (io: FramedStream) => Promise<void>, P2pErrorCode]> = [
    ['no answer in time', async () => { await new Promise<void>(resolve => { released.push(resolve) }) }, 'P2P_TIMEOUT'],
    ['a hang-up without an answer', async io => { await io.stream.close() }, 'P2P_STREAM_CLOSED'],
    ['a reset', async io => { io.stream.abort(new Error('reset')) }, 'P2P_STREAM_CLOSED'],
    ['not msgpack', send(framed(Uint8Array.from([0xc1]))), 'P2P_MESSAGE_MALFORMED'],
    ['an error with free text', send(framed(pack({ t: 'error', code: 'you have been hacked' }))), 'P2P_MESSAGE_MALFORMED'],
    ['an error with an unknown code', send(framed(pack({ t: 'error', code: 'P2P_NOT_A_CODE' }))), 'P2P_MESSAGE_MALFORMED'],
    ['an unknown answer', send(framed(pack({ t: 'maybe' }))), 'P2P_MESSAGE_UNKNOWN'],
    ['a request instead of an answer', send(framed(encodeRelationship({ t: 'remove', relationship: 'web-1', term: 1 }))), 'P2P_PROTOCOL_VIOLATION'],
    ['a frame over the limit', send(frame(MAX_RELATIONSHIP_FRAME_BYTES + 1)), 'P2P_FRAME_TOO_LARGE'],
    ['a known code', send(framed(encodeRelationship({ t: 'error', code: 'P2P_STALE_TERM' }))), 'P2P_STALE_TERM']
  ]
  for (const [name, behaviour, code] of cases) {
    reply = behaviour
    t.equal(await codeOf(sendOffer(primary, address, sampleDescription(), { timeoutMs: 300 })), code, `${name}: ${code}`)
  }

  const controller = new AbortController()
  reply = async () => { controller.abort(new Error('operator cancelled')); await new Promise<void>(resolve => { released.push(resolve) }) }
  t.equal(await codeOf(sendOffer(primary, address, sampleDescription(), { signal: controller.signal })), 'P2P_ABORTED', 'cancelled while waiting for the answer')
  t.equal(await codeOf(sendOffer(primary, address, sampleDescription(), { signal: controller.signal })), 'P2P_ABORTED', 'cancelled before it started')

  t.equal(await codeOf(sendOffer(primary, loopbackAddress(bare), sampleDescription())), 'P2P_VERSION_UNSUPPORTED', 'a box that does not serve the protocol')
  t.equal(await codeOf(sendOffer(primary, goneAddress, sampleDescription())), 'P2P_PEER_UNREACHABLE', 'nothing listens at the address')

  await t.rejects(sendOffer(primary, address, sampleDescription({ term: -1 })), TypeError, 'a request this box would refuse is a programmer error, not sent')
})

t.test('stop() aborts the registrar calls in flight, ends their streams and removes the handler', async t => {
  const dir = await tempDir(t)
  const replica = await startReplicaBox(t, join(dir, 'replica.key'), new RecordingRegistrar())
  const primary = await startNode(t, join(dir, 'primary.key'))
  replica.policy.paired.add(primary.peerId.toString())
  const address = loopbackAddress(replica.node)
  replica.registrar.hold = true
  const sent = codeOf(sendOffer(primary, address, sampleDescription()))
  await replica.registrar.whenHeld(1)
  await replica.receiver.stop()
  t.equal(replica.registrar.heldSignals[0]?.aborted, true, 'the registrar was told to stop')
  t.equal(await sent, 'P2P_STREAM_CLOSED', 'the primary sees its stream end (it sends the whole request again later)')
  t.equal(await codeOf(sendOffer(primary, address, sampleDescription())), 'P2P_VERSION_UNSUPPORTED', 'the handler is gone')
})

/** A primary's handler that records each notice and reversal, or refuses with `refuse`. */
class RecordingPrimary implements RelationshipPrimary {
  readonly calls: Array<{ peer: string, notice: FailoverNotice }> = []
  readonly reversals: Array<{ peer: string, reversal: Reversal }> = []
  refuse: P2pErrorCode | undefined
  async failedOver (peer: string, notice: FailoverNotice): Promise<void> {
    if (this.refuse !== undefined) throw new P2pError(this.refuse, 'refused')
    this.calls.push({ peer, notice })
  }

  async reverse (peer: string, reversal: Reversal): Promise<void> {
    if (this.refuse !== undefined) throw new P2pError(this.refuse, 'refused')
    this.reversals.push({ peer, reversal })
  }
}

/** A Replica's planned failover handler that records each request, or refuses with `refuse`. */
class RecordingPlanned implements PlannedFailoverTarget {
  readonly calls: Array<{ peer: string, request: PlannedFailover }> = []
  refuse: P2pErrorCode | undefined
  async plannedFailover (peer: string, request: PlannedFailover): Promise<void> {
    if (this.refuse !== undefined) throw new P2pError(this.refuse, 'refused')
    this.calls.push({ peer, request })
  }
}

t.test('a planned failover goes to the Replica\'s planned handler, a reversal to the old primary\'s handler; refusals travel', async t => {
  const dir = await tempDir(t)
  const primaryHandler = new RecordingPrimary()
  const planned = new RecordingPlanned()
  const box = await startReplicaBox(t, join(dir, 'box.key'), new RecordingRegistrar(), undefined, primaryHandler, planned)
  const other = await startNode(t, join(dir, 'other.key'))
  const peer = other.peerId.toString()
  box.policy.paired.add(peer)
  const address = loopbackAddress(box.node)
  const request = { relationship: 'web-1', term: 3, root: 'cd'.repeat(32) }
  const reversal: Reversal = { ...sampleDescription({ term: 4 }), force: true, base: { root: 'cd'.repeat(32), time: 1_800_000_000_000 } }

  t.same(await sendPlannedFailover(other, address, request), { t: 'accepted' })
  t.same(planned.calls, [{ peer, request }], 'the planned handler got it with the primary\'s authenticated peer id')
  t.same(await sendReverse(other, address, reversal), { t: 'accepted', addresses: box.node.getMultiaddrs().map(String) }, 'the old primary answers where it listens')
  t.same(primaryHandler.reversals, [{ peer, reversal }], 'the primary handler got the reversal whole')
  t.same(box.registrar.calls, [], 'the registrar saw neither')

  for (const code of [P2pErrorCode.P2P_FAILOVER_REFUSED, P2pErrorCode.P2P_STALE_TERM]) {
    planned.refuse = code
    t.equal(await codeOf(sendPlannedFailover(other, address, request)), code, `a planned failover's refusal travels: ${code}`)
  }
  for (const code of [P2pErrorCode.P2P_VM_RUNNING, P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN]) {
    primaryHandler.refuse = code
    t.equal(await codeOf(sendReverse(other, address, reversal)), code, `a reversal's refusal travels: ${code}`)
  }

  // A box without the handlers answers that it holds no such relationship.
  const bare = await startReplicaBox(t, join(dir, 'bare.key'), new RecordingRegistrar())
  bare.policy.paired.add(peer)
  t.equal(await codeOf(sendPlannedFailover(other, loopbackAddress(bare.node), request)), 'P2P_RELATIONSHIP_UNKNOWN')
  t.equal(await codeOf(sendReverse(other, loopbackAddress(bare.node), reversal)), 'P2P_RELATIONSHIP_UNKNOWN')
  await t.rejects(sendPlannedFailover(other, address, { ...request, root: 'x' }), TypeError, 'a request this box would refuse is not sent')
})

t.test('the failover notice goes from the Replica to its primary\'s handler, never to the registrar', async t => {
  const dir = await tempDir(t)
  const handler = new RecordingPrimary()
  // The box that receives is the primary here: it serves the same protocol, with a primary handler beside its registrar.
  const primaryBox = await startReplicaBox(t, join(dir, 'primary.key'), new RecordingRegistrar(), undefined, handler)
  const replica = await startNode(t, join(dir, 'replica.key'))
  const peer = replica.peerId.toString()
  primaryBox.policy.paired.add(peer)
  const address = loopbackAddress(primaryBox.node)
  const notice = { relationship: 'web-1', term: 4, at: 1_800_000_000_000 }

  let ended = primaryBox.nextRequest()
  t.same(await sendFailedOver(replica, address, notice), { t: 'accepted' }, 'the primary accepts')
  t.same(handler.calls, [{ peer, notice }], 'its handler got the notice with the Replica\'s authenticated peer id')
  t.same(await ended, { peer, request: 'failed-over', relationship: 'web-1', outcome: 'accepted' })
  t.same(primaryBox.registrar.calls, [], 'the registrar (this box as Replica) saw nothing')

  for (const code of [P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, P2pErrorCode.P2P_STALE_TERM, P2pErrorCode.P2P_RELATIONSHIP_FAILED]) {
    handler.refuse = code
    ended = primaryBox.nextRequest()
    t.equal(await codeOf(sendFailedOver(replica, address, notice)), code, `a refusal travels: ${code}`)
    t.equal((await ended).outcome, code)
  }

  // A box with no primary handler (it is the primary of nothing) answers that it holds no such relationship.
  const bare = await startReplicaBox(t, join(dir, 'bare.key'), new RecordingRegistrar())
  bare.policy.paired.add(peer)
  t.equal(await codeOf(sendFailedOver(replica, loopbackAddress(bare.node), notice)), 'P2P_RELATIONSHIP_UNKNOWN')
  t.same(bare.registrar.calls, [])

  // An unpaired Replica is cut off like any stranger.
  const stranger = await startNode(t, join(dir, 'stranger.key'))
  const before = handler.calls.length
  t.match(await codeOf(sendFailedOver(stranger, address, notice)), /^P2P_(PEER_UNREACHABLE|STREAM_CLOSED)$/)
  t.equal(handler.calls.length, before, 'the handler saw nothing')

  await t.rejects(sendFailedOver(replica, address, { ...notice, term: -1 }), TypeError, 'a notice this box would refuse is not sent')
})
