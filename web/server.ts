/**
 * The browser-facing server (docs/web.md "Server and login"): the `/v1/...`
 * routes of docs/api.md behind a login, plus `/v1/auth/*`, over HTTPS (or
 * plain HTTP on loopback, when configured). No `listen` inside: the daemon
 * listens, tests inject.
 *
 * Every route needs a logged-in session but the public list of auth/guards.ts
 * (default deny: a route added later, by `options.routes` or on the returned
 * instance, needs a login unless its pattern is listed); every
 * POST/PUT/PATCH/DELETE but login and setup needs the session's CSRF token in
 * `x-csrf-token`. Order of the checks on each request: `Host`, session
 * loaded, login, CSRF, then the route's own (rate limit and `Origin` for
 * login and setup), then its schema.
 */
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import fastifyCsrf from '@fastify/csrf-protection'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifyHelmet from '@fastify/helmet'
import type { ApplianceService, PairStatusInfo, StatusInfo } from '../appliance/service/index.ts'
import { apiFastifyOptions, registerApiRoutes } from './api-server.ts'
import { WebError, WebErrorCode } from './errors.ts'
import { AdminStore } from './auth/admin-store.ts'
import { hostAllowed } from './auth/allowed-hosts.ts'
import { registerAuthRoutes } from './auth/auth-routes.ts'
import { authRateLimit, registerGuards } from './auth/guards.ts'
import { SessionStore } from './auth/session-store.ts'
import { registerLiveRoutes, type LiveOptions } from './live.ts'
import { registerMetricsRoutes } from './metrics.ts'
import { registerUi, type LoadedUi } from './ui-files.ts'

export { isPublicRoute, PUBLIC_ROUTES, PUBLIC_ROUTE_PREFIXES } from './auth/guards.ts'

export interface ServerOptions {
  /** The TLS key and certificate (PEM). Absent: plain HTTP, accepted only with `loopbackOnly`. */
  https?: { key: string | Buffer, cert: string | Buffer }
  /**
   * The caller promises to listen on a loopback address only: the one case
   * where plain HTTP is accepted (the session cookie then goes without `Secure`,
   * which a browser would not send back over plain HTTP).
   */
  loopbackOnly?: boolean
  /** DATA/web/: admin.json and the setup code (docs/web.md). */
  webDir: string
  /**
   * The box's own host names and addresses, asked on each request (they may
   * change while the daemon runs): a `Host` naming none of them is refused
   * (WEB_HOST_INVALID). Names or IP addresses, IPv6 with or without brackets, no port.
   */
  allowedHosts: () => Iterable<string>
  /** CSP script-src hashes of the inline scripts the UI serves (its import map), each `sha256-<base64>`. */
  scriptHashes?: string[]
  /** Logs errors that no layer classified; default: none. */
  logger?: FastifyBaseLogger
  /** The clock of session expiry, ms since the epoch (tests move it); default Date.now. */
  now?: () => number
  /** The front end (loadUi, web/ui-files.ts): served at `/`, `/ui/*`, `/vendor/*` without login; its import map's hash joins the CSP's script-src. Absent: no UI (tests of the API alone). */
  ui?: LoadedUi
  /** The read-only token of `/metrics` (docs/web.md "Metrics"), asked at each request; null or absent: only a logged-in session reads the metrics. */
  metricsToken?: () => string | null
  /** The live channel's poll and limits (tests); default live.ts's. */
  live?: Omit<LiveOptions, 'checkOrigin'>
  /** Registers more routes after the guards: each needs a login unless its pattern is in PUBLIC_ROUTES. */
  routes?: (app: FastifyInstance) => void
}

const SCRIPT_HASH = /^sha256-[A-Za-z0-9+/]{43}=$/

/** The session cookie's name: `__Host-` binds it to this host, path / and Secure (browsers refuse it otherwise), so it needs HTTPS. */
export function sessionCookieName (https: boolean): string {
  return https ? '__Host-tandem-session' : 'tandem-session'
}

