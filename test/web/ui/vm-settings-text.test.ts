/**
 * The settings form's pure parts (web/ui/pages/vm-settings.ts): stored
 * values back to the text an operator types (which the daemon's parsers
 * read to the same values), and the request of only what changed.
 */
import t from 'tap'
import { parseBandwidth, parseFrequency } from '../../../appliance/relationships/settings.ts'
import { bandwidthSetting, frequencySetting, limitText, settingsRequest } from '../../../web/ui/pages/vm-settings.ts'
import { REPLICATION } from '../fixtures/fake-service.ts'

t.test('stored values as typed text, which parse back to them', async t => {
  for (const [ms, text] of [[30_000, '30s'], [300_000, '5m'], [3_600_000, '1h'], [90_000, '1m30s'], [1500, '1s500ms'], ['continuous', 'continuous']] as const) {
    t.equal(frequencySetting(ms), text)
    t.equal(parseFrequency(text), ms, `${text} parses back`)
  }
  for (const [rate, text] of [[null, ''], [10_000_000, '10M'], [500_000, '500k'], [2_000_000_000, '2G'], [1_048_576, '1048576']] as const) {
    t.equal(bandwidthSetting(rate), text)
    if (rate !== null) t.equal(parseBandwidth(text), rate, `${text} parses back`)
  }
  t.equal(limitText(null), 'no limit')
  t.equal(limitText(10_000_000), '10 MB/s')
})

t.test('only what changed; an emptied limit is none', async t => {
  const rel = { ...REPLICATION, settings: { ...REPLICATION.settings, frequency: 300_000, bandwidth: 10_000_000 } }
  t.same(settingsRequest(rel, '5m', '10M'), {}, 'nothing changed')
  t.same(settingsRequest(rel, '5m', ' 10M '), {}, 'spaces around do not count')
  t.same(settingsRequest(rel, '30s', '10M'), { frequency: '30s' })
  t.same(settingsRequest(rel, '5m', ''), { bandwidth: 'none' })
  t.same(settingsRequest({ ...rel, settings: { ...rel.settings, bandwidth: null } }, '5m', ''), {}, 'no limit stays no limit')
})
