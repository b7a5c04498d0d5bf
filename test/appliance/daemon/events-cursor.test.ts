/**
 * The event log read from a cursor through a real Appliance (its
 * listEvents): an answer's cursor gives exactly what was appended after
 * it, in pages, by name too; `after` and `cursor` together, or a cursor
 * not made by the log, are APP_USAGE; a cursor the log no longer holds
 * (the file cut under it) starts again at the oldest event with `reset`.
 */
import t from 'tap'
import { PassThrough } from 'node:stream'
import { truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { CURRENT_FILE } from '../../../appliance/events/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

t.test('listEvents with a cursor: only what was appended after it', async t => {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const app = await Appliance.start({ dataDir, log: new PassThrough() })
  t.teardown(async () => { await app.stop() })

  const start = await app.listEvents({ last: 1 })
  const head = start.events.at(-1)?.seq ?? 0
  t.same([start.more, start.reset], [false, false])
  t.same((await app.listEvents({ cursor: start.cursor })).events, [], 'nothing appended yet')
  for (let i = 0; i < 7; i++) await app.events.append({ vm: i % 2 === 0 ? 'web' : 'db', kind: 'note', reason: `note ${i}` })
  const page = await app.listEvents({ cursor: start.cursor, last: 5 })
  t.same(page.events.map(e => e.seq), [head + 1, head + 2, head + 3, head + 4, head + 5], 'the first five appended')
  t.ok(page.more)
  const rest = await app.listEvents({ cursor: page.cursor, last: 5 })
  t.same(rest.events.map(e => e.seq), [head + 6, head + 7])
  t.notOk(rest.more)
  t.same(rest.events.map(e => e.reason), ['note 5', 'note 6'])
  const web = await app.listEvents({ cursor: start.cursor, name: 'web' })
  t.same(web.events.map(e => e.reason), ['note 0', 'note 2', 'note 4', 'note 6'], 'by name: the named ones among what was read')
  t.equal(web.cursor, rest.cursor, 'read to the same end')

  const all = await app.listEvents({ cursor: '', last: 1000 })
  t.same(all.events, (await app.listEvents({ last: 1000 })).events, "'' reads from the beginning")

  await t.rejects(app.listEvents({ cursor: start.cursor, after: 1 }), { code: 'APP_USAGE' })
  await t.rejects(app.listEvents({ cursor: 'f1' }), { code: 'APP_USAGE' })
  await t.rejects(app.listEvents({ cursor: start.cursor, last: 0 }), { code: 'APP_USAGE' })

  // the file cut under a cursor (a restore from an older copy): the read starts again
  await truncate(join(app.layout.events, CURRENT_FILE), 0)
  await app.events.append({ kind: 'note', reason: 'after the cut' })
  const cut = await app.listEvents({ cursor: rest.cursor })
  t.ok(cut.reset, 'reset')
  t.same(cut.events.map(e => e.reason), ['after the cut'], 'the log as it is now')
})
