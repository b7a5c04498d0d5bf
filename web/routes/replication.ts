/**
 * The replication routes of the local API (docs/api.md "Replication"):
 * `tandem replication ...` through the ReplicationApi.
 */
import type { FastifyInstance } from 'fastify'
import type { ApplianceService, ReplicationEnableRequest, ReplicationUpdateRequest } from '../../appliance/service/index.ts'
import {
  replicationEnableBody, replicationInfoSchema, replicationUpdateBody, replicationListSchema, replicationMeasureSchema, replicationRemoveSchema, vmParams
} from '../replication-schemas.ts'
import { errorSchema } from '../schemas.ts'

const errors = { '4xx': errorSchema, '5xx': errorSchema }
const name = (request: { params: unknown }): string => (request.params as { name: string }).name

export function replicationRoutes (app: FastifyInstance, service: ApplianceService): void {
  app.get('/v1/replication', { schema: { response: { 200: replicationListSchema, ...errors } } }, async () => await service.replicationStatus())

  app.get('/v1/replication/:name', { schema: { params: vmParams, response: { 200: replicationListSchema, ...errors } } },
    async request => await service.replicationStatus(name(request)))

  app.put('/v1/replication/:name', { schema: { params: vmParams, body: replicationEnableBody, response: { 200: replicationInfoSchema, ...errors } } },
    async request => await service.replicationEnable(name(request), request.body as ReplicationEnableRequest))

  app.patch('/v1/replication/:name', { schema: { params: vmParams, body: replicationUpdateBody, response: { 200: replicationInfoSchema, ...errors } } },
    async request => await service.replicationUpdate(name(request), request.body as ReplicationUpdateRequest))

  app.get('/v1/replication/:name/measure', { schema: { params: vmParams, response: { 200: replicationMeasureSchema, ...errors } } },
    async request => await service.replicationMeasure(name(request)))

  for (const [action, call] of [
    ['suspend', service.replicationSuspend],
    ['resume', service.replicationResume],
    ['resync', service.replicationResync]
  ] as const) {
    app.post(`/v1/replication/:name/${action}`, { schema: { params: vmParams, response: { 200: replicationInfoSchema, ...errors } } },
      async request => await call.call(service, name(request)))
  }

  app.delete('/v1/replication/:name', { schema: { params: vmParams, response: { 200: replicationRemoveSchema, ...errors } } },
    async request => await service.replicationRemove(name(request)))
}
