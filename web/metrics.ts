/**
 * `GET /metrics`: the box's replication figures for Prometheus (docs/web.md
 * "Metrics"), in the text exposition format 0.0.4 (metrics-format.ts).
 * Read by a logged-in page, or by a scraper with the read-only token.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ApplianceService } from '../appliance/service/index.ts'
import { WebErrorCode, httpStatusOf } from './errors.ts'
import { CycleFigures } from './metrics-cycles.ts'
import { metricFamilies, readMetricsInput } from './metrics-families.ts'
import { EXPOSITION_CONTENT_TYPE, exposition } from './metrics-format.ts'
import { errorSchema, object } from './schemas.ts'

/** Longest Authorization header read: `Bearer ` and a token of a few dozen characters; anything longer is not ours. */
export const MAX_AUTHORIZATION_CHARS = 1024

export interface MetricsOptions {
  /**
   * Whether the request may read the metrics without a token: true when
   * it has a logged-in session. Mounted inside the login scope, `() => true`;
   * mounted outside it (so a scraper with the token gets through), the
   * session check.
   */
  allow: (request: FastifyRequest) => boolean
  /** The read-only token, or null when none is set; asked at each request (it may change). */
  token?: () => string | null
}

const errors = { '4xx': errorSchema, '5xx': errorSchema }
const BEARER = /^Bearer ([\x21-\x7e]+)$/

/** Compared in a time that does not depend on where the two differ, nor on the token's length (both are hashed first). */
function sameToken (given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()
  return timingSafeEqual(digest(given), digest(expected))
}

/**
 * Registers `GET /metrics` on `app`, with its running cycle figures
 * (metrics-cycles.ts: one per registration). A request with `Authorization: Bearer
 * TOKEN` is served when TOKEN is the configured token, and refused
 * otherwise (a wrong token is never made up for by a session); a request
 * without it is served when `allow(request)`. Refusals are
 * WEB_LOGIN_REQUIRED (401, with `WWW-Authenticate: Bearer`).
 */
export function registerMetricsRoutes (app: FastifyInstance, service: ApplianceService, options: MetricsOptions): void {
  // kept between scrapes: each reads only what the event log gained (metrics-cycles.ts)
  const cycles = new CycleFigures()
  const headers = { type: 'object', properties: { authorization: { type: 'string', maxLength: MAX_AUTHORIZATION_CHARS } } }
  app.get('/metrics', { schema: { querystring: object({}, []), headers, response: errors } }, async (request, reply) => {
    const authorization = request.headers.authorization
    let allowed: boolean
    if (authorization === undefined) {
      allowed = options.allow(request)
    } else {
      const given = BEARER.exec(authorization)?.[1]
      const expected = options.token?.() ?? null
      allowed = given !== undefined && expected !== null && expected !== '' && sameToken(given, expected)
    }
    if (!allowed) {
      return await reply.status(httpStatusOf(WebErrorCode.WEB_LOGIN_REQUIRED)).header('www-authenticate', 'Bearer realm="tandem"')
        .send({ code: WebErrorCode.WEB_LOGIN_REQUIRED, message: authorization === undefined ? 'log in, or send the metrics token as Authorization: Bearer TOKEN' : 'that is not the metrics token' })
    }
    const text = exposition(metricFamilies(await readMetricsInput(service, cycles)))
    return await reply.header('content-type', EXPOSITION_CONTENT_TYPE).header('cache-control', 'no-store').send(text)
  })
}
