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
  web: [/^web\//, 'appliance/service.ts', 'appliance/errors.ts'],
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

t.test('imports follow the dependency direction', async t => {
  let checked = 0
  for (const [folder, rules] of Object.entries(allowed)) {
    for (const file of await sourceFiles(join(root, folder))) {
      const text = await readFile(file, 'utf8')
      for (const match of text.matchAll(IMPORT)) {
        const spec = match[1] ?? match[2]!
        if (!spec.startsWith('.')) continue
        const target = relative(root, resolve(dirname(file), spec))
        const ok = rules.some(r => typeof r === 'string' ? r === target : r.test(target))
        t.ok(ok, `${relative(root, file)} may not import ${target}`)
        checked++
      }
    }
  }
  t.ok(checked > 0, 'some imports were checked')
})

t.test('the checker itself catches a wrong import', async t => {
  const text = "import { x } from '../appliance/service.ts'"
  const spec = [...text.matchAll(IMPORT)][0]?.[1]
  t.equal(spec, '../appliance/service.ts')
  const target = relative(root, resolve(join(root, 'core'), spec!))
  t.notOk(allowed.core!.some(r => typeof r === 'string' ? r === target : r.test(target)))
})
