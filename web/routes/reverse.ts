/**
 * Planned failover, reverse replication and salvage copies (docs/api.md
 * "Failover", "Reverse replication", "Salvage"): `tandem failover planned`
 * on the primary, `tandem replication reverse` on the box that failed
 * over, `tandem salvage ...` on an old primary that became the Replica.
 */
import type { FastifyInstance } from 'fastify'
import type { ApplianceService, PlannedPlanRequest, PlannedRequest, ReverseRequest, SalvageDeleteRequest, SalvageRestoreRequest } from '../../appliance/service/index.ts'
import { vmParams } from '../replication-schemas.ts'
import { jobSchema } from './job-schemas.ts'
import {
  plannedBody, plannedPlanBody, plannedPlanSchema, reverseBody, reversePlanSchema, salvageDeleteBody, salvageDeleteSchema, salvageListSchema, salvageParams, salvageQuery, salvageRestoreBody
} from './reverse-schemas.ts'

export function registerReverseRoutes (app: FastifyInstance, service: ApplianceService, errors: Record<string, unknown>): void {
  const name = (request: { params: unknown }): string => (request.params as { name: string }).name
  const id = (request: { params: unknown }): string => (request.params as { id: string }).id

  app.post('/v1/failover/:name/planned', { schema: { params: vmParams, body: plannedBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.failoverPlanned(name(request), (request.body ?? {}) as PlannedRequest))

  app.post('/v1/failover/:name/planned/plan', { schema: { params: vmParams, body: plannedPlanBody, response: { 200: plannedPlanSchema, ...errors } } },
    async request => await service.failoverPlannedPlan(name(request), (request.body ?? {}) as PlannedPlanRequest))

  app.post('/v1/replication/:name/reverse', { schema: { params: vmParams, body: reverseBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.replicationReverse(name(request), (request.body ?? {}) as ReverseRequest))

  app.post('/v1/replication/:name/reverse/plan', { schema: { params: vmParams, body: reverseBody, response: { 200: reversePlanSchema, ...errors } } },
    async request => await service.replicationReversePlan(name(request), (request.body ?? {}) as ReverseRequest))

  app.get('/v1/salvage', { schema: { querystring: salvageQuery, response: { 200: salvageListSchema, ...errors } } },
    async request => await service.salvageList((request.query as { name?: string }).name))

  app.post('/v1/salvage/:id/restore', { schema: { params: salvageParams, body: salvageRestoreBody, response: { 200: jobSchema, ...errors } } },
    async request => await service.salvageRestore(id(request), request.body as SalvageRestoreRequest))

  app.delete('/v1/salvage/:id', { schema: { params: salvageParams, body: salvageDeleteBody, response: { 200: salvageDeleteSchema, ...errors } } },
    async request => await service.salvageDelete(id(request), (request.body ?? {}) as SalvageDeleteRequest))
}
