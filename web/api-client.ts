import { request as httpRequest } from 'node:http'
import {
  AppErrorCode, MAX_DRILL_SCREENSHOT_BYTES, ServiceError, errorCodeOf,
  type ApplianceService, type PairJoinRequest, type PairJoinResult, type PairOpenRequest, type PairOpenResult,
  type PairRemoveResult, type PairStatusInfo, type PeerInfo, type StatusInfo,
  type EventsRequest, type EventsResult, type JobInfo, type SeedExportRequest, type SeedImportRequest, type PointsResult, type ReplicaStatusInfo,
  type ReplicationEnableRequest, type ReplicationInfo, type ReplicationMeasureInfo, type ReplicationRemoveResult, type ReplicationUpdateRequest,
  type VmAddRequest, type VmInfo, type VmRemoveResult, type VmStopRequest,
  type CompleteRequest, type FailoverCancelResult, type FailoverPlanInfo, type FailoverPlanRequest, type UnplannedRequest,
  type DrillRequest, type DrillScheduleRequest, type DrillScreenshot, type DrillSettingsInfo, type TestFailoverInfo, type TestPlanInfo, type TestPlanRequest,
  type TestStartRequest, type TestStopPlanInfo, type TestStopResult,
  type PlannedPlanInfo, type PlannedPlanRequest, type PlannedRequest, type ReversePlanInfo, type ReverseRequest, type SalvageDeleteRequest, type SalvageDeleteResult, type SalvageInfo, type SalvageRestoreRequest,
  type SettingsInfo, type SettingsUpdateRequest
} from '../appliance/service/index.ts'

/**
 * How long a call may take: the longest is a pairing join, a dial (10 s)
 * and three handshake steps of at most 30 s each, so 2 min covers it with
 * room; a daemon that answers nothing in that time is stuck.
 */
export const TIMEOUT_API_MS = 120_000

/** Largest answer read: a status or a peer list is a few KiB; anything this large is not an answer of ours. */
export const MAX_RESPONSE_BYTES = 1024 * 1024

export interface ApiClientInit {
  /** The daemon's API socket (DATA/api.sock). */
  socketPath: string
  timeoutMs?: number
  maxResponseBytes?: number
}

const vmPath = (name: string): string => `/v1/replication/${encodeURIComponent(name)}`
const failoverPath = (name: string): string => `/v1/failover/${encodeURIComponent(name)}`

const apiFailed = (method: string, path: string, why: string, cause?: unknown): ServiceError =>
  new ServiceError(AppErrorCode.APP_API_FAILED, `the daemon's API ${why} (${method} ${path})`, { cause })

/** Socket errors that mean no daemon listens there. */
const NOT_RUNNING = new Set(['ENOENT', 'ECONNREFUSED'])

/**
 * The ApplianceService of a daemon, over its local API socket. An API
 * error `{ code, message }` becomes a ServiceError with that code; no
 * daemon on the socket is APP_DAEMON_NOT_RUNNING; an answer too large, not
 * JSON, without a code, or late is APP_API_FAILED. Every call is
 * independent; they may run concurrently.
 */
export class ApiClient implements ApplianceService {
  private readonly init: ApiClientInit

  constructor (init: ApiClientInit) {
    this.init = init
  }

  async status (): Promise<StatusInfo> { return await this.call('GET', '/v1/status') }
  async pairOpen (request: PairOpenRequest = {}): Promise<PairOpenResult> { return await this.call('POST', '/v1/pairing', request) }
  async pairJoin (request: PairJoinRequest): Promise<PairJoinResult> { return await this.call('POST', '/v1/pairing/join', request) }
  async pairStatus (): Promise<PairStatusInfo> { return await this.call('GET', '/v1/pairing') }
  async pairList (): Promise<PeerInfo[]> { return await this.call('GET', '/v1/peers') }
  async pairRemove (peerId: string): Promise<PairRemoveResult> { return await this.call('DELETE', `/v1/peers/${encodeURIComponent(peerId)}`) }

  // ReplicaApi
  async points (name: string): Promise<PointsResult> { return await this.call('GET', `/v1/points/${encodeURIComponent(name)}`) }
  async listEvents (request: EventsRequest = {}): Promise<EventsResult> {
    const query = new URLSearchParams()
    if (request.name !== undefined) query.set('name', request.name)
    if (request.last !== undefined) query.set('last', String(request.last))
    if (request.after !== undefined) query.set('after', String(request.after))
    if (request.cursor !== undefined) query.set('cursor', request.cursor)
    const q = query.toString()
    return await this.call('GET', `/v1/events${q === '' ? '' : `?${q}`}`)
  }

