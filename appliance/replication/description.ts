/**
 * What a primary tells its Replica of a relationship (the relationship
 * protocol's description, docs/relationship-protocol.md): the VM's shape,
 * never its disks' paths, and the settings. Sent with an offer, an update,
 * and by a new primary when it reverses replication.
 */
import { open, stat } from 'node:fs/promises'
import { MAX_BOOT_APPEND_BYTES, MAX_BOOT_PATH_BYTES, type KernelBoot, type ProtectedVm, type RelationshipDescription } from '../../p2p/relationship/index.ts'
import type { VmBoot } from '../drivers/qemu/index.ts'
import type { InventoryVm } from '../inventory/index.ts'
import type { Relationship } from '../relationships/index.ts'

/** Bytes of a disk image as the guest sees it: the file size of a raw image, the virtual size in a qcow2 header. */
async function diskSize (path: string, format: 'raw' | 'qcow2'): Promise<number> {
  if (format === 'raw') return (await stat(path)).size
  const h = await open(path, 'r')
  try {
    const header = Buffer.alloc(32)
    await h.read(header, 0, 32, 0)
    return Number(header.readBigUInt64BE(24))
  } finally {
    await h.close()
  }
}

/**
 * What the Replica is told of the VM: its shape, never its disks' paths.
 * A VM that boots a kernel directly (a manual one too, when its
 * definition names one) also sends what it boots (`kernelBoot`: the
 * primary's paths, which the Replica looks for on its own box), unless a
 * path or the command line is longer than the protocol carries: the
 * Replica then says it does not know the kernel.
 */
export async function protectedVm (vm: InventoryVm): Promise<ProtectedVm> {
  const def = vm.definition
  const disks = []
  for (const d of def.disks) disks.push({ name: d.name, size: await diskSize(d.path, d.format), format: d.format })
  const kernelBoot = def.boot === undefined ? undefined : wireKernelBoot(def.boot)
  return {
    name: def.name,
    driver: vm.driver,
    vcpus: def.vcpus,
    memoryMiB: def.memoryMiB,
    boot: def.boot !== undefined ? 'kernel' : vm.driver === 'manual' ? null : 'bios',
    disks,
    // the device model qemu-args.ts gives every NIC, with its mode and MAC (a failover keeps them where it can); a manual VM's NICs are whatever its hypervisor made, and it has none listed
    nics: def.nics.map(n => ({ model: 'virtio-net-pci', mode: n.mode, ...(n.bridge === undefined ? {} : { bridge: n.bridge }), ...(n.mac === undefined ? {} : { mac: n.mac }) })),
    ...(kernelBoot === undefined ? {} : { kernelBoot })
  }
}

/** The kernel boot as the wire carries it, or undefined when a field is past the wire's bounds. */
function wireKernelBoot (boot: VmBoot): KernelBoot | undefined {
  const fits = (s: string | undefined, max: number): boolean => s === undefined || Buffer.byteLength(s) <= max
  if (!fits(boot.kernel, MAX_BOOT_PATH_BYTES) || !fits(boot.initrd, MAX_BOOT_PATH_BYTES) || !fits(boot.append, MAX_BOOT_APPEND_BYTES)) return undefined
  return { kernel: boot.kernel, ...(boot.initrd === undefined ? {} : { initrd: boot.initrd }), ...(boot.append === undefined ? {} : { append: boot.append }) }
}

export async function description (rel: Relationship, vm: InventoryVm): Promise<RelationshipDescription> {
  const s = rel.settings
  const i = s.initial
  return {
    relationship: rel.id,
    term: rel.term,
    suspended: rel.state === 'suspended',
    vm: await protectedVm(vm),
    settings: {
      frequency: s.frequency,
      recoveryPoints: s.recoveryPoints,
      appConsistentEvery: s.appConsistentEvery,
      bandwidth: s.bandwidth,
      initial: typeof i === 'string' ? { mode: i } : 'at' in i ? { mode: 'at', at: i.at } : { mode: 'seed' }
    }
  }
}
