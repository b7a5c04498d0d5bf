/**
 * The guards of the browser-facing server (docs/web.md "Server and login"):
 * login on every route but the public ones, the CSRF token on every
 * state-changing request but login and setup, and the rate limit of login and
 * setup. web/server.ts installs them after @fastify/session (which loads the
 * session) and before any route.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { WebError, WebErrorCode } from '../errors.ts'
import { CSRF_EXEMPT_ROUTES, PUBLIC_AUTH_ROUTES } from './auth-routes.ts'
import { AUTH_RATE_WINDOW_MS, MAX_AUTH_TRIES_PER_ADDRESS, MAX_AUTH_TRIES_TOTAL } from './constants.ts'
import type { SessionStore } from './session-store.ts'

/** The route patterns reached without a session: the login's own, the static UI's page and icon, and `/metrics` (which checks its token or the session itself: web/metrics.ts). */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([...PUBLIC_AUTH_ROUTES, '/', '/favicon.ico', '/metrics'])
/** Route patterns under these are the static UI's files (serve-only, no data; web/ui-files.ts): public too. */
export const PUBLIC_ROUTE_PREFIXES: readonly string[] = ['/ui/', '/vendor/']

/**
 * Whether a route pattern is reached without a session. It is the pattern
 * the router matched, never the raw URL (so `/ui/../v1/status` matches no
 * /v1 route). Anything else, and any URL no route matches, needs a login. Pure.
 */
export function isPublicRoute (pattern: string | undefined): boolean {
  return pattern !== undefined && (PUBLIC_ROUTES.has(pattern) || PUBLIC_ROUTE_PREFIXES.some(p => pattern.startsWith(p)))
}

const CSRF_EXEMPT: ReadonlySet<string> = new Set(CSRF_EXEMPT_ROUTES)
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Adds the login and CSRF checks to every request of `app` (root hooks: every route, those registered later too). */
export function registerGuards (app: FastifyInstance, sessions: SessionStore): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (isPublicRoute(request.routeOptions.url)) return
    const session = request.session
    if (session?.auth === undefined) throw new WebError(WebErrorCode.WEB_LOGIN_REQUIRED, 'log in first')
    sessions.touch(session.sessionId)
  })
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const route = request.routeOptions.url
    if (SAFE_METHODS.has(request.method) || (route !== undefined && CSRF_EXEMPT.has(route))) return done()
    // Answers WEB_CSRF_INVALID itself (through the API's error handler) when the token is missing or wrong.
    app.csrfProtection(request, reply, done)
  })
}

/**
 * The attempt counter of login and setup (shared: both guess a secret):
 * MAX_AUTH_TRIES_PER_ADDRESS a minute from one address, MAX_AUTH_TRIES_TOTAL
 * from all. The returned function counts one attempt and throws
 * WEB_RATE_LIMITED (with Retry-After) past either. Needs @fastify/rate-limit loaded.
 */
export function authRateLimit (app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const perAddress = app.createRateLimit({ max: MAX_AUTH_TRIES_PER_ADDRESS, timeWindow: AUTH_RATE_WINDOW_MS })
  const total = app.createRateLimit({ max: MAX_AUTH_TRIES_TOTAL, timeWindow: AUTH_RATE_WINDOW_MS, keyGenerator: () => 'all' })
  return async (request, reply) => {
    for (const limit of [perAddress, total]) {
      const result = await limit(request)
      if (!result.isAllowed && result.isExceeded) {
        void reply.header('retry-after', String(result.ttlInSeconds))
        throw new WebError(WebErrorCode.WEB_RATE_LIMITED, `too many login attempts: wait ${result.ttlInSeconds} s`)
      }
    }
  }
}
