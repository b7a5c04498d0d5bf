/**
 * Relationship settings parse from the operator's text into stored values,
 * with defaults, limits and APP_SETTING_INVALID naming the setting.
 */
import t from 'tap'
import {
  DEFAULT_SETTINGS, applySettingsChange, parseAppConsistentEvery, parseBandwidth, parseFrequency, parseInitial, parseRecoveryPoints, parseSettings, parseSettingsChange
} from '../../../appliance/relationships/index.ts'
import { settingsEventInput } from '../../../appliance/events/index.ts'

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

t.test('a change of settings: only the given ones, parsed as at enable', async t => {
  t.same(parseSettingsChange({ frequency: '30s', bandwidth: 'none' }), { frequency: 30_000, bandwidth: null })
  t.same(parseSettingsChange({ recoveryPoints: '48', appConsistentEvery: '1h' }), { recoveryPoints: 48, appConsistentEvery: 3_600_000 })
  t.throws(() => parseSettingsChange({}), { code: 'APP_USAGE' }, 'nothing to change')
  t.throws(() => parseSettingsChange({ frequency: '30s', bandwidth: '1' }), { code: 'APP_SETTING_INVALID', details: { setting: 'bandwidth' } })
  const before = { ...DEFAULT_SETTINGS, initial: { at: 5 } }
  const { next, changed } = applySettingsChange(before, { frequency: 30_000, bandwidth: null })
  t.same(changed, ['frequency'], 'an equal value is no change')
  t.same(next, { ...before, frequency: 30_000 })
  t.not(next.initial, before.initial, 'a copy')
  t.same(applySettingsChange(before, {}).changed, [])
})

t.test('the event of a change says old and new values', async t => {
  const before = { ...DEFAULT_SETTINGS }
  const after = { ...before, frequency: 30_000, bandwidth: 10_000_000 }
  t.same(settingsEventInput({ id: 'r1', vm: 'web', settings: after }, before, ['frequency', 'bandwidth']), {
    relationship: 'r1',
    vm: 'web',
    kind: 'replication-settings',
    reason: 'replication settings of web changed: frequency from 5 min to 30 s, bandwidth from no limit to 10 MB/s',
    data: { changed: 'frequency,bandwidth', frequency: 30_000, recoveryPoints: 24, appConsistentEvery: null, bandwidth: 10_000_000 }
  })
})
