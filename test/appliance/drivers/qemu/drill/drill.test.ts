/**
 * drillTestVm with a fake driver and VM (the real QEMU run is in
 * ../test-vm-drill.test.ts): each way a drill ends gives its result, the
 * time to the sign is read on the VM's clock, a screenshot is kept on
 * success and tried on a timeout, and the VM is stopped exactly once
 * whatever happens, also when the drill throws.
 */
import t from 'tap'
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CoreErrorCode } from '../../../../../core/errors.ts'
import { AppError, AppErrorCode } from '../../../../../appliance/errors.ts'
import { drillTestVm, encodePng, pngSize, type AgentPing, type DrillDriver, type DrillTarget } from '../../../../../appliance/drivers/qemu/drill/index.ts'
import type { VmStatus } from '../../../../../appliance/drivers/qemu/index.ts'
import { tempDir, type Teardown } from '../../../../helpers/fixtures.ts'

interface Fake {
  driver: DrillDriver
  vm: DrillTarget
  log: string
  dest: string
  stops: () => number
  /** Ends the VM as the driver would report it. */
  end: (status: VmStatus) => void
}

/** A VM started at 1000 on a clock that reads 5234 when the sign is seen; its screendump works unless `screen: false`. */
async function fake (t: Teardown, options: { screen?: boolean, agentSocket?: string } = {}): Promise<Fake> {
  const dir = await tempDir(t)
  const runDir = join(dir, 'run')
  await mkdir(runDir)
  const log = join(runDir, 'serial.log')
  await writeFile(log, '')
  let stops = 0
  let end!: (s: VmStatus) => void
  const exited = new Promise<VmStatus>(resolve => { end = resolve })
  const driver: DrillDriver = {
    exited: async () => await exited,
    guestAgentSocket: () => options.agentSocket,
    qmp: () => ({
      execute: async <T>(_command: string, args?: Record<string, unknown>): Promise<T> => {
        if (options.screen === false) throw new AppError(AppErrorCode.APP_QMP_ERROR, 'There is no console to take a screendump from')
        await writeFile(String(args?.filename), encodePng({ width: 8, height: 4, rgb: new Uint8Array(96) }))
        return {} as T
      }
    })
  }
  const vm: DrillTarget = {
    name: 'web-1-test',
    runDir,
    startedAt: 1000,
    clock: () => 5234,
    stop: async () => { stops++; return { name: 'web-1-test', state: 'stopped', since: new Date(), reason: 'stopped' } }
  }
  return { driver, vm, log, dest: join(dir, 'evidence.png'), stops: () => stops, end }
}

const exists = async (p: string): Promise<boolean> => await stat(p).then(() => true, () => false)

t.test('a serial sign: ok, the time from the start command, a screenshot, stopped', async t => {
  const f = await fake(t)
  const drill = drillTestVm(f.driver, f.vm, { sign: { kind: 'serial', pattern: '^TANDEM-GUEST-READY' }, screenshot: f.dest })
  await appendFile(f.log, 'SeaBIOS\nTANDEM-GUEST-READY pages=4096\n')
  const r = await drill
  t.match(r, { ok: true, sign: 'serial', signOfLifeMs: 4234, screenshot: f.dest })
  t.same(pngSize(await readFile(f.dest)), { width: 8, height: 4 })
  t.equal(f.stops(), 1)
})

t.test('the VM ends before a sign: not ok, no screenshot, stopped', async t => {
  const f = await fake(t)
  const drill = drillTestVm(f.driver, f.vm, { sign: { kind: 'serial', pattern: 'READY' }, screenshot: f.dest })
  f.end({ name: 'web-1-test', state: 'crashed', since: new Date(), reason: 'QEMU ended without being asked (killed by SIGKILL)' })
  t.match(await drill, { ok: false, sign: 'serial', signOfLifeMs: null, screenshot: null })
  t.notOk(await exists(f.dest))
  t.equal(f.stops(), 1)
})

t.test('no sign in time: not ok, a screenshot of where it stopped, stopped', async t => {
  const f = await fake(t)
  await appendFile(f.log, 'No bootable device.\n')
  const r = await drillTestVm(f.driver, f.vm, { sign: { kind: 'serial', pattern: 'login:' }, screenshot: f.dest, timeoutMs: 100 })
  t.match(r, { ok: false, signOfLifeMs: null, screenshot: f.dest })
  t.ok(await exists(f.dest))
  t.equal(f.stops(), 1)
})

t.test('a sign but no screenshot: not ok, the time kept', async t => {
  const f = await fake(t, { screen: false })
  await appendFile(f.log, 'login: ')
  t.match(await drillTestVm(f.driver, f.vm, { sign: { kind: 'serial', pattern: 'login:' }, screenshot: f.dest }),
    { ok: false, signOfLifeMs: 4234, screenshot: null })
  t.equal(f.stops(), 1)
})

t.test('the guest agent as the sign', async t => {
  const f = await fake(t, { agentSocket: '/run/x/qga.sock' })
  let tries = 0
  const agentConnect = async (): Promise<AgentPing> => {
    if (++tries < 3) throw new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, 'not yet')
    return { ping: async () => {}, close: async () => {} }
  }
  t.match(await drillTestVm(f.driver, f.vm, { sign: { kind: 'agent' }, screenshot: f.dest, agentConnect }), { ok: true, sign: 'agent', signOfLifeMs: 4234 })
  t.equal(tries, 3)
  const none = await fake(t)
  t.match(await drillTestVm(none.driver, none.vm, { sign: { kind: 'agent' }, screenshot: none.dest }), { ok: false, sign: 'agent', signOfLifeMs: null }, 'a VM without an agent cannot show that sign')
  t.equal(none.stops(), 1)
})

t.test('throws only after stopping: a bad pattern, an abort', async t => {
  const f = await fake(t)
  await t.rejects(drillTestVm(f.driver, f.vm, { sign: { kind: 'serial', pattern: '(' }, screenshot: f.dest }), { code: AppErrorCode.APP_VM_INVALID })
  t.equal(f.stops(), 1, 'stopped after a bad pattern')
  const g = await fake(t)
  const ac = new AbortController()
  const drill = drillTestVm(g.driver, g.vm, { sign: { kind: 'serial', pattern: 'never' }, screenshot: g.dest, signal: ac.signal })
  setImmediate(() => { ac.abort() })
  await t.rejects(drill, { code: CoreErrorCode.CORE_ABORTED })
  t.equal(g.stops(), 1, 'stopped after an abort')
  t.notOk(await exists(g.dest))
})
