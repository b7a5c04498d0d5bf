/**
 * The live channel on a real listen (127.0.0.1, port 0) read by a plain
 * http client: the snapshot on connect; a change in the service gives one
 * new snapshot, no change (or only ages) none; new events arrive once; a
 * reconnection with Last-Event-ID gets what it missed; one poll serves
 * every stream; the stream limit, a bad Origin, a client that does not
 * read, and close() ending the streams. The poll and the heartbeat run on
 * an injected clock the test ticks: "no frame" is shown by the next
 * heartbeat arriving first, never by waiting.
 */
import t, { type Test } from 'tap'
import type { Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import type { EventInfo } from '../../appliance/service/index.ts'
import { LIVE_HEARTBEAT_MS, LIVE_POLL_MS, LIVE_REFRESH_MS } from '../../web/live-hub.ts'
import { registerLiveRoutes, type LiveOptions } from '../../web/live.ts'
import { FakeService, JOB, REPLICA_STATUS, REPLICATION, STATUS, TEST } from './fixtures/fake-service.ts'
import { plainApp } from './fixtures/plain-app.ts'
import { ManualClock, nextFrame, nothingPending } from './fixtures/live-clock.ts'
import { openSse } from './fixtures/sse-client.ts'

const ALLOWED = 'https://box-a.local:8443'

async function serve (t: Test, options: Partial<LiveOptions> = {}): Promise<{ service: FakeService, clock: ManualClock, port: number, hub: ReturnType<typeof registerLiveRoutes>, close: () => Promise<void>, origins: Array<string | undefined>, server: Server }> {
  const service = new FakeService()
  const clock = new ManualClock()
  const app = plainApp()
  const origins: Array<string | undefined> = []
  const hub = registerLiveRoutes(app, service, { checkOrigin: o => { origins.push(o); return o === ALLOWED }, clock, ...options })
  await app.listen({ host: '127.0.0.1', port: 0 })
  let closed = false
  const close = async (): Promise<void> => { if (!closed) { closed = true; await app.close() } }
  t.teardown(close)
  return { service, clock, port: (app.server.address() as AddressInfo).port, hub, close, origins, server: app.server }
}

const snapshotOf = (service: FakeService): unknown => ({ status: STATUS, replication: service.replication_, replica: service.replica_, jobs: service.jobs_, tests: service.tests_ })

const event = (seq: number, reason = `event ${seq}`): EventInfo => ({ seq, time: '2026-01-01T00:00:02.000Z', relationship: 'vm1', vm: 'vm1', kind: 'note', reason })

t.test('a snapshot on connect, then a new one only when something changed', async t => {
  const { service, clock, port } = await serve(t)
  const s = await openSse(port)
  t.equal(s.status, 200)
  t.match(s.headers['content-type'], /^text\/event-stream/)
  t.equal(s.headers['cache-control'], 'no-store')
  t.equal(s.headers['content-encoding'], 'identity', 'never compressed')
  t.same(await s.next(), { retry: 2000 }, 'the browser is told when to reconnect')
  t.same(await s.next(), { event: 'snapshot', id: '2', data: { status: STATUS, replication: [REPLICATION], replica: [REPLICA_STATUS], jobs: [JOB], tests: [TEST] } }, 'the id is the newest event seq')

  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' }, 'no change: no snapshot')

  service.replication_ = [{ ...REPLICATION, state: 'suspended', stateReason: 'suspended by the operator', reason: 'replicating; the newest recovery point is 5 s old' }]
  service.replica_ = [{ ...REPLICA_STATUS, healthReason: 'replicating; the newest recovery point is 40 s old' }]
  await clock.tick(LIVE_POLL_MS)
  t.same(await nextFrame(s), { event: 'snapshot', id: '2', data: snapshotOf(service) }, 'a change: one snapshot')
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' }, 'and only one')

  const [r] = service.replication_
  service.replication_ = [{ ...r!, reason: 'replicating; the newest recovery point is 2 min old', achievedRpo: { ...r!.achievedRpo, currentMs: 120_000, worstMs: 120_000 }, dataAtRisk: { bytes: 0, seconds: 120 } }]
  service.replica_ = [{ ...service.replica_[0]!, achievedRpoMs: 99_000, healthReason: 'replicating; the newest recovery point is 1 h 5 min old' }]
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' }, 'only ages changed: no snapshot')
  clock.time += LIVE_REFRESH_MS
  await clock.tick(LIVE_POLL_MS)
  t.same(await nextFrame(s), { event: 'snapshot', id: '2', data: snapshotOf(service) }, 'but once LIVE_REFRESH_MS passed, the aged one is sent')
  clock.time += LIVE_REFRESH_MS
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' }, 'not again when nothing moved at all')
  s.close()
})

t.test('new events arrive once, each frame with the newest seq as its id', async t => {
  const { service, clock, port } = await serve(t)
  const s = await openSse(port)
  t.match(await nextFrame(s), { event: 'snapshot', id: '2' })
  service.events_.push(event(3), event(4))
  await clock.tick(LIVE_POLL_MS)
  t.same(await nextFrame(s), { event: 'events', id: '4', data: { events: [event(3), event(4)] } })
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' }, 'not twice')
  service.events_.push(event(5))
  await clock.tick(LIVE_POLL_MS)
  t.same(await nextFrame(s), { event: 'events', id: '5', data: { events: [event(5)] } })
  t.same(service.calls.filter(c => c[0] === 'listEvents').at(-1), ['listEvents', { cursor: 'f4', last: 1000 }], 'asked for what follows the last one read, by the hub\'s cursor')
  s.close()
})

t.test('the hub reads the log from its cursor: many pages in one poll, a reset sends nothing twice', async t => {
  const { service, clock, port } = await serve(t)
  const s = await openSse(port)
  const other = await openSse(port)
  for (const stream of [s, other]) t.match(await nextFrame(stream), { event: 'snapshot', id: '2' })
  for (let seq = 3; seq <= 2502; seq++) service.events_.push(event(seq))
  service.calls.length = 0
  await clock.tick(LIVE_POLL_MS)
  t.same(service.calls.filter(c => c[0] === 'listEvents').map(c => (c[1] as { cursor: string }).cursor), ['f2', 'f1002', 'f2002'], 'one read a page, each from the last one\'s cursor')
  for (const stream of [s, other]) {
    const got: number[] = []
    while (got.length < 2500) {
      const f = await nextFrame(stream) as { id: string, data: { events: EventInfo[] } }
      got.push(...f.data.events.map(e => e.seq))
      t.equal(f.id, String(got.at(-1)), 'each frame\'s id is its newest seq')
    }
    t.same(got, Array.from({ length: 2500 }, (_, i) => i + 3), 'every event once, in order')
  }

  // the log starts over under the cursor (the fake drops the cursor's seq): re-read from the oldest, only newer seqs sent
  service.events_ = [event(2400), event(2501), event(2503)]
  await clock.tick(LIVE_POLL_MS)
  t.same(service.calls.filter(c => c[0] === 'listEvents').at(-1), ['listEvents', { cursor: 'f2502', last: 1000 }])
  for (const stream of [s, other]) t.same(await nextFrame(stream), { event: 'events', id: '2503', data: { events: [event(2503)] } }, 'only the new one')
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' }, 'nothing twice')
  s.close()
  other.close()
})

t.test('a reconnection with Last-Event-ID gets the events it missed', async t => {
  const { service, clock, port } = await serve(t)
  service.events_.push(event(3), event(4))
  const s = await openSse(port, { 'last-event-id': '2' })
  t.same(await nextFrame(s), { event: 'snapshot', id: '2', data: snapshotOf(service) }, 'the snapshot first')
  t.same(await nextFrame(s), { event: 'events', id: '4', data: { events: [event(3), event(4)] } }, 'then what it missed')
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' })

  const late = await openSse(port, { 'last-event-id': '3' })
  t.match(await nextFrame(late), { event: 'snapshot', id: '3' })
  t.same(await nextFrame(late), { event: 'events', id: '4', data: { events: [event(4)] } })

  const ahead = await openSse(port, { 'last-event-id': '999' })
  t.match(await nextFrame(ahead), { event: 'snapshot', id: '4' }, 'an id past the newest (a log started again) counts from the newest')
  service.events_.push(event(5))
  await clock.tick(LIVE_POLL_MS)
  for (const stream of [s, late, ahead]) t.same(await nextFrame(stream), { event: 'events', id: '5', data: { events: [event(5)] } }, 'every stream gets the new one')

  for (const bad of ['abc', '-1', '1'.repeat(16)]) {
    const r = await openSse(port, { 'last-event-id': bad })
    t.equal(r.status, 400, bad)
    t.match(r.json, { code: 'WEB_BAD_REQUEST' })
  }
  const query = await openSse(port, {}, '/v1/live?x=1')
  t.match(query.json, { code: 'WEB_BAD_REQUEST' }, 'no query')
  for (const stream of [s, late, ahead]) stream.close()
})

t.test('one poll serves every stream; the poll stops with the last stream', async t => {
  const { service, clock, port, hub } = await serve(t)
  const streams = [await openSse(port), await openSse(port), await openSse(port)]
  for (const s of streams) t.match(await nextFrame(s), { event: 'snapshot' })
  t.equal(service.calls.filter(c => c[0] === 'status').length, 1, 'one snapshot for the three')
  t.equal(clock.running(LIVE_POLL_MS), 1, 'one poll')
  service.calls.length = 0
  service.jobs_ = [{ ...JOB, state: 'running', endedAt: null }]
  await clock.tick(LIVE_POLL_MS)
  t.same(service.calls.map(c => c[0]).sort(), ['failoverTests', 'jobs', 'listEvents', 'replicaStatus', 'replicationStatus', 'status'], 'each part asked once')
  for (const s of streams) t.match(await nextFrame(s), { event: 'snapshot', data: { jobs: [{ state: 'running' }] } })
  for (const s of streams) s.close()
  while (hub.size > 0) await new Promise(resolve => setImmediate(resolve))
  t.equal(clock.running(LIVE_POLL_MS), 0, 'no stream, no poll')
  t.equal(clock.running(LIVE_HEARTBEAT_MS), 0)
})

t.test('at most maxClients streams: the next is WEB_LIVE_BUSY until one closes', async t => {
  const { port, hub } = await serve(t, { maxClients: 2 })
  const a = await openSse(port)
  const b = await openSse(port)
  const refused = await openSse(port)
  t.equal(refused.status, 503)
  t.match(refused.json, { code: 'WEB_LIVE_BUSY' })
  a.close()
  while (hub.size > 1) await new Promise(resolve => setImmediate(resolve))
  const c = await openSse(port)
  t.equal(c.status, 200, 'a slot came free')
  b.close()
  c.close()
})

t.test('a page of another origin is refused; the box\'s own and none are served', async t => {
  const { port, origins, service } = await serve(t)
  const evil = await openSse(port, { origin: 'https://evil.example' })
  t.equal(evil.status, 403)
  t.match(evil.json, { code: 'WEB_ORIGIN_INVALID' })
  t.same(service.calls, [], 'the service was not asked')
  const own = await openSse(port, { origin: ALLOWED })
  t.equal(own.status, 200)
  const none = await openSse(port)
  t.equal(none.status, 200, 'no Origin (a same-origin EventSource)')
  t.same(origins, ['https://evil.example', ALLOWED], 'checkOrigin is asked only about a present Origin')
  own.close()
  none.close()
})

t.test('a poll the service fails sends nothing and keeps the streams; the next one goes on', async t => {
  const { service, clock, port } = await serve(t)
  const s = await openSse(port)
  t.match(await nextFrame(s), { event: 'snapshot' })
  service.failWith = { code: 'APP_UNEXPECTED', message: 'stopping' }
  await clock.tick(LIVE_POLL_MS)
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(s, clock), { comment: 'ping' }, 'nothing sent, the stream open')
  service.failWith = undefined
  service.tests_ = []
  service.events_.push(event(3))
  await clock.tick(LIVE_POLL_MS)
  t.match(await nextFrame(s), { event: 'snapshot', data: { tests: [] } })
  t.match(await nextFrame(s), { event: 'events', id: '3' })
  s.close()
})

