/**
 * The login routes `/v1/auth/*` (docs/api.md "Login", docs/web.md "Server and
 * login"). `state`, `setup` and `login` need no session; setup and login are
 * rate limited and check `Origin` (they are the CSRF check's exceptions);
 * the others run behind web/server.ts's login and CSRF guards.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { WebError, WebErrorCode } from '../errors.ts'
import { errorSchema } from '../schemas.ts'
import { passwordIsSet, type AdminStore } from './admin-store.ts'
import { originAllowed } from './allowed-hosts.ts'
import {
  authStateSchema, csrfTokenSchema, loginBody, logoutSchema, passwordBody, passwordChangedSchema, sessionParams, sessionRevokedSchema, sessionsSchema, setupBody
} from './auth-schemas.ts'
import type { SessionStore } from './session-store.ts'

export interface AuthRoutesInit {
  admin: AdminStore
  sessions: SessionStore
  /** The session cookie's name and attributes, to clear it at logout (a `__Host-` cookie is only cleared with the same `Secure`). */
  cookieName: string
  cookie: { httpOnly: boolean, secure: boolean, sameSite: 'strict', path: string }
  /** The scheme the server serves, for the `Origin` check. */
  scheme: 'http' | 'https'
  /** Counts one login or setup attempt; throws WEB_RATE_LIMITED past the limits. */
  countAttempt: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

/** The routes reached without a session (web/server.ts's guard lets them through). */
export const PUBLIC_AUTH_ROUTES = ['/v1/auth/state', '/v1/auth/setup', '/v1/auth/login'] as const
/** The state-changing routes that need no CSRF token (there is no session yet): they check `Origin` instead. */
export const CSRF_EXEMPT_ROUTES = ['/v1/auth/setup', '/v1/auth/login'] as const

const errors = { '4xx': errorSchema, '5xx': errorSchema }

export function registerAuthRoutes (app: FastifyInstance, init: AuthRoutesInit): void {
  const { admin, sessions } = init

  /** Rate limit first (every attempt counts), then the `Origin`. */
  const attempt = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    await init.countAttempt(request, reply)
    if (!originAllowed(request.headers.origin, request.headers.host, init.scheme)) {
      throw new WebError(WebErrorCode.WEB_ORIGIN_INVALID, 'the request comes from another site\'s page')
    }
  }

  /** A new session for the request (a new id: no fixation), logged in; answers its CSRF token. */
  const logIn = async (request: FastifyRequest, reply: FastifyReply): Promise<{ csrfToken: string }> => {
    await request.session.regenerate()
    request.session.auth = sessions.newAuth(request.ip, request.headers['user-agent'])
    sessions.admit(request.session.sessionId, request.session)
    return { csrfToken: reply.generateCsrf() }
  }

  app.get('/v1/auth/state', { schema: { response: { 200: authStateSchema, ...errors } } }, async (request, reply) => {
    const loggedIn = request.session?.auth !== undefined
    return { passwordSet: await passwordIsSet(admin.webDir), loggedIn, csrfToken: loggedIn ? reply.generateCsrf() : null }
  })

  app.post('/v1/auth/setup', { onRequest: attempt, schema: { body: setupBody, response: { 200: csrfTokenSchema, ...errors } } }, async (request, reply) => {
    const { code, password } = request.body as { code: string, password: string }
    await admin.setup(code, password)
    return await logIn(request, reply)
  })

  app.post('/v1/auth/login', { onRequest: attempt, schema: { body: loginBody, response: { 200: csrfTokenSchema, ...errors } } }, async (request, reply) => {
    const { password } = request.body as { password: string }
    if (!await admin.verify(password)) throw new WebError(WebErrorCode.WEB_LOGIN_FAILED, 'wrong password')
    return await logIn(request, reply)
  })

  app.post('/v1/auth/logout', { schema: { response: { 200: logoutSchema, ...errors } } }, async (request, reply) => {
    await request.session.destroy()
    reply.clearCookie(init.cookieName, init.cookie)
    return { loggedOut: true }
  })

  app.get('/v1/auth/sessions', { schema: { response: { 200: sessionsSchema, ...errors } } },
    async request => sessions.list(request.session.sessionId))

  app.delete('/v1/auth/sessions/:id', { schema: { params: sessionParams, response: { 200: sessionRevokedSchema, ...errors } } }, async request => {
    const { id } = request.params as { id: string }
    if (!sessions.revoke(id)) throw new WebError(WebErrorCode.WEB_SESSION_NOT_FOUND, `no session ${id}`)
    return { id, revoked: true }
  })

  app.post('/v1/auth/password', { schema: { body: passwordBody, response: { 200: passwordChangedSchema, ...errors } } }, async request => {
    const { current, password } = request.body as { current: string, password: string }
    await admin.change(current, password)
    return { changed: true, revokedSessions: sessions.revokeAllBut(request.session.sessionId) }
  })
}
