/**
 * The static front end's routes (web/ui-files.ts, docs/web.md "Front end"):
 * what is served and how (types, caching, ETag, nosniff), the inline import
 * map and its CSP hash, the import check at start, and the path-traversal
 * refusals (through inject(), and over a real socket where the path reaches
 * the server exactly as sent, dot segments included).
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { buildApiServer } from '../../web/api-server.ts'
import { registerUi, UI_DIR, uiCspDirectives, wrapUmd } from '../../web/ui-files.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { FakeService } from './fixtures/fake-service.ts'

// Recorded before anything strips a type: registerUi must drop its one ExperimentalWarning.
const warnings: string[] = []
process.on('warning', w => { warnings.push(`${w.name}: ${w.message}`) })

const app = buildApiServer(new FakeService())
const served = registerUi(app)
t.teardown(async () => { await app.close() })

t.test('the stripping warning is silenced, and only it', async t => {
  await new Promise(resolve => setImmediate(resolve))
  t.same(warnings.filter(w => w.includes('stripTypeScriptTypes')), [], 'no ExperimentalWarning for stripTypeScriptTypes')
  process.emitWarning('another warning', 'ExperimentalWarning')
  await new Promise(resolve => setImmediate(resolve))
  t.ok(warnings.includes('ExperimentalWarning: another warning'), 'other warnings still come through')
})

t.test('/ is index.html, not cached, with the import map the CSP hash names', async t => {
  const r = await app.inject('/')
  t.equal(r.statusCode, 200)
  t.equal(r.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(r.headers['cache-control'], 'no-cache')
  t.equal(r.headers['x-content-type-options'], 'nosniff')
  const scripts = [...r.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)]
  const inline = scripts.filter(s => s[2] !== '')
  t.equal(inline.length, 1, 'one inline script: the import map')
  t.match(inline[0]![1], /type="importmap"/)
  const hash = `'sha256-${createHash('sha256').update(inline[0]![2]!).digest('base64')}'`
  t.equal(served.importMapHash, hash, 'registerUi gives the hash of exactly that text')
  t.same(uiCspDirectives(served)['script-src'], ["'self'", hash], 'script-src: self and the import map, nothing else')
  const map = JSON.parse(inline[0]![2]!) as { imports: Record<string, string> }
  for (const [name, url] of Object.entries(map.imports)) {
    const lib = await app.inject(url)
    t.equal(lib.statusCode, 200, `${name} -> ${url} is served`)
    t.equal(lib.headers['content-type'], 'text/javascript; charset=utf-8')
  }
  t.notMatch(r.body, /\sstyle=/, 'no style attribute')
  t.match(r.body, /<html lang="en">/)
})

t.test('UI files: TypeScript served as JavaScript, types stripped, imports as .js', async t => {
  const r = await app.inject('/ui/app.js')
  t.equal(r.statusCode, 200)
  t.equal(r.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(r.headers['x-content-type-options'], 'nosniff')
  t.match(r.body, /from '\.\/api\.js'/, 'a relative import names the served .js')
  t.notMatch(r.body, /from '[^']*\.ts'/, 'no .ts import is left')
  t.notMatch(r.body, /appliance\/service/, 'type-only imports vanished')
  t.equal((await app.inject('/ui/styles.css')).headers['content-type'], 'text/css; charset=utf-8')
  t.equal((await app.inject('/ui/icon.svg')).headers['content-type'], 'image/svg+xml')
  t.equal((await app.inject('/vendor/uplot.css')).headers['content-type'], 'text/css; charset=utf-8')
  const sources = (await readdir(UI_DIR, { recursive: true })).filter(f => f.endsWith('.ts')).map(f => `/ui/${f.split('\\').join('/').slice(0, -3)}.js`)
  for (const path of sources) t.ok(served.paths.includes(path), `${path} is served`)
  for (const path of ['/ui/app.ts', '/ui/tsconfig.json', '/ui/index.html']) {
    t.equal((await app.inject(path)).json().code, 'WEB_NOT_FOUND', `${path}: only the stripped JavaScript, never the source or other files`)
  }
})

t.test('an ETag answers a revalidation with 304', async t => {
  const first = await app.inject('/ui/app.js')
  t.equal(first.headers['cache-control'], 'no-cache')
  const etag = first.headers.etag as string
  t.match(etag, /^"[\w-]+"$/)
  const again = await app.inject({ url: '/ui/app.js', headers: { 'if-none-match': etag } })
  t.equal(again.statusCode, 304)
  t.equal(again.body, '')
  t.equal((await app.inject({ url: '/ui/app.js', headers: { 'if-none-match': '"other"' } })).statusCode, 200)
})

t.test('no UI source carries a style attribute or an inline event handler string', async t => {
  for (const file of (await readdir(UI_DIR, { recursive: true })).filter(f => /\.(?:ts|html)$/.test(f))) {
    const text = await readFile(join(UI_DIR, file), 'utf8')
    t.notMatch(text, /\sstyle=/, `${file}: classes, not style= (the CSP blocks inline styles)`)
    t.notMatch(text, /\son[a-z]+="/, `${file}: no inline handler attribute`)
  }
})

/** GET `path` over a real socket, sent exactly as written (no URL normalization). */
async function rawGet (port: number, path: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

const TRAVERSALS: Array<[string, string]> = [
  ['dot segments', '/ui/../server.ts'],
  ['dot segments to the source', '/ui/../ui-files.ts'],
  ['dot segments past the repository', '/ui/../../package.json'],
  ['encoded dots', '/ui/%2e%2e/ui-files.ts'],
  ['encoded dots, upper case', '/ui/%2E%2E/ui-files.ts'],
  ['an encoded slash', '/ui/..%2fui-files.ts'],
  ['an encoded slash in a vendor name', '/vendor/..%2f..%2fpackage.json'],
  ['backslashes', '/ui/..\\ui-files.ts'],
  ['encoded backslashes', '/ui/..%5cui-files.ts'],
  ['a NUL byte', '/ui/app.js%00.ts'],
  ['an absolute path', '/ui//etc/passwd'],
  ['an encoded absolute path', '/ui/%2fetc%2fpasswd'],
  ['node_modules by name', '/vendor/../node_modules/preact/package.json'],
  ['a vendor file not in the table', '/vendor/preact.mjs']
]

t.test('path traversal is refused 404 WEB_NOT_FOUND (inject)', async t => {
  for (const [what, path] of TRAVERSALS) {
    const r = await app.inject(path)
    t.equal(r.statusCode, 404, `${what}: ${path}`)
    t.equal(r.json().code, 'WEB_NOT_FOUND', `${what}: the code`)
  }
})

t.test('path traversal is refused 404 WEB_NOT_FOUND (the path as sent, over a socket)', async t => {
  const live = buildApiServer(new FakeService())
  registerUi(live)
  await live.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await live.close() })
  const port = (live.server.address() as AddressInfo).port
  t.equal((await rawGet(port, '/ui/app.js')).status, 200, 'the socket serves the UI')
  for (const [what, path] of TRAVERSALS) {
    const r = await rawGet(port, path)
    t.equal(r.status, 404, `${what}: ${path}`)
    t.equal((JSON.parse(r.body) as { code: string }).code, 'WEB_NOT_FOUND', `${what}: the code`)
  }
})

