/**
 * The persisted relationship table on real files: records survive a reopen
 * with every field, the file is 0600, a damaged file is
 * APP_RELATIONSHIPS_CORRUPT and left as it was, concurrent changes land in
 * call order, a failed write changes nothing.
 */
import t from 'tap'
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  DEFAULT_SETTINGS, RelationshipTable, newRelationship, transitionOrThrow, type Relationship
} from '../../../appliance/relationships/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const T0 = 1_700_000_000_000
const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

function rel (i: number, extra: Partial<Relationship> = {}): Relationship {
  return { ...newRelationship({ id: `rel-${i}`, vm: `vm-${i}`, role: i % 2 === 0 ? 'primary' : 'replica', peer: PEER, settings: DEFAULT_SETTINGS }, T0 + i), ...extra }
}

t.test('put, get, byVm, list and remove survive a reopen, every field kept', async t => {
  const file = join(await tempDir(t), 'relationships.json')
  const table = await RelationshipTable.open(file)
  t.same(table.list(), [], 'a missing file is an empty table')
  const a = transitionOrThrow(transitionOrThrow(rel(0), { kind: 'enable' }, T0 + 10).next, { kind: 'initial-done', point: T0 + 20 }, T0 + 30).next
  const b = transitionOrThrow(transitionOrThrow(rel(1, { settings: { frequency: 'continuous', recoveryPoints: 2, appConsistentEvery: 3_600_000, bandwidth: 10_000_000, initial: { seed: '/media/usb/vm-1.seed' } } }), { kind: 'enable' }, T0).next,
    { kind: 'error', code: 'P2P_DIAL_FAILED', reason: 'the Replica cannot be reached' }, T0 + 40).next
  const c = rel(2, { settings: { ...DEFAULT_SETTINGS, initial: { at: T0 + 3_600_000 } } })
  await table.put(a)
  await table.put(b)
  await table.put(c)
  t.same(table.get('rel-1'), b)
  t.same(table.byVm('vm-0'), a)
  t.equal(table.byVm('nope'), undefined)
  t.equal(await table.remove('rel-2'), true)
  t.equal(await table.remove('rel-2'), false, 'removing twice')

  const again = await RelationshipTable.open(file)
  t.same(again.list(), [a, b], 'the same records, in order')
  const doc = JSON.parse(await readFile(file, 'utf8')) as { version: number, relationships: unknown[] }
  t.equal(doc.version, 1)
  t.equal((await stat(file)).mode & 0o777, 0o600)

  const moved = transitionOrThrow(a, { kind: 'suspend' }, T0 + 50).next
  await again.put(moved)
  t.same((await RelationshipTable.open(file)).list(), [moved, b], 'a replaced record keeps its place')
})

t.test('returned records are copies', async t => {
  const table = await RelationshipTable.open(join(await tempDir(t), 'relationships.json'))
  await table.put(rel(0))
  table.list()[0]!.settings.recoveryPoints = 99
  table.get('rel-0')!.state = 'error'
  t.equal(table.get('rel-0')!.settings.recoveryPoints, 24)
  t.equal(table.get('rel-0')!.state, 'not-enabled')
})

