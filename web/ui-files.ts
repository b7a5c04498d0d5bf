/**
 * The browser front end's files (docs/web.md "Front end"): `/` answers
 * web/ui/index.html, `/ui/<path>.js` a TypeScript file of web/ui/ with its
 * types stripped, `/ui/<path>.css|.svg` a style sheet or image of web/ui/,
 * `/vendor/<name>.js|.css` a library file from the table below.
 *
 * Everything is read and prepared once, when `registerUi` runs, and kept in
 * one Map: a request is answered only when its path is a key of that Map, so
 * no request path ever reaches the file system and no path traversal
 * (`..`, `%2e%2e`, `%2f`, backslashes, NUL, absolute paths) can name another
 * file: anything else is 404 WEB_NOT_FOUND.
 *
 * The UI's routes hold no data (the data is under /v1/, behind the login), so
 * they are public: the login page needs them before anyone is logged in.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { stripTypeScriptTypes } from 'node:module'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { httpStatusOf, WebErrorCode } from './errors.ts'

/** The folder of the front end's sources. */
export const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), 'ui')

/** The URL prefixes of the front end's own files and of the libraries. */
export const UI_PREFIX = '/ui/'
export const VENDOR_PREFIX = '/vendor/'

/** The module the page loads first (index.html names it). */
export const UI_ENTRY = `${UI_PREFIX}app.js`

/**
 * The libraries the browser may load, and nothing else of node_modules:
 * URL name -> the module specifier the UI imports it by (null: not imported
 * by a bare name, e.g. a style sheet) and the node_modules file, found by
 * the resolver (a package's ESM build). jsqr has only a UMD build: it is
 * wrapped as an ES module (`wrapUmd`) so that the scanning page imports it
 * like the others, with no classic script and no global.
 */
const VENDOR: ReadonlyArray<{ name: string, specifier: string | null, file: string, wrap?: 'umd' }> = [
  { name: 'preact.js', specifier: 'preact', file: 'preact' },
  { name: 'preact-hooks.js', specifier: 'preact/hooks', file: 'preact/hooks' },
  { name: 'htm.js', specifier: 'htm', file: 'htm' },
  { name: 'htm-preact.js', specifier: 'htm/preact', file: 'htm/preact' },
  { name: 'uqr.js', specifier: 'uqr', file: 'uqr' },
  { name: 'uplot.js', specifier: 'uplot', file: 'uplot/dist/uPlot.esm.js' },
  { name: 'uplot.css', specifier: null, file: 'uplot/dist/uPlot.min.css' },
  { name: 'jsqr.js', specifier: 'jsqr', file: 'jsqr/dist/jsQR.js', wrap: 'umd' }
]

/** The file types served, by extension; nothing else under web/ui/ is (tsconfig.json, notes). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8'
}

/** Where index.html wants the import map: the generated `<script type="importmap">` replaces this line. */
const IMPORT_MAP_MARKER = '<!-- import map -->'

/** One answer, ready to send. */
export interface UiFile { body: Buffer, type: string, etag: string, cacheControl: string }

export interface UiOptions {
  /** The folder of the front end's sources; default UI_DIR (tests may give another). */
  dir?: string
}

export interface UiServed {
  /** The CSP source of the inline import map, `'sha256-...'`: script-src must list it (uiCspDirectives does). */
  importMapHash: string
  /** The URL paths served, sorted (for the tests and the docs). */
  paths: string[]
}

/** The front end read, stripped and checked, ready to serve (loadUi). */
export interface LoadedUi extends UiServed {
  files: ReadonlyMap<string, UiFile>
}

/**
 * Reads, strips and checks every file of the front end now, synchronously:
 * a UI file that cannot be stripped, or that imports something neither
 * served nor in the import map, is a programming mistake and throws a
 * TypeError here, at start, not in a browser later.
 */
