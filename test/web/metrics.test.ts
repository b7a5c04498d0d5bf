/**
 * `/metrics` through inject() on a plain app: the output parses under the
 * exposition format's grammar (a small parser below, stricter than
 * Prometheus'), its values are the service's, label values are escaped,
 * unknown figures have no sample; the token is accepted, a wrong one or
 * none without a session refused with WEB_LOGIN_REQUIRED.
 */
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { registerMetricsRoutes, type MetricsOptions } from '../../web/metrics.ts'
import { METRIC_HELP } from '../../web/metrics-families.ts'
import { escapeLabelValue, exposition, formatValue } from '../../web/metrics-format.ts'
import { FakeService, JOB, PEER, POINTS, PROOF, REPLICA_STATUS, REPLICATION, STATUS } from './fixtures/fake-service.ts'
import { plainApp } from './fixtures/plain-app.ts'

interface ParsedSample { name: string, labels: Record<string, string>, value: number }

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const VALUE = /^(?:NaN|[+-]Inf|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/y

/** Parses an exposition, throwing at the first line out of the grammar or a sample before its family's TYPE. */
function parse (text: string): { samples: ParsedSample[], types: Map<string, string>, help: Map<string, string> } {
  if (!text.endsWith('\n')) throw new Error('no final line feed')
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const samples: ParsedSample[] = []
  for (const line of text.slice(0, -1).split('\n')) {
    let m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line)
    if (m !== null) { if (help.has(m[1]!)) throw new Error(`HELP twice: ${line}`); help.set(m[1]!, m[2]!); continue }
    m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line)
    if (m !== null) { if (types.has(m[1]!)) throw new Error(`TYPE twice: ${line}`); types.set(m[1]!, m[2]!); continue }
    m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line)
    if (m === null) throw new Error(`not a line of the format: ${JSON.stringify(line)}`)
    const [, name, labelText = '', value] = m
    if (!types.has(name!)) throw new Error(`a sample before its TYPE: ${line}`)
    if (!VALUE.test(value!)) throw new Error(`not a value: ${line}`)
    const labels: Record<string, string> = {}
    LABEL.lastIndex = 0
    while (LABEL.lastIndex < labelText.length) {
      const l = LABEL.exec(labelText)
      if (l === null) throw new Error(`bad labels: ${line}`)
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
    }
    samples.push({ name: name!, labels, value: Number(value!.replace('Inf', 'Infinity')) })
  }
  return { samples, types, help }
}

async function scrape (service: FakeService, options: Partial<MetricsOptions> = {}, headers: Record<string, string> = {}): Promise<{ status: number, body: string, headers: Record<string, unknown> }> {
  const app = plainApp()
  registerMetricsRoutes(app, service, { allow: () => true, ...options })
  const r = await app.inject({ method: 'GET', url: '/metrics', headers })
  await app.close()
  return { status: r.statusCode, body: r.body, headers: r.headers }
}

