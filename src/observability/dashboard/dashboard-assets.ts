import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A static file of the dashboard, read once on first request and kept in memory. */
export interface DashboardAsset {
  body: Buffer;
  contentType: string;
}

/**
 * The page's own files. They ship in the package under `src/` (in `files` of package.json) and
 * are read from there: `tsc` emits no copy of non-TypeScript files into `dist/`.
 */
const ASSET_DIR = join(__dirname, '../../../../src/observability/dashboard/assets');

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** URL path -> file and content type. Nothing outside this list is ever read. */
const ASSETS: ReadonlyMap<string, { path: () => string; contentType: string }> = new Map([
  ['/dashboard', { path: () => join(ASSET_DIR, 'dashboard.html'), contentType: HTML }],
  ['/dashboard/dashboard.js', { path: () => join(ASSET_DIR, 'dashboard.js'), contentType: JS }],
  ['/dashboard/dashboard.css', { path: () => join(ASSET_DIR, 'dashboard.css'), contentType: CSS }],
  // uPlot (MIT), a runtime dependency, served from the installed package: no CDN.
  ['/dashboard/uPlot.iife.min.js', { path: () => require.resolve('uplot/dist/uPlot.iife.min.js'), contentType: JS }],
  ['/dashboard/uPlot.min.css', { path: () => require.resolve('uplot/dist/uPlot.min.css'), contentType: CSS }],
]);

/**
 * What the dashboard's responses may do: load scripts, styles and the event stream from the admin
 * server itself, and nothing else (no inline script, no other origin, no framing).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Serves the dashboard's files from memory after the first read of each. */
export class DashboardAssets {
  private readonly cache = new Map<string, Promise<DashboardAsset>>();

  /** Whether `path` names a dashboard file. */
  has(path: string): boolean {
    return ASSETS.has(path);
  }

  /** The file behind `path` (which `has` accepted); rejects if the file cannot be read. */
  get(path: string): Promise<DashboardAsset> {
    let asset = this.cache.get(path);
    if (!asset) {
      const known = ASSETS.get(path);
      if (!known) return Promise.reject(new Error(`not a dashboard file: ${path}`));
      asset = readFile(known.path()).then((body) => ({ body, contentType: known.contentType }));
      // A failed read is retried on the next request, not cached.
      asset.catch(() => this.cache.delete(path));
      this.cache.set(path, asset);
    }
    return asset;
  }
}
