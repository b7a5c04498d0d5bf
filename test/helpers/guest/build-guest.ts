/**
 * A tiny real guest for end-to-end VM tests: Debian 12's 6.1 kernel plus a
 * busybox initramfs whose /init keeps writing random blocks to /dev/vda.
 * Built once from Debian packages and cached; see README.md beside this file.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'

/** Bump when the build changes in a way the init script and module list do not show. */
const RECIPE_VERSION = 1

/** Where busybox-static installs its binary (the dynamic `busybox` package uses the same path: checked below). */
const BUSYBOX = '/bin/busybox'

/**
 * Kernel modules, in load order (each needs the ones before it), as paths
 * under lib/modules/<release>/kernel/ without the .ko suffix. virtio_console
 * is loaded for a later guest agent over virtio-serial; nothing uses it yet.
 */
const MODULES = [
  'drivers/virtio/virtio_ring',
  'drivers/virtio/virtio',
  'drivers/virtio/virtio_pci_modern_dev',
  'drivers/virtio/virtio_pci_legacy_dev',
  'drivers/virtio/virtio_pci',
  'drivers/block/virtio_blk',
  'drivers/char/virtio_console'
] as const

/** Serial console markers; run-guest.ts and the tests match these. */
export const MARKER = {
  ready: 'TANDEM-GUEST-READY',
  writes: 'TANDEM-GUEST-WRITES',
  done: 'TANDEM-GUEST-DONE',
  error: 'TANDEM-GUEST-ERROR'
} as const

const moduleNames = MODULES.map(m => m.slice(m.lastIndexOf('/') + 1))

/**
 * The guest's /init. Kernel parameters (read from /proc/cmdline: dotted
 * parameters are not passed to init):
 *   tandem.writes=N   power off after N writes (default 0: write forever)
 *   tandem.every=N    print "TANDEM-GUEST-WRITES <count>" every N writes (default 16)
 *   tandem.delay=US   pause between writes, microseconds (default 20000)
 *   tandem.pattern=HH fill every written block with byte 0xHH instead of random data
 * Each write is 1..16 pages of 4 KiB at a random 4 KiB-aligned offset, O_DIRECT
 * and fsync'd, so it reaches QEMU (and the host file) before the next one.
 */
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in ${moduleNames.join(' ')}; do
  insmod /lib/modules/$m.ko || echo "${MARKER.error} insmod $m"
