/**
 * The dependency direction of docs/design.md, enforced on every source file
 * of the repository (bin/ and test/ included): core imports nothing of ours
 * outside core/; p2p imports only core's types, errors, constants and pure
 * codecs; appliance composes core and p2p and never reaches web/ or bin/;
 * web/ sees appliance/ only through its service (and the error registry,
 * and fs-util.ts's plain file handling);
 * only web/ imports fastify; bin/ is the composition root that nothing
 * imports; only test/ imports test/. The browser's code (web/ui/) is
 * stricter still (uiProblems): it imports only itself, the libraries of the
 * import map, and, with `import type` only (types vanish when stripped; an
 * `import { type X }` would still load the module in the browser), the
 * service's type files; nothing outside web/ui/ imports it.
 *
 * Imports are read by the compiler's own import reader (ts.preProcessFile:
 * static, side-effect, type-only, re-exports, `import x = require()`,
 * `require()` and literal dynamic imports), plus what it cannot see, found
 * in the syntax tree: dynamic imports and requires whose specifier is not a
 * literal (forbidden outside test/: their target is unknown), calls of a
 * function made by `createRequire`, and `new URL('./x.ts', import.meta.url)`
 * (how worker files are named).
 */
import t from 'tap'
import ts from 'typescript'
import { readFileSync } from 'node:fs'
import { dirname, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DISK_NAME_PATTERN } from '../core/constants.ts'
import { SOURCE_FILE, sourceFiles } from './helpers/source-files.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** A module a file refers to; `spec` undefined when the specifier is not a literal. */
interface Reference { spec: string | undefined, how: 'import' | 'dynamic' | 'require' | 'url' }

/** Where a reference leads: a project path ('/'-separated, from the root), a package, somewhere outside the repository, or unknown. */
type Target =
  | { kind: 'project', path: string }
  | { kind: 'package', name: string }
  | { kind: 'outside', path: string }
  | { kind: 'unknown' }

/** The core files p2p may import: types, errors, constants and pure codecs (no store, no scanner, no I/O). */
const P2P_CORE_FILES = ['core/types.ts', 'core/errors.ts', 'core/manifest.ts', 'core/compress.ts', 'core/constants.ts', 'core/hash.ts']

