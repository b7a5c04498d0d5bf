import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { AppErrorCode, errorCodeOf, type ApplianceService, type PairJoinRequest, type PairOpenRequest, type PairStatusInfo, type StatusInfo } from '../appliance/service/index.ts'
import { WebErrorCode, httpStatusOf } from './errors.ts'
import { replicationRoutes } from './routes/replication.ts'
import {
  errorSchema, pairJoinBody, pairJoinSchema, pairOpenBody, pairOpenSchema, pairRemoveSchema, pairStatusSchema, peerParams, peersSchema, statusSchema
} from './schemas.ts'
import { registerFailoverRoutes } from './routes/failover.ts'
import { registerReverseRoutes } from './routes/reverse.ts'
import { registerJobRoutes } from './routes/jobs.ts'
import { registerReplicaRoutes } from './routes/replica.ts'
import { registerVmRoutes } from './routes/vms.ts'
import { registerSettingsRoutes } from './routes/settings.ts'

/** Largest request body: the biggest request (a join with an invite) is under 3 KiB. */
export const MAX_REQUEST_BYTES = 16 * 1024

export interface ApiServerOptions {
  /** Logs errors that no layer classified; default: none. */
  logger?: FastifyBaseLogger
}

/** What `registerApiRoutes` may change between the two servers that serve the routes. */
export interface ApiRoutesOptions {
  /**
   * Applied to the status document before it is answered: the browser-facing
   * server (web/server.ts) drops what only the local socket may show. Pure.
   */
  redactStatus?: (status: StatusInfo) => StatusInfo
  /** Applied to the pairing status likewise (the open window's PIN and invite). Pure. */
  redactPairing?: (status: PairStatusInfo) => PairStatusInfo
}

/** Every route's error answers. */
const errors = { '4xx': errorSchema, '5xx': errorSchema }

/**
 * fastify plugins' own refusals that carry a code of ours: the CSRF check of
 * @fastify/csrf-protection (web/server.ts) answers with these.
 */
const PLUGIN_ERROR_CODES: Readonly<Record<string, WebErrorCode>> = {
  FST_CSRF_INVALID_TOKEN: WebErrorCode.WEB_CSRF_INVALID,
  FST_CSRF_MISSING_SECRET: WebErrorCode.WEB_CSRF_INVALID
}

/** The fastify options both servers share: request limits and the refuse-never-repair ajv. */
export function apiFastifyOptions (logger: FastifyBaseLogger | undefined): FastifyServerOptions {
  return {
    ...(logger === undefined ? {} : { loggerInstance: logger }),
    // One line per request would drown the daemon's log; failures are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_REQUEST_BYTES,
    // close() must not wait for a call in flight (a pairing join can take minutes): its
    // connection is cut, and the daemon's own stop ends the work behind it.
    forceCloseConnections: true,
    // Refuse, never repair: no property removed, no type coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } }
  }
}

/**
 * The local API around an ApplianceService (docs/api.md): JSON in and out,
 * every request and response under a schema, errors as `{ code, message }`
 * with the status of errors.ts. Returns the fastify instance without
 * listening: the caller listens (socket.ts) or injects requests (tests).
 */
export function buildApiServer (service: ApplianceService, options: ApiServerOptions = {}): FastifyInstance {
  const app = Fastify(apiFastifyOptions(options.logger))
  registerApiRoutes(app, service)
  return app
}

/**
 * Registers on `app` the error handler, the not-found handler and every
 * `/v1/...` route of docs/api.md: what the unix-socket API (above) and the
 * browser-facing server (web/server.ts) both serve. Call once per instance,
 * on its root (a not-found handler is set once per prefix).
 */
export function registerApiRoutes (app: FastifyInstance, service: ApplianceService, options: ApiRoutesOptions = {}): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation !== undefined) {
      return reply.status(httpStatusOf(WebErrorCode.WEB_BAD_REQUEST)).send({ code: WebErrorCode.WEB_BAD_REQUEST, message: err.message })
    }
    const code = errorCodeOf(err) ?? (Object.hasOwn(PLUGIN_ERROR_CODES, err.code) ? PLUGIN_ERROR_CODES[err.code] : undefined)
    if (code !== undefined) return reply.status(httpStatusOf(code)).send({ code, message: err.message })
    // fastify's own refusals (not JSON, too large, wrong content type) carry FST_ codes and a 4xx.
    if (typeof err.code === 'string' && err.code.startsWith('FST_') && (err.statusCode ?? 500) < 500) {
      return reply.status(httpStatusOf(WebErrorCode.WEB_BAD_REQUEST)).send({ code: WebErrorCode.WEB_BAD_REQUEST, message: err.message })
    }
    request.log.error({ err }, 'unclassified failure in the API')
    return reply.status(httpStatusOf(AppErrorCode.APP_UNEXPECTED)).send({ code: AppErrorCode.APP_UNEXPECTED, message: err.message })
  })

  app.setNotFoundHandler((request, reply) => {
    return reply.status(httpStatusOf(WebErrorCode.WEB_NOT_FOUND)).send({ code: WebErrorCode.WEB_NOT_FOUND, message: `no route ${request.method} ${request.url.slice(0, 100)}` })
  })

  const redactStatus = options.redactStatus ?? ((status: StatusInfo) => status)
  app.get('/v1/status', { schema: { response: { 200: statusSchema, ...errors } } }, async () => redactStatus(await service.status()))

  app.post('/v1/pairing', { schema: { body: pairOpenBody, response: { 200: pairOpenSchema, ...errors } } },
    async request => await service.pairOpen(request.body as PairOpenRequest))

  const redactPairing = options.redactPairing ?? ((status: PairStatusInfo) => status)
  app.get('/v1/pairing', { schema: { response: { 200: pairStatusSchema, ...errors } } }, async () => redactPairing(await service.pairStatus()))

  app.post('/v1/pairing/join', { schema: { body: pairJoinBody, response: { 200: pairJoinSchema, ...errors } } },
    async request => await service.pairJoin(request.body as PairJoinRequest))

  app.get('/v1/peers', { schema: { response: { 200: peersSchema, ...errors } } }, async () => await service.pairList())

  app.delete('/v1/peers/:peerId', { schema: { params: peerParams, response: { 200: pairRemoveSchema, ...errors } } },
    async request => await service.pairRemove((request.params as { peerId: string }).peerId))

  registerReplicaRoutes(app, service, errors)
  replicationRoutes(app, service)
  registerVmRoutes(app, service)
  registerSettingsRoutes(app, service)
  registerJobRoutes(app, service, errors)
  registerFailoverRoutes(app, service, errors)
  registerReverseRoutes(app, service, errors)
}
