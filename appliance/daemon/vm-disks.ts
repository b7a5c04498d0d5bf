/**
 * The disks of the daemon's VMs (docs/vms.md "Through the daemon"): the
 * definition a `vmAdd` request makes, the checks of each disk path (a
 * regular file or block device, raw or qcow2, which file it really is),
 * and the sizes `vm list` shows.
 */
import { stat } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import type { Stats } from 'node:fs'
import type { CheckedVmDefinition, VmDefinition } from '../drivers/qemu/vm-definition.ts'
import { imageInfo } from '../drivers/qemu/tracking/qemu-img.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { VmAddRequest, VmDiskInfo } from '../service/index.ts'
import { DEFAULT_VM_CPUS, DEFAULT_VM_MEMORY_MIB } from './constants.ts'

/** The VM definition of a `vmAdd` request with `disks` (named disk0, disk1... by position), defaults filled in; checked by the caller. */
export function definitionOf (request: VmAddRequest, disks: Array<{ path: string, format: 'raw' | 'qcow2' }>): VmDefinition {
  const nics = Array.isArray(request.nics) ? request.nics : []
  const def: VmDefinition = {
    name: request.name,
    vcpus: request.cpus ?? DEFAULT_VM_CPUS,
    memoryMiB: request.memoryMiB ?? DEFAULT_VM_MEMORY_MIB,
    disks: disks.map((d, i) => ({ name: `disk${i}`, path: d.path, format: d.format })),
    nics: nics.map((n, i) => ({ ...n, id: n.id ?? `net${i}` })),
    guestAgent: request.guestAgent ?? false
  }
  if (request.boot !== undefined) def.boot = request.boot
  return def
}

/** The file behind a disk path: APP_DISK_NOT_FOUND when missing or neither a regular file nor a block device. */
export async function diskStats (path: string, field: string): Promise<Stats> {
  if (!isAbsolute(path)) throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: ${field}.path must be an absolute path`, { details: { field: `${field}.path` } })
  let st: Stats
  try {
    st = await stat(path)
  } catch (err) {
    throw new AppError(AppErrorCode.APP_DISK_NOT_FOUND, `disk ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err, details: { path } })
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new AppError(AppErrorCode.APP_DISK_NOT_FOUND, `disk ${path} is neither a regular file nor a block device`, { details: { path } })
  return st
}

/** The same file whatever the path: a block device by its device number, a file by its device and inode. */
export function identity (st: Stats): string {
  return st.isBlockDevice() ? `b:${st.rdev}` : `f:${st.dev}:${st.ino}`
}

/** The disk's format as qemu-img probes it (-U: the disk may be open in a VM that runs elsewhere); only raw and qcow2 are taken. */
export async function probeFormat (path: string, index: number): Promise<'raw' | 'qcow2'> {
  const { format } = await imageInfo(path, { shared: true })
  if (format === 'raw' || format === 'qcow2') return format
  throw new AppError(AppErrorCode.APP_DISK_FORMAT_UNSUPPORTED, `disk ${path} is ${format.slice(0, 32)}; Tandem takes raw and qcow2 images (convert it with qemu-img convert)`, { details: { path, format, field: `disks[${index}].path` } })
}

/**
 * The sizes of disks as `vm list` shows them: a raw file's length; a
 * qcow2's or a block device's virtual size from qemu-img (-U: it may be in
 * use), kept while the file's identity, size and mtime are unchanged (a
 * qcow2's virtual size changes only by a resize, which writes the file).
 * A file that cannot be read now has no size (null). Never throws.
 */
export class DiskSizes {
  private readonly cache = new Map<string, { key: string, size: number }>()

  async diskInfo (d: CheckedVmDefinition['disks'][number]): Promise<VmDiskInfo> {
    const out: VmDiskInfo = { name: d.name, path: d.path, format: d.format, size: null }
    const st = await stat(d.path).catch(() => undefined)
    if (st === undefined) return out
    if (d.format === 'raw' && st.isFile()) return { ...out, size: st.size }
    const key = `${identity(st)}:${st.mtimeMs}:${st.size}`
    const cached = this.cache.get(d.path)
    if (cached?.key === key) return { ...out, size: cached.size }
    const size = await imageInfo(d.path, { format: d.format, shared: true }).then(i => i.virtualSize, () => null)
    if (size !== null) this.cache.set(d.path, { key, size })
    return { ...out, size }
  }
}
