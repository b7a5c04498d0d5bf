/**
 * `npm run package:check`: installs the .deb `npm run package` made into a
 * Debian 13 root (the image's cached root tarball, unpacked to a temporary
 * folder of the cache) and runs it there for real: dpkg -i (the Depends are
 * the root's own: qemu-system-x86, qemu-utils, ovmf, systemd are installed in
 * it), `tandem --version`, `tandem init` and `tandem start` as user tandem,
 * `tandem status` answering, the daemon stopped by its pid; dpkg -r and -P
 * keeping /var/lib/tandem; then the tarball's install.sh, twice, and its
 * --uninstall. lintian on the .deb when it is installed. Prints
 * "N passed, N failed"; exit status 1 when one failed.
 *
 * Each command runs in a private mount namespace (unshare -m) with /proc
 * mounted on the root's, then chroot: no loop mounts, nothing left mounted on
 * the host. The chroot shares the host's network: the daemon listens on
 * 127.0.0.1 only (its web page on a free port, its peer port chosen by the kernel).
 * Runs as root.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { get } from 'node:https'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CACHE_DIR, OUT_DIR, run } from './build.ts'
import { Checks, message } from './checks.ts'
import { debianVersion } from './package-layout.ts'
import { freePort } from './qemu-box.ts'
import { noArguments } from './script-cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** `tandem start` under load (Node loads the app and its dependencies cold): 1-2 min on these machines. */
const TIMEOUT_DAEMON_READY_MS = 4 * 60_000
/** The daemon stops on SIGTERM (tandem.service allows it 90 s). */
const TIMEOUT_DAEMON_STOP_MS = 90_000
/** How often `tandem status` is asked while the daemon starts. */
const POLL_MS = 3_000
/** Any one command in the root (dpkg -i of ~200 MiB, tandem init). */
const TIMEOUT_COMMAND_MS = 10 * 60_000

const checks = new Checks()
const { check } = checks

/** The shell line that runs `argv` in `rootfs` with /proc, in a private mount namespace. */
function inRootArgs (rootfs: string, argv: readonly string[]): string[] {
  return ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t proc proc "$1/proc" && r="$1" && shift && exec chroot "$r" "$@"', 'in-root', rootfs, ...argv]
}

const ROOT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', HOME: '/root', DEBIAN_FRONTEND: 'noninteractive' }

/** Runs `argv` in the root; resolves its output, or rejects with its status and last lines. */
async function inRoot (rootfs: string, argv: readonly string[]): Promise<string> {
  return await run('unshare', inRootArgs(rootfs, argv), { env: ROOT_ENV, timeoutMs: TIMEOUT_COMMAND_MS })
}

/** `argv` as user tandem (its groups too), as tandem.service runs the daemon. */
function asTandem (argv: readonly string[]): string[] {
  return ['setpriv', '--reuid=tandem', '--regid=tandem', '--init-groups', 'env', 'HOME=/var/lib/tandem', 'NODE_DISABLE_COMPILE_CACHE=1', ...argv]
}

/** Tries a step; a thrown error is a failed check with its message. */
async function attempt (name: string, body: () => Promise<string | boolean>): Promise<boolean> {
  try {
    const result = await body()
    check(name, result !== false, typeof result === 'string' ? result : '')
    return result !== false
  } catch (err) {
    check(name, false, message(err).split('\n').slice(-6).join(' | '))
    return false
  }
}

async function waitExit (child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  return await new Promise(resolve => {
    const timer = setTimeout(() => { resolve(false) }, ms)
    child.on('exit', () => { clearTimeout(timer); resolve(true) })
  })
}

