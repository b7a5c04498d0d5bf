/**
 * `/metrics`' cycle figures kept between scrapes (web/metrics-cycles.ts),
 * over a real Appliance and its event log on real files: on a log of many
 * cycles, the incremental figures and the whole exposition equal what the
 * full computation (the newest 1000 events read at every scrape) gives, at
 * the first scrape, after more cycles, and after the log was cut under the
 * cursor; a scrape after the first reads only what was appended; a read
 * the service fails keeps the figures and the cursor.
 */
import t from 'tap'
import { PassThrough } from 'node:stream'
import { mkdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Appliance, dataLayout, initDataDir } from '../../appliance/daemon/index.ts'
import { CURRENT_FILE, cycleEndInput, type CycleRecord } from '../../appliance/events/index.ts'
import { MAX_EVENTS_SHOWN, type ApplianceService, type EventInfo, type EventsRequest, type ReplicationInfo } from '../../appliance/service/index.ts'
import { registerMetricsRoutes } from '../../web/metrics.ts'
import { CycleFigures, lastCycles } from '../../web/metrics-cycles.ts'
import { metricFamilies, readMetricsInput } from '../../web/metrics-families.ts'
import { exposition } from '../../web/metrics-format.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { FakeService, REPLICATION } from './fixtures/fake-service.ts'
import { plainApp } from './fixtures/plain-app.ts'

const RELATIONSHIPS = ['rel-0', 'rel-1', 'rel-2']
const T0 = 1_700_000_000_000

const record = (n: number, outcome: 'ok' | 'failed'): CycleRecord => ({
  start: T0 + n * 30_000, end: T0 + n * 30_000 + 1000 + (n % 17) * 100, outcome, bytesSent: 4096 * (n % 101), bytesChanged: 8192 * (n % 101),
  consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false, ...(outcome === 'failed' ? { failure: 'network' as const, code: 'P2P_DIAL_FAILED' } : {})
})

/** The begin and end lines of `cycles` cycles over RELATIONSHIPS from seq `seq`, every fifth failed. */
function cycleLines (seq: number, cycles: number): string {
  const lines: string[] = []
  for (let n = 0; n < cycles; n++) {
    const relationship = RELATIONSHIPS[n % 3]!
    const vm = `vm${n % 3}`
    const begin = seq++
    const time = T0 + n * 30_000
    lines.push(JSON.stringify({ seq: begin, time, relationship, vm, kind: 'cycle', reason: 'cycle started', phase: 'begin' }))
    const end = cycleEndInput(record(n, n % 5 === 4 ? 'failed' : 'ok'), 'cycle done')
    lines.push(JSON.stringify({ seq: seq++, time: time + 1000, relationship, vm, kind: 'cycle', ...end, phase: 'end', begin }))
  }
  return lines.join('\n') + '\n'
}

