import type { Logger } from '../../src';

/** A logger that drops everything: the bare side logs nothing either. */
export const nullLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => nullLogger,
};
