/**
 * The VM page's charts over time (docs/web.md "VM page"): cycle size,
 * duration and achieved RPO, drawn by uPlot on a canvas from the cycle
 * samples (vm-cycles.ts). The canvas is hidden from screen readers: each
 * chart's figure has a summary sentence for its caption and the figures as
 * a table, folded under a `details`.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import { duration, size } from '../format.ts'
import { median, timeRange, type CycleSample, type CycleSeries } from './vm-cycles.ts'

/** The plot's height in CSS pixels: readable on a phone, three fit a laptop's screen. */
const CHART_HEIGHT = 160
/** The narrowest plot: below it the axes' labels overlap. */
const MIN_CHART_WIDTH = 240
/** Rows of a chart's table: the newest cycles; the sentence above it covers them all. */
const MAX_TABLE_ROWS = 48

/** uPlot's style sheet, served as a library file (web/ui-files.ts): loaded with the first chart. */
const UPLOT_CSS = '/vendor/uplot.css'

function loadUplotCss (): void {
  if (document.querySelector(`link[href="${UPLOT_CSS}"]`) !== null) return
  const link = document.createElement('link')
  link.rel = 'stylesheet'
  link.href = UPLOT_CSS
  document.head.append(link)
}

interface ChartSpec {
  id: string
  title: string
  /** The figure in words (axis labels, the sentence, the table). */
  text: (v: number) => string
  value: (s: CycleSample) => number | null
  /** The y axis's tick steps, when uPlot's decimal ones would not read well in `text`'s words. */
  steps?: number[]
}

/** Tick steps of a duration axis (ms): whole seconds, minutes and hours, as `duration` says them. */
const DURATION_STEPS = [1, 2, 5, 10, 15, 30].map(s => s * 1000).concat([1, 2, 5, 10, 15, 30].map(m => m * 60_000), [1, 2, 3, 6, 12, 24].map(h => h * 3_600_000))

const CHARTS: readonly ChartSpec[] = [
  { id: 'size', title: 'Cycle size (sent)', text: size, value: s => s.bytesSent },
  { id: 'duration', title: 'Cycle duration', text: v => duration(v), value: s => s.durationMs, steps: DURATION_STEPS },
  { id: 'rpo', title: 'Achieved RPO', text: v => duration(v), value: s => s.rpoMs, steps: DURATION_STEPS }
]

export function CycleCharts ({ series, targetMs }: { series: CycleSeries, targetMs: number | null }): ComponentChildren {
  const { samples, failed } = series
  if (samples.length === 0) {
    return html`<p>No cycle has finished yet${failed > 0 ? ` (${failed} failed)` : ''}: the charts start with the first.</p>`
  }
  const span = samples.length > 1 ? ` over ${duration(samples.at(-1)!.end - samples[0]!.end)}` : ''
  return html`
    <p class="summary">${samples.length} successful cycle${samples.length === 1 ? '' : 's'}${span}${failed > 0 ? `, ${failed} failed or interrupted` : ''}.</p>
    <div class="charts">
      ${CHARTS.map(spec => html`<${Chart} key=${spec.id} spec=${spec} samples=${samples} targetMs=${spec.id === 'rpo' ? targetMs : null} />`)}
    </div>`
}

function Chart ({ spec, samples, targetMs }: { spec: ChartSpec, samples: CycleSample[], targetMs: number | null }): ComponentChildren {
  const ref = useRef<HTMLDivElement>(null)
  const points = samples.flatMap(s => { const v = spec.value(s); return v === null ? [] : [{ end: s.end, v }] })
  useEffect(() => {
    const el = ref.current
    if (el === null || points.length === 0) return
    loadUplotCss()
    const color = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#1d5fa8'
    const muted = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#59626e'
    const width = (): number => Math.max(MIN_CHART_WIDTH, el.clientWidth)
    const xs = points.map(p => p.end / 1000)
    const ys = points.map(p => p.v)
    const target = targetMs === null ? [] : [{ label: 'Target', stroke: muted, dash: [6, 4], width: 1, points: { show: false }, value: (_u: uPlot, v: number | null) => v === null ? '' : spec.text(v) }]
    const plot = new uPlot({
      width: width(),
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { show: false },
      scales: { x: { time: true, range: (_u, min, max) => timeRange(xs, min, max) }, y: { range: (_u, _min, max) => [0, Math.max(max, targetMs ?? 0) * 1.1 || 1] } },
      axes: [
        { stroke: muted, grid: { stroke: 'rgba(128,128,128,.2)' }, values: (_u, vals) => vals.map(v => hourMinute(v * 1000)) },
        { stroke: muted, size: 70, grid: { stroke: 'rgba(128,128,128,.2)' }, values: (_u, vals) => vals.map(v => spec.text(v)), ...(spec.steps === undefined ? {} : { incrs: spec.steps }) }
      ],
      series: [
        {},
        { label: spec.title, stroke: color, width: 2, points: { show: points.length < 60 } },
        ...target
      ]
    }, targetMs === null ? [xs, ys] : [xs, ys, xs.map(() => targetMs)], el)
    const resize = new ResizeObserver(() => { plot.setSize({ width: width(), height: CHART_HEIGHT }) })
    resize.observe(el)
    return () => { resize.disconnect(); plot.destroy() }
  }, [samples, targetMs])

  const captionId = `chart-${spec.id}-caption`
  return html`
    <figure class="chart" aria-labelledby=${captionId}>
      <h3>${spec.title}</h3>
      <div class="chart-plot" ref=${ref} aria-hidden="true"></div>
      <figcaption id=${captionId}>${sentence(spec, points, targetMs)}</figcaption>
      <details>
        <summary>${spec.title}: the figures</summary>
        <table>
          <caption>${spec.title}, the newest ${Math.min(points.length, MAX_TABLE_ROWS)} cycles, newest first</caption>
          <thead><tr><th scope="col">Cycle ended</th><th scope="col">${spec.title}</th></tr></thead>
          <tbody>${points.slice(-MAX_TABLE_ROWS).reverse().map(p => html`<tr><td>${clock(p.end)}</td><td>${spec.text(p.v)}</td></tr>`)}</tbody>
        </table>
      </details>
    </figure>`
}

/** `12 cycles: typically 1.2 MB, at most 4.5 MB (14:35), the latest 900 kB.` (and the target for the RPO). */
function sentence (spec: ChartSpec, points: Array<{ end: number, v: number }>, targetMs: number | null): string {
  if (points.length === 0) return `${spec.title}: needs two cycles.`
  const top = points.reduce((a, b) => b.v > a.v ? b : a)
  const over = targetMs === null ? '' : ` Target ${duration(targetMs)}: ${points.filter(p => p.v > targetMs).length === 0 ? 'met every time' : `missed ${points.filter(p => p.v > targetMs).length} times`}.`
  return `${spec.title} over ${points.length} cycle${points.length === 1 ? '' : 's'}: typically ${spec.text(median(points.map(p => p.v)))}, at most ${spec.text(top.v)} (${clock(top.end)}), the latest ${spec.text(points.at(-1)!.v)}.${over}`
}

const hourMinute = (ms: number): string => new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })

const clock = (ms: number): string => new Date(ms).toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })
