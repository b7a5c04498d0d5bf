import { randomBytes } from 'node:crypto'
import { rename, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { AppError, AppErrorCode } from '../../../errors.ts'
import { imageInfo, qemuImg } from './qemu-img.ts'

/**
 * Gives a raw disk a persistent dirty bitmap without touching its data: a
 * qcow2 metadata file ("sidecar") whose data file is the raw disk itself
 * (`data_file_raw=on`: the raw file stays plain raw, byte for byte). QEMU
 * then opens the sidecar as the disk, and its bitmaps live in the sidecar.
 *
 * The trap (docs/platform-notes.md): `qemu-img create -o data_file=DISK.raw`
 * zeroes an existing data file. So the sidecar is created against a
 * throw-away sparse file of the same size, then pointed at the real disk
 * with `qemu-img amend`, which does not write the data file. The sidecar is
 * built under a temporary name and renamed into place, so a crash leaves no
 * half-made sidecar; the raw disk is never opened for writing.
 *
 * Idempotent: an existing sidecar that already points at `rawPath` with the
 * right size is kept. One that points elsewhere, or has another size, is
 * APP_SIDECAR_MISMATCH (never silently replaced: its bitmaps are the
 * change history). APP_QEMU_IMG_FAILED when qemu-img fails.
 */
export async function ensureRawSidecar (rawPath: string, sidecarPath: string, signal?: AbortSignal): Promise<{ created: boolean }> {
  const raw = resolve(rawPath)
  const size = (await stat(raw)).size
  const existing = await stat(sidecarPath).then(() => true, () => false)
  if (existing) {
    await checkSidecar(raw, sidecarPath, size, signal)
    return { created: false }
  }
  const tag = randomBytes(6).toString('hex')
  const dummy = resolve(dirname(sidecarPath), `.tandem-dummy-${tag}.raw`)
  const building = `${sidecarPath}.${tag}.building`
  try {
    await writeFile(dummy, '')
    await truncate(dummy, size)
    await qemuImg(['create', '-q', '-f', 'qcow2', '-o', `data_file=${dummy},data_file_raw=on`, building, String(size)], signal)
    await qemuImg(['amend', '-f', 'qcow2', '-o', `data_file=${raw}`, building], signal)
    await checkSidecar(raw, building, size, signal)
    await rename(building, sidecarPath)
  } finally {
    await rm(dummy, { force: true })
    await rm(building, { force: true })
  }
  return { created: true }
}

async function checkSidecar (raw: string, sidecarPath: string, size: number, signal?: AbortSignal): Promise<void> {
  const info = await imageInfo(sidecarPath, { format: 'qcow2', shared: true, signal })
  if (info.dataFile === undefined || resolve(dirname(sidecarPath), info.dataFile) !== raw || info.dataFileRaw !== true) {
    throw new AppError(AppErrorCode.APP_SIDECAR_MISMATCH, `${sidecarPath} is not the metadata file of ${raw} (its data file: ${info.dataFile ?? 'none'})`)
  }
  if (info.virtualSize !== size) {
    throw new AppError(AppErrorCode.APP_SIDECAR_MISMATCH, `${sidecarPath} describes ${info.virtualSize} bytes; ${raw} has ${size} (the disk was resized: track it anew)`)
  }
}
