// Runs INSIDE the SELinux guest (bundled): `apply <relabels.json> <state.json>` labels the files
// with applySelinuxLabels and keeps the previous labels; `restore <state.json>` puts them back.
import { readFileSync, writeFileSync } from "node:fs";
import { applySelinuxLabels, restoreSelinuxLabels } from "../../../src/lsm/apply.js";

const [cmd, a, b] = process.argv.slice(2);
if (cmd === "apply")
  writeFileSync(b!, JSON.stringify(await applySelinuxLabels(JSON.parse(readFileSync(a!, "utf8")))));
else await restoreSelinuxLabels(JSON.parse(readFileSync(a!, "utf8")));
