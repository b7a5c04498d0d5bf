export { PeerRegistry, PEERS_FILE_VERSION, MAX_PEERS_FILE_BYTES } from './peer-registry.ts'
export { registryPolicy } from './admission.ts'
export { unpair } from './unpair.ts'
