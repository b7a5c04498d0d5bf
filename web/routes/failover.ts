/**
 * The failover routes (docs/api.md "Failover"): test failovers on the
 * Replica, their plan (`--dry-run`), drills (jobs) and drill settings;
 * unplanned failover (a job), its complete (a job), cancel, and the plan
 * of each.
 */
import type { FastifyInstance } from 'fastify'
import type {
  CompleteRequest, DrillRequest, DrillScheduleRequest, FailoverApi, FailoverPlanRequest, JobApi, TestPlanRequest, TestStartRequest, UnplannedRequest
} from '../../appliance/service/index.ts'
import {
  drillBody, drillScheduleBody, drillSettingsSchema, failoverParams, screenshotParams, testFailoverSchema, testFailoversSchema, testPlanBody, testPlanSchema,
  testStartBody, testStopPlanSchema, testStopSchema
} from './failover-schemas.ts'
import { jobSchema } from './job-schemas.ts'
import { completeBody, failoverCancelSchema, failoverPlanBody, failoverPlanSchema, unplannedBody } from './unplanned-schemas.ts'

const nameOf = (params: unknown): string => (params as { name: string }).name

export function registerFailoverRoutes (app: FastifyInstance, service: FailoverApi & JobApi, errors: Record<string, unknown>): void {
  app.get('/v1/failover/tests', { schema: { response: { 200: testFailoversSchema, ...errors } } }, async () => await service.failoverTests())

  app.post('/v1/failover/:name/test', { schema: { params: failoverParams, body: testStartBody, response: { 200: testFailoverSchema, ...errors } } },
    async request => await service.failoverTest(nameOf(request.params), request.body as TestStartRequest))

  // POST: the plan takes a body (a sign of life), though it changes nothing
  app.post('/v1/failover/:name/test/plan', { schema: { params: failoverParams, body: testPlanBody, response: { 200: testPlanSchema, ...errors } } },
    async request => await service.failoverTestPlan(nameOf(request.params), request.body as TestPlanRequest))

  app.delete('/v1/failover/:name/test', { schema: { params: failoverParams, response: { 200: testStopSchema, ...errors } } },
    async request => await service.failoverStopTest(nameOf(request.params)))

  app.get('/v1/failover/:name/test/stop-plan', { schema: { params: failoverParams, response: { 200: testStopPlanSchema, ...errors } } },
    async request => await service.failoverStopTestPlan(nameOf(request.params)))

  app.post('/v1/failover/:name/drill', { schema: { params: failoverParams, body: drillBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.failoverDrill(nameOf(request.params), request.body as DrillRequest))

  // A PNG, not JSON: the browser shows it in an <img> (the login and CSRF rules of the other routes apply).
  app.get('/v1/drills/:name/screenshots/:file', { schema: { params: screenshotParams, response: errors } }, async (request, reply) => {
    const { name, file } = request.params as { name: string, file: string }
    const { png } = await service.drillScreenshot(name, file)
    return await reply.type('image/png').header('cache-control', 'private, no-cache').header('x-content-type-options', 'nosniff')
      .send(Buffer.from(png.buffer, png.byteOffset, png.byteLength))
  })

  app.put('/v1/failover/:name/drill-schedule', { schema: { params: failoverParams, body: drillScheduleBody, response: { 200: drillSettingsSchema, ...errors } } },
    async request => await service.failoverDrillSchedule(nameOf(request.params), request.body as DrillScheduleRequest))

  app.post('/v1/failover/:name/unplanned', { schema: { params: failoverParams, body: unplannedBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.failoverUnplanned(nameOf(request.params), request.body as UnplannedRequest))

  // POST: the plan takes a body (which command), though it changes nothing
  app.post('/v1/failover/:name/plan', { schema: { params: failoverParams, body: failoverPlanBody, response: { 200: failoverPlanSchema, ...errors } } },
    async request => await service.failoverPlan(nameOf(request.params), request.body as FailoverPlanRequest))

  app.post('/v1/failover/:name/complete', { schema: { params: failoverParams, body: completeBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.failoverComplete(nameOf(request.params), request.body as CompleteRequest))

  app.post('/v1/failover/:name/cancel', { schema: { params: failoverParams, response: { 200: failoverCancelSchema, ...errors } } },
    async request => await service.failoverCancel(nameOf(request.params)))
}
