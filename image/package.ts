/**
 * `npm run package`: Tandem for an existing Debian host, without the whole box
 * (image/README.md "Package for existing hosts"):
 *   image/out/tandem_VERSION_amd64.deb            (dpkg-deb --root-owner-group)
 *   image/out/tandem-VERSION-linux-x64.tar.gz     (the same tree, install.sh, README.md)
 * each with a .sha256 file (`sha256sum -c` reads it). Runs as root: the
 * cached production dependencies are root's, and the tree is built as root's.
 *
 * The tree is the image's: /opt/tandem from build.ts's installTandem (Node, Tandem's
 * files, the cached production dependencies), and beside it the image's own units
 * and sysusers/tmpfiles files (package-layout.ts PACKAGE_FILES). Reproducible:
 * every time is clamped to SOURCE_DATE_EPOCH (the last commit's), the tarball's
 * entries are sorted and root's, gzip writes no name or time; dpkg-deb sorts
 * and clamps by itself.
 */
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CACHE_DIR, OUT_DIR, installTandem, nodeRuntime, productionDependencies, run, sourceDateEpoch } from './build.ts'
import { MAINTAINER_SCRIPTS, PACKAGE_FILES, TARBALL_FILES, changelogFile, controlFile, copyrightFile, debianVersion, dependsField, type PackageFile } from './package-layout.ts'
import { message } from './checks.ts'
import { noArguments } from './script-cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** The trees while packaging: a fresh folder of the cache per run (the image's build uses work/). */
const WORK_PREFIX = join(CACHE_DIR, 'package-work-')
/** xz of ~300 MiB on a loaded 2-core machine. */
const TIMEOUT_COMPRESS_MS = 15 * 60_000

export interface PackageInfo {
  version: string
  sourceDateEpoch: string
  deb: string
  tarball: string
  debBytes: number
  tarballBytes: number
  installedSizeKiB: number
  debSha256: string
  tarballSha256: string
  seconds: number
}

/** Copies PackageFiles from the worktree into `dest`, with their modes. */
async function copyFiles (files: readonly PackageFile[], dest: string): Promise<void> {
  for (const file of files) {
    await mkdir(dirname(join(dest, file.to)), { recursive: true })
    await copyFile(join(ROOT, file.from), join(dest, file.to))
    await chmod(join(dest, file.to), file.mode)
  }
}

/** Every time under `dir` no newer than `epoch` (the layers copied now carry the build's time). */
async function clampTimes (dir: string, epoch: string): Promise<void> {
  await run('bash', ['-c', 'find "$1" -newermt "@$2" -print0 | xargs -0r touch -h -d "@$2"', 'clamp', dir, epoch])
}

/** Writes FILE.sha256 (`HASH  FILE`, as sha256sum); returns the hash. */
async function writeSha256 (file: string): Promise<string> {
  const line = await run('sha256sum', [basename(file)], { cwd: dirname(file) })
  await writeFile(`${file}.sha256`, line)
  return line.split(' ')[0] ?? ''
}

/** The tree both packages install: /opt/tandem, the units, the command, the docs. */
async function stageTree (tree: string, version: string, nodeVersion: string, epoch: string): Promise<void> {
  const node = await nodeRuntime(nodeVersion)
  const deps = await productionDependencies(node, nodeVersion)
  await installTandem(join(tree, 'opt', 'tandem'), node, deps.dir)
  await copyFiles(PACKAGE_FILES, tree)
  const doc = join(tree, 'usr', 'share', 'doc', 'tandem')
  await mkdir(doc, { recursive: true })
  await writeFile(join(doc, 'copyright'), copyrightFile(nodeVersion))
  await writeFile(join(doc, 'changelog'), changelogFile(version, Number(epoch)))
  await run('gzip', ['-n', '-9', join(doc, 'changelog')])
  // Addons are loaded by dlopen, not run: 0644 as shared libraries are (lintian).
  await run('find', [join(tree, 'opt'), '-name', '*.node', '-type', 'f', '-exec', 'chmod', '0644', '{}', '+'])
}