const find = (samples: ParsedSample[], name: string, labels: Record<string, string> = {}): ParsedSample[] =>
  samples.filter(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

const primary = { vm: 'vm1', relationship: 'vm1', role: 'primary', peer: 'box-b' }
const replica = { vm: 'web', relationship: 'web-1', role: 'replica', peer: 'box-b' }

t.test('the output parses, every family documented once, values from the service', async t => {
  const service = new FakeService()
  service.jobs_ = [JOB, { ...JOB, id: 'running1', state: 'running', endedAt: null }]
  service.replica_ = [{ ...REPLICA_STATUS, health: 'critical', lastProvenPoint: PROOF }]
  service.points_ = { ...POINTS, points: [{ ...POINTS.points[0]!, proven: PROOF }, { ...POINTS.points[0]!, id: 4, time: '2026-01-01T01:00:00.000Z' }] }
  service.events_.push({ seq: 3, time: '2026-01-01T00:05:00.000Z', relationship: 'vm1', vm: 'vm1', kind: 'cycle', reason: 'point 7 committed', phase: 'end', begin: 2, outcome: 'ok', data: { start: 1000, end: 3500, bytesSent: 4096, bytesChanged: 8192 } })
  const r = await scrape(service)
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  const { samples, types, help } = parse(r.body)
  t.same([...types.keys()], Object.keys(METRIC_HELP), 'every family, in order')
  t.ok([...types.values()].every(v => v === 'gauge'))
  t.same([...help.keys()], Object.keys(METRIC_HELP))

  const one = (name: string, labels: Record<string, string> = {}): number | undefined => {
    const found = find(samples, name, labels)
    t.ok(found.length <= 1, `${name} at most once`)
    return found[0]?.value
  }
  t.equal(one('tandem_up'), 1)
  t.same(find(samples, 'tandem_box_info')[0]?.labels, { name: 'box-a', peer_id: STATUS.peerId, role: 'both', version: '0.1.0' })
  t.equal(one('tandem_peers'), 1)
  t.equal(one('tandem_peers_connected'), 0)
  t.equal(one('tandem_jobs_running'), 1)
  t.equal(one('tandem_tests_running'), 1)

  t.equal(one('tandem_replication_health', primary), 0)
  t.same(find(samples, 'tandem_replication_state', primary).map(s => [s.labels.state, s.value]), [['replicating', 1]])
  t.equal(one('tandem_replication_rpo_seconds', primary), 1)
  t.equal(one('tandem_replication_rpo_worst_seconds', primary), 2)
  t.equal(one('tandem_replication_rpo_target_seconds', primary), 300)
  t.equal(one('tandem_replication_rpo_met', primary), 1)
  t.equal(one('tandem_replication_data_at_risk_bytes', primary), 0)
  t.equal(one('tandem_replication_data_at_risk_seconds', primary), 1)
  t.equal(one('tandem_replication_last_replication_timestamp_seconds', primary), Date.parse(REPLICATION.lastReplicationTime!) / 1000)
  t.equal(one('tandem_replication_last_point_timestamp_seconds', primary), Date.parse(REPLICATION.lastPointTime!) / 1000)
  t.equal(one('tandem_replication_last_cycle_bytes', primary), 4096)
  t.equal(one('tandem_replication_last_cycle_duration_seconds', primary), 2.5)

  t.equal(one('tandem_replication_health', replica), 2)
  t.same(find(samples, 'tandem_replication_state', replica).map(s => s.labels.state), ['replicating'])
  t.equal(one('tandem_replication_rpo_seconds', replica), 5)
  t.equal(one('tandem_replication_recovery_points', replica), 2)
  t.equal(one('tandem_replication_last_proven_point_timestamp_seconds', replica), Date.parse(POINTS.points[0]!.time) / 1000, 'the newest proven point, not the newest point')
  t.equal(one('tandem_replication_last_proof_timestamp_seconds', replica), Date.parse(PROOF.time) / 1000)
  t.equal(one('tandem_replication_recovery_points', primary), undefined, 'points are the Replica\'s')
  t.same(service.calls.filter(c => c[0] === 'points'), [['points', 'web-1']])
})

t.test('label values are escaped; unknown figures have no sample; a peer not paired is named by its id', async t => {
  const service = new FakeService()
  const odd = 'box "b" \\ new\nline'
  service.status_ = { ...STATUS, name: odd }
  service.peers_ = [{ ...PEER, name: odd }]
  service.replication_ = [
    { ...REPLICATION, achievedRpo: { ...REPLICATION.achievedRpo, currentMs: null, worstMs: null }, dataAtRisk: { bytes: null, seconds: null }, lastReplicationTime: null, lastPointTime: null },
    { ...REPLICATION, relationship: 'vm2', vm: 'vm2', peer: '12D3KooWOther', health: 'warning', state: 'suspended' }
  ]
  service.replica_ = []
  const r = await scrape(service)
  t.match(r.body, 'peer="box \\"b\\" \\\\ new\\nline"', 'escaped as the format says')
  const { samples } = parse(r.body)
  t.equal(find(samples, 'tandem_box_info')[0]?.labels.name, odd, 'and read back whole')
  const vm1 = { vm: 'vm1', peer: odd }
  t.equal(find(samples, 'tandem_replication_health', vm1).length, 1)
  for (const name of ['tandem_replication_rpo_seconds', 'tandem_replication_rpo_worst_seconds', 'tandem_replication_data_at_risk_bytes', 'tandem_replication_data_at_risk_seconds', 'tandem_replication_last_replication_timestamp_seconds', 'tandem_replication_last_point_timestamp_seconds', 'tandem_replication_last_cycle_bytes']) {
    t.same(find(samples, name, vm1), [], `${name}: no sample when unknown`)
  }
  t.equal(find(samples, 'tandem_replication_health', { vm: 'vm2', peer: '12D3KooWOther' })[0]?.value, 1)
  t.same(find(samples, 'tandem_replication_state', { vm: 'vm2' }).map(s => s.labels.state), ['suspended'])
})

t.test('the token, or a session; else WEB_LOGIN_REQUIRED', async t => {
  const service = new FakeService()
  const token = (): string => 's3cret-token'
  const sessions: FastifyRequest[] = []
  const noSession = { allow: (request: FastifyRequest): boolean => { sessions.push(request); return false }, token }
  const cases: Array<[string, Partial<MetricsOptions>, Record<string, string>, number]> = [
    ['a session', { allow: () => true, token }, {}, 200],
    ['no session, no token', noSession, {}, 401],
    ['the token', noSession, { authorization: 'Bearer s3cret-token' }, 200],
    ['a wrong token', noSession, { authorization: 'Bearer s3cret-tokex' }, 401],
    ['a longer token', noSession, { authorization: 'Bearer s3cret-token2' }, 401],
    ['a wrong token with a session', { allow: () => true, token }, { authorization: 'Bearer nope' }, 401],
    ['not a bearer', noSession, { authorization: 'Basic czNjcmV0LXRva2Vu' }, 401],
    ['an empty bearer', noSession, { authorization: 'Bearer ' }, 401],
    ['no token set', { allow: () => false, token: () => null }, { authorization: 'Bearer s3cret-token' }, 401],
    ['an empty token set', { allow: () => false, token: () => '' }, { authorization: 'Bearer ' }, 401],
    ['no token option', { allow: () => false }, { authorization: 'Bearer s3cret-token' }, 401]
  ]
  for (const [what, options, headers, status] of cases) {
    const before = service.calls.length
    const r = await scrape(service, options, headers)
    t.equal(r.status, status, what)
    if (status === 401) {
      t.equal(JSON.parse(r.body).code, 'WEB_LOGIN_REQUIRED', what)
      t.equal(r.headers['www-authenticate'], 'Bearer realm="tandem"', what)
      t.equal(service.calls.length, before, `${what}: the service was not asked`)
    }
  }
  const long = await scrape(service, noSession, { authorization: `Bearer ${'x'.repeat(2000)}` })
  t.equal(long.status, 400)
  t.equal(JSON.parse(long.body).code, 'WEB_BAD_REQUEST')
  const query = plainApp()
  registerMetricsRoutes(query, service, { allow: () => true })
  t.equal((await query.inject({ method: 'GET', url: '/metrics?x=1' })).json().code, 'WEB_BAD_REQUEST', 'no query')
  await query.close()
})

t.test('the format, pure', async t => {
  t.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd')
  t.same([NaN, Infinity, -Infinity, 0, 1.5, -2, 1e21].map(formatValue), ['NaN', '+Inf', '-Inf', '0', '1.5', '-2', '1e+21'])
  t.equal(exposition([{ name: 'x', help: 'line\\one\ntwo', type: 'counter', samples: [{ labels: {}, value: 3 }, { labels: { a: 'b' }, value: NaN }] }]),
    '# HELP x line\\\\one\\ntwo\n# TYPE x counter\nx 3\nx{a="b"} NaN\n')
  t.throws(() => exposition([{ name: '1bad', help: '', type: 'gauge', samples: [] }]), TypeError)
  t.throws(() => exposition([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-name': 'x' }, value: 1 }] }]), TypeError)
  t.throws(() => exposition([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { __reserved: 'x' }, value: 1 }] }]), TypeError)
  t.same(parse(exposition([{ name: 'v', help: 'h', type: 'gauge', samples: [{ labels: {}, value: 1e21 }, { labels: {}, value: -Infinity }] }])).samples.map(s => s.value), [1e21, -Infinity], 'the parser reads the values back')
})
