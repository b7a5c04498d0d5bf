/**
 * The composition root of a box: the one module that knows both appliance/
 * (the daemon) and web/ (its API and its web page). It builds the
 * Appliance, then the servers around it, and stops them in the reverse
 * order.
 */
import { Appliance } from '../appliance/daemon/index.ts'
import { requireConfig, type Config } from '../appliance/daemon/config.ts'
import { dataLayout } from '../appliance/daemon/data-dir.ts'
import type { StatusInfo } from '../appliance/service/index.ts'
import { buildApiServer, buildServer, ensureSetupCode, listenOnSocket } from '../web/index.ts'
import { loadUi } from '../web/ui-files.ts'
import { apiHost } from '../web/tls/names.ts'
import { readMetricsToken } from '../web/metrics-token.ts'
import { webCertificate, webStatusOf } from './web-box.ts'
import { webHosts } from '../web/web-hosts.ts'

/** The web page's server (fastify's instance; only web/ names fastify). */
type WebServer = ReturnType<typeof buildServer>

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
 * DATA/api.sock, then (when config.json names an `api` address) the web
 * page's server listens there; on abort the servers close first (no new
 * calls, the socket file removed), then the Appliance stops. A failure
 * while starting undoes what had started and rejects.
 */
export async function runDaemon (init: RunDaemonInit): Promise<void> {
  const layout = dataLayout(init.dataDir)
  const config = await requireConfig(layout.config)
  const appliance = await Appliance.start({
    dataDir: init.dataDir,
    version: init.version,
    webStatus: webStatusOf(layout.web, config),
    ...(init.log === undefined ? {} : { log: init.log })
  })
  const api = buildApiServer(appliance, { logger: appliance.logger })
  let web: WebServer | undefined
  try {
    await listenOnSocket(api, appliance.layout.socket)
    web = await startWeb(appliance, config)
  } catch (err) {
    appliance.logger.error({ err }, 'the API could not listen')
    await web?.close().catch(() => {})
    await api.close().catch(() => {})
    await appliance.stop()
    throw err
  }
  appliance.logger.info({ api: appliance.layout.socket }, 'daemon ready')
  init.onReady?.(await appliance.status())
  if (!init.signal.aborted) await new Promise(resolve => { init.signal.addEventListener('abort', resolve, { once: true }) })
  appliance.logger.info({ reason: String(init.signal.reason) }, 'stop requested')
  await web?.close()
  await api.close()
  await appliance.stop()
}

/**
 * The web page's server on config.json's `api` address (docs/web.md), or
 * undefined when none is configured: its certificate loaded (made again if
 * damaged or near its end), the setup code made while no admin password is
 * set, then HTTPS (plain HTTP on loopback when `apiPlainHttp`). Its URL,
 * fingerprint and setup code go to the log, the box's console.
 */
async function startWeb (appliance: Appliance, config: Config): Promise<WebServer | undefined> {
  if (config.api === null) return undefined
  const webDir = appliance.layout.web
  const cert = await webCertificate(webDir, config, appliance.logger)
  await ensureSetupCode(webDir)
  const web = buildServer(appliance, {
    ...(cert === undefined ? { loopbackOnly: true } : { https: { key: cert.keyPem, cert: cert.certPem } }),
    webDir,
    allowedHosts: webHosts(config.api),
    ui: loadUi(),
    metricsToken: () => readMetricsToken(webDir),
    logger: appliance.logger
  })
  const port = Number(config.api.slice(config.api.lastIndexOf(':') + 1))
  await web.listen({ host: apiHost(config.api), port })
  const status = await appliance.status()
  appliance.logger.info({ url: status.web?.url, fingerprint: status.web?.fingerprint }, 'web page ready')
  if (status.web?.setupCode !== null && status.web?.setupCode !== undefined) {
    appliance.logger.info({ url: status.web.url, setupCode: status.web.setupCode }, 'no admin password yet: open the web page and enter this one-time code to set it')
  }
  return web
}
