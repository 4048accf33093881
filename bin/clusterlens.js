#!/usr/bin/env node
// The CLI runs from the compiled TypeScript in dist/ (npm run build, done by scripts/setup.sh).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: clusterlens is not built yet: run "bash scripts/setup.sh" (or "npm run build") first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