t.test('incremental figures equal the full computation on a log of many cycles; later scrapes read only what was appended', async t => {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  // 3000 cycles, 6000 events, written before the daemon opens the log
  await mkdir(dataLayout(dataDir).events, { recursive: true })
  await writeFile(join(dataLayout(dataDir).events, CURRENT_FILE), cycleLines(1, 3000), { mode: 0o600 })
  const box = await Appliance.start({ dataDir, log: new PassThrough() })
  t.teardown(async () => { await box.stop() })

  // the box's own answers, with a relationship per cycled one so the cycle figures are in the output; listEvents recorded
  const asked: Array<{ request: EventsRequest | undefined, events: number }> = []
  const replication: ReplicationInfo[] = RELATIONSHIPS.map((relationship, i) => ({ ...REPLICATION, relationship, vm: `vm${i}` }))
  const service = new Proxy(box, {
    get (target, prop) {
      if (prop === 'replicationStatus') return async () => replication
      if (prop === 'listEvents') {
        return async (request?: EventsRequest) => {
          const r = await target.listEvents(request)
          asked.push({ request, events: r.events.length })
          return r
        }
      }
      const v = Reflect.get(target, prop) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    }
  }) as unknown as ApplianceService

  const app = plainApp()
  registerMetricsRoutes(app, service, { allow: () => true })
  t.teardown(async () => { await app.close() })
  const scrape = async (): Promise<string> => (await app.inject({ method: 'GET', url: '/metrics' })).body
  /** The exposition as the full computation made it: the newest MAX_EVENTS_SHOWN events read at the scrape. */
  const full = async (): Promise<string> => {
    const newest = (await box.listEvents({ last: MAX_EVENTS_SHOWN })).events
    const figures = { update: async () => lastCycles(newest) } as unknown as CycleFigures
    return exposition(metricFamilies(await readMetricsInput(service, figures)))
  }
  const everything = async (): Promise<ReturnType<typeof lastCycles>> => {
    const events = []
    for (let cursor = '', more = true; more;) {
      const r = await box.listEvents({ cursor, last: MAX_EVENTS_SHOWN })
      events.push(...r.events)
      cursor = r.cursor
      more = r.more
    }
    return lastCycles(events)
  }

  const first = await scrape()
  t.match(first, /tandem_replication_last_cycle_bytes\{vm="vm0",relationship="rel-0"/, 'the cycle figures are there')
  t.equal(first, await full(), 'the first scrape: the same exposition as the full computation')
  t.ok(asked.filter(a => a.request?.cursor !== undefined).length >= 6, 'the first scrape read the whole log, a page at a time')

  const figures = new CycleFigures()
  t.same(await figures.update(service), await everything(), 'the figures are those of the whole log')
  asked.length = 0
  t.same(await figures.update(service), await everything(), 'and stay so')
  t.same(asked.map(a => a.events), [0], 'a scrape with nothing new reads nothing new')

  // more cycles, appended by the daemon's log between scrapes
  for (let round = 0; round < 3; round++) {
    for (let n = 0; n < 7; n++) {
      const relationship = RELATIONSHIPS[n % 3]!
      const begin = await box.events.begin({ relationship, vm: `vm${n % 3}`, kind: 'cycle', reason: 'cycle started' })
      await box.events.end(begin.seq, cycleEndInput(record(3000 + round * 7 + n, n === 5 ? 'failed' : 'ok'), 'cycle done'))
    }
    asked.length = 0
    const text = await scrape()
    t.same(asked.filter(a => a.request?.cursor !== undefined).map(a => a.events), [14], `round ${round}: the scrape read the 14 new events only`)
    t.equal(text, await full(), `round ${round}: the same exposition as the full computation`)
  }

  // the log cut under the cursor: the next scrape rebuilds from the whole (new) log once
  await truncate(join(box.layout.events, CURRENT_FILE), 0)
  const begin = await box.events.begin({ relationship: 'rel-1', vm: 'vm1', kind: 'cycle', reason: 'cycle started' })
  await box.events.end(begin.seq, cycleEndInput(record(5000, 'ok'), 'cycle done'))
  const after = await scrape()
  t.equal(after, await full(), 'after a reset: the same as the full computation')
  t.notMatch(after, /tandem_replication_last_cycle_bytes\{vm="vm0"/, 'what left the log left the figures')
  t.equal(/tandem_replication_last_cycle_bytes\{vm="vm1",relationship="rel-1",role="primary",peer="[^"]+"\} (\d+)\n/.exec(after)?.[1], String(record(5000, 'ok').bytesSent), 'the one cycle left')
})

t.test('a read the service fails keeps the figures and the cursor; the next read goes on from it', async t => {
  const service = new FakeService()
  const cycle = (seq: number, bytesSent: number): EventInfo => ({ seq, time: '2026-01-01T00:05:00.000Z', relationship: 'vm1', vm: 'vm1', kind: 'cycle', reason: 'point committed', phase: 'end', begin: 2, outcome: 'ok', data: { start: 1000, end: 3000, bytesSent } })
  service.events_.push(cycle(3, 100))
  const figures = new CycleFigures()
  t.same(await figures.update(service), new Map([['vm1', { bytes: 100, seconds: 2 }]]))
  service.events_.push(cycle(4, 200))
  service.failWith = { code: 'APP_UNEXPECTED', message: 'stopping' }
  t.same(await figures.update(service), new Map([['vm1', { bytes: 100, seconds: 2 }]]), 'kept as they were')
  service.failWith = undefined
  service.calls.length = 0
  t.same(await figures.update(service), new Map([['vm1', { bytes: 200, seconds: 2 }]]), 'then the new cycle')
  t.same(service.calls, [['listEvents', { cursor: 'f3', last: MAX_EVENTS_SHOWN }]], 'read from where the last good read stopped')
})
