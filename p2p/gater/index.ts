export { admissionGater, closeUnpairedConnections, enforceUnpairedLimit, pairedOnly, unpairedInbound, type AdmissionNode, type AdmissionPolicy } from './admission.ts'