t.test('a damaged file is APP_RELATIONSHIPS_CORRUPT and is left as it was', async t => {
  const good = rel(0)
  const doc = (r: unknown): string => JSON.stringify({ version: 1, relationships: [r] })
  const cases: Array<[string, string | Uint8Array]> = [
    ['empty file', ''],
    ['bad JSON', '{"version": 1, "relationships": ['],
    ['not UTF-8', Uint8Array.from([0x7b, 0xff, 0x7d])],
    ['not an object', '[]'],
    ['wrong version', JSON.stringify({ version: 2, relationships: [] })],
    ['unknown top-level field', JSON.stringify({ version: 1, relationships: [], extra: 1 })],
    ['relationships not an array', JSON.stringify({ version: 1, relationships: {} })],
    ['record not an object', doc('x')],
    ['bad id', doc({ ...good, id: '../x' })],
    ['bad VM name', doc({ ...good, vm: '' })],
    ['unknown role', doc({ ...good, role: 'witness' })],
    ['unknown state', doc({ ...good, state: 'paused' })],
    ['term zero', doc({ ...good, term: 0 })],
    ['reason on two lines', doc({ ...good, reason: 'a\nb' })],
    ['bad code', doc({ ...good, code: 'oops' })],
    ['needsResync missing', doc({ ...good, needsResync: undefined })],
    ['frequency too short', doc({ ...good, settings: { ...good.settings, frequency: 10 } })],
    ['bandwidth a string', doc({ ...good, settings: { ...good.settings, bandwidth: '10M' } })],
    ['relative seed path', doc({ ...good, settings: { ...good.settings, initial: { seed: 'x.seed' } } })],
    ['unknown setting', doc({ ...good, settings: { ...good.settings, turbo: true } })],
    ['negative time', doc({ ...good, lastPointAt: -1 })],
    ['unknown field', doc({ ...good, secret: 1 })],
    ['same id twice', JSON.stringify({ version: 1, relationships: [good, { ...good, vm: 'other' }] })],
    ['same VM twice', JSON.stringify({ version: 1, relationships: [good, { ...good, id: 'other' }] })]
  ]
  for (const [why, content] of cases) {
    const dir = await tempDir(t)
    const file = join(dir, 'relationships.json')
    await writeFile(file, content, { mode: 0o600 })
    const before = await readFile(file)
    await t.rejects(RelationshipTable.open(file), { code: 'APP_RELATIONSHIPS_CORRUPT' }, why)
    t.same(await readFile(file), before, `${why}: the file is unchanged`)
    t.same(await readdir(dir), ['relationships.json'], `${why}: nothing else written`)
  }
  const valid = join(await tempDir(t), 'relationships.json')
  await writeFile(valid, doc(good))
  t.same((await RelationshipTable.open(valid)).list(), [good], 'the same document with the good record loads')
  const big = join(await tempDir(t), 'relationships.json')
  await writeFile(big, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20))
  await t.rejects(RelationshipTable.open(big), { code: 'APP_RELATIONSHIPS_CORRUPT' }, 'a file over the size limit')
})

t.test('concurrent changes all land, in call order', async t => {
  const file = join(await tempDir(t), 'relationships.json')
  const table = await RelationshipTable.open(file)
  const all = Array.from({ length: 20 }, (_, i) => rel(i))
  await Promise.all([
    ...all.map(async r => { await table.put(r) }),
    ...all.slice(0, 5).map(async r => { await table.remove(r.id) }),
    table.put({ ...all[5]!, reason: 'the last put wins' })
  ])
  const want = all.slice(5).map(r => r.id === 'rel-5' ? { ...r, reason: 'the last put wins' } : r)
  t.same(table.list(), want, 'in memory')
  t.same((await RelationshipTable.open(file)).list(), want, 'on disk')
})

t.test('a failed write changes nothing and does not block later changes', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'relationships.json')
  const table = await RelationshipTable.open(file)
  await table.put(rel(0))
  const before = await readFile(file)
  await mkdir(`${file}.tmp`)
  await t.rejects(table.put(rel(1)), { code: 'EISDIR' })
  await t.rejects(table.remove('rel-0'), { code: 'EISDIR' })
  t.same(table.list(), [rel(0)], 'memory is as it was')
  t.same(await readFile(file), before, 'the file is unchanged')
  await rmdir(`${file}.tmp`)
  await table.put(rel(1))
  t.same((await RelationshipTable.open(file)).list(), [rel(0), rel(1)])
})

t.test('invalid records and a second relationship for one VM are TypeErrors and write nothing', async t => {
  const dir = await tempDir(t)
  const table = await RelationshipTable.open(join(dir, 'relationships.json'))
  await t.rejects(table.put({ ...rel(0), term: 0 }), TypeError)
  t.same(await readdir(dir), [])
  await table.put(rel(0))
  await t.rejects(table.put({ ...rel(1), vm: 'vm-0' }), TypeError)
  t.same(table.list(), [rel(0)])
})
