// Host probing: the only code in qemu-jail that looks at the host.
export { cgroupDir, cgroupLayout, parseMountInfo, parseProcCgroup, probeCgroups } from "./cgroup.js";
export { type ElfDependencyOptions, elfDependencies } from "./deps.js";
export { KNOWN_DEVICE_NODES, probeDevices, splitDev } from "./devices.js";
export { type ElfHeaderInfo, readElf } from "./elf.js";
export { parseImageHeader, probeImage } from "./images.js";
export { type LdCacheEntry, parseLdCache } from "./ldcache.js";
export { landlockAbiFrom, probeLsm } from "./lsm.js";
export { defaultHelperPath, hostArch, type ProbeOptions, probeHost } from "./probe.js";
export { parseQemuVersion, probeFirmware, virtiofsdFlavour } from "./qemu.js";
