// Which policy fragments cover each traced scenario, per process. The unit tests check every
// syscall of a trace fixture against the policy composed from these lists, and the e2e tests
// boot the scenario under a real kernel filter composed from them. (The planner's device
// catalogue makes the same choice from a vm.toml; this table is the evidence-side view.)

import type { Scenario } from "./scenarios.js";

/** Fragments every QEMU process uses: loader, main loop, the QMP monitor. */
export const QEMU_COMMON = ["exec", "base", "qmp"];

/** Per scenario: extra QEMU fragments (on top of QEMU_COMMON and the serial chardev's) and backends'. */
export const SCENARIO_FRAGMENTS: Record<string, { qemu: string[]; backends?: Record<string, string[]> }> = {
  baseline: { qemu: [] },
  "accel-kvm": { qemu: [] },
  "disk-raw-threads": { qemu: ["block-aio-threads"] },
  "disk-qcow2-threads": { qemu: ["block-aio-threads"] },
  "disk-qcow2-threads-idle": { qemu: ["block-aio-threads"] },
  "disk-raw-native": { qemu: ["block-aio-native"] },
  "disk-qcow2-io_uring": { qemu: ["block-aio-io-uring"] },
  "disk-readonly": { qemu: ["block-aio-threads"] },
  "disk-discard": { qemu: ["block-aio-threads", "block-discard"] },
  "disk-nvme": { qemu: ["block-aio-threads"] },
  "disk-virtio-scsi": { qemu: ["block-aio-threads"] },
  "net-user": { qemu: ["net-user"] },
  "net-tap": { qemu: ["net-tap"] },
  "chardev-socket": { qemu: [] },
  "chardev-stdio": { qemu: [] },
  "rng-builtin": { qemu: ["rng"] },
  "rng-random": { qemu: ["rng"] },
  "memfd-shared": { qemu: ["memfd-shared"] },
  "vhost-user-fs-rw": { qemu: ["vhost-user-frontend"], backends: { virtiofsd: ["exec", "virtiofsd-rw"] } },
  "vhost-user-fs-rw-fd": { qemu: ["vhost-user-frontend"], backends: { virtiofsd: ["exec", "virtiofsd-rw"] } },
  "vhost-user-blk-raw-fd": {
    qemu: ["vhost-user-frontend"],
    backends: { "qemu-storage-daemon": ["exec", "qemu-storage-daemon", "block-aio-threads"] },
  },
  "vhost-user-fs-ro": { qemu: ["vhost-user-frontend"], backends: { virtiofsd: ["exec", "virtiofsd-ro"] } },
  "vhost-user-blk-raw": {
    qemu: ["vhost-user-frontend"],
    backends: { "qemu-storage-daemon": ["exec", "qemu-storage-daemon", "block-aio-threads"] },
  },
  "vhost-user-blk-qcow2-io_uring": {
    qemu: ["vhost-user-frontend"],
    backends: { "qemu-storage-daemon": ["exec", "qemu-storage-daemon", "block-aio-io-uring"] },
  },
  "qemu-sandbox": { qemu: ["qemu-sandbox"] },
};

/** The serial chardev's fragment for a scenario's serial kind. */
export function serialFragment(serial: "file" | "socket" | "stdio" | undefined): string {
  return serial === "socket" ? "chardev-socket" : serial === "stdio" ? "chardev-stdio" : "chardev-file";
}

/** The full fragment list of the QEMU process of a scenario. */
export function qemuFragments(s: Scenario): string[] {
  const extra = SCENARIO_FRAGMENTS[s.name]?.qemu;
  if (!extra) throw new Error(`no fragment list for scenario ${s.name}`);
  const accel = s.accel === "kvm" ? "accel-kvm" : "accel-tcg";
  return [...QEMU_COMMON, accel, serialFragment(s.serial), ...extra];
}
