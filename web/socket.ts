import { chmod, lstat, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { AppErrorCode, ServiceError } from '../appliance/service/index.ts'
import { WebError, WebErrorCode } from './errors.ts'

/** A live socket answers a connect at once; one left by a killed process refuses it at once. */
export const TIMEOUT_SOCKET_PROBE_MS = 2_000

/** Mode of the API socket: its owner alone may call the API (the data directory is 0700 too, which also covers the moment between bind and chmod). */
export const SOCKET_MODE = 0o600

/** True when something accepts connections on the unix socket `path`. */
export async function socketIsLive (path: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = connect({ path })
    const done = (live: boolean): void => { s.destroy(); resolve(live) }
    s.setTimeout(TIMEOUT_SOCKET_PROBE_MS, () => { done(true) })
    s.once('connect', () => { done(true) })
    s.once('error', () => { done(false) })
  })
}

/**
 * Serves `app` on the unix socket `path`, mode 0600. A socket file left by
 * a killed daemon is replaced; a live one is not (APP_DAEMON_RUNNING), and a
 * path holding anything but a socket is left alone (WEB_SOCKET_PATH_INVALID).
 * Closing the app removes the socket file (Node unlinks it on close).
 */
export async function listenOnSocket (app: FastifyInstance, path: string): Promise<void> {
  const s = await lstat(path).catch(() => undefined)
  if (s !== undefined) {
    if (!s.isSocket()) throw new WebError(WebErrorCode.WEB_SOCKET_PATH_INVALID, `${path} exists and is not a socket`)
    if (await socketIsLive(path)) throw new ServiceError(AppErrorCode.APP_DAEMON_RUNNING, `a daemon already answers on ${path}`)
    await rm(path, { force: true })
  }
  await app.listen({ path })
  await chmod(path, SOCKET_MODE)
}
