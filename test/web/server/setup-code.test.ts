/**
 * The setup code and the admin files (web/auth/): the code's alphabet and
 * form, how a typed code compares, and the life of DATA/web/setup-code
 * around admin.json.
 */
import t from 'tap'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AdminStore, ADMIN_FILE, SETUP_CODE_FILE, ensureSetupCode, passwordIsSet, readSetupCode } from '../../../web/auth/index.ts'
import { SETUP_CODE_ALPHABET, newSetupCode, normalizeSetupCode, setupCodeMatches } from '../../../web/auth/setup-code.ts'
import { tempDir } from '../../helpers/fixtures.ts'

t.test('a code is 12 characters of 32 unambiguous ones, in groups of 4', async t => {
  t.equal(SETUP_CODE_ALPHABET.length, 32)
  t.equal(new Set(SETUP_CODE_ALPHABET).size, 32)
  for (const c of 'ILOU') t.notOk(SETUP_CODE_ALPHABET.includes(c), `no ${c}`)
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const code = newSetupCode()
    t.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/)
    for (const c of code.replace(/-/g, '')) if (!SETUP_CODE_ALPHABET.includes(c)) t.fail(`${c} is not in the alphabet`)
    seen.add(code)
  }
  t.equal(seen.size, 200, 'no repeats')
})

t.test('a typed code compares without case, dashes and spaces, reading O as 0 and I, L as 1', async t => {
  const table: Array<[string, string, boolean]> = [
    ['AB01-CDEF-GH23', 'AB01-CDEF-GH23', true],
    ['ab01cdefgh23', 'AB01-CDEF-GH23', true],
    [' AB01 CDEF GH23 ', 'AB01-CDEF-GH23', true],
    ['ABOI-CDEF-GH23', 'AB01-CDEF-GH23', true],
    ['ABOL-CDEF-GH23', 'AB01-CDEF-GH23', true],
    ['AB01-CDEF-GH24', 'AB01-CDEF-GH23', false],
    ['AB01-CDEF-GH2', 'AB01-CDEF-GH23', false],
    ['AB01-CDEF-GH233', 'AB01-CDEF-GH23', false],
    ['', 'AB01-CDEF-GH23', false]
  ]
  for (const [typed, code, match] of table) t.equal(setupCodeMatches(typed, code), match, `${JSON.stringify(typed)}: ${match}`)
  t.equal(normalizeSetupCode('ab-oi l'), 'AB011')
})

t.test('ensureSetupCode keeps one code while no password is set, and removes it once one is', async t => {
  const webDir = join(await tempDir(t), 'web')
  t.equal(await readSetupCode(webDir), null, 'no code before')
  const code = await ensureSetupCode(webDir)
  t.equal(await ensureSetupCode(webDir), code, 'idempotent')
  t.equal(await readSetupCode(webDir), code)
  t.equal((await stat(join(webDir, SETUP_CODE_FILE))).mode & 0o777, 0o600)
  t.equal((await stat(webDir)).mode & 0o777, 0o700, 'DATA/web/ is 0700')
  await writeFile(join(webDir, SETUP_CODE_FILE), 'not a code\n')
  const replaced = await ensureSetupCode(webDir)
  t.not(replaced, code, 'a damaged code file is replaced')
  t.equal(await passwordIsSet(webDir), false)
  await new AdminStore(webDir).setup(replaced!, 'correct horse battery')
  t.equal(await passwordIsSet(webDir), true)
  t.equal(await readSetupCode(webDir), null)
  await writeFile(join(webDir, SETUP_CODE_FILE), `${code}\n`)
  t.equal(await ensureSetupCode(webDir), null, 'with a password set, no code')
  await t.rejects(stat(join(webDir, SETUP_CODE_FILE)), { code: 'ENOENT' }, 'and a stale code file is removed')
})

t.test('the admin store: verify, change, and a damaged admin.json refuses setup and login', async t => {
  const webDir = join(await tempDir(t), 'web')
  const admin = new AdminStore(webDir, () => Date.parse('2026-01-01T00:00:00.000Z'))
  const code = (await ensureSetupCode(webDir))!
  // Two setups at once: the first sets the password, the second finds it set.
  const results = await Promise.allSettled([admin.setup(code, 'first password'), admin.setup(code, 'second password')])
  t.equal(results[0].status, 'fulfilled')
  t.match(results[1], { status: 'rejected', reason: { code: 'WEB_PASSWORD_ALREADY_SET' } })
  t.equal(await admin.verify('first password'), true)
  t.equal(await admin.verify('second password'), false)
  t.equal(JSON.parse(await readFile(join(webDir, ADMIN_FILE), 'utf8')).changedAt, '2026-01-01T00:00:00.000Z')
  await t.rejects(admin.change('wrong password', 'third password'), { code: 'WEB_PASSWORD_WRONG' })
  await admin.change('first password', 'third password')
  t.equal(await admin.verify('third password'), true)
  // The same characters, composed or not (NFKC): the same password.
  await admin.change('third password', 'caf\u00e9 au lait')
  t.equal(await admin.verify('cafe\u0301 au lait'), true)
  await t.rejects(admin.change('caf\u00e9 au lait', 'short'), TypeError, 'the length rule holds behind the schemas too')
  await writeFile(join(webDir, ADMIN_FILE), '{"version":1,"hash":"plain"}')
  t.equal(await passwordIsSet(webDir), true, 'a damaged admin.json counts as set')
  await t.rejects(admin.verify('caf\u00e9 au lait'), Error, 'and is refused, never read as no password')
})
