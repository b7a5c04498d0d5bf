export { ScanPool, type ScanPoolInit } from './scan-pool.ts'
export { scanDisk, type ScanOptions, type ScanResult, type ChangedBlock } from './scanner.ts'
