/**
 * The VM page's recovery points (docs/web.md "VM page"): on the Replica, a
 * timeline of the points it holds (`GET /v1/points/:name`), newest first,
 * each crash- or app-consistent, and proven when a drill booted it, with
 * the drill's screenshot (`GET /v1/drills/:name/screenshots/:file`, the
 * file its proof names). On the primary the points are not here: it says
 * which box holds them and when the newest one was made.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import type { PointInfo, PointsResult } from '../../../appliance/service/replica-types.ts'
import { segment } from '../api.ts'
import { duration, size, when } from '../format.ts'

/** A point in words: its consistency. */
const CONSISTENCY: Record<PointInfo['consistency'], string> = { crash: 'Crash-consistent', app: 'App-consistent' }

/** The screenshot's URL: the proof's file name, under the relationship's name. */
export function screenshotUrl (relationship: string, screenshot: string): string {
  const file = screenshot.slice(screenshot.lastIndexOf('/') + 1)
  return `/v1/drills/${segment(relationship)}/screenshots/${segment(file)}`
}

export function PointsTimeline ({ points, now }: { points: PointsResult, now: number }): ComponentChildren {
  const list = [...points.points].reverse()
  if (list.length === 0) return html`<p>No recovery point has reached this box yet: the first comes with the initial replication.</p>`
  const proven = list.filter(p => p.proven !== undefined).length
  const apps = list.filter(p => p.consistency === 'app').length
  return html`
    <p class="summary">${list.length} recovery point${list.length === 1 ? '' : 's'} held here, from ${when(list.at(-1)!.time, now)} to ${when(list[0]!.time, now)}: ${apps} app-consistent, ${proven} proven by a drill.${points.removed ? ' Its primary removed the relationship: the points are kept until this box\'s operator deletes them.' : ''}</p>
    <ol class="timeline">
      ${list.map((p, i) => html`<${PointItem} key=${p.id} point=${p} relationship=${points.relationship} newest=${i === 0} now=${now} />`)}
    </ol>`
}

function PointItem ({ point, relationship, newest, now }: { point: PointInfo, relationship: string, newest: boolean, now: number }): ComponentChildren {
  const proof = point.proven
  return html`
    <li class="point ${point.consistency}${proof === undefined ? '' : ' proven'}">
      <p class="point-head">
        <strong>Point ${point.id}</strong>${newest ? ' (the latest)' : ''} · <time datetime=${point.time}>${when(point.time, now)}</time>
      </p>
      <p class="point-tags">
        <span class="tag ${point.consistency}">${CONSISTENCY[point.consistency]}</span>
        ${proof === undefined ? html`<span class="tag">Not proven by a drill</span>` : html`<span class="tag proven">Proven by a drill</span>`}
        <span class="point-size">${size(point.size)}${point.term > 0 ? `, term ${point.term}` : ''}</span>
      </p>
      ${point.consistencyNote === undefined ? null : html`<p class="why">${point.consistencyNote}</p>`}
      ${proof === undefined ? null : html`
        <figure class="proof">
          <img src=${screenshotUrl(relationship, proof.screenshot)} width="360" height="200" loading="lazy"
            alt=${`The screen of point ${point.id}'s test VM when the drill saw it boot`} />
          <figcaption>Booted ${when(proof.time, now)}: ${proof.sign === 'agent' ? 'the guest agent answered' : 'the serial console showed the expected line'} ${duration(proof.signOfLifeMs)} after start.</figcaption>
        </figure>`}
    </li>`
}
