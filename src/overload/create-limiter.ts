import { AimdLimiter } from './aimd-limiter';
import { Gradient2Limiter } from './gradient2-limiter';
import type { Limiter } from './limiter';
import type { OverloadConfig } from './overload-config';
import { StaticLimiter } from './static-limiter';
import { VegasLimiter } from './vegas-limiter';

/** The limiter an `overload` block names; `undefined` for `limiter: "none"` (nothing is limited, nothing costs). */
export function createLimiter(config: OverloadConfig, random?: () => number): Limiter | undefined {
  const bounds = { initialLimit: config.initialLimit, minLimit: config.minLimit, maxLimit: config.maxLimit };
  switch (config.limiter) {
    case 'none':
      return undefined;
    case 'static':
      return new StaticLimiter(config.maxConcurrency);
    case 'aimd':
      return new AimdLimiter({ ...bounds, backoffRatio: config.aimd.backoffRatio, timeout: config.aimd.timeout });
    case 'vegas':
      return new VegasLimiter({ ...bounds, smoothing: config.vegas.smoothing, probeMultiplier: config.vegas.probeMultiplier, alpha: config.vegas.alpha, beta: config.vegas.beta, random });
    case 'gradient2':
      return new Gradient2Limiter({ ...bounds, ...config.gradient2 });
  }
}
