/**
 * The JSON-able values of the FailoverApi (failover-api.ts): test
 * failovers on the Replica, drills and their proofs (docs/failover.md
 * "Test failover", docs/api.md "Failover"). docs/cli.md documents each as
 * a `--json` output.
 */
import type { PointInfo } from './replica-types.ts'

/** One disk of a served recovery point: what QEMU (or another hypervisor) opens, read-only. */
export interface ServedDiskInfo {
  name: string
  /** Bytes. */
  size: number
  /** `nbd+unix:///<disk>?socket=<path>`: a qcow2 overlay's backing, or a disk to attach elsewhere. */
  uri: string
}

/** How long each step of a test failover's start took, in ms (null for a step it did not have). */
export interface TestTimings {
  /** Pinning the point and serving its disks over NBD. */
  serveMs: number
  /** The qcow2 overlays over the served disks. */
  overlayMs: number | null
  /** From QEMU's start command until it reported the VM running. */
  startMs: number | null
}

/** A test failover that runs on this box (one per relationship at a time). */
export interface TestFailoverInfo {
  relationship: string
  vm: string
  /** The recovery point it runs on; pinned (retention keeps it) until the test stops. */
  point: PointInfo
  /** When it started (ISO 8601). */
  since: string
  /** The throw-away VM (`<vm>-test`), or null when no VM runs here (`note` says why: the disks are only served). */
  testVm: string | null
  /** The test VM's state (the qemu driver's), or null when no VM runs here. */
  state: string | null
  /** Why no VM runs (the VM's boot is not known here, or is UEFI), or null. */
  note: string | null
  /** Where each disk of the point is served while the test runs. */
  disks: ServedDiskInfo[]
  /** The drill job this test belongs to (`failover test --check`, a scheduled drill), or null. */
  drillJob: string | null
  timings: TestTimings
}

/** `failoverTest` arguments. */
export interface TestStartRequest {
  /** A recovery point id held here (`tandem points NAME`); the latest by default. */
  point?: number
}

/** `failoverTestPlan` arguments: what `failover test --dry-run` would do. */
export interface TestPlanRequest {
  point?: number
  /** A drill (`--check`): wait for the sign of life, take a screenshot, stop. */
  check?: boolean
  /** Overrides of the relationship's drill settings, as failoverDrill takes them. */
  sign?: DrillSignInfo
  timeoutMs?: number
}

/** What a test failover would do, checked as a start checks it, with nothing started. */
export interface TestPlanInfo {
  relationship: string
  vm: string
  /** The relationship's state: a test changes nothing of it. */
  state: string
  point: PointInfo
  /** The point is the newest held here. */
  latest: boolean
  /** Points held here newer than `point`. */
  newerPoints: number
  testVm: string | null
  note: string | null
  /** The test VM's shape: vCPUs, memory, boot and its NICs (all on an isolated network). */
  vcpus: number | null
  memoryMiB: number | null
  boot: 'bios' | 'kernel' | null
  nics: number
  /** For a drill: the sign of life waited for and the time limit; null otherwise. */
  check: { sign: DrillSignInfo, timeoutMs: number, screenshotDir: string } | null
  /** What the command would do and what could be lost, in plain words, one line each: the CLI's `--dry-run` text and the web page's summary (plan-summary.ts). */
  summary: string[]
}

/** What `failoverStopTest` would do (`stop-test --dry-run`): the running test it would stop, checked as the stop checks it. */
export interface TestStopPlanInfo {
  relationship: string
  vm: string
  /** The relationship's state: stopping a test changes nothing of it. */
  state: string
  /** The test as it runs now. */
  test: TestFailoverInfo
  /** Its run directory (overlays, logs, sockets, record), removed by the stop. */
  runDir: string
  /** How long the test VM is given before it is powered off, ms: it is thrown away, not shut down. */
  stopWindowMs: number
  /** What the command would do and what could be lost, in plain words, one line each: the CLI's `--dry-run` text and the web page's summary (plan-summary.ts). */
  summary: string[]
}

/** What stop-test did. */
export interface TestStopResult {
  relationship: string
  vm: string
  point: number
  testVm: string | null
  /** Always true: the VM is stopped, its overlays and run directory removed, the serving closed and the point unpinned. */
  stopped: true
}

/** The sign of life a drill waits for: the guest agent answering, or a serial console line matching a pattern (docs/failover.md "Signs of life"). */
export type DrillSignInfo = { kind: 'agent' } | { kind: 'serial', pattern: string }

/** `failoverDrill` arguments; the sign and time limit default to the relationship's drill settings. */
export interface DrillRequest {
  point?: number
  sign?: DrillSignInfo
  /** How long to wait for the sign, in ms (1 s to 1 h). */
  timeoutMs?: number
}

/** `failoverDrillSchedule` arguments, as the operator types them. */
export interface DrillScheduleRequest {
  /** A duration (`7d`, `12h`; 1 h to 90 d) between scheduled drills, or `off`. */
  every: string
  /** The sign of life (unchanged when absent; `agent` for a relationship that has none yet). */
  sign?: DrillSignInfo
  /** The time limit for the sign, a duration (`5m`; 1 s to 1 h). Unchanged when absent; 5 min at first. */
  timeout?: string
}

/** A relationship's drill settings (Replica side). */
export interface DrillSettingsInfo {
  relationship: string
  vm: string
  /** ms between scheduled drills, or null (no schedule: drills run when asked). */
  everyMs: number | null
  sign: DrillSignInfo
  timeoutMs: number
  /** When a scheduled or asked-for drill of this relationship last started (ISO), or null. */
  lastRunAt: string | null
  /** When the schedule runs the next drill (ISO), or null without a schedule. */
  nextAt: string | null
}

/** The evidence that a recovery point booted: what a successful drill recorded. */
export interface ProofInfo {
  point: number
  /** The point's root hash: the proof belongs to exactly that point. */
  root: string
  /** When the drill saw the sign of life (ISO). */
  time: string
  sign: 'agent' | 'serial'
  /** From the VM's start command to the sign, in ms. */
  signOfLifeMs: number
  /** The PNG of the screen at the sign: `DATA/drills/<relationship>/<root prefix>-<time>.png`. */
  screenshot: string
}

/**
 * The largest drill screenshot served (drillScreenshot): QEMU's screen of a
 * 3840x2160 display as PNG is a few MiB; anything larger is not one of ours.
 */
export const MAX_DRILL_SCREENSHOT_BYTES = 16 * 1024 * 1024

/**
 * A drill's screenshot (drillScreenshot): the file's name, as its proof's
 * `screenshot` ends, and its bytes, a PNG. The one result of the service
 * that is not JSON: the API answers it as `image/png`.
 */
export interface DrillScreenshot {
  file: string
  png: Uint8Array
}

/** The result of a successful drill job. */
export interface DrillInfo {
  relationship: string
  vm: string
  point: number
  root: string
  /** What the drill saw, in words. */
  reason: string
  proof: ProofInfo
  timings: TestTimings
}
