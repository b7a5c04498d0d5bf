import { hostname } from 'node:os'
import type { WebStatusInfo } from '../appliance/service/index.ts'
import { apiHost } from './tls/names.ts'
import { certificateFingerprint } from './tls/certificate-files.ts'

/** What the web server's status is read from. */
export interface WebStatusInit {
  /** DATA/web/. */
  webDir: string
  /** config.json's `api` (HOST:PORT), or null: then there is no web server and no status. */
  api: string | null
  /** config.json's `apiPlainHttp`: plain HTTP on a loopback address, no certificate. */
  plainHttp: boolean
  /** The admin store's answers (web/auth/): the setup code (null once a password is set), and whether a password is set. */
  auth: {
    readSetupCode: (webDir: string) => Promise<string | null>
    passwordIsSet: (webDir: string) => Promise<boolean>
  }
  /** Default os.hostname(). */
  hostname?: string
}

/**
 * The URL a browser opens for `api`: `https://HOST:PORT/` (`http://` for
 * plain HTTP), a wildcard host (0.0.0.0, ::) shown as `host`, since a
 * browser cannot open a wildcard. Pure.
 */
export function webUrl (api: string, plainHttp: boolean, host: string): string {
  const port = api.slice(api.lastIndexOf(':') + 1)
  const h = apiHost(api)
  const shown = h === '0.0.0.0' || h === '::' ? host : api.slice(0, api.lastIndexOf(':'))
  return `${plainHttp ? 'http' : 'https'}://${shown}:${port}/`
}

/**
 * The `web` part of the status (docs/web.md): null when no `api` is
 * configured. Reads DATA/web/ only, makes and renews nothing, so it serves
 * the offline status too; the fingerprint is that of the certificate on
 * disk (null for plain HTTP, or when none is readable).
 */
export async function webStatus (init: WebStatusInit): Promise<WebStatusInfo | null> {
  if (init.api === null) return null
  const [fingerprint, setupCode, passwordSet] = await Promise.all([
    init.plainHttp ? null : certificateFingerprint(init.webDir),
    init.auth.readSetupCode(init.webDir),
    init.auth.passwordIsSet(init.webDir)
  ])
  return { url: webUrl(init.api, init.plainHttp, init.hostname ?? hostname()), fingerprint, setupCode: passwordSet ? null : setupCode, passwordSet }
}
