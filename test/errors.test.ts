/**
 * Every error code in the code is listed in docs/errors.md, and every code
 * listed there exists: the two cannot drift apart.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CoreError, CoreErrorCode, TandemError } from '../core/errors.ts'
import { AppError, AppErrorCode } from '../appliance/errors.ts'
import { P2pError, P2pErrorCode } from '../p2p/errors.ts'
import { WebErrorCode } from '../web/errors.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const registries: Record<string, Record<string, string>> = { core: CoreErrorCode, p2p: P2pErrorCode, appliance: AppErrorCode, web: WebErrorCode }

t.test('docs/errors.md and the code list the same codes', async t => {
  const doc = await readFile(resolve(root, 'docs/errors.md'), 'utf8')
  const documented = new Set([...doc.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|/gm)].map(m => m[1]!))
  const inCode = new Set<string>()
  for (const [folder, reg] of Object.entries(registries)) {
    for (const [key, value] of Object.entries(reg)) {
      t.equal(key, value, `${folder}: key and value of ${key} agree`)
      inCode.add(value)
    }
  }
  for (const code of inCode) t.ok(documented.has(code), `${code} is documented in docs/errors.md`)
  for (const code of documented) t.ok(inCode.has(code), `${code} in docs/errors.md exists in the code`)
})

t.test('codes carry their folder prefix', async t => {
  for (const code of Object.values(CoreErrorCode)) t.match(code, /^CORE_[A-Z0-9_]+$/)
  for (const code of Object.values(P2pErrorCode)) t.match(code, /^P2P_[A-Z0-9_]+$/)
  for (const code of Object.values(AppErrorCode)) t.match(code, /^APP_[A-Z0-9_]+$/)
  for (const code of Object.values(WebErrorCode)) t.match(code, /^WEB_[A-Z0-9_]+$/)
})

t.test('every folder\'s error is a TandemError with its code, details and cause', async t => {
  const cause = new Error('root cause')
  const errors = [
    new CoreError(CoreErrorCode.CORE_BLOCK_MISSING, 'm', { cause, details: { block: 7 } }),
    new P2pError(P2pErrorCode.P2P_TIMEOUT, 'm', { cause, details: { block: 7 } }),
    new AppError(AppErrorCode.APP_QMP_ERROR, 'm', { cause, details: { block: 7 } })
  ]
  for (const err of errors) {
    t.ok(err instanceof TandemError, `${err.name} is a TandemError`)
    t.ok(err instanceof Error, `${err.name} is an Error`)
    t.equal(err.cause, cause, `${err.name} keeps its cause`)
    t.same(err.details, { block: 7 }, `${err.name} keeps its details`)
    t.match(err.code, /^(CORE|P2P|APP)_[A-Z0-9_]+$/)
  }
  t.equal(new CoreError(CoreErrorCode.CORE_ABORTED, 'm').cause, undefined, 'no cause unless given')
  t.notOk(new TypeError('x') instanceof TandemError, 'a programmer mistake is not one')
})
