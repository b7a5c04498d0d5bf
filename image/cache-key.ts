/**
 * The keys of the image build's caches (image/README.md "Caches"). A key is
 * a hash of everything that decides a cached thing, so a cache entry is
 * reused exactly when none of its inputs changed. Pure: the caller reads
 * the files.
 */
import { createHash } from 'node:crypto'

/** One input of a key: a name (a path, a setting) and its bytes. */
export interface KeyPart {
  name: string
  content: string | Uint8Array
}

/** Hex characters of a key: 64 bits, plenty to tell a few cached builds apart. */
export const KEY_HEX_CHARS = 16

/**
 * The key of a set of inputs: SHA-256 over each part's name and content,
 * both length-prefixed (so no two different sets hash the same bytes), in
 * name order (so the caller's order does not matter). Names must be unique.
 */
export function cacheKey (parts: readonly KeyPart[]): string {
  const names = new Set<string>()
  for (const part of parts) {
    if (names.has(part.name)) throw new TypeError(`cacheKey: the part ${part.name} is given twice`)
    names.add(part.name)
  }
  const hash = createHash('sha256')
  for (const part of [...parts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const name = Buffer.from(part.name, 'utf8')
    const content = typeof part.content === 'string' ? Buffer.from(part.content, 'utf8') : part.content
    hash.update(`${name.length}:`).update(name).update(`${content.length}:`).update(content)
  }
  return hash.digest('hex').slice(0, KEY_HEX_CHARS)
}

/**
 * The production dependencies' part of package.json: what `npm install
 * --omit=dev` reads from it. A change of the version, the scripts or the
 * dev dependencies does not change the installed tree.
 */
export function dependencyManifest (packageJson: string): string {
  const manifest = JSON.parse(packageJson) as Record<string, unknown>
  return JSON.stringify({
    dependencies: manifest.dependencies ?? {},
    optionalDependencies: manifest.optionalDependencies ?? {},
    overrides: manifest.overrides ?? {},
    allowScripts: manifest.allowScripts ?? {}
  })
}
