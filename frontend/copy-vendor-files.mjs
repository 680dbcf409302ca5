// Copies the files that package.json's "vendorFiles" names out of an installed node_modules
// into an output folder, with a manifest.json that ties each file's SHA-256 to the package
// version and tarball integrity recorded in package-lock.json (tests/app/test_docs.py checks
// the committed files against it).
// Usage: node copy-vendor-files.mjs <folder with package.json, lock and node_modules> <output folder>
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const [installDir, outDir] = process.argv.slice(2);
const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const { vendorFiles } = readJson(join(installDir, "package.json"));
const lock = readJson(join(installDir, "package-lock.json"));

const manifest = { packages: {} };
for (const name of Object.keys(vendorFiles).sort()) {
  const locked = lock.packages[`node_modules/${name}`];
  const installed = readJson(join(installDir, "node_modules", name, "package.json"));
  if (!locked || installed.version !== locked.version) {
    throw new Error(`${name}: installed ${installed.version}, locked ${locked?.version}`);
  }
  const files = {};
  for (const file of [...vendorFiles[name]].sort()) {
    const target = join(outDir, name, file);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(installDir, "node_modules", name, file), target);
    files[file] = createHash("sha256").update(readFileSync(target)).digest("hex");
  }
  manifest.packages[name] = { version: locked.version, integrity: locked.integrity, files };
}
writeFileSync(join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
