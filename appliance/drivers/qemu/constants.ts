/**
 * Limits and timeouts of QEMU VM definitions and the QEMU driver (docs/vms.md), each with its reason.
 */

/** vCPUs per VM: QEMU's `pc` machine takes more, but branch-office boxes have far fewer cores; more is a typo. */
export const MAX_VM_VCPUS = 64
/** The smallest memory QEMU's `pc` machine boots a kernel with (the probe sector runs in 16 MiB). */
export const MIN_VM_MEMORY_MIB = 16
/** 1 TiB: above any box Tandem runs on; more is a typo. */
export const MAX_VM_MEMORY_MIB = 1024 * 1024
/** Disks per VM: each takes a PCI slot of the `pc` machine's 32 (with NICs and the serial controller). */
export const MAX_VM_DISKS = 16
/** NICs per VM: each takes a PCI slot too. */
export const MAX_VM_NICS = 8
/** Kernel command line length: the x86 boot protocol's limit for current kernels is 2048 bytes; 4096 covers any. */
export const MAX_APPEND_CHARS = 4096

/**
 * From spawning QEMU to its QMP socket answering and `query-status` saying
 * running. QEMU opens its disks and creates the socket in well under a
 * second; a loaded box opening many disks is given much more.
 */
export const TIMEOUT_VM_START_MS = 60_000
/** Default graceful stop window (ACPI power button, guest agent) before `quit`: a guest with services running may need a minute to shut down. */
export const TIMEOUT_VM_STOP_MS = 60_000
/** After QMP `quit` (answered before QEMU exits): QEMU closes its disks and exits in milliseconds; then SIGKILL. */
export const TIMEOUT_VM_QUIT_MS = 10_000
/** After SIGKILL the kernel reaps the process at once; this only bounds waiting for the exit notification. */
export const TIMEOUT_VM_KILL_MS = 10_000
/** The guest-shutdown call through the agent: the agent does not answer a successful shutdown, so this is only how long to wait for an error. */
export const TIMEOUT_AGENT_SHUTDOWN_MS = 2_000
/** Bytes of QEMU's stderr kept for APP_VM_START_FAILED and crash reasons: its error is on the last lines. */
export const MAX_QEMU_STDERR_BYTES = 8 * 1024
/** Interval between polls for QEMU's QMP socket while it starts (no event tells when the socket appears). */
export const QMP_SOCKET_POLL_MS = 20
/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107

/** Greeting and first answer of a QEMU found again after a restart: QEMU answers at once; more means its monitor is stuck or held. */
export const TIMEOUT_ADOPT_QMP_MS = 5_000
/**
 * Interval between checks that an adopted QEMU (not our child, so no exit
 * notification) has gone, once its QMP connection closed. QEMU closes the
 * monitor as it exits, so the first check or two see it gone. Not bounded:
 * it watches a process for its whole life, as a child's exit event would.
 */
export const ADOPTED_EXIT_POLL_MS = 50

/**
 * Graceful window when a test VM is stopped (test-vm.ts): its writes are
 * thrown away with its overlays, so nothing needs a clean shutdown; one
 * second lets a guest that reacts to the power button at once go down, then
 * QEMU is told to quit.
 */
export const TEST_VM_STOP_WINDOW_MS = 1_000
