/**
 * The accelerator probe with real QEMU: under TCG the boot sector runs and
 * exits through isa-debug-exit (proving the probe method), and the KVM
 * probe settles with a reason whatever this host's KVM does. Failures of
 * QEMU itself are answers, not exceptions.
 */
import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { probeBootSector, probeKvm, probeTcg, PROBE_EXIT_STATUS } from '../../../../../appliance/drivers/qemu/qmp/index.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-system-x86_64'])

t.test('the boot sector: the guest code, zero padding, the boot signature', async t => {
  const sector = probeBootSector()
  t.equal(sector.length, 512)
  t.same([...sector.subarray(0, 5)], [0xb0, 0x21, 0xe6, 0xf4, 0xf4])
  t.same([...sector.subarray(510)], [0x55, 0xaa])
  t.equal(PROBE_EXIT_STATUS, 0x43)
})

t.test('probeTcg: the sector boots and exits with the probe status', async t => {
  const r = await probeTcg({ workDir: await tempDir(t), timeoutMs: 20_000 })
  t.same(r, { usable: true, reason: 'a guest booted and ran under TCG' })
})

t.test('probeKvm settles with a boolean and a reason', async t => {
  const r = await probeKvm({ workDir: await tempDir(t), timeoutMs: 5_000 })
  t.equal(typeof r.usable, 'boolean')
  t.match(r.reason, /\S/)
  t.comment(`KVM on this host: usable=${String(r.usable)}: ${r.reason}`)
})

t.test('a missing QEMU binary is an answer: not usable, with the reason', async t => {
  const r = await probeTcg({ workDir: await tempDir(t), qemuBinary: '/nonexistent/qemu-system-x86_64' })
  t.equal(r.usable, false)
  t.match(r.reason, /ENOENT/)
})

/** A stand-in for QEMU: a shell script in `dir` running `body`. */
async function fakeQemu (dir: string, body: string): Promise<string> {
  const file = join(dir, 'fake-qemu')
  await writeFile(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 })
  return file
}

t.test('a QEMU that never exits is killed at the time limit: not usable, and said so', async t => {
  const dir = await tempDir(t)
  const r = await probeTcg({ workDir: dir, timeoutMs: 200, qemuBinary: await fakeQemu(dir, 'exec sleep 600') })
  t.equal(r.usable, false)
  t.match(r.reason, /did not finish within 200 ms/)
})

t.test('another exit status is not usable; the reason quotes QEMU', async t => {
  const dir = await tempDir(t)
  const r = await probeTcg({ workDir: dir, qemuBinary: await fakeQemu(dir, 'echo "qemu: something broke" >&2; exit 1') })
  t.equal(r.usable, false)
  t.match(r.reason, /status 1.*something broke/)
})

t.test('an aborted probe settles not usable', async t => {
  const ac = new AbortController()
  const probing = probeTcg({ workDir: await tempDir(t), signal: ac.signal, timeoutMs: 20_000 })
  ac.abort()
  t.same(await probing, { usable: false, reason: 'the TCG probe was aborted' })
})
