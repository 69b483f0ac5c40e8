/** How a unit of work ranks when the server is overloaded. */
export type WorkPriority = 'normal' | 'critical';

/**
 * Whether a request target (`/healthz?x=1`) names one of `paths` exactly (query ignored). With no
 * paths it is a function that says no, so an unset `criticalPaths` costs nothing per request.
 */
export function criticalPathMatcher(paths: readonly string[]): (target: string) => boolean {
  if (paths.length === 0) return () => false;
  const set = new Set(paths);
  return (target) => {
    const q = target.indexOf('?');
    return set.has(q < 0 ? target : target.slice(0, q));
  };
}
