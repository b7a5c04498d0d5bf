export { admissionGater, pairedOnly, type AdmissionPolicy } from './admission.ts'
