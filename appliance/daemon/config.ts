/**
 * The data directory's `config.json` (docs/daemon.md "config.json"): small,
 * versioned, and complete with defaults, so a box runs without editing it.
 * A field left out takes its default; an unknown field or a bad value is
 * APP_CONFIG_INVALID (a typo must not be ignored silently).
 */
import { isIPv4, isIPv6 } from 'node:net'
import { hostname } from 'node:os'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_LISTEN } from '../../p2p/node/constants.ts'
import { isBoxName, MAX_NAME_CHARS } from '../../p2p/pairing/box-name.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
import type { BoxRole } from '../service/index.ts'

/** The format version written and the only one read. */
export const CONFIG_VERSION = 1

/** A config is a few hundred bytes; anything this large is not one. */
export const MAX_CONFIG_BYTES = 64 * 1024

/** pino's levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface Config {
  version: typeof CONFIG_VERSION
  /** The name other boxes see when pairing (1-64 printable characters). */
  name: string
  role: BoxRole
  /** libp2p multiaddrs to listen on. */
  listen: string[]
  /** HOST:PORT of the web server for browsers (HTTPS), or null for none. */
  api: string | null
  /** Serve `api` as plain HTTP, with no certificate: only on a loopback host (isLoopbackHost), for tests and the demo. */
  apiPlainHttp: boolean
  logLevel: LogLevel
  /** Largest cycle the Replica takes, in bytes (the sum of its disks' sizes), or null for the protocol's own bounds. */
  maxCycleBytes: number | null
}

const ROLES: readonly BoxRole[] = ['primary', 'replica', 'both']

/** A box name from the host name: printable and short enough, or `tandem`. */
export function defaultName (host: string = hostname()): string {
  const name = host.slice(0, MAX_NAME_CHARS)
  return isBoxName(name) ? name : 'tandem'
}

export function defaultConfig (): Config {
  return { version: CONFIG_VERSION, name: defaultName(), role: 'both', listen: [...DEFAULT_LISTEN], api: null, apiPlainHttp: false, logLevel: 'info', maxCycleBytes: null }
}

/** True for `HOST:PORT` (a name, an IPv4 address or a bracketed IPv6 address, and a port 1-65535). */
export function isHostPort (s: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s)
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535
}

/**
 * True for a host that only this machine reaches: `localhost`, an address
 * in 127.0.0.0/8, or ::1 (bracketed or not). Plain HTTP is allowed only
 * there: nothing on the network can read or change it. Pure.
 */
export function isLoopbackHost (host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (h.toLowerCase() === 'localhost') return true
  if (isIPv4(h)) return h.startsWith('127.')
  // the URL parser writes every spelling of ::1 (0:0:0:0:0:0:0:1, ::0001...) as [::1]
  return isIPv6(h) && new URL(`http://[${h}]/`).hostname === '[::1]'
}

/** The host part of `HOST:PORT` (an IPv6 host keeps its brackets). */
export function hostOf (hostPort: string): string {
  return hostPort.slice(0, hostPort.lastIndexOf(':'))
}

export function isMultiaddr (s: string): boolean {
  try {
    multiaddr(s)
    return s.startsWith('/')
  } catch {
    return false
  }
}

/** Checks a parsed document and fills in defaults; throws APP_CONFIG_INVALID naming the first bad field. Pure. */
export function parseConfig (doc: unknown, where = 'config.json'): Config {
  const bad = (why: string): AppError => new AppError(AppErrorCode.APP_CONFIG_INVALID, `${where}: ${why}`)
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object')
  const o = doc as Record<string, unknown>
  const d = defaultConfig()
  for (const k of Object.keys(o)) if (!Object.hasOwn(d, k)) throw bad(`unknown field ${JSON.stringify(k).slice(0, 40)}`)
  if (o.version !== CONFIG_VERSION) throw bad(`version ${String(o.version).slice(0, 16)} is not ${CONFIG_VERSION}`)
  const name = o.name ?? d.name
  if (!isBoxName(name)) throw bad(`name must be 1-${MAX_NAME_CHARS} printable characters`)
  const role = o.role ?? d.role
  if (typeof role !== 'string' || !ROLES.includes(role as BoxRole)) throw bad(`role must be one of ${ROLES.join(', ')}`)
  const listen = o.listen ?? d.listen
  if (!Array.isArray(listen) || listen.length === 0 || !listen.every(a => typeof a === 'string' && isMultiaddr(a))) throw bad('listen must be a non-empty array of multiaddrs')
  const api = o.api === undefined ? d.api : o.api
  if (api !== null && (typeof api !== 'string' || !isHostPort(api))) throw bad('api must be HOST:PORT or null')
  const apiPlainHttp = o.apiPlainHttp ?? d.apiPlainHttp
  if (typeof apiPlainHttp !== 'boolean') throw bad('apiPlainHttp must be true or false')
  if (apiPlainHttp && (api === null || !isLoopbackHost(hostOf(api as string)))) throw bad('apiPlainHttp needs an api on a loopback host (127.0.0.0/8, ::1, localhost)')
  const logLevel = o.logLevel ?? d.logLevel
  if (typeof logLevel !== 'string' || !(LOG_LEVELS as readonly string[]).includes(logLevel)) throw bad(`logLevel must be one of ${LOG_LEVELS.join(', ')}`)
  const maxCycleBytes = o.maxCycleBytes === undefined ? d.maxCycleBytes : o.maxCycleBytes
  if (maxCycleBytes !== null && (typeof maxCycleBytes !== 'number' || !Number.isSafeInteger(maxCycleBytes) || maxCycleBytes <= 0)) throw bad('maxCycleBytes must be a positive whole number of bytes or null')
  return { version: CONFIG_VERSION, name: name as string, role: role as BoxRole, listen: [...listen as string[]], api: api as string | null, apiPlainHttp, logLevel: logLevel as LogLevel, maxCycleBytes: maxCycleBytes as number | null }
}

/** config.json as one of the appliance's JSON files (json-file.ts: bounded read, version, atomic write). */
const CONFIG_FILE: JsonFileKind = { what: 'config', version: CONFIG_VERSION, maxBytes: MAX_CONFIG_BYTES, code: AppErrorCode.APP_CONFIG_INVALID }

/** Reads `file`; undefined when it does not exist. APP_CONFIG_INVALID when it is not a valid config. */
export async function readConfig (file: string): Promise<Config | undefined> {
  const body = await readJsonFile(file, CONFIG_FILE)
  return body === undefined ? undefined : parseConfig({ version: CONFIG_VERSION, ...body }, file)
}

/** Reads `file`; APP_DATA_NOT_INITIALIZED when it does not exist. */
export async function requireConfig (file: string): Promise<Config> {
  const config = await readConfig(file)
  if (config === undefined) throw new AppError(AppErrorCode.APP_DATA_NOT_INITIALIZED, `${file} does not exist: run \`tandem init\` first`)
  return config
}

export async function writeConfig (file: string, config: Config): Promise<void> {
  const { version: _, ...body } = config
  await writeJsonFile(file, CONFIG_FILE, body)
}