t.test('a client gone while its snapshot is read leaves no stream behind', async t => {
  const { service, clock, port, hub, server } = await serve(t)
  let reached!: () => void
  const asked = new Promise<void>(resolve => { reached = resolve })
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  service.status = async () => { reached(); await gate; return STATUS }
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.write('GET /v1/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  await asked
  socket.destroy()
  const open = async (): Promise<number> => await new Promise((resolve, reject) => { server.getConnections((err, n) => { if (err) reject(err); else resolve(n) }) })
  while (await open() > 0) await new Promise(resolve => setImmediate(resolve))
  release()
  const next = await openSse(port)
  t.match(await nextFrame(next), { event: 'snapshot' }, 'a stream after it: the join before it has ended')
  t.equal(hub.size, 1, 'only that one')
  next.close()
  while (hub.size > 0) await new Promise(resolve => setImmediate(resolve))
  t.equal(clock.running(LIVE_POLL_MS), 0, 'no poll left running')
})

t.test('a failing service answers its error; the slot is given back', async t => {
  const { port, service, hub } = await serve(t, { maxClients: 1 })
  service.failWith = { code: 'APP_DATA_NOT_INITIALIZED', message: 'no data' }
  const r = await openSse(port)
  t.equal(r.status, 409)
  t.match(r.json, { code: 'APP_DATA_NOT_INITIALIZED' })
  service.failWith = undefined
  const s = await openSse(port)
  t.equal(s.status, 200)
  t.equal(hub.size, 1)
  s.close()
})

t.test('a client that does not read is cut once its backlog passes the bound', async t => {
  const { service, clock, port, hub } = await serve(t, { maxBufferBytes: 64 * 1024 })
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write('GET /v1/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n')
  socket.pause()
  while (hub.size === 0) await new Promise(resolve => setImmediate(resolve))
  let seq = service.events_.at(-1)!.seq
  for (let i = 0; i < 1000 && hub.size > 0; i++) {
    for (let n = 0; n < 1000; n++) service.events_.push(event(++seq, 'r'.repeat(400)))
    await clock.tick(LIVE_POLL_MS)
    await new Promise(resolve => setImmediate(resolve))
  }
  t.equal(hub.size, 0, 'the stream was cut')
})

t.test('close() ends every stream and does not wait for them', async t => {
  const { port, close, hub } = await serve(t)
  const streams = [await openSse(port), await openSse(port)]
  for (const s of streams) t.match(await nextFrame(s), { event: 'snapshot' })
  await close()
  for (const s of streams) t.same(await nextFrame(s), { end: true }, 'the stream ended')
  t.equal(hub.size, 0)
  t.notOk(hub.reserve(), 'no stream after close')
})
