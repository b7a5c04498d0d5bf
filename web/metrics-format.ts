/**
 * Prometheus' text exposition format, version 0.0.4 (prometheus.io,
 * "Exposition formats"): `# HELP` and `# TYPE` lines, then one line per
 * sample, `name{label="value",...} number`. Pure.
 */

/** What a scrape gets as Content-Type. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export interface Sample {
  labels: Record<string, string>
  value: number
}

export interface MetricFamily {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** A label value between double quotes: backslash, double quote and line feed escaped. */
export function escapeLabelValue (value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** A HELP text: backslash and line feed escaped. */
export function escapeHelp (text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

/** A sample value as Go's ParseFloat reads it: NaN, +Inf, -Inf or a decimal number. */
export function formatValue (value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

/**
 * The exposition of `families`, in their order. A name or label name out
 * of the grammar is a programmer mistake: TypeError.
 */
export function exposition (families: readonly MetricFamily[]): string {
  const lines: string[] = []
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) throw new TypeError(`${f.name} is not a metric name`)
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`)
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([name, value]) => {
        if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new TypeError(`${name} is not a label name`)
        return `${name}="${escapeLabelValue(value)}"`
      })
      lines.push(`${f.name}${labels.length === 0 ? '' : `{${labels.join(',')}}`} ${formatValue(s.value)}`)
    }
  }
  return lines.join('\n') + '\n'
}
