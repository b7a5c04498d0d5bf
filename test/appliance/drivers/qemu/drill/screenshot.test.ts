/**
 * takeScreenshot against a fake QMP that writes its dumps as QEMU does:
 * PNG when QEMU can, else the PPM converted here; the result is checked
 * before it is kept at `dest`, atomically; QEMU's refusals and a bad dump
 * keep their codes and leave `dest` absent; the dumps never stay behind.
 */
import t from 'tap'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inflateSync } from 'node:zlib'
import { AppError, AppErrorCode } from '../../../../../appliance/errors.ts'
import { encodePng, pngSize, takeScreenshot, type ScreendumpQmp } from '../../../../../appliance/drivers/qemu/drill/index.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'

type Mode = 'png' | 'no-png' | 'no-console' | 'bad-png' | 'no-file'

/** A QMP whose screendump writes what QEMU would; records the calls' arguments. */
function fakeQmp (mode: Mode): ScreendumpQmp & { calls: unknown[] } {
  const calls: unknown[] = []
  return {
    calls,
    execute: async <T>(command: string, args?: Record<string, unknown>): Promise<T> => {
      calls.push({ command, ...args })
      const refuse = (desc: string): never => { throw new AppError(AppErrorCode.APP_QMP_ERROR, desc, { details: { command, class: 'GenericError', desc } }) }
      if (mode === 'no-console') refuse('There is no console to take a screendump from')
      const file = String(args?.filename)
      if (args?.format === 'png') {
        if (mode === 'no-png') refuse("Parameter 'format' is unexpected")
        if (mode === 'bad-png') await writeFile(file, 'not a png')
        if (mode === 'png') await writeFile(file, encodePng({ width: 4, height: 2, rgb: new Uint8Array(24).fill(7) }))
      } else {
        await writeFile(file, Buffer.concat([Buffer.from('P6\n720 400\n255\n'), Buffer.alloc(720 * 400 * 3, 0xaa)]))
      }
      return {} as T
    }
  }
}

async function setup (t: Parameters<typeof tempDir>[0]): Promise<{ scratchDir: string, dest: string, dir: string }> {
  const dir = await tempDir(t)
  const scratchDir = join(dir, 'run')
  await mkdir(scratchDir)
  return { scratchDir, dest: join(dir, 'drill.png'), dir }
}

t.test('QEMU writes PNG: kept as it is', async t => {
  const { scratchDir, dest } = await setup(t)
  const qmp = fakeQmp('png')
  t.same(await takeScreenshot(qmp, dest, { scratchDir }), { width: 4, height: 2, converted: false })
  t.same(qmp.calls, [{ command: 'screendump', filename: join(scratchDir, 'screendump.png'), format: 'png' }])
  t.same(pngSize(await readFile(dest)), { width: 4, height: 2 })
  t.same(await readdir(scratchDir), [], 'the dump is removed')
})

t.test('QEMU cannot write PNG: its PPM is converted', async t => {
  const { scratchDir, dest } = await setup(t)
  const qmp = fakeQmp('no-png')
  t.same(await takeScreenshot(qmp, dest, { scratchDir }), { width: 720, height: 400, converted: true })
  t.same(qmp.calls.map(c => (c as { format?: string }).format), ['png', undefined], 'PNG asked first, then the default PPM')
  const png = await readFile(dest)
  t.same(pngSize(png), { width: 720, height: 400 })
  // the IDAT is the second chunk, right after the 25-byte IHDR chunk
  const idatLength = png.readUInt32BE(33)
  const rows = inflateSync(png.subarray(41, 41 + idatLength))
  t.equal(rows.length, (720 * 3 + 1) * 400)
  t.ok(rows.every((b, i) => i % (720 * 3 + 1) === 0 ? b === 0 : b === 0xaa), 'the pixels survived the conversion')
  t.same(await readdir(scratchDir), [])
})

t.test('failures keep their codes and leave no file', async t => {
  const cases: Array<[Mode, string]> = [
    ['no-console', AppErrorCode.APP_QMP_ERROR],
    ['bad-png', AppErrorCode.APP_SCREENSHOT_INVALID],
    ['no-file', AppErrorCode.APP_SCREENSHOT_INVALID]
  ]
  for (const [mode, code] of cases) {
    const { scratchDir, dest, dir } = await setup(t)
    await t.rejects(takeScreenshot(fakeQmp(mode), dest, { scratchDir }), { code }, mode)
    t.same(await readdir(scratchDir), [], `${mode}: no dump left`)
    t.same((await readdir(dir)).sort(), ['run'], `${mode}: no screenshot, no partial file`)
  }
  await t.rejects(takeScreenshot(fakeQmp('png'), 'rel.png', { scratchDir: '/tmp' }), TypeError)
})