done
writes=0 every=16 delay=20000 pattern=
for p in $(cat /proc/cmdline); do
  case "$p" in
    tandem.writes=*) writes=\${p#*=} ;;
    tandem.every=*) every=\${p#*=} ;;
    tandem.delay=*) delay=\${p#*=} ;;
    tandem.pattern=*) pattern=\${p#*=} ;;
  esac
done
i=0
while [ ! -b /dev/vda ]; do
  i=$((i + 1))
  if [ $i -gt 1000 ]; then echo "${MARKER.error} no /dev/vda"; poweroff -f; fi
  usleep 10000
done
pages=$(( $(cat /sys/block/vda/size) / 8 ))
src=/dev/urandom
if [ -n "$pattern" ]; then
  src=/fill
  dd if=/dev/zero bs=65536 count=1 status=none | tr '\\000' "\\\\$(printf %03o 0x$pattern)" > $src
fi
echo "${MARKER.ready} pages=$pages"
count=0
while [ "$writes" -eq 0 ] || [ $count -lt "$writes" ]; do
  len=$(( RANDOM % 16 + 1 ))
  off=$(( (RANDOM * 32768 + RANDOM) % (pages - len + 1) ))
  dd if=$src of=/dev/vda bs=4096 count=$len seek=$off oflag=direct conv=notrunc,fsync status=none || echo "${MARKER.error} dd"
  count=$((count + 1))
  [ $((count % every)) -eq 0 ] && echo "${MARKER.writes} $count"
  usleep $delay
done
echo "${MARKER.done} $count"
poweroff -f
`

/** Stable codes of this helper's failures; tests branch on `code`, never on the message. */
export const TestGuestErrorCode = {
  /** No Debian 6.1 kernel package could be found or downloaded (no apt lists, no network). */
  TEST_GUEST_KERNEL_UNAVAILABLE: 'TEST_GUEST_KERNEL_UNAVAILABLE',
  /** A host tool the build needs is missing or unsuitable (cpio, xz, busybox-static). */
  TEST_GUEST_TOOL_MISSING: 'TEST_GUEST_TOOL_MISSING',
  /** The kernel package did not hold what the build expects. */
  TEST_GUEST_BUILD_FAILED: 'TEST_GUEST_BUILD_FAILED',
  /** QEMU exited before the awaited serial line. */
  TEST_GUEST_EXITED: 'TEST_GUEST_EXITED',
  /** The awaited serial line did not come in time. */
  TEST_GUEST_TIMEOUT: 'TEST_GUEST_TIMEOUT'
} as const
export type TestGuestErrorCode = typeof TestGuestErrorCode[keyof typeof TestGuestErrorCode]

export class TestGuestError extends Error {
  readonly code: TestGuestErrorCode
  constructor (code: TestGuestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TestGuestError'
    this.code = code
  }
}

export interface TestGuestInit {
  /** Root of the cache; the guest lives in `<cacheDir>/<version-key>`. Default `~/.cache/tandem/test-guest`. */
  cacheDir?: string
  signal?: AbortSignal
}

export interface TestGuest {
  /** Uncompressed vmlinux booted through its PVH entry (no decompression under TCG), or the bzImage if that was impossible. */
  kernel: string
  /** gzip'd newc cpio holding /init, busybox and the virtio modules. */
  initrd: string
  /** The Debian package and version the kernel came from. */
  kernelPackage: string
  kernelVersion: string
}

interface Manifest extends Omit<TestGuest, 'kernel' | 'initrd'> {
  recipe: number
  kernelFile: string
  initrdFile: string
  boot: 'pvh' | 'bzimage'
  busybox: string
}

/**
 * The cache key: a hash of everything that shapes the guest except the kernel
 * package, so a warm cache needs neither apt nor the network. A newer Debian
 * kernel is picked up only when the cache directory is deleted.
 */
export function guestVersionKey (): string {
  const h = createHash('sha256').update(JSON.stringify({ RECIPE_VERSION, MODULES, INIT_SCRIPT }))
  return `v${RECIPE_VERSION}-${h.digest('hex').slice(0, 16)}`
}

/**
 * Returns the cached guest, building it first when absent. Idempotent and
 * safe to call concurrently, also from several processes: each build happens
 * in a private temporary directory beside the cache, renamed into place only
 * when complete; the loser of a race discards its copy and uses the winner's.
 * Touches nothing outside that temporary directory and the cache.
 */
export async function ensureTestGuest (init: TestGuestInit = {}): Promise<TestGuest> {
  const root = init.cacheDir ?? join(homedir(), '.cache', 'tandem', 'test-guest')
  const dir = join(root, guestVersionKey())
  const cached = await readCache(dir)
  if (cached !== undefined) return cached
  await mkdir(root, { recursive: true })
  await removeAbandonedBuilds(root)
  const tmp = join(root, `.build-${process.pid}-${randomBytes(4).toString('hex')}`)
  await mkdir(tmp)
  try {
    await build(tmp, init.signal)
    try {
      await rename(tmp, dir)
    } catch (err) {
      const found = await readCache(dir)
      if (found === undefined) throw err
    }
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  const built = await readCache(dir)
  if (built === undefined) throw new TestGuestError('TEST_GUEST_BUILD_FAILED', `the guest in ${dir} is incomplete after building`)
  return built
}

/**
 * The guest's kernel as its bzImage, for a VM whose screen must show the
 * guest's console (a drill's screenshot, docs/failover.md): entered through
 * its real-mode setup, the kernel learns of the VGA text screen
 * (screen_info), so `console=tty0` prints its log there; the PVH entry of
 * the cached vmlinux skips that setup, and the screen keeps SeaBIOS's
 * lines. About 5 s slower to boot under TCG. Kept beside `guest` (from
 * ensureTestGuest) on first use: the same kernel package version is
 * downloaded again with apt and only its bzImage kept, so the initrd's
 * modules match it; later calls need neither apt nor the network. Safe to
 * call concurrently (the file is renamed into place whole).
 */
export async function ensureDisplayKernel (guest: TestGuest, signal?: AbortSignal): Promise<string> {
  if (/\/vmlinuz-[^/]+$/.test(guest.kernel)) return guest.kernel
  const dir = dirname(guest.kernel)
  const release = guest.kernel.slice(guest.kernel.lastIndexOf('/vmlinux-') + '/vmlinux-'.length)
  const file = join(dir, `vmlinuz-${release}`)
  if (await stat(file).then(s => s.isFile() && s.size > 0, () => false)) return file
  const tmp = join(dirname(dir), `.build-${process.pid}-${randomBytes(4).toString('hex')}`)
  await mkdir(tmp)
  try {
    try {
      await run('apt-get', ['download', '-q', `${guest.kernelPackage}=${guest.kernelVersion}`], { cwd: tmp, signal })
    } catch (cause) {
      throw new TestGuestError('TEST_GUEST_KERNEL_UNAVAILABLE', `apt-get download ${guest.kernelPackage}=${guest.kernelVersion} failed`, { cause })
    }
    const deb = (await readdir(tmp)).find(f => f.endsWith('.deb'))
    if (deb === undefined) throw new TestGuestError('TEST_GUEST_KERNEL_UNAVAILABLE', `apt-get download ${guest.kernelPackage} left no .deb`)
    await extractFromDeb(join(tmp, deb), tmp, [`./boot/vmlinuz-${release}`], signal)
    await rename(join(tmp, 'boot', `vmlinuz-${release}`), file)
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  return file
}

/** Removes `.build-<pid>-*` directories whose process is gone (a build killed mid-way). */
async function removeAbandonedBuilds (root: string): Promise<void> {
  for (const name of await readdir(root)) {
    const pid = Number(/^\.build-(\d+)-[0-9a-f]+$/.exec(name)?.[1] ?? NaN)
    if (Number.isNaN(pid) || isAlive(pid)) continue
    await rm(join(root, name), { recursive: true, force: true })
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function readCache (dir: string): Promise<TestGuest | undefined> {
  let m: Manifest
  try {
    m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest
  } catch { return undefined }
  const kernel = join(dir, m.kernelFile)
  const initrd = join(dir, m.initrdFile)
  for (const f of [kernel, initrd]) {
    if (!await stat(f).then(s => s.isFile() && s.size > 0, () => false)) return undefined
  }
  return { kernel, initrd, kernelPackage: m.kernelPackage, kernelVersion: m.kernelVersion }
}

/** Builds the guest into the empty directory `out`, leaving only the cached files there. */
async function build (out: string, signal?: AbortSignal): Promise<void> {
  const busybox = await readFile(BUSYBOX).catch((cause: unknown) => {
    throw new TestGuestError('TEST_GUEST_TOOL_MISSING', `${BUSYBOX} is missing: install busybox-static`, { cause })
  })
  if (elfInterpreter(busybox)) {
    throw new TestGuestError('TEST_GUEST_TOOL_MISSING', `${BUSYBOX} is dynamically linked: install busybox-static`)
  }
  const work = join(out, 'work')
  await mkdir(work)
  const kernelPackage = await chooseKernelPackage(signal)
  try {
    await run('apt-get', ['download', '-q', kernelPackage], { cwd: work, signal })
  } catch (cause) {
    throw new TestGuestError('TEST_GUEST_KERNEL_UNAVAILABLE', `apt-get download ${kernelPackage} failed`, { cause })
  }
  const deb = (await readdir(work)).find(f => f.endsWith('.deb'))
  if (deb === undefined) throw new TestGuestError('TEST_GUEST_KERNEL_UNAVAILABLE', `apt-get download ${kernelPackage} left no .deb`)
  const debPath = join(work, deb)
  const kernelVersion = (await run('dpkg-deb', ['-f', debPath, 'Version'], { signal })).toString().trim()

  const tree = join(work, 'tree')
  await mkdir(tree)
  await extractFromDeb(debPath, tree, ['./boot/vmlinuz-*', ...MODULES.map(m => `./lib/modules/*/kernel/${m}.ko*`)], signal)
  const bzImageName = (await readdir(join(tree, 'boot'))).find(f => f.startsWith('vmlinuz-'))
  if (bzImageName === undefined) throw new TestGuestError('TEST_GUEST_BUILD_FAILED', `${deb} holds no boot/vmlinuz-*`)
  const release = bzImageName.slice('vmlinuz-'.length)

  const initrdRoot = join(work, 'initrd')
  await mkdir(join(initrdRoot, 'bin'), { recursive: true })
  await mkdir(join(initrdRoot, 'lib', 'modules'), { recursive: true })
  await writeFile(join(initrdRoot, 'bin', 'busybox'), busybox, { mode: 0o755 })
  await writeFile(join(initrdRoot, 'init'), INIT_SCRIPT)
  await chmod(join(initrdRoot, 'init'), 0o755)
  for (const m of MODULES) {
    await copyModule(join(tree, 'lib', 'modules', release, 'kernel'), m, join(initrdRoot, 'lib', 'modules'), signal)
  }
  const entries = ['init', 'bin', 'bin/busybox', 'lib', 'lib/modules', ...moduleNames.map(n => `lib/modules/${n}.ko`)]
  const cpio = await run('cpio', ['-o', '-H', 'newc', '--quiet', '-R', '0:0'], { cwd: initrdRoot, input: Buffer.from(entries.join('\n') + '\n'), signal })
    .catch((cause: unknown) => { throw new TestGuestError('TEST_GUEST_TOOL_MISSING', 'cpio failed: install cpio', { cause }) })
  await writeFile(join(out, 'initrd.gz'), gzipSync(cpio))

  const bzImage = await readFile(join(tree, 'boot', bzImageName))
  const vmlinux = await extractPvhKernel(bzImage, signal)
  const kernelFile = vmlinux === undefined ? `vmlinuz-${release}` : `vmlinux-${release}`
  await writeFile(join(out, kernelFile), vmlinux ?? bzImage)

  await rm(work, { recursive: true, force: true })
  const busyboxVersion = (await run(BUSYBOX, [], { signal, okCodes: [0, 1] })).toString().split('\n')[0] ?? ''
  const manifest: Manifest = {
    recipe: RECIPE_VERSION,
    kernelPackage,
    kernelVersion,
    kernelFile,
    initrdFile: 'initrd.gz',
    boot: vmlinux === undefined ? 'bzimage' : 'pvh',
    busybox: busyboxVersion.trim()
  }
  // Written last: its presence marks the directory complete.
  await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
}

/**
 * The Debian 6.1 kernel to use: the dependency of `linux-image-amd64` when it
 * is a 6.1 kernel (Debian 12), else the highest-ABI `linux-image-6.1.0-N-amd64`
 * apt knows. Not 6.12: Debian 13's kernel double-faults under QEMU 7.2's
 * multi-threaded TCG. Reads apt's local lists only.
 */
async function chooseKernelPackage (signal?: AbortSignal): Promise<string> {
  const is61 = /^linux-image-6\.1\.0-(\d+)-amd64$/
  try {
    const deps = (await run('apt-cache', ['depends', 'linux-image-amd64'], { signal })).toString()
    const dep = /Depends:\s*(linux-image-\S+)/.exec(deps)?.[1]
    if (dep !== undefined && is61.test(dep)) return dep
  } catch { /* metapackage unknown: fall through to the name search */ }
  let names: string[] = []
  try {
    names = (await run('apt-cache', ['pkgnames', 'linux-image-6.1.0-'], { signal })).toString().split('\n').filter(n => is61.test(n))
  } catch (cause) {
    throw new TestGuestError('TEST_GUEST_KERNEL_UNAVAILABLE', 'apt-cache cannot list kernel packages', { cause })
  }
  names.sort((a, b) => Number(is61.exec(b)?.[1]) - Number(is61.exec(a)?.[1]))
  for (const name of names) {
    const policy = (await run('apt-cache', ['policy', name], { signal })).toString()
    if (/Candidate:\s*(?!\(none\))\S+/.test(policy)) return name
  }
  throw new TestGuestError('TEST_GUEST_KERNEL_UNAVAILABLE', 'apt knows no linux-image-6.1.0-*-amd64 package (run apt-get update?)')
}

/** `dpkg-deb --fsys-tarfile DEB | tar -x` of only the members matching `patterns`. */
async function extractFromDeb (deb: string, dest: string, patterns: string[], signal?: AbortSignal): Promise<void> {
  const dpkg = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'], signal })
  const tar = spawn('tar', ['-x', '-C', dest, '--wildcards', ...patterns], { stdio: [dpkg.stdout, 'ignore', 'pipe'], signal })
  // tar holds its own copy of the pipe; ours would keep dpkg-deb's 'close' from ever firing.
  dpkg.stdout.destroy()
  const [a, b] = await Promise.all([exitOf(dpkg, 'dpkg-deb'), exitOf(tar, 'tar')])
  if (a !== '' || b !== '') throw new TestGuestError('TEST_GUEST_BUILD_FAILED', `extracting ${deb} failed: ${a} ${b}`.trim())
}

/** Copies one module as an uncompressed .ko: busybox insmod cannot read .ko.xz. */
async function copyModule (kernelDir: string, module: string, destDir: string, signal?: AbortSignal): Promise<void> {
  const name = module.slice(module.lastIndexOf('/') + 1)
  const dir = join(kernelDir, module.slice(0, module.lastIndexOf('/')))
  const files = await readdir(dir).catch(() => [] as string[])
  const dest = join(destDir, `${name}.ko`)
  if (files.includes(`${name}.ko`)) return copyFile(join(dir, `${name}.ko`), dest)
  if (files.includes(`${name}.ko.xz`)) {
    return writeFile(dest, await run('xz', ['-dc', join(dir, `${name}.ko.xz`)], { signal }))
  }
  throw new TestGuestError('TEST_GUEST_BUILD_FAILED', `kernel module ${module} not found (as .ko or .ko.xz)`)
}

/**
 * The uncompressed vmlinux inside a bzImage, when it has a PVH entry point
 * (QEMU then boots it directly, skipping the decompressor, which takes about
 * 5 s under TCG); undefined otherwise. Layout: the x86 boot protocol
 * (Documentation/arch/x86/boot.rst): setup_sects at 0x1f1, "HdrS" at 0x202,
 * payload_offset/payload_length at 0x248/0x24c, relative to the protected-mode
 * code at (setup_sects + 1) * 512.
 */
async function extractPvhKernel (bzImage: Buffer, signal?: AbortSignal): Promise<Buffer | undefined> {
  if (bzImage.length < 0x250 || bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined
  const start = ((bzImage[0x1f1] ?? 0) || 4) * 512 + 512 + bzImage.readUInt32LE(0x248)
  const payload = bzImage.subarray(start, start + bzImage.readUInt32LE(0x24c))
  let vmlinux: Buffer
  try {
    if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
      vmlinux = await run('xz', ['-dc', '--single-stream'], { input: payload, signal })
    } else if (payload[0] === 0x1f && payload[1] === 0x8b) {
      vmlinux = gunzipSync(payload)
    } else {
      return undefined
    }
  } catch {
    return undefined
  }
  return elfHasPvhNote(vmlinux) ? vmlinux : undefined
}

/** ELF64 little-endian program headers as [type, offset, size]; empty when `elf` is not one. */
function programHeaders (elf: Buffer): Array<[number, number, number]> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return []
  const phoff = Number(elf.readBigUInt64LE(0x20))
  const phentsize = elf.readUInt16LE(0x36)
  const phnum = elf.readUInt16LE(0x38)
  const out: Array<[number, number, number]> = []
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize
    if (p + 0x28 > elf.length) break
    out.push([elf.readUInt32LE(p), Number(elf.readBigUInt64LE(p + 8)), Number(elf.readBigUInt64LE(p + 0x20))])
  }
  return out
}