export function buildServer (service: ApplianceService, options: ServerOptions): FastifyInstance {
  if (options.https === undefined && options.loopbackOnly !== true) {
    throw new TypeError('buildServer: plain HTTP is only for loopback: give https, or loopbackOnly: true')
  }
  const scriptHashes = [...options.scriptHashes ?? [], ...(options.ui === undefined ? [] : [options.ui.importMapHash.replaceAll("'", '')])]
  for (const h of scriptHashes) {
    if (!SCRIPT_HASH.test(h)) throw new TypeError(`buildServer: a script hash is 'sha256-<base64>', not ${JSON.stringify(h)}`)
  }
  const https = options.https !== undefined
  const now = options.now ?? Date.now
  const sessions = new SessionStore(now)
  const admin = new AdminStore(options.webDir, now)
  const cookieName = sessionCookieName(https)
  const cookie = { httpOnly: true, secure: https, sameSite: 'strict', path: '/' } as const

  // With `https` fastify types its instance by the https server; the routes and hooks are the same.
  const app = Fastify({ ...apiFastifyOptions(options.logger), ...(https ? { https: options.https } : {}) }) as unknown as FastifyInstance

  // First of all: a request naming another host is no request for this box (DNS rebinding).
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!hostAllowed(request.headers.host, options.allowedHosts())) {
      throw new WebError(WebErrorCode.WEB_HOST_INVALID, `this box does not answer to the name ${JSON.stringify(String(request.headers.host ?? '').slice(0, 100))}`)
    }
  })

  void app.register(fastifyHelmet, { ...helmetOptions(scriptHashes, https) })
  void app.register(fastifyCookie)
  void app.register(fastifySession, {
    // Signs the cookie; a new one each start: sessions do not outlive the daemon anyway.
    secret: randomBytes(32).toString('base64url'),
    cookieName,
    // No maxAge: a browser-session cookie; the server ends the session (MAX_SESSION_MS, MAX_SESSION_IDLE_MS).
    cookie,
    store: sessions,
    saveUninitialized: false,
    rolling: false
  })
  void app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/session',
    getToken: (request: FastifyRequest) => request.headers['x-csrf-token'] as string | undefined
  })
  void app.register(fastifyRateLimit, { global: false })

  app.after(err => {
    if (err !== null && err !== undefined) throw err
    registerGuards(app, sessions)
    const countAttempt = authRateLimit(app)
    registerApiRoutes(app, service, { redactStatus: withoutSetupCode, redactPairing: withoutPairingSecrets })
    registerAuthRoutes(app, { admin, sessions, cookieName, cookie, scheme: https ? 'https' : 'http', countAttempt })
    if (options.ui !== undefined) registerUi(app, options.ui)
    registerLiveRoutes(app, service, { ...options.live, checkOrigin: origin => sameBox(origin, https ? 'https:' : 'http:', options.allowedHosts()) })
    registerMetricsRoutes(app, service, {
      allow: request => request.session?.auth !== undefined,
      ...(options.metricsToken === undefined ? {} : { token: options.metricsToken })
    })
    options.routes?.(app)
  })
  return app
}

/** Whether `origin` (a request's `Origin`) is a page of this box: its scheme, and one of its names or addresses. */
function sameBox (origin: string | undefined, scheme: string, hosts: Iterable<string>): boolean {
  if (origin === undefined) return true
  try {
    const url = new URL(origin)
    return url.protocol === scheme && hostAllowed(url.host, hosts)
  } catch {
    return false
  }
}

/**
 * The status as browsers get it: `web.setupCode` always null (the local
 * socket may show the setup code; whoever reaches the page must not read
 * it). Pure.
 */
export function withoutSetupCode (status: StatusInfo): StatusInfo {
  return status.web === null ? status : { ...status, web: { ...status.web, setupCode: null } }
}

/**
 * The pairing status as browsers get it: the open window's PIN and invite
 * always null. The page that opened the window has them from its own
 * `POST /v1/pairing`; anyone else who reaches the page must not read
 * another's window (the box's console shows them, from the local socket). Pure.
 */
export function withoutPairingSecrets (status: PairStatusInfo): PairStatusInfo {
  return status.window === null ? status : { ...status, window: { ...status.window, pin: null, invite: null } }
}

/**
 * helmet's headers with a strict CSP: scripts from the server only (plus the
 * hashes of the UI's inline import map), no inline script or style, no eval,
 * no framing. No HSTS: the certificate is self-signed, and HSTS would forbid
 * a browser to let the operator accept it. `upgrade-insecure-requests` only
 * over HTTPS (on plain-HTTP loopback it would break every request).
 */
function helmetOptions (scriptHashes: string[], https: boolean): Record<string, unknown> {
  return {
    hsts: false,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", ...scriptHashes.map(h => `'${h}'`)],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        // the camera's preview while a QR code is scanned (the pairing page)
        mediaSrc: ["'self'", 'blob:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        ...(https ? { upgradeInsecureRequests: [] } : {})
      }
    }
  }
}