/** For each top-level folder, the project paths its files may import (packages are free unless PACKAGE_RULES say otherwise). */
const PROJECT_RULES: Record<string, Array<string | RegExp>> = {
  core: [/^core\//],
  p2p: [/^p2p\//, ...P2P_CORE_FILES],
  appliance: [/^appliance\//, /^core\//, /^p2p\//],
  // The error registries are part of what the service speaks (codes travel over the API);
  // fs-util.ts is plain file handling (atomic 0600 writes, bounded reads) that knows nothing of the appliance.
  web: [/^web\//, /^appliance\/service\//, 'appliance/errors.ts', 'core/errors.ts', 'appliance/fs-util.ts'],
  // The image's boot check asks the appliance's own probe whether KVM works here (docs/platform-notes.md "QEMU").
  image: [/^image\//, 'appliance/drivers/qemu/qmp/kvm-probe.ts'],
  // The composition root: everything (but test/, and nothing imports bin/: GLOBAL rules).
  bin: [/^/],
  // Tests may import everything (but bin/: it is run as a process, never imported).
  test: [/^/]
}

/** Packages only some folders may import, by package name. */
const PACKAGE_RULES: Array<{ name: RegExp, only: string[], why: string }> = [
  { name: /^(?:fastify|@fastify\/.+)$/, only: ['web', 'test'], why: 'only web/ serves HTTP' }
]

/** The packages the browser loads through the import map (web/ui-files.ts's table). */
const UI_PACKAGES = new Set(['preact', 'preact/hooks', 'htm', 'htm/preact', 'uqr', 'uplot', 'jsqr'])
/** The service's files of JSON types: what the browser's code may import types from. */
const UI_TYPE_FILES = /^appliance\/service\/(?:[\w-]+-)?types\.ts$/
const UI = /^web\/ui\//

/** Inside appliance/: the CLI reaches the rest of appliance/ only through the service (docs/design.md, Architecture). */
const CLI = /^appliance\/cli\//
const CLI_MAY_IMPORT: Array<string | RegExp> = [CLI, /^appliance\/service\//, 'appliance/errors.ts']

/**
 * Today's imports of the CLI that break the rule above, file -> imported
 * path, each to go once the command goes through the service. This list
 * only shrinks: an entry that no longer matches an import fails the test,
 * so a fixed exception is removed here too. (Empty: at the time of writing
 * the offline commands import only core/ and appliance/errors.ts.)
 */
const CLI_EXCEPTIONS: Array<{ from: string, to: string }> = []

const matches = (rules: Array<string | RegExp>, path: string): boolean => rules.some(r => typeof r === 'string' ? r === path : r.test(path))
const folderOf = (path: string): string => path.includes('/') ? path.slice(0, path.indexOf('/')) : ''
const toPosix = (path: string): string => path.split(sep).join('/')

/** The package a bare specifier names: `@scope/name` or `name` (`node:fs` stays whole). */
function packageName (spec: string): string {
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

/** Where `spec`, written in the project file `from`, leads. */
function targetOf (from: string, ref: Reference): Target {
  const spec = ref.spec
  if (spec === undefined) return { kind: 'unknown' }
  if (!spec.startsWith('.') && !spec.startsWith('/') && !spec.startsWith('file:')) return { kind: 'package', name: packageName(spec) }
  const abs = spec.startsWith('file:') ? fileURLToPath(spec) : resolve(root, dirname(from), spec)
  const path = toPosix(relative(root, abs))
  return path.startsWith('../') || path === '..' || abs === root ? { kind: 'outside', path: abs } : { kind: 'project', path }
}

/** The string a node holds when it is a literal without substitutions, else undefined. */
const literal = (node: ts.Node | undefined): string | undefined =>
  node !== undefined && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined

/** True when `node` is a call of the function named `name`: `name(...)`. */
const isCall = (node: ts.Node, name: string): boolean =>
  ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === name

/** Every module reference of a source text: the compiler's import reader, plus what only the syntax tree shows. */
function references (text: string, fileName: string): Reference[] {
  const refs: Reference[] = ts.preProcessFile(text, true, true).importedFiles.map(f => ({ spec: f.fileName, how: 'import' }))
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, /\.[cm]?js$/.test(fileName) ? ts.ScriptKind.JS : ts.ScriptKind.TS)
  // Names bound to a require function made by createRequire (`const req = createRequire(import.meta.url)`).
  const requires = new Set<string>()
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer !== undefined && isCall(node.initializer, 'createRequire')) {
      requires.add(node.name.text)
    }
    if (ts.isCallExpression(node)) {
      const arg = node.arguments[0]
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        // Literal ones are preProcessFile's.
        if (literal(arg) === undefined) refs.push({ spec: undefined, how: 'dynamic' })
      } else if (isCall(node, 'require')) {
        if (literal(arg) === undefined) refs.push({ spec: undefined, how: 'require' })
      } else if ((ts.isIdentifier(node.expression) && requires.has(node.expression.text)) || isCall(node.expression, 'createRequire')) {
        refs.push({ spec: literal(arg), how: 'require' })
      }
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL' && node.arguments?.length === 2) {
      const spec = literal(node.arguments[0])
      const base = node.arguments[1]!
      const isImportMetaUrl = ts.isPropertyAccessExpression(base) && ts.isMetaProperty(base.expression) && base.name.text === 'url'
      if (isImportMetaUrl && spec !== undefined && SOURCE_FILE.test(spec)) refs.push({ spec, how: 'url' })
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return refs
}

/** An import of a project file: who, what, and the exception (if any) that allows it. */
interface Problem { from: string, to: string, why: string }

/** The references of `from` (a project path) that the rules forbid, with the reason; CLI exceptions are allowed. */
function problems (from: string, refs: Reference[], exceptions = CLI_EXCEPTIONS): Problem[] {
  const folder = folderOf(from)
  const rules = PROJECT_RULES[folder]
  const out: Problem[] = []
  for (const ref of refs) {
    const target = targetOf(from, ref)
    const add = (to: string, why: string): void => { out.push({ from, to, why }) }
    if (rules === undefined) { add(ref.spec ?? '?', `no import rules for folder "${folder}"`); continue }
    switch (target.kind) {
      case 'unknown':
        if (folder !== 'test') add('?', `a ${ref.how} whose target is not a literal: unknown`)
        break
      case 'outside':
        add(target.path, 'leaves the repository')
        break
      case 'package': {
        const rule = PACKAGE_RULES.find(r => r.name.test(target.name))
        if (rule !== undefined && !rule.only.includes(folder)) add(target.name, rule.why)
        break
      }
      case 'project': {
        const to = target.path
        const toFolder = folderOf(to)
        if (toFolder === 'bin' && folder !== 'bin') add(to, 'nothing imports bin/ (the composition root)')
        else if (toFolder === 'test' && folder !== 'test') add(to, 'only test/ imports test/')
        else if (!matches(rules, to)) add(to, `${folder}/ may not import it`)
        else if (UI.test(to) && !UI.test(from) && folder !== 'test') add(to, 'web/ui/ is the browser\'s code: only web/ui/ imports it')
        else if (CLI.test(from) && to.startsWith('appliance/') && !matches(CLI_MAY_IMPORT, to) && !exceptions.some(e => e.from === from && e.to === to)) {
          add(to, 'the CLI imports from appliance/ only cli/, service/ and errors.ts')
        }
        break
      }
    }
  }
  return out
}

/**
 * What the browser file `from` (under web/ui/) imports that it may not, from
 * its syntax tree: every import and re-export must name a web/ui/ file, an
 * import-map package, or (type-only) a service type file; no dynamic import,
 * no require.
 */
function uiProblems (from: string, text: string): Problem[] {
  const file = ts.createSourceFile(from, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const out: Problem[] = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      const spec = literal(node.moduleSpecifier) ?? '?'
      const typeOnly = ts.isImportDeclaration(node) ? node.importClause?.isTypeOnly === true : node.isTypeOnly
      const target = targetOf(from, { spec, how: 'import' })
      const ok = target.kind === 'package'
        ? UI_PACKAGES.has(spec)
        : target.kind === 'project' && (UI.test(target.path) || (typeOnly && UI_TYPE_FILES.test(target.path)))
      if (!ok) out.push({ from, to: spec, why: 'web/ui/ imports only web/ui/, the import map\'s packages, and service types with `import type`' })
    } else if ((ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || isCall(node, 'require'))) || ts.isImportEqualsDeclaration(node)) {
      out.push({ from, to: '?', why: 'web/ui/ has no dynamic import or require: the server checks static imports only' })
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return out
}

/** Shorthand for the self-tests: what `text`, as the project file `from`, imports that it may not. */
const forbidden = (from: string, text: string): string[] => problems(from, references(text, from)).map(p => p.to)

/** The exceptions that no longer match an import in `imports` (project file -> project paths it imports). */
function staleExceptions (exceptions: Array<{ from: string, to: string }>, imports: Map<string, Set<string>>): Array<{ from: string, to: string }> {
  return exceptions.filter(e => imports.get(e.from)?.has(e.to) !== true)
}

t.test('imports follow the dependency direction', async t => {
  const imports = new Map<string, Set<string>>()
  const checked: Record<string, number> = {}
  for (const abs of sourceFiles(root)) {
    const from = toPosix(relative(root, abs))
    const refs = references(readFileSync(abs, 'utf8'), abs)
    t.same(problems(from, refs), [], `${from} imports only what it may`)
    if (UI.test(from)) t.same(uiProblems(from, readFileSync(abs, 'utf8')), [], `${from} imports only what a browser file may`)
    const folder = folderOf(from)
    checked[folder] = (checked[folder] ?? 0) + refs.length
    const targets = refs.map(r => targetOf(from, r)).flatMap(x => x.kind === 'project' ? [x.path] : [])
    imports.set(from, new Set(targets))
  }
  t.ok([...imports.keys()].some(f => UI.test(f)), 'web/ui/ files were checked')
  for (const folder of ['core', 'p2p', 'appliance', 'bin', 'test']) t.ok((checked[folder] ?? 0) > 0, `${folder}/ imports were checked`)
  t.same(staleExceptions(CLI_EXCEPTIONS, imports), [], 'every CLI exception is still an import (the list only shrinks)')
})

t.test('the checker catches every way to import', async t => {
  const core = 'core/x.ts'
  t.same(forbidden(core, "import { x } from '../appliance/service/index.ts'"), ['appliance/service/index.ts'], 'a static import')
  t.same(forbidden(core, "import '../p2p/node/polyfill.ts'"), ['p2p/node/polyfill.ts'], 'a side-effect import')
  t.same(forbidden(core, "import type { Peer } from '../appliance/peers/peer-registry.ts'"), ['appliance/peers/peer-registry.ts'], 'a type-only import')
  t.same(forbidden(core, "import { type Peer } from '../appliance/x.ts'"), ['appliance/x.ts'], 'an import of types only, inline')
  t.same(forbidden('p2p/x.ts', "export { s } from '../core/store/store.ts'"), ['core/store/store.ts'], 'a re-export')
  t.same(forbidden('p2p/x.ts', "export * from '../core/scan/index.ts'"), ['core/scan/index.ts'], 'a re-export of everything')
  t.same(forbidden(core, "const m = await import('../p2p/node/index.ts')"), ['p2p/node/index.ts'], 'a dynamic import')
  t.same(forbidden(core, 'const m = await import(`../p2p/node/index.ts`)'), ['p2p/node/index.ts'], 'a template literal import')
  t.same(forbidden(core, 'const m = await import(`../p2p/${name}.ts`)'), ['?'], 'a template literal with a substitution: unknown, forbidden')
  t.same(forbidden(core, 'const m = await import(name)'), ['?'], 'a computed dynamic import: unknown, forbidden')
  t.same(forbidden('test/x.test.ts', 'const m = await import(`../p2p/${name}.ts`)'), [], 'test/ may import computed paths')
  t.same(forbidden(core, "import { createRequire } from 'node:module'\nconst req = createRequire(import.meta.url)\nconst w = req('../web/server.ts')"), ['web/server.ts'], 'a require made by createRequire')
  t.same(forbidden(core, "const w = createRequire(import.meta.url)('../web/server.ts')"), ['web/server.ts'], 'createRequire called at once')
  t.same(forbidden(core, 'const req = createRequire(import.meta.url)\nconst w = req(where)'), ['?'], 'a computed require: unknown, forbidden')
  t.same(forbidden(core, "const w = require('../web/server.ts')"), ['web/server.ts'], 'a plain require')
  t.same(forbidden(core, "import w = require('../web/server.ts')"), ['web/server.ts'], 'import = require')
  t.same(forbidden(core, "new Worker(new URL('../appliance/worker.ts', import.meta.url))"), ['appliance/worker.ts'], 'a worker file named by URL')
  t.same(forbidden(core, "readFileSync(new URL('../package.json', import.meta.url))"), [], 'a data file named by URL is not an import')
  t.same(forbidden(core, "// import '../web/x.ts'\nconst s = \"import '../web/y.ts'\""), [], 'comments and strings are not imports')
  t.same(forbidden(core, "import { y } from './types.ts'\nimport { z } from 'node:fs'"), [], 'allowed and external imports pass')
  t.same(forbidden(core, "import '../../elsewhere/x.ts'"), [resolve(root, '../elsewhere/x.ts')], 'nothing leaves the repository')
})

t.test('the rules', async t => {
  t.same(forbidden('appliance/x.ts', "import fastify from 'fastify'"), ['fastify'], 'fastify outside web/')
  t.same(forbidden('core/x.ts', "import type { FastifyInstance } from 'fastify'"), ['fastify'], 'fastify types outside web/ too')
  t.same(forbidden('appliance/cli/x.ts', "import '@fastify/static'"), ['@fastify/static'], '@fastify/* outside web/')
  t.same(forbidden('web/x.ts', "import fastify from 'fastify'\nimport s from '@fastify/static'"), [], 'web/ may')
  t.same(forbidden('web/x.ts', "import { s } from '../appliance/service/index.ts'\nimport { AppError } from '../appliance/errors.ts'"), [], 'web/ may import the service and the errors')
  t.same(forbidden('web/x.ts', "import { Appliance } from '../appliance/daemon/appliance.ts'"), ['appliance/daemon/appliance.ts'], 'web/ may not import the rest of appliance/')
  t.same(forbidden('web/x.ts', "import { RecoveryPointStore } from '../core/store/store.ts'"), ['core/store/store.ts'], 'nor core/')
  t.same(forbidden('appliance/x.ts', "import { serve } from '../web/server.ts'"), ['web/server.ts'], 'appliance/ never imports web/')
  t.same(forbidden('appliance/x.ts', "import '../bin/tandem.js'"), ['bin/tandem.js'], 'nor bin/')
  t.same(forbidden('test/x.test.ts', "import '../bin/tandem.js'"), ['bin/tandem.js'], 'nothing imports bin/, tests included')
  t.same(forbidden('bin/x.js', "import '../web/server.ts'\nimport '../appliance/daemon/index.ts'\nimport './y.js'"), [], 'bin/ may import everything')
  t.same(forbidden('bin/x.js', "import '../test/helpers/fixtures.ts'"), ['test/helpers/fixtures.ts'], 'nothing but test/ imports test/')
  t.same(forbidden('core/x.ts', "import '../test/helpers/fixtures.ts'"), ['test/helpers/fixtures.ts'])
  t.same(forbidden('test/x.test.ts', "import '../core/store/store.ts'\nimport '../web/x.ts'\nimport 'fastify'\nimport './helpers/y.ts'"), [], 'test/ may import everything else')
  t.same(forbidden('core/x.ts', "import '../p2p/errors.ts'"), ['p2p/errors.ts'], 'core/ imports no p2p/')
  t.same(forbidden('p2p/x.ts', "import '../core/constants.ts'\nimport '../core/errors.ts'\nimport '../core/types.ts'"), [], 'p2p/ may import core\'s constants, errors and types')
  t.same(forbidden('p2p/x.ts', "import '../appliance/errors.ts'"), ['appliance/errors.ts'], 'p2p/ imports no appliance/')
  t.same(forbidden('scripts/x.ts', "import '../core/x.ts'"), ['../core/x.ts'], 'a folder without rules fails until it has some')
})

t.test('the browser\'s code imports only itself, the import map\'s packages and service types', async t => {
  const ui = 'web/ui/pages/x.ts'
  const bad = (text: string): string[] => uiProblems(ui, text).map(p => p.to)
  t.same(bad("import { html } from 'htm/preact'\nimport { useState } from 'preact/hooks'\nimport { Api } from '../api.ts'\nexport { x } from './y.ts'"), [], 'libraries and UI files')
  t.same(bad("import type { ReplicationInfo } from '../../../appliance/service/replication-types.ts'\nimport type { StatusInfo } from '../../../appliance/service/types.ts'"), [], 'service types, type-only')
  t.same(bad("import { type StatusInfo } from '../../../appliance/service/types.ts'"), ['../../../appliance/service/types.ts'], 'an inline type import still loads the module: refused')
  t.same(bad("import type { ApplianceService } from '../../../appliance/service/appliance-service.ts'"), ['../../../appliance/service/appliance-service.ts'], 'only the *-types.ts files')
  t.same(bad("import type { Health } from '../../../core/types.ts'"), ['../../../core/types.ts'], 'not core/')
  t.same(bad("import { WebErrorCode } from '../../errors.ts'"), ['../../errors.ts'], 'not the server\'s web/ files')
  t.same(bad("import Fastify from 'fastify'\nimport 'node:fs'"), ['fastify', 'node:fs'], 'no package outside the import map')
  t.same(bad("const m = await import('./y.ts')"), ['?'], 'no dynamic import')
  t.same(forbidden('web/ui-files.ts', "import { x } from './ui/app.ts'"), ['web/ui/app.ts'], 'the server never imports the browser\'s code')
  t.same(forbidden('web/ui/app.ts', "import { x } from './api.ts'"), [], 'web/ui/ imports itself')
})

t.test('the CLI reaches appliance/ only through the service; exceptions only shrink', async t => {
  const cli = 'appliance/cli/x.ts'
  t.same(forbidden(cli, "import { s } from '../service/index.ts'\nimport { AppError } from '../errors.ts'\nimport { y } from './y.ts'"), [], 'the service, the errors and the CLI itself')
  t.same(forbidden(cli, "import { x } from '../../core/index.ts'\nimport { p } from '../../p2p/errors.ts'"), [], 'core/ and p2p/ are not appliance/')
  t.same(forbidden(cli, "import { loadPeers } from '../peers/peer-registry.ts'"), ['appliance/peers/peer-registry.ts'], 'not the rest of appliance/')
  const refs = references("import { loadPeers } from '../peers/peer-registry.ts'", cli)
  const exception = { from: cli, to: 'appliance/peers/peer-registry.ts' }
  t.same(problems(cli, refs, [exception]), [], 'a listed exception passes')
  t.same(problems('appliance/cli/z.ts', references("import '../peers/peer-registry.ts'", 'appliance/cli/z.ts'), [exception]).length, 1, 'for its own file only')
  const imports = new Map([[cli, new Set(['appliance/peers/peer-registry.ts'])]])
  t.same(staleExceptions([exception], imports), [], 'an exception still in use is not stale')
  t.same(staleExceptions([exception], new Map([[cli, new Set<string>()]])), [exception], 'an exception whose import is gone is stale: the list only shrinks')
})

t.test('p2p/ takes core\'s disk-name pattern instead of restating it', async t => {
  const files = sourceFiles(resolve(root, 'p2p'))
  t.ok(files.length > 0)
  for (const abs of files) t.notOk(readFileSync(abs, 'utf8').includes(DISK_NAME_PATTERN.source), `${toPosix(relative(root, abs))} uses DISK_NAME_PATTERN`)
})
