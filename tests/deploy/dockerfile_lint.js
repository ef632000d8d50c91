// Lints a Dockerfile with dockerfile-utils (the validator behind VS Code's Dockerfile support):
// unknown instructions and flags, bad arguments, bad ports, ... Any diagnostic fails.
//   usage: node dockerfile_lint.js DOCKERFILE
"use strict";
const fs = require("fs");
const { validate } = require("dockerfile-utils");

const file = process.argv[2];
const diagnostics = validate(fs.readFileSync(file, "utf8"), {});
for (const d of diagnostics) {
  console.error(`${file}:${d.range.start.line + 1}: ${d.message}`);
}
if (diagnostics.length === 0) console.log(`ok   dockerfile-utils: no problems in ${file}`);
process.exit(diagnostics.length === 0 ? 0 : 1);
