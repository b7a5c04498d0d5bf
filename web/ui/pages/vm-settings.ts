/**
 * The VM page's "Replication settings" form, on the primary (docs/web.md
 * "VM page"): the frequency and the bandwidth limit of a protected VM,
 * changed with `PATCH /v1/replication/:name` (docs/relationships.md
 * "Changing the settings"), only the fields that changed, in the syntax
 * the operator would type (docs/relationships.md#settings). The daemon
 * parses them: a bad value is its APP_SETTING_INVALID, said in words.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { ReplicationInfo, ReplicationUpdateRequest } from '../../../appliance/service/replication-types.ts'
import { ApiError, segment, type Api } from '../api.ts'
import { frequency, size } from '../format.ts'
import { failureText, FormError } from './form-error.ts'
import { FREQUENCY_WORDS, type Frequency } from './protect-choices.ts'

const UNITS_MS: ReadonlyArray<readonly [string, number]> = [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]]

/** Pure: a frequency as the operator types it: `continuous`, or whole units run together (`30s`, `5m`, `1h30m`). */
export function frequencySetting (f: number | 'continuous'): string {
  if (f === 'continuous') return f
  let rest = f
  let text = ''
  for (const [unit, ms] of UNITS_MS) {
    const n = Math.floor(rest / ms)
    if (n > 0) { text += `${n}${unit}`; rest -= n * ms }
  }
  return text === '' ? '0s' : text
}

/** Pure: a bandwidth limit as the operator types it: '' for none, `10M`, `500k`, `1G` when whole, else bytes. */
export function bandwidthSetting (b: number | null): string {
  if (b === null) return ''
  for (const [unit, n] of [['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) if (b % n === 0) return `${b / n}${unit}`
  return String(b)
}

/** A limit in words: `10 MB/s`, or `no limit`. */
export const limitText = (b: number | null): string => b === null ? 'no limit' : `${size(b)}/s`

/** Pure: the request for what changed from `rel`'s settings (empty: nothing changed). An empty limit is `none`. */
export function settingsRequest (rel: ReplicationInfo, chosenFrequency: string, limit: string): ReplicationUpdateRequest {
  const request: ReplicationUpdateRequest = {}
  if (chosenFrequency !== frequencySetting(rel.settings.frequency)) request.frequency = chosenFrequency
  const typed = limit.trim()
  if (typed !== bandwidthSetting(rel.settings.bandwidth)) request.bandwidth = typed === '' ? 'none' : typed
  return request
}

export interface SettingsFormProps {
  api: Api
  rel: ReplicationInfo
  onChanged: (rel: ReplicationInfo) => void
}

export function ReplicationSettingsForm ({ api, rel, onChanged }: SettingsFormProps): ComponentChildren {
  const current = frequencySetting(rel.settings.frequency)
  const [chosen, setChosen] = useState(current)
  const [limit, setLimit] = useState(bandwidthSetting(rel.settings.bandwidth))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [saved, setSaved] = useState<string | null>(null)
  // Another VM, or the same VM changed elsewhere: the fields show what is stored.
  useEffect(() => { setChosen(frequencySetting(rel.settings.frequency)); setLimit(bandwidthSetting(rel.settings.bandwidth)) }, [rel.vm, rel.settings.frequency, rel.settings.bandwidth])
  const choices: string[] = Object.keys(FREQUENCY_WORDS)
  if (!choices.includes(current)) choices.push(current)
  const words = (f: string): string => f in FREQUENCY_WORDS ? FREQUENCY_WORDS[f as Frequency] : frequency(rel.settings.frequency)

  const save = (e: Event): void => {
    e.preventDefault()
    setSaved(null)
    const request = settingsRequest(rel, chosen, limit)
    if (Object.keys(request).length === 0) { setError('Nothing changed.'); return }
    setBusy(true)
    setError(null)
    api.request<ReplicationInfo>('PATCH', `/v1/replication/${segment(rel.vm)}`, request).then(info => {
      onChanged(info)
      setSaved(`Saved: a new recovery point ${info.settings.frequency === 'continuous' ? 'continuously' : frequency(info.settings.frequency)}, ${limitText(info.settings.bandwidth)}. A cycle running now finishes with the limit it started with.`)
    }, (err: unknown) => {
      setError(err instanceof ApiError && err.code === 'APP_SETTING_INVALID' ? `Not a valid value: ${err.message}` : failureText(err))
    }).finally(() => { setBusy(false) })
  }

  return html`
    <form class="card stack vm-settings" onSubmit=${save} aria-labelledby="vm-settings-title" aria-describedby="vm-settings-error">
      <h3 id="vm-settings-title">Replication settings</h3>
      <label for="vm-frequency">How often a new recovery point is made</label>
      <select id="vm-frequency" value=${chosen} onChange=${(e: Event) => { setChosen((e.target as HTMLSelectElement).value) }}>
        ${choices.map(f => html`<option key=${f} value=${f}>${words(f)}</option>`)}
      </select>
      <label for="vm-bandwidth">Bandwidth limit (bytes per second)</label>
      <input id="vm-bandwidth" autocomplete="off" autocapitalize="off" spellcheck=${false} placeholder="no limit" aria-describedby="vm-bandwidth-help" value=${limit} onInput=${(e: Event) => { setLimit((e.target as HTMLInputElement).value) }} />
      <p id="vm-bandwidth-help" class="why">Such as 500k, 10M or 1G (100k to 100G); empty for no limit. Now: ${limitText(rel.settings.bandwidth)}. It applies from the next cycle.</p>
      <${FormError} id="vm-settings-error" text=${error} />
      ${saved === null ? null : html`<p class="ok-line" role="status">${saved}</p>`}
      <button type="submit" disabled=${busy}>${busy ? 'Saving…' : 'Save the replication settings'}</button>
    </form>`
}
