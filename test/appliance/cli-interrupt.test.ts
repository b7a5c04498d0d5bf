/**
 * Ctrl-C at any phase of `tandem replicate` ends with `error CORE_ABORTED`,
 * exit status 1 and no stack (issue 11, section 7). The CLI is stopped at a
 * known step by TANDEM_TEST_PAUSE_AT (appliance/cli/test-pause.ts) and
 * signalled there: no sleeps. Afterwards the next command repairs what was
 * interrupted and the store verifies.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { tandemOk, tandemJson, start } from '../helpers/tandem-cli.ts'

const MiB = 1024 * 1024

interface PointsDoc { points: Array<{ id: number }> }

async function interrupted (t: Test, args: string[], step: 'scan' | 'image'): Promise<void> {
  const run = start(args, { env: { TANDEM_TEST_PAUSE_AT: step } })
  await run.waitFor(`TANDEM_TEST_PAUSED ${step}`)
  run.child.kill('SIGINT')
  const r = await run.done
  t.equal(r.status, 1, `interrupted during ${step}: exit status`)
  t.equal(r.code, 'CORE_ABORTED', `interrupted during ${step}: code`)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  t.notMatch(r.stderr, /AbortError/, 'no piscina AbortError')
}

t.test('Ctrl-C during a scan: CORE_ABORTED, nothing committed', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await sparseFile(src, 48 * MiB)
  await writePatches(src, [{ offset: 0, length: MiB }])
  await tandemOk(['replicate', src, '--store', store])
  // Random data everywhere: every chunk has changed blocks, several are in flight at the pause.
  await writePatches(src, [{ offset: 0, length: 48 * MiB }])
  for (let i = 0; i < 3; i++) await interrupted(t, ['replicate', src, '--store', store], 'scan')
  t.same((await tandemJson<PointsDoc>(['points', '--store', store])).points.map(p => p.id), [1], 'no point was added')
  await tandemOk(['verify', '--store', store, '--point', 'all', '--image'])
  await tandemOk(['replicate', src, '--store', store])
  const image = (await tandemOk(['image', '--store', store])).trim()
  t.equal(await fileHash(image), await fileHash(src), 'the next cycle goes through')
})

t.test('Ctrl-C during the image update: CORE_ABORTED, the point is kept, the next command repairs the image', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await sparseFile(src, 32 * MiB)
  await writePatches(src, [{ offset: 0, length: MiB }])
  await tandemOk(['replicate', src, '--store', store])
  await writePatches(src, [{ offset: 0, length: 32 * MiB }])
  const hash = await fileHash(src)
  await interrupted(t, ['replicate', src, '--store', store], 'image')
  t.same((await tandemJson<PointsDoc>(['points', '--store', store])).points.map(p => p.id), [1, 2], 'the point was committed before the interrupt')
  const image = (await tandemOk(['image', '--store', store])).trim()
  t.equal(await fileHash(image), hash, 'the next command brought the image to the point')
  await tandemOk(['verify', '--store', store, '--point', 'all', '--image'])
})
