// Which LSM confines the jailed processes, decided from jail.lsm and the host's LSM state:
// "auto" takes whichever is enabled (SELinux first), else none; an explicit choice the host
// lacks is a host error. Landlock per jail.landlock and the host's ABI ("on" without it: error).

import type { VmConfig } from "../config/types.js";
import { QemuJailError } from "../errors.js";
import type { HostFacts } from "../host/types.js";

/** The LSM decision for a VM, with its reason. */
export interface LsmDecision {
  mac: "selinux" | "apparmor" | "none";
  macReason: string;
  landlock: false | { required: boolean; reason: string };
}

/** Decides the MAC LSM and Landlock use for `config` on `host`. */
export function decideLsm(config: VmConfig, host: HostFacts): LsmDecision {
  const { lsm, landlock } = config.jail;
  const se = host.lsm.selinux.enabled;
  const aa = host.lsm.apparmor.enabled;
  let mac: LsmDecision["mac"];
  let macReason: string;
  if (lsm === "auto") {
    mac = se ? "selinux" : aa ? "apparmor" : "none";
    macReason = se
      ? "jail.lsm = auto: SELinux is enabled"
      : aa
        ? "jail.lsm = auto: AppArmor is enabled"
        : "jail.lsm = auto: no MAC LSM is enabled on this host";
  } else if (lsm === "none") {
    mac = "none";
    macReason = "jail.lsm = none";
  } else {
    const has = lsm === "selinux" ? se : aa;
    if (!has) {
      throw new QemuJailError(
        "HOST_LSM_MISSING",
        `jail.lsm = ${lsm} but ${lsm === "selinux" ? "SELinux" : "AppArmor"} is not enabled on this host`,
        {
          exit: "host",
          location: { key: "jail.lsm" },
          hint:
            lsm === "selinux"
              ? 'boot with "security=selinux selinux=1" and load a policy, or set lsm = "auto"'
              : 'boot with "apparmor=1 security=apparmor" (and install apparmor), or set lsm = "auto"',
        },
      );
    }
    if (lsm === "selinux" && !host.lsm.selinux.mcsAvailable) {
      throw new QemuJailError(
        "HOST_SELINUX_NO_MCS",
        "SELinux is enabled but its policy has no MCS categories",
        {
          exit: "host",
          location: { key: "jail.lsm" },
          hint: 'per-VM separation needs an MCS/MLS policy (e.g. selinux-policy-default); or set lsm = "none"',
        },
      );
    }
    mac = lsm;
    macReason = `jail.lsm = ${lsm}`;
  }
  const abi = host.lsm.landlockAbi;
  const present = abi !== 0;
  let ll: LsmDecision["landlock"] = false;
  if (landlock === "on") {
    if (!present) {
      throw new QemuJailError("HOST_NO_LANDLOCK", "jail.landlock = on but this kernel has no Landlock", {
        exit: "host",
        location: { key: "jail.landlock" },
        hint: 'enable CONFIG_SECURITY_LANDLOCK and "landlock" in lsm=, or set landlock = "auto"',
      });
    }
    ll = { required: true, reason: "jail.landlock = on" };
  } else if (landlock === "auto" && present) {
    ll = {
      required: false,
      reason: `jail.landlock = auto: Landlock ABI ${abi < 0 ? "(version unknown)" : abi}`,
    };
  }
  return { mac, macReason, landlock: ll };
}
