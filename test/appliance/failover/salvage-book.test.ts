/**
 * Salvage records on disk (appliance/failover/salvage-book.ts): written and
 * read back by a new book, new ids unused, the points they pin, an unknown
 * id APP_SALVAGE_NOT_FOUND, a preparation with its disks' identities, a
 * record written before those fields read as before, and damaged records reported
 * (APP_FAILOVER_FILE_CORRUPT) and left as they are, never rewritten.
 */
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SalvageBook, salvageInfo, type SalvageRecord } from '../../../appliance/failover/salvage-book.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const PEER = '12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV'
const TIME = Date.UTC(2030, 0, 2, 3, 4, 5)

function record (book: SalvageBook, over: Partial<SalvageRecord> = {}): SalvageRecord {
  return {
    id: book.newId('web', TIME),
    relationship: 'web',
    vm: 'web',
    peer: PEER,
    state: 'kept',
    prepared: false,
    time: TIME,
    base: { root: 'ab'.repeat(32), time: TIME - 60_000 },
    disks: [{ name: 'disk0', path: '/srv/web.raw', format: 'raw', size: 1048576, identity: null }],
    point: 4,
    root: 'cd'.repeat(32),
    reason: 'kept',
    ...over
  }
}

t.test('records persist; ids are new; kept points are pinned', async t => {
  const dir = join(await tempDir(t), 'salvage')
  const book = new SalvageBook(dir)
  t.same(await book.open(), [])
  const first = record(book)
  t.equal(first.id, 'web-20300102T030405Z')
  await book.put(first)
  const second = record(book, { state: 'saving', point: null, root: null })
  t.equal(second.id, 'web-20300102T030405Z-2', 'a second copy of the same second gets a counter')
  await book.put(second)
  t.same(book.pinned(PEER, 'web'), [4], 'only a copy with a point pins it')
  t.same(book.pinned('other', 'web'), [])

  const again = new SalvageBook(dir)
  t.same(await again.open(), [])
  t.same(again.list(), [first, second])
  t.match(salvageInfo(again.get(first.id)), { id: first.id, state: 'kept', time: '2030-01-02T03:04:05.000Z', since: '2030-01-02T03:03:05.000Z', point: 4, disks: [{ name: 'disk0', size: 1048576, source: '/srv/web.raw' }] })
  t.throws(() => again.get('web-20000101T000000Z'), { code: 'APP_SALVAGE_NOT_FOUND' })
  await again.remove(first.id)
  t.same((await new SalvageBook(dir).open()), [])
  t.same(again.list().map(r => r.id), [second.id])
})

t.test('a preparation keeps its disks\' identities; a record without the newer fields reads as before', async t => {
  const dir = join(await tempDir(t), 'salvage')
  const book = new SalvageBook(dir)
  await book.open()
  const identity = { size: 1048576, mtimeMs: 1893553445123.456, ctimeMs: 1893553445123.456, ino: 1234567, dev: 2049 }
  const prepared = record(book, { state: 'prepared', prepared: true, base: null, disks: [{ name: 'disk0', path: '/srv/web.raw', format: 'raw', size: 1048576, identity }] })
  await book.put(prepared)
  const older = { ...record(book, { id: 'web-20300102T030406Z' }), disks: [{ name: 'disk0', path: '/srv/web.raw', format: 'raw', size: 1048576 }] } as Partial<SalvageRecord>
  delete older.prepared
  await writeFile(join(dir, 'web-20300102T030406Z.json'), JSON.stringify({ version: 1, ...older }))
  const again = new SalvageBook(dir)
  t.same(await again.open(), [])
  t.same(again.get(prepared.id), prepared, 'identities read back exactly')
  t.match(salvageInfo(again.get(prepared.id)), { state: 'prepared', since: null, point: 4 })
  t.match(again.get('web-20300102T030406Z'), { prepared: false, state: 'kept', disks: [{ identity: null }] })
  t.same(again.pinned(PEER, 'web').sort(), [4, 4], 'a preparation pins its point too')
})

t.test('a damaged record is reported and left as it is', async t => {
  const dir = join(await tempDir(t), 'salvage')
  const book = new SalvageBook(dir)
  await book.open()
  const ok = record(book)
  await book.put(ok)
  const bad = [
    ['web-20300102T030406Z.json', '{"version":1,"id":"web-20300102T030406Z"'],
    ['web-20300102T030407Z.json', JSON.stringify({ version: 1, ...record(book, { id: 'web-20300102T030407Z' }), state: 'lost' })],
    ['web-20300102T030408Z.json', JSON.stringify({ version: 1, ...record(book, { id: 'web-20300102T030409Z' }) })],
    ['web-20300102T030410Z.json', JSON.stringify({ version: 1, ...record(book, { id: 'web-20300102T030410Z' }), disks: [{ name: 'disk0', path: 'relative.raw', format: 'raw', size: null }] })],
    ['web-20300102T030411Z.json', JSON.stringify({ version: 1, ...record(book, { id: 'web-20300102T030411Z', state: 'prepared' }) })],
    ['web-20300102T030412Z.json', JSON.stringify({ version: 1, ...record(book, { id: 'web-20300102T030412Z', prepared: true }) })],
    ['web-20300102T030413Z.json', JSON.stringify({ version: 1, ...record(book, { id: 'web-20300102T030413Z' }), disks: [{ name: 'disk0', path: '/srv/web.raw', format: 'raw', size: null, identity: { size: 1 } }] })]
  ]
  for (const [name, text] of bad) await writeFile(join(dir, name!), text!)
  const again = new SalvageBook(dir)
  const problems = await again.open()
  t.equal(problems.length, bad.length)
  for (const p of problems) t.match(p.err, { code: 'APP_FAILOVER_FILE_CORRUPT' })
  t.same(again.list().map(r => r.id), [ok.id], 'the good one is read')
  t.equal(await readFile(join(dir, bad[0]![0]!), 'utf8'), bad[0]![1], 'left as it is')
})
