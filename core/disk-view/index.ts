export type { DiskView, DiskSource } from './disk-view.ts'
export { FileDiskSource } from './file-disk-view.ts'
