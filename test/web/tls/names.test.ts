/**
 * The names a certificate is made for, and the bytes of the IP addresses it
 * carries: pure functions, tables of literal inputs and outputs.
 */
import t from 'tap'
import type { NetworkInterfaceInfo } from 'node:os'
import { apiHost, certificateNames } from '../../../web/tls/index.ts'
import { ipBytes } from '../../../web/tls/ip-bytes.ts'

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo => (family === 'IPv4'
  ? { address, family, internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null }
  : { address, family, internal, netmask: 'ffff:ffff:ffff:ffff::', mac: '00:00:00:00:00:00', cidr: null, scopeid: 0 })

const INTERFACES = {
  lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
  eth0: [nic('192.168.1.20', 'IPv4'), nic('2001:db8::20', 'IPv6'), nic('fe80::1234', 'IPv6')],
  wlan0: [nic('10.0.0.5', 'IPv4')]
}

t.test('the host name, loopback, the api host and the interfaces\' addresses, each once', async t => {
  const cases: Array<[string, string | null, { commonName: string, dnsNames: string[], ipAddresses: string[] }]> = [
    ['box-a', null, { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['box-a', '0.0.0.0:7443', { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['box-a', '[::]:7443', { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['Box-A', 'tandem.shop.example:443', { commonName: 'Box-A', dnsNames: ['box-a', 'localhost', 'tandem.shop.example'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['box-a', '203.0.113.9:7443', { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '203.0.113.9', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['box-a', '[2001:db8::9]:7443', { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '2001:db8::9', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['box-a', '192.168.1.20:7443', { commonName: 'box-a', dnsNames: ['box-a', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['under_score', null, { commonName: 'under_score', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }],
    ['x'.repeat(70), null, { commonName: 'tandem', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.20', '2001:db8::20', '10.0.0.5'] }]
  ]
  for (const [hostname, api, names] of cases) t.same(certificateNames({ hostname, api, interfaces: INTERFACES }), names, `${hostname.slice(0, 12)} ${String(api)}`)
  t.same(certificateNames({ hostname: 'b', api: null, interfaces: {} }).ipAddresses, ['127.0.0.1', '::1'], 'no interfaces: loopback still')
})

t.test('the api\'s host', async t => {
  for (const [api, host] of [['box:1', 'box'], ['0.0.0.0:7443', '0.0.0.0'], ['[::1]:7443', '::1'], ['[2001:db8::1]:1', '2001:db8::1']]) t.equal(apiHost(api!), host)
})

t.test('IP addresses as subjectAltName bytes', async t => {
  const hex = (ip: string): string => Buffer.from(ipBytes(ip)).toString('hex')
  const cases: Array<[string, string]> = [
    ['127.0.0.1', '7f000001'],
    ['192.0.2.255', 'c00002ff'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['2001:db8::', '20010db8000000000000000000000000'],
    ['2001:DB8:0:0:8:800:200C:417A', '20010db80000000000080800200c417a'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['64:ff9b::1.2.3.4', '0064ff9b000000000000000001020304']
  ]
  for (const [ip, bytes] of cases) t.equal(hex(ip), bytes, ip)
  for (const bad of ['box', '1.2.3', '[::1]', 'fe80::1%eth0', '1::2::3', '']) t.throws(() => ipBytes(bad), TypeError, bad)
})