  async replicaStatus (): Promise<ReplicaStatusInfo[]> { return await this.call('GET', '/v1/replica/relationships') }

  // replication (web/routes/replication.ts)
  async replicationEnable (name: string, request: ReplicationEnableRequest): Promise<ReplicationInfo> { return await this.call('PUT', vmPath(name), request) }
  async replicationUpdate (name: string, request: ReplicationUpdateRequest): Promise<ReplicationInfo> { return await this.call('PATCH', vmPath(name), request) }
  async replicationStatus (name?: string): Promise<ReplicationInfo[]> { return await this.call('GET', name === undefined ? '/v1/replication' : vmPath(name)) }
  async replicationMeasure (name: string): Promise<ReplicationMeasureInfo> { return await this.call('GET', `${vmPath(name)}/measure`) }
  async replicationSuspend (name: string): Promise<ReplicationInfo> { return await this.call('POST', `${vmPath(name)}/suspend`, {}) }
  async replicationResume (name: string): Promise<ReplicationInfo> { return await this.call('POST', `${vmPath(name)}/resume`, {}) }
  async replicationResync (name: string): Promise<ReplicationInfo> { return await this.call('POST', `${vmPath(name)}/resync`, {}) }
  async replicationRemove (name: string): Promise<ReplicationRemoveResult> { return await this.call('DELETE', vmPath(name)) }
  async replicationReverse (name: string, request: ReverseRequest = {}): Promise<JobInfo> { return await this.call('POST', `${vmPath(name)}/reverse`, request) }
  async replicationReversePlan (name: string, request: ReverseRequest = {}): Promise<ReversePlanInfo> { return await this.call('POST', `${vmPath(name)}/reverse/plan`, request) }

  // SettingsApi (web/routes/settings.ts)
  async settings (): Promise<SettingsInfo> { return await this.call('GET', '/v1/settings') }
  async settingsUpdate (request: SettingsUpdateRequest): Promise<SettingsInfo> { return await this.call('PATCH', '/v1/settings', request) }
  // SalvageApi (web/routes/reverse.ts)
  async salvageList (name?: string): Promise<SalvageInfo[]> { return await this.call('GET', name === undefined ? '/v1/salvage' : `/v1/salvage?${new URLSearchParams({ name }).toString()}`) }
  async salvageRestore (id: string, request: SalvageRestoreRequest): Promise<JobInfo> { return await this.call('POST', `/v1/salvage/${encodeURIComponent(id)}/restore`, request) }
  async salvageDelete (id: string, request: SalvageDeleteRequest = {}): Promise<SalvageDeleteResult> { return await this.call('DELETE', `/v1/salvage/${encodeURIComponent(id)}`, request) }

  async vmAdd (request: VmAddRequest): Promise<VmInfo> { return await this.call('POST', '/v1/vms', request) }
  async vmList (): Promise<VmInfo[]> { return await this.call('GET', '/v1/vms') }
  async vmStart (name: string): Promise<VmInfo> { return await this.call('POST', `/v1/vms/${encodeURIComponent(name)}/start`) }
  async vmStop (name: string, request: VmStopRequest = {}): Promise<VmInfo> { return await this.call('POST', `/v1/vms/${encodeURIComponent(name)}/stop`, request) }
  async vmRemove (name: string): Promise<VmRemoveResult> { return await this.call('DELETE', `/v1/vms/${encodeURIComponent(name)}`) }

  // jobs (web/routes/jobs.ts)
  async seedExport (name: string, request: SeedExportRequest): Promise<JobInfo> { return await this.call('POST', `/v1/seeds/export/${encodeURIComponent(name)}`, request) }
  async seedImport (request: SeedImportRequest): Promise<JobInfo> { return await this.call('POST', '/v1/seeds/import', request) }
  async jobs (): Promise<JobInfo[]> { return await this.call('GET', '/v1/jobs') }
  async job (id: string): Promise<JobInfo> { return await this.call('GET', `/v1/jobs/${encodeURIComponent(id)}`) }
  async jobCancel (id: string): Promise<JobInfo> { return await this.call('DELETE', `/v1/jobs/${encodeURIComponent(id)}`) }

