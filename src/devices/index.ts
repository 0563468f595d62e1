// The device catalogue: every device kind, in the order its contributions enter a plan. Adding a
// kind means adding one module here, its fragment under policies/, and its tests.

import { accelKind } from "./accel.js";
import { bootKind } from "./boot.js";
import { diskKind } from "./disk.js";
import { extraArgsKind } from "./extra-args.js";
import { extraPathsKind } from "./extra-paths.js";
import { machineKind } from "./machine.js";
import { memoryKind } from "./memory.js";
import { nicKind } from "./nic.js";
import { qemuKind } from "./qemu.js";
import { qmpKind } from "./qmp.js";
import { rngKind } from "./rng.js";
import { sandboxKind } from "./sandbox.js";
import { serialKind } from "./serial.js";
import { shareKind } from "./share.js";
import type { DeviceKind } from "./types.js";
import { vsockKind } from "./vsock.js";

/** All device kinds, in plan order. */
export const catalogue: readonly DeviceKind[] = [
  qemuKind,
  machineKind,
  accelKind,
  memoryKind,
  sandboxKind,
  bootKind,
  qmpKind,
  serialKind,
  diskKind,
  nicKind,
  shareKind,
  rngKind,
  vsockKind,
  extraPathsKind,
  extraArgsKind,
];
