/**
 * Drill settings and proofs on disk: the parsers' ranges (a table), the
 * files written and read back by a new book, the newest proofs kept, and a
 * damaged file reported (APP_FAILOVER_FILE_CORRUPT) and left as it is; a
 * screenshot read only when a proof names it (no path traversal).
 */
import t from 'tap'
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  DrillBook, MAX_PROOFS_KEPT, checkDrillSign, defaultDrillSettings, nextDrillAt, parseDrillEvery, parseDrillTimeout, type Proof
} from '../../../appliance/failover/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

t.test('parsers', async t => {
  t.equal(parseDrillEvery('off'), null)
  t.equal(parseDrillEvery('7d'), 7 * 86_400_000)
  t.equal(parseDrillEvery('1h'), 3_600_000)
  for (const bad of ['59m', '91d', '7', 'weekly', '']) t.throws(() => parseDrillEvery(bad), { code: 'APP_SETTING_INVALID' }, bad)
  t.equal(parseDrillTimeout('5m'), 300_000)
  for (const bad of ['500ms', '2h', 'soon']) t.throws(() => parseDrillTimeout(bad), { code: 'APP_SETTING_INVALID' }, bad)
  t.same(checkDrillSign({ kind: 'serial', pattern: '^login: ' }), { kind: 'serial', pattern: '^login: ' })
  t.throws(() => checkDrillSign({ kind: 'serial', pattern: '(' }), { code: 'APP_VM_INVALID' }, 'a pattern that does not compile')
  t.throws(() => checkDrillSign({ kind: 'ping' }), { code: 'APP_SETTING_INVALID' })
  const s = { ...defaultDrillSettings(1000), everyMs: 3_600_000 }
  t.equal(nextDrillAt(s), 1000 + 3_600_000, 'from when it was set')
  t.equal(nextDrillAt({ ...s, lastRunAt: 5000 }), 5000 + 3_600_000, 'from the last drill')
  t.equal(nextDrillAt(defaultDrillSettings(1000)), null, 'no schedule')
})

t.test('settings and proofs persist; the newest proofs are kept', async t => {
  const dir = join(await tempDir(t), 'drills')
  const book = new DrillBook(dir)
  t.same(await book.open(), [])
  const settings = { everyMs: 7 * 86_400_000, sign: { kind: 'serial' as const, pattern: 'READY' }, timeoutMs: 60_000, lastRunAt: null, setAt: 42 }
  await book.setSettings('web-1', settings)
  const proof = (n: number): Proof => ({ point: n, root: 'ab'.repeat(32), time: n, sign: 'serial', signOfLifeMs: 4000, screenshot: book.screenshotPath('web-1', 'ab'.repeat(32), n) })
  for (let i = 1; i <= MAX_PROOFS_KEPT + 2; i++) await book.addProof('web-1', proof(i))
  t.match(book.screenshotPath('web-1', 'cd'.repeat(32), Date.UTC(2026, 10, 8, 10, 15, 2)), /\/drills\/web-1\/cdcdcdcdcdcd-20261108T101502Z\.png$/)

  const again = new DrillBook(dir)
  t.same(await again.open(), [])
  t.same(again.getSettings('web-1'), settings)
  const proofs = await again.listProofs('web-1')
  t.equal(proofs.length, MAX_PROOFS_KEPT)
  t.equal(proofs.at(-1)!.point, MAX_PROOFS_KEPT + 2, 'newest last')
  t.equal(proofs[0]!.point, 3, 'the oldest ones went')
  t.same(await again.listProofs('other'), [], 'none for another relationship')
})

t.test('a damaged file is reported and left as it is', async t => {
  const dir = join(await tempDir(t), 'drills')
  await mkdir(join(dir, 'web-1'), { recursive: true })
  await writeFile(join(dir, 'web-1', 'drill.json'), '{"version":1,"everyMs":5}')
  await writeFile(join(dir, 'web-1', 'proofs.json'), '{"version":1,"proofs":[{"point":"x"}]}')
  const book = new DrillBook(dir)
  const problems = await book.open()
  t.match(problems, [{ relationship: 'web-1', err: { code: 'APP_FAILOVER_FILE_CORRUPT' } }])
  t.equal(book.getSettings('web-1'), undefined)
  await t.rejects(book.listProofs('web-1'), { code: 'APP_FAILOVER_FILE_CORRUPT' })
  await t.rejects(book.addProof('web-1', { point: 1, root: 'ab', time: 1, sign: 'agent', signOfLifeMs: 1, screenshot: '/x.png' }), { code: 'APP_FAILOVER_FILE_CORRUPT' })
  t.equal(await readFile(join(dir, 'web-1', 'proofs.json'), 'utf8'), '{"version":1,"proofs":[{"point":"x"}]}', 'never rewritten')
})

t.test('a screenshot is read only when a proof names it', async t => {
  const dir = join(await tempDir(t), 'drills')
  const book = new DrillBook(dir)
  await book.open()
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('the rest of a PNG')])
  const path = book.screenshotPath('web-1', 'ab'.repeat(32), Date.UTC(2026, 11, 7, 10, 0, 0))
  await book.prepare('web-1')
  await writeFile(path, png)
  await writeFile(join(dir, 'web-1', 'other.png'), png)
  await writeFile(join(dir, 'secret.png'), png)
  await book.addProof('web-1', { point: 4, root: 'ab'.repeat(32), time: 1, sign: 'agent', signOfLifeMs: 900, screenshot: path })
  const file = 'abababababab-20261207T100000Z.png'
  const shot = await book.screenshot('web-1', file)
  t.equal(shot.file, file)
  t.same(Buffer.from(shot.png), png, 'the file, whole')

  for (const bad of ['other.png', '../secret.png', '../web-1/' + file, path, '..', '']) {
    await t.rejects(book.screenshot('web-1', bad), { code: 'APP_SCREENSHOT_NOT_FOUND' }, `${JSON.stringify(bad)}: no proof names it`)
  }
  await t.rejects(book.screenshot('db-1', file), { code: 'APP_SCREENSHOT_NOT_FOUND' }, 'another relationship\'s proofs name nothing')

  await writeFile(path, 'not a png')
  await t.rejects(book.screenshot('web-1', file), { code: 'APP_SCREENSHOT_INVALID' }, 'a file that is not a PNG')
  await rm(path)
  await t.rejects(book.screenshot('web-1', file), { code: 'APP_SCREENSHOT_NOT_FOUND' }, 'a file gone')
  await symlink(join(dir, 'secret.png'), path)
  await t.rejects(book.screenshot('web-1', file), { code: 'ELOOP' }, 'a symbolic link in its place is not followed')
})