export async function buildPackages (): Promise<PackageInfo> {
  const started = Date.now()
  if (process.getuid?.() !== 0) throw new Error('npm run package runs as root: the tree is root\'s, as dpkg installs it')
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const nodeVersion = (JSON.parse(await readFile(join(ROOT, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version
  const epoch = await sourceDateEpoch()
  const env = { ...process.env, SOURCE_DATE_EPOCH: epoch, LC_ALL: 'C' }
  const depends = dependsField(await readFile(join(ROOT, 'image', 'debian-packages.txt'), 'utf8'))
  const version = manifest.version

  await mkdir(CACHE_DIR, { recursive: true })
  const work = await mkdtemp(WORK_PREFIX)
  try {
    return await packageIn(work, version, nodeVersion, epoch, env, depends, started)
  } finally {
    if (process.env.TANDEM_IMAGE_KEEP_WORK !== '1') await rm(work, { recursive: true, force: true })
  }
}

/** buildPackages' body, in the folder `work`. */
async function packageIn (work: string, version: string, nodeVersion: string, epoch: string, env: NodeJS.ProcessEnv, depends: string, started: number): Promise<PackageInfo> {
  const tree = join(work, 'tree')
  console.log('package: staging /opt/tandem (Node, Tandem, production dependencies) and the units...')
  await stageTree(tree, version, nodeVersion, epoch)
  const installedSizeKiB = Number((await run('du', ['-s', '-k', '--apparent-size', tree])).split('\t')[0])

  // The .deb: the tree and DEBIAN/ (hard links: no second copy of ~300 MiB).
  const debRoot = join(work, 'deb')
  await run('cp', ['-al', tree, debRoot])
  await mkdir(join(debRoot, 'DEBIAN'))
  await writeFile(join(debRoot, 'DEBIAN', 'control'), controlFile({ version, installedSizeKiB, depends }))
  await copyFiles(MAINTAINER_SCRIPTS.map(name => ({ from: `image/package/${name}`, to: `DEBIAN/${name}`, mode: 0o755 })), debRoot)
  await clampTimes(work, epoch)
  await mkdir(OUT_DIR, { recursive: true })
  const deb = join(OUT_DIR, `tandem_${debianVersion(version)}_amd64.deb`)
  console.log(`package: ${basename(deb)} (dpkg-deb, xz)...`)
  await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', debRoot, `${deb}.partial`], { env, timeoutMs: TIMEOUT_COMPRESS_MS })
  await run('mv', [`${deb}.partial`, deb])

  // The tarball: the same tree under tandem-VERSION-linux-x64/, with install.sh,
  // README.md and the maintainer scripts install.sh runs.
  const name = `tandem-${version}-linux-x64`
  const top = join(work, 'tar', name)
  await mkdir(dirname(top), { recursive: true })
  await run('cp', ['-al', tree, top])
  await copyFiles(TARBALL_FILES, top)
  await copyFiles(MAINTAINER_SCRIPTS.map(script => ({ from: `image/package/${script}`, to: `maintainer/${script}`, mode: 0o755 })), top)
  await clampTimes(join(work, 'tar'), epoch)
  const tarball = join(OUT_DIR, `${name}.tar.gz`)
  console.log(`package: ${basename(tarball)} (tar, gzip)...`)
  await run('bash', ['-c', 'set -o pipefail; tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$3" --clamp-mtime -C "$1" -cf - "$2" | gzip -n -9 > "$4"',
    'tarball', join(work, 'tar'), name, epoch, `${tarball}.partial`], { env, timeoutMs: TIMEOUT_COMPRESS_MS })
  await run('mv', [`${tarball}.partial`, tarball])

  const size = async (file: string): Promise<number> => Number((await run('stat', ['-c', '%s', file])).trim())
  const info: PackageInfo = {
    version,
    sourceDateEpoch: epoch,
    deb,
    tarball,
    debBytes: await size(deb),
    tarballBytes: await size(tarball),
    installedSizeKiB,
    debSha256: await writeSha256(deb),
    tarballSha256: await writeSha256(tarball),
    seconds: Math.round((Date.now() - started) / 1000)
  }
  await writeFile(join(OUT_DIR, `tandem-${version}.package.json`), JSON.stringify(info, null, 2) + '\n')
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`
  console.log(`package: ${basename(deb)} ${mib(info.debBytes)} (${mib(installedSizeKiB * 1024)} installed), ${basename(tarball)} ${mib(info.tarballBytes)}, in ${info.seconds} s`)
  return info
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  noArguments('usage: npm run package   (as root; node image/package.ts)\nBuilds image/out/tandem_VERSION_amd64.deb and tandem-VERSION-linux-x64.tar.gz from the image\'s layers (image/README.md "Package for existing hosts").')
  buildPackages().catch((err: unknown) => {
    console.error(`package: failed: ${message(err)}`)
    process.exitCode = 1
  })
}
