import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/**
 * unipool's version, from its package.json: the first `package.json` named `unipool` found
 * walking up from this file (it sits at different depths in `src/` and `dist/src/`), read once;
 * undefined when none is found (the meter then has no version).
 */
export function packageVersion(): string | undefined {
  if (cached !== undefined) return cached || undefined;
  cached = '';
  for (let dir = __dirname; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'unipool' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    } catch {
      // no package.json here, or not JSON: look further up
    }
    if (dirname(dir) === dir) break;
  }
  return cached || undefined;
}
