import { execFile } from 'node:child_process'
import { abortedError } from '../../../../core/errors.ts'
import { AppError, AppErrorCode } from '../../../errors.ts'

/** How long one qemu-img call may take: metadata work on local files (create, amend, info, bitmap). */
export const TIMEOUT_QEMU_IMG_MS = 60_000
/** Output kept from qemu-img (its JSON info of an image with many bitmaps stays far below). */
const MAX_QEMU_IMG_OUTPUT_BYTES = 4 * 1024 * 1024

/**
 * Runs `qemu-img` with `args` (never through a shell) and resolves to its
 * stdout. APP_QEMU_IMG_FAILED when it is missing, exits non-zero (its
 * stderr in the message) or exceeds the time limit; CORE_ABORTED when
 * `signal` aborts it (it is killed), like every other aborted operation.
 */
export async function qemuImg (args: string[], signal?: AbortSignal): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('qemu-img', args, { timeout: TIMEOUT_QEMU_IMG_MS, maxBuffer: MAX_QEMU_IMG_OUTPUT_BYTES, signal, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) { resolve(stdout); return }
      if (signal?.aborted === true) { reject(abortedError(signal)); return }
      const why = stderr.trim() !== '' ? stderr.trim() : err.message
      reject(new AppError(AppErrorCode.APP_QEMU_IMG_FAILED, `qemu-img ${args[0] ?? ''} failed: ${why}`, { cause: err }))
    })
  })
}

/** What `qemu-img info --output=json` says about an image (the fields Tandem reads). */
export interface ImageInfo {
  format: string
  virtualSize: number
  /** qcow2 with an external data file: its path as stored (relative to the image's folder unless absolute), and whether it is plain raw. */
  dataFile?: string
  dataFileRaw?: boolean
  bitmaps: Array<{ name: string, granularity: number, flags: string[] }>
}

/**
 * `qemu-img info` of `path`. With `shared` the image may be open in a
 * running QEMU (-U: read without taking the lock; the answer may be
 * slightly stale).
 */
export async function imageInfo (path: string, options: { format?: string, shared?: boolean, signal?: AbortSignal } = {}): Promise<ImageInfo> {
  const args = ['info', '--output=json']
  if (options.format !== undefined) args.push('-f', options.format)
  if (options.shared === true) args.push('-U')
  const raw = JSON.parse(await qemuImg([...args, path], options.signal)) as {
    format: string
    'virtual-size': number
    'format-specific'?: { type: string, data?: { 'data-file'?: string, 'data-file-raw'?: boolean, bitmaps?: Array<{ name: string, granularity: number, flags: string[] }> } }
  }
  const data = raw['format-specific']?.data
  return {
    format: raw.format,
    virtualSize: raw['virtual-size'],
    dataFile: data?.['data-file'],
    dataFileRaw: data?.['data-file-raw'],
    bitmaps: data?.bitmaps ?? []
  }
}
