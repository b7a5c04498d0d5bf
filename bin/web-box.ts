/**
 * The web server's files as the composition root sees them: the certificate
 * made at `tandem init` (and loaded at daemon start), and the `web` part of
 * the status. Only bin/ knows both the data directory's config (appliance/)
 * and web/. Imports web/'s modules themselves, not its index: pkijs is
 * loaded only when a certificate is made.
 */
import { hostname, networkInterfaces } from 'node:os'
import type { Config } from '../appliance/daemon/config.ts'
import type { InitResult, WebStatusInfo } from '../appliance/service/index.ts'
import { loadOrCreateCertificate, type CertificateLogger, type LoadedCertificate } from '../web/tls/certificate-files.ts'
import { certificateNames } from '../web/tls/names.ts'
import { webStatus, webUrl } from '../web/web-status.ts'
import { ensureSetupCode, passwordIsSet, readSetupCode } from '../web/auth/admin-store.ts'

/** What the admin store (web/auth/) answers for the status: the setup code while no password is set. */
const ADMIN_STORE = { readSetupCode, passwordIsSet }

/**
 * The web certificate of a box whose config serves HTTPS: loaded from
 * `webDir`, or made for the box's names as they are now (host name,
 * loopback, the `api` host, the interfaces' addresses); undefined when the
 * config has no `api` or serves plain HTTP.
 */
export async function webCertificate (webDir: string, config: Config, logger?: CertificateLogger): Promise<LoadedCertificate | undefined> {
  if (config.api === null || config.apiPlainHttp) return undefined
  const names = certificateNames({ hostname: hostname(), api: config.api, interfaces: networkInterfaces() })
  return await loadOrCreateCertificate(webDir, names, logger === undefined ? {} : { logger })
}

/**
 * `tandem init`'s `web` part, after the data directory is made: the
 * certificate (when HTTPS) and the one-time setup code of the first admin
 * password; the URL and fingerprint.
 */
export async function initWeb (webDir: string, config: Config): Promise<InitResult['web']> {
  if (config.api === null) return null
  const cert = await webCertificate(webDir, config)
  await ensureSetupCode(webDir)
  return { url: webUrl(config.api, config.apiPlainHttp, hostname()), fingerprint: cert?.fingerprint ?? null }
}

/** The status's `web` part for a box with `config`, read from `webDir` at each call. */
export function webStatusOf (webDir: string, config: Config): () => Promise<WebStatusInfo | null> {
  return async () => await webStatus({ webDir, api: config.api, plainHttp: config.apiPlainHttp, auth: ADMIN_STORE })
}
