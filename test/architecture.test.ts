/**
 * The dependency direction of DESIGN.md, enforced: core imports nothing of
 * ours outside core/; p2p imports only core's types and pure codecs;
 * appliance composes; web sees only appliance's service interface.
 */
import t from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** For each folder, the project paths (relative to root) its files may import. */
const allowed: Record<string, Array<string | RegExp>> = {
  core: [/^core\//],
  p2p: [/^p2p\//, 'core/types.ts', 'core/errors.ts', 'core/manifest.ts', 'core/compress.ts', 'core/constants.ts', 'core/hash.ts'],
  appliance: [/^appliance\//, /^core\//, /^p2p\//],
  web: [/^web\//, /^appliance\/service\//],
  image: [/^image\//]
}

async function sourceFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  let entries
  try { entries = await readdir(dir, { withFileTypes: true }) } catch { return out }
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...await sourceFiles(p))
    else if (/\.(ts|js|mjs)$/.test(e.name)) out.push(p)
  }
  return out
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

/** The project imports in `text` (a file at `file`, in `folder`) that the folder's rules forbid, and how many were checked. */
function forbiddenImports (folder: string, file: string, text: string): { forbidden: string[], checked: number } {
  const rules = allowed[folder]!
  const forbidden: string[] = []
  let checked = 0
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2]!
    if (!spec.startsWith('.')) continue
    const target = relative(root, resolve(dirname(file), spec))
    if (!rules.some(r => typeof r === 'string' ? r === target : r.test(target))) forbidden.push(target)
    checked++
  }
  return { forbidden, checked }
}

t.test('imports follow the dependency direction', async t => {
  let checked = 0
  for (const folder of Object.keys(allowed)) {
    for (const file of await sourceFiles(join(root, folder))) {
      const r = forbiddenImports(folder, file, await readFile(file, 'utf8'))
      t.same(r.forbidden, [], `${relative(root, file)} imports only what ${folder}/ may`)
      checked += r.checked
    }
  }
  t.ok(checked > 0, 'some imports were checked')
})

t.test('the checker itself catches wrong imports', async t => {
  const core = join(root, 'core', 'x.ts')
  t.same(forbiddenImports('core', core, "import { x } from '../appliance/service.ts'").forbidden, ['appliance/service.ts'])
  t.same(forbiddenImports('core', core, "const m = await import('../p2p/node/index.ts')").forbidden, ['p2p/node/index.ts'], 'dynamic imports too')
  t.same(forbiddenImports('p2p', join(root, 'p2p', 'x.ts'), "export { s } from '../core/store/store.ts'").forbidden, ['core/store/store.ts'], 're-exports too')
  t.same(forbiddenImports('core', core, "import { y } from './types.ts'\nimport { z } from 'node:fs'").forbidden, [], 'allowed and external imports pass')
})
