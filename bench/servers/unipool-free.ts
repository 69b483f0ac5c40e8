import { join, sep } from 'node:path';

/**
 * Throws if this process loaded unipool. The bare side of a comparison must not: unipool's
 * module graph, loaded and not used, makes a bare node:http server in the same process about
 * 4 % slower per request (docs/benchmarks.md, "The sample as users run it"), which would flatter
 * every ratio against it. Bench targets load their unipool side with `require()` inside the
 * branch that runs it, and call this on the other sides once they listen.
 */
export function assertUnipoolNotLoaded(side: string): void {
  const unipoolDir = join(__dirname, '..', '..', 'src') + sep;
  if (Object.keys(require.cache).some((file) => file.startsWith(unipoolDir))) {
    throw new Error(`the ${side} side loaded unipool: it would carry the cost of its module graph`);
  }
}