/** The daemon as tandem in the root, its status asked until it answers; stopped by its pid. */
async function daemonChecks (rootfs: string, port: number): Promise<void> {
  // sh and chroot, setpriv and env exec: the pid spawned is the daemon's (Node's).
  const daemon = spawn('unshare', inRootArgs(rootfs, asTandem(['/usr/bin/tandem', 'start', '--data', '/var/lib/tandem'])), { env: ROOT_ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  daemon.stdout.on('data', (chunk: Buffer) => { log += chunk.toString() })
  daemon.stderr.on('data', (chunk: Buffer) => { log += chunk.toString() })
  try {
    const started = Date.now()
    let state = 'stopped'
    while (Date.now() - started < TIMEOUT_DAEMON_READY_MS && daemon.exitCode === null && state === 'stopped') {
      try {
        // With no daemon yet, status answers from the data directory alone: state "stopped".
        state = (JSON.parse(await inRoot(rootfs, asTandem(['/usr/bin/tandem', 'status', '--json', '--data', '/var/lib/tandem']))) as { state: string }).state
      } catch {}
      if (state === 'stopped') await new Promise(resolve => setTimeout(resolve, POLL_MS))
    }
    check('tandem start as tandem: tandem status answers from the daemon', state !== 'stopped', state !== 'stopped' ? `state ${state} after ${Math.round((Date.now() - started) / 1000)} s` : `no answer; daemon: ${log.slice(-400)}`)
    if (state !== 'stopped') {
      await attempt(`the web page answers over HTTPS on 127.0.0.1:${port}`, async () => {
        // The box's self-signed certificate (tandem init): its fingerprint is not checked here.
        const status = await new Promise<number>((resolve, reject) => {
          get({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, timeout: 30_000 }, res => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject)
        })
        return status > 0 && status < 500 ? `HTTP ${status}` : false
      })
    }
  } finally {
    if (daemon.pid !== undefined && daemon.exitCode === null) process.kill(daemon.pid, 'SIGTERM')
    const stopped = await waitExit(daemon, TIMEOUT_DAEMON_STOP_MS)
    if (!stopped && daemon.pid !== undefined) process.kill(daemon.pid, 'SIGKILL')
    check('the daemon stops on SIGTERM (by its pid)', stopped, `exit ${String(daemon.exitCode ?? daemon.signalCode)}`)
  }
}

async function lintian (deb: string): Promise<void> {
  if (!existsSync('/usr/bin/lintian')) {
    console.log('lintian: not installed (apt-get install lintian): skipped')
    return
  }
  // lintian exits 2 on errors: read its tags either way.
  let out = ''
  try {
    out = await run('lintian', ['--tag-display-limit', '0', deb], { timeoutMs: TIMEOUT_COMMAND_MS })
  } catch (err) {
    out = message(err)
  }
  const tags = out.split('\n').filter(line => /^[EWIP]: /.test(line))
  for (const line of tags) console.log(`  ${line}`)
  const errors = tags.filter(line => line.startsWith('E: '))
  check('lintian: no errors', errors.length === 0, `${errors.length} errors, ${tags.filter(line => line.startsWith('W: ')).length} warnings`)
}

export async function packageCheck (): Promise<boolean> {
  if (process.getuid?.() !== 0) throw new Error('npm run package:check runs as root: it unpacks a root file system and chroots into it')
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const deb = join(OUT_DIR, `tandem_${debianVersion(version)}_amd64.deb`)
  const tarball = join(OUT_DIR, `tandem-${version}-linux-x64.tar.gz`)
  if (!existsSync(deb) || !existsSync(tarball)) throw new Error(`${deb} or ${tarball} missing: npm run package first`)
  const rootTarball = (await readdir(CACHE_DIR)).find(entry => /^root-[0-9a-f]+\.tar\.zst$/.test(entry))
  if (rootTarball === undefined) throw new Error(`no Debian root in ${CACHE_DIR}: npm run image makes it`)

  await attempt('the .deb and tarball match their .sha256 files', async () => {
    await run('sha256sum', ['-c', `${deb}.sha256`, `${tarball}.sha256`], { cwd: OUT_DIR })
    return true
  })
  const temp = await mkdtemp(join(CACHE_DIR, 'package-check-'))
  const rootfs = join(temp, 'rootfs')
  try {
    await mkdir(rootfs)
    await run('tar', ['--zstd', '-xpf', join(CACHE_DIR, rootTarball), '--numeric-owner', '-C', rootfs])
    await copyFile(deb, join(rootfs, 'tmp', 'tandem.deb'))
    const installed = await attempt('dpkg -i in the root (Depends from the root\'s own packages)', async () => {
      const out = await inRoot(rootfs, ['dpkg', '-i', '/tmp/tandem.deb'])
      return out.split('\n').filter(line => line.startsWith('tandem:')).join(' ')
    })
    if (installed) {
      await attempt('the user tandem, in group kvm; /var/lib/tandem 0700 tandem', async () => {
        const id = await inRoot(rootfs, ['id', 'tandem'])
        const dir = (await inRoot(rootfs, ['stat', '-c', '%a %U', '/var/lib/tandem'])).trim()
        return id.includes('(kvm)') && dir === '700 tandem' ? `${id.trim()}; ${dir}` : false
      })
      await attempt('tandem.service enabled (not started: no systemd in a chroot)', async () => (await inRoot(rootfs, ['systemctl', 'is-enabled', 'tandem.service'])).trim())
      await attempt('systemd-analyze verify of the installed units', async () => {
        await inRoot(rootfs, ['systemd-analyze', 'verify', '--man=no', 'tandem.service', 'tandem-firstboot.service'])
        return true
      })
      await attempt('tandem --version', async () => (await inRoot(rootfs, ['tandem', '--version'])).trim())
      const port = await freePort()
      const init = await attempt(`tandem init as tandem (--api 127.0.0.1:${port})`, async () => {
        await inRoot(rootfs, asTandem(['/usr/bin/tandem', 'init', '--data', '/var/lib/tandem', '--api', `127.0.0.1:${port}`, '--listen', '/ip4/127.0.0.1/tcp/0']))
        return existsSync(join(rootfs, 'var', 'lib', 'tandem', 'config.json'))
      })
      if (init) await daemonChecks(rootfs, port)
      await attempt('dpkg -r: the files go, /var/lib/tandem stays', async () => {
        await inRoot(rootfs, ['dpkg', '-r', 'tandem'])
        const left = ['opt/tandem/app', 'usr/bin/tandem', 'usr/lib/systemd/system/tandem.service', 'etc/systemd/system/multi-user.target.wants/tandem.service'].filter(path => existsSync(join(rootfs, path)))
        if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}${left.includes('opt/tandem/app') ? ` (${(await run('find', [join(rootfs, 'opt', 'tandem'), '-maxdepth', '4'])).split('\n').slice(0, 8).join(' ')})` : ''}`)
        return existsSync(join(rootfs, 'var', 'lib', 'tandem', 'config.json'))
      })
      await attempt('dpkg -P: purged, /var/lib/tandem and the user tandem kept', async () => {
        const out = await inRoot(rootfs, ['dpkg', '-P', 'tandem'])
        await inRoot(rootfs, ['id', 'tandem'])
        return existsSync(join(rootfs, 'var', 'lib', 'tandem', 'config.json')) ? out.split('\n').filter(line => line.startsWith('tandem:')).join(' ') : false
      })
    }
    await attempt('the tarball: install.sh twice (idempotent), tandem --version, --uninstall', async () => {
      await run('tar', ['-xzf', tarball, '-C', join(rootfs, 'tmp')])
      const dir = `/tmp/tandem-${version}-linux-x64`
      await inRoot(rootfs, ['sh', `${dir}/install.sh`])
      const listed = await run('bash', ['-c', 'cd "$1" && find opt usr | sort | sha256sum', 'list', rootfs])
      await inRoot(rootfs, ['sh', `${dir}/install.sh`])
      const again = await run('bash', ['-c', 'cd "$1" && find opt usr | sort | sha256sum', 'list', rootfs])
      const versionLine = (await inRoot(rootfs, ['tandem', '--version'])).trim()
      const enabled = (await inRoot(rootfs, ['systemctl', 'is-enabled', 'tandem.service'])).trim()
      await inRoot(rootfs, ['sh', `${dir}/install.sh`, '--uninstall'])
      const gone = !existsSync(join(rootfs, 'opt', 'tandem')) && !existsSync(join(rootfs, 'usr', 'bin', 'tandem'))
      const kept = existsSync(join(rootfs, 'var', 'lib', 'tandem', 'config.json'))
      return listed === again && enabled === 'enabled' && gone && kept ? `${versionLine}, ${enabled}, the same files after the second run, removed, data kept` : false
    })
  } finally {
    await rm(temp, { recursive: true, force: true })
  }
  await lintian(deb)

  console.log(`${checks.passed} passed, ${checks.failed} failed`)
  return checks.failed === 0
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  noArguments('usage: npm run package:check   (as root, after npm run package; node image/package-check.ts)\nInstalls, runs and purges the .deb and the tarball in a chroot of the cached Debian root; prints N passed, N failed.')
  packageCheck().then(ok => { if (!ok) process.exitCode = 1 }, (err: unknown) => {
    console.error(`package:check: ${message(err)}`)
    process.exitCode = 1
  })
}
