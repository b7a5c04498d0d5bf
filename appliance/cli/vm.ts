/**
 * `tandem vm add | list | start | stop | remove`: the box's VMs through the
 * daemon (docs/cli.md "vm", docs/vms.md "Through the daemon"). Relative
 * paths are resolved here, against the CLI's working directory, because the
 * daemon's is not the operator's. `remove` forgets a VM and never touches its
 * disks, so it needs no `--yes`.
 */
import { resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { MAX_VM_STOP_WINDOW_MS, type LocalBox, type VmAddRequest, type VmDriverName, type VmInfo, type VmNicRequest } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption } from './common-options.ts'
import { formatBytes } from './format.ts'
import { collect, parseDuration, parsePositiveInt, parseVmName } from './option-values.ts'
import { Session } from './session.ts'

interface Opts { data: string, json?: boolean }

export function vmCommand (box: LocalBox): Command {
  return new Command('vm')
    .description('the VMs of this box: add, list, start, stop, remove')
    .addHelpText('after', examples([
      'tandem vm add web --disk /var/lib/vms/web.qcow2 --cpus 2 --memory 2048',
      'tandem vm add files --disk /srv/files.raw --driver manual',
      'tandem vm list',
      'tandem vm start web'
    ]))
    .addCommand(addCommand(box))
    .addCommand(listCommand(box))
    .addCommand(startCommand(box))
    .addCommand(stopCommand(box))
    .addCommand(removeCommand(box))
}

interface AddOpts extends Opts {
  disk: string[]
  cpus?: number
  memory?: number
  driver: VmDriverName
  guestAgent?: boolean
  nic?: VmNicRequest[]
  kernel?: string
  initrd?: string
  append?: string
}

function addCommand (box: LocalBox): Command {
  return new Command('add')
    .description('add a VM: its disk images (raw or qcow2, probed), in boot order, named disk0, disk1...')
    .argument('<name>', 'the VM\'s name: letters, digits, . _ - (up to 64)', parseVmName)
    .addOption(new Option('--disk <path>', 'a disk image or block device (repeat for more disks)').argParser(collect).makeOptionMandatory())
    .addOption(new Option('--cpus <n>', 'virtual CPUs (default 1)').argParser(parsePositiveInt))
    .addOption(new Option('--memory <mib>', 'memory in MiB (default 1024)').argParser(parsePositiveInt))
    .addOption(new Option('--driver <driver>', 'qemu: Tandem runs the VM; manual: it runs elsewhere, Tandem reads its disks').choices(['qemu', 'manual']).default('qemu'))
    .option('--guest-agent', 'the guest runs qemu-guest-agent (app-consistent points)')
    .addOption(new Option('--nic <mode>', 'a NIC: user, isolated, none or bridge:BRIDGE (repeat for more)').argParser(collectNic))
    .option('--kernel <path>', 'boot this kernel directly instead of the first disk')
    .option('--initrd <path>', 'the initrd of --kernel')
    .option('--append <line>', 'the kernel command line of --kernel')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem vm add web --disk /var/lib/vms/web.qcow2 --disk /var/lib/vms/web-data.raw --cpus 2 --memory 2048 --nic bridge:br0',
      'tandem vm add files --disk /srv/files.raw --driver manual',
      'tandem vm add tiny --disk tiny.raw --kernel vmlinuz --initrd initrd.img --append "console=ttyS0" --memory 128'
    ]))
    .action(async (name: string, opts: AddOpts) => {
      const service = await box.connect(dataPath(opts.data))
      const vm = await service.vmAdd(addRequest(name, opts))
      new Session(opts).output(vm, v => `added ${v.name}\n${vmText(v)}`)
    })
}

/** The vmAdd request of `vm add`'s arguments, relative paths made absolute against the working directory. Pure but for the cwd. */
export function addRequest (name: string, opts: Omit<AddOpts, 'data' | 'json'>): VmAddRequest {
  const request: VmAddRequest = { name, disks: opts.disk.map(p => resolve(p)), driver: opts.driver }
  if (opts.cpus !== undefined) request.cpus = opts.cpus
  if (opts.memory !== undefined) request.memoryMiB = opts.memory
  if (opts.guestAgent === true) request.guestAgent = true
  if (opts.nic !== undefined) request.nics = opts.nic
  if (opts.kernel !== undefined) {
    request.boot = { kernel: resolve(opts.kernel) }
    if (opts.initrd !== undefined) request.boot.initrd = resolve(opts.initrd)
    if (opts.append !== undefined) request.boot.append = opts.append
  } else if (opts.initrd !== undefined || opts.append !== undefined) {
    throw new InvalidArgumentError('--initrd and --append go with --kernel')
  }
  return request
}

