/**
 * External tools a test file spawns (qemu-img, nbdkit, busybox, ...). A test
 * file names them once at its top with `requireTools(t, [...])`; when one is
 * missing the file fails with one line naming the Debian package to install,
 * instead of an unhandled `spawn ... ENOENT` in every test, and it never skips
 * silently. The tool -> package table is scripts/system-packages.txt, which
 * scripts/system-packages.sh (run by `npm test` first) installs from.
 */
import { accessSync, constants, readFileSync } from 'node:fs'
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const TOOLS_TABLE = join(ROOT, 'scripts', 'system-packages.txt')

/** What requireTools needs of the file's root tap test. */
export interface ToolsTest {
  fail: (message: string, extra: { diagnostic: boolean }) => unknown
  end: () => unknown
}

/** The table's tool -> Debian package map (comments and blank lines skipped). */
export function toolPackages (table = TOOLS_TABLE): Map<string, string> {
  const map = new Map<string, string>()
  for (const line of readFileSync(table, 'utf8').split('\n')) {
    const [tool, pkg] = line.trim().split(/\s+/)
    if (tool === undefined || tool === '' || tool.startsWith('#') || pkg === undefined) continue
    map.set(tool, pkg)
  }
  return map
}

/**
 * Whether `tool` can be run the way spawn() runs it: an absolute path that is
 * executable, or a name found executable on PATH (as scripts/system-packages.sh
 * checks too).
 */
export function toolPresent (tool: string, path = process.env.PATH ?? ''): boolean {
  const candidates = isAbsolute(tool)
    ? [tool]
    : path.split(delimiter).filter(d => d !== '').map(d => join(d, tool))
  return candidates.some(file => {
    try { accessSync(file, constants.X_OK); return true } catch { return false }
  })
}

/** The one line a test file fails with when `missing` tools are absent. */
export function missingToolsLine (missing: string[], packages: Map<string, string>): string {
  const pkgs = [...new Set(missing.map(tool => packages.get(tool)))]
  return `missing tool${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: install the Debian package${pkgs.length > 1 ? 's' : ''} ` +
    `${pkgs.join(' ')} (bash scripts/system-packages.sh, which npm test runs first)`
}

/**
 * Call at the top of a test file, before any test is defined, with every
 * external tool the file spawns (directly or through the code it tests).
 * Returns when all are present. Otherwise records one failed assertion naming
 * the packages, ends the file's root test and exits the process with status 1,
 * so none of the file's tests run. A tool missing from the table is a
 * programming mistake (the install script would not install it): TypeError.
 */
export function requireTools (t: ToolsTest, tools: string[]): void {
  const packages = toolPackages()
  const unknown = tools.filter(tool => !packages.has(tool))
  if (unknown.length > 0) throw new TypeError(`requireTools: ${unknown.join(', ')} not in scripts/system-packages.txt`)
  const missing = tools.filter(tool => !toolPresent(tool))
  if (missing.length === 0) return
  t.fail(missingToolsLine(missing, packages), { diagnostic: false })
  t.end()
  process.exit(1)
}

/** The tools of the test guest (test/helpers/guest): building it from Debian packages, and running it. */
export const TEST_GUEST_TOOLS = ['qemu-system-x86_64', 'apt-get', 'apt-cache', 'dpkg-deb', 'tar', 'xz', 'cpio', 'busybox']
