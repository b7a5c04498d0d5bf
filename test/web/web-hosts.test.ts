/**
 * The names the web page answers to (web/web-hosts.ts): the
 * certificate's names (loopback, localhost, the host name, the `api`
 * host), listed once per WEB_HOSTS_TTL_MS rather than at every request.
 */
import t from 'tap'
import { hostname } from 'node:os'
import { WEB_HOSTS_TTL_MS, webHosts } from '../../web/web-hosts.ts'

t.test('the box\'s names, taken again only once the TTL has passed', async t => {
  let clock = 1_000_000
  const hosts = webHosts('tandem.example:7443', () => clock)
  const first = hosts()
  for (const name of ['127.0.0.1', '::1', 'localhost', 'tandem.example', hostname().toLowerCase()]) t.ok([...first].includes(name), name)
  t.notOk([...first].includes('evil.example'))
  clock += WEB_HOSTS_TTL_MS - 1
  t.equal(hosts(), first, 'within the TTL: the same list, the interfaces not listed again')
  clock += 1
  const again = hosts()
  t.not(again, first, 'past the TTL: listed again')
  t.same([...again].sort(), [...first].sort())
})
