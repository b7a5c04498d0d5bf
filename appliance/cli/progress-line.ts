/**
 * Progress of long work (scan, restore, verify, seed) as one line on stderr,
 * rewritten in place: phase, percent, MiB done/total, MiB/s. Never written
 * to stdout, so `--json` output stays one clean document.
 */
import type { Progress, ProgressListener } from '../../core/index.ts'

/** Redraws at most this often: a terminal cannot show faster changes, and each redraw is a write. */
const REDRAW_INTERVAL_MS = 200

const MiB = 1024 * 1024

export interface ProgressLineInit {
  stream: NodeJS.WritableStream
  /** Draw at all (stderr is a terminal, or `--progress`). */
  enabled: boolean
  /** The stream is a terminal: the line is erased when done instead of ended with a newline. */
  tty: boolean
  now?: () => number
}

/**
 * Not safe to share between concurrent jobs: one line shows one job.
 * `end()` must be called before anything else is printed on the terminal.
 */
export class ProgressLine {
  readonly listener: ProgressListener
  private readonly init: ProgressLineInit
  private readonly now: () => number
  private phase: string | undefined
  private phaseStart = 0
  private phaseStartDone = 0
  private lastDraw = Number.NEGATIVE_INFINITY
  private drawnWidth = 0

  constructor (init: ProgressLineInit) {
    this.init = init
    this.now = init.now ?? (() => performance.now())
    this.listener = p => { this.update(p) }
  }

  update (p: Progress): void {
    if (!this.init.enabled) return
    const t = this.now()
    if (p.phase !== this.phase) {
      this.phase = p.phase
      this.phaseStart = t
      this.phaseStartDone = p.done
    } else if (t - this.lastDraw < REDRAW_INTERVAL_MS && p.done < p.total) {
      return
    }
    this.lastDraw = t
    this.draw(formatProgress(p, (t - this.phaseStart) / 1000, p.done - this.phaseStartDone))
  }

  /** Finishes the line (erased on a terminal, newline otherwise). Idempotent. */
  end (): void {
    if (this.drawnWidth === 0) return
    this.init.stream.write(this.init.tty ? `\r${' '.repeat(this.drawnWidth)}\r` : '\n')
    this.drawnWidth = 0
    this.phase = undefined
  }

  private draw (text: string): void {
    const pad = Math.max(0, this.drawnWidth - text.length)
    this.init.stream.write(`\r${text}${' '.repeat(pad)}`)
    this.drawnWidth = text.length
  }
}

/** Pure: `scan vm.img  42%  215.0/512.0 MiB  830.5 MiB/s`. */
export function formatProgress (p: Progress, elapsedSeconds: number, bytesInPhase: number): string {
  const percent = p.total > 0 ? Math.min(100, Math.floor(p.done * 100 / p.total)) : 100
  const rate = elapsedSeconds > 0 ? `${(bytesInPhase / MiB / elapsedSeconds).toFixed(1)} MiB/s` : '-- MiB/s'
  return `${p.phase}  ${String(percent).padStart(3)}%  ${(p.done / MiB).toFixed(1)}/${(p.total / MiB).toFixed(1)} MiB  ${rate}`
}
