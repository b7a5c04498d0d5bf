/**
 * The VM routes of the local API (docs/api.md "VMs"): the inventory and
 * each VM's lifecycle, over the service's VmApi.
 */
import type { FastifyInstance } from 'fastify'
import type { VmApi, VmAddRequest, VmStopRequest } from '../../appliance/service/index.ts'
import { errorSchema } from '../schemas.ts'
import { vmAddBody, vmParams, vmRemoveSchema, vmSchema, vmsSchema, vmStopBody } from './vm-schemas.ts'

const errors = { '4xx': errorSchema, '5xx': errorSchema }

const nameOf = (params: unknown): string => (params as { name: string }).name

export function registerVmRoutes (app: FastifyInstance, service: VmApi): void {
  app.get('/v1/vms', { schema: { response: { 200: vmsSchema, ...errors } } }, async () => await service.vmList())

  app.post('/v1/vms', { schema: { body: vmAddBody, response: { 200: vmSchema, ...errors } } },
    async request => await service.vmAdd(request.body as VmAddRequest))

  app.post('/v1/vms/:name/start', { schema: { params: vmParams, response: { 200: vmSchema, ...errors } } },
    async request => await service.vmStart(nameOf(request.params)))

  app.post('/v1/vms/:name/stop', { schema: { params: vmParams, body: vmStopBody, response: { 200: vmSchema, ...errors } } },
    async request => await service.vmStop(nameOf(request.params), request.body as VmStopRequest))

  app.delete('/v1/vms/:name', { schema: { params: vmParams, response: { 200: vmRemoveSchema, ...errors } } },
    async request => await service.vmRemove(nameOf(request.params)))
}
