import { chmod, mkdir } from 'node:fs/promises'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../p2p/node/identity.ts'
import { isBoxName, MAX_NAME_CHARS } from '../../p2p/pairing/box-name.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { InitOptions, InitResult } from '../service/index.ts'
import { defaultConfig, hostOf, isHostPort, isLoopbackHost, isMultiaddr, readConfig, writeConfig, type Config } from './config.ts'
import { dataLayout } from './data-dir.ts'

/** The config `options` ask for, over the defaults; APP_USAGE names a bad option. Pure. */
export function initialConfig (options: InitOptions): Config {
  const config = defaultConfig()
  if (options.name !== undefined) {
    if (!isBoxName(options.name)) throw new AppError(AppErrorCode.APP_USAGE, `--name must be 1-${MAX_NAME_CHARS} printable characters`)
    config.name = options.name
  }
  if (options.listen !== undefined && options.listen.length > 0) {
    const bad = options.listen.find(a => !isMultiaddr(a))
    if (bad !== undefined) throw new AppError(AppErrorCode.APP_USAGE, `--listen ${bad.slice(0, 80)} is not a multiaddr (such as /ip4/0.0.0.0/tcp/7450)`)
    config.listen = [...options.listen]
  }
  if (options.api !== undefined) {
    if (!isHostPort(options.api)) throw new AppError(AppErrorCode.APP_USAGE, `--api ${options.api.slice(0, 80)} is not HOST:PORT`)
    config.api = options.api
  }
  if (options.plainHttp === true) {
    if (options.api === undefined || !isLoopbackHost(hostOf(options.api))) {
      throw new AppError(AppErrorCode.APP_USAGE, '--plain-http needs an --api on a loopback host (127.0.0.0/8, ::1, localhost): anything else must be HTTPS')
    }
    config.apiPlainHttp = true
  }
  return config
}

/**
 * `tandem init`: makes `dataDir` a box's data directory (0700): its
 * identity, the web server's directory `web/` (0700, filled by web/: the
 * composition root makes the certificate after this), then config.json,
 * whose presence marks it initialized (a crash in between leaves an
 * identity that the next init keeps). A directory that already holds a
 * config is refused with APP_DATA_ALREADY_INITIALIZED and left as it is.
 * Options are checked before anything is written.
 */
export async function initDataDir (dataDir: string, options: InitOptions): Promise<Omit<InitResult, 'web'>> {
  const layout = dataLayout(dataDir)
  const config = initialConfig(options)
  if (await readConfig(layout.config).catch(() => 'unreadable') !== undefined) {
    throw new AppError(AppErrorCode.APP_DATA_ALREADY_INITIALIZED, `${layout.dir} is already initialized (it holds config.json)`)
  }
  await mkdir(layout.dir, { recursive: true, mode: 0o700 })
  await chmod(layout.dir, 0o700)
  const key = await loadOrCreateIdentity(layout.identity)
  await mkdir(layout.web, { recursive: true, mode: 0o700 })
  await chmod(layout.web, 0o700)
  await writeConfig(layout.config, config)
  return { name: config.name, peerId: peerIdFromPrivateKey(key).toString(), dataDir: layout.dir }
}
