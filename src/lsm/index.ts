// LSM derivation from a ProcessPlan: AppArmor profile, SELinux MCS labels, Landlock rules.

export { type AppArmorProfile, aaQuote, apparmorProfile, apparmorProfileName } from "./apparmor.js";
export {
  type AppArmorApplyOptions,
  apparmorProfileLoaded,
  applySelinuxLabels,
  loadApparmorProfile,
  type PreviousLabel,
  restoreSelinuxLabels,
  unloadApparmorProfile,
} from "./apply.js";
export { landlockRules } from "./landlock.js";
export {
  allocateMcs,
  MCS_MAX,
  type McsPair,
  mcsString,
  parseMcs,
  type Relabel,
  SELINUX_CONTENT_LABEL,
  type SelinuxLabels,
  selinuxLabels,
  selinuxRelabels,
} from "./selinux.js";