/** `--nic user|isolated|none|bridge:BRIDGE`, accumulated in order. */
function collectNic (value: string, previous: VmNicRequest[] | undefined): VmNicRequest[] {
  const bridge = /^bridge:(.+)$/.exec(value)
  let nic: VmNicRequest
  if (bridge !== null) nic = { mode: 'bridge', bridge: bridge[1]! }
  else if (value === 'user' || value === 'isolated' || value === 'none') nic = { mode: value }
  else throw new InvalidArgumentError('expected user, isolated, none or bridge:BRIDGE')
  return [...(previous ?? []), nic]
}

function listCommand (box: LocalBox): Command {
  return new Command('list')
    .description('list the VMs: driver, state and why, disks, and the relationship protecting each')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem vm list', 'tandem vm list --json']))
    .action(async (opts: Opts) => {
      const vms = await (await box.connect(dataPath(opts.data))).vmList()
      new Session(opts).output(vms, listText)
    })
}

function startCommand (box: LocalBox): Command {
  return new Command('start')
    .description('start a VM Tandem runs (qemu driver); waits until it runs')
    .argument('<name>', 'the VM (see tandem vm list)')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem vm start web']))
    .action(async (name: string, opts: Opts) => {
      const vm = await (await box.connect(dataPath(opts.data))).vmStart(name)
      new Session(opts).output(vm, vmText)
    })
}

function stopCommand (box: LocalBox): Command {
  return new Command('stop')
    .description('shut a VM down: asks the guest (ACPI, and its agent) and waits; a guest still running after the window is left running unless --force')
    .argument('<name>', 'the VM (see tandem vm list)')
    .option('--force', 'end a guest that does not shut down in time: QEMU quits (like pulling the plug), then is killed')
    .addOption(new Option('--timeout <duration>', 'how long the guest has to shut down (default 60s, at most 90s)').argParser(parseStopWindow))
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem vm stop web', 'tandem vm stop web --timeout 30s --force']))
    .action(async (name: string, opts: Opts & { force?: boolean, timeout?: number }) => {
      const service = await box.connect(dataPath(opts.data))
      const vm = await service.vmStop(name, { ...(opts.force === true ? { force: true } : {}), ...(opts.timeout === undefined ? {} : { timeoutMs: opts.timeout }) })
      new Session(opts).output(vm, vmText)
    })
}

/** `--timeout`: a duration from 1 ms to MAX_VM_STOP_WINDOW_MS. */
function parseStopWindow (value: string): number {
  const ms = parseDuration(value)
  if (ms < 1 || ms > MAX_VM_STOP_WINDOW_MS) throw new InvalidArgumentError(`expected a duration from 1ms to ${MAX_VM_STOP_WINDOW_MS / 1000}s`)
  return ms
}

function removeCommand (box: LocalBox): Command {
  return new Command('remove')
    .description('forget a VM (its disks are not touched); refused while it runs or replication protects it')
    .argument('<name>', 'the VM (see tandem vm list)')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem vm stop web && tandem vm remove web']))
    .action(async (name: string, opts: Opts) => {
      const result = await (await box.connect(dataPath(opts.data))).vmRemove(name)
      new Session(opts).output(result, r => `removed ${r.name} (its disks are untouched)`)
    })
}

function listText (vms: VmInfo[]): string {
  if (vms.length === 0) return 'no VMs (add one with tandem vm add)'
  return vms.map(vmText).join('\n\n')
}

function vmText (v: VmInfo): string {
  const lines = [
    `${v.name}  ${v.state}  (${v.driver} driver)`,
    `  why       ${v.reason}`,
    `  size      ${v.cpus} vCPU, ${v.memoryMiB} MiB${v.guestAgent ? ', guest agent' : ''}`,
    ...v.disks.map(d => `  ${d.name.padEnd(9)} ${d.path} (${d.format}${d.size === null ? '' : `, ${formatBytes(d.size)}`})`)
  ]
  if (v.pid !== null) lines.push(`  pid       ${v.pid}${v.accel === null ? '' : ` (${v.accel.toUpperCase()})`}`)
  lines.push(`  protected ${v.relationship === null ? 'no' : `${v.relationship.id} (${v.relationship.role}, ${v.relationship.state})`}`)
  return lines.join('\n')
}
