/**
 * `npm run image:smoke`'s check of the rights tandem.service gives for VMs on
 * a bridge (image/README.md "VMs on the office network"): the daemon starts a
 * qemu VM whose NIC is on br0 and QEMU's bridge helper joins its tap to the
 * bridge; a bridge /etc/qemu/bridge.conf does not allow fails the start with
 * APP_VM_START_FAILED and the helper's reason. The bridges are made for the
 * check and removed after it; the VMs boot nothing (a blank disk), they only
 * have to start. Only setuid programs the box needs are left (image/build.ts).
 * Each check reports through `check` and never throws.
 */
import { message } from './checks.ts'
import type { BoxSmokeTools } from './smoke-box.ts'

/** The bridge the image allows (image/files/etc/qemu/bridge.conf) and one it does not. */
const ALLOWED_BRIDGE = 'br0'
const DENIED_BRIDGE = 'br9'
/** The setuid/setgid programs the image keeps (image/build.ts setuidPrograms), each with its mode and owners. */
export const SETID_PROGRAMS = [
  '4750 root:kvm /usr/lib/qemu/qemu-bridge-helper',
  '4754 root:messagebus /usr/lib/dbus-1.0/dbus-daemon-launch-helper',
  '2755 root:shadow /usr/sbin/unix_chkpwd'
]
const VM = 'bridge-probe'
const DENIED_VM = 'bridge-denied'
/** One disk each: a disk belongs to one VM (APP_DISK_TAKEN). */
const DISK = '/var/lib/tandem/bridge-probe.raw'
const DENIED_DISK = '/var/lib/tandem/bridge-denied.raw'
/**
 * How long the tap must stay on the bridge after the start: systemd-networkd, when a
 * .network file matched taps, took it out within a second (70-tandem-vm-taps.network).
 */
const TAP_KEPT_MS = 10_000


export async function checkBridgedVm (tools: BoxSmokeTools): Promise<void> {
  const { check } = tools
  const sh = (script: string): Promise<{ status: number, out: string }> => tools.exec('/bin/sh', ['-c', script])
  const tandem = (...args: string[]): Promise<{ status: number, out: string }> => tools.exec('/usr/sbin/runuser', ['-u', 'tandem', '--', '/usr/local/bin/tandem', ...args])
  const ports = async (): Promise<string[]> => (await sh(`ls /sys/class/net/${ALLOWED_BRIDGE}/brif`)).out.split('\n').filter(l => l !== '')
  try {
    const setid = await sh('find / -xdev -type f -perm /6000 -exec stat -c "%a %U:%G %n" {} + | sort')
    const found = setid.out.split('\n').filter(l => l !== '')
    check('setuid and setgid: only the bridge helper (root:kvm), dbus\'s launch helper and PAM\'s password checker', found.join('\n') === [...SETID_PROGRAMS].sort().join('\n'), found.join(' / '))
  } catch (err) {
    check('setuid and setgid programs', false, message(err))
  }
  try {
    const made = await sh(`ip link add ${ALLOWED_BRIDGE} type bridge && ip link set ${ALLOWED_BRIDGE} up && ip link add ${DENIED_BRIDGE} type bridge && ` +
      `runuser -u tandem -- truncate -s 1M ${DISK} ${DENIED_DISK}`)
    if (made.status !== 0) throw new Error(`the bridges: ${made.out.trim()}`)
    const added = await tandem('vm', 'add', VM, '--disk', DISK, '--memory', '64', '--nic', `bridge:${ALLOWED_BRIDGE}`)
    const started = await tandem('vm', 'start', VM, '--json')
    const state = started.status === 0 ? (JSON.parse(started.out) as { state?: string }).state : undefined
    const joined = await ports()
    await tools.delay(TAP_KEPT_MS)
    const kept = await ports()
    check(`a VM with a NIC on ${ALLOWED_BRIDGE} starts under tandem.service, the bridge helper joins its tap to the bridge, and it stays there`,
      added.status === 0 && state === 'running' && joined.length === 1 && kept.join() === joined.join(),
      `vm add: ${added.status}, vm start: ${started.status} ${state ?? started.out.trim().slice(0, 300)}, ports of ${ALLOWED_BRIDGE}: ${joined.join(' ') || 'none'}, ${TAP_KEPT_MS / 1000} s later: ${kept.join(' ') || 'none'}`)
    const stopped = await tandem('vm', 'stop', VM, '--timeout', '2s', '--force')
    const left = await ports()
    check(`the VM stopped, its tap leaves ${ALLOWED_BRIDGE}`, stopped.status === 0 && left.length === 0, `vm stop: ${stopped.status} ${stopped.out.trim().slice(0, 200)}, ports: ${left.join(' ') || 'none'}`)
  } catch (err) {
    check(`a VM with a NIC on ${ALLOWED_BRIDGE} starts under tandem.service`, false, message(err))
  }
  try {
    const added = await tandem('vm', 'add', DENIED_VM, '--disk', DENIED_DISK, '--memory', '64', '--nic', `bridge:${DENIED_BRIDGE}`)
    const started = await tandem('vm', 'start', DENIED_VM)
    check(`a VM on a bridge bridge.conf does not allow (${DENIED_BRIDGE}) does not start: APP_VM_START_FAILED with the helper's reason`,
      added.status === 0 && started.status !== 0 && started.out.includes('APP_VM_START_FAILED') && /acl/i.test(started.out),
      `vm add: ${added.status}, vm start: ${started.status} ${started.out.trim().slice(0, 300)}`)
  } catch (err) {
    check(`a VM on a bridge bridge.conf does not allow (${DENIED_BRIDGE}) does not start`, false, message(err))
  }
  try {
    for (const vm of [VM, DENIED_VM]) await tandem('vm', 'remove', vm)
    await sh(`ip link del ${ALLOWED_BRIDGE}; ip link del ${DENIED_BRIDGE}; rm -f ${DISK} ${DENIED_DISK}`)
  } catch { /* the checks above said what failed; the reboot that follows starts clean */ }
}
