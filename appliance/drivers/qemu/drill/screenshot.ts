import { readFile, rm, stat } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { writeOutputFile } from '../../../../core/output-file.ts'
import { AppError, AppErrorCode } from '../../../errors.ts'
import type { QmpCallOptions, QmpClient } from '../qmp/index.ts'
import { MAX_SCREENSHOT_BYTES } from './constants.ts'
import { encodePng, pngSize } from './png.ts'
import { parsePpm } from './ppm.ts'

/** What takeScreenshot needs of QMP. */
export type ScreendumpQmp = Pick<QmpClient, 'execute'>

export interface ScreenshotOptions {
  /** Absolute directory QEMU writes its dump into (the VM's run directory); the dump is removed afterwards. */
  scratchDir: string
  /** Per QMP command; TIMEOUT_QMP_COMMAND_MS by default. */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface Screenshot {
  width: number
  height: number
  /** QEMU could not write PNG, so its PPM was converted here. */
  converted: boolean
}

/**
 * Takes a screenshot of the VM's display as a PNG file at `dest`, written
 * atomically (core's writeOutputFile: `dest` is either absent, as before,
 * or complete). The VM needs a display device (`display: true`).
 *
 * QMP `screendump` with `format: 'png'` (QEMU 7.1 and later, built with
 * libpng: Debian 12's QEMU 7.2 is); if QEMU refuses it (APP_QMP_ERROR:
 * older QEMU, no libpng) the PPM it writes by default is converted here
 * (ppm.ts, png.ts). The file is checked before it is kept (signature, IHDR,
 * size; at most MAX_SCREENSHOT_BYTES). Errors: APP_SCREENSHOT_INVALID,
 * APP_QMP_* (e.g. APP_QMP_ERROR: no display), CORE_WRITE_FAILED,
 * CORE_ABORTED.
 */
export async function takeScreenshot (qmp: ScreendumpQmp, dest: string, options: ScreenshotOptions): Promise<Screenshot> {
  if (!isAbsolute(dest)) throw new TypeError(`dest must be an absolute path, got ${dest}`)
  if (!isAbsolute(options.scratchDir)) throw new TypeError(`scratchDir must be an absolute path, got ${options.scratchDir}`)
  const call: QmpCallOptions = { timeoutMs: options.timeoutMs, signal: options.signal }
  const png = join(options.scratchDir, 'screendump.png')
  const ppm = join(options.scratchDir, 'screendump.ppm')
  try {
    let bytes: Buffer
    let converted = false
    try {
      await qmp.execute('screendump', { filename: png, format: 'png' }, call)
      bytes = await readDump(png)
    } catch (err) {
      if ((err as { code?: unknown }).code !== AppErrorCode.APP_QMP_ERROR) throw err
      await qmp.execute('screendump', { filename: ppm }, call)
      bytes = encodePng(parsePpm(await readDump(ppm)))
      converted = true
    }
    const size = pngSize(bytes)
    await writeOutputFile(dest, async handle => { await handle.writeFile(bytes) })
    return { ...size, converted }
  } finally {
    await rm(png, { force: true })
    await rm(ppm, { force: true })
  }
}

/** The file QEMU wrote, read whole once its size is known to be bounded. */
async function readDump (path: string): Promise<Buffer> {
  const size = await stat(path).then(s => s.size, () => -1)
  if (size < 0) throw new AppError(AppErrorCode.APP_SCREENSHOT_INVALID, `QEMU's screendump wrote no file at ${path}`)
  if (size > MAX_SCREENSHOT_BYTES) throw new AppError(AppErrorCode.APP_SCREENSHOT_INVALID, `QEMU's screendump is ${size} bytes, over ${MAX_SCREENSHOT_BYTES}`)
  return await readFile(path)
}
