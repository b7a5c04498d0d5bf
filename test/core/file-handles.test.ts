/**
 * No file handle is left for the garbage collector to close (Node's DEP0137
 * warning, "Closing a FileHandle object on garbage collection"): each
 * scenario runs in a child process that forces full collections after it, and
 * its stderr must not show the warning.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Codec } from '../../core/compress.ts'
import { hashBlock } from '../../core/hash.ts'
import { RecoveryPointStore, StagedCycle } from '../../core/store/index.ts'
import { tempDir } from '../helpers/fixtures.ts'

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'handle-scenarios.ts')

async function runScenario (scenario: string, dir: string): Promise<{ status: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, ['--expose-gc', CHILD, scenario, dir], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const status = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { status, stdout, stderr }
}

for (const scenario of ['store closed during a resumable cycle', 'store closed during a cycle']) {
  t.test(`${scenario}: no file handle closed on garbage collection`, async t => {
    const r = await runScenario(scenario, await tempDir(t))
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout, 'done\n')
    t.notMatch(r.stderr, /DEP0137|on garbage collection/, 'no DEP0137 warning')
  })
}

const block = (): { hash: Uint8Array, codec: Codec, rawLength: number, data: Uint8Array } => {
  const data = randomBytes(65536)
  return { hash: hashBlock(data), codec: Codec.RAW, rawLength: data.byteLength, data }
}

t.test('closing a store lets go of its cycles in flight as after a dropped link', async t => {
  const dir = join(await tempDir(t), 'store')
  let store = await RecoveryPointStore.open(dir, { create: true })
  const plain = new StagedCycle(store)
  await plain.putBlocks([block()])
  const resumable = new StagedCycle(store, 'cd'.repeat(16))
  await resumable.putBlocks([block(), block()])
  await resumable.checkpoint(1)
  await resumable.putBlocks([block()])
  t.equal((await readdir(store.packsDir)).length, 2, 'two packs open')
  await store.close()

  store = await RecoveryPointStore.open(dir)
  t.teardown(async () => { await store.close() })
  t.equal((await readdir(store.packsDir)).length, 1, 'the plain cycle was aborted; the checkpointed pack is kept')
  const resumed = await StagedCycle.resume(store, 'cd'.repeat(16))
  t.equal(resumed?.progress, 1, 'the resumable cycle resumes from its checkpoint')
  await resumed?.cycle.abort()
  t.same(await store.listPoints(), [])
})
