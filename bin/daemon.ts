/**
 * The composition root of a box: the one module that knows both appliance/
 * (the daemon) and web/ (its API). It builds the Appliance, then the API
 * server around it, and stops them in the reverse order.
 */
import { Appliance } from '../appliance/daemon/index.ts'
import type { StatusInfo } from '../appliance/service/index.ts'
import { buildApiServer, listenOnSocket } from '../web/index.ts'

export interface RunDaemonInit {
  dataDir: string
  /** Aborting it stops the daemon (the CLI aborts on SIGTERM and SIGINT). */
  signal: AbortSignal
  version: string
  /** Called once the API serves. */
  onReady?: (status: StatusInfo) => void
  /** Where the logs go; default stdout. */
  log?: NodeJS.WritableStream
}

/**
 * Runs one daemon until `signal` aborts. Order: the Appliance starts (its
 * own order: appliance/daemon/appliance.ts), then the API listens on
 * DATA/api.sock; on abort the API closes first (no new calls, the socket
 * file removed), then the Appliance stops. A failure while starting undoes
 * what had started and rejects.
 */
export async function runDaemon (init: RunDaemonInit): Promise<void> {
  const appliance = await Appliance.start({ dataDir: init.dataDir, version: init.version, ...(init.log === undefined ? {} : { log: init.log }) })
  const api = buildApiServer(appliance, { logger: appliance.logger })
  try {
    await listenOnSocket(api, appliance.layout.socket)
  } catch (err) {
    appliance.logger.error({ err }, 'the API could not listen')
    await api.close().catch(() => {})
    await appliance.stop()
    throw err
  }
  appliance.logger.info({ api: appliance.layout.socket }, 'daemon ready')
  init.onReady?.(await appliance.status())
  if (!init.signal.aborted) await new Promise(resolve => { init.signal.addEventListener('abort', resolve, { once: true }) })
  appliance.logger.info({ reason: String(init.signal.reason) }, 'stop requested')
  await api.close()
  await appliance.stop()
}
