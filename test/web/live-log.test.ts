/**
 * The live channel over a real Appliance (its event log on real files):
 * each event appended reaches every stream once, in order; the log cut
 * under the hub's cursor (a reset: re-read from the oldest event) sends
 * only what is new, nothing twice.
 */
import t from 'tap'
import { PassThrough } from 'node:stream'
import { truncate } from 'node:fs/promises'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { Appliance, initDataDir } from '../../appliance/daemon/index.ts'
import { CURRENT_FILE } from '../../appliance/events/index.ts'
import type { EventInfo } from '../../appliance/service/index.ts'
import { LIVE_POLL_MS } from '../../web/live-hub.ts'
import { registerLiveRoutes } from '../../web/live.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { ManualClock, nextFrame, nothingPending } from './fixtures/live-clock.ts'
import { plainApp } from './fixtures/plain-app.ts'
import { openSse, type SseStream } from './fixtures/sse-client.ts'

/** The seqs and reasons of the next `events` frames, until `n` events came. */
async function events (s: SseStream, n: number): Promise<EventInfo[]> {
  const got: EventInfo[] = []
  while (got.length < n) {
    const f = await nextFrame(s)
    if ('event' in f && f.event === 'events') got.push(...(f.data as { events: EventInfo[] }).events)
  }
  return got
}

t.test('every appended event reaches every stream once; a log cut under the cursor sends nothing twice', async t => {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const box = await Appliance.start({ dataDir, log: new PassThrough() })
  t.teardown(async () => { await box.stop() })
  const clock = new ManualClock()
  const app = plainApp()
  registerLiveRoutes(app, box, { checkOrigin: () => false, clock })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  const port = (app.server.address() as AddressInfo).port

  const streams = [await openSse(port), await openSse(port)]
  const head = Number((await nextFrame(streams[0]!) as { id: string }).id)
  await nextFrame(streams[1]!)
  for (let i = 0; i < 30; i++) {
    await box.events.append({ vm: 'web', kind: 'note', reason: `note ${i}` })
    if (i % 7 === 0) await clock.tick(LIVE_POLL_MS)
  }
  await clock.tick(LIVE_POLL_MS)
  for (const s of streams) {
    const got = await events(s, 30)
    t.same(got.map(e => e.seq), Array.from({ length: 30 }, (_, i) => head + 1 + i), 'each once, in order')
    t.same(got.map(e => e.reason), Array.from({ length: 30 }, (_, i) => `note ${i}`))
  }
  await clock.tick(LIVE_POLL_MS)
  t.same(await nothingPending(streams[0]!, clock), { comment: 'ping' }, 'nothing more')

  // the current file cut to nothing under the hub's cursor: the next read starts again at the oldest event
  await truncate(join(box.layout.events, CURRENT_FILE), 0)
  await box.events.append({ vm: 'web', kind: 'note', reason: 'after the cut' })
  await clock.tick(LIVE_POLL_MS)
  for (const s of streams) t.same((await events(s, 1)).map(e => [e.seq, e.reason]), [[head + 31, 'after the cut']], 'only the new one')
  await clock.tick(LIVE_POLL_MS)
  for (const s of streams) t.same(await nothingPending(s, clock), { comment: 'ping' }, 'nothing twice')
  for (const s of streams) s.close()
})
