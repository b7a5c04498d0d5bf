/** Failover on the Replica (docs/failover.md): recovery points served over NBD for a VM to boot from. */
export { nbdUri, PointServer, type PointServerInit, type PointServerLog, type PointServing, type ServedDisk } from './point-server.ts'
