/**
 * Drills: proving that a recovery point boots. A test VM (../test-vm.ts)
 * is watched for a sign of life (the guest agent answering, or a serial
 * console line), a screenshot is taken, and the VM is stopped. Contracts,
 * limits and codes: docs/failover.md "Drills".
 */
export { drillTestVm, type DrillDriver, type DrillOptions, type DrillResult, type DrillSign, type DrillTarget } from './drill.ts'
export { waitForAgent, type AgentPing, type WaitForAgentOptions } from './agent-sign.ts'
export { compileSerialPattern } from './serial-pattern.ts'
export { SerialLineScanner } from './serial-lines.ts'
export { waitForSerialMatch } from './serial-watch.ts'
export { takeScreenshot, type ScreendumpQmp, type Screenshot, type ScreenshotOptions } from './screenshot.ts'
export { encodePng, pngSize, PNG_SIGNATURE, type RgbImage } from './png.ts'
export { parsePpm } from './ppm.ts'
export {
  AGENT_RETRY_MS, DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS, MAX_SCREENSHOT_BYTES, MAX_SCREENSHOT_SIDE,
  MAX_SERIAL_LINE_CHARS, MAX_SERIAL_PATTERN_CHARS, SERIAL_READ_CHUNK_BYTES, SERIAL_WORKER_HEAP_MIB
} from './constants.ts'
