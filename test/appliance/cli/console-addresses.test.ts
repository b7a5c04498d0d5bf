/**
 * tandem console's addresses (hostAddresses in appliance/cli/console.ts): every
 * interface's, loopback aside and a bridge's ports aside (a VM's tap, the NIC
 * a bridge holds: /sys/class/net/IFACE/brport), read from a folder made here.
 */
import t from 'tap'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import type { NetworkInterfaceInfo } from 'node:os'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hostAddresses } from '../../../appliance/cli/console.ts'

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '52:54:00:00:00:01', internal, cidr: `${address}/24` })
const v6 = (address: string): NetworkInterfaceInfo => ({ address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '52:54:00:00:00:01', internal: false, cidr: `${address}/64`, scopeid: 2 })

t.test('a bridge\'s ports and loopback are left out; the bridge and plain NICs are listed', async t => {
  const sysNet = await mkdtemp(join(tmpdir(), 'tandem-sysnet-'))
  t.teardown(() => rm(sysNet, { recursive: true, force: true }))
  for (const port of ['tap0', 'enp1s0']) await mkdir(join(sysNet, port, 'brport'), { recursive: true })
  await mkdir(join(sysNet, 'br0', 'bridge'), { recursive: true })
  await mkdir(join(sysNet, 'enp2s0'), { recursive: true })
  const found = hostAddresses({
    lo: [v4('127.0.0.1', true)],
    br0: [v4('192.168.1.20'), v6('fe80::1')],
    enp1s0: [v6('fe80::2')],
    tap0: [v6('fe80::fc00:1')],
    enp2s0: [v4('10.0.0.5')]
  }, sysNet)
  t.same(found, [
    { address: '192.168.1.20', family: 4, iface: 'br0' },
    { address: 'fe80::1', family: 6, iface: 'br0' },
    { address: '10.0.0.5', family: 4, iface: 'enp2s0' }
  ])
})