  // failover (web/routes/failover.ts)
  async failoverTest (name: string, request: TestStartRequest = {}): Promise<TestFailoverInfo> { return await this.call('POST', `${failoverPath(name)}/test`, request) }
  async failoverTestPlan (name: string, request: TestPlanRequest = {}): Promise<TestPlanInfo> { return await this.call('POST', `${failoverPath(name)}/test/plan`, request) }
  async failoverStopTest (name: string): Promise<TestStopResult> { return await this.call('DELETE', `${failoverPath(name)}/test`) }
  async failoverStopTestPlan (name: string): Promise<TestStopPlanInfo> { return await this.call('GET', `${failoverPath(name)}/test/stop-plan`) }
  async failoverTests (): Promise<TestFailoverInfo[]> { return await this.call('GET', '/v1/failover/tests') }
  async failoverDrill (name: string, request: DrillRequest = {}): Promise<JobInfo> { return await this.call('POST', `${failoverPath(name)}/drill`, request) }
  async failoverDrillSchedule (name: string, request: DrillScheduleRequest): Promise<DrillSettingsInfo> { return await this.call('PUT', `${failoverPath(name)}/drill-schedule`, request) }
  async drillScreenshot (name: string, file: string): Promise<DrillScreenshot> {
    const path = `/v1/drills/${encodeURIComponent(name)}/screenshots/${encodeURIComponent(file)}`
    const { status, body } = await this.exchange('GET', path, undefined, MAX_DRILL_SCREENSHOT_BYTES)
    if (status === 200) return { file, png: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) }
    throw this.errorOf('GET', path, status, body)
  }

  async failoverUnplanned (name: string, request: UnplannedRequest = {}): Promise<JobInfo> { return await this.call('POST', `${failoverPath(name)}/unplanned`, request) }
  async failoverPlan (name: string, request: FailoverPlanRequest): Promise<FailoverPlanInfo> { return await this.call('POST', `${failoverPath(name)}/plan`, request) }
  async failoverComplete (name: string, request: CompleteRequest = {}): Promise<JobInfo> { return await this.call('POST', `${failoverPath(name)}/complete`, request) }
  async failoverCancel (name: string): Promise<FailoverCancelResult> { return await this.call('POST', `${failoverPath(name)}/cancel`) }
  async failoverPlanned (name: string, request: PlannedRequest = {}): Promise<JobInfo> { return await this.call('POST', `${failoverPath(name)}/planned`, request) }
  async failoverPlannedPlan (name: string, request: PlannedPlanRequest = {}): Promise<PlannedPlanInfo> { return await this.call('POST', `${failoverPath(name)}/planned/plan`, request) }

  private async call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.exchange(method, path, body, this.init.maxResponseBytes ?? MAX_RESPONSE_BYTES)
    if (answer.status < 200 || answer.status >= 300) throw this.errorOf(method, path, answer.status, answer.body)
    try {
      return JSON.parse(answer.body.toString('utf8')) as T
    } catch (err) {
      throw apiFailed(method, path, 'answered something that is not JSON', err)
    }
  }

  /** One request: the answer's status and body, at most `max` bytes. */
  private async exchange (method: string, path: string, body: unknown, max: number): Promise<{ status: number, body: Buffer }> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const failed = (why: string, cause?: unknown): ServiceError => apiFailed(method, path, why, cause)
    return await new Promise<{ status: number, body: Buffer }>((resolve, reject) => {
      const req = httpRequest({
        socketPath: this.init.socketPath,
        method,
        path,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        signal: AbortSignal.timeout(this.init.timeoutMs ?? TIMEOUT_API_MS)
      }, res => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.byteLength
          if (size > max) { reject(failed(`answered more than ${max} bytes`)); req.destroy(); return }
          chunks.push(chunk)
        })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) })
        res.on('error', reject)
      })
      req.on('error', err => {
        const code = (err as NodeJS.ErrnoException).code
        if (err instanceof ServiceError) reject(err)
        else if (code !== undefined && NOT_RUNNING.has(code)) reject(new ServiceError(AppErrorCode.APP_DAEMON_NOT_RUNNING, `no daemon answers on ${this.init.socketPath}; start it with \`tandem start\``, { cause: err }))
        else if (err.name === 'TimeoutError' || err.name === 'AbortError') reject(failed('did not answer in time', err))
        else reject(failed(`failed: ${err.message}`, err))
      })
      req.end(payload)
    })
  }

  /** An error answer `{ code, message }` as the ServiceError it stands for; anything else is APP_API_FAILED. */
  private errorOf (method: string, path: string, status: number, body: Buffer): ServiceError {
    let doc: unknown
    try {
      doc = JSON.parse(body.toString('utf8'))
    } catch (err) {
      return apiFailed(method, path, 'answered something that is not JSON', err)
    }
    const code = errorCodeOf(doc)
    const message = (doc as { message?: unknown } | null)?.message
    if (code === undefined || typeof message !== 'string') return apiFailed(method, path, `answered ${status} without an error code`)
    return new ServiceError(code, message)
  }
}
