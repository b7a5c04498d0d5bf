import { isAbsolute, join } from 'node:path'
import { checkVmDefinition, type VmDefinition } from './vm-definition.ts'

export type Accel = 'kvm' | 'tcg'

export interface QemuArgsOptions {
  accel: Accel
  /** Absolute directory for the VM's sockets, serial log and pid file. */
  runDir: string
}

/** The files a VM keeps in its run directory. */
export interface VmRunPaths {
  qmpSocket: string
  qgaSocket: string
  serialLog: string
  pidFile: string
}

export function vmRunPaths (runDir: string): VmRunPaths {
  return {
    qmpSocket: join(runDir, 'qmp.sock'),
    qgaSocket: join(runDir, 'qga.sock'),
    serialLog: join(runDir, 'serial.log'),
    pidFile: join(runDir, 'qemu.pid')
  }
}

/** Name of the guest agent's virtio-serial port, which qemu-guest-agent looks for. */
export const GUEST_AGENT_PORT = 'org.qemu.guest_agent.0'

/**
 * The `qemu-system-x86_64` arguments for `def` (checked with
 * checkVmDefinition: APP_VM_INVALID) under `accel`. Pure: the same input
 * gives the same list; nothing is touched on disk. docs/vms.md shows a
 * full example.
 *
 * - Disks use `-blockdev` so node names are stable for QMP: protocol node
 *   `<node>-file`, format node `<node>` (`disk0`, `disk1`... by default),
 *   device `vda`, `vdb`... A raw disk with a sidecar is a qcow2 format node
 *   over the sidecar (`<node>-file`) whose data file is the raw disk
 *   (`<node>-data`). Without direct kernel boot the first disk boots.
 * - `-cpu host` under KVM (the model probeKvm tries); QEMU's default model
 *   under TCG (`max` emulates far more and slows guests down).
 * - No daemonizing, no default devices, no display window (`-display
 *   none`); QMP and the guest agent on unix sockets in `runDir`; the serial
 *   console to a log file. `display: true` adds a standard VGA device last
 *   (so the other devices keep their PCI slots), for QMP `screendump`.
 * - Values inside option strings (paths) have commas doubled, QEMU's escape.
 */
export function buildQemuArgs (definition: VmDefinition, options: QemuArgsOptions): string[] {
  const def = checkVmDefinition(definition)
  if (options.accel !== 'kvm' && options.accel !== 'tcg') throw new TypeError(`accel must be 'kvm' or 'tcg', got ${String(options.accel)}`)
  if (!isAbsolute(options.runDir)) throw new TypeError(`runDir must be an absolute path, got ${options.runDir}`)
  const paths = vmRunPaths(options.runDir)
  const args = [
    '-name', `guest=${def.name}`,
    '-machine', 'pc',
    '-accel', options.accel,
    ...options.accel === 'kvm' ? ['-cpu', 'host'] : [],
    '-smp', String(def.vcpus),
    '-m', String(def.memoryMiB),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-qmp', `unix:${esc(paths.qmpSocket)},server=on,wait=off`,
    '-chardev', `file,id=serial0,path=${esc(paths.serialLog)}`,
    '-serial', 'chardev:serial0'
  ]
  if (def.boot !== undefined) {
    args.push('-kernel', def.boot.kernel)
    if (def.boot.initrd !== undefined) args.push('-initrd', def.boot.initrd)
    if (def.boot.append !== undefined) args.push('-append', def.boot.append)
  }
  def.disks.forEach((disk, i) => {
    const file = `${disk.node}-file`
    if (disk.format === 'raw' && disk.sidecar !== undefined) {
      const data = `${disk.node}-data`
      args.push(
        '-blockdev', `driver=file,filename=${esc(disk.sidecar)},node-name=${file}`,
        '-blockdev', `driver=file,filename=${esc(disk.path)},node-name=${data}`,
        '-blockdev', `driver=qcow2,file=${file},data-file=${data},node-name=${disk.node}`
      )
    } else {
      args.push(
        '-blockdev', `driver=file,filename=${esc(disk.path)},node-name=${file}`,
        '-blockdev', `driver=${disk.format},file=${file},node-name=${disk.node}`
      )
    }
    const bootIndex = def.boot === undefined && i === 0 ? ',bootindex=0' : ''
    args.push('-device', `virtio-blk-pci,drive=${disk.node},id=${diskDeviceId(i)}${bootIndex}`)
  })
  for (const nic of def.nics) {
    let netdev: string
    switch (nic.mode) {
      case 'none': continue
      case 'isolated': netdev = `user,id=${nic.id},restrict=on`; break
      case 'user': netdev = `user,id=${nic.id}`; break
      case 'bridge': netdev = `bridge,id=${nic.id},br=${nic.bridge ?? ''}`; break
    }
    const mac = nic.mac === undefined ? '' : `,mac=${nic.mac}`
    args.push('-netdev', netdev, '-device', `virtio-net-pci,netdev=${nic.id},id=${nic.id}-nic${mac}`)
  }
  if (def.guestAgent) {
    args.push(
      '-chardev', `socket,path=${esc(paths.qgaSocket)},server=on,wait=off,id=qga0`,
      '-device', 'virtio-serial',
      '-device', `virtserialport,chardev=qga0,name=${GUEST_AGENT_PORT}`
    )
  }
  if (def.display === true) args.push('-device', 'VGA,id=video0')
  return args
}

/** `vda`, `vdb`, ... for the disk at `index` (at most MAX_VM_DISKS, so one letter). */
export function diskDeviceId (index: number): string {
  return `vd${String.fromCharCode(0x61 + index)}`
}

/** QEMU option values double a comma to keep it literal. */
function esc (value: string): string {
  return value.replaceAll(',', ',,')
}
