/**
 * The VM inventory: the VMs this box knows, with their driver and checked
 * definition, persisted in `vms.json` in the data directory (docs/vm-inventory.md).
 */
export { VmInventory, DRIVER_KINDS, INVENTORY_FILE, MAX_INVENTORY_FILE_BYTES, type DriverKind, type InventoryVm } from './vm-inventory.ts'