export function loadUi (options: UiOptions = {}): LoadedUi {
  const dir = options.dir ?? UI_DIR
  const files = new Map<string, UiFile>()
  const importMap: Record<string, string> = {}
  for (const v of VENDOR) {
    const path = `${VENDOR_PREFIX}${v.name}`
    if (v.specifier !== null) importMap[v.specifier] = path
    const text = readFileSync(fileURLToPath(import.meta.resolve(v.file)), 'utf8')
    files.set(path, uiFile(v.wrap === 'umd' ? wrapUmd(text) : withoutSourceMap(text), extensionOf(v.name)))
  }
  for (const [path, text] of withStripWarningSilenced(() => uiSources(dir))) files.set(path, uiFile(text, extensionOf(path)))
  for (const [path, file] of files) {
    if (path.startsWith(UI_PREFIX) && path.endsWith('.js')) checkImports(path, file.body.toString('utf8'), files, importMap)
  }
  const mapText = JSON.stringify({ imports: importMap })
  const template = readFileSync(join(dir, 'index.html'), 'utf8')
  if (!template.includes(IMPORT_MAP_MARKER)) throw new TypeError(`registerUi: index.html has no "${IMPORT_MAP_MARKER}" line`)
  const index = template.replace(IMPORT_MAP_MARKER, `<script type="importmap">${mapText}</script>`)
  files.set('/', { ...uiFile(index, '.html'), cacheControl: 'no-cache' })
  return { files, importMapHash: `'sha256-${createHash('sha256').update(mapText).digest('base64')}'`, paths: [...files.keys()].sort() }
}

/**
 * Adds the UI's routes (GET and HEAD `/`, `/ui/*`, `/vendor/*`) to `app`,
 * from `ui` (loadUi), or from the files loadUi reads now with `ui` as its
 * options. Only paths of the loaded map are answered (no path is ever
 * joined to a folder); anything else is 404 WEB_NOT_FOUND.
 */
export function registerUi (app: FastifyInstance, ui: LoadedUi | UiOptions = {}): UiServed {
  const loaded = 'files' in ui ? ui : loadUi(ui)
  const files = loaded.files
  const answer = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const path = request.url.split('?')[0]!
    const file = files.get(path)
    if (file === undefined) {
      return await reply.status(httpStatusOf(WebErrorCode.WEB_NOT_FOUND))
        .send({ code: WebErrorCode.WEB_NOT_FOUND, message: `no file ${path.slice(0, 100)}` })
    }
    reply.header('content-type', file.type)
      .header('cache-control', file.cacheControl)
      .header('etag', file.etag)
      .header('x-content-type-options', 'nosniff')
    if (request.headers['if-none-match'] === file.etag) return await reply.status(304).send()
    return await reply.send(file.body)
  }
  app.get('/', answer)
  app.get(`${UI_PREFIX}*`, answer)
  app.get(`${VENDOR_PREFIX}*`, answer)
  return { importMapHash: loaded.importMapHash, paths: loaded.paths }
}

/**
 * The Content-Security-Policy the UI works under, as @fastify/helmet's
 * `contentSecurityPolicy.directives`: scripts and styles from this origin
 * only, plus the one inline import map by its hash; no eval, no inline
 * script or style attribute, no plugins, no framing, no base or form
 * target elsewhere. `img-src data:` is for uPlot's canvas exports and the
 * drill screenshots the API may send inline; `media-src blob:` for the
 * camera preview while scanning a QR code.
 */
export function uiCspDirectives (served: Pick<UiServed, 'importMapHash'>): Record<string, string[]> {
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'", served.importMapHash],
    'style-src': ["'self'"],
    'img-src': ["'self'", 'data:', 'blob:'],
    'media-src': ["'self'", 'blob:'],
    'connect-src': ["'self'"],
    'font-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"]
  }
}

/** The directives as one header value. */
export function cspHeader (directives: Record<string, string[]>): string {
  return Object.entries(directives).map(([name, values]) => `${name} ${values.join(' ')}`).join('; ')
}

