// Test/demo guests built from the installed Debian kernel and busybox-static.
export { type BuildGuestOptions, type BuiltGuest, buildGuest, type GuestFile } from "./build.js";
export { defaultCacheDir } from "./cache.js";
export { type CpioEntry, writeCpio } from "./cpio.js";
export { DEFAULT_GUEST_SCRIPT, GUEST_MARKERS } from "./init.js";
export { extractVmlinux, findKernel, type GuestKernel, hasPvhNote, kernelImageInfo } from "./kernel.js";
export { DEFAULT_GUEST_MODULES, resolveModules } from "./modules.js";
