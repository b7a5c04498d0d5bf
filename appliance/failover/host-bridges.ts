/**
 * The network bridges of this box, for a failover VM's NICs
 * (failover-plan.ts): an interface with a `bridge` folder under
 * /sys/class/net/ is a Linux bridge. Whether qemu-bridge-helper may use it
 * (its ACL, /etc/qemu/bridge.conf) is QEMU's to say at start.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

export const SYS_CLASS_NET = '/sys/class/net'

/** The names of the bridges under `root` (/sys/class/net); none when it cannot be read. Never throws. */
export async function hostBridges (root = SYS_CLASS_NET): Promise<Set<string>> {
  const names = await readdir(root).catch(() => [] as string[])
  const out = new Set<string>()
  for (const name of names) {
    if (await stat(join(root, name, 'bridge')).then(s => s.isDirectory(), () => false)) out.add(name)
  }
  return out
}
