/**
 * Pure: durations, sizes and rates as an operator reads them in a reason
 * line. Rounded for reading, never for computing.
 */

/** `45 s`, `12 min`, `1 h 5 min`, `2 d 3 h`. */
export function durationText (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  const min = Math.round(s / 60)
  if (min < 60) return `${min} min`
  const h = Math.floor(min / 60)
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`
  const d = Math.floor(h / 24)
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`
}

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']

/** Decimal units, like the bandwidth setting: `512 B`, `1.5 MB`, `12 GB`. */
export function bytesText (bytes: number): string {
  let v = Math.max(0, bytes)
  let unit = 0
  while (v >= 1000 && unit < SIZE_UNITS.length - 1) { v /= 1000; unit++ }
  const shown = unit === 0 || v >= 100 ? Math.round(v).toString() : (Math.round(v * 10) / 10).toString()
  return `${shown} ${SIZE_UNITS[unit]!}`
}

export function rateText (bytesPerSecond: number): string {
  return `${bytesText(bytesPerSecond)}/s`
}