/** True when the ELF asks for a dynamic loader (PT_INTERP), i.e. is not static. */
function elfInterpreter (elf: Buffer): boolean {
  return programHeaders(elf).some(([type]) => type === 3)
}

/** True when a PT_NOTE holds the Xen note XEN_ELFNOTE_PHYS32_ENTRY (type 18): the PVH entry QEMU's -kernel uses. */
function elfHasPvhNote (elf: Buffer): boolean {
  for (const [type, offset, size] of programHeaders(elf)) {
    if (type !== 4) continue
    let p = offset
    const end = Math.min(offset + size, elf.length)
    while (p + 12 <= end) {
      const namesz = elf.readUInt32LE(p)
      const descsz = elf.readUInt32LE(p + 4)
      const noteType = elf.readUInt32LE(p + 8)
      const name = elf.toString('latin1', p + 12, p + 12 + namesz).replace(/\0+$/, '')
      if (name === 'Xen' && noteType === 18) return true
      p += 12 + Math.ceil(namesz / 4) * 4 + Math.ceil(descsz / 4) * 4
    }
  }
  return false
}

/** Upper bound on a helper command's captured stderr, for error messages. */
const MAX_STDERR = 16 * 1024

interface RunOptions { cwd?: string, input?: Buffer, signal?: AbortSignal | undefined, okCodes?: number[] }

/** Runs a command, resolving with its stdout; rejects with its stderr when it exits otherwise than `okCodes` (default [0]). */
async function run (cmd: string, args: string[], opts: RunOptions = {}): Promise<Buffer> {
  const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], signal: opts.signal })
  const chunks: Buffer[] = []
  child.stdout.on('data', (c: Buffer) => chunks.push(c))
  child.stdin.on('error', () => { /* the exit code reports the failure */ })
  child.stdin.end(opts.input)
  const failure = await exitOf(child, cmd, opts.okCodes)
  if (failure !== '') throw new Error(failure)
  return Buffer.concat(chunks)
}

/** Waits for a child's exit: '' when its code is in `okCodes`, else a description with its stderr. */
async function exitOf (child: ReturnType<typeof spawn>, name: string, okCodes = [0]): Promise<string> {
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { if (stderr.length < MAX_STDERR) stderr += c.toString() })
  return await new Promise(resolve => {
    child.once('error', err => resolve(`${name}: ${err.message}`))
    child.once('close', (code, sig) => {
      resolve(code !== null && okCodes.includes(code) ? '' : `${name} exited ${code ?? sig}: ${stderr.trim().slice(0, MAX_STDERR)}`)
    })
  })
}
