/**
 * Relationship settings parse from the operator's text into stored values,
 * with defaults, limits and APP_SETTING_INVALID naming the setting.
 */
import t from 'tap'
import {
  DEFAULT_SETTINGS, parseAppConsistentEvery, parseBandwidth, parseFrequency, parseInitial, parseRecoveryPoints, parseSettings
} from '../../../appliance/relationships/index.ts'

t.test('frequency', async t => {
  const ok: Array<[string, number | 'continuous']> = [['30s', 30_000], ['5m', 300_000], ['15m', 900_000], ['continuous', 'continuous'], ['2s', 2000], ['1s', 1000], ['1h', 3_600_000], ['1m30s', 90_000]]
  for (const [text, want] of ok) t.equal(parseFrequency(text), want, text)
  for (const text of ['', '30', '500ms', '0s', '61m', '2h', 'often', '5 m', '-5m', '1e3s', 'Continuous']) {
    t.throws(() => parseFrequency(text), { code: 'APP_SETTING_INVALID', details: { setting: 'frequency' } }, JSON.stringify(text))
  }
})

t.test('recovery points', async t => {
  for (const [text, want] of [['0', 0], ['24', 24], ['10000', 10_000]] as const) t.equal(parseRecoveryPoints(text), want, text)
  for (const text of ['', '-1', '10001', '1.5', 'many', '99999999999']) t.throws(() => parseRecoveryPoints(text), { code: 'APP_SETTING_INVALID', details: { setting: 'recovery-points' } }, text)
})

t.test('app-consistent interval', async t => {
  for (const [text, want] of [['none', null], ['1m', 60_000], ['4h', 14_400_000], ['1d', 86_400_000]] as const) t.equal(parseAppConsistentEvery(text), want, text)
  for (const text of ['', '0', '30s', '25h', 'never']) t.throws(() => parseAppConsistentEvery(text), { code: 'APP_SETTING_INVALID', details: { setting: 'app-consistent-every' } }, text)
})

t.test('bandwidth', async t => {
  const ok: Array<[string, number | null]> = [
    ['none', null], ['500k', 500_000], ['500K', 500_000], ['10M', 10_000_000], ['1G', 1_000_000_000], ['1.5M', 1_500_000],
    ['10Mi', 10 * 1024 * 1024], ['100000', 100_000], ['10MB/s', 10_000_000], ['10M/s', 10_000_000], ['100G', 100_000_000_000]
  ]
  for (const [text, want] of ok) t.equal(parseBandwidth(text), want, text)
  for (const text of ['', '64Ki', '99999', '10', 'fast', '10 Mbit', '1T', '101G', '-5M', '0']) {
    t.throws(() => parseBandwidth(text), { code: 'APP_SETTING_INVALID', details: { setting: 'bandwidth' } }, text)
  }
})

t.test('initial replication', async t => {
  t.equal(parseInitial('now'), 'now')
  t.equal(parseInitial('existing'), 'existing')
  t.same(parseInitial('at:2026-12-08T02:00:00Z'), { at: Date.UTC(2026, 11, 8, 2, 0, 0) })
  t.same(parseInitial('at:2026-12-08T03:00+01:00'), { at: Date.UTC(2026, 11, 8, 2, 0, 0) })
  t.same(parseInitial('seed:/media/usb/web.seed'), { seed: '/media/usb/web.seed' })
  for (const text of ['', 'later', 'at:', 'at:2026-12-08T02:00:00', 'at:tomorrow', 'at:2026-13-40T99:00Z', 'seed:', 'seed:web.seed', 'seed:./web.seed', 'Now']) {
    t.throws(() => parseInitial(text), { code: 'APP_SETTING_INVALID', details: { setting: 'initial' } }, text)
  }
})

t.test('parseSettings fills in the defaults', async t => {
  t.same(parseSettings({}), DEFAULT_SETTINGS)
  t.same(DEFAULT_SETTINGS, { frequency: 300_000, recoveryPoints: 24, appConsistentEvery: null, bandwidth: null, initial: 'now' })
  t.same(parseSettings({ frequency: '30s', recoveryPoints: '4', appConsistentEvery: '1h', bandwidth: '10M', initial: 'existing' }),
    { frequency: 30_000, recoveryPoints: 4, appConsistentEvery: 3_600_000, bandwidth: 10_000_000, initial: 'existing' })
  t.throws(() => parseSettings({ frequency: '30s', bandwidth: 'lots' }), { code: 'APP_SETTING_INVALID', details: { setting: 'bandwidth' } })
})