t.test('a UI file importing what is not served is refused at start', async t => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'index.html'), '<!doctype html><html lang="en"><head>\n<!-- import map -->\n</head></html>\n')
  await mkdir(join(dir, 'pages'))
  await writeFile(join(dir, 'app.ts'), "import { a } from './pages/a.ts'\nexport const b: number = a\n")
  await writeFile(join(dir, 'pages', 'a.ts'), "import { html } from 'htm/preact'\nexport const a = 1\nexport const h = html\n")
  t.ok(registerUi(buildApiServer(new FakeService()), { dir }).paths.includes('/ui/pages/a.js'), 'served imports and import-map names pass')
  await writeFile(join(dir, 'pages', 'a.ts'), "import { type X } from '../../../appliance/service/types.ts'\nexport const a: X = 1\n")
  t.throws(() => registerUi(buildApiServer(new FakeService()), { dir }), TypeError, '`import { type X }` strips to an import the browser would load')
  await writeFile(join(dir, 'pages', 'a.ts'), "import x from 'fastify'\nexport const a = x\n")
  t.throws(() => registerUi(buildApiServer(new FakeService()), { dir }), TypeError, 'a package not in the import map')
  await writeFile(join(dir, 'pages', 'a.ts'), "import type { X } from '../../../appliance/service/types.ts'\nexport const a: X = 1\n")
  t.ok(registerUi(buildApiServer(new FakeService()), { dir }), '`import type` vanishes: fine')
  await writeFile(join(dir, 'index.html'), '<!doctype html><html lang="en"></html>\n')
  t.throws(() => registerUi(buildApiServer(new FakeService()), { dir }), TypeError, 'index.html without the import map line')
})

t.test('a UMD bundle wrapped as an ES module exports its value', async t => {
  const umd = '(function (root, factory) { if (typeof exports === "object" && typeof module === "object") module.exports = factory(); else root.x = factory() })(this, function () { return { default: function answer () { return 42 } } })'
  const url = `data:text/javascript,${encodeURIComponent(wrapUmd(umd))}`
  const mod = await import(url) as { default: () => number }
  t.equal(mod.default(), 42)
  const jsqr = await import(`data:text/javascript,${encodeURIComponent((await app.inject('/vendor/jsqr.js')).body)}`) as { default: unknown }
  t.equal(typeof jsqr.default, 'function', 'jsqr, wrapped, exports its decoder function')
})