function uiFile (text: string, extension: string): UiFile {
  const body = Buffer.from(text, 'utf8')
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
  return { body, type: CONTENT_TYPES[extension]!, etag, cacheControl: 'no-cache' }
}

const extensionOf = (path: string): string => path.slice(path.lastIndexOf('.'))

/**
 * Every servable file under `dir`, URL path -> text: `x.ts` as `/ui/x.js`
 * (types stripped, its `./y.ts` imports rewritten to `./y.js`), `.css` and
 * `.svg` as they are. index.html is answered at `/` (the caller reads it).
 */
function uiSources (dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const abs = join(folder, entry.name)
      const rel = relative(dir, abs).split(sep).join('/')
      if (entry.isDirectory()) { walk(abs); continue }
      if (entry.name.endsWith('.d.ts')) continue
      if (entry.name.endsWith('.ts')) {
        out.set(`${UI_PREFIX}${rel.slice(0, -3)}.js`, relativeImportsAsJs(stripTypeScriptTypes(readFileSync(abs, 'utf8'))))
      } else if (entry.name.endsWith('.css') || entry.name.endsWith('.svg')) {
        out.set(`${UI_PREFIX}${rel}`, readFileSync(abs, 'utf8'))
      }
    }
  }
  walk(dir)
  return out
}

/** `from './x.ts'` and `import './x.ts'` (relative only) become `.js`: the URLs the browser asks for. */
function relativeImportsAsJs (code: string): string {
  return code.replace(/(\b(?:from|import)\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g, '$1$2$3.js$2')
}

/** The module specifiers of a stripped file's static imports and re-exports. */
function importSpecifiers (code: string): string[] {
  return [...code.matchAll(/(?:^|[;\s])(?:import|export)\b[^'"`;]*?\bfrom\s*(['"])([^'"]+)\1|(?:^|[;\s])import\s*(['"])([^'"]+)\3/g)]
    .map(m => m[2] ?? m[4]!)
}

/**
 * Every import of the served file `path` names a served file or a name of
 * the import map. `import { type X } from '...'` strips to an empty import
 * that the browser would still load: UI files import types with
 * `import type` only, and this check catches the other form too.
 */
function checkImports (path: string, code: string, files: Map<string, UiFile>, importMap: Record<string, string>): void {
  for (const spec of importSpecifiers(code)) {
    const target = spec.startsWith('.') ? new URL(spec, `http://ui${path}`).pathname : spec
    const ok = spec.startsWith('.') ? files.has(target) : Object.hasOwn(importMap, spec)
    if (!ok) throw new TypeError(`registerUi: ${path} imports ${spec}, which is neither a UI file nor in the import map (types: use \`import type\`)`)
  }
}

/** A library's `//# sourceMappingURL=` line would make browser tools ask for a map that is not served. */
function withoutSourceMap (text: string): string {
  return text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n')
}

/**
 * A UMD bundle as an ES module: it sees a CommonJS `module` and puts its
 * factory's result there; the module's default export is that value (its
 * `default` when it has one, as jsqr's webpack build does).
 */
export function wrapUmd (text: string): string {
  return `const module = { exports: {} }; const exports = module.exports;\n${withoutSourceMap(text)}\n` +
    'export default (module.exports.default ?? module.exports);\n'
}

/**
 * Runs `fn` with the one ExperimentalWarning of `stripTypeScriptTypes`
 * dropped: Node emits it synchronously through `process.emitWarning`, once
 * per process, so `process.emitWarning` is wrapped for the duration of this
 * synchronous call only and restored after; every other warning (and this
 * one's later calls, which Node does not repeat) passes untouched.
 */
function withStripWarningSilenced<T> (fn: () => T): T {
  const original = process.emitWarning
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type
    if (type === 'ExperimentalWarning' && text.startsWith('stripTypeScriptTypes')) return
    ;(original as (...args: unknown[]) => void).call(process, warning, ...rest)
  }) as typeof process.emitWarning
  try { return fn() } finally { process.emitWarning = original }
}
