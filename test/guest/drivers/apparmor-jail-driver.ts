// Runs INSIDE the guest (bundled): generate the probe's AppArmor profile from its plan WITHOUT
// /data/secret, load it, then run the jail WITH /data/secret bound, through the native helper's
// apparmor-exec step. The secret is in the root and readable by DAC, so only AppArmor can refuse it.

import { apparmorProfile } from "../../../src/lsm/apparmor.js";
import { apparmorProfileLoaded, loadApparmorProfile, unloadApparmorProfile } from "../../../src/lsm/apply.js";
import { dataFile, ddPlan, runPlan } from "./jail.js";

const helper = process.argv[2]!;
const out = (step: string, data: unknown) => console.log(`RESULT ${JSON.stringify({ step, data })}`);

const allowed = [dataFile("allowed", "/opt/qj-aa/allowed", false), dataFile("rw", "/opt/qj-aa/rw", true)];
const withSecret = [...allowed, dataFile("secret", "/opt/qj-aa/secret", false)];

const aa = apparmorProfile(ddPlan(allowed, []), "vm1");
await loadApparmorProfile(aa);
out("loaded", { profileName: aa.profileName, loaded: await apparmorProfileLoaded(aa.profileName) });

const run = async (name: string, argv: string[]) => {
  const plan = ddPlan(withSecret, ["status=none", ...argv]);
  plan.lsm.apparmor = aa;
  out(name, await runPlan(plan, helper));
};
await run("read-allowed", ["if=/data/allowed"]);
await run("read-secret", ["if=/data/secret"]);
await run("write-rw", ["if=/data/allowed", "of=/data/rw", "conv=notrunc"]);
await run("write-ro", ["if=/data/allowed", "of=/data/allowed", "conv=notrunc"]);
// The same jail without the profile: the secret is readable, so the denial above is AppArmor's.
const bare = ddPlan(withSecret, ["status=none", "if=/data/secret"]);
out("secret-unconfined", await runPlan(bare, helper));

await unloadApparmorProfile(aa.profileName);
await unloadApparmorProfile(aa.profileName); // idempotent, as gc needs
out("unloaded", { loaded: await apparmorProfileLoaded(aa.profileName) });
