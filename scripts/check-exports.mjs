#!/usr/bin/env node
// After a build: every file that a published package's `exports` map (and its publishConfig's
// exports, main and types, which pnpm pack writes into the tarball) points to must exist, so the
// maps and the built files cannot drift apart unnoticed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let missing = 0;
for (const dir of readdirSync('packages')) {
  const root = join('packages', dir);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const [entry, conditions] of Object.entries(manifest.exports ?? {})) {
    for (const [condition, target] of Object.entries(conditions)) {
      if (!existsSync(join(root, target))) {
        console.error(`${manifest.name}: exports["${entry}"].${condition} -> ${target} does not exist`);
        missing++;
      }
    }
  }
  // What a user gets: the exports, main and types that publishConfig puts in the packed manifest.
  const published = manifest.publishConfig ?? {};
  const targets = [published.main, published.types, ...Object.values(published.exports ?? {}).flatMap(Object.values)];
  for (const target of targets.filter((t) => t !== undefined)) {
    if (!existsSync(join(root, target))) {
      console.error(`${manifest.name}: publishConfig -> ${target} does not exist`);
      missing++;
    }
  }
  for (const bin of Object.values(manifest.bin ?? {})) {
    if (!existsSync(join(root, bin))) {
      console.error(`${manifest.name}: bin ${bin} does not exist`);
      missing++;
    }
  }
}
if (missing > 0) process.exit(1);
console.log('exports: every entry point of every package exists');
