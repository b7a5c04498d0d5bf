/**
 * Reference transfers that `npm run bench:p2p` compares Tandem's replication
 * against, on loopback only (127.0.0.1): the raw bytes over one TLS 1.3
 * socket (the floor any encrypted transport pays), and rsync over ssh to a
 * private sshd (what an administrator would otherwise use).
 *
 * Self-check: npx node test/bench/p2p-reference.ts [sizeMiB]
 * prints both timings for a temporary file of sizeMiB (default 256) as JSON.
 */
import { spawn } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { constants, createReadStream, createWriteStream } from 'node:fs'
import { access, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createConnection, createServer as createTcpServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { basename, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { MIB, note, runTool, workDir } from './measure.ts'

const LOOPBACK = '127.0.0.1'
/** Debian's openssh-server; scripts/system-packages.sh installs it. */
const SSHD = '/usr/sbin/sshd'
/** How long sshd may take to accept connections; key loading and re-exec take well under a second. */
const TIMEOUT_SSHD_READY_MS = 10_000
/** Per-probe connect timeout while waiting for sshd. */
const TIMEOUT_PROBE_MS = 500
/** Free-port picks tried when sshd loses the race for the port to another process. */
const MAX_SSHD_ATTEMPTS = 3
/** sshd stderr kept for error messages (it logs every connection with -e). */
const MAX_SSHD_LOG_CHARS = 16 * 1024

/**
 * Self-signed P-256 certificate for `localhost`, made with the openssl CLI
 * in `dir`. Idempotent: an existing pair is reused.
 */
async function selfSignedCert (dir: string): Promise<{ key: Buffer, cert: Buffer }> {
  const keyPath = join(dir, 'tls-key.pem')
  const certPath = join(dir, 'tls-cert.pem')
  const exists = await stat(certPath).then(() => true, () => false)
  if (!exists) {
    await runTool('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
      '-keyout', keyPath, '-out', certPath])
  }
  return { key: await readFile(keyPath), cert: await readFile(certPath) }
}

/**
 * Sends `file` over one TLS 1.3 connection on 127.0.0.1 from a client to a
 * server, both in this process. The server writes what it receives to a
 * file in `workDir` (default: a temporary dir, removed afterwards) and
 * fsyncs it, like a real receiver. `seconds` runs from connect start until
 * the server has fsynced and closed the file (certificate generation is
 * outside it). Throws when the received size differs from the file's; the
 * received copy is removed after a successful check.
 */
export async function tlsRawTransfer (file: string, options: { workDir?: string } = {}): Promise<{ seconds: number, bytes: number }> {
  const ownDir = options.workDir === undefined ? await mkdtemp(join(tmpdir(), 'tandem-tls-')) : undefined
  const dir = options.workDir ?? ownDir!
  try {
    const { key, cert } = await selfSignedCert(dir)
    const received = join(dir, `tls-received-${basename(file)}`)
    const server = createTlsServer({ key, cert, minVersion: 'TLSv1.3' })
    // Settles once: the first connection's bytes are on disk, or the handshake failed.
    const receiving = new Promise<void>((resolve, reject) => {
      server.once('tlsClientError', reject)
      // flush: fsync before close, and pipeline settles only after the close.
      server.once('secureConnection', socket => {
        pipeline(socket, createWriteStream(received, { flush: true })).then(resolve, reject)
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, LOOPBACK, () => resolve())
    })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('TLS server has no TCP address')
    try {
      const t0 = performance.now()
      const sending = new Promise<void>((resolve, reject) => {
        const socket = tlsConnect({ host: LOOPBACK, port: address.port, ca: cert, servername: 'localhost', minVersion: 'TLSv1.3' })
        socket.once('error', reject)
        socket.once('secureConnect', () => {
          pipeline(createReadStream(file), socket).then(resolve, reject)
        })
      })
      await Promise.all([sending, receiving])
      const seconds = (performance.now() - t0) / 1000
      const [sent, got] = await Promise.all([stat(file), stat(received)])
      if (got.size !== sent.size) throw new Error(`TLS reference received ${got.size} bytes of ${sent.size}`)
      await rm(received, { force: true })
      return { seconds, bytes: got.size }
    } finally {
      server.close()
    }
  } finally {
    if (ownDir !== undefined) await rm(ownDir, { recursive: true, force: true })
  }
}

export interface LoopbackSshd {
  port: number
  /** ssh options (port, key, no host-key checks, batch mode) for `ssh <sshArgs> user@127.0.0.1`. */
  sshArgs: string[]
  /** Kills this sshd (its pid only; the listener, not other sshds) and waits for it to exit. Idempotent. */
  stop: () => Promise<void>
}

/**
 * Starts a private sshd listening only on 127.0.0.1, on a free port, that
 * lets the current user in with a key made for it in `workDir` (host key,
 * client key, authorized_keys, config and pid file all live there).
 * Resolves once the port answers with an SSH banner; rejects within about
 * 10 s with sshd's stderr otherwise. The caller must call `stop()`; an
 * sshd still running when this process exits is killed then.
 */
export async function startLoopbackSshd (workDir: string): Promise<LoopbackSshd> {
  await access(SSHD, constants.X_OK).catch(cause => {
    throw new Error(`${SSHD} is missing: run scripts/system-packages.sh (openssh-server)`, { cause })
  })
  const hostKey = join(workDir, 'ssh_host_ed25519_key')
  const clientKey = join(workDir, 'client_ed25519_key')
  const authorizedKeys = join(workDir, 'authorized_keys')
  for (const k of [hostKey, clientKey]) {
    await rm(k, { force: true })
    await rm(`${k}.pub`, { force: true })
    await runTool('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'tandem-bench', '-f', k])
  }
  await writeFile(authorizedKeys, await readFile(`${clientKey}.pub`))
  // As root sshd insists on its privilege-separation dir (Debian's is made by
  // the systemd unit, which containers do not run); unprivileged it does not.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 })

  const errors: string[] = []
  for (let attempt = 1; attempt <= MAX_SSHD_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort()
    const config = join(workDir, 'sshd_config')
    // A whole config of our own: -f replaces /etc/ssh/sshd_config, so no
    // system setting (Include, UsePAM yes, ListenAddress) leaks in.
    await writeFile(config, [
      `ListenAddress ${LOOPBACK}:${port}`,
      'AddressFamily inet',
      `HostKey ${hostKey}`,
      `PidFile ${join(workDir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'AuthenticationMethods publickey',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      'UseDNS no',
      'PrintMotd no',
      'X11Forwarding no',
      // bash runs ~/.bashrc for commands from sshd unless SHLVL >= 2 after its own
      // increment; a heavy .bashrc (pyenv here) would add ~0.25 s to every session.
      'SetEnv SHLVL=1',
      ''
    ].join('\n'))
    // sshd re-executes itself, so it must be started by absolute path.
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    let gone = false
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { log = (log + s).slice(-MAX_SSHD_LOG_CHARS) })
    const exited = new Promise<void>(resolve => {
      child.once('error', err => { log += `\n${err.message}`; gone = true; resolve() })
      child.once('close', () => { gone = true; resolve() })
    })
    const killOnExit = (): void => { child.kill() }
    process.once('exit', killOnExit)
    const stop = async (): Promise<void> => {
      process.off('exit', killOnExit)
      if (!gone && child.pid !== undefined) {
        try { process.kill(child.pid) } catch { /* already gone */ }
      }
      await exited
    }
    const ready = await waitForBanner(port, () => !gone, Date.now() + TIMEOUT_SSHD_READY_MS)
    if (ready) {
      const sshArgs = ['-p', String(port), '-i', clientKey, '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR']
      return { port, sshArgs, stop }
    }
    await stop()
    errors.push(`attempt ${attempt} (port ${port}, exit ${String(child.exitCode ?? child.signalCode)}):\n${log.trim()}`)
    // Only a lost port race is worth another port; any other failure would repeat.
    if (!/Address already in use|Cannot bind any address/.test(log)) break
  }
  throw new Error(`sshd on ${LOOPBACK} did not start:\n${errors.join('\n')}`)
}

/** A port that was free on 127.0.0.1 a moment ago (another process may take it before sshd does). */
async function freeLoopbackPort (): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, LOOPBACK, () => resolve())
  })
  const address = server.address()
  await new Promise<void>(resolve => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return address.port
}

/**
 * Polls until 127.0.0.1:port sends an SSH banner (so it is our sshd and
 * not some other listener): true then; false once `alive()` is false or the
 * deadline passes.
 */
async function waitForBanner (port: number, alive: () => boolean, deadline: number): Promise<boolean> {
  while (Date.now() < deadline && alive()) {
    const banner = await new Promise<boolean>(resolve => {
      const socket = createConnection({ host: LOOPBACK, port })
      const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
      socket.setTimeout(TIMEOUT_PROBE_MS, () => done(false))
      socket.once('error', () => done(false))
      socket.once('data', (chunk: Buffer) => done(chunk.toString('latin1').startsWith('SSH-')))
    })
    if (banner) return true
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return false
}

/**
 * Copies `file` into `destDir` (a local directory, reached over loopback
 * ssh) with rsync, compressed (`-z`, rsync's negotiated default codec) unless
 * `compress` is false. An initial copy: no basis file, so rsync sends the
 * whole file. Resolves wall-clock seconds including ssh session setup;
 * rejects with rsync's stderr on failure or when the copy's size differs.
 */
export async function rsyncOverSsh (file: string, destDir: string, ssh: { port: number, sshArgs: string[] }, options: { compress?: boolean } = {}): Promise<{ seconds: number }> {
  // rsync splits -e on spaces and honours single quotes around arguments.
  const rsh = ['ssh', ...ssh.sshArgs].map(a => `'${a}'`).join(' ')
  const args = [...((options.compress ?? true) ? ['-z'] : []), '-e', rsh, file, `${userInfo().username}@${LOOPBACK}:${destDir}/`]
  const { seconds } = await runTool('rsync', args)
  const [sent, copy] = await Promise.all([stat(file), stat(join(destDir, basename(file)))])
  if (copy.size !== sent.size) throw new Error(`rsync copied ${copy.size} bytes of ${sent.size}`)
  return { seconds }
}

/** Self-check: a file of sizeMiB, half random half zeros, through both references. */
async function main (): Promise<void> {
  const sizeMib = Number(process.argv[2] ?? '256')
  if (!Number.isInteger(sizeMib) || sizeMib < 2) throw new TypeError('usage: p2p-reference.ts [sizeMiB >= 2]')
  // The image, then one copy at a time (the TLS copy is removed before rsync runs), plus room.
  const { dir, cleanup } = await workDir('tandem-p2p-ref-', 3 * sizeMib * MIB)
  let sshd: LoopbackSshd | undefined
  try {
    const file = join(dir, 'image.raw')
    const out = await open(file, 'w')
    try {
      const chunk = Buffer.alloc(MIB)
      for (let i = 0; i < sizeMib; i++) {
        if (i < sizeMib / 2) randomFillSync(chunk)
        else chunk.fill(0)
        await out.write(chunk)
      }
      await out.sync()
    } finally {
      await out.close()
    }
    note(`TLS 1.3 raw transfer of ${sizeMib} MiB`)
    const tls = await tlsRawTransfer(file, { workDir: dir })
    note('starting loopback sshd')
    sshd = await startLoopbackSshd(dir)
    const dest = join(dir, 'rsync-dest')
    await mkdir(dest)
    note(`rsync -z over ssh of ${sizeMib} MiB`)
    const rsync = await rsyncOverSsh(file, dest, sshd)
    process.stdout.write(JSON.stringify({ sizeMib, tlsRaw: tls, rsyncSshZ: rsync }) + '\n')
  } finally {
    await sshd?.stop()
    await cleanup()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
